"""Fine-tuning and distillation: which parameters train, and the FLOPs that follow.

- ``full``: every weight trains: ``6 (N + attn) D`` FLOPs (Kaplan et al. 2020).
- ``lora`` / ``qlora``: the base weights are frozen. The forward pass and the backward pass
  through the activations still run over every layer (``2 + 2`` per parameter and token), but
  frozen weights need no weight gradients (the third ``2``) and no optimizer state (Hu et al.
  2021, "LoRA", Sec. 4); the adapters train fully. FLOPs: ``4 (N + attn) D + 6 T D`` for
  ``T`` adapter parameters. QLoRA stores the frozen base in 4-bit NormalFloat with double
  quantisation, about 4.127 bits per parameter (Dettmers et al. 2023, "QLoRA", Sec. 3).
- distillation (``teacher=``): the teacher runs a forward pass on every training token,
  ``2 (N_t + attn_t) D`` FLOPs, and its weights sit in memory beside the student's
  (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network").
"""

from __future__ import annotations

import dataclasses
import math

from .errors import InputError
from .units import parse_count

__all__ = ["METHODS", "apply_method", "lora_parameters", "QLORA_BYTES_PER_PARAM"]

METHODS = ("full", "lora", "qlora")
QLORA_BYTES_PER_PARAM = 4.127 / 8.0  # NF4 + double quantisation (Dettmers et al. 2023)


def lora_parameters(spec, rank: int) -> float:
    """Adapter parameters of rank ``rank`` on the query and value projections of every layer,
    the configuration of Hu et al. 2021 (Sec. 7.1): ``r (d + d_q)`` + ``r (d + d_kv)`` per layer."""
    head_dim = spec.head_dim or spec.d_model // spec.heads
    d_q = spec.heads * head_dim
    d_kv = (spec.kv_heads or spec.heads) * head_dim
    return float(spec.layers * rank * (2 * spec.d_model + d_q + d_kv))


def apply_method(spec, x, *, method: str, trainable_params, lora_rank, teacher, seq_len):
    """Adjust resolved training inputs for the fine-tuning method and an optional teacher."""
    if method not in METHODS:
        raise InputError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if method != "full" and x.tokens is None:
        raise InputError("method: parameter-efficient fine-tuning needs a token count (tokens=)")
    trainable = x.params
    if method != "full":
        if trainable_params is not None:
            trainable = parse_count(trainable_params, "trainable_params")
        elif spec is not None and spec.is_transformer:
            trainable = lora_parameters(spec, lora_rank)
        else:
            raise InputError("trainable_params: required for LoRA on a model without a catalogued shape, "
                             "e.g. trainable_params='20M'")
        if trainable > x.params:
            raise InputError(f"trainable_params: must not exceed params ({trainable:.4g} > {x.params:.4g})")
        flops = x.tokens * (4.0 * (x.active_params + x.attention) + 6.0 * trainable)
        x = dataclasses.replace(x, flops=flops, trainable=trainable, method=method,
                                frozen_bytes=QLORA_BYTES_PER_PARAM if method == "qlora" else math.nan)
    else:
        x = dataclasses.replace(x, trainable=trainable, method=method)
    if teacher is None:
        return x
    return _with_teacher(x, teacher, seq_len)


def _with_teacher(x, teacher, seq_len):
    from .models import get_model

    if x.tokens is None:
        raise InputError("teacher: distillation needs a token count (tokens=)")
    if isinstance(teacher, str) and not teacher.strip()[:1].isdigit():
        t = get_model(teacher)
        n_t, act_t = float(t.params.magnitude), float(t.active_params.magnitude)
        attn_t = float(t.layers * x.seq_len * t.attention_dim) if t.is_transformer and x.seq_len else 0.0
    else:
        n_t = act_t = parse_count(teacher, "teacher")
        attn_t = 0.0
    teacher_flops = 2.0 * (act_t + attn_t) * x.tokens
    # the frozen teacher's weights are held in memory beside the student's
    return dataclasses.replace(x, flops=x.flops + teacher_flops, teacher_flops=teacher_flops, teacher_params=n_t)
