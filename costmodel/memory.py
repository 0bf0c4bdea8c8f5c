"""Training memory: model states, activations, and how a parallel layout spreads them.

Pure vectorised functions on canonical floats (bytes, counts), like :mod:`costmodel.training`;
:func:`costmodel.training_pipeline.evaluate` calls them and wraps the results.

Activations of a transformer follow Korthikanti et al. [2]. Per layer, in bytes (16-bit
tensors, 1-byte dropout masks; ``s`` sequence, ``b`` micro-batch, ``h`` hidden, ``a`` heads,
``t`` tensor-parallel degree):

==========================================  ==============================
no parallelism (Eq. 1)                      ``s b h (34 + 5 a s / h)``
tensor parallelism (Eq. 2)                  ``s b h (10 + 24/t + 5 a s / (h t))``
tensor + sequence parallelism (Eq. 4)       ``s b h / t (34 + 5 a s / h)``
selective recomputation, without / with SP  ``s b h (10 + 24/t)`` / ``34 s b h / t``
full recomputation, without / with SP       ``2 s b h`` / ``2 s b h / t``
==========================================  ==============================

The ``10 s b h`` of layer norms and dropouts is what tensor parallelism alone leaves whole on
every device; sequence parallelism splits it too. Hence :func:`activation_bytes` returns two
parts, the bytes ``t`` divides and the bytes it does not, and the layout functions below add
``split / t + whole``. A fused attention kernel (FlashAttention [10], the default) never keeps
the ``5 a s / h`` of scores, softmax and its dropout mask: without recomputation it holds what
selective recomputation holds.

References
----------
.. [2] Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
   Models" (arXiv:2205.05198), Sec. 4 and 5, Table 2.
.. [3] Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
   Parameter Models", Sec. 3 (16 bytes per parameter for mixed-precision Adam).
.. [8] He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv:1512.03385),
   Table 1 (stages of bottleneck blocks).
.. [9] S. Albanie, convnet-burden (github.com/albanie/convnet-burden): feature memory of one
   forward pass, every layer's output counted once, ReLUs in place.
.. [10] Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with
   IO-Awareness" (arXiv:2205.14135), Sec. 3.1: the backward pass recomputes the attention
   matrix from the output and the softmax statistics, so memory is linear in the sequence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .elementwise import isnan, maximum, ndim, where

__all__ = ["WEIGHT_BYTES", "OPTIMIZER_BYTES", "TP_CHOICES", "SHAPE_FIT", "DERIVED_SEQ_LEN", "state_bytes",
           "activation_bytes", "bottleneck_feature_elements", "shape_from_params", "memory_per_gpu",
           "plan_memory", "min_devices"]

# Bytes per parameter of mixed-precision Adam [3]: 16/8-bit weights and gradients, and fp32
# master weights with two moments. Pure fp32 training keeps no separate master copy.
WEIGHT_BYTES = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 2.0, "fp4": 2.0, "int8": 2.0, "int4": 2.0}
OPTIMIZER_BYTES = {"fp32": 8.0, "tf32": 8.0, "bf16": 12.0, "fp16": 12.0, "fp8": 12.0, "fp4": 12.0, "int8": 12.0,
                   "int4": 12.0}
TP_CHOICES = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])

# The shape of a model known only by its parameter count: least-squares fits of log d_model
# and log layers on log N over the 18 dense decoders of data/models.toml (GPT-2 124M to PaLM
# 540B): d_model = 0.4321 N^0.3978 and layers = 0.2214 N^0.2306 (GPT-3 175B: 12826 and 87,
# published 12288 and 96), and heads of 128, the head size of 11 of them (GPT-3, OPT, BLOOM,
# Gopher, Chinchilla, Llama 2 and 3).
SHAPE_FIT = {"d_coef": 0.4321, "d_exp": 0.3978, "layers_coef": 0.2214, "layers_exp": 0.2306, "head_dim": 128.0}
DERIVED_SEQ_LEN = 2048.0  # the median pre-training context of the same 18 decoders


def state_bytes(params, weight_bytes=2.0, optimizer_bytes=12.0, trainable=None, frozen_bytes=None):
    """Unsharded (weights, gradients, optimizer states) bytes of Adam training [3].

    Only ``trainable`` parameters (default: all) carry gradients and optimizer states; the
    others are frozen and stored at ``frozen_bytes`` per parameter (default ``weight_bytes``;
    4-bit for QLoRA).

    >>> state_bytes(7e9)
    (14000000000.0, 14000000000.0, 84000000000.0)
    """
    trainable = params if trainable is None else trainable
    frozen = params - trainable
    frozen_bytes = weight_bytes if frozen_bytes is None else where(isnan(frozen_bytes), weight_bytes, frozen_bytes)
    return trainable * weight_bytes + frozen * frozen_bytes, trainable * weight_bytes, trainable * optimizer_bytes


def activation_bytes(layers, seq_len, micro_batch, d_model, heads, recompute, sequence_parallel=1.0, pp=1.0,
                     vocab=0.0, flash_attention=0.0):
    """Activation bytes of one micro-batch on the first pipeline stage, as ``(split, whole)``:
    the part tensor parallelism divides by ``tp`` and the part every device holds whole [2].

    ``recompute`` is 0 (none), 1 (selective: the ``5 a s / h`` attention scores are
    recomputed) or 2 (full: only each layer's input is kept); ``flash_attention`` 1 (a fused
    attention kernel) keeps no scores, whatever ``recompute`` [10]; ``sequence_parallel`` 0
    leaves the ``10 s b h`` of layer norms and dropouts whole (Eq. 2), any other value (NaN:
    the default, on) splits it too (Eq. 4). Under 1F1B the first stage holds ``pp`` micro-batches
    of ``layers / pp`` layers, i.e. every layer's worth [2, Sec. 4.2.3], and beside the layers
    [2, Sec. 4.3]: the embedding dropout masks of those ``pp`` micro-batches (``s b h pp``),
    and when it is also the last stage (``pp = 1``) the final layer norm and output-layer
    input (``4 s b h``) and the fp32 logits (``4 s b v``, vocabulary-parallel).

    >>> split, whole = activation_bytes(96, 2048, 1, 12288, 96, 1, 0, 8)  # GPT-3, selective, no SP
    >>> float(split / 8 + whole) / 2**30  # per device at tp = 8
    29.4375
    """
    sbh = seq_len * micro_batch * d_model
    scores = 5.0 * heads * seq_len / maximum(d_model, 1.0) * (1.0 - flash_attention)
    split = where(recompute == 2, 0.0, where(recompute == 1, 24.0, 24.0 + scores))
    whole = where(recompute == 2, 2.0, 10.0)
    last = pp == 1
    split_total = sbh * (layers * split + where(last, 4.0 * vocab / maximum(d_model, 1.0), 0.0))
    whole_total = sbh * (layers * whole + pp + where(last, 4.0, 0.0))
    on = sequence_parallel != 0
    return where(on, split_total + whole_total, split_total), where(on, 0.0, whole_total)


def bottleneck_feature_elements(image_size: int, stem_channels: int, blocks: Sequence[int], widths: Sequence[int],
                                num_classes: int = 0) -> float:
    """Feature-map elements one image leaves for the backward pass through a ResNet of
    bottleneck blocks [8]: a 7x7 stride-2 stem and a 3x3 stride-2 max-pool, then stages of
    ``1x1 -> 3x3 -> 1x1`` blocks of width ``w`` and output ``4 w``, each stage after the first
    striding by 2 in its first block's 3x3 (torchvision's layout) with a projection shortcut.

    Every convolution, batch norm and residual addition output is counted once, ReLUs in place
    (the convention of convnet-burden [9]); multiply by the bytes per element.

    >>> bottleneck_feature_elements(224, 64, [3, 4, 6, 3], [64, 128, 256, 512], 1000)  # ResNet-50
    27951080.0
    """
    side = (image_size - 1) // 2 + 1
    count = 2 * stem_channels * side**2  # conv1, bn1
    side = (side - 1) // 2 + 1
    count += stem_channels * side**2  # max-pool
    for stage, (n, w) in enumerate(zip(blocks, widths)):
        out = side if stage == 0 else (side - 1) // 2 + 1
        first = 2 * w * side**2 + 2 * w * out**2 + 2 * 4 * w * out**2 + 2 * 4 * w * out**2 + 4 * w * out**2
        rest = (2 * w * out**2 * 2 + 2 * 4 * w * out**2 + 4 * w * out**2) * (n - 1)
        count += first + rest
        side = out
    return float(count + 4 * widths[-1] + num_classes)  # global pool, classifier


def shape_from_params(params):
    """A dense decoder's (layers, d_model, heads) from its parameter count, by the aspect ratio
    :data:`SHAPE_FIT` fitted on the catalog: ``d_model`` rounded to whole heads of 128, at least
    one head and one layer.

    >>> shape_from_params(13e9)
    (48.0, 4608.0, 36.0)
    """
    f = SHAPE_FIT
    if ndim(params) == 0:  # one model: plain floats (numpy scalars cost microseconds each)
        n = float(params)
        one_heads = max(float(round(f["d_coef"] * n ** f["d_exp"] / f["head_dim"])), 1.0)
        one_layers = max(float(round(f["layers_coef"] * n ** f["layers_exp"])), 1.0)
        return one_layers, one_heads * f["head_dim"], one_heads
    heads = maximum(np.round(f["d_coef"] * np.power(params, f["d_exp"]) / f["head_dim"]), 1.0)
    layers = maximum(np.round(f["layers_coef"] * np.power(params, f["layers_exp"])), 1.0)
    if ndim(params) == 0:
        return float(layers), float(heads * f["head_dim"]), float(heads)
    return layers, heads * f["head_dim"], heads


def memory_per_gpu(weights, gradients, optimizer, n_gpus, tp, pp, zero_stage, activations, activations_whole=0.0):
    """Per-device (weights, gradients, optimizer, activations) bytes from unsharded totals.

    Tensor x pipeline parallelism divides every state; ZeRO stage 1/2/3 [3] further shards
    the optimizer / gradients / weights over the data-parallel degree ``n / (tp pp)``.
    ``activations`` are the first stage's bytes that tensor parallelism divides and
    ``activations_whole`` those it does not (see :func:`activation_bytes`).
    """
    mp = tp * pp
    sharded = maximum(n_gpus, mp)  # tp x pp x data-parallel degree
    o = optimizer / where(zero_stage >= 1, sharded, mp)
    g = gradients / where(zero_stage >= 2, sharded, mp)
    w = weights / where(zero_stage >= 3, sharded, mp)
    return w, g, o, activations / tp + activations_whole


def plan_memory(weights, gradients, optimizer, n_gpus, capacity, activations, tp, pp, zero_stage,
                activations_whole=0.0):
    """Per-device memory, choosing tensor parallelism where ``tp`` is NaN.

    The smallest power of two (up to 64 and ``n_gpus / pp``) whose layout fits in
    ``capacity`` is used, or the largest allowed when none fits. ``activations`` are divided by
    the degree, ``activations_whole`` are not (without sequence parallelism, Eq. 2 of [2]).
    Returns ``(tp, weights, gradients, optimizer, activations)`` in bytes per device,
    broadcast to the inputs.
    """
    rank = max(ndim(weights), ndim(n_gpus), ndim(capacity), ndim(activations), ndim(tp),
               ndim(pp), ndim(zero_stage), ndim(activations_whole))
    if rank == 0:  # one configuration: evaluate the candidates and take the chosen one's figures
        cand = TP_CHOICES if isnan(tp) else np.array([tp])
        w, g, o, a = memory_per_gpu(weights, gradients, optimizer, n_gpus, cand, pp, zero_stage, activations,
                                    activations_whole)
        allowed = cand <= max(n_gpus / pp, 1.0)
        fits = allowed & (w + g + o + a <= capacity)
        i = int(fits.argmax()) if fits.any() else max(int(allowed.sum()) - 1, 0)
        return cand[i], w[i], g[i], o[i], a[i]
    cand = TP_CHOICES.reshape((-1,) + (1,) * rank)
    # states split by tensor x pipeline only, and states also sharded by ZeRO over data parallelism
    by_mp = (where(zero_stage >= 3, 0.0, weights) + where(zero_stage >= 2, 0.0, gradients)
             + where(zero_stage >= 1, 0.0, optimizer))
    by_all = weights + gradients + optimizer - by_mp
    mp = cand * pp
    total = by_mp / mp + by_all / maximum(n_gpus, mp) + activations / cand + activations_whole
    allowed = cand <= maximum(n_gpus / pp, 1.0)
    fits = allowed & (total <= capacity)
    pick = where(fits.any(axis=0), fits.argmax(axis=0), maximum(allowed.sum(axis=0) - 1, 0))
    chosen = where(isnan(tp), TP_CHOICES[pick], tp)
    return (chosen, *memory_per_gpu(weights, gradients, optimizer, n_gpus, chosen, pp, zero_stage, activations,
                                    activations_whole))


def min_devices(states, capacity, activations, activations_full, activations_whole=0.0, activations_full_whole=0.0):
    """Fewest devices on which training fits with model states fully sharded.

    States are spread over every device, as ZeRO-3/FSDP or an equivalent tensor x pipeline
    split does; each device also holds one micro-batch's activations at tensor-parallel
    degree ``tp`` (powers of two up to 1024, never more than the device count): ``activations
    / tp + activations_whole``. If no layout fits, full recomputation (``activations_full``,
    ``activations_full_whole``) is assumed; NaN where even that does not fit. ``states`` is
    the unsharded weights + gradients + optimizer bytes.
    """
    need = _min_devices(states, capacity, activations, activations_whole)
    if ndim(need) == 0:  # one configuration
        if not math.isfinite(need):
            need = _min_devices(states, capacity, activations_full, activations_full_whole)
        return need if math.isfinite(need) else math.nan
    if not np.all(np.isfinite(need)):
        full = _min_devices(states, capacity, activations_full, activations_full_whole)
        need = where(np.isfinite(need), need, full)
    return where(np.isfinite(need), need, np.nan)


def _min_devices(states, capacity, activations, activations_whole):
    rank = max(ndim(states), ndim(capacity), ndim(activations), ndim(activations_whole))
    if rank == 0:  # one configuration: the same candidates on plain floats (numpy's NaN and infinity rules)
        need = math.inf
        for tp in _TPS_FLOATS:
            room = capacity - activations / tp - activations_whole
            if room > 0:
                q = states / room
                if math.isnan(q):  # NaN in, NaN out (numpy's min propagates it)
                    return math.nan
                need = min(need, max(float(math.ceil(q)) if math.isfinite(q) else q, tp))
        return need
    tps = _TPS.reshape((-1,) + (1,) * rank)
    room = capacity - activations / tps - activations_whole
    with np.errstate(divide="ignore", invalid="ignore"):
        return where(room > 0, maximum(np.ceil(states / room), tps), np.inf).min(axis=0)


_TPS = 2.0 ** np.arange(11)
_TPS_FLOATS = _TPS.tolist()
