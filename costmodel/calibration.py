"""Fitted constants, as a value the estimators take (``calibration=``).

Training time comes from the step-time model of :mod:`costmodel.steptime`: matmuls at each
device's measured GEMM ceiling, memory-bound work at its bandwidth, communication from the
parallel layout, the pipeline bubble and failures. Three constants are fitted, each with a
meaning: the HBM passes over the stored activations per token and layer, the share of data-
and expert-parallel traffic that overlaps the computation, and the share of the measured
matmul ceiling that typical software reaches. Serving uses achievable
fractions of peak compute and bandwidth, a per-step overhead and an all-reduce latency.
``scripts/fit_calibration.py`` and ``scripts/fit_inference.py`` fit them on ``tests/data/``
(leave-one-source-out); each data file lists the cases it came from and the out-of-sample
error spread used for ranges.

A script that refits or perturbs the constants passes its own value instead of changing
module state:

>>> import dataclasses
>>> cal = default_calibration()
>>> slower = dataclasses.replace(cal, serving=dataclasses.replace(cal.serving, compute_fraction=0.3))
>>> slower.serving.compute_fraction
0.3
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .datafiles import read_toml
from .errors import InputError

if TYPE_CHECKING:
    from .inference import PhaseConstants

__all__ = ["Calibration", "TrainingCalibration", "ServingCalibration", "default_calibration",
           "load_calibration", "resolve_calibration", "mfu_scales", "serving_scenarios", "provenance"]

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingCalibration:
    """The step-time model's fitted constants (see :func:`costmodel.steptime.combine`);
    ``resid_q10``/``resid_q90`` are the leave-one-source-out 10th and 90th percentiles of
    ln(estimated / published accelerator-hours), the width of the range."""

    memory_passes: float
    dp_overlap: float
    typical_efficiency: float
    tp_overlap: float = 0.0  # share of tensor-parallel collectives hidden where the software overlaps them
    resid_q10: float
    resid_q90: float
    loo_median_abs_error: float = math.nan
    fitted: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingCalibration:
    """Achievable fractions and overheads of serving; ``ttft_low``... are quantiles (at
    ``ttft_tail`` and one minus it...) of the leave-one-source-out ln(estimate / measured) per
    phase, the width of the range; ``throughput_low``/``throughput_high`` those of the output
    tokens per second of a batch (at saturation or a fixed batch), a figure with its own error
    (see :mod:`costmodel.serving_ranges`)."""

    compute_fraction: float
    bandwidth_fraction: float
    step_overhead_s: float
    allreduce_latency_s: float
    fill_rows: float = 0.0  # rows per PFLOP/s of peak at which a step's matmuls run at half the ceiling
    ttft_low: float = 0.0
    ttft_high: float = 0.0
    tpot_low: float = 0.0
    tpot_high: float = 0.0
    single_low: float = 0.0  # the same for the forward pass of single-pass models (encoders, CNNs, ViTs)
    single_high: float = 0.0
    throughput_low: float = 0.0  # of ln(estimated / measured tokens per second), not of a time
    throughput_high: float = 0.0
    # the quantile each family's ends sit at (costmodel.serving_ranges): its lowest error at the
    # tail, its highest at one minus it, chosen by their nested out-of-sample coverage
    ttft_tail: float = 0.1
    tpot_tail: float = 0.1
    single_tail: float = 0.1
    throughput_tail: float = 0.1
    loo_median_abs_error: float = math.nan
    engines: tuple = ()  # ((engine id, EngineConstants), ...): each runtime's fitted step overheads
    fitted: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """Every fitted constant the estimators use, with the date of each fit."""

    training: TrainingCalibration
    serving: ServingCalibration


_Fitted = TypeVar("_Fitted", TrainingCalibration, ServingCalibration)

# What a constant may be, by its meaning: (lowest, highest, whether the lowest itself is allowed).
# A share of time, traffic or a ceiling lies in [0, 1] or (0, 1]; seconds and counts are at least
# 0 and far below what would overflow; an error spread (ln of a ratio) lies within ln(1000).
_SHARE, _POSITIVE_SHARE, _SPREAD = (0.0, 1.0, True), (0.0, 1.0, False), (-math.log(1e3), math.log(1e3), True)
_DOMAINS: dict[str, tuple[float, float, bool]] = {
    "memory_passes": (0.0, 1e3, True), "dp_overlap": _SHARE, "typical_efficiency": _POSITIVE_SHARE,
    "tp_overlap": _SHARE, "resid_q10": _SPREAD, "resid_q90": _SPREAD,
    "compute_fraction": _POSITIVE_SHARE, "bandwidth_fraction": _POSITIVE_SHARE, "step_overhead_s": (0.0, 3600.0, True),
    "allreduce_latency_s": (0.0, 60.0, True), "fill_rows": (0.0, 1e6, True),
    **{f"{kind}_{end}": _SPREAD for kind in ("ttft", "tpot", "single", "throughput") for end in ("low", "high")},
    **{f"{kind}_tail": (0.0, 0.5, False) for kind in ("ttft", "tpot", "single", "throughput")},
    "fixed_s": (0.0, 3600.0, True), "launch_s": (0.0, 60.0, True), "efficiency": (0.0, 10.0, False),
}
_PAIRS = (("resid_q10", "resid_q90"), *((f"{k}_low", f"{k}_high") for k in ("ttft", "tpot", "single", "throughput")))


def _check(values: dict[str, Any], path: str | os.PathLike[str], where: str = "") -> None:
    """Each constant a finite number in its domain (:data:`_DOMAINS`), each range's low end at
    most its high end: one line naming the file and the constant, before an estimate turns a
    hand-edited value into a division by zero or an overflow."""
    for name, value in values.items():
        if name == "loo_median_abs_error" and isinstance(value, float) and math.isnan(value):
            continue  # not scored
        domain = _DOMAINS.get(name, (0.0, math.inf, True) if name in ("loo_median_abs_error", "points") else None)
        if domain is None:
            continue
        lo, hi, closed = domain
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and (lo <= value if closed else lo < value) and value <= hi):
            span = f"from {lo:g} to {hi:g}" if closed else f"above {lo:g} and at most {hi:g}"
            raise InputError(f"{path}: {where}{name}: expected a number {span}, got {value!r}", argument="calibration")
    for low, high in _PAIRS:
        if low in values and high in values and values[low] > values[high]:
            raise InputError(f"{path}: {where}{low} ({values[low]!r}) is above {high} ({values[high]!r})",
                             argument="calibration")


def _build(cls: type[_Fitted], table: dict[str, Any], path: str | os.PathLike[str],
           renames: dict[str, str] | None = None) -> _Fitted:
    renames = renames or {}
    names = {f.name for f in fields(cls)}
    values = {renames.get(k, k): v for k, v in table.items() if renames.get(k, k) in names}
    _check(values, path)
    if isinstance(values.get("engines"), dict):  # [inference.engines.<id>] tables
        from .engines import EngineConstants

        for engine, constants in values["engines"].items():
            if not isinstance(constants, dict):
                raise InputError(f"{path}: engines.{engine}: expected a table of constants, got {constants!r}",
                                 argument="calibration")
            _check(constants, path, f"engines.{engine}.")
        try:
            values["engines"] = tuple(sorted((k, EngineConstants(**v)) for k, v in values["engines"].items()))
        except TypeError as exc:
            raise InputError(f"{path}: engines: {exc}", argument="calibration") from None
    try:
        return cls(**values)
    except TypeError as exc:
        raise InputError(f"{path}: {exc}", argument="calibration") from None


@cache
def default_calibration() -> Calibration:
    """The shipped constants (``costmodel/data/calibration.toml`` and
    ``inference_calibration.toml``)."""
    return Calibration(
        training=_build(TrainingCalibration, read_toml(DATA / "calibration.toml", cache=True)["training"], "calibration.toml"),
        serving=_build(ServingCalibration, read_toml(DATA / "inference_calibration.toml", cache=True)["inference"],
                       "inference_calibration.toml"))


def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Constants from a TOML file with a ``[training]`` and/or an ``[inference]`` table (the
    shipped files' format); a table the file leaves out keeps the shipped constants."""
    data = read_toml(Path(path))
    base = default_calibration()
    if "training" not in data and "inference" not in data:
        raise InputError(f"{path}: expected a [training] or [inference] table", argument="calibration")
    return Calibration(
        training=(_build(TrainingCalibration, {**_asdict(base.training), **data["training"]}, path)
                  if "training" in data else base.training),
        serving=(_build(ServingCalibration, {**_asdict(base.serving), **data["inference"]}, path)
                 if "inference" in data else base.serving))


def _asdict(obj: TrainingCalibration | ServingCalibration) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def resolve_calibration(value: Calibration | str | os.PathLike[str] | None) -> Calibration:
    """``None`` (the shipped constants, or the file named by ``COSTMODEL_CALIBRATION``), a
    :class:`Calibration`, or the path of a calibration TOML file."""
    if value is None:
        env = os.environ.get("COSTMODEL_CALIBRATION")
        return _load_cached(env) if env else default_calibration()
    if isinstance(value, Calibration):
        return value
    if isinstance(value, (str, os.PathLike)):
        return _load_cached(os.fspath(value))
    raise InputError(f"expected a Calibration or the path of a calibration file, got {value!r}",
                     argument="calibration")


@lru_cache(maxsize=16)
def _load_cached(path: str) -> Calibration:
    return load_calibration(path)


@lru_cache(maxsize=64)
def mfu_scales(c: TrainingCalibration) -> np.ndarray:
    """(typical, optimistic, pessimistic) multipliers of the modelled speed: the fit's
    leave-one-source-out 10th and 90th percentile errors (a read-only array)."""
    out = np.array([1.0, math.exp(c.resid_q90), math.exp(c.resid_q10)])
    out.flags.writeable = False
    return out


@lru_cache(maxsize=64)
def serving_scenarios(c: ServingCalibration) -> dict[str, PhaseConstants]:
    """(typical, optimistic, pessimistic) serving constants per phase, from the fit's
    out-of-sample errors: the prefill's constants span TTFT's percentile errors, the decode
    steps' span TPOT's (ITL's too): each scenario divides a step's roofline time and multiplies
    its overheads by the same factor (the fit's error, not a device running past its peak). A
    single-pass model's forward pass and the throughput of a batch of generating requests run
    at their own figures' spreads (``single_speed``, the decode's ``throughput_speed``).
    """
    from .inference import PhaseConstants

    def phase(high: float, low: float, single: tuple[float, float] | None = None,
              throughput: tuple[float, float] | None = None) -> PhaseConstants:
        scale = np.exp([0.0, high, low])  # ln(estimate / measured) at the spread's ends
        single_scale = scale if single is None else np.exp([0.0, *single])
        # a throughput too high by exp(x) is a time too short by it: the optimistic end is its low one
        throughput_scale = scale if throughput is None else np.exp([0.0, -throughput[0], -throughput[1]])
        out = {"compute_fraction": np.full(3, c.compute_fraction), "bandwidth_fraction": np.full(3, c.bandwidth_fraction),
               "speed": scale, "single_speed": single_scale, "throughput_speed": throughput_scale,
               "overhead_scale": 1.0 / scale,
               "fill_rows": np.full(3, c.fill_rows),
               "allreduce_latency_s": c.allreduce_latency_s / scale}
        for array in out.values():
            array.flags.writeable = False  # cached and shared between calls
        return PhaseConstants(**out)

    return {"prefill": phase(c.ttft_high, c.ttft_low, (c.single_high, c.single_low)),
            "decode": phase(c.tpot_high, c.tpot_low, throughput=(c.throughput_low, c.throughput_high))}


def provenance(calibration: Calibration | str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What produced an estimate: the costmodel version and the date each set of fitted
    constants was fitted. Every JSON output and report carries it."""
    from . import __version__

    cal = resolve_calibration(calibration)
    return {"version": __version__,
            "calibration": {"training": cal.training.fitted, "serving": cal.serving.fitted}}
