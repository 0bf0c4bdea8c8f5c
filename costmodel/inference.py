"""Serving: prefill and decode rooflines, KV cache, tensor-parallel communication.

Pure vectorised functions on canonical floats (FLOP, byte, second); they broadcast over numpy
arrays, so one code path serves a single estimate, its range and a sweep.
:mod:`costmodel.inference_estimate` resolves the inputs into the records below and wraps the
results.

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
from dataclasses import dataclass

import numpy as np

from .units import BoolArray, FloatArray

__all__ = ["BYTES", "ServingModel", "ServingHardware", "Request", "PhaseConstants", "Timings", "Capacity",
           "kv_bytes_per_token",
           "expert_fraction", "phase_seconds", "allreduce_seconds", "prefill", "decode_step", "timings",
           "memory", "capacity_report"]

BYTES = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "fp4": 0.5, "int8": 1.0, "int4": 0.5}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingModel:
    """What the rooflines need to know about a model at a weight and KV precision (floats, or
    per-row arrays in a sweep). ``forward_flops`` is NaN for models counted per token;
    ``autoregressive`` is 1 for models that generate."""

    params: FloatArray
    active_params: FloatArray
    weight_bytes: FloatArray
    expert_bytes: FloatArray = 0.0
    experts: FloatArray = 0.0
    experts_per_token: FloatArray = 0.0
    kv_per_token: FloatArray = 0.0
    attention_per_ctx: FloatArray = 0.0
    d_model: FloatArray = 0.0
    ffn: FloatArray = 0.0
    context: FloatArray = math.inf
    layers: FloatArray = 0.0
    forward_flops: FloatArray = math.nan
    autoregressive: FloatArray = 1.0
    sequence: FloatArray = 0.0  # a fixed input length (a ViT's patches + class token); 0: the request's prompt


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingHardware:
    """Dense peak at the compute precision [FLOP/s], memory bandwidth [B/s], memory [B],
    TDP [W], the link tensor parallelism uses [B/s per direction] and a phone's or laptop's
    battery [J] (NaN without one)."""

    peak: FloatArray
    bandwidth: FloatArray
    capacity: FloatArray
    tdp: FloatArray
    link: FloatArray
    battery: FloatArray = math.nan


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """Devices per replica, requests in flight, tokens in and out, and the batching mode
    (1: continuous / in-flight, 0: static)."""

    n: FloatArray
    batch: FloatArray
    prompt: FloatArray
    output: FloatArray
    continuous: FloatArray = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseConstants:
    """Fitted constants of one phase; arrays of (typical, optimistic, pessimistic)."""

    compute_fraction: FloatArray
    bandwidth_fraction: FloatArray
    step_overhead_s: FloatArray
    allreduce_latency_s: FloatArray


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


def prefill(m: ServingModel, batch: FloatArray, prompt: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(FLOPs, bytes) of the prefill: every prompt token once, weights read once, KV written."""
    tokens = batch * prompt
    flops = 2.0 * m.active_params * tokens + 2.0 * m.attention_per_ctx * prompt * tokens
    moved = m.weight_bytes + tokens * m.kv_per_token
    return flops, moved


def decode_step(m: ServingModel, batch: FloatArray, context: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(FLOPs, bytes) of one decode step for ``batch`` sequences at ``context`` tokens each.

    The step reads the weights it needs (for MoE, the experts the batch's tokens hit) and the
    whole KV cache; attention costs ``4 n_layer ctx d_attn`` FLOPs per token (scores and
    weighted values over the full context).
    """
    hit = np.where(m.experts > 0, expert_fraction(np.maximum(m.experts, 1.0), m.experts_per_token, batch), 0.0)
    weights = m.weight_bytes - m.expert_bytes + m.expert_bytes * hit
    flops = 2.0 * m.active_params * batch + 4.0 * m.attention_per_ctx * context * batch
    moved = weights + batch * context * m.kv_per_token
    return flops, moved


@dataclass(frozen=True, slots=True, kw_only=True)
class Timings:
    """Seconds per request (TTFT, TPOT, end to end), the devices' busy share, and which
    resource binds each phase (True: compute)."""

    ttft: FloatArray
    tpot: FloatArray
    latency: FloatArray
    busy: FloatArray
    compute_bound_prefill: BoolArray
    compute_bound_decode: BoolArray
    generating: BoolArray


@dataclass(frozen=True, slots=True, kw_only=True)
class Capacity:
    """Bytes per device (weights, KV cache, workspace), whether they fit, the largest batch
    that fits (at most 1e6) and the devices the request needs at this precision."""

    weights: FloatArray
    kv_cache: FloatArray
    activations: FloatArray
    fits: BoolArray
    max_batch: FloatArray
    min_gpus: FloatArray


def _step(m: ServingModel, hw: ServingHardware, n: FloatArray, tokens_in_step: FloatArray, flops: FloatArray,
          moved: FloatArray, cal: PhaseConstants) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Seconds of one forward step: roofline + fixed overhead + 2 all-reduces per layer."""
    t, compute_bound = phase_seconds(flops, moved, n, hw.peak, hw.bandwidth, cal.compute_fraction,
                                     cal.bandwidth_fraction)
    comm = 2.0 * m.layers * allreduce_seconds(tokens_in_step * m.d_model * 2.0, n, hw.link, cal.allreduce_latency_s)
    return t + cal.step_overhead_s + comm, t, compute_bound


def timings(m: ServingModel, hw: ServingHardware, r: Request, prefill_cal: PhaseConstants,
            decode_cal: PhaseConstants) -> Timings:
    """TTFT, TPOT and end-to-end latency of a request; busy share of the devices.

    Works on floats or arrays (one row per configuration). Static batching: the batch's
    prompts are prefilled together, then decoded together. Continuous (in-flight) batching:
    ``batch`` requests are in flight at once and each finished one is replaced; a request is
    prefilled alone, the other ``batch - 1`` requests' prefills are interleaved with its
    decode steps, and it waits for the prefills ahead of it as in an M/D/1 queue
    (Pollaczek-Khinchine mean wait). Models that do not generate (encoders, CNNs, ViTs,
    linear models; ``m.autoregressive == 0``) and ``output == 0`` take one forward pass.
    """
    n, batch, prompt, output, continuous = r.n, r.batch, r.prompt, r.output, r.continuous > 0
    together = np.where(continuous, 1.0, batch)
    pre, dec = prefill_cal, decode_cal
    t_prefill, roof_p, cb_p = _step(m, hw, n, together * prompt, *prefill(m, together, prompt), pre)
    t_first, roof_1, _ = _step(m, hw, n, batch, *decode_step(m, batch, prompt), dec)
    tpot, roof_d, cb_d = _step(m, hw, n, batch, *decode_step(m, batch, prompt + output / 2.0), dec)
    ttft = t_prefill + t_first
    if np.ndim(continuous) or continuous:  # static batching alone needs none of this
        others = np.where(continuous, batch - 1.0, 0.0)
        steps = np.maximum(output, 1.0)
        tpot = tpot + others * t_prefill / steps  # the others' prefills, spread over our steps
        load = np.minimum(0.95, others * t_prefill / (t_prefill + steps * tpot))
        ttft = ttft + load / (2.0 * (1.0 - load)) * t_prefill
    generating = (m.autoregressive > 0) & (output > 0)
    latency = np.where(generating, ttft + (output - 1.0) * tpot, t_prefill)
    roof = roof_p + np.where(generating, roof_1 + (output - 1.0) * roof_d, 0.0)
    ar = m.autoregressive > 0
    if np.ndim(ar) == 0 and ar:  # a single generating model: the one-pass branch is not needed
        one_pass, roof_one, cb_one = t_prefill, roof_p, cb_p
    else:
        one_pass, roof_one, cb_one = _single_pass(m, hw, n, batch, prompt, pre)
    return Timings(ttft=np.where(ar, np.where(generating, ttft, t_prefill), one_pass),
                   tpot=np.where(generating, tpot, 0.0), latency=np.where(ar, latency, one_pass),
                   busy=np.minimum(1.0, np.where(ar, roof / latency, roof_one / one_pass)),
                   compute_bound_prefill=np.where(ar, cb_p, cb_one), compute_bound_decode=cb_d,
                   generating=generating)


def _single_pass(m: ServingModel, hw: ServingHardware, n: FloatArray, batch: FloatArray, prompt: FloatArray,
                 cal: PhaseConstants) -> tuple[FloatArray, FloatArray, BoolArray]:
    """One forward pass: encoders over the prompt, CNN/ViT/linear over one input each."""
    per_sample = np.isfinite(m.forward_flops)
    flops = np.where(per_sample, np.nan_to_num(m.forward_flops) * batch,
                     2.0 * m.active_params * batch * prompt + 4.0 * m.attention_per_ctx * prompt * prompt * batch)
    return _step(m, hw, n, batch * np.maximum(prompt, 1.0), flops, m.weight_bytes, cal)


def memory(m: ServingModel, n: FloatArray, batch: FloatArray, prompt: FloatArray, output: FloatArray,
           act_bytes: FloatArray = 2.0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-device (weights, KV cache, activation workspace) bytes.

    Workspace: one layer's activations for the whole prefill, ``b s (2 d + d_ff)`` values.
    """
    kv = batch * (prompt + output) * m.kv_per_token
    acts = batch * prompt * (2.0 * m.d_model + m.ffn) * act_bytes
    return m.weight_bytes / n, kv / n, acts / n


def capacity_report(m: ServingModel, n: FloatArray, batch: FloatArray, prompt: FloatArray, output: FloatArray,
                    capacity: FloatArray) -> Capacity:
    """Per-device memory, whether it fits, the largest batch that fits (at most 1e6) and the
    devices the request needs at this dtype; floats or arrays."""
    w, kv, a = memory(m, n, batch, prompt, output)
    per_seq = (kv + a) / batch
    room = capacity - w
    with np.errstate(divide="ignore", invalid="ignore"):
        max_batch = np.where(room <= 0, 0.0, np.where(per_seq <= 0, 1e6, np.minimum(np.floor(np.divide(room, per_seq)), 1e6)))
    return Capacity(weights=w, kv_cache=kv, activations=a, fits=w + kv + a <= capacity, max_batch=max_batch,
                    min_gpus=np.maximum(1.0, np.ceil((w + kv + a) * n / capacity)))
