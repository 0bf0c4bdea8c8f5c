"""``estimate_training``: resolve the inputs once into a typed record, run the pipeline, wrap.

The same three steps serve a sweep (:mod:`costmodel.sweep`): it resolves each distinct value
with the resolvers below, lays the records out per row and runs :func:`evaluate` once over
arrays.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from . import memory as mem
from . import training as core
from .calibration import Calibration, TrainingCalibration, default_mfu, mfu_scales, resolve_calibration
from .energy import FootprintInputs, FootprintValues, footprint_values, resolve_footprint
from .errors import InputError, ProfileError
from .hardware import HardwareProfile, ProfilePath, get_hardware
from .layout import TrainingLayout, resolve_layout
from .models import ModelSpec, TransformerShape, get_model, resolve_counts
from .results.base import check_finite
from .results.training import CULPRITS, MAY_BE_MISSING, OUTPUTS, TrainingEstimate
from .units import BoolArray, CountLike, FloatArray, QuantityLike, parse_count, parse_whole

if TYPE_CHECKING:
    from .regions import Region

__all__ = ["TrainingModel", "TrainingHardware", "TrainingCase", "TrainingValues", "resolve_model", "resolve_hardware",
           "evaluate", "estimate_training", "scenarios", "layout_heads"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingModel:
    """The model and its data in canonical floats (or per-row arrays). ``forward_flops`` is the
    forward pass per sample of image and tabular models (NaN for models counted in tokens);
    ``method`` is a code of :data:`costmodel.training.METHODS`; ``feature_elements`` are a
    CNN's feature-map elements per sample; ``shape_derived`` is 1 where the transformer shape
    comes from the parameter count (:func:`costmodel.memory.shape_from_params`)."""

    params: FloatArray
    active_params: FloatArray
    trainable: FloatArray
    frozen_bytes: FloatArray = math.nan  # bytes per frozen parameter (NaN: the training dtype's)
    attention: FloatArray = 0.0  # n_layer n_ctx d_attn, per token
    layers: FloatArray = 0.0
    d_model: FloatArray = 0.0
    heads: FloatArray = 0.0
    seq_len: FloatArray = 0.0
    vocab: FloatArray = 0.0
    feature_elements: FloatArray = 0.0
    shape_derived: FloatArray = 0.0
    method: FloatArray = 0.0
    tokens: FloatArray = 0.0
    samples: FloatArray = 0.0
    forward_flops: FloatArray = math.nan
    teacher_params: FloatArray = 0.0
    teacher_active: FloatArray = 0.0
    teacher_attention: FloatArray = 0.0


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


SEQ_LEN_LIMIT = 1e8  # tokens per training sequence: far beyond any context window


def _shape(shape: TransformerShape, seq_len: float | None, vocab: int | None) -> dict[str, float]:
    s = shape.seq_len if seq_len is None else seq_len
    return {"attention": float(shape.layers * s * shape.attention_dim), "layers": float(shape.layers),
            "d_model": float(shape.d_model), "heads": float(shape.heads), "seq_len": float(s),
            "vocab": float(vocab or 0)}


def _activation_shape(spec: ModelSpec | None, n_active: float, seq_len: float | None,
                      fields: dict[str, float]) -> dict[str, float]:
    """What activations are counted from where no catalogued transformer shape applies: a
    CNN's stages, or for a language model known by its parameters a shape derived from them
    (activations only: the FLOPs stay 6 N D, without an attention term)."""
    if spec is not None and spec.kind == "cnn" and spec.bottleneck_blocks and spec.bottleneck_widths:
        if spec.image_size is None or spec.stem_channels is None:
            raise ProfileError(f"model {spec.id!r}: bottleneck stages need image_size and stem_channels")
        return {"feature_elements": mem.bottleneck_feature_elements(
            spec.image_size, spec.stem_channels, spec.bottleneck_blocks, spec.bottleneck_widths, spec.num_classes or 0)}
    if "tokens" not in fields:
        return {}
    layers, d_model, heads = mem.shape_from_params(n_active)
    return {"layers": layers, "d_model": d_model, "heads": heads, "shape_derived": 1.0,
            "seq_len": mem.DERIVED_SEQ_LEN if seq_len is None else seq_len}


def _teacher(teacher: CountLike, seq_len: float) -> dict[str, float]:
    """A distillation teacher: a catalog id or a parameter count."""
    if isinstance(teacher, str) and not teacher.strip()[:1].isdigit():
        t = get_model(teacher, argument="teacher")
        shape = t.shape
        attn = float(shape.layers * seq_len * shape.attention_dim) if shape is not None and seq_len else 0.0
        return {"teacher_params": float(t.params.magnitude), "teacher_active": float(t.active_params.magnitude),
                "teacher_attention": attn}
    n = parse_count(teacher, "teacher")
    return {"teacher_params": n, "teacher_active": n, "teacher_attention": 0.0}


def _workload(spec: ModelSpec | None, n_active: float, params: CountLike | None, tokens: CountLike | None,
              samples: CountLike | None) -> dict[str, float]:
    """Tokens for language models; samples (and the forward FLOPs per sample) otherwise."""
    if tokens is not None and samples is not None:
        raise InputError("give {samples=} or {tokens=}, not both: a run is counted in one of them", argument="samples")
    if spec is not None and spec.forward_flops is not None and spec.kind in ("cnn", "vit", "linear"):
        if tokens is not None:
            raise InputError(f"{spec.id} is a {spec.kind} model, trained on samples (images or rows), not tokens; "
                             "give {samples=}", argument="tokens")
        if samples is not None:
            count = parse_count(samples, "samples")
        elif spec.training_samples is not None:
            count = float(spec.training_samples.magnitude)
        else:
            raise InputError(f"{spec.id} has no reported training samples; give {{samples=}}", argument="samples")
        fwd = float(spec.forward_flops.magnitude)
        if params is not None:  # a resized model: scale the per-sample FLOPs with parameters
            fwd *= n_active / float(spec.active_params.magnitude)
        return {"samples": count, "forward_flops": fwd}
    if samples is not None:
        raise InputError("only image and tabular models (cnn, vit, linear) count samples; give {tokens=} for "
                         "language models", argument="samples")
    if tokens is None:
        if spec is None or spec.training_tokens is None:
            raise InputError("required when the model has no reported training tokens, such as 300B",
                             argument="tokens")
        return {"tokens": float(spec.training_tokens.magnitude)}
    return {"tokens": parse_count(tokens, "tokens")}


def _method(spec: ModelSpec | None, n: float, fields: dict[str, float], method: str, trainable_params: CountLike | None,
            lora_rank: CountLike) -> dict[str, float]:
    if method not in core.METHODS:
        raise InputError(f"expected one of {', '.join(core.METHODS)}, got {method!r}", argument="method")
    if method == "full":
        return {"trainable": n, "method": 0.0}
    if not fields.get("tokens"):
        raise InputError("parameter-efficient fine-tuning needs a token count ({tokens=})", argument="method")
    if trainable_params is not None:
        trainable = parse_count(trainable_params, "trainable_params")
    elif spec is not None and (shape := spec.shape) is not None:
        rank = parse_whole(lora_rank, "lora_rank", limit=1e5)
        trainable = core.lora_parameters(shape.layers, shape.d_model, shape.heads, shape.kv_heads, shape.head_dim, rank)
    else:
        raise InputError("required for LoRA on a model without a catalogued shape, such as 20M",
                         argument="trainable_params")
    if trainable > n:
        raise InputError(f"must not exceed {{params}} ({trainable:.4g} > {n:.4g})", argument="trainable_params")
    return {"trainable": trainable, "method": float(core.METHODS.index(method)),
            "frozen_bytes": core.QLORA_BYTES_PER_PARAM if method == "qlora" else math.nan}


def resolve_model(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                  active_params: CountLike | None = None, tokens: CountLike | None = None,
                  samples: CountLike | None = None, seq_len: CountLike | None = None, method: str = "full",
                  trainable_params: CountLike | None = None, lora_rank: CountLike = 8,
                  teacher: CountLike | None = None) -> tuple[ModelSpec | None, TrainingModel, tuple[str, ...]]:
    """The user's description of the model and its training data, as canonical floats, and the
    warnings it gives (a catalog entry resized by ``params``, a sequence beyond the context)."""
    spec = get_model(model) if model is not None else None
    n, active = resolve_counts(spec, params, active_params)
    seq = None if seq_len is None else float(parse_whole(seq_len, "seq_len", limit=SEQ_LEN_LIMIT))
    fields: dict[str, float] = {"params": n, "active_params": active}
    warnings = []
    if spec is not None and params is not None:
        warnings.append(f"params={n:.4g} replaces {spec.id}'s {spec.params.magnitude:.4g} parameters: the estimate "
                        f"describes a resized model, and {spec.id}'s shape (activations, attention FLOPs) is not used")
    elif spec is not None and (shape := spec.shape) is not None:
        fields.update(_shape(shape, seq, spec.vocab))
        if seq is not None and spec.context and seq > spec.context:
            warnings.append(f"seq_len={seq:.0f} exceeds {spec.id}'s context of {spec.context} tokens")
    fields.update(_workload(spec, active, params, tokens, samples))
    if "layers" not in fields:  # no catalogued shape, or a resized model
        fields.update(_activation_shape(spec if params is None else None, active, seq, fields))
    fields.update(_method(spec, n, fields, method, trainable_params, lora_rank))
    if teacher is not None:
        if not fields.get("tokens"):
            raise InputError("distillation needs a token count ({tokens=})", argument="teacher")
        fields.update(_teacher(teacher, fields.get("seq_len", 0.0)))
    return spec, TrainingModel(**fields), tuple(warnings)


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


def layout_heads(m: TrainingModel) -> FloatArray:
    """The attention heads a tensor-parallel degree must divide (0: no constraint, as for a
    shape derived from the parameter count, whose heads are a guess)."""
    return np.where(m.shape_derived > 0, 0.0, m.heads)


def _typical(f: FootprintInputs) -> FootprintInputs:
    return FootprintInputs(**{name: float(getattr(f, name)[0]) for name in FootprintInputs.__slots__})


def scenarios(case: TrainingCase, cal: Calibration) -> TrainingValues:
    """The pipeline over the (typical, optimistic, pessimistic) scenarios of a scalar case."""
    return evaluate(replace(case, mfu_scale=mfu_scales(cal.training)), cal.training)
