"""Training compute, memory and time: pure vectorised functions on canonical floats.

Every function here accepts Python floats or numpy arrays (broadcasting), returns the same,
and never builds a Quantity; :mod:`costmodel.training_estimate` resolves the inputs, runs
these and wraps the results.

Fine-tuning and distillation change which parameters train and so the FLOPs:

- ``full``: every weight trains: ``6 (N + attn) D`` FLOPs [1].
- ``lora`` / ``qlora``: the base weights are frozen. The forward pass and the backward pass
  through the activations still run over every layer (``2 + 2`` per parameter and token), but
  frozen weights need no weight gradients (the third ``2``) and no optimizer state [5]; the
  adapters train fully: ``4 (N + attn) D + 6 T D`` for ``T`` adapter parameters. QLoRA stores
  the frozen base in 4-bit NormalFloat with double quantisation, about 4.127 bits per
  parameter [6].
- distillation: the teacher runs a forward pass on every training token,
  ``2 (N_t + attn_t) D`` FLOPs, and its weights sit in memory beside the student's [7].

References
----------
.. [1] Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Table 1.
.. [2] Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
   Models", Sec. 4 (activation memory per layer: s b h (34 + 5 a s / h) bytes).
.. [3] Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
   Parameter Models", Sec. 3 (16 bytes per parameter for mixed-precision Adam).
.. [4] Chowdhery et al. 2022, "PaLM", Appendix B (model FLOPs utilisation).
.. [5] Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", Sec. 4 and 7.1.
.. [6] Dettmers et al. 2023, "QLoRA: Efficient Finetuning of Quantized LLMs", Sec. 3.
.. [7] Hinton et al. 2015, "Distilling the Knowledge in a Neural Network".
"""

from __future__ import annotations

import numpy as np

__all__ = ["model_flops", "finetune_flops", "teacher_flops", "sample_flops", "lora_parameters",
           "hardware_flops", "training_seconds", "state_bytes", "activation_bytes", "memory_per_gpu",
           "plan_memory", "min_devices", "RECOMPUTE", "METHODS", "QLORA_BYTES_PER_PARAM"]

RECOMPUTE = ("none", "selective", "full")  # codes 0, 1, 2 in the array functions
METHODS = ("full", "lora", "qlora")  # codes 0, 1, 2 in the array functions
QLORA_BYTES_PER_PARAM = 4.127 / 8.0  # NF4 + double quantisation [6]

# Bytes per parameter of mixed-precision Adam [3]: 16/8-bit weights and gradients, and fp32
# master weights with two moments. Pure fp32 training keeps no separate master copy.
WEIGHT_BYTES = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 2.0, "fp4": 2.0, "int8": 2.0, "int4": 2.0}
OPTIMIZER_BYTES = {"fp32": 8.0, "tf32": 8.0, "bf16": 12.0, "fp16": 12.0, "fp8": 12.0, "fp4": 12.0, "int8": 12.0,
                   "int4": 12.0}
TP_CHOICES = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])


def model_flops(active_params, tokens, attention_per_token=0.0):
    """Model FLOPs of training: 6 N D plus the attention term [1].

    Kaplan et al. count a forward pass as ``2 N + 2 n_layer n_ctx d_attn`` FLOPs per token
    and the backward pass as twice the forward, so training costs
    ``6 D (N + n_layer n_ctx d_attn)``. ``attention_per_token`` is ``n_layer n_ctx d_attn``
    (0 when the shape is unknown).

    >>> model_flops(175e9, 300e9)
    3.15e+23
    """
    return 6.0 * tokens * (active_params + attention_per_token)


def finetune_flops(active_params, tokens, attention_per_token, trainable, method):
    """Model FLOPs of training by method code (0 full, 1-2 LoRA/QLoRA) [1, 5].

    >>> float(finetune_flops(7e9, 1e9, 0.0, 4e6, 1))
    2.8024e+19
    """
    peft = tokens * (4.0 * (active_params + attention_per_token) + 6.0 * trainable)
    return np.where(method > 0, peft, model_flops(active_params, tokens, attention_per_token))


def teacher_flops(teacher_active, teacher_attention, tokens):
    """A distillation teacher's forward passes over the training tokens [7] (0 without one)."""
    return 2.0 * (teacher_active + teacher_attention) * tokens


def sample_flops(forward_flops_per_sample, samples):
    """Training FLOPs of image and tabular models: forward + backward (twice the forward) per
    sample seen."""
    return 3.0 * forward_flops_per_sample * samples


def lora_parameters(layers, d_model, heads, kv_heads, head_dim, rank):
    """Adapter parameters of rank ``rank`` on the query and value projections of every layer,
    the configuration of Hu et al. 2021 (Sec. 7.1) [5]: ``r (d + d_q) + r (d + d_kv)`` per layer.

    >>> lora_parameters(32, 4096, 32, 32, 128, 8)
    4194304.0
    """
    d_q, d_kv = heads * head_dim, kv_heads * head_dim
    return float(layers * rank * (2 * d_model + d_q + d_kv))


def hardware_flops(flops, tokens, attention_per_token, recompute):
    """FLOPs the devices execute, including recomputation (``recompute`` code 0, 1, 2).

    Full recomputation (2) repeats the forward pass, a third of the model FLOPs; selective
    recomputation (1) repeats only the attention scores [2], ``2 D n_layer n_ctx d_attn``.
    """
    extra = np.where(recompute == 2, flops / 3.0, np.where(recompute == 1, 2.0 * tokens * attention_per_token, 0.0))
    return flops + extra


def training_seconds(flops, n_gpus, peak_flops, mfu):
    """Wall-clock seconds: model FLOPs / (devices x dense peak x MFU) [4]."""
    return flops / (n_gpus * peak_flops * mfu)


def state_bytes(params, weight_bytes=2.0, optimizer_bytes=12.0, trainable=None, frozen_bytes=None):
    """Unsharded (weights, gradients, optimizer states) bytes of Adam training [3].

    Only ``trainable`` parameters (default: all) carry gradients and optimizer states; the
    others are frozen and stored at ``frozen_bytes`` per parameter (default ``weight_bytes``;
    4-bit for QLoRA).
    """
    trainable = params if trainable is None else trainable
    frozen = params - trainable
    frozen_bytes = weight_bytes if frozen_bytes is None else np.where(np.isnan(frozen_bytes), weight_bytes, frozen_bytes)
    return trainable * weight_bytes + frozen * frozen_bytes, trainable * weight_bytes, trainable * optimizer_bytes


def activation_bytes(layers, seq_len, micro_batch, d_model, heads, recompute):
    """Activation bytes of one micro-batch at tensor-parallel degree 1 [2].

    Per layer: ``s b h (34 + 5 a s / h)`` without recomputation (code 0), ``34 s b h`` with
    selective recomputation (1), ``2 s b h`` (the layer input) with full recomputation (2).
    With 1F1B pipelining the first stage holds ``layers`` layers' worth whatever the
    pipeline degree [2, Sec. 4.2.3]; tensor and sequence parallelism divide by ``tp``.
    """
    sbh = layers * seq_len * micro_batch * d_model
    factor = np.where(recompute == 2, 2.0, np.where(recompute == 1, 34.0,
                                                     34.0 + 5.0 * heads * seq_len / np.maximum(d_model, 1.0)))
    return sbh * factor


def memory_per_gpu(weights, gradients, optimizer, n_gpus, tp, pp, zero_stage, activations_tp1):
    """Per-device (weights, gradients, optimizer, activations) bytes from unsharded totals.

    Tensor x pipeline parallelism divides every state; ZeRO stage 1/2/3 [3] further shards
    the optimizer / gradients / weights over the data-parallel degree ``n / (tp pp)``.
    """
    mp = tp * pp
    sharded = np.maximum(n_gpus, mp)  # tp x pp x data-parallel degree
    o = optimizer / np.where(zero_stage >= 1, sharded, mp)
    g = gradients / np.where(zero_stage >= 2, sharded, mp)
    w = weights / np.where(zero_stage >= 3, sharded, mp)
    return w, g, o, activations_tp1 / tp


def plan_memory(weights, gradients, optimizer, n_gpus, capacity, activations_tp1, tp, pp, zero_stage):
    """Per-device memory, choosing tensor parallelism where ``tp`` is NaN.

    The smallest power of two (up to 64 and ``n_gpus / pp``) whose layout fits in
    ``capacity`` is used, or the largest allowed when none fits. Returns ``(tp, weights,
    gradients, optimizer, activations)`` in bytes per device, broadcast to the inputs.
    """
    ndim = max(np.ndim(weights), np.ndim(n_gpus), np.ndim(capacity), np.ndim(activations_tp1), np.ndim(tp),
               np.ndim(pp), np.ndim(zero_stage))
    if ndim == 0:  # one configuration: evaluate the candidates and take the chosen one's figures
        cand = TP_CHOICES if np.isnan(tp) else np.array([tp])
        w, g, o, a = memory_per_gpu(weights, gradients, optimizer, n_gpus, cand, pp, zero_stage, activations_tp1)
        allowed = cand <= max(n_gpus / pp, 1.0)
        fits = allowed & (w + g + o + a <= capacity)
        i = int(fits.argmax()) if fits.any() else max(int(allowed.sum()) - 1, 0)
        return cand[i], w[i], g[i], o[i], a[i]
    cand = TP_CHOICES.reshape((-1,) + (1,) * ndim)
    # states split by tensor x pipeline only, and states also sharded by ZeRO over data parallelism
    by_mp = (np.where(zero_stage >= 3, 0.0, weights) + np.where(zero_stage >= 2, 0.0, gradients)
             + np.where(zero_stage >= 1, 0.0, optimizer))
    by_all = weights + gradients + optimizer - by_mp
    mp = cand * pp
    total = by_mp / mp + by_all / np.maximum(n_gpus, mp) + activations_tp1 / cand
    allowed = cand <= np.maximum(n_gpus / pp, 1.0)
    fits = allowed & (total <= capacity)
    pick = np.where(fits.any(axis=0), fits.argmax(axis=0), np.maximum(allowed.sum(axis=0) - 1, 0))
    chosen = np.where(np.isnan(tp), TP_CHOICES[pick], tp)
    return (chosen, *memory_per_gpu(weights, gradients, optimizer, n_gpus, chosen, pp, zero_stage, activations_tp1))


def min_devices(states, capacity, activations_tp1, activations_full_tp1):
    """Fewest devices on which training fits with model states fully sharded.

    States are spread over every device, as ZeRO-3/FSDP or an equivalent tensor x pipeline
    split does; each device also holds one micro-batch's activations at tensor-parallel
    degree ``tp`` (powers of two up to 1024, never more than the device count). If no layout
    fits, full recomputation is assumed; NaN where even that does not fit (one micro-batch's
    activations exceed a device at every degree). ``states`` is the unsharded weights +
    gradients + optimizer bytes.
    """
    need = _min_devices(states, capacity, activations_tp1)
    if not np.all(np.isfinite(need)):
        need = np.where(np.isfinite(need), need, _min_devices(states, capacity, activations_full_tp1))
    return np.where(np.isfinite(need), need, np.nan)


def _min_devices(states, capacity, activations_tp1):
    tps = _TPS.reshape((-1,) + (1,) * max(np.ndim(states), np.ndim(capacity), np.ndim(activations_tp1)))
    room = capacity - activations_tp1 / tps
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(room > 0, np.maximum(np.ceil(states / room), tps), np.inf).min(axis=0)


_TPS = 2.0 ** np.arange(11)
