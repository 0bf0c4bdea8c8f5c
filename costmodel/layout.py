"""The parallel layout of a training run: devices, tensor, pipeline, context and expert degrees,
sequence parallelism, ZeRO stage, micro- and global batch, recomputation, the engineering tier
and a given MFU, parsed once and checked together.

Each option has one parser (:data:`LAYOUT_PARSERS`) that both the single estimate and the
sweep use, and :func:`check_layout` checks the options against each other on floats or arrays.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .elementwise import any_true, fmod, isnan, where
from .errors import InputError
from .memo import memoise
from .steptime import TIERS
from .training import RECOMPUTE
from .units import CountLike, FloatArray, parse_count, parse_fraction, parse_whole

__all__ = ["TrainingLayout", "LAYOUT_PARSERS", "parse_recompute", "parse_zero_stage", "parse_sequence_parallel",
           "parse_global_batch", "parse_tuning", "parse_flash_attention", "parse_ep_overlap", "check_layout", "resolve_layout"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingLayout:
    """Devices, MFU (NaN: from the step-time model), micro-batch, tensor, pipeline and ZeRO stage
    (NaN: the fastest layout that fits, see :func:`costmodel.training_pipeline.evaluate`),
    context, expert (NaN: as many as the experts and the data-parallel degree allow) and
    virtual-pipeline degrees, the recomputation code of :data:`costmodel.training.RECOMPUTE`,
    sequence parallelism (1 on, 0 off, NaN: on wherever tp > 1, as Megatron-LM runs it), the
    global batch (tokens when positive, sequences when negative, NaN: the default of
    :func:`costmodel.steptime.default_global_batch`), the tier code of
    :data:`costmodel.steptime.TIERS` and ``flash_attention`` (1: a fused attention kernel and
    communication overlapped with the GEMMs, as software has run since 2023; 0: the software of
    2021-22, see :mod:`costmodel.steptime`) and ``ep_overlap`` (1: the software overlaps the
    expert all-to-alls with another micro-batch's computation; 0: it does not)."""

    n_gpus: FloatArray
    mfu: FloatArray
    micro_batch: FloatArray
    tp: FloatArray
    pp: FloatArray
    zero_stage: FloatArray
    recompute: FloatArray
    sequence_parallel: FloatArray = math.nan
    cp: FloatArray = 1.0
    ep: FloatArray = math.nan
    vpp: FloatArray = 1.0
    global_batch: FloatArray = math.nan
    tuning: FloatArray = 0.0
    flash_attention: FloatArray = 1.0
    ep_overlap: FloatArray = 0.0


def parse_recompute(value: str) -> float:
    if value not in RECOMPUTE:
        raise InputError(f"expected one of {', '.join(RECOMPUTE)}, got {value!r}", argument="recompute")
    return float(RECOMPUTE.index(value))


def parse_zero_stage(value: int | None) -> float:
    if value is None:
        return math.nan
    if value not in (0, 1, 2, 3) or isinstance(value, bool):
        raise InputError(f"expected 0, 1, 2 or 3 (or None: the fastest that fits), got {value!r}",
                         argument="zero_stage")
    return float(value)


def parse_tuning(value: str) -> float:
    if value not in TIERS:
        raise InputError(f"expected one of {', '.join(TIERS)}, got {value!r}", argument="tuning")
    return float(TIERS.index(value))


_SEQUENCES = re.compile(r"^\s*(.*?)\s*(?:sequences?|seqs?|samples?)\s*$", re.IGNORECASE)


def parse_global_batch(value: CountLike | None) -> float:
    """Tokens per optimizer step (``"4M"``, ``"4M token"``, ``4e6``), or sequences
    (``"1024 sequence"``, kept negative until the sequence length is known); None: default."""
    if value is None:
        return math.nan
    if isinstance(value, str) and (match := _SEQUENCES.match(value)):
        return -float(parse_whole(parse_count(match.group(1), "global_batch"), "global_batch", limit=1e9))
    return parse_count(value, "global_batch")


def parse_flash_attention(value: bool) -> float:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"expected True or False, got {value!r}", argument="flash_attention")
    return float(value)


def parse_ep_overlap(value: bool) -> float:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"expected True or False, got {value!r}", argument="ep_overlap")
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
    "pp": (lambda v: math.nan if v is None else float(parse_whole(v, "pp")), None),
    "zero_stage": (parse_zero_stage, None),
    "recompute": (parse_recompute, "selective"),
    "sequence_parallel": (parse_sequence_parallel, None),
    "cp": (lambda v: float(parse_whole(v, "cp")), 1),
    "ep": (lambda v: math.nan if v is None else float(parse_whole(v, "ep")), None),
    "vpp": (lambda v: math.nan if v is None else float(parse_whole(v, "vpp")), None),
    "global_batch": (parse_global_batch, None),
    "tuning": (parse_tuning, "typical"),
    "flash_attention": (parse_flash_attention, True),
    "ep_overlap": (parse_ep_overlap, False),
}


def _first(bad, *arrays) -> list[float]:
    """The values of ``arrays`` at the first row where ``bad`` holds."""
    shape = np.broadcast(bad, *arrays).shape
    i = int(np.argmax(np.ravel(np.broadcast_to(bad, shape))))
    return [float(np.ravel(np.broadcast_to(a, shape))[i]) for a in arrays]


def _culprit(layout: TrainingLayout) -> str:
    """The degree to blame for a layout that does not fit the devices: tp when it was given (or
    varies), else pp when given, else cp."""
    if not np.all(np.isnan(layout.tp)):
        return "tp"
    return "cp" if np.all(np.isnan(layout.pp)) else "pp"


def check_layout(layout: TrainingLayout, heads: FloatArray = 0.0) -> TrainingLayout:
    """Refuse a layout that cannot be laid out (floats or arrays): a tensor x pipeline x context
    degree (those given) above the device count or not dividing it (the data-parallel degree is
    a whole number), an expert degree above the device count, or a tensor-parallel degree that
    does not divide the attention heads (``heads``; 0: unknown).
    """
    tp = where(isnan(layout.tp), 1.0, layout.tp)
    degree = tp * where(isnan(layout.pp), 1.0, layout.pp) * layout.cp
    label = " x ".join(["{tp}", "{pp}"] + (["{cp}"] if any_true(layout.cp != 1) else []))
    bad = degree > layout.n_gpus
    if any_true(bad):
        d, n = _first(bad, degree, layout.n_gpus)
        raise InputError(f"the parallel degree {label} = {d:.0f} exceeds {{n_gpus}} = {n:.0f}",
                         argument=_culprit(layout))
    bad = fmod(layout.n_gpus, degree) != 0
    if any_true(bad):
        d, n = _first(bad, degree, layout.n_gpus)
        raise InputError(f"the parallel degree {label} = {d:.0f} does not divide {{n_gpus}} = "
                         f"{n:.0f}: the data-parallel degree must be a whole number", argument=_culprit(layout))
    bad = layout.ep > layout.n_gpus
    if any_true(bad):
        e, n = _first(bad, layout.ep, layout.n_gpus)
        raise InputError(f"{e:.0f} exceeds {{n_gpus}} = {n:.0f}", argument="ep")
    bad = (heads > 0) & (fmod(heads, tp) != 0)
    if any_true(bad):
        t, h = _first(bad, tp, heads)
        raise InputError(f"{t:.0f} does not divide the model's {h:.0f} attention heads", argument="tp")
    return layout


@memoise
def resolve_layout(heads: FloatArray = 0.0, **options: Any) -> TrainingLayout:
    """The parallel layout and MFU options (see :data:`LAYOUT_PARSERS`) as floats, checked
    against each other and the model's attention ``heads`` (cached per distinct arguments)."""
    return check_layout(TrainingLayout(**{k: parse(options.get(k, default)) for k, (parse, default)
                                          in LAYOUT_PARSERS.items()}), heads)
