"""The parallel layout of a training run: devices, tensor and pipeline degrees, sequence
parallelism, ZeRO stage, micro-batch, recomputation and a given MFU, parsed once and checked
together.

Each option has one parser (:data:`LAYOUT_PARSERS`) that both the single estimate and the
sweep use, and :func:`check_layout` checks the options against each other on floats or arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import InputError
from .training import RECOMPUTE
from .units import FloatArray, parse_fraction, parse_whole

__all__ = ["TrainingLayout", "LAYOUT_PARSERS", "parse_recompute", "parse_zero_stage", "parse_sequence_parallel",
           "check_layout", "resolve_layout"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingLayout:
    """Devices, MFU (NaN: calibrated), micro-batch, tensor (NaN: smallest that fits) and pipeline
    degrees, ZeRO stage, the recomputation code of :data:`costmodel.training.RECOMPUTE`, and
    sequence parallelism (1 on, 0 off, NaN: on wherever tp > 1, as Megatron-LM runs it)."""

    n_gpus: FloatArray
    mfu: FloatArray
    micro_batch: FloatArray
    tp: FloatArray
    pp: FloatArray
    zero_stage: FloatArray
    recompute: FloatArray
    sequence_parallel: FloatArray = math.nan


def parse_recompute(value: str) -> float:
    if value not in RECOMPUTE:
        raise InputError(f"expected one of {', '.join(RECOMPUTE)}, got {value!r}", argument="recompute")
    return float(RECOMPUTE.index(value))


def parse_zero_stage(value: int) -> float:
    if value not in (0, 1, 2, 3) or isinstance(value, bool):
        raise InputError(f"expected 0, 1, 2 or 3, got {value!r}", argument="zero_stage")
    return float(value)


def parse_sequence_parallel(value: bool | None) -> float:
    if value is None:
        return math.nan
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"expected True, False or None (on wherever tp > 1), got {value!r}",
                         argument="sequence_parallel")
    return float(value)


# keyword -> (parser of one value, default): shared with the sweep, which parses each distinct value
LAYOUT_PARSERS: dict[str, tuple[Callable[[Any], float], Any]] = {
    "n_gpus": (lambda v: float(parse_whole(v, "n_gpus")), None),
    "mfu": (lambda v: math.nan if v is None else parse_fraction(v, "mfu"), None),
    "micro_batch": (lambda v: float(parse_whole(v, "micro_batch")), 1),
    "tp": (lambda v: math.nan if v is None else float(parse_whole(v, "tp")), None),
    "pp": (lambda v: float(parse_whole(v, "pp")), 1),
    "zero_stage": (parse_zero_stage, 3),
    "recompute": (parse_recompute, "selective"),
    "sequence_parallel": (parse_sequence_parallel, None),
}


def _first(bad, *arrays) -> list[float]:
    """The values of ``arrays`` at the first row where ``bad`` holds."""
    shape = np.broadcast(bad, *arrays).shape
    i = int(np.argmax(np.ravel(np.broadcast_to(bad, shape))))
    return [float(np.ravel(np.broadcast_to(a, shape))[i]) for a in arrays]


def _culprit(layout: TrainingLayout) -> str:
    """The degree to blame for a layout that does not fit the devices: tp when it was given (or
    varies), else pp."""
    return "pp" if np.all(np.isnan(layout.tp)) else "tp"


def check_layout(layout: TrainingLayout, heads: FloatArray = 0.0) -> TrainingLayout:
    """Refuse a layout that cannot be laid out (floats or arrays): a tensor x pipeline degree
    above the device count or not dividing it (the data-parallel degree is a whole number), or
    a tensor-parallel degree that does not divide the attention heads (``heads``; 0: unknown).
    """
    tp = np.where(np.isnan(layout.tp), 1.0, layout.tp)
    degree = tp * layout.pp
    bad = degree > layout.n_gpus
    if np.any(bad):
        d, n = _first(bad, degree, layout.n_gpus)
        raise InputError(f"the parallel degree {{tp}} x {{pp}} = {d:.0f} exceeds {{n_gpus}} = {n:.0f}",
                         argument=_culprit(layout))
    bad = np.fmod(layout.n_gpus, degree) != 0
    if np.any(bad):
        d, n = _first(bad, degree, layout.n_gpus)
        raise InputError(f"the parallel degree {{tp}} x {{pp}} = {d:.0f} does not divide {{n_gpus}} = {n:.0f}: the "
                         "data-parallel degree must be a whole number", argument=_culprit(layout))
    bad = (heads > 0) & (np.fmod(heads, tp) != 0)
    if np.any(bad):
        t, h = _first(bad, tp, heads)
        raise InputError(f"{t:.0f} does not divide the model's {h:.0f} attention heads", argument="tp")
    return layout


def resolve_layout(heads: FloatArray = 0.0, **options: Any) -> TrainingLayout:
    """The parallel layout and MFU options (see :data:`LAYOUT_PARSERS`) as floats, checked
    against each other and the model's attention ``heads``."""
    return check_layout(TrainingLayout(**{k: parse(options.get(k, default)) for k, (parse, default)
                                          in LAYOUT_PARSERS.items()}), heads)
