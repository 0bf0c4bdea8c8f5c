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

__all__ = ["plot_training", "plot_inference", "plot_sweep", "LANGUAGE_MODELS"]

LANGUAGE_MODELS = ("gpt2", "gpt2-xl", "gpt-j-6b", "llama-2-7b", "llama-2-70b", "gpt3-175b", "llama-3.1-405b", "gpt4")
CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022
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

    Models without reported training tokens get 20 tokens per parameter (Hoffmann et al. 2022).
    ``ax``: None for a new figure, or two Axes (cost, energy) to draw into.
    """
    import pandas as pd

    from .models import get_model
    from .sweep import sweep_training

    fig, (ax_cost, ax_energy), new = _axes(ax, 2, (12, 5))
    specs = [get_model(m) for m in models]
    for hw in hardware:
        rows = [sweep_training(model=s.id, hardware=hw, n_gpus=n_gpus, region=region,
                               tokens=None if s.training_tokens is not None
                               else CHINCHILLA_TOKENS_PER_PARAM * s.params.magnitude) for s in specs]
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
    from .sweep import sweep_inference

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


def plot_sweep(df, x: str, y: str, hue: str | None = None, logx: bool = True, logy: bool = True, ax=None):
    """Any sweep table: ``y`` against ``x``, one series per value of ``hue``.

    ``ax``: None for a new figure, or the Axes to draw into.
    """
    for argument, col in (("x", x), ("y", y), ("hue", hue)):
        if col is not None and col not in df.columns:
            close = suggest(col, map(str, df.columns), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"{col!r} is not a column of the table{hint}", argument=argument)
    units = df.attrs.get("units", {})
    fig, (ax,), _ = _axes(ax, 1, (7, 5))
    groups = df.groupby(hue, observed=True, sort=False) if hue else [(None, df)]
    for name, part in groups:
        part = part.sort_values(x)
        ax.plot(part[x], part[y], marker="o", label=None if name is None else str(name))
    ax.set_xlabel(f"{x} [{units.get(x) or '-'}]")
    ax.set_ylabel(f"{y} [{units.get(y) or '-'}]")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    if hue:
        ax.legend(title=hue)
    return fig
