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
from ..results.base import check_finite, pick_record
from ..results.inference import BOUNDS, COLUMNS, CULPRITS, MAY_BE_MISSING, OUTPUTS, bound_codes
from .grid import Combos, Grid, Table, check_keywords, chunked, labels, per_row, result_frame

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


def _phase(c: PhaseConstants, ranges: bool) -> PhaseConstants:
    shaped = {k: (getattr(c, k)[:, None] if ranges else float(getattr(c, k)[0])) for k in PhaseConstants.__slots__}
    return PhaseConstants(**shaped)


@dataclass(frozen=True)
class Plan:
    """A serving grid with every distinct value resolved once; any slice of its rows can then
    be laid out and evaluated (:meth:`frame`), in memory or streamed."""

    grid: Grid
    ranges: bool
    calibration: Calibration
    serving: Combos
    footprints: Combos
    request: dict
    tables: dict  # the resolved records as per-combination arrays: "model", "hardware", "footprint"

    @property
    def rows(self) -> int:
        return self.grid.rows

    def frame(self, start: int = 0, stop: int | None = None, progress=None):
        """The DataFrame of rows ``start:stop``."""
        import pandas as pd

        stop = self.rows if stop is None else stop
        index, rows = self.grid.index(start, stop), stop - start
        srow, frow = self.serving.rows(index), self.footprints.rows(index)
        serving = self.serving.results
        request = check_request(Request(**{name: per_row(self.request[key], index, key)
                                           for key, (name, _, _) in REQUEST_PARSERS.items()}))
        phases = serving_scenarios(self.calibration.serving)
        case = ServingCase(model=self.tables["model"].rows(srow), hardware=self.tables["hardware"].rows(srow),
                           request=request, footprint=self.tables["footprint"].rows(frow),
                           prefill=_phase(phases["prefill"], self.ranges), decode=_phase(phases["decode"], self.ranges))
        check_layout(case.model, case.request)
        v = chunked(evaluate, case, rows, progress)
        typical = pick_record(v, "typical", 1) if self.ranges else v
        check_finite(OUTPUTS, case, typical, MAY_BE_MISSING, CULPRITS, "prompt_tokens")
        cols = {"model": labels([s[0] for s in serving], srow, rows), "hardware": labels([s[1] for s in serving], srow, rows),
                "dtype": labels([s[2][0] for s in serving], srow, rows),
                "kv_dtype": labels([s[2][1] for s in serving], srow, rows),
                "engine": labels([s[2][2] for s in serving], srow, rows)}
        bounds = {key: pd.Categorical.from_codes(np.broadcast_to(codes, (rows,)), categories=list(BOUNDS))
                  for key, codes in zip(("bound_prefill", "bound_decode"), bound_codes(typical.timings))}
        return result_frame(cols, bounds, COLUMNS, OUTPUTS, self.grid, index, case, v, rows, self.ranges)


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
    tables = {"model": Table.of([s[3] for s in serving.results]), "hardware": Table.of([s[4] for s in serving.results]),
              "footprint": Table.of(footprints.results, scenarios=ranges)}
    return Plan(grid=grid, ranges=ranges, calibration=calibration, serving=serving, footprints=footprints,
                request=request, tables=tables)
