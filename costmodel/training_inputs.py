"""Turning the user's description of a training run into canonical floats."""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import training as core
from .errors import InputError
from .models import ModelSpec, get_model
from .units import parse_count

__all__ = ["TrainingInputs", "resolve_inputs", "resolve_layout", "model_numbers", "hardware_numbers"]


@dataclass(frozen=True, slots=True)
class TrainingInputs:
    """Inputs in canonical floats, after parsing and validation."""

    params: float
    active_params: float
    tokens: float | None
    flops: float
    attention: float  # n_layer n_ctx d_attn, per token
    layers: float
    d_model: float
    heads: float
    seq_len: float
    trainable: float = math.nan  # parameters with gradients and optimizer state (NaN: all)
    frozen_bytes: float = math.nan  # bytes per frozen parameter (NaN: the training dtype's)
    method: str = "full"
    teacher_flops: float = 0.0
    teacher_params: float = 0.0


def _shape(spec: ModelSpec | None, seq_len):
    if spec is None or not spec.is_transformer:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    if spec.kind == "vit":
        default_seq = (spec.image_size // spec.patch_size) ** 2 + 1
    else:
        default_seq = spec.train_context or spec.context or 2048
    s = default_seq if seq_len is None else parse_count(seq_len, "seq_len")
    d_attn = spec.attention_dim
    return float(spec.layers * s * d_attn), float(spec.layers), float(spec.d_model), float(spec.heads), float(s)


def resolve_inputs(model, params, active_params, tokens, samples, seq_len) -> tuple[ModelSpec | None, TrainingInputs]:
    """Turn the user's model description into canonical floats (shared with sweeps)."""
    spec = get_model(model) if model is not None else None
    if spec is None and params is None:
        raise InputError("params: give a catalogued model (e.g. 'gpt3-175b') or params=, e.g. params='7B'")
    n = parse_count(params, "params") if params is not None else float(spec.params.magnitude)
    if active_params is not None:
        n_active = parse_count(active_params, "active_params")
    elif params is not None or spec is None:
        n_active = n
    else:
        n_active = float(spec.active_params.magnitude)
    if n_active > n:
        raise InputError(f"active_params: must not exceed params ({n_active:.4g} > {n:.4g})")
    attention, layers, d_model, heads, s = _shape(spec if params is None else None, seq_len)
    per_sample = spec is not None and spec.forward_flops is not None and spec.kind in ("cnn", "vit", "linear")
    if per_sample and tokens is None:
        if samples is None and spec.training_samples is None:
            raise InputError(f"samples: {spec.id} has no reported training samples; give samples=")
        count = parse_count(samples, "samples") if samples is not None else float(spec.training_samples.magnitude)
        fwd = float(spec.forward_flops.magnitude)
        if params is not None:  # a resized model: scale the per-sample FLOPs with parameters
            fwd *= n_active / float(spec.active_params.magnitude)
        return spec, TrainingInputs(n, n_active, None, 3.0 * fwd * count, 0.0, layers, d_model, heads, s)
    if samples is not None:
        raise InputError("samples: only image and tabular models (cnn, vit, linear) count samples; "
                         "give tokens= for language models")
    if tokens is None:
        if spec is None or spec.training_tokens is None:
            raise InputError("tokens: required when the model has no reported training tokens, e.g. tokens='300B'")
        d = float(spec.training_tokens.magnitude)
    else:
        d = parse_count(tokens, "tokens")
    flops = core.model_flops(n_active, d, attention)
    return spec, TrainingInputs(n, n_active, d, flops, attention, layers, d_model, heads, s)


def _whole(value, name: str, *, limit: float = 1e7) -> int:
    number = parse_count(value, name)
    if number != math.floor(number) or number > limit:
        raise InputError(f"{name}: expected a whole number from 1 to {limit:.0e}, got {value!r}")
    return int(number)


def _fraction(value, name: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a number in (0, 1], got {value!r}") from None
    if not (0.0 < x <= 1.0):
        raise InputError(f"{name}: expected a number in (0, 1], got {value!r}")
    return x


def resolve_layout(n_gpus, mfu, micro_batch, tp, pp, zero_stage, recompute) -> dict:
    """Parallel layout and MFU options as floats (``NaN`` = choose automatically)."""
    n = _whole(n_gpus, "n_gpus")
    if recompute not in core.RECOMPUTE:
        raise InputError(f"recompute: expected one of {', '.join(core.RECOMPUTE)}, got {recompute!r}")
    if zero_stage not in (0, 1, 2, 3):
        raise InputError(f"zero_stage: expected 0, 1, 2 or 3, got {zero_stage!r}")
    tp_in = math.nan if tp is None else float(_whole(tp, "tp"))
    pp_in = float(_whole(pp, "pp"))
    if (1 if tp is None else tp_in) * pp_in > n:
        raise InputError(f"tp x pp: the parallel degree {(1 if tp is None else tp_in) * pp_in:.0f} exceeds n_gpus={n}")
    return {"n_gpus": float(n), "mfu": math.nan if mfu is None else _fraction(mfu, "mfu"),
            "micro_batch": float(_whole(micro_batch, "micro_batch")), "tp": tp_in, "pp": pp_in,
            "zero_stage": float(zero_stage), "recompute": float(core.RECOMPUTE.index(recompute))}


def model_numbers(x: TrainingInputs) -> dict:
    trainable = x.params if math.isnan(x.trainable) else x.trainable
    return {"params": x.params, "active_params": x.active_params, "tokens": 0.0 if x.tokens is None else x.tokens,
            "flops": x.flops, "attention": x.attention, "layers": x.layers, "d_model": x.d_model,
            "heads": x.heads, "seq_len": x.seq_len, "trainable": trainable, "frozen_bytes": x.frozen_bytes,
            "teacher_params": x.teacher_params}


def hardware_numbers(hw, dtype: str) -> dict:
    return {"peak": hw.peak_flops(dtype), "bandwidth": hw.number("memory_bandwidth"),
            "capacity": hw.number("memory"), "tdp": hw.number("tdp"),
            "weight_bytes": core.WEIGHT_BYTES[dtype], "optimizer_bytes": core.OPTIMIZER_BYTES[dtype]}
