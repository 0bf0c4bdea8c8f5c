"""The candidates of :func:`costmodel.plan_serving` for one device type and precision: every
replica layout and limit on requests in flight that fits (:func:`fit_replicas`), the rate each
sustains within the targets (:func:`sustainable_rates`, one bisection over all of them), and each
priced at its operating point (:func:`priced`, :func:`option_of`).

A replica larger than a node is tensor parallel over every device, or a node's worth of tensor
parallelism per pipeline stage; a mixture of experts is also split over the stage's devices and
run with data-parallel attention (:func:`stage_layouts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .. import traffic as tr
from ..calibration import serving_scenarios
from ..energy import resolve_footprint
from ..hardware import HardwareProfile
from ..inference_estimate import (
    Load,
    ServingCase,
    evaluate,
    resolve_request,
    resolve_serving,
    service_from,
    typical_scenario,
)
from ..results.inference import OUTPUTS
from ..serving_timings import runtime_slots
from ..steptime import DEFAULT_NODE, DEFAULT_SCALE_OUT
from ..units import quantity
from .serving_options import ServingOption

__all__ = ["BISECTIONS", "CandidateRows", "LIMITS", "PER_MILLION", "Replicas", "fit_replicas", "network_share",
           "node_size", "option_of", "priced", "replica_counts", "replica_service", "stage_layouts",
           "sustainable_rates"]

LIMITS = (*(2.0 ** k for k in range(11)), math.inf)  # requests in flight; inf: what fits
BISECTIONS = 32  # of the sustainable rate: to 2^-32 of the replica's capacity
PER_MILLION = {o.key: o.value for o in OUTPUTS}


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateRows:
    """Candidates of one (device, precision) as arrays: devices per replica, the limit on
    requests in flight, what one replica sustains, and the figures at the operating point."""

    profile: HardwareProfile
    dtype: str
    engine: str
    n: np.ndarray
    pp: np.ndarray  # pipeline stages of each candidate (n / pp devices each)
    tp: np.ndarray  # attention's tensor-parallel degree in a stage
    ep: np.ndarray  # expert-parallel degree in a stage
    limit: np.ndarray
    sustainable: np.ndarray
    replicas: np.ndarray
    cost: np.ndarray  # USD per request, NaN without a price
    per_hour: np.ndarray
    input_pm: np.ndarray
    output_pm: np.ndarray
    energy_pm: np.ndarray  # kWh per million output tokens
    p99: tuple[np.ndarray, np.ndarray, np.ndarray]  # TTFT, TPOT, latency [s] at the operating point
    light: tuple[np.ndarray, np.ndarray]  # TTFT, TPOT p99 at light load: the best it can do
    service: tr.Service  # each candidate's queue (what the disaggregated pools are built from)
    case: ServingCase


def replica_counts(node: int, most: int) -> list[int]:
    """Devices per replica: powers of two inside a node, then whole nodes in powers of two.

    >>> replica_counts(8, 64)
    [1, 2, 4, 8, 16, 32, 64]
    """
    inside = [2 ** k for k in range(40) if 2 ** k <= min(node, most)]
    return inside + [node * 2 ** k for k in range(1, 40) if node * 2 ** k <= most]


def node_size(profile: HardwareProfile) -> int:
    return int(profile.devices_per_node or DEFAULT_NODE)


def network_share(profile: HardwareProfile) -> float:
    """Each device's share of the network between nodes [B/s per direction]."""
    return profile.number("scale_out_bandwidth") or DEFAULT_SCALE_OUT


def replica_service(case: ServingCase, values: Any, slots: np.ndarray) -> tr.Service:
    """The queue of one replica, from the pipeline's steps (as ``_under_load`` builds it for
    :func:`costmodel.traffic.open_loop`; tests check the two give the same percentiles)."""
    return service_from(values.timings, case.model, values.output, slots)


@dataclass(frozen=True, slots=True, kw_only=True)
class Replicas:
    """The replicas of one (device, precision) that fit, before the rate search: the pipeline's
    case over them (one row each) and their queues."""

    profile: HardwareProfile
    dtype: str
    engine: str
    case: ServingCase
    service: tr.Service
    n: np.ndarray
    pp: np.ndarray
    tp: np.ndarray
    ep: np.ndarray
    slots: np.ndarray


def fit_replicas(model: Any, profile: HardwareProfile, dtype: str | None, engine: str | None,
              tokens: tuple[float, float], most: int, footprint: dict[str, Any], cal: Any) -> Replicas | None:
    """Every layout and limit of one device at one precision that fits; None where none does."""
    _, hw, (dt, _, eng), m, h = resolve_serving(model, hardware=profile, dtype=dtype, engine=engine,
                                                profile_path=footprint.get("profile_path"), calibration=cal)
    node = node_size(profile)
    counts = replica_counts(node, most)
    # a replica past one node: tensor parallel over all of it, or a node's worth per pipeline stage
    staged = [(c, 1) for c in counts] + [(c, c // node) for c in counts if c > node]
    layouts = [(c, p, tp, ep) for c, p in staged for tp, ep in stage_layouts(c // p, node, float(m.experts))]
    index, limit = (a.ravel() for a in np.meshgrid(np.arange(len(layouts)), np.array(LIMITS)))
    n, pp, tp, ep = (np.array([layouts[i][k] for i in index], dtype=float) for k in range(4))
    h = replace(h, node=float(node), network=network_share(profile))
    f, _ = resolve_footprint(hw, **{k: v for k, v in footprint.items() if k != "profile_path"})
    phases = serving_scenarios(cal.serving)
    r = resolve_request(prompt_tokens=tokens[0], output_tokens=tokens[1])
    case = ServingCase(model=m, hardware=h, request=replace(r, n=n / pp, pp=pp, tp=tp, ep=ep, batch=np.ones_like(n)),
                       footprint=typical_scenario(f), prefill=typical_scenario(phases["prefill"]),
                       decode=typical_scenario(phases["decode"]),
                       load=Load(rate=1e-9, limit=limit))
    room = np.asarray(evaluate(case).capacity.max_batch) * np.ones_like(n)  # the most requests that fit on n devices
    generating = (m.autoregressive > 0) & (h.in_flight > 0)
    slots = np.where(generating, np.maximum(1.0, np.minimum(np.minimum(limit, runtime_slots(h)), room)), 1.0)
    _, keep = np.unique(np.stack([n, pp, tp, ep, slots]), axis=1, return_index=True)
    keep = np.sort(keep[room[keep] >= 1])
    if not len(keep):
        return None
    n, pp, tp, ep, slots = n[keep], pp[keep], tp[keep], ep[keep], slots[keep]
    case = replace(case, request=replace(r, n=n / pp, pp=pp, tp=tp, ep=ep, batch=np.ones_like(n)),
                   load=Load(rate=1e-9, limit=slots))
    return Replicas(profile=profile, dtype=dt, engine=eng, case=case, service=replica_service(case, evaluate(case), slots),
                     n=n, pp=pp, tp=tp, ep=ep, slots=slots)


def stage_layouts(devices: int, node: int, experts: float) -> list[tuple[int, int]]:
    """(attention tensor degree, expert degree) of a stage of ``devices``: tensor parallel over
    all of them; for a mixture of ``experts``, also the experts split over the most devices that
    divide both (whole experts each), and attention tensor parallel over 1, 2, 4 ... devices of
    a node in data-parallel groups, with and without that split.

    >>> stage_layouts(8, 8, 0.0)
    [(8, 1)]
    >>> stage_layouts(4, 8, 8.0)
    [(4, 1), (4, 4), (1, 1), (1, 4), (2, 1), (2, 4)]
    """
    if not experts:
        return [(devices, 1)]
    ep = math.gcd(devices, int(experts))
    degrees = [1] + ([ep] if ep > 1 else [])
    groups = [t for t in (2 ** k for k in range(40)) if t < devices and t <= node and devices % t == 0]
    return [(t, e) for t in (devices, *groups) for e in degrees]


def sustainable_rates(groups: list[Replicas], targets: dict[str, float]) -> list[np.ndarray]:
    """The rate each replica sustains within the targets, one bisection over every group's rows."""
    fields = tr.Service.__slots__
    rows = [np.broadcast_arrays(*(np.asarray(getattr(g.service, k), dtype=float) for k in fields)) for g in groups]
    service = tr.Service(**{k: np.concatenate([r[i] for r in rows]) for i, k in enumerate(fields)})
    rate = np.asarray(tr.max_rate_within(service, **targets, iterations=BISECTIONS), dtype=float)
    return np.split(rate, np.cumsum([len(g.n) for g in groups])[:-1])


def priced(g: Replicas, sustainable: np.ndarray, rate: float) -> CandidateRows:
    """Replicas for the rate, and each candidate's p99s and prices at its operating point."""
    replicas = np.where(sustainable > 0, np.ceil(rate / np.maximum(sustainable, 1e-300) * (1 - 1e-12)), np.inf)
    at = replace(g.case, load=Load(rate=rate / np.where(np.isfinite(replicas), replicas, 1.0), limit=g.slots))
    v = evaluate(at)
    q, zero = v.traffic, tr.open_loop(g.service, 0.0)
    row = lambda x: np.asarray(x, dtype=float) * np.ones_like(g.n)
    return CandidateRows(profile=g.profile, dtype=g.dtype, engine=g.engine, n=g.n, pp=g.pp, tp=g.tp, ep=g.ep, limit=g.slots,
                 sustainable=sustainable,
                 replicas=replicas, cost=row(v.footprint.cost), per_hour=row(v.footprint.cost) * rate * 3600.0,
                 input_pm=row(PER_MILLION["cost_per_million_input_tokens_USD"](at, v)),
                 output_pm=row(PER_MILLION["cost_per_million_tokens_USD"](at, v)),
                 energy_pm=row(PER_MILLION["energy_per_million_output_tokens_kWh"](at, v)),
                 p99=(row(q.ttft_p99), row(q.tpot_p99), row(q.latency_p99)), light=(row(zero.ttft_p99), row(zero.tpot_p99)),
                 service=g.service, case=g.case)


def option_of(g: CandidateRows, i: int, rate: float) -> ServingOption:
    n, pp, node = int(g.n[i]), int(g.pp[i]), node_size(g.profile)
    replicas = float(g.replicas[i])  # infinite where the layout cannot serve the rate colocated (a split's pool may)
    missing = lambda x, unit: None if not math.isfinite(float(x)) else quantity(float(x), unit)
    return ServingOption(
        hardware=g.profile.id, dtype=g.dtype, engine=g.engine, devices_per_replica=n, tensor_parallel=int(g.tp[i]),
        pipeline=pp, expert_parallel=int(g.ep[i]), nodes=max(1, n // node), replicas=int(replicas) if math.isfinite(replicas) else 0, batch_limit=int(g.limit[i]),
        sustainable_rate=quantity(float(g.sustainable[i]), "1/s"),
        headroom=replicas * float(g.sustainable[i]) / rate - 1.0 if math.isfinite(replicas) else math.nan,
        ttft_p99=quantity(float(g.p99[0][i]) * 1e3, "ms"), tpot_p99=quantity(float(g.p99[1][i]) * 1e3, "ms"),
        latency_p99=quantity(float(g.p99[2][i]) * 1e3, "ms"), cost_per_hour=missing(g.per_hour[i], "usd_rate"),
        cost_per_million_input_tokens=missing(g.input_pm[i], "usd"),
        cost_per_million_output_tokens=missing(g.output_pm[i], "usd"),
        energy_per_million_output_tokens=missing(g.energy_pm[i], "kWh"))  # None without output tokens
