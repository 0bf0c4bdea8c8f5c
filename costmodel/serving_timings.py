"""Serving: the time of one request, from the step rooflines of :mod:`costmodel.inference`.

The seconds of one forward step (the roofline at the fitted fractions, the runtime's overheads
per step and per kernel launched, the layout's collectives), and from those steps
(:func:`timings`) a request's TTFT, TPOT and end-to-end latency under static or continuous batching:
pipeline stages, data-parallel attention groups, chunked prefill under a per-step token
budget, prefills mixed into decode steps, the wait for a free slot and the M/D/1 wait for
the prefills ahead. Pure vectorised functions on canonical floats, as in
:mod:`costmodel.inference`.

References
----------
Pope et al. 2022, "Efficiently Scaling Transformer Inference" (prefill and decode steps);
Agrawal et al. 2024, "Sarathi-Serve" (chunked prefill; prefill chunks batched with decodes,
Sec. 4); Pollaczek-Khinchine mean wait of an M/D/1 queue (the prefills ahead of a request).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .elementwise import any_true, floor, maximum, minimum, ndim, where
from .inference import (PhaseConstants, Request, ServingHardware, ServingModel, attention_tp, decode_step,
                        expert_fraction, layer_comm_seconds, phase_seconds, prefill, replicated)
from .units import BoolArray, FloatArray

__all__ = ["Timings", "timings", "stage_of", "slot_wait", "runtime_slots", "prefill_chunks", "at_speed"]

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


def _step(m: ServingModel, hw: ServingHardware, n: FloatArray, tokens_in_step: FloatArray, flops: FloatArray,
          moved: FloatArray, cal: PhaseConstants, tp: FloatArray | None = None,
          ep: FloatArray = 1.0) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Seconds of one forward step: roofline + the runtime's overheads (per step, and per kernel
    launched) + the collectives (:func:`layer_comm_seconds`; ``tp`` None: attention over all
    ``n``). A compiled engine's launches sit on the device's timeline between its kernels, so they
    add to the roofline; an eager runtime's host dispatches ahead of the device (launches are
    asynchronous), so the step takes the longer of the two. Returns (seconds, roofline
    seconds, compute bound)."""
    return _step_parts(m, hw, n, tokens_in_step, flops, moved, cal, tp, ep)[:3]


def _step_parts(m: ServingModel, hw: ServingHardware, n: FloatArray, tokens_in_step: FloatArray, flops: FloatArray,
                moved: FloatArray, cal: PhaseConstants, tp: FloatArray | None = None,
                ep: FloatArray = 1.0) -> tuple[FloatArray, FloatArray, BoolArray, FloatArray]:
    """:func:`_step`, and the seconds of its collectives."""
    t, compute_bound = _roofline(m, hw, n, tokens_in_step, flops, moved, cal)
    comm = layer_comm_seconds(m, hw, n, n if tp is None else tp, ep, tokens_in_step, cal.allreduce_latency_s)
    launches = m.kernels * hw.launch_s * cal.overhead_scale
    busy = t + launches if not any_true(hw.overlap) else where(hw.overlap > 0, maximum(t, launches), t + launches)
    return busy + hw.step_fixed_s * cal.overhead_scale + comm, t, compute_bound, comm


def _roofline(m: ServingModel, hw: ServingHardware, n: FloatArray, tokens_in_step: FloatArray, flops: FloatArray,
              moved: FloatArray, cal: PhaseConstants) -> tuple[FloatArray, BoolArray]:
    """The roofline seconds of one forward step (at the scenario's speed), and whether compute
    bounds it: :func:`_step` less the runtime's overheads and the collectives."""
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
    return t / cal.speed, compute_bound


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
    step, roof_d, cb_d, step_comm = _step_parts(m, hw, n, micro, *decode_step(m, micro, mid), dec, tp, ep)
    decoding = (step, step_comm)  # a stage's decode step, for the steps that mix prompts in
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
            mixed = _mixed_step(m, hw, r, micro, decoding, fit, dec, tp, ep)
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
    each = _same(continuous)  # where every row batches the same way, only its side is computed
    if each is not False:
        decode_time, prefill_time = steps * step / batch, even
    if each is not True:
        static = (t_first + (output - 1.0) * step) / maximum(batch, 1.0), t_prefill / maximum(batch, 1.0)
        if each is None:
            decode_time, prefill_time = where(continuous, decode_time, static[0]), where(continuous, prefill_time, static[1])
        else:
            decode_time, prefill_time = static
    input_share = where(generating, prefill_time / (prefill_time + decode_time), 1.0)
    ar = m.autoregressive > 0
    if ndim(ar) == 0 and ar:  # a single generating model: the one-pass branch is not needed
        return Timings(ttft=where(generating, ttft, t_prefill), tpot=where(generating, tpot, 0.0), latency=latency,
                       busy=minimum(1.0, roof / latency), compute_bound_prefill=cb_p, compute_bound_decode=cb_d,
                       generating=generating, prefill_s=t_prefill, step_s=step, step_one_s=step_one,
                       input_share=input_share)
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


def _same(condition: BoolArray) -> bool | None:
    """The condition where it is the same everywhere, else None."""
    if not ndim(condition):
        return bool(condition)
    condition = np.asarray(condition)
    return True if condition.all() else False if not condition.any() else None


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


def _mixed_step(m: ServingModel, hw: ServingHardware, r: Request, micro: FloatArray, decode: tuple,
                prompts: FloatArray, cal: PhaseConstants, tp: FloatArray, ep: FloatArray) -> FloatArray:
    """Seconds of one decode step of ``micro`` sequences (``decode``: its seconds and those of its
    collectives, :func:`_step_parts`) that also prefills ``prompts`` waiting prompts (a share:
    prompts per step), as a scheduler that mixes them runs it
    (TensorRT-LLM's in-flight batching, vLLM V1's token budget): one forward pass over both
    kinds of token, so the weights are read once and the step's fixed costs, launches and
    collectives' latency are paid once. The prompts' tokens join the step's matmuls, which hide
    them under the weight reads only up to the matmuls' own roofline: the decode's attention
    over its KV cache is another kernel, run after them, so its reads hide none of the prompts'
    work. The step is the decode step plus what the prompts add to the matmuls (their roofline
    with the prompts' rows against without), the prompts' attention FLOPs and KV cache writes, and
    their activations' share of the collectives (Agrawal et al. 2024, "Sarathi-Serve", Sec. 4: prefill chunks batched with decodes; a prompt
    in chunks adds the same tokens in all)."""
    step, step_comm = decode
    new = prompts * r.prompt * (1.0 - r.cached)  # the prompts' tokens in this step
    pre_flops, pre_moved = prefill(m, 1.0, r.prompt, r.cached)
    hit = where(m.experts > 0, expert_fraction(maximum(m.experts, 1.0), m.experts_per_token, micro), 0.0)
    weights = m.weight_bytes - m.expert_bytes + m.expert_bytes * hit  # what the decode's matmuls read
    dense = 2.0 * m.active_params
    alone = _roofline(m, hw, r.n, micro, dense * micro, weights, cal)[0]
    joined = _roofline(m, hw, r.n, micro + new, dense * (micro + new), weights, cal)[0]
    attention = _roofline(m, hw, r.n, new, prompts * (pre_flops - dense * r.prompt * (1.0 - r.cached)),
                          prompts * (pre_moved - m.weight_bytes), cal)[0]
    comm = layer_comm_seconds(m, hw, r.n, tp, ep, micro + new, cal.allreduce_latency_s) - step_comm  # the prompts' activations
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
