"""Discrete-event simulation of one replica under continuous batching: the check on the
analytic model of :mod:`costmodel.traffic` (tests/test_traffic.py compares the two).

It runs the scheduler that :mod:`costmodel.traffic`'s docstring describes, request by request:
Poisson arrivals or a closed loop of clients, a limit on the requests in flight, prefills first
come first served with priority over decode steps, and every prefilled request decoding one
token per step. It runs one scenario at a time, event by event; estimates use the closed forms.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .traffic import Service

__all__ = ["Sampler", "simulate"]

# (the generator named in a string: numpy imports numpy.random, ~5 ms, on first attribute access)
Sampler = Callable[["np.random.Generator", int], np.ndarray]


def _gamma_draw(rng: np.random.Generator, mean: float, second: float, size: int) -> np.ndarray:
    var = max(second - mean * mean, 0.0)
    if var <= 1e-12 * mean * mean:
        return np.full(size, mean)
    return rng.gamma(mean * mean / var, var / mean, size)


def simulate(s: Service, *, rate: float | None = None, concurrency: int | None = None, requests: int = 20000,
             seed: int = 0, prompt: Sampler | None = None, output: Sampler | None = None,
             warmup: float = 0.1) -> dict[str, float]:
    """Discrete-event simulation of the server in :mod:`costmodel.traffic`'s docstring (one scenario).

    ``rate`` gives Poisson arrivals, ``concurrency`` a closed loop of clients. ``prompt(rng,
    n)`` draws prefill seconds and ``output(rng, n)`` output tokens; by default both are gamma
    with the Service's moments (outputs rounded, at least 1), fixed where the second moment is
    the mean's square. The first ``warmup`` share of requests (and in a closed loop the last
    ``concurrency``) is left out of the statistics. Returns the fields of :class:`Traffic`
    (less ``max_rate`` and ``stable``) as floats; ITL over every gap between two tokens of a
    request in that time, ``itl_mean`` over the gaps without a prefill.
    """
    rng = np.random.default_rng(seed)
    pre = prompt(rng, requests) if prompt else _gamma_draw(rng, float(s.prefill_s), float(s.prefill_s2), requests)
    out = (output(rng, requests) if output else
           np.rint(_gamma_draw(rng, float(s.output), float(s.output2), requests)))
    out = np.maximum(out, 1).astype(int).tolist()
    pre = np.asarray(pre, dtype=float).tolist()
    a, bs, c = float(s.step_fixed_s), float(s.step_per_seq_s), max(int(s.batch_limit), 1)
    arrive = [math.inf] * requests
    first, done, start = [0.0] * requests, [0.0] * requests, [0.0] * requests
    arrivals: list[tuple[float, int]] = []
    if concurrency is None:
        if rate is None:
            raise ValueError("simulate needs rate= or concurrency=")
        times = np.cumsum(rng.exponential(1.0 / rate, requests)).tolist()
        arrivals = [(t, i) for i, t in enumerate(times)]
        issued = requests
    else:
        guess = float(s.prefill_s) + float(s.output) * (a + bs * min(concurrency, c))
        issued = min(int(concurrency), requests)
        arrivals = sorted((float(t), i) for i, t in enumerate(rng.uniform(0.0, guess, issued)))
    heapq.heapify(arrivals)
    waiting: deque[int] = deque()
    ready: deque[int] = deque()
    decoding: list[tuple[int, int]] = []  # (step at which the request finishes, request)
    fresh: list[int] = []  # joined since the last step: their first token comes with the next
    gaps: list[tuple[float, float, int, bool]] = []  # (time, gap between two tokens, how many, stalled)
    stall = 0.0  # prefill time since the last step: the next step's gap holds it
    t = busy = 0.0
    k = slots = finished = 0
    while finished < requests:
        while waiting and slots < c:
            ready.append(waiting.popleft())
            slots += 1
        while arrivals and arrivals[0][0] <= t:
            at, i = heapq.heappop(arrivals)
            arrive[i] = at
            if slots < c:
                ready.append(i)
                slots += 1
            else:
                waiting.append(i)
        if ready:
            i = ready.popleft()
            start[i] = t
            t += pre[i]
            busy += pre[i]
            stall += pre[i]
            heapq.heappush(decoding, (k + out[i], i))
            fresh.append(i)
        elif decoding:
            step = a + bs * len(decoding)
            n = 1
            if not fresh:
                n = decoding[0][0] - k
                if arrivals and slots < c:
                    n = max(1, min(n, math.ceil((arrivals[0][0] - t) / step)))
            t += n * step
            busy += n * step
            k += n
            gaps.append((t, stall + step, len(decoding) - len(fresh), stall > 0))
            if n > 1:
                gaps.append((t, step, len(decoding) * (n - 1), False))
            stall = 0.0
            for i in fresh:
                first[i] = t
            fresh.clear()
            while decoding and decoding[0][0] == k:
                i = heapq.heappop(decoding)[1]
                done[i] = t
                slots -= 1
                finished += 1
                if concurrency is not None and issued < requests:
                    heapq.heappush(arrivals, (t, issued))
                    issued += 1
        elif arrivals:
            t = arrivals[0][0]
    lo = int(warmup * requests)
    hi = requests - (int(concurrency) if concurrency is not None else 0)
    arr, fst, end, beg = (np.asarray(v[lo:hi]) for v in (arrive, first, done, start))
    o = np.asarray(out[lo:hi], dtype=float)
    ttft, lat = fst - arr, end - arr
    gen = o > 1
    tpot = (end - fst)[gen] / (o[gen] - 1.0) if gen.any() else np.zeros(1)
    span = end.max() - arr.min()
    when, gap, count, held = (np.asarray(v) for v in zip(*gaps)) if gaps else (np.zeros(1),) * 3 + (np.zeros(1, bool),)
    keep = (when >= arr.min()) & (when <= end.max()) & (count > 0)
    gap, count, held = gap[keep], count[keep], held[keep]
    order = np.argsort(gap)
    cum = np.cumsum(count[order]) / max(count.sum(), 1)
    itl = {f"itl_p{q}": float(gap[order][min(np.searchsorted(cum, q / 100.0), len(cum) - 1)]) if len(cum) else 0.0
           for q in (50, 90, 99)}
    plain = count * ~held
    itl["itl_mean"] = float(np.sum(gap * plain) / plain.sum()) if plain.sum() else 0.0
    pct = {f"{name}_p{q}": float(np.percentile(v, q)) for name, v in (("ttft", ttft), ("tpot", tpot), ("latency", lat))
           for q in (50, 90, 99)}
    return pct | itl | {"ttft_mean": float(ttft.mean()), "tpot_mean": float(tpot.mean()), "latency_mean": float(lat.mean()),
                  "queue_s": float((beg - arr).mean()), "in_flight": float(np.sum(end - beg - np.asarray(pre[lo:hi])) / span),
                  "utilisation": busy / t, "throughput": float(len(arr) / span)}
