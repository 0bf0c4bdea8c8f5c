"""Training compute, memory and time: pure vectorised functions on canonical floats.

Every function here accepts Python floats or numpy arrays (broadcasting), returns the same,
and never builds a Quantity; :mod:`costmodel.estimate` wraps the results.

References
----------
.. [1] Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Table 1.
.. [2] Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
   Models", Sec. 4 (activation memory per layer: s b h (34 + 5 a s / h) bytes).
.. [3] Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
   Parameter Models", Sec. 3 (16 bytes per parameter for mixed-precision Adam).
.. [4] Chowdhery et al. 2022, "PaLM", Appendix B (model FLOPs utilisation).
"""

from __future__ import annotations

import numpy as np

__all__ = ["model_flops", "hardware_flops", "training_seconds", "state_bytes",
           "activation_bytes", "memory_per_gpu", "RECOMPUTE"]

RECOMPUTE = ("none", "selective", "full")

# Bytes per parameter of mixed-precision Adam [3]: 16/8-bit weights and gradients, and fp32
# master weights with two moments. Pure fp32 training keeps no separate master copy.
_WEIGHT_BYTES = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 2.0,
                 "int8": 2.0, "int4": 2.0}
_GRAD_BYTES = _WEIGHT_BYTES
_OPTIMIZER_BYTES = {"fp32": 8.0, "tf32": 8.0}  # others: 12 (master + m + v)


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


def hardware_flops(active_params, tokens, attention_per_token=0.0, recompute="selective"):
    """FLOPs the devices execute, including recomputation.

    Full recomputation repeats the forward pass (``+2 D (N + attn)``); selective recomputation
    repeats only the attention score computations [2] (``+2 D attn``).
    """
    forward = 2.0 * tokens * (active_params + attention_per_token)
    if recompute == "full":
        return 4.0 * forward
    if recompute == "selective":
        return 3.0 * forward + 2.0 * tokens * attention_per_token
    return 3.0 * forward


def training_seconds(flops, n_gpus, peak_flops, mfu):
    """Wall-clock seconds: model FLOPs / (devices x dense peak x MFU) [4]."""
    return flops / (n_gpus * peak_flops * mfu)


def state_bytes(params, dtype="bf16"):
    """Unsharded (weights, gradients, optimizer states) bytes of Adam training [3]."""
    w = params * _WEIGHT_BYTES[dtype]
    g = params * _GRAD_BYTES[dtype]
    o = params * _OPTIMIZER_BYTES.get(dtype, 12.0)
    return w, g, o


def activation_bytes(layers, seq_len, micro_batch, d_model, heads, tp=1, recompute="selective"):
    """Activation bytes held per device for one micro-batch [2].

    Per layer: ``s b h (34 + 5 a s / h)`` without recomputation, ``34 s b h`` with selective
    recomputation, ``2 s b h`` (the layer input) with full recomputation; tensor and sequence
    parallelism divide by ``tp``. With 1F1B pipelining the first stage holds ``layers`` layers'
    worth whatever the pipeline degree [2, Sec. 4.2.3].
    """
    sbh = seq_len * micro_batch * d_model
    if recompute == "full":
        per_layer = 2.0 * sbh
    elif recompute == "selective":
        per_layer = 34.0 * sbh
    else:
        per_layer = sbh * (34.0 + 5.0 * heads * seq_len / np.maximum(d_model, 1.0))
    return layers * per_layer / tp


def memory_per_gpu(params, n_gpus, *, dtype="bf16", tp=1, pp=1, zero_stage=3, activations=0.0):
    """Per-device (weights, gradients, optimizer, activations) bytes.

    Tensor x pipeline parallelism divides every state; ZeRO stage 1/2/3 [3] further shards
    the optimizer / gradients / weights over the data-parallel degree ``n / (tp pp)``.
    """
    w, g, o = state_bytes(params, dtype)
    mp = tp * pp
    dp = np.maximum(n_gpus / mp, 1.0)
    o = o / mp / (dp if zero_stage >= 1 else 1.0)
    g = g / mp / (dp if zero_stage >= 2 else 1.0)
    w = w / mp / (dp if zero_stage >= 3 else 1.0)
    return w, g, o, activations


TP_CHOICES = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])


def plan_memory(params, n_gpus, capacity, activations_tp1, *, dtype="bf16", tp=None, pp=1,
                zero_stage=3):
    """Per-device memory under a parallel layout, choosing tensor parallelism if not given.

    ``activations_tp1`` is :func:`activation_bytes` at ``tp=1``. With ``tp=None`` the smallest
    power of two (up to 64 and ``n_gpus / pp``) whose layout fits in ``capacity`` is used, or
    the largest tried when none fits. Returns ``(tp, weights, gradients, optimizer,
    activations)`` in bytes per device, each broadcast to the inputs' shape.
    """
    if tp is None:
        candidates = TP_CHOICES.reshape((-1,) + (1,) * np.ndim(n_gpus * capacity * params))
        allowed = candidates <= np.maximum(n_gpus / pp, 1.0)
        w, g, o, a = memory_per_gpu(params, n_gpus, dtype=dtype, tp=candidates, pp=pp,
                                    zero_stage=zero_stage, activations=activations_tp1 / candidates)
        fits = allowed & (w + g + o + a <= capacity)
        # first fitting candidate, else the largest allowed one
        pick = np.where(fits.any(axis=0), fits.argmax(axis=0), allowed.sum(axis=0) - 1)
        tp = np.take_along_axis(np.broadcast_to(candidates, fits.shape), pick[None], 0)[0]
        if np.ndim(tp) == 0:
            tp = float(tp)
    w, g, o, a = memory_per_gpu(params, n_gpus, dtype=dtype, tp=tp, pp=pp, zero_stage=zero_stage,
                                activations=activations_tp1 / tp)
    return tp, w, g, o, a


def min_devices(params, capacity, activations_tp1, activations_full_tp1, *, dtype="bf16"):
    """Fewest devices on which training fits with model states fully sharded.

    States (weights, gradients, optimizer) are spread over every device, as ZeRO-3/FSDP or an
    equivalent tensor x pipeline split does; each device also holds one micro-batch's
    activations at tensor-parallel degree ``tp`` (searched over powers of two up to 1024,
    never more than the device count). If no layout fits, full recomputation is assumed.
    """
    w, g, o = state_bytes(params, dtype)
    states = w + g + o
    tps = (2.0 ** np.arange(11)).reshape((-1,) + (1,) * np.ndim(states * capacity * activations_tp1))
    best = np.full(np.shape(states * capacity * activations_tp1), np.inf)
    for acts in (activations_tp1, activations_full_tp1):
        room = capacity - acts / tps
        with np.errstate(divide="ignore", invalid="ignore"):
            need = np.where(room > 0, np.maximum(np.ceil(states / room), tps), np.inf)
        best = np.where(np.isfinite(best), best, need.min(axis=0))
    return best if np.ndim(best) else float(best)
