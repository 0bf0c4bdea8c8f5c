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
from . import steptime as st
from . import training as core
from .calibration import Calibration, TrainingCalibration, mfu_scales, resolve_calibration
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
           "scenarios", "step_terms_of"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingHardware:
    """Dense peak and large-GEMM ceiling at the training precision [FLOP/s], memory bandwidth,
    the link inside a node and the network per device between nodes [B/s per direction], the
    devices per node, memory [B], TDP [W], and the bytes per parameter of weights and of
    optimizer state at that precision."""

    peak: FloatArray
    gemm: FloatArray
    bandwidth: FloatArray
    link: FloatArray
    scale_out: FloatArray
    node: FloatArray
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


_LAYOUT_OUT = ("tp", "pp", "zero_stage", "ep", "global_batch")


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
    peak = hw.peak_flops(dt)
    link = hw.number("interconnect_bandwidth") or hw.number("pcie_bandwidth") or st.DEFAULT_LINK
    return hw, dt, TrainingHardware(
        peak=peak, gemm=(hw.gemm_flops(dt)
                         or st.CLASS_GEMM_FRACTION[hw.kind] * peak),
        bandwidth=hw.number("memory_bandwidth"), link=link,
        scale_out=hw.number("scale_out_bandwidth") or min(st.DEFAULT_SCALE_OUT, link),
        node=float(hw.devices_per_node or st.DEFAULT_NODE), capacity=hw.number("memory"), tdp=hw.number("tdp"),
        weight_bytes=mem.WEIGHT_BYTES[dt], optimizer_bytes=mem.OPTIMIZER_BYTES[dt])


QUANTISED_TRAINING = ("{dtype} training needs quantised-training software (FP8: NVIDIA Transformer Engine or "
                      "an equivalent; integer formats: research code); weights, gradients and optimizer states "
                      "keep their mixed-precision sizes")


# The layouts the default searches when tp, pp or the ZeRO stage is not given, Megatron-style:
# tensor parallelism inside a node, and ZeRO-1 (a distributed optimizer) or ZeRO-3 (FSDP), each
# with the fewest pipeline stages that fit in memory; the fastest of those is used, and when
# none fits, the one needing least memory.
_TP_C, _PP_C, _ZERO_C = [1.0, 2.0, 4.0, 8.0, 16.0], [1.0, 2.0, 4.0, 8.0, 16.0, 32.0], [1.0, 3.0]
_TP, _PP, _ZERO = np.meshgrid(_TP_C, _PP_C, _ZERO_C, indexing="ij")
CANDIDATES = (_TP.ravel(), _PP.ravel(), _ZERO.ravel())


def _fewest_stages(ok: np.ndarray) -> np.ndarray:
    """``ok`` (candidates first) kept only at the fewest pipeline stages per (tp, ZeRO stage)."""
    grid = ok.reshape((len(_TP_C), len(_PP_C), len(_ZERO_C)) + ok.shape[1:])
    first = grid & (np.cumsum(grid, axis=1) == 1)
    return first.reshape(ok.shape)


def _candidates(lay: TrainingLayout, ndim: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(tp, pp, zero) of every layout to try, on a leading axis; given degrees replace the search."""
    axis = (-1,) + (1,) * ndim
    tp, pp, zero = (c.reshape(axis) for c in CANDIDATES)
    return (np.where(np.isnan(lay.tp), tp, lay.tp), np.where(np.isnan(lay.pp), pp, lay.pp),
            np.where(np.isnan(lay.zero_stage), zero, lay.zero_stage))


def _pick(index, *arrays):
    """Each array's entry at the chosen candidate (``index``, per row)."""
    if np.ndim(index) == 0:  # one configuration: plain indexing
        i = int(index)
        return [a[i] if np.ndim(a) else a for a in arrays]
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays), (1,) + np.shape(index))
    return [np.take_along_axis(np.broadcast_to(a, shape), index[None], 0)[0] for a in arrays]


def _terms(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, hw_flops: FloatArray, tp: FloatArray,
           pp: FloatArray, zero: FloatArray) -> tuple[st.StepTerms, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The step-time terms of a layout, with its expert degree, its global batch [token] and
    the batch asked for (given, or the default); the batch is never below one micro-batch per
    data-parallel rank, and the virtual pipeline stages (where not given with pipelining: two
    layers per virtual stage, the median of the NeMo and Megatron-Bridge recipes in
    ``tests/data/training_runs.csv``)."""
    dp = np.maximum(lay.n_gpus / (tp * pp * lay.cp), 1.0)
    vpp = np.where(np.isnan(lay.vpp), np.where(pp > 1, np.maximum(np.floor(m.layers / (2.0 * pp)), 1.0), 1.0),
                   lay.vpp)
    moe = np.where(m.experts > 0, 1.0, 0.0)
    ep = np.where(np.isnan(lay.ep), np.where(moe > 0, np.minimum(m.experts, dp), 1.0), lay.ep)
    seq = np.maximum(m.seq_len, 1.0)
    floor = dp * lay.micro_batch * seq  # one micro-batch per data-parallel rank
    wanted = np.where(np.isnan(lay.global_batch), st.default_global_batch(m.active_params),
                      np.where(lay.global_batch < 0, -lay.global_batch * seq, lay.global_batch))
    batch = np.maximum(wanted, floor)
    terms = st.step_terms(hardware_flops=hw_flops, tokens=np.where(np.isnan(m.forward_flops), m.tokens, 0.0),
                          params=m.params, layers=m.layers, d_model=m.d_model, seq_len=seq, top_k=m.top_k, moe=moe,
                          experts=m.experts, expert_ffn=m.expert_ffn,
                          gemm=h.gemm, bandwidth=h.bandwidth, link=h.link, scale_out=h.scale_out, node=h.node,
                          n=lay.n_gpus, tp=tp, pp=pp, cp=lay.cp, ep=ep, vpp=vpp, micro_batch=lay.micro_batch,
                          global_batch=batch, zero_stage=zero, recompute=lay.recompute,
                          sequence_parallel=lay.sequence_parallel, optimizer_bytes=h.optimizer_bytes,
                          frozen=m.params - m.trainable,
                          dequant_bytes=np.where(m.method == 2, core.QLORA_DEQUANT_BYTES, 0.0))
    return terms, ep, batch, wanted, vpp


def step_terms_of(estimate: TrainingEstimate) -> st.StepTerms:
    """The step-time terms of an estimate at the layout it chose, for unit constants (what
    ``scripts/fit_calibration.py`` fits the constants on)."""
    case, values = estimate._case, estimate._values
    return _terms(case.model, case.hardware, case.layout, values.hardware_flops, values.tp, values.pp,
                  values.zero_stage)[0]


def evaluate(case: TrainingCase, cal: TrainingCalibration) -> TrainingValues:
    """The whole training pipeline on floats or arrays; every field broadcasts against the
    others, and a leading axis of the footprint and ``mfu_scale`` carries scenarios.

    The layout (tensor, pipeline, ZeRO stage where not given) is chosen on a leading axis of
    candidates by the step-time model (:mod:`costmodel.steptime`) before the scenarios apply.
    """
    m, h, lay = case.model, case.hardware, case.layout
    teacher = core.teacher_flops(m.teacher_active, m.teacher_attention, m.tokens)
    per_token = core.finetune_flops(m.active_params, m.tokens, m.attention, m.trainable, m.method)
    flops = np.where(np.isnan(m.forward_flops), per_token, core.sample_flops(m.forward_flops, m.samples)) + teacher
    hw_flops = core.hardware_flops(flops, m.tokens, m.attention, lay.recompute)
    w, g, o = mem.state_bytes(m.params, h.weight_bytes, h.optimizer_bytes, m.trainable, m.frozen_bytes)
    states = (w + m.teacher_params * h.weight_bytes, g, o)  # a distillation teacher's weights
    features = m.feature_elements * lay.micro_batch * h.weight_bytes  # a CNN's, data-parallel: never split

    ndim = max(np.ndim(x) for x in (m.params, m.layers, m.tokens, h.peak, lay.n_gpus, lay.tp, lay.pp,
                                    lay.zero_stage, lay.micro_batch, lay.global_batch, lay.tuning))
    tp, pp, zero = _candidates(lay, ndim)
    n, cp = lay.n_gpus, lay.cp
    heads = np.where(m.shape_derived > 0, 0.0, m.heads)
    valid = ((tp <= np.maximum(h.node, 1.0)) | ~np.isnan(lay.tp)) & (tp * pp * cp <= n) & (np.fmod(n, tp * pp * cp) == 0)
    valid &= ((heads <= 0) | (np.fmod(heads, tp) == 0)) & ((pp <= np.maximum(m.layers, 1.0)) | ~np.isnan(lay.pp))
    shape = (m.layers, m.seq_len / cp, lay.micro_batch, m.d_model, m.heads)
    split, whole = mem.activation_bytes(*shape, lay.recompute, lay.sequence_parallel, pp, m.vocab)
    cw, cg, co, ca = mem.memory_per_gpu(*states, n, tp, pp, zero, split, whole + features)
    total = cw + cg + co + ca
    fits = total <= h.capacity

    terms, ep, batch, wanted, vpp = _terms(m, h, lay, hw_flops, tp, pp, zero)
    tuned = lay.tuning == 1
    parts = st.combine_parts(terms, memory_passes=cal.memory_passes, dp_overlap=cal.dp_overlap,
                             efficiency=np.where(tuned, 1.0, cal.typical_efficiency))
    modelled = sum(parts)
    # layouts whose data-parallel degree fits the global batch asked for come first; only where
    # none does is the batch raised to one micro-batch per rank
    ok = np.broadcast_to(valid & fits, np.shape(modelled))
    roomy = ok & (batch <= wanted * (1.0 + 1e-9))
    ok = np.where(roomy.any(axis=0), roomy, ok)
    score = np.where(_fewest_stages(ok), modelled, np.inf)
    score = np.where(np.isinf(score).all(axis=0), np.where(valid, total, np.inf), score)
    i = np.argmin(score, axis=0)
    (tp, pp, zero, ep, vpp, batch, wanted, modelled, local, comm, cw, cg, co, ca) = _pick(
        i, tp, pp, zero, ep, vpp, batch, wanted, modelled, parts[0], parts[1], cw, cg, co, ca)

    auto = modelled / case.mfu_scale
    seconds = np.where(np.isnan(lay.mfu), auto, core.training_seconds(flops, n, h.peak, lay.mfu))
    full_split, full_whole = mem.activation_bytes(*shape, 2.0, lay.sequence_parallel, 1.0, m.vocab)
    one_split, one_whole = mem.activation_bytes(*shape, lay.recompute, lay.sequence_parallel, 1.0, m.vocab)
    return TrainingValues(
        flops=flops, teacher_flops=teacher, mfu=flops / (seconds * n * h.peak), seconds=seconds,
        gpu_hours=seconds * n / 3600.0, hardware_flops=hw_flops, tp=tp, pp=pp, zero_stage=zero, ep=ep, vpp=vpp,
        global_batch=batch, batch_raised=batch > wanted * (1.0 + 1e-9), compute_share=local / modelled, comm_share=comm / modelled,
        stretch_share=1.0 - (local + comm) / modelled,
        weights=cw, gradients=cg, optimizer=co, activations=ca,
        min_gpus=mem.min_devices(sum(states), h.capacity, one_split, full_split, one_whole + features,
                                 full_whole + features),
        fits=cw + cg + co + ca <= h.capacity,
        footprint=footprint_values(case.footprint, h.tdp, 1.0, n, seconds))


def estimate_training(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                      active_params: CountLike | None = None, tokens: CountLike | None = None,
                      samples: CountLike | None = None, hardware: str | HardwareProfile, n_gpus: CountLike,
                      dtype: str | None = None, mfu: float | str | None = None, seq_len: CountLike | None = None,
                      micro_batch: CountLike = 1, tp: CountLike | None = None, pp: CountLike | None = None,
                      zero_stage: int | None = None, recompute: str = "selective",
                      sequence_parallel: bool | None = None, cp: CountLike = 1, ep: CountLike | None = None,
                      vpp: CountLike | None = None, global_batch: CountLike | None = None, tuning: str = "typical",
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
        Training precision; default bf16, or fp16 where the device has no bf16. ``"fp8"``
        (where the device has it) runs the matmuls at the FP8 peak and ceiling; MFU is then
        reported against the FP8 peak.
    mfu : float, optional
        Model FLOPs utilisation in (0, 1]; replaces the step-time model.
    seq_len, micro_batch, tp, pp, zero_stage, recompute, sequence_parallel, cp, ep, vpp
        Layout: sequence length (default the model's context; 2048 for a model known only by
        ``params``, whose shape is then derived from them, see
        :func:`costmodel.memory.shape_from_params`), micro-batch size (sequences), tensor,
        pipeline and ZeRO stage (each ``None``: the fastest layout that fits, searched over
        tensor parallelism inside a node, pipeline stages and ZeRO-1 or ZeRO-3; the choice is
        in ``assumptions``), activation recomputation (``"none" | "selective" | "full"``;
        default selective, as Megatron-LM runs do), sequence parallelism (``None``: on
        wherever ``tp > 1``; ``False`` leaves layer norms and dropouts whole on every
        tensor-parallel device), context-parallel degree, expert-parallel degree of a
        mixture of experts (``None``: as many as the experts and the data-parallel degree
        allow) and virtual pipeline stages (interleaving). Give an explicit shape as a
        :class:`ModelSpec` (``ModelSpec.from_mapping``) with ``layers``, ``d_model`` and
        ``heads``.
    global_batch : count, optional
        Tokens per optimizer step (``"4M"``, ``"4M token"``) or sequences (``"1024 sequence"``);
        default GPT-3's batch for the model's size (:func:`costmodel.steptime.default_global_batch`),
        at least one micro-batch per data-parallel rank. Sets the pipeline bubble and how
        often gradients are exchanged.
    tuning : {"typical", "tuned"}
        The engineering tier: ``"typical"`` (default) for a team's pre-training run as most
        are published, ``"tuned"`` for a benchmark-class configuration (Megatron-LM, NeMo,
        MaxText or torchtitan performance tables). See :mod:`costmodel.steptime`.
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
                            recompute=recompute, sequence_parallel=sequence_parallel, cp=cp, ep=ep, vpp=vpp,
                            global_batch=global_batch, tuning=tuning, heads=layout_heads(m))
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
    if np.any(values.batch_raised):
        warnings += (f"the global batch is below one micro-batch per data-parallel rank on every layout that fits: "
                     f"raised to {float(values.global_batch):.4g} tokens (fewer devices, or more tensor or pipeline "
                     "parallelism, keep it)",)
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
