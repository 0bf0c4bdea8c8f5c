"""Plan a serving deployment: :func:`plan_serving`, the cheapest replicas that carry a request
rate within p99 latency targets.

The search space, per device type: the serving precision (the device's 16-bit format, ``fp8``,
``w8a16``, ``w4a16`` where it computes in them; ``dtype=`` pins one), the devices of a replica
(tensor parallelism over 1, 2, 4, 8 ... devices of a node, then whole nodes), and the limit on
requests in flight (1, 2, 4 ... 1024, or what fits). Each (precision, layout, limit) is one row
of arrays run through the serving pipeline (:func:`costmodel.inference_estimate.evaluate`, as
:func:`costmodel.estimate_inference` runs it); the rate one replica sustains within the targets
is :func:`costmodel.traffic.max_rate_within` on the replica's queue, the replicas are
``ceil(rate / sustainable)``, and each candidate is priced at its operating point, every
replica at ``rate / replicas``. The cheapest candidate is the one whose device-hours (or owned
cost) per request are least; its figures are then estimated with
:func:`costmodel.estimate_inference` for the result's ``estimate``.

A replica larger than a node is searched two ways: tensor parallel over every device (its
all-reduces on the network between nodes, each device's share of it), or a node's worth of
tensor parallelism per pipeline stage (a point-to-point send between stages, ``pp``
micro-batches in flight). A mixture of experts is also searched with its experts split over the
stage's devices (``ep``: as many as divide both the devices and the experts) and with
data-parallel attention (attention and the dense weights tensor parallel over 1, 2, 4 ...
devices of a node, each group with its own requests; :func:`costmodel.estimate_inference`'s
``tp`` and ``ep``). Not modelled: disaggregated prefill, speculative decoding, and autoscaling
(the replicas run all the time).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pint

from .. import traffic as tr
from .disaggregated import Split, cheapest_split
from ..calibration import resolve_calibration, serving_scenarios
from ..energy import resolve_footprint
from ..errors import InputError
from ..hardware import HardwareProfile, ProfilePath, get_hardware
from ..inference_estimate import INTERACTIVE_SLA as _SLA
from ..inference_estimate import (
    Load,
    ServingCase,
    evaluate,
    resolve_request,
    service_from,
    typical_scenario,
    resolve_serving,
)
from ..results.inference import OUTPUTS, InferenceEstimate
from ..steptime import DEFAULT_NODE, DEFAULT_SCALE_OUT
from ..units import CountLike, QuantityLike, parse_quantity, parse_whole, quantity

if TYPE_CHECKING:
    from ..models import ModelSpec

__all__ = [
    "DEFAULT_MAX_DEVICES",
    "DTYPES",
    "INTERACTIVE_SLA",
    "LIMITS",
    "ServingOption",
    "ServingPlan",
    "plan_serving",
    "replica_counts",
]

# The "interactive" targets (what compare and chat services aim at): p99 TTFT 1 s, p99 TPOT 50 ms.
INTERACTIVE_SLA: Mapping[str, float] = MappingProxyType(dict(_SLA))  # read-only: p99 TTFT 1 s, TPOT 50 ms
DTYPES = (None, "fp8", "w8a16", "w4a16")  # None: the device's usual 16-bit format (bf16)
LIMITS = (*(2.0 ** k for k in range(11)), math.inf)  # requests in flight; inf: what fits
DEFAULT_MAX_DEVICES = 64  # devices in one replica: eight nodes of eight
RUNNERS_UP = 4
BISECTIONS = 32  # of the sustainable rate: to 2^-32 of the replica's capacity
_PER_M = {o.key: o.value for o in OUTPUTS}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingOption:
    """One deployment: ``replicas`` copies of a replica of ``devices_per_replica`` devices
    (``pipeline`` stages over ``nodes``; in a stage, attention tensor parallel over
    ``tensor_parallel`` devices, ``attention_groups`` of them side by side, and the experts of a
    mixture split over ``expert_parallel``), at most ``batch_limit`` requests in flight each; its p99s
    and prices at the operating point (every replica at ``rate / replicas``), the rate one
    replica sustains within the targets, and ``headroom`` (sustainable / offered - 1)."""

    hardware: str
    dtype: str
    engine: str
    devices_per_replica: int
    tensor_parallel: int
    nodes: int
    replicas: int
    pipeline: int = 1
    expert_parallel: int = 1
    batch_limit: int
    sustainable_rate: pint.Quantity  # [1/s] per replica
    headroom: float
    ttft_p99: pint.Quantity  # [ms]
    tpot_p99: pint.Quantity
    latency_p99: pint.Quantity
    cost_per_hour: pint.Quantity | None  # [USD/h], all replicas
    cost_per_million_input_tokens: pint.Quantity | None
    cost_per_million_output_tokens: pint.Quantity | None
    energy_per_million_output_tokens: pint.Quantity  # [kWh]
    prefill: ServingOption | None = None  # disaggregated: the prefill pool (this option's replicas only decode)
    kv_transfer: pint.Quantity | None = None  # [ms] a prompt's KV cache from the prefill pool to the decode pool

    @property
    def devices(self) -> int:
        """Devices of every replica together (both pools when disaggregated)."""
        return self.replicas * self.devices_per_replica + (0 if self.prefill is None else self.prefill.devices)

    @property
    def deployment(self) -> str:
        """``colocated`` (each replica prefills and decodes) or ``disaggregated`` (prefill and
        decode pools)."""
        return "colocated" if self.prefill is None else "disaggregated"

    @property
    def energy_per_output_token(self) -> pint.Quantity:
        """Energy per output token [J] (the decode's share of the devices' energy)."""
        return (self.energy_per_million_output_tokens / 1e6).to("J")

    @property
    def attention_groups(self) -> int:
        """Data-parallel attention groups in a pipeline stage (1: attention over all its devices)."""
        return self.devices_per_replica // (self.pipeline * self.tensor_parallel)

    @property
    def layout(self) -> str:
        """``tp4``, ``tp16 x 2 nodes``, ``tp8 x pp4 x 4 nodes`` for a replica over the network, or
        ``tp1 x dp8 x ep8`` (8 attention groups of one device, experts over all 8)."""
        return (f"tp{self.tensor_parallel}" + (f" x dp{self.attention_groups}" if self.attention_groups > 1 else "")
                + (f" x pp{self.pipeline}" if self.pipeline > 1 else "")
                + (f" x ep{self.expert_parallel}" if self.expert_parallel > 1 else "")
                + (f" x {self.nodes} nodes" if self.nodes > 1 else ""))

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (units in the keys; a missing price is None)."""
        m = lambda q, unit: None if q is None else float(q.to(unit).magnitude)
        return {"hardware": self.hardware, "dtype": self.dtype, "engine": self.engine,
                "devices_per_replica": self.devices_per_replica, "tensor_parallel": self.tensor_parallel,
                "pipeline": self.pipeline, "expert_parallel": self.expert_parallel,
                "attention_groups": self.attention_groups, "nodes": self.nodes, "replicas": self.replicas, "devices": self.devices,
                "batch_limit": self.batch_limit, "sustainable_rate_per_s": m(self.sustainable_rate, "1/s"),
                "headroom": self.headroom, "ttft_p99_ms": m(self.ttft_p99, "ms"), "tpot_p99_ms": m(self.tpot_p99, "ms"),
                "latency_p99_ms": m(self.latency_p99, "ms"), "cost_per_hour_USD": m(self.cost_per_hour, "USD/h"),
                "cost_per_million_input_tokens_USD": m(self.cost_per_million_input_tokens, "usd"),
                "cost_per_million_output_tokens_USD": m(self.cost_per_million_output_tokens, "usd"),
                "energy_per_million_output_tokens_kWh": m(self.energy_per_million_output_tokens, "kWh"),
                "deployment": self.deployment, "kv_transfer_ms": m(self.kv_transfer, "ms"),
                "prefill": None if self.prefill is None else self.prefill.to_dict()}


@dataclass(frozen=True, kw_only=True, eq=False)
class ServingPlan:
    """The cheapest deployment that meets the targets (``best``), one replica of it estimated at
    its operating point (``estimate``), the next cheapest few (``runners_up``, each a different
    device, layout or precision) and each device type's best (``by_hardware``, cheapest first)."""

    model: str | None
    best: ServingOption
    estimate: InferenceEstimate
    runners_up: tuple[ServingOption, ...]
    by_hardware: tuple[ServingOption, ...]
    rate: pint.Quantity
    ttft_p99: pint.Quantity | None
    tpot_p99: pint.Quantity | None
    prompt_tokens: int
    output_tokens: int
    candidates: int
    notes: tuple[str, ...] = ()
    assumptions: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        target = lambda q: None if q is None else float(q.to("ms").magnitude)
        return {"model": self.model, "rate_per_s": float(self.rate.to("1/s").magnitude),
                "ttft_p99_target_ms": target(self.ttft_p99), "tpot_p99_target_ms": target(self.tpot_p99),
                "prompt_tokens": self.prompt_tokens, "output_tokens": self.output_tokens,
                "best": self.best.to_dict(), "runners_up": [o.to_dict() for o in self.runners_up],
                "by_hardware": [o.to_dict() for o in self.by_hardware], "candidates": self.candidates,
                "notes": list(self.notes), "assumptions": dict(self.assumptions)}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rows:
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


def _node(profile: HardwareProfile) -> int:
    return int(profile.devices_per_node or DEFAULT_NODE)


def _network(profile: HardwareProfile) -> float:
    """Each device's share of the network between nodes [B/s per direction]."""
    return profile.number("scale_out_bandwidth") or DEFAULT_SCALE_OUT


def replica_service(case: ServingCase, values: Any, slots: np.ndarray) -> tr.Service:
    """The queue of one replica, from the pipeline's steps (as ``_under_load`` builds it for
    :func:`costmodel.traffic.open_loop`; tests check the two give the same percentiles)."""
    return service_from(values.timings, case.model, values.output, slots)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Replicas:
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


def _replicas(model: Any, profile: HardwareProfile, dtype: str | None, engine: str | None,
              tokens: tuple[float, float], most: int, footprint: dict[str, Any], cal: Any) -> _Replicas | None:
    """Every layout and limit of one device at one precision that fits; None where none does."""
    _, hw, (dt, _, eng), m, h = resolve_serving(model, hardware=profile, dtype=dtype, engine=engine,
                                                profile_path=footprint.get("profile_path"), calibration=cal)
    node = _node(profile)
    counts = replica_counts(node, most)
    # a replica past one node: tensor parallel over all of it, or a node's worth per pipeline stage
    staged = [(c, 1) for c in counts] + [(c, c // node) for c in counts if c > node]
    layouts = [(c, p, tp, ep) for c, p in staged for tp, ep in stage_layouts(c // p, node, float(m.experts))]
    index, limit = (a.ravel() for a in np.meshgrid(np.arange(len(layouts)), np.array(LIMITS)))
    n, pp, tp, ep = (np.array([layouts[i][k] for i in index], dtype=float) for k in range(4))
    h = replace(h, node=float(node), network=_network(profile))
    f, _ = resolve_footprint(hw, **{k: v for k, v in footprint.items() if k != "profile_path"})
    phases = serving_scenarios(cal.serving)
    r = resolve_request(prompt_tokens=tokens[0], output_tokens=tokens[1])
    case = ServingCase(model=m, hardware=h, request=replace(r, n=n / pp, pp=pp, tp=tp, ep=ep, batch=np.ones_like(n)),
                       footprint=typical_scenario(f), prefill=typical_scenario(phases["prefill"]),
                       decode=typical_scenario(phases["decode"]),
                       load=Load(rate=1e-9, limit=limit))
    room = np.asarray(evaluate(case).capacity.max_batch) * np.ones_like(n)  # the most requests that fit on n devices
    generating = (m.autoregressive > 0) & (h.in_flight > 0)
    slots = np.where(generating, np.maximum(1.0, np.minimum(np.minimum(limit, h.max_in_flight), room)), 1.0)
    _, keep = np.unique(np.stack([n, pp, tp, ep, slots]), axis=1, return_index=True)
    keep = np.sort(keep[room[keep] >= 1])
    if not len(keep):
        return None
    n, pp, tp, ep, slots = n[keep], pp[keep], tp[keep], ep[keep], slots[keep]
    case = replace(case, request=replace(r, n=n / pp, pp=pp, tp=tp, ep=ep, batch=np.ones_like(n)),
                   load=Load(rate=1e-9, limit=slots))
    return _Replicas(profile=profile, dtype=dt, engine=eng, case=case, service=replica_service(case, evaluate(case), slots),
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


def _sustainable(groups: list[_Replicas], targets: dict[str, float]) -> list[np.ndarray]:
    """The rate each replica sustains within the targets, one bisection over every group's rows."""
    fields = tr.Service.__slots__
    rows = [np.broadcast_arrays(*(np.asarray(getattr(g.service, k), dtype=float) for k in fields)) for g in groups]
    service = tr.Service(**{k: np.concatenate([r[i] for r in rows]) for i, k in enumerate(fields)})
    rate = np.asarray(tr.max_rate_within(service, **targets, iterations=BISECTIONS), dtype=float)
    return np.split(rate, np.cumsum([len(g.n) for g in groups])[:-1])


def _priced(g: _Replicas, sustainable: np.ndarray, rate: float) -> _Rows:
    """Replicas for the rate, and each candidate's p99s and prices at its operating point."""
    replicas = np.where(sustainable > 0, np.ceil(rate / np.maximum(sustainable, 1e-300) * (1 - 1e-12)), np.inf)
    at = replace(g.case, load=Load(rate=rate / np.where(np.isfinite(replicas), replicas, 1.0), limit=g.slots))
    v = evaluate(at)
    q, zero = v.traffic, tr.open_loop(g.service, 0.0)
    row = lambda x: np.asarray(x, dtype=float) * np.ones_like(g.n)
    return _Rows(profile=g.profile, dtype=g.dtype, engine=g.engine, n=g.n, pp=g.pp, tp=g.tp, ep=g.ep, limit=g.slots,
                 sustainable=sustainable,
                 replicas=replicas, cost=row(v.footprint.cost), per_hour=row(v.footprint.cost) * rate * 3600.0,
                 input_pm=row(_PER_M["cost_per_million_input_tokens_USD"](at, v)),
                 output_pm=row(_PER_M["cost_per_million_tokens_USD"](at, v)),
                 energy_pm=row(_PER_M["energy_per_million_output_tokens_kWh"](at, v)),
                 p99=(row(q.ttft_p99), row(q.tpot_p99), row(q.latency_p99)), light=(row(zero.ttft_p99), row(zero.tpot_p99)),
                 service=g.service, case=g.case)


def _option(g: _Rows, i: int, rate: float) -> ServingOption:
    n, pp, node = int(g.n[i]), int(g.pp[i]), _node(g.profile)
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
        energy_per_million_output_tokens=quantity(float(g.energy_pm[i]), "kWh"))


def _parse_rate(rate: QuantityLike) -> float:
    return parse_quantity(rate, "rate", "rate")


def _targets(ttft_p99: QuantityLike | None, tpot_p99: QuantityLike | None) -> dict[str, float]:
    """The p99 targets in seconds (a bare number is seconds)."""
    given = {"ttft_p99": ttft_p99, "tpot_p99": tpot_p99}
    return {k: parse_quantity(v, "time", k) for k, v in given.items() if v is not None}


def _profiles(hardware: str | HardwareProfile | Iterable[str | HardwareProfile],
              profile_path: ProfilePath | None) -> list[HardwareProfile]:
    if isinstance(hardware, (str, HardwareProfile)):
        names: list[Any] = [h.strip() for h in hardware.split(",") if h.strip()] if isinstance(hardware, str) else [hardware]
    else:
        names = list(hardware)
    if not names:
        raise InputError("no hardware given; expected profile ids such as ['h100', 'l40s']", argument="hardware")
    return list({p.id: p for p in (get_hardware(n, profile_path=profile_path) for n in names)}.values())


def _groups(model: Any, profiles: list[HardwareProfile], dtype: str | None, engine: str | None,
            tokens: tuple[float, float], rate: float, targets: dict[str, float], most: int,
            footprint: dict[str, Any], cal: Any, notes: list[str]) -> list[_Rows]:
    """Every (device, precision) that runs the model, priced; precisions that do not fit are noted."""
    out = []
    for p in profiles:
        seen: set[str] = set()
        for d in (dtype,) if dtype is not None else DTYPES:
            try:
                g = _replicas(model, p, d, engine, tokens, most, footprint, cal)
            except InputError:
                if dtype is not None or d is None:
                    raise
                seen.add(str(d))  # the device does not compute in this format: not a candidate
                continue
            if g is None:
                notes.append(f"{p.id} at {d or 'its 16-bit format'}: does not fit in {most} devices per replica")
            elif g.dtype not in seen:
                seen.add(g.dtype)
                out.append(g)
    return [_priced(g, x, rate) for g, x in zip(out, _sustainable(out, targets))] if out else []


def _meets(g: _Rows, targets: dict[str, float]) -> np.ndarray:
    ok = np.isfinite(g.replicas)
    for k, i in (("ttft_p99", 0), ("tpot_p99", 1)):
        if k in targets:
            ok = ok & (g.p99[i] <= targets[k] * (1 + 1e-9))
    return ok


def _ranked(groups: list[_Rows], targets: dict[str, float]) -> list[tuple[_Rows, int]]:
    """Candidates that meet the targets, cheapest first (then fewest devices, most headroom)."""
    rows = [(g, int(i)) for g in groups for i in np.flatnonzero(_meets(g, targets))]
    key = lambda gi: (float(np.nan_to_num(gi[0].cost[gi[1]], nan=math.inf)),
                      float(gi[0].replicas[gi[1]] * gi[0].n[gi[1]]),
                      -float(gi[0].replicas[gi[1]] * gi[0].sustainable[gi[1]]), float(gi[0].p99[0][gi[1]]))
    return sorted(rows, key=key)


def _distinct(ranked: list[tuple[_Rows, int]], rate: float) -> list[ServingOption]:
    """The best candidate of each (device, precision, devices per replica), in order."""
    out, seen = [], set()
    for g, i in ranked:
        key = (g.profile.id, g.dtype, int(g.n[i]), int(g.pp[i]), int(g.tp[i]), int(g.ep[i]))
        if key not in seen:
            seen.add(key)
            out.append(_option(g, i, rate))
    return out


def _impossible(groups: list[_Rows], targets: dict[str, float], most: int, model: Any) -> InputError:
    """What the targets ask that no candidate gives: the best p99s at light load, and on what."""
    def best(i: int) -> tuple[float, str]:
        x, g, j = min((float(g.light[i][j]), g, int(j)) for g in groups for j in range(len(g.n)))
        return x, f"{int(g.n[j])} x {g.profile.id} at {g.dtype}, batch limit {int(g.limit[j])}"
    (ttft, on_ttft), (tpot, on_tpot) = best(0), best(1)
    wanted = " and ".join(f"p99 {k[:4].upper()} {v * 1e3:.4g} ms" for k, v in targets.items())
    argument = "ttft_p99" if "ttft_p99" in targets and ttft > targets["ttft_p99"] else \
        "tpot_p99" if "tpot_p99" in targets and tpot > targets["tpot_p99"] else "ttft_p99"
    return InputError(f"no deployment of {model} meets {wanted} with up to {most} devices per replica; the best "
                      f"achievable is p99 TTFT {ttft * 1e3:.4g} ms ({on_ttft}) and p99 TPOT {tpot * 1e3:.4g} ms "
                      f"({on_tpot})", argument=argument)


def plan_serving(model: str | ModelSpec, *, hardware: str | HardwareProfile | Iterable[str | HardwareProfile],
                 rate: QuantityLike, prompt_tokens: CountLike, output_tokens: CountLike,
                 ttft_p99: QuantityLike | None = None, tpot_p99: QuantityLike | None = None,
                 dtype: str | None = None, engine: str | None = None, max_devices: CountLike = DEFAULT_MAX_DEVICES,
                 region: str | None = None, price_per_gpu_hour: QuantityLike | None = None,
                 price_kind: str = "on_demand", cost_basis: str = "cloud", disaggregate: bool = False,
                 profile_path: ProfilePath | None = None, calibration: Any = None) -> ServingPlan:
    """The cheapest deployment that serves ``rate`` requests within p99 latency targets.

    Parameters
    ----------
    model : str or ModelSpec
        A catalog id (``"llama-2-70b"``) or a spec.
    hardware : str or list of str
        Device types to compare (``"h100"``, ``["h100", "l40s"]`` or ``"h100,l40s"``).
    rate : Quantity [1/s]
        Total Poisson request rate (``"12/s"``, ``"720/min"``, or a float in 1/s).
    prompt_tokens, output_tokens : int [token]
        Tokens in and out per request.
    ttft_p99, tpot_p99 : Quantity [time], optional
        p99 targets (``"1 s"``, ``"50 ms"``, or float seconds). None given: any rate a replica
        sustains (utilisation up to 1). :data:`INTERACTIVE_SLA` holds the interactive targets
        (p99 TTFT 1 s, TPOT 50 ms): ``plan_serving(..., **INTERACTIVE_SLA)``.
    dtype, engine : str, optional
        Pin the serving format or runtime (default: search ``bf16``, ``fp8``, ``w8a16``,
        ``w4a16`` where the device has them; the device class's usual runtime).
    max_devices : int
        Most devices in one replica (default 64); replicas are not limited.
    region, price_per_gpu_hour, price_kind, cost_basis : optional
        As in :func:`costmodel.estimate_inference`; a device without a price is ranked by its
        device count, after those with one.
    disaggregate : bool
        Also search prefill/decode disaggregation (:mod:`costmodel.planning.disaggregated`): a
        prefill pool and a decode pool of the same device and precision, sized apart, the
        prompt's KV cache sent between them over the network (its time part of TTFT). It is
        ``best`` only where it costs less than every colocated deployment that meets the
        targets; ``best.deployment`` and the notes say which was chosen.

    Returns
    -------
    ServingPlan
        ``best`` (replicas, devices per replica, batch limit, precision, engine, p99s, costs per
        million input and output tokens, headroom; disaggregated: ``best.prefill`` the prefill
        pool and ``best.kv_transfer``), ``estimate`` (one replica of it at ``rate / replicas``;
        disaggregated: a decode replica estimated as if it also prefilled), ``runners_up`` and
        ``by_hardware``; ``to_dict()`` for JSON.

    Raises
    ------
    InputError
        When no candidate meets the targets (saying the best p99 TTFT and TPOT achievable, and
        on what), or nothing fits in ``max_devices`` devices.

    Examples
    --------
    >>> plan = plan_serving("llama-2-7b", hardware="h100", rate="12/s", prompt_tokens=512, output_tokens=256,
    ...                     ttft_p99="1 s", tpot_p99="50 ms")
    >>> plan.best.replicas, plan.best.tpot_p99.to("ms").magnitude <= 50
    (1, True)
    """
    lam = _parse_rate(rate)
    targets = _targets(ttft_p99, tpot_p99)
    most = int(parse_whole(max_devices, "max_devices", limit=1e6))
    r = resolve_request(prompt_tokens=prompt_tokens, output_tokens=output_tokens)
    tokens = (float(r.prompt), float(r.output))
    cal = resolve_calibration(calibration)
    footprint = {"region": region, "price_per_gpu_hour": price_per_gpu_hour, "price_kind": price_kind,
                 "cost_basis": cost_basis, "profile_path": profile_path}
    notes: list[str] = []
    profiles = _profiles(hardware, profile_path)
    groups = _groups(model, profiles, dtype, engine, tokens, lam, targets, most, footprint, cal, notes)
    name = str(getattr(model, "id", model))
    if not groups:
        raise InputError(f"{name} does not fit in {most} devices per replica of "
                         f"{', '.join(p.id for p in profiles)}; raise {{max_devices=}}", argument="max_devices")
    ranked = _ranked(groups, targets)
    split = _disaggregated(groups, lam, targets, tokens) if disaggregate else None
    if not ranked and split is None:
        raise _impossible(groups, targets, most, name)
    options = _distinct(ranked, lam)
    chosen = split is not None and (not options or _cheaper(split, options[0]))
    if disaggregate:
        notes.append(_choice_note(split, options[0] if options else None, chosen))
    if chosen:
        assert split is not None
        options = [split, *options]
    best = options[0]
    by_hardware = tuple(next(o for o in options if o.hardware == p) for p in dict.fromkeys(o.hardware for o in options))
    if any(o.cost_per_hour is None for o in by_hardware):
        notes.append("devices without a price are ranked by device count after those with one; pass "
                     "price_per_gpu_hour= to price them")
    return ServingPlan(model=name, best=best, estimate=_estimate(model, best, lam, tokens, footprint, cal),
                       runners_up=tuple(options[1:1 + RUNNERS_UP]), by_hardware=by_hardware,
                       rate=quantity(lam, "1/s"),
                       ttft_p99=None if "ttft_p99" not in targets else quantity(targets["ttft_p99"] * 1e3, "ms"),
                       tpot_p99=None if "tpot_p99" not in targets else quantity(targets["tpot_p99"] * 1e3, "ms"),
                       prompt_tokens=int(tokens[0]), output_tokens=int(tokens[1]),
                       candidates=sum(len(g.n) for g in groups), notes=tuple(notes),
                       assumptions=_assumptions(best, disaggregate))


def _estimate(model: Any, best: ServingOption, rate: float, tokens: tuple[float, float], footprint: dict[str, Any],
              cal: Any) -> InferenceEstimate:
    from ..inference_estimate import estimate_inference

    profile = get_hardware(best.hardware, profile_path=footprint["profile_path"])
    return estimate_inference(model, hardware=profile, n_gpus=best.devices_per_replica, pp=best.pipeline,
                              tp=best.tensor_parallel, ep=best.expert_parallel, prompt_tokens=int(tokens[0]),
                              output_tokens=int(tokens[1]), batch_size=best.batch_limit, dtype=best.dtype,
                              engine=best.engine, rate=rate / best.replicas, calibration=cal, **footprint)


def _disaggregated(groups: list[_Rows], rate: float, targets: dict[str, float],
                   tokens: tuple[float, float]) -> ServingOption | None:
    """The cheapest disaggregated deployment over every (device, precision), or None."""
    found = [_split_option(s, rate, tokens) for s in (cheapest_split(g, rate, targets, tokens) for g in groups)
             if s is not None]
    return min(found, key=_rank_key, default=None)


def _rank_key(o: ServingOption) -> tuple[float, float]:
    return (math.inf if o.cost_per_hour is None else float(o.cost_per_hour.magnitude), float(o.devices))


def _cheaper(a: ServingOption, b: ServingOption) -> bool:
    return _rank_key(a) < _rank_key(b)


def _choice_note(split: ServingOption | None, colocated: ServingOption | None, chosen: bool) -> str:
    cost = lambda o: (f"{o.devices} devices" + ("" if o.cost_per_hour is None else  # noqa: E731
                                               f", {float(o.cost_per_hour.to('USD/h').magnitude):,.2f} USD/h"))
    if split is None:
        return "disaggregated prefill/decode: no split deployment meets the targets; colocated chosen"
    if colocated is None:
        return f"disaggregated prefill/decode chosen ({cost(split)}): no colocated deployment meets the targets"
    which = "disaggregated prefill/decode chosen" if chosen else "colocated chosen"
    return f"{which}: disaggregated {cost(split)} against colocated {cost(colocated)}"


def _split_option(s: Split, rate: float, tokens: tuple[float, float]) -> ServingOption:
    """The decode pool as an option, its prefill pool as ``prefill``, with both pools' prices."""
    g, i, j = s.rows, s.prefill, s.decode
    per_device = s.per_hour / max(s.devices, 1)  # USD per device-hour (NaN without a price)
    hourly_in, hourly_out = rate * tokens[0] * 3600.0 / 1e6, rate * max(tokens[1], 1.0) * 3600.0 / 1e6  # M tokens/h
    prefill_devices, decode_devices = s.prefill_replicas * int(g.n[i]), s.decode_replicas * int(g.n[j])
    # energy per hour [kWh]: the decode pool at its colocated row's per device-hour, the prefill pool at TDP
    decode_kwh = float(g.energy_pm[j]) * hourly_out / max(float(g.replicas[j] * g.n[j]), 1.0) * decode_devices
    prefill_kwh = rate * s.prefill_s * int(g.n[i]) * float(g.case.hardware.tdp) / 1e3
    money = lambda x, unit: None if not math.isfinite(x) else quantity(x, unit)  # noqa: E731
    prefill_headroom = s.prefill_replicas / max(rate * s.prefill_s, 1e-300) - 1.0
    pool = replace(_option(g, i, rate), replicas=s.prefill_replicas, batch_limit=1,
                   sustainable_rate=quantity(1.0 / s.prefill_s, "1/s"), headroom=prefill_headroom,
                   ttft_p99=quantity(s.prefill_p99 * 1e3, "ms"), tpot_p99=quantity(0.0, "ms"),
                   latency_p99=quantity(s.prefill_p99 * 1e3, "ms"),
                   cost_per_hour=money(per_device * prefill_devices, "usd_rate"),
                   cost_per_million_input_tokens=money(per_device * prefill_devices / hourly_in, "usd"),
                   cost_per_million_output_tokens=None,
                   energy_per_million_output_tokens=quantity(prefill_kwh / hourly_out, "kWh"))
    decode_headroom = s.decode_replicas * s.decode_sustainable / rate - 1.0
    return replace(_option(g, j, rate), replicas=s.decode_replicas, sustainable_rate=quantity(s.decode_sustainable, "1/s"),
                   headroom=min(prefill_headroom, decode_headroom), ttft_p99=quantity(s.ttft_p99 * 1e3, "ms"),
                   tpot_p99=quantity(s.tpot_p99 * 1e3, "ms"), latency_p99=quantity(s.latency_p99 * 1e3, "ms"),
                   cost_per_hour=money(s.per_hour, "usd_rate"),
                   cost_per_million_input_tokens=money(per_device * prefill_devices / hourly_in, "usd"),
                   cost_per_million_output_tokens=money(per_device * decode_devices / hourly_out, "usd"),
                   energy_per_million_output_tokens=quantity((decode_kwh + prefill_kwh) / hourly_out, "kWh"),
                   prefill=pool, kv_transfer=quantity(s.transfer_s * 1e3, "ms"))


def _assumptions(best: ServingOption, disaggregate: bool = False) -> dict[str, str]:
    split = {"disaggregation": "a prefill pool (one prompt at a time per replica, an M/D/c queue) and a decode pool "
                               "(decode steps only) of one device and precision, the KV cache between them over "
                               "the network; p99 TTFT = the prefill pool's p99 + the transfer + the decode pool's "
                               f"p99 TTFT (an upper bound); chosen: {best.deployment}"} if disaggregate else {}
    return {**split,
        "traffic": "Poisson arrivals split evenly over the replicas; p99s from the analytic queue model of "
                   "costmodel.traffic at each replica's share of the rate",
        "layout": "tensor parallelism inside a node; a replica over several nodes is either tensor parallel over all "
                  "its devices (all-reduces on each device's share of the scale-out network) or a node's worth of "
                  "tensor parallelism per pipeline stage (point-to-point sends between stages, as many "
                  "micro-batches in flight as stages), whichever is cheaper" + (f": {best.layout}" if best.nodes > 1 else ""),
        "experts": ("a mixture of experts is searched with its routed experts split, whole, over the stage's "
                    "devices (tokens dispatched and combined by all-to-all where that beats reducing over every "
                    "device) and with data-parallel attention"
                    + (f"; chosen: {best.layout}" if best.expert_parallel > 1 or best.attention_groups > 1 else
                       "; chosen: every expert split over the devices as the dense weights are")),
        "cost": "device-hours of every replica, running all the time, over the requests served",
    }
