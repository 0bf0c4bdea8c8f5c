"""The serving pipeline's records and one replica under traffic: a case (:class:`ServingCase`)
and its figures (:class:`ServingValues`), the load on a replica (:class:`Load`: a Poisson rate or
a closed loop), the queue model's service built from the pipeline's own steps
(:mod:`costmodel.traffic`) and the figures of a request under that load.

:mod:`costmodel.serving_case` resolves the inputs into these records and runs
:func:`~costmodel.serving_pipeline.evaluate`, which comes here when a case carries a load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import inference as core
from .elementwise import any_true, maximum, minimum, where
from .energy import FootprintInputs, FootprintValues, footprint_values
from .errors import InputError
from .inference import PhaseConstants, Request, ServingHardware, ServingModel
from .serving_timings import Timings, runtime_slots, timings
from .units import CountLike, FloatArray, QuantityLike, parse_quantity, parse_whole

__all__ = ["ServingCase", "ServingValues", "Load", "INTERACTIVE_SLA", "RATE_MIN", "resolve_traffic", "service_of",
           "service_from", "split_by_phase", "under_load"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingCase:
    """Everything the serving pipeline needs, with each phase's fitted constants."""

    model: ServingModel
    hardware: ServingHardware
    request: Request
    footprint: FootprintInputs
    prefill: PhaseConstants
    decode: PhaseConstants
    load: Load | None = None  # traffic (a rate or a closed loop); None: one batch as it stands


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """Traffic on one replica: Poisson arrivals at ``rate`` [1/s] or ``concurrency`` clients in a
    closed loop (the other 0), at most ``limit`` requests in flight (inf: what fits), and the
    spread of the request lengths, ``E[x^2] / E[x]^2`` (1: every request alike)."""

    rate: FloatArray = 0.0
    concurrency: FloatArray = 0.0
    limit: FloatArray = math.inf
    prompt_spread: FloatArray = 1.0
    output_spread: FloatArray = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingValues:
    """The pipeline's outputs per request (s, B, W, J, USD) as floats or arrays."""

    timings: Timings
    capacity: core.Capacity
    output: FloatArray  # output tokens generated (0 for models that do not generate)
    prompt: FloatArray  # input tokens per request (a ViT's patches, whatever the request said)
    throughput: FloatArray  # output tokens per second of the whole batch (NaN without output)
    samples_per_s: FloatArray  # requests (images, sequences, rows) completed per second
    footprint: FootprintValues
    in_flight: FloatArray = 1.0  # requests the devices hold at once (the batch, or what fits of it)
    traffic: Any = None  # costmodel.traffic.Traffic under a load, else None
    # a request's cost and energy split between its input (its prefill's share of the devices'
    # time) and its output (its share of the decode steps), each picked per scenario on its own
    input_cost: FloatArray = math.nan
    output_cost: FloatArray = math.nan
    input_energy_j: FloatArray = math.nan
    output_energy_j: FloatArray = math.nan


RATE_MIN = 1e-5  # requests per second: below it a replica serves a request a day and idles


def service_of(case: ServingCase, r: Request, c: core.Capacity):
    """How one replica serves requests under its load (:class:`costmodel.traffic.Service`), the
    timings it is built from and the memory of the requests in flight: each request prefilled
    alone and decoded in the running batch, whose step time is taken as linear in the requests
    in flight (through one and the limit's)."""
    m, h, load = case.model, case.hardware, case.load
    assert load is not None
    generating = m.autoregressive > 0
    slots = where(generating & (h.in_flight > 0),
                  maximum(1.0, minimum(minimum(load.limit, runtime_slots(h)), c.max_batch)), 1.0)
    c = replace(core.capacity_report(m, r.n * r.pp, slots, r.prompt, r.output, h.capacity, r.n / core.attention_tp(r)),
                max_batch=c.max_batch)
    t = timings(m, h, replace(r, batch=slots, continuous=1.0), case.prefill, case.decode)
    return service_from(t, m, r.output, slots, load.prompt_spread, load.output_spread), t, c


def service_from(t: Timings, m: ServingModel, output: FloatArray, slots: FloatArray,
                 prompt_spread: FloatArray = 1.0, output_spread: FloatArray = 1.0):
    """The :class:`costmodel.traffic.Service` of timings taken at ``slots`` requests in flight:
    the decode step linear in the requests in flight, through one's and the limit's."""
    from . import traffic as tr

    generating = m.autoregressive > 0
    per_seq = where(slots > 1, (t.step_s - t.step_one_s) / maximum(slots - 1.0, 1.0), 0.0)
    steps = where(generating, maximum(output, 1.0), 1.0)
    # a prefill as the queue sees it: its own steps, chunked within the runtime's token budget
    # (ceil(prompt / budget) steps, as the batch path charges it)
    fields = dict(prefill_s=t.prefill_s, prefill_s2=t.prefill_s ** 2 * prompt_spread,
                  step_fixed_s=where(generating, t.step_one_s - per_seq, 0.0),
                  step_per_seq_s=where(generating, per_seq, 0.0),
                  output=steps, output2=steps ** 2 * where(generating, output_spread, 1.0), batch_limit=slots)
    # as arrays, also for one configuration: the queue model's plain-float path (math.exp) can
    # differ from its array path (np.exp) in the last digit, and an estimate has always taken this one
    return tr.Service(**{k: np.asarray(v, dtype=float) for k, v in fields.items()})


def under_load(case: ServingCase, r: Request, c: core.Capacity) -> ServingValues:
    """The replica under traffic (:mod:`costmodel.traffic`): requests in flight up to the limit
    (what fits, the runtime's and the user's), each prefilled alone and decoded in the running
    batch; the service times come from the same steps as a single estimate."""
    from . import traffic as tr

    service, t, c = service_of(case, r, c)
    h, load = case.hardware, case.load
    assert load is not None
    closed = load.rate <= 0
    if np.all(closed):
        q = tr.closed_loop(service, load.concurrency)
    elif not any_true(closed):
        q = tr.open_loop(service, load.rate)
    else:  # a sweep mixing both: evaluate each where it applies
        a, b = tr.open_loop(service, where(closed, 1.0, load.rate)), tr.closed_loop(service, maximum(load.concurrency, 1.0))
        q = type(a)(**{k: where(closed, getattr(b, k), getattr(a, k)) for k in type(a).__slots__})
    t = replace(t, ttft=q.ttft_mean, tpot=where(t.generating, q.tpot_mean, 0.0), latency=q.latency_mean,
                wait_s=q.queue_s, busy=t.busy * q.utilisation)
    per_request = 1.0 / q.throughput  # seconds of the replica per completed request, idle time included
    fp = footprint_values(case.footprint, h.tdp, t.busy, r.n * r.pp, per_request)
    output = r.output
    with np.errstate(invalid="ignore", divide="ignore"):
        throughput = where(output > 0, q.throughput * output, np.nan)
    return ServingValues(timings=t, capacity=c, output=output, prompt=r.prompt, throughput=throughput,
                         samples_per_s=q.throughput, footprint=fp, in_flight=q.in_flight, traffic=q, **split_by_phase(t, fp))


def split_by_phase(t: Timings, fp: FootprintValues) -> dict[str, FloatArray]:
    """A request's cost and energy split between its input (its prefill's share of the devices'
    time) and its output."""
    share = t.input_share
    return {"input_cost": fp.cost * share, "output_cost": fp.cost * (1.0 - share),
            "input_energy_j": fp.energy_j * share, "output_energy_j": fp.energy_j * (1.0 - share)}


INTERACTIVE_SLA = {"ttft_p99": 1.0, "tpot_p99": 0.05}  # seconds: p99 TTFT 1 s, p99 TPOT 50 ms


def resolve_traffic(rate: QuantityLike | None, concurrency: CountLike | None) -> tuple[float, float] | None:
    """``(rate [1/s], concurrency)`` of the traffic asked for (one of them 0), or None."""
    if rate is not None and concurrency is not None:
        raise InputError("give a rate (open loop) or a concurrency (closed loop), not both", argument="concurrency")
    if rate is not None:
        value = parse_quantity(rate, "rate", "rate")
        if value < RATE_MIN:
            raise InputError(f"expected at least {RATE_MIN:g}/s (about one request a day), got {rate!r}",
                             argument="rate")
        return value, 0.0
    if concurrency is not None:
        return 0.0, float(parse_whole(concurrency, "concurrency", limit=1e6))
    return None
