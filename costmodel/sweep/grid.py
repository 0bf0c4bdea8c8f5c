"""The grid machinery both sweeps share: lists of values, boxes of rows, records, columns.

A sweep is the cartesian product of its inputs, one axis per keyword, rows numbered in C order.
It calls an estimator's resolver once per distinct combination of the keywords it reads
(:meth:`Grid.resolve`), and lays the resolved records out as one array per field that depends
only on the axes the field varies along (:class:`Table`). The rows are then evaluated a box at a
time (:meth:`Grid.boxes`): a box is a block of consecutive rows shaped as an N-dimensional array,
one dimension per trailing keyword, so the estimator's own pipeline, broadcasting as numpy does,
computes every intermediate once per distinct combination of the inputs it depends on (the
memory of a layout once per layout, not once per token count) and only the figures that vary
along every axis at full size. Each element is the same IEEE operation on the same numbers as in
a one-row evaluation, so the values are exactly those of ``estimate_*``. The outputs are written
box by box into the final columns (:class:`costmodel.sweep.columns.Columns`): nothing of row size
is held twice.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
import math
import os
from typing import Any

import numpy as np

from ..errors import InputError, unknown
from ..units import FloatArray

__all__ = ["Grid", "Box", "Combos", "Lookup", "Table", "check_memory", "per_row", "check_keywords", "scenario_axis",
           "label_lookup", "CHUNK"]

# Peak per row of a 1e6-row sweep with ranges, with room: about 440 B training, 800 B inference
# (benchmarks/bench_sweep.py; the columns are written in place, so about the DataFrame's own size)
BYTES_PER_ROW = 1_000
CHUNK = 1 << 16  # rows per box: keeps the temporaries of a box in cache (2 MiB L2 here; 2**15 and 2**17 were slower)


def _values(value) -> list:
    if isinstance(value, (list, tuple, range)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if type(value).__name__ == "Series":
        return value.tolist()
    magnitude = getattr(value, "magnitude", None)
    if isinstance(magnitude, np.ndarray) and magnitude.ndim:  # a Quantity of several values: each one swept
        return [type(value)(m, value.units) for m in magnitude.tolist()]
    return [value]


@dataclass(frozen=True)
class Box:
    """Rows ``start:start + size`` of a grid as an array of ``shape``: the keywords before axis
    ``d`` fixed, a run of axis ``d``'s values, every later axis whole. ``index`` holds each
    keyword's value number as an integer array of ``len(shape)`` dimensions that broadcasts to
    ``shape`` (length 1 along every axis but its own)."""

    index: dict
    shape: tuple
    start: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class Grid:
    """The cartesian product of the inputs, without per-row arrays: rows are numbered, and a
    run of them is laid out as boxes of index arrays only when asked (:meth:`boxes`), so a grid
    of any size streams in bounded memory."""

    values: dict
    shape: tuple
    rows: int

    @classmethod
    def of(cls, inputs: dict) -> Grid:
        values = {k: _values(v) for k, v in inputs.items()}
        for key, vals in values.items():
            if not vals:
                raise InputError("the list of values is empty", argument=key)
        shape = tuple(len(v) for v in values.values())
        return cls(values, shape, math.prod(shape))

    def boxes(self, start: int = 0, stop: int | None = None, limit: int = CHUNK) -> list[Box]:
        """Rows ``start:stop`` as consecutive boxes of at most ``limit`` rows, in order, each
        as large as the alignment of its first row allows (the whole grid, when it fits)."""
        stop = self.rows if stop is None else stop
        shape = self.shape or (1,)
        keys = list(self.values) or [None]
        inner = [math.prod(shape[d + 1:]) for d in range(len(shape))]  # rows per value of axis d
        out, p = [], start
        while p < stop:
            d = next(d for d in range(len(shape))
                     if p % inner[d] == 0 and inner[d] <= limit and p + inner[d] <= stop)
            first = (p // inner[d]) % shape[d]
            n = min(max(limit // inner[d], 1), (stop - p) // inner[d], shape[d] - first)
            prefix = np.unravel_index(p // (inner[d] * shape[d]), shape[:d]) if d else ()
            r = len(shape) - d
            index = {}
            for i, key in enumerate(keys):
                if i < d:
                    index[key] = np.full((1,) * r, prefix[i], dtype=np.intp)
                elif i == d:
                    index[key] = np.arange(first, first + n, dtype=np.intp).reshape((n,) + (1,) * (r - 1))
                else:
                    index[key] = np.arange(shape[i], dtype=np.intp).reshape(
                        (1,) * (i - d) + (shape[i],) + (1,) * (len(shape) - i - 1))
            out.append(Box({k: v for k, v in index.items() if k is not None}, (n,) + tuple(shape[d + 1:]), p))
            p += n * inner[d]
        return out

    def flat(self, index: dict) -> np.ndarray:
        """The row numbers of a box's (or any broadcasting) index arrays."""
        strides = [math.prod(self.shape[i + 1:]) for i in range(len(self.shape))]
        start: Any = np.intp(0)  # a scalar start: numpy's stubs (before 1.25) type sum's start as an array
        return sum((index[k] * s for k, s in zip(self.values, strides)), start)

    def resolve(self, keys, resolve) -> Combos:
        """Call ``resolve(**combination)`` once per distinct combination of ``keys``."""
        present = [k for k in keys if k in self.values]
        varying = [k for k in present if len(self.values[k]) > 1]
        fixed = {k: self.values[k][0] for k in present if k not in varying}
        combos = itertools.product(*(self.values[k] for k in varying))
        results = [resolve(**fixed, **dict(zip(varying, combo))) for combo in combos]
        return Combos(results, varying, [len(self.values[k]) for k in varying])

    def parsed(self, key: str, parse, default) -> FloatArray:
        """Each distinct value of a numeric option parsed once (``default`` when not given)."""
        if key not in self.values:
            return np.float64(parse(default))
        return np.array([parse(v) for v in self.values[key]], dtype=float)


@dataclass(frozen=True)
class Combos:
    """The results of a resolver per distinct combination of the keywords it reads."""

    results: list
    varying: list
    sizes: list


@dataclass(frozen=True)
class Lookup:
    """One per-combination array indexed by only the keywords it varies with: ``table`` holds a
    value per combination of ``keys`` (with any trailing axes of the values after it)."""

    keys: tuple
    sizes: tuple
    table: np.ndarray

    @classmethod
    def of(cls, table: np.ndarray, combos: Combos) -> Lookup:
        """``table`` (one entry per combination of ``combos``, first axis) without the keywords
        it does not change with."""
        sizes = tuple(combos.sizes)
        grid = table.reshape(sizes + table.shape[1:])
        keys: list = []
        kept: list = []
        for key, size in zip(combos.varying, sizes):
            here = len(keys)  # this keyword's axis in ``grid`` once the dropped ones are gone
            first = grid[(slice(None),) * here + (slice(0, 1),)]
            if size > 1 and not np.array_equal(grid, np.broadcast_to(first, grid.shape), equal_nan=True):
                keys.append(key)
                kept.append(size)
            else:
                grid = first.reshape(grid.shape[:here] + grid.shape[here + 1:])
        return cls(tuple(keys), tuple(kept), grid.reshape((math.prod(kept),) + table.shape[1:]))

    def at(self, index: dict) -> np.ndarray:
        """The values at a box's index arrays (broadcasting like them)."""
        if not self.keys:
            return self.table[np.zeros((1,) * np.ndim(next(iter(index.values()), 0)), dtype=np.intp)]
        flat, stride = np.intp(0), 1
        for key, size in zip(reversed(self.keys), reversed(self.sizes)):
            flat = flat + index[key] * stride
            stride *= size
        return self.table[flat]


def check_memory(rows: int) -> None:
    """Refuse an in-memory grid that would not fit (a streamed one is bounded by its chunks)."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return
    need = rows * BYTES_PER_ROW
    if need > 0.5 * available:
        raise InputError(f"{rows:,} rows would need about {need / 2**30:,.1f} GiB, more than half of the "
                         f"{available / 2**30:.1f} GiB available; stream it (stream=True, chunk_rows=...), "
                         "reduce it (reduce=...) or split the grid", argument="sweep")


def per_row(table: FloatArray, index: dict, key: str) -> FloatArray:
    """A parsed option's value at a box's index arrays (a scalar when the option was not swept)."""
    return table[index[key]] if isinstance(table, np.ndarray) and table.ndim else table


def scenario_axis(x: FloatArray, ndim: int) -> FloatArray:
    """The (typical, optimistic, pessimistic) values ``x`` on a leading axis before ``ndim`` row axes."""
    return np.asarray(x).reshape((3,) + (1,) * ndim)


def _table(values: list, scenarios: bool) -> tuple[bool, FloatArray]:
    """Per-combination values of one field: ``(True, array)`` with combinations first (the
    scenario axis second when asked), or ``(False, value)`` when every combination agrees."""
    if np.ndim(values[0]) == 0:
        table = np.fromiter(values, dtype=float, count=len(values))
        if scenarios:
            table = np.repeat(table[:, None], 3, axis=1)
    else:
        table = np.array(values, dtype=float)
        if not scenarios:
            table = table[:, 0]
    if np.array_equal(table, np.broadcast_to(table[0], table.shape), equal_nan=True):
        return False, (table[0] if scenarios else float(table[0]))  # the same for every row
    return True, table


@dataclass(frozen=True)
class Table:
    """Per-combination records of one type laid out once as one :class:`Lookup` per field; a
    box then only indexes them (:meth:`rows`)."""

    cls: type
    columns: dict
    scenarios: bool

    @classmethod
    def of(cls, records: list, combos: Combos, scenarios: bool = False) -> Table:
        """Fields holding (typical, optimistic, pessimistic) arrays keep their scenario axis when
        ``scenarios`` is true, else their typical value."""
        kind = type(records[0])
        columns: dict[str, Any] = {}
        for f in dataclasses.fields(kind):
            varies, table = _table([getattr(r, f.name) for r in records], scenarios)
            columns[f.name] = Lookup.of(np.asarray(table), combos) if varies else table
        return cls(kind, columns, scenarios)

    def rows(self, box: Box):
        """The record of arrays at a box's rows (scenarios, where kept, on a leading axis)."""
        out: dict[str, Any] = {}
        for name, column in self.columns.items():
            if isinstance(column, Lookup):
                picked = column.at(box.index)
                out[name] = np.moveaxis(picked, -1, 0) if self.scenarios else picked
            else:
                out[name] = scenario_axis(column, box.ndim) if self.scenarios else column
        return self.cls(**out)


def label_lookup(names: list, combos: Combos) -> tuple[Lookup, list]:
    """Per-combination labels as category numbers and their categories; None (no catalog id)
    is a missing value, not the label "None"."""
    categories = [n for n in dict.fromkeys(names) if n is not None]
    codes = np.array([-1 if n is None else categories.index(n) for n in names], dtype=np.intp)
    return Lookup.of(codes, combos), [str(c) for c in categories]


def check_keywords(inputs: dict, allowed, estimator: str) -> None:
    """Refuse a keyword the estimator does not take, with a did-you-mean."""
    for key in inputs:
        if key not in allowed:
            raise unknown(key, sorted(allowed), what=f"{estimator} keyword", command=f"help(costmodel.{estimator})")
