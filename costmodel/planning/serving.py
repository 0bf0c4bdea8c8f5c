"""Plan a serving deployment: :func:`plan_serving`, the cheapest replicas that carry a request
rate within p99 latency targets.

The search space, per device type: the serving precision (the device's 16-bit format, ``fp8``,
``w8a16``, ``w4a16`` where it computes in them; ``dtype=`` pins one), the devices of a replica
(tensor parallelism over 1, 2, 4, 8 ... devices of a node, then whole nodes), and the limit on
requests in flight (1, 2, 4 ... 1024, or what fits). Each (precision, layout, limit) is one row
of arrays run through the serving pipeline (:func:`costmodel.serving_pipeline.evaluate`, as
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
``tp`` and ``ep``). The candidates are built in :mod:`costmodel.planning.replicas`; with
``disaggregate=True`` prefill/decode pools are searched too (:mod:`costmodel.planning.disaggregated`).
Not modelled: speculative decoding and autoscaling (the replicas run all the time).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..calibration import resolve_calibration
from ..errors import InputError
from ..hardware import HardwareProfile, ProfilePath, get_hardware
from ..inference_estimate import INTERACTIVE_SLA as _SLA
from ..inference_estimate import resolve_request
from ..listing import entries, flag, one_value_keywords
from ..results.inference import InferenceEstimate
from ..units import CountLike, QuantityLike, parse_quantity, parse_whole, quantity
from .disaggregated import Split, cheapest_split
from .replicas import LIMITS, CandidateRows, fit_replicas, option_of, priced, replica_counts, sustainable_rates
from .serving_options import ServingOption, ServingPlan

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
DEFAULT_MAX_DEVICES = 64  # devices in one replica: eight nodes of eight
RUNNERS_UP = 4



def _parse_rate(rate: QuantityLike) -> float:
    return parse_quantity(rate, "rate", "rate")


def _targets(ttft_p99: QuantityLike | None, tpot_p99: QuantityLike | None) -> dict[str, float]:
    """The p99 targets in seconds (a bare number is seconds)."""
    given = {"ttft_p99": ttft_p99, "tpot_p99": tpot_p99}
    return {k: parse_quantity(v, "time", k) for k, v in given.items() if v is not None}


def _profiles(hardware: str | HardwareProfile | Iterable[str | HardwareProfile],
              profile_path: ProfilePath | None) -> list[HardwareProfile]:
    names = entries(hardware, "hardware", what="hardware", example="profile ids such as ['h100', 'l40s']",
                    single=(HardwareProfile,))
    return list({p.id: p for p in (get_hardware(n, profile_path=profile_path) for n in names)}.values())


def _groups(model: Any, profiles: list[HardwareProfile], dtype: str | None, engine: str | None,
            tokens: tuple[float, float], rate: float, targets: dict[str, float], most: int,
            footprint: dict[str, Any], cal: Any, notes: list[str]) -> list[CandidateRows]:
    """Every (device, precision) that runs the model, priced; precisions that do not fit are noted."""
    out = []
    for p in profiles:
        seen: set[str] = set()
        for d in (dtype,) if dtype is not None else DTYPES:
            try:
                g = fit_replicas(model, p, d, engine, tokens, most, footprint, cal)
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
    return [priced(g, x, rate) for g, x in zip(out, sustainable_rates(out, targets))] if out else []


def _meets(g: CandidateRows, targets: dict[str, float]) -> np.ndarray:
    ok = np.isfinite(g.replicas)
    for k, i in (("ttft_p99", 0), ("tpot_p99", 1)):
        if k in targets:
            ok = ok & (g.p99[i] <= targets[k] * (1 + 1e-9))
    return ok


def _ranked(groups: list[CandidateRows], targets: dict[str, float]) -> list[tuple[CandidateRows, int]]:
    """Candidates that meet the targets, cheapest first (then fewest devices, most headroom)."""
    rows = [(g, int(i)) for g in groups for i in np.flatnonzero(_meets(g, targets))]
    key = lambda gi: (float(np.nan_to_num(gi[0].cost[gi[1]], nan=math.inf)),
                      float(gi[0].replicas[gi[1]] * gi[0].n[gi[1]]),
                      -float(gi[0].replicas[gi[1]] * gi[0].sustainable[gi[1]]), float(gi[0].p99[0][gi[1]]))
    return sorted(rows, key=key)


def _distinct(ranked: list[tuple[CandidateRows, int]], rate: float) -> list[ServingOption]:
    """The best candidate of each (device, precision, devices per replica), in order."""
    out, seen = [], set()
    for g, i in ranked:
        key = (g.profile.id, g.dtype, int(g.n[i]), int(g.pp[i]), int(g.tp[i]), int(g.ep[i]))
        if key not in seen:
            seen.add(key)
            out.append(option_of(g, i, rate))
    return out


def _impossible(groups: list[CandidateRows], targets: dict[str, float], most: int, model: Any) -> InputError:
    """What the targets ask that no candidate gives: the best p99s at light load, and on what."""
    def best(i: int) -> tuple[float, str]:
        # ties (on another device, precision or layout) go to the first: compared by position, not by record
        x, k, j = min((float(g.light[i][j]), k, int(j)) for k, g in enumerate(groups) for j in range(len(g.n)))
        g = groups[k]
        return x, f"{int(g.n[j])} x {g.profile.id} at {g.dtype}, batch limit {int(g.limit[j])}"
    (ttft, on_ttft), (tpot, on_tpot) = best(0), best(1)
    wanted = " and ".join(f"p99 {k[:4].upper()} {v * 1e3:.4g} ms" for k, v in targets.items())
    argument = "ttft_p99" if "ttft_p99" in targets and ttft > targets["ttft_p99"] else \
        "tpot_p99" if "tpot_p99" in targets and tpot > targets["tpot_p99"] else "ttft_p99"
    return InputError(f"no deployment of {model} meets {wanted} with up to {most} devices per replica; the best "
                      f"achievable is p99 TTFT {ttft * 1e3:.4g} ms ({on_ttft}) and p99 TPOT {tpot * 1e3:.4g} ms "
                      f"({on_tpot})", argument=argument)


@one_value_keywords("hardware", "profile_path")
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
    disaggregate = flag(disaggregate, "disaggregate")
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


def _disaggregated(groups: list[CandidateRows], rate: float, targets: dict[str, float],
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
    # no prompt (output) tokens: none to price or measure per token, as for a colocated replica
    input_cost = money(per_device * prefill_devices / hourly_in, "usd") if hourly_in > 0 else None
    per_output = (lambda x, unit: money(x / hourly_out, unit)) if tokens[1] > 0 else (lambda x, unit: None)
    prefill_headroom = s.prefill_replicas / max(rate * s.prefill_s, 1e-300) - 1.0
    pool = replace(option_of(g, i, rate), replicas=s.prefill_replicas, batch_limit=1,
                   sustainable_rate=quantity(1.0 / s.prefill_s, "1/s"), headroom=prefill_headroom,
                   ttft_p99=quantity(s.prefill_p99 * 1e3, "ms"), tpot_p99=quantity(0.0, "ms"),
                   latency_p99=quantity(s.prefill_p99 * 1e3, "ms"),
                   cost_per_hour=money(per_device * prefill_devices, "usd_rate"),
                   cost_per_million_input_tokens=input_cost,
                   cost_per_million_output_tokens=None,
                   energy_per_million_output_tokens=per_output(prefill_kwh, "kWh"))
    decode_headroom = s.decode_replicas * s.decode_sustainable / rate - 1.0
    return replace(option_of(g, j, rate), replicas=s.decode_replicas, sustainable_rate=quantity(s.decode_sustainable, "1/s"),
                   headroom=min(prefill_headroom, decode_headroom), ttft_p99=quantity(s.ttft_p99 * 1e3, "ms"),
                   tpot_p99=quantity(s.tpot_p99 * 1e3, "ms"), latency_p99=quantity(s.latency_p99 * 1e3, "ms"),
                   cost_per_hour=money(s.per_hour, "usd_rate"),
                   cost_per_million_input_tokens=input_cost,
                   cost_per_million_output_tokens=per_output(per_device * decode_devices, "usd"),
                   energy_per_million_output_tokens=per_output(decode_kwh + prefill_kwh, "kWh"),
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
