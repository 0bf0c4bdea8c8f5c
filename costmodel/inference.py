"""Serving: prefill and decode rooflines, KV cache, tensor- and expert-parallel communication.

Pure vectorised functions on canonical floats (FLOP, byte, second); they broadcast over numpy
arrays, so one code path serves a single estimate, its range and a sweep.
:mod:`costmodel.inference_estimate` resolves the inputs into the records below and wraps the
results.

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

__all__ = ["BYTES", "stage_of", "slot_wait", "prefill_chunks", "runtime_slots", "ServingModel", "ServingHardware", "Request", "PhaseConstants", "at_speed", "Timings", "Capacity",
           "kv_bytes_per_token", "attention_tp", "replicated",
           "expert_fraction", "phase_seconds", "allreduce_seconds", "alltoall_seconds", "layer_comm_seconds", "prefill", "decode_step", "timings",
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
class Timings:
    """Seconds per request (TTFT, TPOT, end to end), the devices' busy share, which resource
    binds each phase (True: compute), and the parts the traffic model and the per-token prices
    build on: the prefill as run (one request's under continuous batching, the batch's under
    static), a decode step of the batch and of one sequence at the average context, the share
    of the devices' time a request spends on its input, and the wait for a free slot."""

    ttft: FloatArray
    tpot: FloatArray
    latency: FloatArray
    busy: FloatArray
    compute_bound_prefill: BoolArray
    compute_bound_decode: BoolArray
    generating: BoolArray
    prefill_s: FloatArray = 0.0
    step_s: FloatArray = 0.0
    step_one_s: FloatArray = 0.0
    input_share: FloatArray = 1.0
    wait_s: FloatArray = 0.0


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
          moved: FloatArray, cal: PhaseConstants, tp: FloatArray | None = None,
          ep: FloatArray = 1.0) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Seconds of one forward step: roofline + the runtime's overheads (per step, and per kernel
    launched) + the collectives (:func:`layer_comm_seconds`; ``tp`` None: attention over all
    ``n``). A compiled engine's launches sit on the device's timeline between its kernels, so they
    add to the roofline; an eager runtime's host dispatches ahead of the device (launches are
    asynchronous), so the step takes the longer of the two."""
    # a step with few rows leaves much of the device idle: rows / (rows + half) of the ceiling, with
    # ``half`` growing with the device's peak (a bigger device has more units to fill)
    rows = tokens_in_step * m.rows_per_token
    fill = where(rows > 0, rows / maximum(rows + cal.fill_rows * hw.peak / 1e15, 1e-30), 1.0) \
        if any_true(cal.fill_rows) else 1.0
    share = minimum(cal.compute_fraction * hw.efficiency, 1.0)
    if any_true(hw.ceiling < hw.peak):  # a measured GEMM ceiling (a power-capped device) bounds any runtime's matmuls
        share = minimum(share, hw.ceiling / hw.peak)
    t, compute_bound = phase_seconds(flops, moved, n, hw.peak, hw.bandwidth, share * fill,
                                     minimum(cal.bandwidth_fraction * hw.efficiency, 1.0))
    t = t / cal.speed
    comm = layer_comm_seconds(m, hw, n, n if tp is None else tp, ep, tokens_in_step, cal.allreduce_latency_s)
    launches = m.kernels * hw.launch_s * cal.overhead_scale
    busy = t + launches if not any_true(hw.overlap) else where(hw.overlap > 0, maximum(t, launches), t + launches)
    return busy + hw.step_fixed_s * cal.overhead_scale + comm, t, compute_bound


def stage_of(m: ServingModel, pp: FloatArray) -> ServingModel:
    """One of ``pp`` pipeline stages: its share of the layers, their weights and their KV cache."""
    return replace(m, params=m.params / pp, active_params=m.active_params / pp, weight_bytes=m.weight_bytes / pp,
                   expert_bytes=m.expert_bytes / pp, kv_per_token=m.kv_per_token / pp,
                   attention_per_ctx=m.attention_per_ctx / pp, layers=m.layers / pp, expert_layers=m.expert_layers / pp,
                   kernels=m.kernels / pp)


def slot_wait(batch: FloatArray, slots: FloatArray, service: FloatArray) -> FloatArray:
    """Mean wait of ``batch`` requests that arrive together at a server with ``slots`` places,
    each request holding one for ``service`` seconds: they are served in rounds of ``slots``,
    the ``k``-th (from 0) waiting ``floor(k / slots)`` rounds."""
    rounds = np.floor(batch / slots)
    rest = batch - rounds * slots
    return service * (slots * rounds * (rounds - 1.0) / 2.0 + rest * rounds) / batch


def timings(m: ServingModel, hw: ServingHardware, r: Request, prefill_cal: PhaseConstants,
            decode_cal: PhaseConstants) -> Timings:
    """TTFT, TPOT and end-to-end latency of a request; busy share of the devices.

    Works on floats or arrays (one row per configuration). Static batching: the batch's
    prompts are prefilled together, then decoded together. Continuous (in-flight) batching:
    ``batch`` requests are in flight at once and each finished one is replaced; a request is
    prefilled alone, the other ``batch - 1`` requests' prefills are interleaved with its
    decode steps (each a step of its own, or, for a runtime that mixes them, ``hw.mixed`` 1,
    inside its decode steps: :func:`_mixed_step`), and it waits for the prefills ahead of it as in an M/D/1 queue
    (Pollaczek-Khinchine mean wait). A runtime without in-flight batching (``hw.in_flight``
    0) always runs static batches. Under the runtime's per-step token budget (``hw.token_budget``,
    inf: none) a prefill of more new tokens than the budget runs in ``ceil(tokens / budget)``
    chunks, each a step of its own (:func:`prefill_chunks`); a runtime that mixes prompts into its
    decode steps fits them into what the decode tokens leave of the budget, and the prompts beyond
    it wait for later steps (their share of that room loads the queue). Models that do not generate (encoders, CNNs, ViTs, linear
    models; ``m.autoregressive == 0``) and ``output == 0`` take one forward pass.
    """
    n, batch, prompt, output, pp = r.n, r.batch, r.prompt, r.output, r.pp
    continuous = (r.continuous > 0) & (hw.in_flight > 0)
    together = where(continuous, 1.0, batch)
    pre, dec = prefill_cal, decode_cal
    staged = bool(ndim(pp) or pp > 1)
    whole = m
    tp, ep = attention_tp(r), r.ep
    groups = n / tp  # data-parallel attention groups of a stage
    grouped = bool(ndim(groups) or groups != 1)
    m = replicated(m, groups)
    micro: FloatArray = batch
    if staged:  # each step runs through pp stages in turn: a stage's share of the work, pp times
        m, micro = stage_of(m, pp), maximum(batch / pp, 1.0)  # the batch splits into pp micro-batches
    first = _on_groups(m, whole, groups, together) if grouped else m
    budget = hw.token_budget
    chunks = prefill_chunks(together * prompt * (1.0 - r.cached), budget)
    t_prefill, roof_p, cb_p = _chunked(first, m, hw, n, together, prompt, r.cached, chunks, pre, tp, ep)
    t_first, roof_1, _ = _step(m, hw, n, micro, *decode_step(m, micro, prompt), dec, tp, ep)
    mid = prompt + output / 2.0
    step, roof_d, cb_d = _step(m, hw, n, micro, *decode_step(m, micro, mid), dec, tp, ep)
    one = not ndim(micro) and micro == 1
    step_one = step if one else _step(m, hw, n, 1.0, *decode_step(m, 1.0, mid), dec, tp, ep)[0]
    # the devices' time a prefill takes from the others: with attention groups side by side, as if
    # split evenly over the stage (each group's dense blocks at once, the experts shared)
    even = t_prefill if not grouped else _chunked(m, m, hw, n, together, prompt, r.cached, chunks, pre, tp, ep)[0]
    if staged:
        hop = (pp - 1.0) * pre.allreduce_latency_s  # a point-to-point send per stage boundary
        between = where(n * pp > hw.node, hw.network, hw.link)  # stages on other nodes talk over the network
        carry = lambda tokens: hop + (pp - 1.0) * tokens * m.d_model * 2.0 / between  # noqa: E731
        t_prefill, t_first = pp * t_prefill + carry(together * prompt), pp * t_first + carry(micro)
        even = pp * even + carry(together * prompt)
        step, step_one = pp * step + carry(micro), pp * step_one + carry(1.0)
        roof_p, roof_1, roof_d = pp * roof_p, pp * roof_1, pp * roof_d
    ttft, tpot = t_prefill + t_first, step
    steps = maximum(output, 1.0)
    if ndim(continuous) or continuous:  # static batching alone needs none of this
        others = where(continuous, batch - 1.0, 0.0)
        # the others' prefills, spread over our steps (each holds one stage at a time)
        apart = tpot + others * even / pp / steps
        load = others * even / (t_prefill + steps * apart)
        if any_true(hw.mixed > 0):  # or run inside them: a step of decode and prefill tokens together
            # within the step's token budget: the running requests' decode tokens first, the
            # prompts' tokens in what is left; prompts beyond it wait for later steps' room
            new = maximum(prompt * (1.0 - r.cached), 1.0)
            room = maximum(budget - micro, 1.0)
            share = others / steps / pp
            fit = minimum(share, room / new)
            mixed = _mixed_step(m, hw, r, micro, mid, fit, dec, tp, ep)
            if staged:
                mixed = pp * mixed + carry(micro + fit * prompt)
            # the prompts beyond the room still take the devices' time, in steps of their own (chunked)
            mixed = mixed + (share - fit) * even / pp
            tpot = where(continuous & (hw.mixed > 0), mixed, apart)
            load = where(hw.mixed > 0, maximum(load, share * new / room), load)
        else:
            tpot = apart
        # the wait for the prefills ahead (mixed in: the share of the steps' token room they take)
        load = minimum(0.95, load)
        ttft = ttft + load / (2.0 * (1.0 - load)) * t_prefill
    generating = (m.autoregressive > 0) & (output > 0)
    latency = where(generating, ttft + (output - 1.0) * tpot, t_prefill)
    roof = roof_p + where(generating, roof_1 + (output - 1.0) * roof_d, 0.0)
    # device time a request spends on its input: its prefill against its share of the decode steps
    decode_time = where(continuous, steps * step / batch, (t_first + (output - 1.0) * step) / maximum(batch, 1.0))
    prefill_time = where(continuous, even, t_prefill / maximum(batch, 1.0))
    input_share = where(generating, prefill_time / (prefill_time + decode_time), 1.0)
    ar = m.autoregressive > 0
    if ndim(ar) == 0 and ar:  # a single generating model: the one-pass branch is not needed
        one_pass, roof_one, cb_one = t_prefill, roof_p, cb_p
    else:
        one_pass, roof_one, cb_one = _single_pass(m, hw, n, batch, prompt, pre)
        if staged:
            one_pass, roof_one = pp * one_pass, pp * roof_one
    m = whole
    return Timings(ttft=where(ar, where(generating, ttft, t_prefill), one_pass),
                   tpot=where(generating, tpot, 0.0), latency=where(ar, latency, one_pass),
                   busy=minimum(1.0, where(ar, roof / latency, roof_one / one_pass)),
                   compute_bound_prefill=where(ar, cb_p, cb_one), compute_bound_decode=cb_d,
                   generating=generating, prefill_s=where(ar, t_prefill, one_pass), step_s=step,
                   step_one_s=step_one, input_share=input_share)


def runtime_slots(hw: ServingHardware) -> FloatArray:
    """The most requests the runtime keeps in flight: its own limit (``hw.max_in_flight``) and,
    under its per-step token budget, one decode token of it each (inf with neither)."""
    return minimum(hw.max_in_flight, floor(hw.token_budget))


def prefill_chunks(tokens: FloatArray, budget: FloatArray) -> FloatArray:
    """Forward steps a prefill of ``tokens`` new tokens takes under a per-step token budget:
    ``ceil(tokens / budget)``, at least one (chunked prefill; Agrawal et al. 2024,
    "Sarathi-Serve")."""
    if not ndim(tokens) and not ndim(budget):
        return 1.0 if not tokens > budget else float(math.ceil(tokens / budget))
    return maximum(np.ceil(tokens / budget), 1.0)


def _chunked(first: ServingModel, m: ServingModel, hw: ServingHardware, n: FloatArray, together: FloatArray,
             prompt: FloatArray, cached: FloatArray, chunks: FloatArray, cal: PhaseConstants, tp: FloatArray,
             ep: FloatArray) -> tuple[FloatArray, FloatArray, BoolArray]:
    """The prefill of ``together`` prompts in ``chunks`` forward steps (one: unchunked), each
    step with its share of the tokens and FLOPs (causal attention's FLOPs add up to the same
    whatever the split), the weights read again and the earlier chunks' KV cache read back, and
    its own step overheads; (seconds, roofline seconds, compute bound)."""
    new = together * prompt * (1.0 - cached)
    flops, moved = prefill(first, together, prompt, cached)
    if not ndim(chunks) and chunks == 1:
        return _step(m, hw, n, new, flops, moved, cal, tp, ep)
    kv = (moved - first.weight_bytes) / chunks  # this chunk's KV writes
    earlier = (chunks - 1.0) / 2.0 * new / chunks * m.kv_per_token  # earlier chunks' KV, read back on average
    t, roof, cb = _step(m, hw, n, new / chunks, flops / chunks, first.weight_bytes + kv + earlier, cal, tp, ep)
    return chunks * t, chunks * roof, cb


def _mixed_step(m: ServingModel, hw: ServingHardware, r: Request, micro: FloatArray, context: FloatArray,
                prompts: FloatArray, cal: PhaseConstants, tp: FloatArray, ep: FloatArray) -> FloatArray:
    """Seconds of one decode step of ``micro`` sequences at ``context`` tokens that also prefills
    ``prompts`` waiting prompts (a share: prompts per step), as a scheduler that mixes them runs it
    (TensorRT-LLM's in-flight batching, vLLM V1's token budget): one forward pass over both
    kinds of token, so the weights are read once and the step's fixed costs, launches and
    collectives' latency are paid once. The prompts' tokens join the step's matmuls, which hide
    them under the weight reads only up to the matmuls' own roofline: the decode's attention
    over its KV cache is another kernel, run after them, so its reads hide none of the prompts'
    work. The step is the decode step plus what the prompts add to the matmuls (their roofline
    with the prompts' rows against without), the prompts' attention FLOPs and KV cache writes, and
    their activations' share of the collectives (Agrawal et al. 2024, "Sarathi-Serve", Sec. 4: prefill chunks batched with decodes; a prompt
    in chunks adds the same tokens in all)."""
    step = _step(m, hw, r.n, micro, *decode_step(m, micro, context), cal, tp, ep)[0]
    new = prompts * r.prompt * (1.0 - r.cached)  # the prompts' tokens in this step
    pre_flops, pre_moved = prefill(m, 1.0, r.prompt, r.cached)
    hit = where(m.experts > 0, expert_fraction(maximum(m.experts, 1.0), m.experts_per_token, micro), 0.0)
    weights = m.weight_bytes - m.expert_bytes + m.expert_bytes * hit  # what the decode's matmuls read
    dense = 2.0 * m.active_params
    alone = _step(m, hw, r.n, micro, dense * micro, weights, cal, tp, ep)[1]
    joined = _step(m, hw, r.n, micro + new, dense * (micro + new), weights, cal, tp, ep)[1]
    attention = _step(m, hw, r.n, new, prompts * (pre_flops - dense * r.prompt * (1.0 - r.cached)),
                      prompts * (pre_moved - m.weight_bytes), cal, tp, ep)[1]
    comm = layer_comm_seconds(m, hw, r.n, tp, ep, micro + new, cal.allreduce_latency_s) - \
        layer_comm_seconds(m, hw, r.n, tp, ep, micro, cal.allreduce_latency_s)  # the prompts' activations
    return step + (joined - alone) + attention + comm


def _on_groups(m: ServingModel, whole: ServingModel, groups: FloatArray, together: FloatArray) -> ServingModel:
    """The model as a prefill of ``together`` requests runs it on ``groups`` data-parallel
    attention groups: each request's attention and dense blocks on its own group's devices
    (their FLOPs ``groups / min(together, groups)`` times what an even split over the stage
    gives), its routed experts over every device of the stage."""
    per_param = whole.weight_bytes / maximum(whole.params, 1.0)
    routed = m.expert_bytes / per_param * m.experts_per_token / maximum(m.experts, 1.0)  # active expert parameters
    slower = groups / minimum(maximum(together, 1.0), groups)
    return replace(m, active_params=(m.active_params - routed) * slower + routed,
                   attention_per_ctx=m.attention_per_ctx * slower)


def _single_pass(m: ServingModel, hw: ServingHardware, n: FloatArray, batch: FloatArray, prompt: FloatArray,
                 cal: PhaseConstants) -> tuple[FloatArray, FloatArray, BoolArray]:
    """One forward pass: encoders over the prompt, CNN/ViT/linear over one input each."""
    per_sample = np.isfinite(m.forward_flops)
    flops = where(per_sample, np.nan_to_num(m.forward_flops) * batch,
                  2.0 * m.active_params * batch * prompt + 4.0 * m.attention_per_ctx * prompt * prompt * batch)
    return _step(m, hw, n, batch * maximum(prompt, 1.0), flops, m.weight_bytes, at_speed(cal, cal.single_speed))


def at_speed(cal: PhaseConstants, speed: FloatArray) -> PhaseConstants:
    """A phase's constants at another scenario ``speed`` (a figure with its own spread: a
    single-pass model's forward pass, a batch's throughput): the roofline time divided by it,
    the runtime's overheads and the collectives' latency by it too, as :func:`serving_scenarios
    <costmodel.calibration.serving_scenarios>` builds a phase's ends."""
    if np.all(np.equal(speed, cal.speed)):
        return cal
    return replace(cal, speed=speed, overhead_scale=1.0 / speed,
                   allreduce_latency_s=cal.allreduce_latency_s * cal.speed / speed)


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
