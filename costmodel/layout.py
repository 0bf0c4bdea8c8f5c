"""The parallel layout of a training run: devices, tensor and pipeline degrees, ZeRO stage,
micro-batch, recomputation and a given MFU, parsed once and checked together.

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

__all__ = ["TrainingLayout", "LAYOUT_PARSERS", "parse_recompute", "parse_zero_stage", "check_layout",
           "resolve_layout"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingLayout:
    """Devices, MFU (NaN: calibrated), micro-batch, tensor (NaN: smallest that fits) and pipeline
    degrees, ZeRO stage and the recomputation code of :data:`costmodel.training.RECOMPUTE`."""

    n_gpus: FloatArray
    mfu: FloatArray
    micro_batch: FloatArray
    tp: FloatArray
    pp: FloatArray
    zero_stage: FloatArray
    recompute: FloatArray


def parse_recompute(value: str) -> float:
    if value not in RECOMPUTE:
        raise InputError(f"expected one of {', '.join(RECOMPUTE)}, got {value!r}", argument="recompute")
    return float(RECOMPUTE.index(value))


def parse_zero_stage(value: int) -> float:
    if value not in (0, 1, 2, 3) or isinstance(value, bool):
        raise InputError(f"expected 0, 1, 2 or 3, got {value!r}", argument="zero_stage")
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
}


def check_layout(layout: TrainingLayout) -> TrainingLayout:
    """Refuse a tensor x pipeline degree above the device count (floats or arrays)."""
    degree = np.where(np.isnan(layout.tp), 1.0, layout.tp) * layout.pp
    bad = np.broadcast_to(degree > layout.n_gpus, np.broadcast(degree, layout.n_gpus).shape)
    if np.any(bad):
        i = int(np.argmax(np.ravel(bad)))
        d, n = (float(np.ravel(np.broadcast_to(a, bad.shape))[i]) for a in (degree, layout.n_gpus))
        raise InputError(f"the parallel degree {{tp}} x {{pp}} = {d:.0f} exceeds {{n_gpus}} = {n:.0f}", argument="tp")
    return layout


def resolve_layout(**options: Any) -> TrainingLayout:
    """The parallel layout and MFU options (see :data:`LAYOUT_PARSERS`) as floats."""
    return check_layout(TrainingLayout(**{k: parse(options.get(k, default)) for k, (parse, default)
                                          in LAYOUT_PARSERS.items()}))
