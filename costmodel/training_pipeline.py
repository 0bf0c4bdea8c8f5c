"""The training pipeline: its records, the layout's figures, and the figures of every scenario.

A :class:`TrainingCase` holds the resolved records (:class:`~costmodel.workload.TrainingModel`,
the device's :class:`~costmodel.layout_search.TrainingHardware` from :func:`resolve_hardware`,
:class:`~costmodel.layout.TrainingLayout`, :class:`~costmodel.energy.FootprintInputs`) as floats for one estimate, arrays for a sweep, or
the three scenarios of a range. :func:`step_values` chooses the layout (:mod:`costmodel.layout_search`)
and evaluates what no scenario changes (:class:`StepValues`: the work, the modelled step time
and memory per device, :mod:`costmodel.memory`); :func:`evaluate` adds the time at the
calibrated (or given) MFU and the footprint (:func:`costmodel.energy.footprint_values`) into
:class:`TrainingValues`; :func:`scenarios` runs it over a scalar case's (typical, optimistic,
pessimistic) scenarios. :func:`with_tokens` evaluates again only what a new token count
changes. :func:`costmodel.training_estimate.estimate_training` and the sweep
(:mod:`costmodel.sweep`) both call these.

References
----------
Kaplan et al. 2020 (FLOPs); Korthikanti et al. 2022 (activations); Chowdhery et al. 2022,
Appendix B (MFU).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from . import memory as mem
from . import steptime as st
from . import training as core
from .calibration import Calibration, TrainingCalibration, mfu_scales
from .elementwise import isnan, where
from .energy import FootprintInputs, FootprintValues, footprint_values
from .energy_range import combine_spreads
from .errors import InputError
from .hardware import HardwareProfile, ProfilePath, get_hardware
from .layout import TrainingLayout
from .layout_search import TrainingHardware, chosen_seconds, layout_terms, search_layout, work_flops
from .memo import memoise, replaced
from .units import BoolArray, FloatArray
from .workload import TrainingModel

if TYPE_CHECKING:
    from .results.training import TrainingEstimate

__all__ = ["QUANTISED_TRAINING", "resolve_hardware", "TrainingCase", "StepValues", "TrainingValues", "step_values",
           "with_tokens", "with_layout", "evaluate", "scenarios", "step_terms_of"]


QUANTISED_TRAINING = ("{dtype} training needs quantised-training software (FP8: NVIDIA Transformer Engine or "
                      "an equivalent; integer formats: research code); weights, gradients and optimizer states "
                      "keep their mixed-precision sizes")


def resolve_hardware(hardware: str | HardwareProfile, dtype: str | None = None,
                     profile_path: ProfilePath | None = None) -> tuple[HardwareProfile, str, TrainingHardware]:
    """The device, its training precision and the figures the pipeline needs. Without a
    ``dtype`` the usual mixed precision (bf16, fp16, tf32 or fp32); 8- and 4-bit training only
    when asked for (:data:`QUANTISED_TRAINING` says what it takes)."""
    hw = get_hardware(hardware, profile_path=profile_path)
    return (hw, *_training_hardware(hw, dtype))


@memoise
def _training_hardware(hw: HardwareProfile, dtype: str | None) -> tuple[str, TrainingHardware]:
    if dtype is None:
        dt = next((d for d in ("bf16", "fp16", "tf32", "fp32") if d in hw.dense), None)
        if dt is None:
            raise InputError(f"{hw.id} lists no 16- or 32-bit precision to train in; give {{dtype=}} "
                             f"({', '.join(hw.dense)})", argument="dtype")
    else:
        dt = hw.resolve_dtype(dtype)
    peak = hw.peak_flops(dt)
    link = hw.number("interconnect_bandwidth") or hw.number("pcie_bandwidth") or st.DEFAULT_LINK
    return dt, TrainingHardware(
        peak=peak, gemm=(hw.gemm_flops(dt)
                         or st.GEMM_FRACTION_DEFAULT * peak),
        bandwidth=hw.number("memory_bandwidth"), link=link,
        scale_out=hw.number("scale_out_bandwidth") or min(st.DEFAULT_SCALE_OUT, link),
        node=float(hw.devices_per_node or st.DEFAULT_NODE), capacity=hw.number("memory"), tdp=hw.number("tdp"),
        weight_bytes=mem.WEIGHT_BYTES[dt], optimizer_bytes=mem.OPTIMIZER_BYTES[dt],
        grad_bytes=st.grad_reduce_bytes(dt))


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingCase:
    """Everything the pipeline needs; ``mfu_scale`` multiplies the calibrated MFU (1, or the
    three scenarios of its range)."""

    model: TrainingModel
    hardware: TrainingHardware
    layout: TrainingLayout
    footprint: FootprintInputs
    mfu_scale: FloatArray = 1.0
    choice: np.ndarray | None = None  # (tp, pp, ZeRO) chosen already, on a leading axis of 3
    step: StepValues | None = None  # the layout's figures evaluated already (:func:`step_values`)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepValues:
    """The pipeline's outputs that no scenario changes, in canonical floats (FLOP, s, B) or
    arrays: the FLOPs, the layout chosen and its global batch [token], the step model's seconds
    at the calibrated speed (``modelled``) and their shares, and memory per device. The fields
    :class:`TrainingValues` shares have its names."""

    flops: FloatArray
    teacher_flops: FloatArray
    hardware_flops: FloatArray
    tp: FloatArray
    pp: FloatArray
    zero_stage: FloatArray
    ep: FloatArray
    vpp: FloatArray
    global_batch: FloatArray
    batch_raised: BoolArray
    modelled: FloatArray
    compute_share: FloatArray
    comm_share: FloatArray
    stretch_share: FloatArray
    weights: FloatArray
    gradients: FloatArray
    optimizer: FloatArray
    activations: FloatArray
    min_gpus: FloatArray
    fits: BoolArray


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingValues:
    """The pipeline's outputs in canonical floats (FLOP, s, h, B) or arrays."""

    flops: FloatArray
    teacher_flops: FloatArray
    hardware_flops: FloatArray
    mfu: FloatArray
    seconds: FloatArray
    gpu_hours: FloatArray
    tp: FloatArray
    pp: FloatArray
    zero_stage: FloatArray
    ep: FloatArray
    vpp: FloatArray
    global_batch: FloatArray
    batch_raised: BoolArray  # the batch asked for is below one micro-batch per data-parallel rank
    compute_share: FloatArray  # shares of the modelled time: matmuls, memory-bound work and overheads,
    comm_share: FloatArray  # exposed communication, and the pipeline bubble and failures
    stretch_share: FloatArray
    weights: FloatArray
    gradients: FloatArray
    optimizer: FloatArray
    activations: FloatArray
    min_gpus: FloatArray
    fits: BoolArray
    footprint: FootprintValues


def step_terms_of(estimate: TrainingEstimate) -> st.StepTerms:
    """The step-time terms of an estimate at the layout it chose, for unit constants (what
    ``scripts/fit_calibration.py`` fits the constants on)."""
    case, values = estimate._case, estimate._values
    return layout_terms(case.model, case.hardware, case.layout, values.hardware_flops, values.tp, values.pp,
                  values.zero_stage)[0]


def step_values(case: TrainingCase, cal: TrainingCalibration) -> StepValues:
    """What the layout gives before any scenario applies (``case.step`` where evaluated
    already): the layout (tensor, pipeline, ZeRO stage where not given) chosen on a leading axis
    of candidates by the step-time model (:mod:`costmodel.steptime`), unless ``case.choice``
    holds it, its step time at the calibrated speed and its memory."""
    if case.step is not None:
        return case.step
    m, h, lay = case.model, case.hardware, case.layout
    s = search_layout(m, h, lay, cal, case.choice)
    features = s["features"]
    layers, seq, micro, d_model, heads = s["shape"]
    full_split, full_whole = mem.activation_bytes(layers, seq, micro, d_model, heads, 2.0, lay.sequence_parallel,
                                                  1.0, m.vocab)
    one_split, one_whole = mem.activation_bytes(layers, seq, micro, d_model, heads, lay.recompute,
                                                lay.sequence_parallel, 1.0, m.vocab, lay.flash_attention)
    return StepValues(
        flops=s["flops"], teacher_flops=s["teacher"], hardware_flops=s["hw_flops"], **_layout_fields(s, h.capacity),
        min_gpus=mem.min_devices(sum(s["states"]), h.capacity, one_split, full_split, one_whole + features,
                                 full_whole + features))


def _layout_fields(s: dict, capacity: FloatArray) -> dict[str, Any]:
    """The :class:`StepValues` fields of the layout :func:`search_layout` chose (its figures
    ``s``): those that depend on the global batch."""
    cw, cg, co, ca, batch = s["cw"], s["cg"], s["co"], s["ca"], s["batch"]
    return dict(tp=s["tp"], pp=s["pp"], zero_stage=s["zero"], ep=s["ep"], vpp=s["vpp"], global_batch=batch,
                batch_raised=batch > s["wanted"] * (1.0 + 1e-9), **_timed(s["local"], s["comm"], s["modelled"]),
                weights=cw, gradients=cg, optimizer=co, activations=ca, fits=cw + cg + co + ca <= capacity)


def with_layout(case: TrainingCase, s: dict) -> StepValues:
    """:attr:`TrainingCase.step` of a case evaluated already whose global batch changes, from
    the figures ``s`` of the layout :func:`search_layout` chooses at the new batch
    (:class:`costmodel.layout_choices.BatchSearch`): the work and the fewest devices that hold
    the model do not depend on the batch."""
    assert case.step is not None
    return replaced(case.step, **_layout_fields(s, case.hardware.capacity))


def _timed(local: FloatArray, comm: FloatArray, modelled: FloatArray) -> dict[str, FloatArray]:
    """The :class:`StepValues` fields of the modelled seconds and their shares."""
    return {"modelled": modelled, "compute_share": local / modelled, "comm_share": comm / modelled,
            "stretch_share": 1.0 - (local + comm) / modelled}


def with_tokens(case: TrainingCase, tokens: float, cal: TrainingCalibration) -> tuple[TrainingModel, StepValues]:
    """The model and :attr:`TrainingCase.step` of a case evaluated already (its layout chosen)
    whose training tokens change: only the work and the seconds depend on them (the layout's
    choice does not, :func:`costmodel.layout_search.choose_layout`; nor do the memory, the
    batch and the degrees), so only those are evaluated again, by the same operations
    :func:`step_values` runs with the choice given."""
    m, h, lay, s = replaced(case.model, tokens=tokens), case.hardware, case.layout, case.step
    assert s is not None
    flops, teacher, hw_flops = work_flops(m, lay)
    local, comm, modelled = chosen_seconds(m, h, lay, cal, hw_flops, s.tp, s.pp, s.zero_stage, s.ep,
                                           s.global_batch, s.vpp)
    return m, replaced(s, flops=flops, teacher_flops=teacher, hardware_flops=hw_flops,
                      **_timed(local, comm, modelled))


def evaluate(case: TrainingCase, cal: TrainingCalibration) -> TrainingValues:
    """The whole training pipeline on floats or arrays; every field broadcasts against the
    others, and a leading axis of the footprint and ``mfu_scale`` carries scenarios.

    The layout's figures (:func:`step_values`) come before the scenarios apply; only the time,
    which ``mfu_scale`` divides, and the footprint differ between scenarios.
    """
    s, lay, h = case.step or step_values(case, cal), case.layout, case.hardware
    n, flops = lay.n_gpus, s.flops
    auto = s.modelled / case.mfu_scale
    seconds = where(isnan(lay.mfu), auto, core.training_seconds(flops, n, h.peak, lay.mfu))
    return TrainingValues(
        flops=flops, teacher_flops=s.teacher_flops, mfu=flops / (seconds * n * h.peak), seconds=seconds,
        gpu_hours=seconds * n / 3600.0, hardware_flops=s.hardware_flops, tp=s.tp, pp=s.pp, zero_stage=s.zero_stage,
        ep=s.ep, vpp=s.vpp, global_batch=s.global_batch, batch_raised=s.batch_raised,
        compute_share=s.compute_share, comm_share=s.comm_share, stretch_share=s.stretch_share,
        weights=s.weights, gradients=s.gradients, optimizer=s.optimizer, activations=s.activations,
        min_gpus=s.min_gpus, fits=s.fits, footprint=footprint_values(case.footprint, h.tdp, 1.0, n, seconds))


def scenarios(case: TrainingCase, cal: Calibration) -> TrainingValues:
    """The pipeline over the (typical, optimistic, pessimistic) scenarios of a scalar case; the
    energy range combines the hours' spread with the power inputs' (:func:`combine_spreads`).
    The layout's figures are the typical scenario's (``case.step``): the scenarios differ only
    in the speed and the footprint's inputs. (A result keeps its case's range ends,
    :meth:`costmodel.results.base.RangedEstimate._ends`, so a case's scenarios run once.)"""
    return evaluate(_scenario_case(case, cal.training), cal.training)


def _scenario_case(case: TrainingCase, t: TrainingCalibration) -> TrainingCase:
    footprint = _footprint_scenarios(case.footprint, float(case.hardware.tdp), (t.resid_q10, t.resid_q90),
                                     bool(~isnan(case.layout.mfu)))
    return replace(case, mfu_scale=mfu_scales(t), footprint=footprint)


@memoise
def _footprint_scenarios(f: FootprintInputs, tdp_w: float, time_q: tuple[float, float],
                         time_known: bool) -> FootprintInputs:
    """:func:`combine_spreads` of one configuration's inputs, read-only (cached and shared); the
    cost basis and embodied flags, the same in every scenario, as plain numbers."""
    out = combine_spreads(f, tdp_w, time_q, time_known)
    for name in FootprintInputs.__slots__:
        value = getattr(out, name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return replace(out, **{flag: float(getattr(out, flag)[0]) for flag in ("owned", "embodied")
                           if np.all(getattr(out, flag) == getattr(out, flag)[0])})
