"""What a training run trains: the model's numbers and its data, resolved once.

``resolve_model`` turns a catalog entry (or a parameter count, or a config file's
:class:`~costmodel.models.ModelSpec`), the tokens or samples, the fine-tuning method and a
distillation teacher into a :class:`TrainingModel` of canonical floats; the single estimate and
the sweep both call it (:mod:`costmodel.training_estimate`, :mod:`costmodel.sweep`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import memory as mem
from . import training as core
from .elementwise import where
from .errors import InputError, ProfileError
from .models import ModelSpec, TransformerShape, get_model, resolve_counts
from .units import CountLike, FloatArray, parse_count, parse_whole

__all__ = ["TrainingModel", "resolve_model", "layout_heads", "SEQ_LEN_LIMIT"]


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
    experts: FloatArray = 0.0  # routed experts of a mixture of experts (0: dense or not known)
    top_k: FloatArray = 0.0  # routed experts per token
    expert_ffn: FloatArray = 0.0  # an expert's feed-forward width (0: not known)
    expert_groups: FloatArray = 0.0  # group-limited routing: groups of the routed experts (0: not limited)
    group_top_k: FloatArray = 0.0  # groups each token chooses its experts from


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
        if spec.experts and spec.experts_per_token:
            fields.update(experts=float(spec.experts), top_k=float(spec.experts_per_token),
                          expert_ffn=float(spec.expert_ffn_dim or spec.ffn_dim or 0))
            if spec.expert_groups and spec.expert_groups_per_token:
                fields.update(expert_groups=float(spec.expert_groups), group_top_k=float(spec.expert_groups_per_token))
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


def layout_heads(m: TrainingModel) -> FloatArray:
    """The attention heads a tensor-parallel degree must divide (0: no constraint, as for a
    shape derived from the parameter count, whose heads are a guess)."""
    return where(m.shape_derived > 0, 0.0, m.heads)
