"""Serving under load: queueing of one replica with continuous (in-flight) batching.

The server modelled is the scheduler of vLLM, TensorRT-LLM and SGLang in their default modes
(Yu et al. 2022, "Orca", iteration-level scheduling; Kwon et al. 2023, "vLLM"): requests
arrive; a request waits for a slot while ``batch_limit`` requests are in flight; admitted
requests are prefilled one at a time, first come first served, and a prefill has priority
over decode steps (it pauses decoding, non-preemptively: a running step finishes first);
all prefilled requests decode together, one token each per step, and a step with ``b``
sequences takes ``step_fixed_s + step_per_seq_s * b`` seconds. A request's first token comes
from its first decode step, so TTFT = wait for a slot + prefill queue + prefill + first step,
and TPOT = (latency - TTFT) / (output - 1).

The analytic model (closed forms, no iteration; :func:`simulate`, in :mod:`costmodel.traffic_sim`,
checks it; the distributions and Erlang C are in :mod:`costmodel.queueing`):

* **Who a request decodes with.** Let ``L`` be the mean number of requests in decode (paused
  ones included) and ``m`` the others a decoding request shares a step with, which is also the
  number of prefills that pause its decode. Without a limit ``m = L`` (the count is Poisson,
  M/G/inf, and PASTA); with ``c`` slots ``m = L (c - 1) / (c - rate * prefill)``, which is
  exact at both ends (0 for one slot; ``c - 1`` at saturation, where every step runs full).
  A request's decode lasts ``D = output * step(1 + m) + prefill * m`` and Little's law
  ``L = rate * D`` closes the loop; it is linear in ``L``, so ``L`` has a closed form.
* **Capacity.** At saturation every step carries ``c`` sequences, so the replica completes at
  most ``max_rate = 1 / (prefill + output * (step_fixed / c + step_per_seq))`` requests/s; the
  model above puts the slots' load ``rate * prefill + L`` at exactly ``c`` there.
* **Waiting for a slot**: M/G/c. While all slots are taken every step runs full, so a slot
  is held ``full = prefill * c + output * step(c)`` seconds and they free at ``max_rate``; the
  probability of waiting is an Erlang C whose offered load grows with the occupancy ``k``
  (``rate * (output * step_fixed + k * (output * step_per_seq + prefill))``, exact recursion
  up to 64 slots, Halfin and Whitt 1981 above), and the mean wait has the Allen-Cunneen
  factor ``(1 + cs^2) / 2``. (Erlang C at the mean holding time put the wait at half what the
  simulation gives, as waits happen when the replica is full and slow.) A waiting request is
  admitted at a step's end and prefilled at once.
* **The prefill queue**: non-preemptive priority over decode steps (Cobham 1954): the wait is
  ``(rate E[prefill^2] + u_decode step) / (2 (1 - rate prefill))`` for requests that found a
  slot free, scaled by ``(c - 1) / c`` (with one slot an admitted request finds the server
  idle). After its prefill a request waits for the queue to empty before its first step, a
  busy period: ``rate prefill (wait + prefill) / (1 - rate prefill)``; meanwhile it counts in
  the batch, so the batch and the queue are solved together in two passes. ``u_decode`` is
  the share of time some request decodes, ``max(1 - exp(-L), L / c)`` of the time no prefill
  runs (Poisson occupancy; one slot: ``L``).
* **Percentiles.** Waits: zero or exponential, ``P(W > t) = pi exp(-pi t / E[W])``, the slot
  wait and the prefill wait apart; the own prefill, the decode and a closed loop's slot wait:
  gamma (Wilson-Hilferty quantile); TPOT above ``step(1)``: lognormal with the variance of
  an M/G/inf share (each request present when a request starts decoding adds
  ``step_per_seq`` for a uniform share of its decode, each one arriving during it, a Poisson
  count, that share plus a pause of its prefill), times the fixed point's gain
  ``1 / (1 - rate g (output step_per_seq + prefill))`` (a crowded replica steps slower, so
  crowds last: without it the simulated p99 was a third further from the mean), times
  ``1 - m / c`` (a full batch cannot grow), at the mean output. Independent parts are added
  at a percentile by adding their means and root-sum-squaring their deviations from the
  mean (positive and negative ones apart): exact for one random part, and for normal parts.
* **Closed loop** (N clients, zero think time): ``min(N, c)`` requests decode in every step, so
  the throughput is the saturated one at ``n = min(N, c)`` slots; the rest wait
  ``(N - c) / X`` (Little), and every request is paused by the ``n - 1`` others' prefills.

Against :func:`simulate` (tests/test_traffic.py: fixed and gamma lengths, 1 to 256 slots, 10%
to 80% of ``max_rate``) means agree within 15%, TPOT and latency percentiles within 20%, TTFT
p50/p90 within 25% and TTFT p99 within 40% (the slot wait's tail under a binding limit);
closed loops within 5% (means) and 15% (percentiles). Known limits: when prefills take more
than about half the replica's time the TPOT tail is up to 40% low (prefill bursts starve
decode for whole busy periods); a closed loop with fixed output lengths settles into cohorts
that finish together, which the model (completions spread out) does not describe.

At or above ``max_rate`` results are those at ``max_rate * (1 - 1e-6)`` (finite, with waits
about 1e6 holding times) and ``stable`` is False; no output is ever NaN or infinite.

References
----------
Kleinrock 1975, "Queueing Systems", vol. 1 (Pollaczek-Khinchine, Erlang C, Little's law);
Cobham 1954, "Priority assignment in waiting line problems" (non-preemptive priority);
Halfin and Whitt 1981, "Heavy-traffic limits for queues with many exponential servers";
Allen 1990, "Probability, Statistics and Queueing Theory" (the Allen-Cunneen approximation);
Wilson and Hilferty 1931 (gamma quantiles); Abramowitz and Stegun 1964, 7.1.26 (erf);
Yu et al. 2022, "Orca" (OSDI); Kwon et al. 2023, "Efficient Memory Management for Large
Language Model Serving with PagedAttention" (SOSP).

Examples
--------
>>> s = Service(prefill_s=0.05, prefill_s2=0.0025, step_fixed_s=0.02, step_per_seq_s=0.0005,
...             output=200.0, output2=40000.0, batch_limit=64.0)
>>> t = open_loop(s, 1e-9)
>>> round(t.ttft_p50, 4), round(t.tpot_p99, 4)
(0.0705, 0.0205)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .edge_search import find_edge
from .queueing import TINY, Arrays, Floats, add_deviations, erlang_c, gamma_dev, lognormal_q, nquantile, wait_dev
from .traffic_sim import Sampler, simulate
from .units import BoolArray, FloatArray

__all__ = ["Service", "Traffic", "closed_loop", "max_rate_within", "open_loop", "simulate"]

_Z = (0.0, 1.2815515655446004, 2.3263478740408408)  # standard normal quantiles of 0.5, 0.9, 0.99
_ALPHA = (0.5, 0.9, 0.99)
_BACKOFF = 1.0 - 1e-6  # at or above saturation, results are those at this share of max_rate


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """How one replica serves requests under continuous (in-flight) batching; floats or arrays
    that broadcast (one row per scenario).

    ``prefill_s`` [s] is the mean prefill of one request run alone and ``prefill_s2`` [s^2]
    its second moment; a decode step with ``b`` sequences takes ``step_fixed_s +
    step_per_seq_s * b`` [s]; ``output`` [token] (>= 1) and ``output2`` [token^2] are the
    moments of the output length; ``batch_limit`` (>= 1) is the most requests in flight.
    """

    prefill_s: FloatArray
    prefill_s2: FloatArray
    step_fixed_s: FloatArray
    step_per_seq_s: FloatArray
    output: FloatArray
    output2: FloatArray
    batch_limit: FloatArray


@dataclass(frozen=True, slots=True, kw_only=True)
class Traffic:
    """Results per scenario: seconds, requests in decode, the busy share, requests/s, and
    whether the replica keeps up with the offered load.

    ``tpot_*`` is per request, ``(latency - TTFT) / (output - 1)``; ``itl_*`` is per gap between
    two tokens of a request, over every gap: ``itl_mean`` is a decode step without a prefill
    stall (the gap most tokens see), ``itl_p50``... are percentiles over all gaps, stalled ones
    included (as benchmark clients report "median ITL"). The mean over all gaps, stalls
    included, is ``tpot_mean``."""

    ttft_p50: FloatArray
    ttft_p90: FloatArray
    ttft_p99: FloatArray
    tpot_p50: FloatArray
    tpot_p90: FloatArray
    tpot_p99: FloatArray
    latency_p50: FloatArray
    latency_p90: FloatArray
    latency_p99: FloatArray
    itl_p50: FloatArray
    itl_p90: FloatArray
    itl_p99: FloatArray
    ttft_mean: FloatArray
    tpot_mean: FloatArray
    latency_mean: FloatArray
    itl_mean: FloatArray
    queue_s: FloatArray
    in_flight: FloatArray
    utilisation: FloatArray
    max_rate: FloatArray
    throughput: FloatArray
    stable: BoolArray


def _inputs(s: Service, load: Any) -> tuple[Any, tuple[Any, ...]]:
    """The namespace to compute in and the cleaned inputs (moments at least their mean's square)."""
    raw = (s.prefill_s, s.prefill_s2, s.step_fixed_s, s.step_per_seq_s, s.output, s.output2, s.batch_limit, load)
    xp: Any
    vals: tuple[Any, ...]
    if all(isinstance(v, (float, int)) for v in raw):
        xp, vals = Floats, tuple(float(v) for v in raw)
    else:
        xp, vals = Arrays, tuple(np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in raw)))
    p, p2, a, bs, o, o2, c, x = vals
    o = xp.maximum(o, 1.0)
    return xp, (p, xp.maximum(p2, p * p), a, bs, o, xp.maximum(o2, o * o), xp.maximum(xp.floor(c), 1.0), x)


def _percentiles(xp: Any, *, wait: Any, wait_pi: Any, slot_wait: Any, slot_pi: Any, slot_gamma: Any, slot_var: Any, p: Any, p_var: Any, tau: Any,
                 step1: Any, x_mean: Any, x_var: Any, decode: Any, decode_var: Any, o: Any) -> list[Any]:
    """TTFT, TPOT and latency at the 50th, 90th and 99th percentiles (9 values)."""
    ttft, tpot, lat = [], [], []
    generating = o > 1.0
    for z, alpha in zip(_Z, _ALPHA):
        dw = wait_dev(xp, wait, wait_pi, alpha)
        dq = wait_dev(xp, slot_wait, slot_pi, alpha)
        ds = gamma_dev(xp, slot_gamma, slot_var, z)
        dp = gamma_dev(xp, p, p_var, z)
        ttft.append(wait + slot_wait + slot_gamma + p + tau + add_deviations(xp, (dw, dq, ds, dp)))
        tpot.append(xp.where(generating, step1 + lognormal_q(xp, x_mean, x_var, z), 0.0))
        lat.append(wait + slot_wait + slot_gamma + p + tau + decode + add_deviations(xp, (dw, dq, ds, dp, gamma_dev(xp, decode, decode_var, z))))
    return ttft + tpot + lat


def _traffic(q: list[Any], itl: list[Any], *, ttft: Any, tpot: Any, latency: Any, queue: Any, in_flight: Any,
             util: Any, max_rate: Any, throughput: Any, stable: Any) -> Traffic:
    return Traffic(ttft_p50=q[0], ttft_p90=q[1], ttft_p99=q[2], tpot_p50=q[3], tpot_p90=q[4], tpot_p99=q[5],
                   latency_p50=q[6], latency_p90=q[7], latency_p99=q[8], itl_p50=itl[1], itl_p90=itl[2],
                   itl_p99=itl[3], ttft_mean=ttft, tpot_mean=tpot, latency_mean=latency, itl_mean=itl[0],
                   queue_s=queue, in_flight=in_flight, utilisation=util, max_rate=max_rate, throughput=throughput,
                   stable=stable)


def _itl(xp: Any, *, step: Any, step1: Any, top: Any, others_var: Any, bs: Any, pauses: Any, p: Any, p_var: Any,
         rho: Any, o: Any) -> list[Any]:
    """Inter-token latency: the mean gap without a stall and the 50th, 90th and 99th percentiles
    over every gap (4 values).

    A gap is one decode step, ``step`` on average, spread by the count of the others in the step
    (variance ``others_var``; normal, within ``[step1, top]``). The ``pauses`` other requests'
    prefills that pause a request's decode come in busy periods (prefills arriving during a
    prefill run next: an M/G/1 busy period at the prefills' load ``rho``, ``1 / (1 - rho)``
    prefills on average, variance ``rho / (1 - rho)^3``), each held in one gap: a share
    ``pauses (1 - rho) / output`` of the gaps is stalled, by a gamma with the busy period's
    moments, so the mean over every gap is TPOT's. A percentile inside the unstalled share is
    the step's; above it, a stalled gap's (step + busy period), at least the step's 99.9th
    percentile.
    """
    generating = o > 1.0
    rho = xp.minimum(xp.maximum(rho, 0.0), 0.99)
    stalled = xp.minimum(pauses * (1.0 - rho) / o, 1.0)
    busy = p / (1.0 - rho)
    busy_var = p_var / (1.0 - rho) + p * p * rho / (1.0 - rho) ** 3
    sd = bs * xp.sqrt(xp.maximum(others_var, 0.0))
    ceiling = xp.minimum(step + sd * 3.090232306167813, top)  # the step's 99.9th percentile
    out = [xp.where(generating, step, 0.0)]
    for alpha in _ALPHA:
        free = alpha / xp.maximum(1.0 - stalled, TINY)  # level within the unstalled gaps
        plain = xp.minimum(xp.maximum(step + sd * nquantile(xp, xp.minimum(free, 0.999)), step1), ceiling)
        level = (alpha - (1.0 - stalled)) / xp.maximum(stalled, TINY)  # level within the stalled ones
        held = xp.maximum(step + busy + gamma_dev(xp, busy, busy_var, nquantile(xp, level)), ceiling)
        out.append(xp.where(generating, xp.where(alpha <= 1.0 - stalled, plain, held), 0.0))
    return out


def _pause_var(xp: Any, *, m: Any, p: Any, p2: Any, bs: Any, o: Any) -> Any:
    """Variance of TPOT above ``step(1)`` from the ``m`` others a request decodes with, as an
    M/G/inf count: each one present at the start adds ``step_per_seq`` for a uniform share of
    the decode, each arrival (a Poisson count, mean ``m``) that share plus its prefill."""
    steps = xp.maximum(o - 1.0, 1.0)
    return m * (2.0 / 3.0 * bs * bs + bs * p / steps + p2 / (steps * steps))


def _batch(xp: Any, lam: Any, g: Any, first_wait: Any, p: Any, a: Any, bs: Any, o: Any, c: Any) -> tuple[Any, ...]:
    """Little's law fixed point (linear, so solved exactly): requests in decode ``L``, the others
    ``m`` a request decodes with, the step, seconds per token and the fixed point's gain."""
    gain = 1.0 / xp.maximum(1.0 - lam * g * (o * bs + p), 1e-12)
    waiting = lam * first_wait  # prefilled, not yet stepped: they join the next step
    L = lam * o * (a + bs + bs * g * waiting) * gain
    m = xp.minimum(g * (L + waiting), c - 1.0)
    step = a + bs * (1.0 + m)
    return L, m, step, step + p * xp.minimum(g * L, c - 1.0) / o, gain


def open_loop(s: Service, rate: FloatArray) -> Traffic:
    """Percentiles and means of one replica under Poisson arrivals at ``rate`` [requests/s].

    Floats give floats; arrays broadcast. See the module docstring for the model.
    """
    xp, (p, p2, a, bs, o, o2, c, lam) = _inputs(s, rate)
    step1 = a + bs
    max_rate = 1.0 / (p + o * (a / c + bs))
    stable = lam < max_rate
    lam = xp.maximum(xp.minimum(lam, max_rate * _BACKOFF), 0.0)
    rp = lam * p
    g = (c - 1.0) / (c - rp)
    full = p + o * (a + bs * c) + (c - 1.0) * p  # holding time of a slot while all are taken
    slots = xp.minimum(lam * full, c * (1.0 - 1e-9))
    blocked = erlang_c(xp, c, lam * o * a, slots / c - lam * o * a / c)
    free = (1.0 - blocked) * (c - 1.0) / c  # found a slot, and other requests (one slot: none)
    L, m, step, tau, gain = _batch(xp, lam, g, 0.0, p, a, bs, o, c)
    for _ in range(2):  # the prefill queue and the batch depend on each other (weakly): two passes
        u_decode = xp.maximum(1.0 - xp.exp(-L), L / c) * (1.0 - rp)
        prefill_wait = free * (lam * p2 + u_decode * step) / (2.0 * (1.0 - rp))  # Cobham
        first_wait = (c - 1.0) / c * rp * (prefill_wait + p) / (1.0 - rp)  # prefills arriving till it empties
        L, m, step, tau, gain = _batch(xp, lam, g, first_wait, p, a, bs, o, c)
    util = xp.minimum(rp + u_decode, 1.0)
    cs2 = (p2 - p * p + (o2 - o * o) * tau * tau) / (full * full)
    slot_wait = blocked * full / (c - slots) * (1.0 + cs2) / 2.0  # Allen-Cunneen
    queue = slot_wait + prefill_wait
    x_var = _pause_var(xp, m=m, p=p, p2=p2, bs=bs, o=o) * gain * (1.0 - m / c)
    decode = (o - 1.0) * tau
    decode_var = (o2 - o * o) * tau * tau + (o2 - 2.0 * o + 1.0) * x_var
    ttft = queue + first_wait + p + tau
    q = _percentiles(xp, wait=prefill_wait + first_wait, wait_pi=free * util, slot_wait=slot_wait,
                     slot_pi=blocked, slot_gamma=0.0, slot_var=0.0, p=p, p_var=p2 - p * p, tau=tau, step1=step1, x_mean=tau - step1, x_var=x_var,
                     decode=decode, decode_var=decode_var, o=o)
    itl = _itl(xp, step=step, step1=step1, top=a + bs * c, others_var=m * (1.0 - m / c), bs=bs,
               pauses=xp.minimum(g * L, c - 1.0), p=p, p_var=p2 - p * p, rho=rp, o=o)
    return _traffic(q, itl, ttft=ttft, tpot=xp.where(o > 1.0, tau, 0.0), latency=ttft + decode, queue=queue,
                    in_flight=L + lam * first_wait, util=xp.where(stable, util, 1.0), max_rate=max_rate,
                    throughput=lam, stable=stable)


def closed_loop(s: Service, concurrency: FloatArray) -> Traffic:
    """One replica driven by ``concurrency`` clients, each sending its next request when its
    previous one completes (zero think time), as benchmark clients do. Always stable."""
    xp, (p, p2, a, bs, o, o2, c, clients) = _inputs(s, concurrency)
    clients = xp.maximum(clients, 1.0)
    n = xp.minimum(clients, c)
    step1 = a + bs
    max_rate = 1.0 / (p + o * (a / c + bs))
    x = 1.0 / (p + o * (a / n + bs))
    m = n - 1.0
    tau = a + bs * n + p * m / o
    decode = o * tau
    hold = p + decode
    cs2 = xp.minimum((p2 - p * p + (o2 - o * o) * tau * tau) / (hold * hold), 1.0)
    extra = xp.maximum(clients - c, 0.0)
    slot_wait = extra / x
    x_var = _pause_var(xp, m=m, p=p, p2=p2, bs=bs, o=o) * xp.minimum((o2 - o * o) / (o * o), 1.0)
    decode = (o - 1.0) * tau
    decode_var = (o2 - o * o) * tau * tau + (o2 - 2.0 * o + 1.0) * x_var
    q = _percentiles(xp, wait=0.0, wait_pi=0.0, slot_wait=0.0, slot_pi=0.0, slot_gamma=slot_wait, slot_var=extra * cs2 / (x * x), p=p,
                     p_var=p2 - p * p, tau=tau, step1=step1, x_mean=tau - step1, x_var=x_var, decode=decode,
                     decode_var=decode_var, o=o)
    step = a + bs * n  # every step carries the n requests in flight
    itl = _itl(xp, step=step, step1=step1, top=step, others_var=0.0, bs=bs, pauses=m, p=p, p_var=p2 - p * p,
               rho=x * p, o=o)
    return _traffic(q, itl, ttft=slot_wait + p + tau, tpot=xp.where(o > 1.0, tau, 0.0), latency=slot_wait + p + o * tau,
                    queue=slot_wait, in_flight=n - x * p, util=x * (p + o * (a + bs * n) / n),
                    max_rate=max_rate, throughput=x, stable=n > 0)


def max_rate_within(s: Service, *, ttft_p99: FloatArray | None = None, tpot_p99: FloatArray | None = None,
                    latency_p99: FloatArray | None = None, iterations: int = 60) -> FloatArray:
    """Largest Poisson rate [requests/s] at which every given p99 target [s] is met (0 where
    none is), to ``2**-iterations`` of ``max_rate`` (or the last unit in the last place).

    Arrays bisect between 0 and ``max_rate``, all rows at once; one row (floats) takes
    safeguarded secant steps on the worst target's excess (:func:`costmodel.edge_search.find_edge`), which reach the
    same edge in about a fifth of the evaluations.
    """
    targets = [(name, t) for name, t in (("ttft_p99", ttft_p99), ("tpot_p99", tpot_p99),
                                         ("latency_p99", latency_p99)) if t is not None]

    def ok(rate: Any) -> Any:
        t = open_loop(s, rate)
        good: Any = t.stable | (rate == 0.0)
        for name, target in targets:
            good = good & (getattr(t, name) <= target)
        return good

    top = open_loop(s, 0.0).max_rate
    lo, hi = 0.0 * top, top
    if isinstance(top, float):
        return find_edge(lambda rate: _excess(s, rate, targets), top, top * 2.0**-iterations)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        good = ok(mid)
        lo, hi = np.where(good, mid, lo), np.where(good, hi, mid)
    return np.where(ok(np.zeros_like(top)), lo, 0.0)


def _excess(s: Service, rate: float, targets: list[tuple[str, Any]]) -> tuple[bool, float | None]:
    """Whether one replica at ``rate`` meets every target, and by how much the worst one is
    missed: the log of figure over target (negative when met; a wait that grows as ``1 / (1 -
    load)`` grows only as a log, which the secant follows well); None with no targets or no
    finite figure."""
    t = open_loop(s, rate)
    figures = [(float(getattr(t, name)), float(target)) for name, target in targets]
    good = bool(t.stable or rate == 0.0) and all(f <= target for f, target in figures)
    if not figures or any(not (f > 0.0 and target > 0.0 and math.isfinite(f)) for f, target in figures):
        return good, None
    return good, max(math.log(f / target) for f, target in figures)
