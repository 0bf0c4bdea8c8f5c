"""``estimate_training``: resolve the inputs once into a typed record, run the pipeline, wrap.

The same three steps serve a sweep (:mod:`costmodel.sweep`): it resolves each distinct value
with the resolvers below, lays the records out per row and runs :func:`evaluate` once over
arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from . import memory as mem
from . import training as core
from .calibration import Calibration, TrainingCalibration, default_mfu, mfu_scales, resolve_calibration
from .energy import FootprintInputs, FootprintValues, combine_spreads, footprint_values, resolve_footprint
from .errors import InputError
from .hardware import HardwareProfile, ProfilePath, get_hardware
from .layout import TrainingLayout, resolve_layout
from .models import ModelSpec
from .results.base import check_finite
from .results.training import CULPRITS, MAY_BE_MISSING, OUTPUTS, TrainingEstimate
from .units import BoolArray, CountLike, FloatArray, QuantityLike
from .workload import TrainingModel, layout_heads, resolve_model

if TYPE_CHECKING:
    from .regions import Region

__all__ = ["TrainingHardware", "TrainingCase", "TrainingValues", "resolve_hardware", "evaluate", "estimate_training",
           "scenarios"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingHardware:
    """Dense peak at the training precision [FLOP/s], bandwidth [B/s], memory [B], TDP [W], and
    the bytes per parameter of weights and of optimizer state at that precision."""

    peak: FloatArray
    bandwidth: FloatArray
    capacity: FloatArray
    tdp: FloatArray
    weight_bytes: FloatArray
    optimizer_bytes: FloatArray


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingCase:
    """Everything the pipeline needs; ``mfu_scale`` multiplies the calibrated MFU (1, or the
    three scenarios of its range)."""

    model: TrainingModel
    hardware: TrainingHardware
    layout: TrainingLayout
    footprint: FootprintInputs
    mfu_scale: FloatArray = 1.0


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
    weights: FloatArray
    gradients: FloatArray
    optimizer: FloatArray
    activations: FloatArray
    min_gpus: FloatArray
    fits: BoolArray
    footprint: FootprintValues


def resolve_hardware(hardware: str | HardwareProfile, dtype: str | None = None,
                     profile_path: ProfilePath | None = None) -> tuple[HardwareProfile, str, TrainingHardware]:
    """The device, its training precision and the figures the pipeline needs. Without a
    ``dtype`` the usual mixed precision (bf16, fp16, tf32 or fp32); 8- and 4-bit training only
    when asked for (:data:`QUANTISED_TRAINING` says what it takes)."""
    hw = get_hardware(hardware, profile_path=profile_path)
    if dtype is None:
        dt = next((d for d in ("bf16", "fp16", "tf32", "fp32") if d in hw.dense), None)
        if dt is None:
            raise InputError(f"{hw.id} lists no 16- or 32-bit precision to train in; give {{dtype=}} "
                             f"({', '.join(hw.dense)})", argument="dtype")
    else:
        dt = hw.resolve_dtype(dtype)
    return hw, dt, TrainingHardware(peak=hw.peak_flops(dt), bandwidth=hw.number("memory_bandwidth"),
                                    capacity=hw.number("memory"), tdp=hw.number("tdp"),
                                    weight_bytes=mem.WEIGHT_BYTES[dt], optimizer_bytes=mem.OPTIMIZER_BYTES[dt])


QUANTISED_TRAINING = ("{dtype} training needs quantised-training software (FP8: NVIDIA Transformer Engine or "
                      "an equivalent; integer formats: research code); weights, gradients and optimizer states "
                      "keep their mixed-precision sizes")


def evaluate(case: TrainingCase, cal: TrainingCalibration) -> TrainingValues:
    """The whole training pipeline on floats or arrays; every field broadcasts against the
    others, and a leading axis of the footprint and ``mfu_scale`` carries scenarios."""
    m, h, lay = case.model, case.hardware, case.layout
    teacher = core.teacher_flops(m.teacher_active, m.teacher_attention, m.tokens)
    per_token = core.finetune_flops(m.active_params, m.tokens, m.attention, m.trainable, m.method)
    flops = np.where(np.isnan(m.forward_flops), per_token, core.sample_flops(m.forward_flops, m.samples)) + teacher
    auto = np.minimum(default_mfu(cal, h.peak, h.bandwidth, m.active_params, lay.n_gpus) * case.mfu_scale, 1.0)
    mfu = np.where(np.isnan(lay.mfu), auto, lay.mfu)
    seconds = core.training_seconds(flops, lay.n_gpus, h.peak, mfu)
    shape = (m.layers, m.seq_len, lay.micro_batch, m.d_model, m.heads)
    split, whole = mem.activation_bytes(*shape, lay.recompute, lay.sequence_parallel, lay.pp, m.vocab)
    full_split, full_whole = mem.activation_bytes(*shape, 2.0, lay.sequence_parallel, lay.pp, m.vocab)
    features = m.feature_elements * lay.micro_batch * h.weight_bytes  # a CNN's, data-parallel: never split
    whole, full_whole = whole + features, full_whole + features
    w, g, o = mem.state_bytes(m.params, h.weight_bytes, h.optimizer_bytes, m.trainable, m.frozen_bytes)
    states = (w + m.teacher_params * h.weight_bytes, g, o)  # a distillation teacher's weights
    tp, w, g, o, a = mem.plan_memory(*states, lay.n_gpus, h.capacity, split, lay.tp, lay.pp, lay.zero_stage, whole)
    return TrainingValues(
        flops=flops, teacher_flops=teacher, mfu=mfu, seconds=seconds, gpu_hours=seconds * lay.n_gpus / 3600.0,
        hardware_flops=core.hardware_flops(flops, m.tokens, m.attention, lay.recompute),
        tp=tp, weights=w, gradients=g, optimizer=o, activations=a,
        min_gpus=mem.min_devices(sum(states), h.capacity, split, full_split, whole, full_whole),
        fits=w + g + o + a <= h.capacity,
        footprint=footprint_values(case.footprint, h.tdp, 1.0, lay.n_gpus, seconds))


def estimate_training(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                      active_params: CountLike | None = None, tokens: CountLike | None = None,
                      samples: CountLike | None = None, hardware: str | HardwareProfile, n_gpus: CountLike,
                      dtype: str | None = None, mfu: float | str | None = None, seq_len: CountLike | None = None,
                      micro_batch: CountLike = 1, tp: CountLike | None = None, pp: CountLike = 1,
                      zero_stage: int = 3, recompute: str = "selective", sequence_parallel: bool | None = None,
                      pue: float | str | None = None,
                      power_per_gpu: QuantityLike | None = None, host_power_per_gpu: QuantityLike | None = None,
                      region: str | Region | None = None, grid_intensity: QuantityLike | None = None,
                      price_per_gpu_hour: QuantityLike | None = None, cost_basis: str = "cloud",
                      price_kind: str = "on_demand", purchase_price: QuantityLike | None = None,
                      electricity_price: QuantityLike | None = None, service_life: QuantityLike | None = None,
                      embodied: bool = False, method: str = "full", trainable_params: CountLike | None = None,
                      lora_rank: CountLike = 8, teacher: CountLike | None = None,
                      profile_path: ProfilePath | None = None,
                      calibration: Calibration | str | os.PathLike[str] | None = None) -> TrainingEstimate:
    """Estimate the compute, time, memory, energy and cost of one training run.

    Parameters
    ----------
    model : str or ModelSpec, optional
        A catalog id (``"gpt3-175b"``); its shape, parameters and reported training data are
        the defaults for the arguments below.
    params, active_params : count, optional
        Total and per-token active parameters (``"7B"``, ``7e9``); override the catalog.
    tokens : count [token], optional
        Training tokens (``"300B"``); defaults to the catalog's reported figure.
    samples : count, optional
        Images (or rows) seen, for CNN, ViT and linear models: FLOPs are 3 x forward FLOPs
        per sample x samples.
    hardware : str or HardwareProfile
        A hardware profile id or alias (``"a100"``).
    n_gpus : int
        Accelerators (TPU chips) used.
    dtype : str, optional
        Training precision; default bf16, or fp16 where the device has no bf16.
    mfu : float, optional
        Model FLOPs utilisation in (0, 1]; default from the calibration.
    seq_len, micro_batch, tp, pp, zero_stage, recompute, sequence_parallel
        Memory layout: sequence length (default the model's context; 2048 for a model known
        only by ``params``, whose shape is then derived from them, see
        :func:`costmodel.memory.shape_from_params`), micro-batch size, tensor/pipeline
        parallel degrees (``tp=None`` picks the smallest that fits), ZeRO stage (default 3,
        i.e. FSDP), activation recomputation (``"none" | "selective" | "full"``; default
        selective, as Megatron-LM runs do) and sequence parallelism (``None``: on wherever
        ``tp > 1``, as Megatron-LM runs it; ``False`` leaves layer norms and dropouts whole
        on every tensor-parallel device). Give an explicit shape as a :class:`ModelSpec`
        (``ModelSpec.from_mapping``) with ``layers``, ``d_model`` and ``heads``.
    pue, power_per_gpu, host_power_per_gpu, region, grid_intensity : optional
        Energy and carbon: facility PUE (default the region's, else 1.10 for cloud and 1.56 for
        owned hardware), average device draw [W] replacing the power model, server overhead per
        device [W] (``0`` turns it off), a region id (``"france"``) for grid intensity and PUE, or
        a grid intensity [mass/energy] replacing the region's (default: world average).
    price_per_gpu_hour, cost_basis, price_kind, purchase_price, electricity_price, service_life
        Dollars: ``cost_basis="cloud"`` (default) multiplies device-hours by the price per
        device-hour (default the profile's ``price_kind`` price); ``"owned"`` amortises the
        purchase price over ``service_life`` and adds electricity at ``electricity_price``.
    embodied : bool
        Also report manufacturing emissions amortised per device-hour (``footprint.embodied_co2e``).
    method, trainable_params, lora_rank : optional
        ``"full"`` (default), ``"lora"`` or ``"qlora"``: frozen base weights take no gradients
        or optimizer state and save the weight-gradient third of the backward pass (see
        :mod:`costmodel.training`); adapters default to rank ``lora_rank`` on the query and
        value projections, or give ``trainable_params``.
    teacher : str or count, optional
        Knowledge distillation: a teacher (catalog id or parameter count) runs a forward pass
        on every token; its FLOPs are in ``teacher_flops`` and included in ``flops``.
    profile_path : path, optional
        Extra directories of hardware profiles.
    calibration : Calibration or path, optional
        Fitted constants (default: the shipped ones; see :mod:`costmodel.calibration`).

    Returns
    -------
    TrainingEstimate

    References
    ----------
    Kaplan et al. 2020 (FLOPs); Korthikanti et al. 2022 (activations); Rajbhandari et al.
    2020 (ZeRO); Chowdhery et al. 2022, Appendix B (MFU).

    Examples
    --------
    >>> est = estimate_training("gpt3-175b", hardware="v100-sxm2-32gb", n_gpus=10_000)
    >>> round(est.flops.to("FLOP").magnitude / 1e23, 2)
    3.19
    """
    cal = resolve_calibration(calibration)
    spec, m, warnings = resolve_model(model, params=params, active_params=active_params, tokens=tokens,
                                      samples=samples, seq_len=seq_len, method=method,
                                      trainable_params=trainable_params, lora_rank=lora_rank, teacher=teacher)
    hw, dt, h = resolve_hardware(hardware, dtype, profile_path)
    if dt in ("fp8", "int8", "int4"):
        warnings += (QUANTISED_TRAINING.format(dtype=dt),)
    layout = resolve_layout(n_gpus=n_gpus, mfu=mfu, micro_batch=micro_batch, tp=tp, pp=pp, zero_stage=zero_stage,
                            recompute=recompute, sequence_parallel=sequence_parallel, heads=layout_heads(m))
    f, labels = resolve_footprint(hw, pue=pue, power_per_gpu=power_per_gpu, host_power_per_gpu=host_power_per_gpu,
                                  region=region, grid_intensity=grid_intensity,
                                  price_per_gpu_hour=price_per_gpu_hour, cost_basis=cost_basis,
                                  price_kind=price_kind, purchase_price=purchase_price,
                                  electricity_price=electricity_price, service_life=service_life,
                                  embodied=embodied)
    case = TrainingCase(model=m, hardware=h, layout=layout, footprint=f)
    typical = TrainingCase(model=m, hardware=h, layout=layout, footprint=_typical(f))
    values = evaluate(typical, cal.training)
    check_finite(OUTPUTS, typical, values, MAY_BE_MISSING, CULPRITS, "tokens")
    if not np.isfinite(values.min_gpus):
        warnings += ("no layout holds one micro-batch's activations on a device, even with full recomputation "
                     "and tensor parallelism of 1024: lower seq_len or micro_batch",)
    return TrainingEstimate(model=spec.id if spec is not None else None, hardware=hw.id, n_gpus=int(layout.n_gpus),
                            dtype=dt, method=method, warnings=warnings, _case=case, _calibration=cal,
                            _scenarios_of=scenarios, _values=values, _labels=labels,
                            _profile=hw)


def _typical(f: FootprintInputs) -> FootprintInputs:
    return FootprintInputs(**{name: float(getattr(f, name)[0]) for name in FootprintInputs.__slots__})


def scenarios(case: TrainingCase, cal: Calibration) -> TrainingValues:
    """The pipeline over the (typical, optimistic, pessimistic) scenarios of a scalar case; the
    energy range combines the hours' spread with the power inputs' (:func:`combine_spreads`)."""
    t = cal.training
    footprint = combine_spreads(case.footprint, case.hardware.tdp, (t.resid_q10, t.resid_q90),
                                ~np.isnan(case.layout.mfu))
    return evaluate(replace(case, mfu_scale=mfu_scales(t), footprint=footprint), t)
