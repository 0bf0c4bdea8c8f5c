"""``sweep_training``: the resolvers and pipeline of :mod:`costmodel.training_estimate` over a grid."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import numpy as np

from ..calibration import Calibration, mfu_scales, resolve_calibration
from ..energy import FOOTPRINT_KEYWORDS, resolve_footprint
from ..energy_range import combine_spreads
from ..errors import CostModelError, InputError
from ..hardware import get_hardware
from ..units import parse_count
from ..layout import LAYOUT_PARSERS, TrainingLayout, check_layout
from ..results.training import COLUMNS, CULPRITS, MAY_BE_MISSING, OUTPUTS
from ..layout_search import CANDIDATES, choose_layout
from ..training_estimate import TrainingCase, estimate_training, evaluate, resolve_hardware
from ..workload import layout_heads, resolve_model
from .columns import Columns, Inputs, fill_columns, raise_not_finite
from .grid import CHUNK, Box, Combos, Grid, Lookup, Table, check_keywords, label_lookup, per_row, scenario_axis

MODEL_KEYS = ("model", "params", "active_params", "tokens", "samples", "seq_len", "method", "trainable_params",
              "lora_rank", "teacher")
HARDWARE_KEYS = ("hardware", "dtype", "profile_path")
FOOTPRINT_KEYS = ("hardware", "profile_path", *FOOTPRINT_KEYWORDS)
ALLOWED = set(inspect.signature(estimate_training).parameters)


def _model(**kw):
    spec, m, _ = resolve_model(kw.pop("model", None), **kw)
    return spec.id if spec else None, kw.get("method", "full"), m


def _models(grid: Grid) -> tuple[Combos, Table]:
    """The model resolved once per combination of its keywords, and laid out as a table.

    A token count enters :func:`costmodel.workload.resolve_model` only as the ``tokens`` field
    and, by being non-zero, in the checks of fine-tuning and distillation; so where every swept
    count parses and is non-zero, the model is resolved once per combination of the other
    keywords (with the first count: each one would give the same record, or the same error)
    and the ``tokens`` field is the parsed counts. Otherwise every combination is resolved."""
    tokens = grid.values.get("tokens", [])
    if len(tokens) > 1:
        try:
            counts = [parse_count(t, "tokens") for t in tokens]
        except CostModelError:
            counts = [0.0]  # resolved in full below, which raises the same error where it did
        if all(counts):
            combos = grid.resolve([k for k in MODEL_KEYS if k != "tokens"],
                                  lambda **kw: _model(tokens=tokens[0], **kw))
            if all(np.isnan(m.forward_flops) for _, _, m in combos.results):
                table = Table.of([m for _, _, m in combos.results], combos)
                by_tokens = Lookup(("tokens",), (len(counts),), np.array(counts, dtype=float))
                return combos, Table(table.cls, {**table.columns, "tokens": by_tokens}, False)
    combos = grid.resolve(MODEL_KEYS, _model)
    return combos, Table.of([m for _, _, m in combos.results], combos)


def _hardware(**kw):
    hw, dt, h = resolve_hardware(kw["hardware"], kw.get("dtype"), kw.get("profile_path"))
    return hw.id, dt, h


def _footprint(**kw):
    hw = get_hardware(kw.pop("hardware"), profile_path=kw.pop("profile_path", None))
    return resolve_footprint(hw, **kw)[0]


@dataclass(frozen=True)
class Plan:
    """A training grid with every distinct value resolved once: any run of its rows can then
    be laid out and evaluated (:meth:`frame`), in memory or streamed."""

    grid: Grid
    ranges: bool
    calibration: Calibration
    models: Combos
    hardware: Combos
    footprints: Combos
    layout: dict
    tables: dict  # the resolved records as per-combination arrays: "model", "hardware", "footprint"
    labels: dict  # column -> (Lookup of category numbers, categories)
    inputs: Inputs
    choice_values: dict  # keyword -> :func:`_distinct` of its values, for the layout choice

    @property
    def rows(self) -> int:
        return self.grid.rows

    def _records(self, box: Box):
        model = self.tables["model"].rows(box)
        layout = TrainingLayout(**{k: per_row(t, box.index, k) for k, t in self.layout.items()})
        return model, self.tables["hardware"].rows(box), layout

    def frame(self, start: int = 0, stop: int | None = None, progress=None):
        """The DataFrame of rows ``start:stop``."""
        stop = self.rows if stop is None else stop
        for box in self.grid.boxes(start, stop, limit=self.rows):  # the layout checks, on the whole run at once
            model, _, layout = self._records(box)
            check_layout(layout, layout_heads(model))
        t = self.calibration.training
        out, bad, choices = Columns(stop - start), None, dict[tuple, np.ndarray]()
        for box in self.grid.boxes(start, stop):
            model, hardware, layout = self._records(box)
            footprint = self.tables["footprint"].rows(box)
            if self.ranges:  # the energy range combines the hours' spread with the power inputs'
                footprint = combine_spreads(footprint, hardware.tdp, (t.resid_q10, t.resid_q90), ~np.isnan(layout.mfu))
            case = TrainingCase(model=model, hardware=hardware, layout=layout, footprint=footprint,
                                mfu_scale=scenario_axis(mfu_scales(t), box.ndim) if self.ranges else 1.0,
                                choice=self._choice(box, choices))
            v = evaluate(case, t)
            out.at(box, box.start - start)
            labels = {key: (lookup.at(box.index), categories) for key, (lookup, categories) in self.labels.items()}
            first = fill_columns(out, box, labels, {}, COLUMNS, OUTPUTS, self.inputs, case, v, self.ranges,
                                 MAY_BE_MISSING)
            bad = first if bad is None or (first is not None and first < bad) else bad
            if progress is not None:
                progress(box.start + box.size - start, stop - start)
        raise_not_finite(OUTPUTS, bad, CULPRITS, "tokens")
        return out.frame()

    def _choice(self, box: Box, memo: dict) -> np.ndarray:
        """The layout search for a box, as a (3, ...) array of (tp, pp, ZeRO stage) broadcasting
        to it: run once per distinct combination of the values it depends on (all inputs but
        the tokens, the footprint's and MFU; a value listed twice is searched once), in smaller
        boxes (the search has a candidate axis)."""
        distinct, inverse = {}, {}
        for key, at in box.index.items():
            number = self.choice_values[key][0][at]  # each position's distinct value
            if self.choice_values[key][1].size == 1:
                distinct[key], inverse[key] = number.ravel()[:1], np.zeros((1,) * box.ndim, dtype=np.intp)
            else:
                distinct[key], inv = np.unique(number, return_inverse=True)
                inverse[key] = inv.reshape(at.shape)
        memo_key = tuple(tuple(d.tolist()) for d in distinct.values())
        if memo_key not in memo:
            cells = Grid.of({k: list(range(d.size)) for k, d in distinct.items()})
            chosen = np.empty((3, cells.rows))
            for sub in cells.boxes(0, cells.rows, max(CHUNK // len(CANDIDATES[0]), 1)):
                # each distinct value at the first position that holds it
                at = {k: self.choice_values[k][1][distinct[k][i]] for k, i in sub.index.items()}
                model, hardware, layout = self._records(Box(at, sub.shape, sub.start))
                block = choose_layout(model, hardware, layout, self.calibration.training)
                for j, c in enumerate(block):
                    chosen[j, sub.start:sub.start + sub.size].reshape(sub.shape)[...] = c
            memo[memo_key] = chosen.reshape((3,) + tuple(d.size for d in distinct.values()))
        return memo[memo_key][(slice(None),) + tuple(inverse.values())]


def _distinct(values: list, free: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each position's distinct-value number, and each distinct value's first position (all the
    same value where the layout choice does not depend on the keyword: its first)."""
    if free:
        return np.zeros(len(values), dtype=np.intp), np.zeros(1, dtype=np.intp)
    seen: dict = {}
    numbers = []
    for i, v in enumerate(values):
        try:
            numbers.append(seen.setdefault((type(v), v), len(seen)))
        except TypeError:  # unhashable: its own value
            numbers.append(seen.setdefault(("position", i), len(seen)))
    first: dict[int, int] = {}
    for i, n in enumerate(numbers):
        first.setdefault(n, i)
    return np.array(numbers, dtype=np.intp), np.array([first[n] for n in range(len(first))], dtype=np.intp)


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
    (models, model_table), hardware = _models(grid), grid.resolve(HARDWARE_KEYS, _hardware)
    footprints = grid.resolve(FOOTPRINT_KEYS, _footprint)
    tables = {"model": model_table,
              "hardware": Table.of([h for _, _, h in hardware.results], hardware),
              "footprint": Table.of(footprints.results, footprints, scenarios=ranges)}
    labels = {"model": label_lookup([m[0] for m in models.results], models),
              "hardware": label_lookup([h[0] for h in hardware.results], hardware),
              "dtype": label_lookup([h[1] for h in hardware.results], hardware),
              "method": label_lookup([m[1] for m in models.results], models)}
    return Plan(grid=grid, ranges=ranges, calibration=calibration, models=models, hardware=hardware,
                footprints=footprints, tables=tables, labels=labels, inputs=Inputs.of(grid),
                choice_values={k: _distinct(v, k in CHOICE_FREE) for k, v in grid.values.items()},
                layout={k: grid.parsed(k, parse, default) for k, (parse, default) in LAYOUT_PARSERS.items()})
