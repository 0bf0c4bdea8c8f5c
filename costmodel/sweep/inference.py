"""``sweep_inference``: the resolvers and pipeline of :mod:`costmodel.inference_estimate` over a grid."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import numpy as np

from ..calibration import Calibration, resolve_calibration, serving_scenarios
from ..energy import FOOTPRINT_KEYWORDS, resolve_footprint
from ..errors import InputError
from ..hardware import get_hardware
from ..inference import PhaseConstants, Request
from ..inference_estimate import (
    REQUEST_PARSERS,
    ServingCase,
    check_layout,
    check_request,
    estimate_inference,
    evaluate,
    resolve_serving,
)
from ..results.base import pick_record
from ..results.inference import BOUNDS, COLUMNS, CULPRITS, MAY_BE_MISSING, OUTPUTS, bound_codes
from .columns import Columns, Inputs, fill_columns, raise_not_finite
from .grid import Box, Combos, Grid, Table, check_keywords, label_lookup, per_row, scenario_axis

SERVING_KEYS = ("model", "params", "active_params", "hardware", "dtype", "kv_dtype", "prune", "engine", "profile_path")
FOOTPRINT_KEYS = ("hardware", "profile_path", *FOOTPRINT_KEYWORDS)
# traffic (rate, concurrency, sampled lengths) is for single estimates and plan_serving
ALLOWED = set(inspect.signature(estimate_inference).parameters) - {"strict", "rate", "concurrency"}


def _serving(calibration, **kw):
    spec, hw, dtypes, m, h = resolve_serving(kw.pop("model", None), calibration=calibration, **kw)
    return spec.id if spec else None, hw.id, dtypes, m, h


def _footprint(**kw):
    hw = get_hardware(kw.pop("hardware"), profile_path=kw.pop("profile_path", None))
    return resolve_footprint(hw, **kw)[0]


def _phase(c: PhaseConstants, ranges: bool, ndim: int) -> PhaseConstants:
    """One phase's constants for a box: with ``ranges``, those that differ between the scenarios
    on a leading axis, the others (the roofline's fractions) as one number, so that what they
    alone feed (a step's roofline) is computed once, not once per scenario."""
    shaped = {}
    for k in PhaseConstants.__slots__:
        x = getattr(c, k)
        same = not ranges or bool(np.all(x == x[0]))
        shaped[k] = float(x[0]) if same else scenario_axis(x, ndim)
    return PhaseConstants(**shaped)


@dataclass(frozen=True)
class Plan:
    """A serving grid with every distinct value resolved once; any run of its rows can then
    be laid out and evaluated (:meth:`frame`), in memory or streamed."""

    grid: Grid
    ranges: bool
    calibration: Calibration
    serving: Combos
    footprints: Combos
    request: dict
    tables: dict  # the resolved records as per-combination arrays: "model", "hardware", "footprint"
    labels: dict  # column -> (Lookup of category numbers, categories)
    inputs: Inputs

    @property
    def rows(self) -> int:
        return self.grid.rows

    def _request(self, box: Box) -> Request:
        return Request(**{name: per_row(self.request[key], box.index, key)
                          for key, (name, _, _) in REQUEST_PARSERS.items()})

    def frame(self, start: int = 0, stop: int | None = None, progress=None):
        """The DataFrame of rows ``start:stop``."""
        stop = self.rows if stop is None else stop
        for box in self.grid.boxes(start, stop, limit=self.rows):  # the request checks, on the whole run at once
            check_request(self._request(box))
        phases = serving_scenarios(self.calibration.serving)
        out, bad = Columns(stop - start), None
        for box in self.grid.boxes(start, stop):
            case = ServingCase(model=self.tables["model"].rows(box), hardware=self.tables["hardware"].rows(box),
                               request=check_request(self._request(box)), footprint=self.tables["footprint"].rows(box),
                               prefill=_phase(phases["prefill"], self.ranges, box.ndim),
                               decode=_phase(phases["decode"], self.ranges, box.ndim))
            check_layout(case.model, case.request)
            v = evaluate(case)
            typical = pick_record(v, "typical", box.ndim) if self.ranges else v
            out.at(box, box.start - start)
            labels = {key: (lookup.at(box.index), categories) for key, (lookup, categories) in self.labels.items()}
            bounds = {key: (codes, list(BOUNDS))
                      for key, codes in zip(("bound_prefill", "bound_decode"), bound_codes(typical.timings))}
            first = fill_columns(out, box, labels, bounds, COLUMNS, OUTPUTS, self.inputs, case, v, self.ranges,
                                 MAY_BE_MISSING)
            bad = first if bad is None or (first is not None and first < bad) else bad
            if progress is not None:
                progress(box.start + box.size - start, stop - start)
        raise_not_finite(OUTPUTS, bad, CULPRITS, "prompt_tokens")
        return out.frame()


def plan(inputs: dict, ranges: bool) -> Plan:
    """Check the keywords and resolve every distinct value of the grid once."""
    inputs = dict(inputs)
    check_keywords(inputs, ALLOWED, "estimate_inference")
    for key in ("hardware", "prompt_tokens", "output_tokens"):
        if key not in inputs:
            raise InputError("required", argument=key)
    calibration = resolve_calibration(inputs.pop("calibration", None))
    grid = Grid.of(inputs)
    request = {key: grid.parsed(key, parse, default) for key, (_, parse, default) in REQUEST_PARSERS.items()}
    if np.min(request["prompt_tokens"]) + np.min(request["output_tokens"]) < 1:  # some row has neither
        raise InputError("a request needs at least one token in or out", argument="prompt_tokens")
    serving = grid.resolve(SERVING_KEYS, functools.partial(_serving, calibration))
    footprints = grid.resolve(FOOTPRINT_KEYS, _footprint)
    tables = {"model": Table.of([s[3] for s in serving.results], serving),
              "hardware": Table.of([s[4] for s in serving.results], serving),
              "footprint": Table.of(footprints.results, footprints, scenarios=ranges)}
    labels = {key: label_lookup([pick(s) for s in serving.results], serving)
              for key, pick in (("model", lambda s: s[0]), ("hardware", lambda s: s[1]), ("dtype", lambda s: s[2][0]),
                                ("kv_dtype", lambda s: s[2][1]), ("engine", lambda s: s[2][2]))}
    return Plan(grid=grid, ranges=ranges, calibration=calibration, serving=serving, footprints=footprints,
                request=request, tables=tables, labels=labels, inputs=Inputs.of(grid))
