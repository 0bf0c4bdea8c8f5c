"""Serving: prefill and decode rooflines, KV cache, tensor- and expert-parallel communication.

Pure vectorised functions on canonical floats (FLOP, byte, second); they broadcast over numpy
arrays, so one code path serves a single estimate, its range and a sweep.
:mod:`costmodel.inference_estimate` resolves the inputs into the records below and wraps the
results; :mod:`costmodel.serving_timings` builds a request's timings from these rooflines.

A phase takes ``max(FLOPs / compute, bytes / bandwidth)`` (the roofline; Williams et al.
2009) at fitted fractions of the device's dense peak and memory bandwidth, plus the runtime's
overheads (a fixed cost per step, and a cost per kernel launch times the kernels the step
launches) and the collectives of the layout: tensor-parallel all-reduces, and for a mixture of
experts split over devices the all-to-alls that dispatch tokens to their experts and combine them
(:func:`layer_comm_seconds`).

References
----------
Pope et al. 2022, "Efficiently Scaling Transformer Inference" (decode is bound by reading the
weights and KV cache; two all-reduces per layer under tensor parallelism, Sec. 3);
Kaplan et al. 2020, Table 1 (forward FLOPs per token ``2 N + 2 n_layer n_ctx d_attn``);
Shoeybi et al. 2019, "Megatron-LM" (two all-reduces per layer in the forward pass);
Thakur et al. 2005 (latency and bandwidth terms of collectives);
Lepikhin et al. 2020, "GShard" (experts split over devices, tokens dispatched and combined by
all-to-all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .elementwise import any_true, floor, maximum, minimum, ndim, where
from .units import BoolArray, FloatArray

__all__ = ["BYTES", "ServingModel", "ServingHardware", "Request", "PhaseConstants", "Capacity",
           "kv_bytes_per_token", "attention_tp", "replicated",
           "expert_fraction", "phase_seconds", "allreduce_seconds", "alltoall_seconds", "layer_comm_seconds", "prefill", "decode_step",
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
    rows_per_token: FloatArray = 1.0  # matrix rows one input position gives each layer (a CNN: its mean spatial size)
    expert_layers: FloatArray = 0.0  # layers whose feed-forward block is a mixture of experts
    kernels: FloatArray = 1.0  # kernels (or host-dispatched operators) one forward step launches, at the engine's fusion


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingHardware:
    """Dense peak at the compute precision [FLOP/s], memory bandwidth [B/s], memory [B],
    TDP [W], the link tensor parallelism uses [B/s per direction], a phone's or laptop's
    battery [J] (NaN without one), what the serving runtime adds to each forward step
    (:mod:`costmodel.engines`) and the device's measured large-GEMM rate, where its profile
    has one: matmuls run at the achievable fraction of the peak, never above that ceiling (a
    power-capped T4 sustains 24 of its 65 TFLOP/s FP16)."""

    peak: FloatArray
    bandwidth: FloatArray
    capacity: FloatArray
    tdp: FloatArray
    link: FloatArray
    battery: FloatArray = math.nan
    step_fixed_s: FloatArray = 0.0  # the serving runtime's cost per forward step (scheduling, sampling)
    launch_s: FloatArray = 0.0  # and per kernel the step launches
    overlap: FloatArray = 0.0  # 1: the host dispatches while the device computes (eager), a step takes the longer
    efficiency: FloatArray = 1.0  # the runtime's multiplier of the achievable compute and bandwidth
    max_in_flight: FloatArray = math.inf  # the runtime's limit on requests in flight
    in_flight: FloatArray = 1.0  # 1: the runtime batches in flight; 0: every batch is static
    mixed: FloatArray = 0.0  # 1: waiting prompts' prefill tokens run inside the decode step; 0: a step each
    network: FloatArray = 12.5e9  # each device's share of the network between nodes [B/s]
    node: FloatArray = math.inf  # devices in one node: collectives over more devices cross the network
    ceiling: FloatArray = math.inf  # the measured large-GEMM rate at the compute precision [FLOP/s] (inf: none)
    token_budget: FloatArray = math.inf  # the most tokens one forward step processes (inf: no budget)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """Devices per pipeline stage, requests in flight, tokens in and out, the batching mode
    (1: continuous / in-flight, 0: static), the share of each prompt already cached, pipeline
    stages (the replica holds ``n * pp`` devices), and the layout of a stage's ``n`` devices:
    attention and the dense weights tensor parallel over ``tp`` of them (0: all ``n``; fewer:
    ``n / tp`` data-parallel attention groups, each with its own requests and a copy of the
    dense weights), the experts of a mixture split over ``ep`` groups (whole experts; each
    expert tensor parallel over the ``n / ep`` devices of its group)."""

    n: FloatArray
    batch: FloatArray
    prompt: FloatArray
    output: FloatArray
    continuous: FloatArray = 1.0
    cached: FloatArray = 0.0  # share of each prompt whose KV cache is already there (prefix caching)
    pp: FloatArray = 1.0  # pipeline stages, each of ``n`` devices
    tp: FloatArray = 0.0  # attention's tensor-parallel degree in a stage (0: all ``n`` devices)
    ep: FloatArray = 1.0  # expert-parallel degree in a stage (1: each expert split like the dense weights)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseConstants:
    """Fitted constants of one phase; arrays of (typical, optimistic, pessimistic)."""

    compute_fraction: FloatArray
    bandwidth_fraction: FloatArray
    overhead_scale: FloatArray  # multiplies the runtime's step overheads (1 in the typical scenario)
    allreduce_latency_s: FloatArray
    fill_rows: FloatArray = 0.0  # rows per PFLOP/s of peak at which a step's matmuls reach half the ceiling
    speed: FloatArray = 1.0  # divides a step's roofline time: the scenario's error (1 in the typical one)
    single_speed: FloatArray = 1.0  # the same for a single-pass model's forward pass (its own spread)
    throughput_speed: FloatArray = 1.0  # the decode's: the same for a batch's tokens per second (its own spread)


def kv_bytes_per_token(layers, kv_heads, head_dim, kv_bytes, latent_dim=0.0):
    """KV-cache bytes per token: K and V for every layer and KV head (GQA/MQA shrink it).

    Multi-head latent attention caches one compressed latent of ``latent_dim`` per layer
    instead (DeepSeek-AI 2024, Sec. 2.1.1).
    """
    per_layer = where(latent_dim > 0, latent_dim, 2.0 * kv_heads * head_dim)
    return layers * per_layer * kv_bytes


def expert_fraction(experts, experts_per_token, tokens_in_step):
    """Expected share of a MoE layer's experts that a step touches.

    With ``k`` of ``E`` experts routed per token and uniform routing, ``t`` tokens miss a
    given expert with probability ``(1 - k / E) ** t``.
    """
    return 1.0 - (1.0 - experts_per_token / experts) ** tokens_in_step


def allreduce_seconds(message_bytes, tp, link_bandwidth, latency, node=math.inf):
    """One all-reduce over ``tp`` devices (0 when tp == 1), ``node`` of them in one node.

    Bandwidth term of a ring, ``2 (tp - 1) / tp`` of the message over one direction of the
    link. Latency term: inside a node, two steps whatever ``tp`` is; every device reaches every
    other over the switch, so a small message is reduced in one shot, each device reading its
    peers' buffers between a start and an end barrier (vLLM's custom all-reduce,
    ``csrc/custom_all_reduce.cuh``: ``cross_device_reduce_1stage`` for messages under 256 KB on
    up to 8 fully NVLinked GPUs; decoding's messages are a few kilobytes). Across nodes, a tree
    / recursive doubling, ``2 log2(tp)`` steps (Thakur et al. 2005, "Optimization of Collective
    Communication Operations in MPICH"). With ``2 log2(tp)`` steps inside a node too, 8 GPUs'
    batch-1 decoding came out 1.5-2x slower than gpt-fast measures it (P49, P50), whose
    per-token time falls with ``tp`` as the weights per device do.
    """
    if not ndim(tp) and not ndim(node):  # one configuration: plain arithmetic (the formula below, unvectorised)
        if tp <= 1:
            return 0.0
        hops = 2.0 if tp <= node else 2.0 * math.log2(tp)
        return hops * latency + 2.0 * (tp - 1.0) / tp * message_bytes / link_bandwidth
    hops = where(tp <= node, 2.0, 2.0 * np.log2(maximum(tp, 1.0)))
    ring = 2.0 * (tp - 1.0) / maximum(tp, 1.0) * message_bytes / link_bandwidth
    return where(tp > 1, hops * latency + ring, 0.0)


def alltoall_seconds(message_bytes, devices, link, network, node, latency):
    """One all-to-all over ``devices`` (0 when there is one): each device sends the
    ``(devices - 1) / devices`` of its ``message_bytes`` meant for the others.

    Latency term of Bruck's algorithm, ``log2(devices)`` hops; bandwidth term of the pairwise
    exchange, each device's sends to its node's other devices over ``link`` and to the
    ``devices - node`` beyond over its share of the ``network``, whichever takes longer (both
    run at once) (Thakur et al. 2005, Sec. 3.5).
    """
    if not (ndim(devices) or ndim(node) or ndim(message_bytes)):  # one configuration: plain arithmetic
        if devices <= 1:
            return 0.0
        inside = min(devices, node)
        return (math.log2(devices) * latency + max((inside - 1.0) / devices * message_bytes / link,
                                                   (devices - inside) / devices * message_bytes / network))
    inside = minimum(devices, node)
    wide = maximum(devices, 1.0)
    spread = maximum((inside - 1.0) / wide * message_bytes / link, (devices - inside) / wide * message_bytes / network)
    return where(devices > 1, np.log2(wide) * latency + spread, 0.0)


def attention_tp(r: Request) -> FloatArray:
    """Attention's tensor-parallel degree in a stage: ``r.tp``, or all ``r.n`` devices (0)."""
    if not ndim(r.tp):
        return r.tp if r.tp > 0 else r.n
    return where(r.tp > 0, r.tp, r.n)


def replicated(m: ServingModel, groups: FloatArray) -> ServingModel:
    """The model as ``groups`` data-parallel attention groups hold it: a copy of the dense
    weights (attention, embeddings, dense and shared feed-forward blocks) per group, the
    routed experts once, so that ``weight_bytes / n`` is what one of ``n`` devices holds and
    reads (dense weights over ``n / groups``, experts over ``n``)."""
    if not ndim(groups) and groups == 1:
        return m
    return replace(m, weight_bytes=(m.weight_bytes - m.expert_bytes) * groups + m.expert_bytes)


def layer_comm_seconds(m: ServingModel, hw: ServingHardware, n: FloatArray, tp: FloatArray, ep: FloatArray,
                       tokens_in_step: FloatArray, latency: FloatArray) -> FloatArray:
    """Seconds of a step's collectives over the ``n`` devices of a stage (Megatron-style:
    Shoeybi et al. 2019; expert parallel: Lepikhin et al. 2020, "GShard", Sec. 2.2).

    Per layer, the attention block's all-reduce over its ``tp`` devices, on its group's share of
    the step's tokens; a dense feed-forward block another one. A mixture-of-experts block runs
    on all ``n`` devices: its outputs are reduced over them (the tokens gathered from the
    attention groups and the outputs reduced, what an all-reduce of every token costs; with
    ``n == tp`` the usual second all-reduce), or, with ``ep > 1``, each device dispatches its
    ``1 / n`` of the tokens' hidden states to the devices of their ``top-k`` experts and
    combines the results back, two all-to-alls of ``tokens k / ep`` hidden states per device,
    then an all-gather (half an all-reduce) restores each attention group's tokens; the runtime
    takes the faster path. 2-byte activations; over the network where the span crosses nodes.
    """
    link = lambda span: hw.link if not any_true(span > hw.node) else where(span > hw.node, hw.network, hw.link)  # noqa: E731
    hidden = m.d_model * 2.0
    attention = allreduce_seconds(tokens_in_step * tp / n * hidden, tp, link(tp), latency, hw.node)
    expert_parallel = any_true((ep > 1) & (m.experts > 0))
    if not expert_parallel and not any_true(tp != n):  # every block all-reduced over the stage: two per layer
        return 2.0 * m.layers * attention
    gathered = allreduce_seconds(tokens_in_step * hidden, n, link(n), latency, hw.node)
    experts = where(m.experts > 0, minimum(m.expert_layers, m.layers), 0.0)
    if not expert_parallel:
        return m.layers * attention + (m.layers - experts) * attention + experts * gathered
    routed = tokens_in_step * m.experts_per_token / maximum(ep, 1.0) * hidden
    dispatched = 2.0 * alltoall_seconds(routed, n, hw.link, hw.network, hw.node, latency) + attention / 2.0
    moe = where(ep > 1, minimum(gathered, dispatched), gathered)
    return m.layers * attention + (m.layers - experts) * attention + experts * moe


def phase_seconds(flops, bytes_moved, n, peak, bandwidth, compute_fraction, bandwidth_fraction):
    """Roofline time of one phase on ``n`` devices, and whether compute bounds it."""
    compute = flops / (n * peak * compute_fraction)
    memory = bytes_moved / (n * bandwidth * bandwidth_fraction)
    return maximum(compute, memory), compute >= memory


def prefill(m: ServingModel, batch: FloatArray, prompt: FloatArray,
            cached: FloatArray = 0.0) -> tuple[FloatArray, FloatArray]:
    """(FLOPs, bytes) of the prefill: every new prompt token once (a cached prefix is skipped but
    still attended to), the weights read once, the prompt's KV cache read or written."""
    new = prompt * (1.0 - cached)
    tokens = batch * new
    flops = 2.0 * m.active_params * tokens + 4.0 * m.attention_per_ctx * (prompt - new / 2.0) * tokens
    moved = m.weight_bytes + batch * prompt * m.kv_per_token
    return flops, moved


def decode_step(m: ServingModel, batch: FloatArray, context: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(FLOPs, bytes) of one decode step for ``batch`` sequences at ``context`` tokens each.

    The step reads the weights it needs (for MoE, the experts the batch's tokens hit) and the
    whole KV cache; attention costs ``4 n_layer ctx d_attn`` FLOPs per token (scores and
    weighted values over the full context).
    """
    hit = where(m.experts > 0, expert_fraction(maximum(m.experts, 1.0), m.experts_per_token, batch), 0.0)
    weights = m.weight_bytes - m.expert_bytes + m.expert_bytes * hit
    flops = 2.0 * m.active_params * batch + 4.0 * m.attention_per_ctx * context * batch
    moved = weights + batch * context * m.kv_per_token
    return flops, moved


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


def memory(m: ServingModel, n: FloatArray, batch: FloatArray, prompt: FloatArray, output: FloatArray,
           act_bytes: FloatArray = 2.0, groups: FloatArray = 1.0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-device (weights, KV cache, activation workspace) bytes on ``n`` devices with
    ``groups`` data-parallel attention groups (each holds the dense weights, :func:`replicated`;
    the experts, the requests' KV cache and workspace are spread over all ``n``).

    Workspace: one layer's activations for the whole prefill, ``b s (2 d + d_ff)`` values.
    """
    kv = batch * (prompt + output) * m.kv_per_token
    acts = batch * prompt * (2.0 * m.d_model + m.ffn) * act_bytes
    return replicated(m, groups).weight_bytes / n, kv / n, acts / n


def capacity_report(m: ServingModel, n: FloatArray, batch: FloatArray, prompt: FloatArray, output: FloatArray,
                    capacity: FloatArray, groups: FloatArray = 1.0) -> Capacity:
    """Per-device memory, whether it fits, the largest batch that fits (at most 1e6) and the
    devices the request needs at this dtype (at this layout's share of them); floats or arrays."""
    w, kv, a = memory(m, n, batch, prompt, output, groups=groups)
    per_seq = (kv + a) / batch
    room = capacity - w
    if type(room) is float and type(per_seq) is float:  # one configuration: plain arithmetic, the same figure
        max_batch = 0.0 if room <= 0 else 1e6 if per_seq <= 0 else minimum(floor(room / per_seq), 1e6)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            max_batch = where(room <= 0, 0.0,
                              where(per_seq <= 0, 1e6, minimum(np.floor(np.divide(room, per_seq)), 1e6)))
    return Capacity(weights=w, kv_cache=kv, activations=a, fits=w + kv + a <= capacity, max_batch=max_batch,
                    min_gpus=maximum(1.0, np.ceil((w + kv + a) * n / capacity)))
