"""Pictures for a planning review (matplotlib, the optional ``plot`` extra).

Every function returns a matplotlib Figure; the data come from the sweeps, so a plot shows
exactly the numbers ``sweep_training`` / ``sweep_inference`` return. Figures are built as
``matplotlib.figure.Figure`` objects, without pyplot: they draw and ``savefig`` with no
backend, and the caller's backend is never switched. Pass ``ax=`` to draw into Axes of your
own (a sequence of Axes for the multi-panel plots); the function then returns their figure
and leaves its title and layout to you.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError, suggest

__all__ = ["plot_training", "plot_inference", "plot_sweep", "series_columns", "column_unit", "LANGUAGE_MODELS"]

LANGUAGE_MODELS = ("gpt2", "gpt2-xl", "gpt-j-6b", "llama-2-7b", "llama-2-70b", "gpt3-175b", "llama-3.1-405b", "gpt4")
BATCH_SIZES = tuple(2 ** i for i in range(10))  # 1 to 512


def _axes(ax, n: int, figsize: tuple[float, float]):
    """The figure and ``n`` Axes to draw into: new ones when ``ax`` is None, else the caller's."""
    if ax is None:
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise InputError("plots need matplotlib: pip install 'costmodel[plot]'") from None
        fig = Figure(figsize=figsize, layout="constrained")
        axes = fig.subplots(1, n, squeeze=False)[0]
        return fig, list(axes), True
    axes = list(np.ravel(np.asarray(ax, dtype=object)))  # one Axes, a list, or subplots' array
    if len(axes) != n or not all(hasattr(a, "plot") and hasattr(a, "figure") for a in axes):
        what = "one Axes" if n == 1 else f"a sequence of {n} Axes"
        raise InputError(f"expected {what}, got {ax!r}", argument="ax")
    return axes[0].figure, axes, False


def plot_training(models=LANGUAGE_MODELS, hardware=("a100-sxm4-80gb", "h100-sxm5-80gb", "b200"), n_gpus=1024,
                  region=None, ax=None):
    """Training cost and energy against parameter count, log-log, one series per device.

    Each model trains on its default data (:func:`costmodel.planning.default_workload`): the
    catalog's tokens or samples, or 20 tokens per parameter (Hoffmann et al. 2022) for a
    language model with none reported.
    ``ax``: None for a new figure, or two Axes (cost, energy) to draw into.
    """
    import pandas as pd

    from .models import get_model
    from .planning import default_workload
    from .sweep import sweep_training

    models, hardware = list(models), list(hardware)
    if not models or not hardware:
        raise InputError("give at least one model and one hardware profile to plot",
                         argument="models" if not models else "hardware")
    fig, (ax_cost, ax_energy), new = _axes(ax, 2, (12, 5))
    specs = [get_model(m) for m in models]
    workloads = [default_workload(s)[0] for s in specs]
    for hw in hardware:
        rows = [sweep_training(model=s.id, hardware=hw, n_gpus=n_gpus, region=region, **data)
                for s, data in zip(specs, workloads)]
        df = pd.concat(rows, ignore_index=True).sort_values("params")
        ax_cost.plot(df.params, df.cost_USD, marker="o", label=df.hardware.iloc[0])
        ax_energy.plot(df.params, df.energy_MWh, marker="o", label=df.hardware.iloc[0])
        if hw == hardware[0]:
            for ax, col in ((ax_cost, "cost_USD"), (ax_energy, "energy_MWh")):
                for r in df.itertuples():
                    ax.annotate(r.model, (r.params, getattr(r, col)), textcoords="offset points", xytext=(4, -10),
                                fontsize=8)
    for ax, label in ((ax_cost, "training cost [USD, on-demand cloud]"), (ax_energy, "training energy [MWh, PUE included]")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters [count]")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(title="hardware")
    if new:
        fig.suptitle(f"Training cost vs size on {n_gpus:,} devices (calibrated MFU, {region or 'world-average grid'}, "
                     "reported tokens or 20 per parameter)")
    return fig


def plot_inference(model="llama-2-70b", hardware=("a100-sxm4-80gb", "h100-sxm5-80gb", "h200-sxm-141gb"),
                   n_gpus=4, prompt_tokens=512, output_tokens=256, batch_sizes=BATCH_SIZES,
                   dtype=None, ax=None):
    """TTFT, TPOT and cost per million output tokens against batch size, per device; a dotted
    line marks the largest batch that fits in memory.

    ``ax``: None for a new figure, or three Axes (TTFT, TPOT, cost) to draw into.
    """
    from .models import get_model
    from .sweep import sweep_inference

    spec = get_model(model)
    if spec.kind not in ("dense-decoder", "moe-decoder", "encoder-decoder"):
        raise InputError(f"{spec.id} is a {spec.kind} model: it generates no tokens, so it has no time per output "
                         "token or cost per million tokens to plot", argument="model")
    if not output_tokens:
        raise InputError("the plot shows decoding: give at least one output token", argument="output_tokens")
    fig, axes, new = _axes(ax, 3, (15, 4.5))
    df = sweep_inference(model=model, hardware=list(hardware), n_gpus=n_gpus, prompt_tokens=prompt_tokens,
                         output_tokens=output_tokens, batch_size=list(batch_sizes), dtype=dtype)
    columns = (("ttft_ms", "time to first token [ms]"), ("tpot_ms", "time per output token [ms]"),
               ("cost_per_million_tokens_USD", "cost per million output tokens [USD]"))
    for hw, part in df.groupby("hardware", observed=True, sort=False):
        for ax, (col, _) in zip(axes, columns):
            line, = ax.plot(part.batch_size, part[col], marker="o", label=hw)
            limit = int(part.max_batch_size.iloc[0])
            if limit < 1_000_000:
                ax.axvline(limit, color=line.get_color(), linestyle=":", linewidth=1)
    for ax, (_, label) in zip(axes, columns):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size [requests]")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(title="hardware (dotted: memory limit)")
    if new:
        fig.suptitle(f"Serving {model} on {n_gpus} devices, {prompt_tokens} in / {output_tokens} out, "
                     f"{df.dtype.iloc[0]} weights (fitted serving efficiency, on-demand price)")
    return fig


# The unit a column suffix names (``wall_time_days`` -> day), for tables read back from CSV
# without ``df.attrs["units"]``; longer suffixes first.
SUFFIX_UNITS = (("_tok_s", "token/s"), ("_FLOP", "FLOP"), ("_days", "day"), ("_GiB", "GiB"), ("_MWh", "MWh"),
                ("_USD", "USD"), ("_Wh", "Wh"), ("_ms", "ms"), ("_h", "hour"), ("_t", "tonne"), ("_g", "g"),
                ("_s", "s"), ("_W", "W"))
# Columns a sweep computes (with the outputs and their _low/_high): never a series of their own.
DERIVED = ("tp", "fits", "max_batch_size", "min_gpus", "bound_prefill", "bound_decode", "best")


def column_unit(df, column: str) -> str:
    """A column's unit: ``df.attrs["units"]``, else the one its name's suffix names ('' if none)."""
    units = df.attrs.get("units", {})
    if column in units:
        return units[column]
    name = column.removesuffix("_low").removesuffix("_high")
    return next((unit for suffix, unit in SUFFIX_UNITS if name.endswith(suffix)), "")


def _outputs() -> set[str]:
    from .results import inference, training

    keys = {o.key for o in (*training.OUTPUTS, *inference.OUTPUTS)} - {"params", "active_params", "tokens"}
    return keys | {f"{k}_{end}" for k in keys for end in ("low", "high")} | set(DERIVED)


def series_columns(df, x: str, hue: str | None = None) -> list[str]:
    """The columns whose combinations make one line each: ``hue`` and every other input that
    varies, leaving out ``x``, the outputs, an input that only relabels ``x`` (``model`` when x
    is ``params``) and one that follows from the columns already kept (``dtype`` from
    ``hardware``)."""
    outputs = _outputs()
    candidates = [hue] if hue else []
    candidates += [c for c in df.columns if c not in outputs and c not in (x, hue) and df[c].nunique() > 1]
    kept: list[str] = []
    for c in candidates:
        pair = df[[x, c]].astype(str)
        relabels_x = pair.groupby(x)[c].nunique().max() == 1 and pair.groupby(c)[x].nunique().max() == 1
        follows = bool(kept) and df[[*kept, c]].astype(str).groupby(kept)[c].nunique().max() == 1
        if c == hue or not (relabels_x or follows):
            kept.append(c)
    return kept


def _check_axis(df, column: str, scale: str, argument: str) -> None:
    if scale not in ("log", "linear"):
        raise InputError(f"expected 'log' or 'linear', got {scale!r}", argument=argument)
    kind = df[column].dtype.kind
    if kind not in "iufb" and argument == "yscale":
        raise InputError(f"{column!r} holds names, not numbers; choose a numeric column", argument="y")
    if scale == "log" and kind not in "iuf":
        what = "true/false values" if kind == "b" else "names"
        raise InputError(f"a log axis needs numbers, and {column!r} holds {what}; use 'linear'", argument=argument)
    if kind not in "iuf":
        return
    values = df[column].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]  # matplotlib leaves NaN and infinity out of the picture
    if not finite.size:
        raise InputError(f"{column!r} has no finite values to plot", argument=argument[0])
    if scale == "log" and not (finite > 0).any():
        raise InputError(f"a log axis needs positive numbers, and {column!r} has none; use 'linear'",
                         argument=argument)


def plot_sweep(df, x: str, y: str, hue: str | None = None, xscale: str = "log", yscale: str = "log", ax=None):
    """Any sweep table: ``y`` against ``x``, one line per combination of the inputs that vary
    other than ``x`` (:func:`series_columns`; ``hue`` first), on ``xscale`` and ``yscale``
    axes (``"log"`` or ``"linear"``). Units come from ``df.attrs["units"]``, else from the
    columns' suffixes (a table read back from CSV).

    ``ax``: None for a new figure, or the Axes to draw into.
    """
    for argument, col in (("x", x), ("y", y), ("hue", hue)):
        if col is not None and col not in df.columns:
            close = suggest(col, map(str, df.columns), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"{col!r} is not a column of the table{hint}", argument=argument)
    if df.empty:
        raise InputError("the table has no rows", argument="df")
    _check_axis(df, x, xscale, "xscale")
    _check_axis(df, y, yscale, "yscale")
    keys = series_columns(df, x, hue)
    fig, (ax,), _ = _axes(ax, 1, (7, 5))
    by = keys[0] if len(keys) == 1 else keys  # one key by name: pandas 1.5 warns on a list of one
    groups = df.groupby(by, observed=True, sort=False, dropna=False) if keys else [((), df)]
    for name, part in groups:
        values = name if isinstance(name, tuple) else (name,)
        label = ", ".join(str(v) if len(keys) == 1 else f"{k}={v}" for k, v in zip(keys, values)) or None
        part = part.sort_values(x)
        ax.plot(part[x], part[y], marker="o", label=label)
    ax.set_xlabel(f"{x} [{column_unit(df, x) or '-'}]")
    ax.set_ylabel(f"{y} [{column_unit(df, y) or '-'}]")
    ax.set_xscale(xscale)
    ax.set_yscale(yscale)
    ax.grid(True, which="both", alpha=0.3)
    if keys:
        ax.legend(title=", ".join(keys) if len(keys) == 1 else None)
    return fig
