"""The serving pipeline over one case: timings, memory and per-request footprint.

:func:`evaluate` takes a :class:`~costmodel.serving_load.ServingCase` (floats for one estimate,
arrays for a sweep, or the three scenarios of a range) and gives its
:class:`~costmodel.serving_load.ServingValues`: the memory fit (:func:`costmodel.inference.capacity_report`),
the requests in flight under the runtime's and memory's limits and the wait of the others, the
request's timings (:func:`costmodel.serving_timings.timings`), throughput, and energy, carbon and
cost (:func:`costmodel.energy.footprint_values`); a case under traffic goes to
:func:`costmodel.serving_load.under_load`. :func:`typical` picks a case's typical scenario.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from . import inference as core
from .elementwise import any_true, maximum, minimum, where
from .energy import footprint_values
from .inference import PhaseConstants, Request
from .memo import memoise
from .serving_inputs import CACHE_MAX
from .serving_load import ServingCase, ServingValues, split_by_phase, under_load
from .serving_timings import Timings, at_speed, runtime_slots, slot_wait, timings
from .units import FloatArray

__all__ = ["evaluate", "typical", "typical_scenario"]

def evaluate(case: ServingCase) -> ServingValues:
    """Timings, memory and per-request footprint (floats or arrays in, the same out).

    Under continuous batching ``batch_size`` requests are in flight when they fit (the weights
    plus every request's KV cache in the devices' memory, and the runtime's limit on requests in
    flight); the rest wait for a free slot, as on a real server, and the wait is part of their
    TTFT and latency.
    """
    m, r, h = case.model, case.request, case.hardware
    output = where(m.autoregressive > 0, r.output, 0.0)
    r = replace(r, output=output, prompt=where(m.sequence > 0, m.sequence, r.prompt))
    groups = r.n / core.attention_tp(r)
    c = core.capacity_report(m, r.n * r.pp, r.batch, r.prompt, output, h.capacity, groups)
    if case.load is not None:
        return under_load(case, r, c)
    continuous = (r.continuous > 0) & (h.in_flight > 0) & (m.autoregressive > 0)
    slots = where(continuous, minimum(maximum(minimum(runtime_slots(h), c.max_batch), 1.0),
                                      r.batch), r.batch)
    queued = bool(any_true(slots < r.batch))
    if queued:  # memory and timings of the requests in flight; the others wait
        c = replace(core.capacity_report(m, r.n * r.pp, slots, r.prompt, output, h.capacity, groups),
                    max_batch=c.max_batch)
    running = replace(r, batch=slots) if queued else r
    joined = _throughput_scenarios(case)
    if joined is None:  # the throughput at the request's own speeds (one scenario, or the same spread)
        t = timings(m, h, running, case.prefill, case.decode)
        generating_latency = t.latency
    else:  # its ends as two more scenarios of the same pass
        both = timings(m, h, running, *joined)
        t, generating_latency = _split_scenarios(both, np.ndim(joined[1].speed))
    busy_latency = t.latency
    if queued:
        wait = where(slots < r.batch, slot_wait(r.batch, slots, t.latency), 0.0)
        t = replace(t, ttft=t.ttft + wait, latency=t.latency + wait, wait_s=wait)
    fp = footprint_values(case.footprint, h.tdp, t.busy, r.n * r.pp / slots, busy_latency)
    if type(output) is float and type(slots) is float and type(generating_latency) is float and generating_latency != 0.0:
        throughput = slots * output / generating_latency if output > 0 else math.nan  # one estimate: plain floats
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            throughput = where(output > 0, np.divide(slots * output, generating_latency), np.nan)  # none without output
    return ServingValues(timings=t, capacity=c, output=output, prompt=r.prompt, throughput=throughput,
                         samples_per_s=slots / busy_latency, footprint=fp, in_flight=slots, **split_by_phase(t, fp))


def _throughput_scenarios(case: ServingCase) -> tuple[PhaseConstants, PhaseConstants] | None:
    """The phases' constants with two scenarios more, or None where the throughput needs none.

    A batch's throughput is taken from its busy latency: the request's own in the typical
    scenario; at the ends, the request's timings with both phases at the throughput's own
    spread (the decode's ``throughput_speed``: its leave-one-source-out errors differ from
    TPOT's, since a saturated batch's steps are bound by other costs than one request's). Those
    ends join the scenario axis as its 4th and 5th entries (each field as :func:`at_speed` makes
    it), so that one pass of :func:`timings` gives both; the typical scenario is the same in both."""
    speed = case.decode.throughput_speed
    if type(speed) is float and type(case.decode.speed) is float and type(case.prefill.speed) is float:
        if speed == case.decode.speed and speed == case.prefill.speed:  # one scenario: without numpy
            return None
    elif np.all(np.equal(speed, case.decode.speed)) and np.all(np.equal(speed, case.prefill.speed)):
        return None
    return (_joined(case.prefill, at_speed(case.prefill, speed)),
            _joined(case.decode, at_speed(case.decode, speed)))


def _joined(own: PhaseConstants, ends: PhaseConstants) -> PhaseConstants:
    """``own``'s three scenarios and the two ends of ``ends`` on one leading axis (a field the
    same number in both stays a number)."""
    rank = max(np.ndim(getattr(own, k)) for k in PhaseConstants.__slots__)
    out = {}
    for k in PhaseConstants.__slots__:
        a, b = getattr(own, k), getattr(ends, k)
        if np.ndim(a) == 0 and np.ndim(b) == 0 and a == b:
            out[k] = a
        else:
            a, b = (np.broadcast_to(x, (3,) + (1,) * (rank - 1)) if np.ndim(x) < rank else x for x in (a, b))
            out[k] = np.concatenate([a, b[1:]])
    return PhaseConstants(**out)


def _split_scenarios(t: Timings, rank: int) -> tuple[Timings, FloatArray]:
    """The timings of the three scenarios of a pass over :func:`_throughput_scenarios`' five,
    and the busy latency of the throughput's (the typical scenario's, then the two ends)."""
    fields = {}
    for k in Timings.__slots__:
        x = getattr(t, k)
        fields[k] = x[:3] if np.ndim(x) == rank and np.shape(x)[0] == 5 else x
    latency = t.latency
    if np.ndim(latency) == rank and np.shape(latency)[0] == 5:
        latency = np.asarray(latency)[[0, 3, 4]]
    return Timings(**fields), latency


def typical(case: ServingCase) -> ServingCase:
    """The case at its typical scenario (the footprint inputs and phase constants' first)."""
    f, pre, dec = case.footprint, case.prefill, case.decode
    key = (id(f), id(pre), id(dec))
    held = _TYPICAL.get(key)
    if held is None or held[0] is not f or held[1] is not pre or held[2] is not dec:
        held = (f, pre, dec, typical_scenario(f), typical_scenario(pre), typical_scenario(dec))
        if len(_TYPICAL) >= CACHE_MAX:
            _TYPICAL.clear()
        _TYPICAL[key] = held
    return ServingCase(model=case.model, hardware=case.hardware, request=case.request, footprint=held[3],
                       prefill=held[4], decode=held[5], load=case.load)


# ids of (footprint, prefill, decode) -> those records and their typical scenarios (held here, so
# that their ids are not reused while kept)
_TYPICAL: dict[tuple[int, int, int], tuple[Any, ...]] = {}


@memoise
def typical_scenario(record: Any) -> Any:
    """The typical scenario (the first) of a record of (typical, optimistic, pessimistic) arrays."""
    return type(record)(**{k: float(getattr(record, k)[0]) for k in type(record).__slots__})
