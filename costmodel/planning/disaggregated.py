"""Prefill/decode disaggregation for :func:`costmodel.plan_serving` (``disaggregate=True``).

Two pools of one device type at one precision (DistServe: Zhong et al. 2024; Splitwise:
Patel et al. 2024), each sized on its own:

* **Prefill pool**: ``c`` replicas, each prefilling one prompt at a time in ``S`` seconds (the
  prefill step of :func:`costmodel.serving_timings.timings`): an M/D/c queue. Erlang C gives the
  chance ``C`` that a prompt waits; the mean wait is ``C S / (c - rate S)`` halved for a fixed
  service time (Allen-Cunneen, ``(1 + cs^2) / 2`` with ``cs = 0``), the wait of those who wait
  exponential, so its p99 is ``mean / C * ln(C / 0.01)`` (0 when ``C <= 0.01``).
* **KV transfer**: the prompt's KV cache, ``prompt * KV bytes per token``, leaves the prefill
  replica's devices that hold it (attention's tensor-parallel devices of each stage) for the
  decode replica's over each device's share of the network between nodes, the fewer of the
  two sides setting the pace.
* **Decode pool**: replicas that only decode (:mod:`costmodel.traffic` with no prefill: a
  request joins the running batch at the next step, and no prefill pauses it), as many as
  carry the rate within the TPOT target.

p99 TTFT is taken as the prefill pool's p99 (wait and prefill) + the transfer + the decode
pool's p99 TTFT (slot wait, the running step's rest, the first step): p99s added, an upper
bound. The deployment costs both pools' devices at the price per device-hour of the colocated
candidates; its energy per output token is the decode pool's, at the colocated candidates'
energy per device-hour, plus the prefill pool's at the devices' TDP while prefilling.

References
----------
Zhong et al. 2024, "DistServe: Disaggregating Prefill and Decoding for Goodput-optimized Large
Language Model Serving" (OSDI); Patel et al. 2024, "Splitwise: Efficient Generative LLM
Inference Using Phase Splitting" (ISCA); Kleinrock 1975, "Queueing Systems" vol. 1 (Erlang C);
Allen 1990, "Probability, Statistics and Queueing Theory" (Allen-Cunneen).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .. import traffic as tr
from ..inference import attention_tp

__all__ = ["Split", "erlang_c", "prefill_pool_p99", "kv_transfer_seconds", "cheapest_split"]

EXTRA_SERVERS = 64  # prefill replicas tried beyond the fewest that keep up
_P99 = 0.01


def erlang_c(servers: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Chance that an arrival waits at ``servers`` servers offered ``load`` (Erlang; ``load <
    servers``), by the Erlang B recursion ``B_k = a B_{k-1} / (k + a B_{k-1})``."""
    servers, load = np.broadcast_arrays(np.asarray(servers, dtype=float), np.asarray(load, dtype=float))
    b = np.ones_like(load)
    for k in range(1, int(np.max(servers, initial=1.0)) + 1):
        b = np.where(k <= servers, load * b / (k + load * b), b)
    rho = load / np.maximum(servers, 1.0)
    return b / (1.0 - rho * (1.0 - b))


def prefill_pool_p99(prefill_s: np.ndarray, servers: np.ndarray, rate: float) -> np.ndarray:
    """p99 [s] of wait + prefill at ``servers`` prefill replicas of ``prefill_s`` seconds each
    (M/D/c; inf where they do not keep up)."""
    load = rate * prefill_s
    stable = load < servers
    safe = np.where(stable, load, 0.0)
    waits = erlang_c(servers, safe)
    mean = waits * prefill_s / np.maximum(servers - safe, 1e-12) / 2.0  # Allen-Cunneen, a fixed service time
    tail = np.where(waits > _P99, mean / np.maximum(waits, 1e-300) * np.log(np.maximum(waits, _P99) / _P99), 0.0)
    return np.where(stable, tail + prefill_s, np.inf)


def kv_transfer_seconds(prompt: float, kv_per_token: float, senders: np.ndarray, receivers: np.ndarray,
                        network: float) -> np.ndarray:
    """Seconds to move one prompt's KV cache [B] from ``senders`` devices to ``receivers``, each
    over its share of the network [B/s]."""
    return prompt * kv_per_token / (np.minimum(senders, receivers) * network)


@dataclass(frozen=True, slots=True, kw_only=True)
class Split:
    """The cheapest disaggregated deployment of one (device, precision): the row of the prefill
    layout and its replicas, the decode row and its replicas, and the figures at the rate."""

    rows: Any  # the colocated candidates (costmodel.planning.replicas.CandidateRows) the pools come from
    prefill: int  # index of the prefill layout's row
    prefill_replicas: int
    decode: int
    decode_replicas: int
    decode_sustainable: float  # requests/s one decode replica carries within the TPOT target
    prefill_s: float
    prefill_p99: float  # wait + prefill in the prefill pool
    transfer_s: float
    ttft_p99: float
    tpot_p99: float
    latency_p99: float
    devices: int
    per_hour: float  # USD/h of both pools (NaN without a price)


def _devices_price(g: Any) -> float:
    """USD per device-hour of the colocated rows (NaN without a price)."""
    serving = np.isfinite(g.replicas)  # a row that cannot serve the rate colocated has no price of its own
    per = g.per_hour[serving] / np.maximum(g.replicas[serving] * g.n[serving], 1.0)
    finite = per[np.isfinite(per)]
    return float(finite[0]) if finite.size else math.nan


def cheapest_split(g: Any, rate: float, targets: dict[str, float], tokens: tuple[float, float]) -> Split | None:
    """The cheapest (prefill layout x replicas, decode row x replicas) of one group of candidates
    that meets the targets (None when none does)."""
    s, case = g.service, g.case
    n = np.asarray(g.n, dtype=float)
    holders = attention_tp(case.request) * case.request.pp * np.ones_like(n)  # devices holding a request's KV
    # decode pool: the replicas' queues without prefills, sized by the TPOT target
    zero = np.zeros_like(n)
    decode = replace(s, prefill_s=zero, prefill_s2=zero)
    tpot = {"tpot_p99": targets["tpot_p99"]} if "tpot_p99" in targets else {}
    sustainable = np.asarray(tr.max_rate_within(decode, **tpot, iterations=32), dtype=float) * np.ones_like(n)
    ok = sustainable > 0
    if not np.any(ok):
        return None
    replicas = np.where(ok, np.ceil(rate / np.maximum(sustainable, 1e-300) * (1 - 1e-12)), np.inf)
    q = tr.open_loop(decode, rate / np.where(ok, replicas, 1.0))
    d_ttft, d_tpot, d_latency = (np.asarray(x, dtype=float) * np.ones_like(n) for x in (q.ttft_p99, q.tpot_p99, q.latency_p99))
    # prefill pool: one row per layout (the batch limit does not change a lone prefill)
    _, first = np.unique(np.stack([g.n, g.pp, g.tp, g.ep]), axis=1, return_index=True)
    p_s = (np.asarray(s.prefill_s, dtype=float) * np.ones_like(n))[first]
    fewest = np.floor(rate * p_s) + 1.0
    servers = fewest[:, None] + np.arange(EXTRA_SERVERS)[None, :]  # (layouts, tries)
    p99 = prefill_pool_p99(p_s[:, None], servers, rate)
    transfer = kv_transfer_seconds(tokens[0], float(case.model.kv_per_token), holders[first][:, None], holders[None, :],
                                   float(case.hardware.network))  # (layouts, decode rows)
    # the fewest prefill replicas whose p99 fits in what the transfer and the decode pool leave
    budget = targets.get("ttft_p99", math.inf) - transfer - d_ttft[None, :]  # (layouts, decode rows)
    fits = p99[:, None, :] <= budget[:, :, None]  # (layouts, decode rows, tries)
    found = fits.any(axis=2) & ok[None, :]
    if not np.any(found):
        return None
    k = np.argmax(fits, axis=2)  # the first that fits
    c = servers[np.arange(len(first))[:, None], k]  # (layouts, decode rows)
    devices = np.where(found, c * n[first][:, None] + replicas[None, :] * n[None, :], np.inf)
    i, j = np.unravel_index(np.argmin(devices), devices.shape)
    pre = float(p99[i, k[i, j]])
    price = _devices_price(g)
    return Split(rows=g, prefill=int(first[i]), prefill_replicas=int(c[i, j]), decode=int(j),
                 decode_replicas=int(replicas[j]), decode_sustainable=float(sustainable[j]), prefill_s=float(p_s[i]),
                 prefill_p99=pre,
                 transfer_s=float(transfer[i, j]), ttft_p99=pre + float(transfer[i, j]) + float(d_ttft[j]),
                 tpot_p99=float(d_tpot[j]), latency_p99=pre + float(transfer[i, j]) + float(d_latency[j]),
                 devices=int(devices[i, j]), per_hour=float(devices[i, j]) * price)
