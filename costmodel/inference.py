"""Serving: prefill and decode rooflines, KV cache, tensor-parallel communication.

Pure vectorised functions on canonical floats (FLOP, byte, second); they broadcast over numpy
arrays. :mod:`costmodel.inference_estimate` parses inputs and wraps results.

A phase takes ``max(FLOPs / compute, bytes / bandwidth)`` (the roofline; Williams et al.
2009) at fitted fractions of the device's dense peak and memory bandwidth, plus a fixed
per-step overhead (kernel launches, scheduling) and the tensor-parallel all-reduces.

References
----------
Pope et al. 2022, "Efficiently Scaling Transformer Inference" (decode is bound by reading the
weights and KV cache; two all-reduces per layer under tensor parallelism, Sec. 3);
Kaplan et al. 2020, Table 1 (forward FLOPs per token ``2 N + 2 n_layer n_ctx d_attn``);
Shoeybi et al. 2019, "Megatron-LM" (two all-reduces per layer in the forward pass);
Thakur et al. 2005 (latency and bandwidth terms of collectives).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BYTES", "kv_bytes_per_token", "expert_fraction", "phase_seconds", "allreduce_seconds",
           "prefill", "decode_step"]

BYTES = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}


def kv_bytes_per_token(layers, kv_heads, head_dim, kv_bytes, latent_dim=0.0):
    """KV-cache bytes per token: K and V for every layer and KV head (GQA/MQA shrink it).

    Multi-head latent attention caches one compressed latent of ``latent_dim`` per layer
    instead (DeepSeek-AI 2024, Sec. 2.1.1).
    """
    per_layer = np.where(latent_dim > 0, latent_dim, 2.0 * kv_heads * head_dim)
    return layers * per_layer * kv_bytes


def expert_fraction(experts, experts_per_token, tokens_in_step):
    """Expected share of a MoE layer's experts that a step touches.

    With ``k`` of ``E`` experts routed per token and uniform routing, ``t`` tokens miss a
    given expert with probability ``(1 - k / E) ** t``.
    """
    return 1.0 - (1.0 - experts_per_token / experts) ** tokens_in_step


def allreduce_seconds(message_bytes, tp, link_bandwidth, latency):
    """One all-reduce over ``tp`` devices (0 when tp == 1).

    Bandwidth term of a ring, ``2 (tp - 1) / tp`` of the message over one direction of the
    link; latency term of a tree / recursive doubling, ``2 log2(tp)`` hops, as collective
    libraries switch to latency-optimal algorithms for the small messages of decoding
    (Thakur et al. 2005, "Optimization of Collective Communication Operations in MPICH").
    """
    if not np.ndim(tp):  # one configuration: plain arithmetic (the formula below, unvectorised)
        if tp <= 1:
            return 0.0
        return 2.0 * math.log2(tp) * latency + 2.0 * (tp - 1.0) / tp * message_bytes / link_bandwidth
    hops = 2.0 * np.log2(np.maximum(tp, 1.0))
    ring = 2.0 * (tp - 1.0) / np.maximum(tp, 1.0) * message_bytes / link_bandwidth
    return np.where(tp > 1, hops * latency + ring, 0.0)


def phase_seconds(flops, bytes_moved, n, peak, bandwidth, compute_fraction, bandwidth_fraction):
    """Roofline time of one phase on ``n`` devices, and whether compute bounds it."""
    compute = flops / (n * peak * compute_fraction)
    memory = bytes_moved / (n * bandwidth * bandwidth_fraction)
    return np.maximum(compute, memory), compute >= memory


def prefill(m: dict, batch, prompt):
    """(FLOPs, bytes) of the prefill: every prompt token once, weights read once, KV written."""
    tokens = batch * prompt
    flops = 2.0 * m["active_params"] * tokens + 2.0 * m["attention_per_ctx"] * prompt * tokens
    moved = m["weight_bytes"] + tokens * m["kv_per_token"]
    return flops, moved


def decode_step(m: dict, batch, context):
    """(FLOPs, bytes) of one decode step for ``batch`` sequences at ``context`` tokens each.

    The step reads the weights it needs (for MoE, the experts the batch's tokens hit) and the
    whole KV cache; attention costs ``4 n_layer ctx d_attn`` FLOPs per token (scores and
    weighted values over the full context).
    """
    hit = np.where(m["experts"] > 0, expert_fraction(np.maximum(m["experts"], 1.0),
                                                      m["experts_per_token"], batch), 0.0)
    weights = m["weight_bytes"] - m["expert_bytes"] + m["expert_bytes"] * hit
    flops = 2.0 * m["active_params"] * batch + 4.0 * m["attention_per_ctx"] * context * batch
    moved = weights + batch * context * m["kv_per_token"]
    return flops, moved
