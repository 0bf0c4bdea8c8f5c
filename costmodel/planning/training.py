"""Plan a training run: :func:`plan_training`, the device type, device count and layout that
train a model on its data by a deadline, at the least cost (or, with a budget, in the least time).

Every candidate's time, cost and energy come from the training estimator: the device counts
of every hardware type are one :func:`costmodel.sweep.sweep_training` grid (the same pipeline
as :func:`costmodel.estimate_training`, evaluated over arrays), and each device type's best
candidate is then estimated with :func:`costmodel.estimate_training` for its layout and
ranges; a layout that leaves data-parallel ranks without a micro-batch of a fixed global
batch is passed over for the next candidate. Nothing here models time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, cast

import numpy as np
import pint

from ..errors import InputError
from ..hardware import HardwareProfile, get_hardware, list_hardware
from ..listing import entries, one_value_keywords
from ..results.training import TrainingEstimate
from ..training_estimate import estimate_training, resolve_hardware
from ..units import CountLike, QuantityLike, parse_quantity, parse_whole, quantity
from ..workload import resolve_model

if TYPE_CHECKING:
    import pandas as pd

    from ..models import ModelSpec

__all__ = ["TrainingPlan", "plan_training", "device_counts", "default_training_hardware", "DEFAULT_MAX_DEVICES",
           "OBJECTIVES"]

DEFAULT_MAX_DEVICES = 65_536
OBJECTIVES = ("cost", "time")
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
# the runners-up table: columns of TrainingEstimate.to_dict(ranges=True) kept, after the layout
_FIGURES = ("wall_time_days", "wall_time_days_low", "wall_time_days_high", "gpu_hours_h", "cost_USD", "cost_USD_low",
            "cost_USD_high", "energy_MWh", "co2e_t", "mfu")
# an estimate at a device count, or None where its layout cannot run
Estimator = Callable[[int], "TrainingEstimate | None"]
_LAYOUT = ("tp", "pp", "cp", "ep", "zero_stage", "micro_batch", "global_batch_tokens")


@dataclass(frozen=True, kw_only=True, eq=False)
class TrainingPlan:
    """The chosen training run, why, and the best option of every other device type.

    ``best`` is None when no candidate meets the constraints; ``reason`` then says which
    constraint failed and by how much. ``runners_up`` has one row per other device type
    (its best option, or its closest miss with ``feasible`` False and a ``note``), sorted by
    the objective, feasible rows first; ``df.attrs["units"]`` maps columns to units.
    """

    best: TrainingEstimate | None
    reason: str
    runners_up: pd.DataFrame
    objective: str
    deadline: pint.Quantity | None
    budget: pint.Quantity | None
    max_devices: int
    hardware: tuple[str, ...]
    candidates: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (floats, strings, lists; a missing figure is None)."""
        best = None if self.best is None else {**self.best.to_dict(ranges=True), "layout": self.best.layout}
        rows = [{k: _plain(v) for k, v in r.items()} for r in self.runners_up.to_dict(orient="records")]
        return {"best": _plain(best), "reason": self.reason, "objective": self.objective,
                "deadline_days": None if self.deadline is None else float(self.deadline.to("day").magnitude),
                "budget_USD": None if self.budget is None else float(self.budget.to("USD").magnitude),
                "max_devices": self.max_devices, "hardware": list(self.hardware), "candidates": self.candidates,
                "notes": list(self.notes), "runners_up": rows}


def _plain(v: Any) -> Any:
    """NaN to None, numpy scalars to Python ones, recursively through dicts."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        v = v.item()
    return None if isinstance(v, float) and not math.isfinite(v) else v


def device_counts(max_devices: int, at_least: float = 1.0) -> list[int]:
    """Powers of two and 1.5 x powers of two from ``at_least`` up to ``max_devices``.

    >>> device_counts(64, at_least=5)
    [6, 8, 12, 16, 24, 32, 48, 64]
    """
    counts = {2**k for k in range(40)} | {3 * 2**k for k in range(40)}
    return sorted(n for n in counts if at_least <= n <= max_devices)


def default_training_hardware() -> list[str]:
    """The datacenter training accelerators with an on-demand price: GPUs and TPUs in a
    scale-up domain of at least four devices (NVLink, xGMI, ICI); PCIe and inference cards
    are left out."""
    return [p.id for p in list_hardware() if p.kind in ("gpu", "tpu") and (p.devices_per_node or 0) >= 4
            and p.price_per_hour("on_demand") is not None]


def _hardware(hardware: str | HardwareProfile | Iterable[str | HardwareProfile] | None,
              profile_path: Any) -> list[HardwareProfile]:
    names = default_training_hardware() if hardware is None else entries(
        hardware, "hardware", what="hardware", example="profile ids such as ['h100', 'b200']", single=(HardwareProfile,))
    profiles = [get_hardware(n, profile_path=profile_path) for n in names]
    return list({p.id: p for p in profiles}.values())


def _deadline(deadline: QuantityLike | None) -> float | None:
    """Seconds; a bare number is refused (seconds or days? say which)."""
    if deadline is None:
        return None
    if isinstance(deadline, (int, float, np.integer, np.floating)) or (isinstance(deadline, str) and _NUMBER.match(deadline)):
        raise InputError(f"give the deadline with its unit, such as '30 day', got {deadline!r}", argument="deadline")
    return parse_quantity(deadline, "time", "deadline")


def _options(options: dict[str, Any]) -> dict[str, Any]:
    if "n_gpus" in options:  # chosen by the planner
        raise InputError("plan_training searches the device count; give {max_devices=} instead", argument="n_gpus")
    for key, value in options.items():
        if not isinstance(value, str) and np.ndim(value) != 0:
            raise InputError("expected one value; plan_training searches hardware and device counts, "
                             "sweep_training takes lists", argument=key)
    return options


def _usable(profiles: list[HardwareProfile], options: dict[str, Any], notes: list[str]) -> list[HardwareProfile]:
    """The profiles that can train at ``dtype``; the others are noted."""
    out = []
    for p in profiles:
        try:
            resolve_hardware(p, options.get("dtype"), options.get("profile_path"))
        except InputError as exc:
            notes.append(f"{p.id} skipped: {exc.message}")
            continue
        out.append(p)
    return out


def _candidates(profiles: list[HardwareProfile], max_devices: int, model: Any, params: Any, tokens: Any,
                options: dict[str, Any]) -> pd.DataFrame:
    """Every (hardware, device count) that fits, as sweep rows. GPU counts above one node are
    whole nodes (servers are rented and wired by the node)."""
    from ..sweep import sweep_training

    counts = device_counts(max_devices)
    keys = {k: v for k, v in (("model", model), ("params", params), ("tokens", tokens)) if v is not None}
    df = sweep_training(**keys, hardware=[p.id for p in profiles], n_gpus=counts, **options)
    nodes = {p.id: float(p.devices_per_node or 0) if p.kind == "gpu" else 0.0 for p in profiles}
    node = df.hardware.astype(str).map(nodes).astype(float)
    whole = (node <= 0) | (df.n_gpus <= node) | (df.n_gpus % node.clip(lower=1) == 0)
    return df[df.fits & (df.n_gpus >= df.min_gpus) & whole].reset_index(drop=True)


def _order(df: pd.DataFrame, objective: str) -> pd.DataFrame:
    cost = df.cost_USD.fillna(math.inf)
    keys = (cost, df.wall_time_days) if objective == "cost" else (df.wall_time_days, cost)
    return df.assign(_a=keys[0], _b=keys[1]).sort_values(["_a", "_b", "n_gpus"]).drop(columns=["_a", "_b"])


def _first(ordered: pd.DataFrame, estimate: Estimator) -> TrainingEstimate | None:
    """The estimate of the first row, in order, whose layout can run (see :func:`_feeds_every_rank`)."""
    for n in ordered.n_gpus:
        est = estimate(int(n))
        if est is not None:
            return est
    return None


def _pick(rows: pd.DataFrame, objective: str, deadline: float | None, budget: float | None,
          estimate: Estimator) -> tuple[TrainingEstimate | None, str]:
    """One device type's option and, if it misses the constraints, why (else "")."""
    meets = rows if deadline is None else rows[rows.wall_time_days * 86400.0 <= deadline]
    within = meets if budget is None else meets[meets.cost_USD <= budget]
    best = _first(_order(within, objective), estimate)
    if best is not None:
        return best, ""
    cheapest = _first(_order(meets, "cost"), estimate) if budget is not None else None
    if cheapest is not None and cheapest.cost is not None:
        which = "the cheapest" + (" that meets the deadline" if deadline is not None else "")
        return cheapest, f"over the budget: {which} costs {_usd(cheapest.cost.to('USD').magnitude)}"
    fastest = _first(_order(rows, "time"), estimate)
    if fastest is None:
        return None, "has no layout that gives every data-parallel rank a sequence of the global batch"
    return fastest, (f"misses the deadline: the fastest, on {fastest.n_gpus:,} devices, takes "
                     f"{_days(fastest.wall_time.to('s').magnitude)}")


def _feeds_every_rank(est: TrainingEstimate, seq_len: float) -> bool:
    """Whether each data-parallel rank gets at least one micro-batch of the global batch (the
    estimator spreads a fixed batch over any number of ranks; a real step cannot)."""
    lay = est.layout
    dp = est.n_gpus / (lay["tp"] * lay["pp"] * lay["cp"])
    return dp * lay["micro_batch"] * seq_len <= lay["global_batch_tokens"] * (1 + 1e-9)


def _row(est: TrainingEstimate, feasible: bool, note: str) -> dict[str, Any]:
    d, lay = est.to_dict(ranges=True), est.layout
    return {"hardware": est.hardware, "n_gpus": est.n_gpus, "dtype": est.dtype, "feasible": feasible,
            **{k: lay[k] for k in _LAYOUT}, **{k: d.get(k) for k in _FIGURES}, "note": note}


def _frame(rows: list[dict[str, Any]], objective: str) -> pd.DataFrame:
    import pandas as pd

    columns = ["hardware", "n_gpus", "dtype", "feasible", *_LAYOUT, *_FIGURES, "note"]
    df = pd.DataFrame(rows, columns=columns).astype({k: float for k in _FIGURES})
    if len(df):
        df = pd.concat([_order(df[df.feasible], objective), _order(df[~df.feasible], objective)])
    df = df.reset_index(drop=True)
    df.attrs["units"] = {"global_batch_tokens": "token", "gpu_hours_h": "hour", "energy_MWh": "MWh", "co2e_t": "tonne",
                         **{k: "day" for k in _FIGURES if k.startswith("wall")},
                         **{k: "USD" for k in _FIGURES if k.startswith("cost")}}
    return df


def _usd(x: float) -> str:
    """Dollars in three figures: $812k, $5.52M."""
    for scale, word in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"${x / scale:.3g}{word}"
    return f"${x:.3g}"


def _days(seconds: float) -> str:
    days = seconds / 86400.0
    return f"{days:.3g} day" + ("" if f"{days:.3g}" == "1" else "s")


def _constraints(objective: str, deadline: float | None, budget: float | None) -> str:
    parts = ([f"meets the deadline of {_days(deadline)}"] if deadline is not None else []) + (
        [f"costs at most {_usd(budget)}"] if budget is not None else [])
    return " and ".join(parts) or "fits in memory"


def _search(profiles: list[HardwareProfile], df: pd.DataFrame | None, model: Any, objective: str,
            deadline: float | None, budget: float | None, most: int, options: dict[str, Any],
            notes: list[str]) -> list[tuple[TrainingEstimate, bool, str]]:
    """Each device type's option: (estimate, meets the constraints, why not)."""
    seq_len = _seq_len(model, options)
    idle: list[str] = []

    def estimate_on(p: HardwareProfile) -> Estimator:
        def estimate(n: int) -> TrainingEstimate | None:
            est = estimate_training(model, hardware=p, n_gpus=n, **options)
            if _feeds_every_rank(est, seq_len):
                return est
            idle.append(f"{n:,} x {p.id}")
            return None
        return estimate

    picks = []
    for p in profiles:
        rows = df[df.hardware.astype(str) == p.id] if df is not None else df
        if rows is None or rows.empty:
            notes.append(f"{p.id}: the model does not fit in the memory of up to {most:,} devices")
        elif (objective == "cost" or budget is not None) and rows.cost_USD.isna().all():
            notes.append(f"{p.id} skipped: no price; pass price_per_gpu_hour= to include it")
        else:
            est, why = _pick(rows, objective, deadline, budget, estimate_on(p))
            if est is None:
                notes.append(f"{p.id} {why}")
            else:
                picks.append((est, not why, why))
    if idle:
        notes.append(f"left out {len(idle)} candidates ({', '.join(idle[:3])}{', ...' if len(idle) > 3 else ''}) "
                     "with more data-parallel ranks than micro-batches per step")
    return picks


@one_value_keywords("hardware")
def plan_training(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                  tokens: CountLike | None = None,
                  hardware: str | HardwareProfile | Iterable[str | HardwareProfile] | None = None,
                  deadline: QuantityLike | None = None, budget: QuantityLike | None = None,
                  max_devices: CountLike = DEFAULT_MAX_DEVICES, objective: str | None = None,
                  **options: Any) -> TrainingPlan:
    """The device type, device count and layout that train a model on its tokens by a deadline,
    at the least cost; with a budget, in the least time within it.

    Parameters
    ----------
    model : str or ModelSpec, optional
        A catalog id (``"llama-2-70b"``) or a spec; or give ``params``.
    params : count, optional
        Parameters of a model that is not catalogued (``"70B"``).
    tokens : count [token], optional
        Training tokens (``"2T"``); default the catalog's figure.
    hardware : list of str, optional
        Profile ids or aliases to choose from (a list, or ``"h100,b200"``); default
        :func:`default_training_hardware` (datacenter training GPUs and TPUs with an on-demand price).
    deadline : Quantity [time], optional
        Longest acceptable wall-clock time (``"30 day"``), judged on the typical estimate.
    budget : Quantity [USD], optional
        Most the run may cost (``"$2M"``), judged on the typical estimate.
    max_devices : int
        Most devices of one type (default 65,536). Device counts searched: powers of two and
        1.5 x powers of two (8, 12, 16, 24, ...) from the model's ``min_gpus`` up; above one
        node, GPU counts are whole nodes.
    objective : {"cost", "time"}, optional
        What to minimise among the runs that meet the constraints: ``"cost"`` (the default
        without a budget) or wall time (``"time"``, the default with one). With the cost
        objective or a budget, devices without a price are skipped (and noted).
    **options
        Passed to :func:`costmodel.estimate_training`, one value each: ``tuning``, ``dtype``,
        ``global_batch``, ``seq_len``, ``region``, ``price_per_gpu_hour``, ``tp``, ...

    Returns
    -------
    TrainingPlan
        ``best`` (a :class:`TrainingEstimate`, or None with the ``reason``), ``runners_up``
        (a DataFrame, one row per other device type) and the constraints; ``to_dict()`` for JSON.

    Examples
    --------
    >>> plan = plan_training("llama-2-7b", tokens="1T", hardware=["h100", "a100-80gb"], deadline="30 day")
    >>> plan.best.hardware, plan.best.wall_time.to("day").magnitude <= 30
    ('h100-sxm5-80gb', True)
    """
    if objective is not None and objective not in OBJECTIVES:
        raise InputError(f"expected 'cost' or 'time', got {objective!r}", argument="objective")
    seconds = _deadline(deadline)
    usd = None if budget is None else parse_quantity(budget, "usd", "budget")
    objective = objective or ("time" if usd is not None else "cost")
    most = parse_whole(max_devices, "max_devices", limit=1e7)
    options = _options(options)
    notes: list[str] = []
    profiles = _usable(_hardware(hardware, options.get("profile_path")), options, notes)
    df = _candidates(profiles, most, model, params, tokens, options) if profiles else None
    options = {**options, **({"tokens": tokens} if tokens is not None else {}),
               **({"params": params} if params is not None else {})}
    picks = _search(profiles, df, model, objective, seconds, usd, most, options, notes)
    feasible = [e for e, ok, _ in picks if ok]
    n_candidates = 0 if df is None else len(df)
    table = _frame([_row(e, ok, why) for e, ok, why in picks], objective)
    best: TrainingEstimate | None = None
    if feasible:
        best = next(e for e in feasible if e.hardware == table.hardware.iloc[0])
        units = table.attrs["units"]
        table = table.iloc[1:].reset_index(drop=True)
        table.attrs["units"] = units
        reason = (f"the {'cheapest' if objective == 'cost' else 'fastest'} of {n_candidates:,} candidates on "
                  f"{len(profiles)} device types that {_constraints(objective, seconds, usd)}")
        notes += _margins(best, seconds, usd) + _batch_notes(best, options.get("global_batch") is not None)
    elif not picks:
        reason = "no device type can run it: " + ("; ".join(notes) or "no hardware to search")
    else:
        reason = (f"no candidate {_constraints(objective, seconds, usd)}: "
                  + "; ".join(f"{e.hardware} {why}" for e, _, why in picks))
    return TrainingPlan(best=best, reason=reason, runners_up=table, objective=objective,
                        deadline=None if seconds is None else cast(pint.Quantity, quantity(seconds, "time").to("day")),
                        budget=None if usd is None else quantity(usd, "usd"), max_devices=most,
                        hardware=tuple(p.id for p in profiles), candidates=n_candidates, notes=tuple(notes))


def _margins(best: TrainingEstimate, deadline: float | None, budget: float | None) -> list[str]:
    """Where the pessimistic end of the chosen run's range breaks a constraint."""
    out = []
    high = best.high
    if deadline is not None and high is not None and high.wall_time.to("s").magnitude > deadline:
        out.append(f"at the slow end of its range the run takes {_days(high.wall_time.to('s').magnitude)}, "
                   "past the deadline")
    if budget is not None and high is not None and high.cost is not None and high.cost.to("USD").magnitude > budget:
        out.append(f"at the expensive end of its range the run costs {_usd(high.cost.to('USD').magnitude)}, "
                   "over the budget")
    return out


def _seq_len(model: Any, options: dict[str, Any]) -> float:
    """The training sequence length the estimator uses [token]."""
    from ..sweep.training import MODEL_KEYS

    _, m, _ = resolve_model(model, **{k: options[k] for k in MODEL_KEYS if k in options and k != "model"})
    return float(m.seq_len)


def _batch_notes(best: TrainingEstimate, given: bool) -> list[str]:
    """A global batch the layout grew far past the usual one for the model's size."""
    from ..steptime import default_global_batch

    batch = best.layout["global_batch_tokens"]
    usual = float(default_global_batch(best.active_params.magnitude))
    if given or batch <= 2.0 * usual:
        return []
    return [f"the global batch grows to one micro-batch per data-parallel rank, {batch:.3g} tokens "
            f"({batch / usual:.0f}x GPT-3's batch at this size); what so large a batch does to convergence is not "
            "modelled (set global_batch= to hold it)"]
