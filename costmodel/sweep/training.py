"""``sweep_training``: the resolvers and pipeline of :mod:`costmodel.training_estimate` over a grid."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from ..calibration import Calibration, mfu_scales, resolve_calibration
from ..energy import FOOTPRINT_KEYWORDS, resolve_footprint
from ..energy_range import combine_spreads
from ..errors import InputError
from ..hardware import get_hardware
from ..layout import LAYOUT_PARSERS, TrainingLayout, check_layout
from ..results.base import check_finite, pick_record
from ..results.training import COLUMNS, CULPRITS, MAY_BE_MISSING, OUTPUTS
from ..layout_search import CANDIDATES, choose_layout
from ..training_estimate import TrainingCase, estimate_training, evaluate, resolve_hardware
from ..workload import layout_heads, resolve_model
from .grid import CHUNK, Combos, Grid, Table, take_rows, check_keywords, chunked, labels, per_row, result_frame

MODEL_KEYS = ("model", "params", "active_params", "tokens", "samples", "seq_len", "method", "trainable_params",
              "lora_rank", "teacher")
HARDWARE_KEYS = ("hardware", "dtype", "profile_path")
FOOTPRINT_KEYS = ("hardware", "profile_path", *FOOTPRINT_KEYWORDS)
ALLOWED = set(inspect.signature(estimate_training).parameters)


def _model(**kw):
    spec, m, _ = resolve_model(kw.pop("model", None), **kw)
    return spec.id if spec else None, kw.get("method", "full"), m


def _hardware(**kw):
    hw, dt, h = resolve_hardware(kw["hardware"], kw.get("dtype"), kw.get("profile_path"))
    return hw.id, dt, h


def _footprint(**kw):
    hw = get_hardware(kw.pop("hardware"), profile_path=kw.pop("profile_path", None))
    return resolve_footprint(hw, **kw)[0]


@dataclass(frozen=True)
class Plan:
    """A training grid with every distinct value resolved once: any slice of its rows can then
    be laid out and evaluated (:meth:`frame`), in memory or streamed."""

    grid: Grid
    ranges: bool
    calibration: Calibration
    models: Combos
    hardware: Combos
    footprints: Combos
    layout: dict
    tables: dict  # the resolved records as per-combination arrays: "model", "hardware", "footprint"

    @property
    def rows(self) -> int:
        return self.grid.rows

    def frame(self, start: int = 0, stop: int | None = None, progress=None):
        """The DataFrame of rows ``start:stop``."""
        stop = self.rows if stop is None else stop
        index, rows = self.grid.index(start, stop), stop - start
        mrow, hrow, frow = (c.rows(index) for c in (self.models, self.hardware, self.footprints))
        model = self.tables["model"].rows(mrow)
        layout = check_layout(TrainingLayout(**{k: per_row(t, index, k) for k, t in self.layout.items()}),
                              layout_heads(model))
        hardware, footprint = self.tables["hardware"].rows(hrow), self.tables["footprint"].rows(frow)
        t = self.calibration.training
        if self.ranges:  # the energy range combines the hours' spread with the power inputs'
            footprint = combine_spreads(footprint, hardware.tdp, (t.resid_q10, t.resid_q90), ~np.isnan(layout.mfu))
        case = TrainingCase(model=model, hardware=hardware, layout=layout, footprint=footprint,
                            mfu_scale=mfu_scales(self.calibration.training)[:, None] if self.ranges else 1.0,
                            choice=self._choice(index, rows, model, hardware, layout))
        v = chunked(lambda block: evaluate(block, self.calibration.training), case, rows, progress)
        typical = pick_record(v, "typical", 1) if self.ranges else v
        check_finite(OUTPUTS, case, typical, MAY_BE_MISSING, CULPRITS, "tokens")
        names = [m[0] for m in self.models.results], [h[0] for h in self.hardware.results]
        cols = {"model": labels(names[0], mrow, rows), "hardware": labels(names[1], hrow, rows),
                "dtype": labels([h[1] for h in self.hardware.results], hrow, rows),
                "method": labels([m[1] for m in self.models.results], mrow, rows)}
        return result_frame(cols, {}, COLUMNS, OUTPUTS, self.grid, index, case, v, rows, self.ranges)


    def _choice(self, index: dict, rows: int, model, hardware, layout) -> np.ndarray:
        """The layout search once per distinct combination of the inputs it depends on (all but
        the tokens, the footprint's and MFU), as a (3, rows) array of (tp, pp, ZeRO stage)."""
        varying = [k for k, v in self.grid.values.items() if k not in CHOICE_FREE and len(v) > 1]
        if varying:
            codes = np.ravel_multi_index([index[k] for k in varying], [len(self.grid.values[k]) for k in varying])
            _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        else:
            first, inverse = np.zeros(1, dtype=np.intp), np.zeros(rows, dtype=np.intp)
        chosen = np.empty((3, first.size))
        step = max(CHUNK // len(CANDIDATES[0]), 1)  # the search has a candidate axis: smaller blocks
        for start in range(0, first.size, step):
            at = first[start:start + step]
            take = lambda record: take_rows(record, at, rows)  # noqa: E731
            block = choose_layout(take(model), take(hardware), take(layout), self.calibration.training)
            chosen[:, start:start + step] = [np.broadcast_to(c, at.shape) for c in block]
        return chosen[:, inverse]


# Inputs the layout choice does not depend on: the step time grows with the tokens in every
# term, and the footprint and a given MFU come after it
CHOICE_FREE = frozenset({"tokens", "samples", "mfu", "calibration", *FOOTPRINT_KEYWORDS})


def plan(inputs: dict, ranges: bool) -> Plan:
    """Check the keywords and resolve every distinct value of the grid once."""
    inputs = dict(inputs)
    check_keywords(inputs, ALLOWED, "estimate_training")
    for key, example in (("hardware", "['h100']"), ("n_gpus", "[8, 64]")):
        if key not in inputs:
            raise InputError(f"required, e.g. {key}={example}", argument=key)
    calibration = resolve_calibration(inputs.pop("calibration", None))
    grid = Grid.of(inputs)
    if None in grid.values["n_gpus"]:
        raise InputError("None is not a device count", argument="n_gpus")
    models, hardware = grid.resolve(MODEL_KEYS, _model), grid.resolve(HARDWARE_KEYS, _hardware)
    footprints = grid.resolve(FOOTPRINT_KEYS, _footprint)
    tables = {"model": Table.of([m for _, _, m in models.results]), "hardware": Table.of([h for _, _, h in hardware.results]),
              "footprint": Table.of(footprints.results, scenarios=ranges)}
    return Plan(grid=grid, ranges=ranges, calibration=calibration, models=models, hardware=hardware,
                footprints=footprints, tables=tables,
                layout={k: grid.parsed(k, parse, default) for k, (parse, default) in LAYOUT_PARSERS.items()})
