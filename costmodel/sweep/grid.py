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
box by box into the final columns (:class:`Columns`): nothing of row size is held twice.
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
from ..results.base import Output, check_finite, pick
from ..units import FloatArray

__all__ = ["Grid", "Box", "Combos", "Lookup", "Table", "Columns", "check_memory", "per_row", "check_keywords",
           "scenario_axis", "fill_columns", "CHUNK"]

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


_FIRST_SHARE = 8  # a first box of at most 1/8 of the table is held apart until the columns' types are known


class Columns:
    """A sweep's output table, filled box by box: each column takes its final size once (its
    order and type set by the first box) and every box writes its part of it.

    In a table of many boxes the first box's values go to box-sized buffers; the second box
    then allocates the columns of each type as the rows of one block (:meth:`_settle`), so that
    the operating system maps the table's pages at once, in large pages where it can, rather
    than column by column (a fifth of the page faults of a 1e6-row sweep); only the first box,
    at most 1/8 of the rows, is copied twice. A column of the frame is then a view of its block
    (a column dropped from the frame keeps its block alive while the others live).
    """

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.data: dict[str, np.ndarray] = {}
        self.units: dict[str, str] = {}
        self.categories: dict[str, list] = {}
        self.order: dict = {}  # the columns in order (a column may take its place before its values)
        self.box: Box | None = None
        self.offset = 0
        self._first: dict[str, np.ndarray] | None = None  # the first box's values, until the columns exist
        self._first_offset = 0

    def at(self, box: Box, offset: int) -> None:
        """The box the next values belong to, ``offset`` rows into the table."""
        if self.box is not None:
            self._settle()
        elif box.size * _FIRST_SHARE <= self.rows:  # (a larger first box: a column at a time, as it comes)
            self._first, self._first_offset = {}, offset
        self.box, self.offset = box, offset

    def _settle(self) -> None:
        """Allocate the columns the first box wrote, one block per type, and move its values in."""
        first, self._first = self._first, None
        if not first:
            return
        by_type: dict[np.dtype, list[str]] = {}
        for key, part in first.items():
            by_type.setdefault(part.dtype, []).append(key)
        start, stop = self._first_offset, self._first_offset + len(next(iter(first.values())))
        for dtype, keys in by_type.items():
            block = np.empty((len(keys), self.rows), dtype=dtype)
            for key, column in zip(keys, block):
                column[start:stop] = first[key]
                self.data[key] = column

    def _part(self, key: str, dtype) -> np.ndarray:
        assert self.box is not None
        if self._first is not None:
            column = self._first.get(key)
            if column is None:
                column = self._first[key] = np.empty(self.box.size, dtype=dtype)
                self.order[key] = None
            return column.reshape(self.box.shape)
        column = self.data.get(key)
        if column is None:
            column = self.data[key] = np.empty(self.rows, dtype=dtype)
            self.order[key] = None
        return column[self.offset:self.offset + self.box.size].reshape(self.box.shape)

    def place(self, key: str) -> None:
        """Give column ``key`` its place now; its values come later."""
        self.order[key] = None

    def put(self, key: str, value, unit: str | None = None, dtype=None) -> None:
        """Write ``value`` (broadcasting to the box) into column ``key``, cast to ``dtype``; the
        column's ``unit`` goes into ``df.attrs["units"]`` (inputs have none there)."""
        if unit is not None:
            self.units.setdefault(key, unit)
        np.copyto(self._part(key, dtype or np.result_type(value)), value, casting="unsafe")

    def put_label(self, key: str, codes, categories: list) -> None:
        """Write the category numbers ``codes`` (-1: missing) into categorical column ``key``."""
        self.categories[key] = categories
        np.copyto(self._part(key, np.int8 if len(categories) < 127 else np.int32), codes, casting="unsafe")

    def frame(self):
        import pandas as pd

        self._settle()

        columns = {k: (pd.Categorical.from_codes(v, categories=self.categories[k]) if k in self.categories else v)
                   for k, v in ((k, self.data[k]) for k in self.order)}
        df = pd.DataFrame(columns, copy=False)
        df.attrs["units"] = dict(self.units)
        return df


def label_lookup(names: list, combos: Combos) -> tuple[Lookup, list]:
    """Per-combination labels as category numbers and their categories; None (no catalog id)
    is a missing value, not the label "None"."""
    categories = [n for n in dict.fromkeys(names) if n is not None]
    codes = np.array([-1 if n is None else categories.index(n) for n in names], dtype=np.intp)
    return Lookup.of(codes, combos), [str(c) for c in categories]


@dataclass(frozen=True)
class Inputs:
    """How each swept input is shown as a column: numbers as floats, anything else as labels."""

    order: list  # the swept keywords (more than one value), in the grid's order
    numeric: dict
    labels: dict

    @classmethod
    def of(cls, grid: Grid) -> Inputs:
        order = [key for key, vals in grid.values.items() if len(vals) > 1]
        numeric, labels = {}, {}
        for key in order:
            vals = grid.values[key]
            if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in vals):
                numeric[key] = np.array(vals, dtype=float)
            else:
                names = [str(v) for v in vals]
                categories = list(dict.fromkeys(names))
                labels[key] = (np.array([categories.index(n) for n in names], dtype=np.intp), categories)
        return cls(order, numeric, labels)


def check_keywords(inputs: dict, allowed, estimator: str) -> None:
    """Refuse a keyword the estimator does not take, with a did-you-mean."""
    for key in inputs:
        if key not in allowed:
            raise unknown(key, sorted(allowed), what=f"{estimator} keyword", command=f"help(costmodel.{estimator})")


def _bad(o: Output, value, allowed_nan: frozenset) -> bool:
    """Infinite, or NaN where NaN does not mean "not known" (one pass over the values)."""
    arr = np.asarray(value, dtype=float)
    return bool(np.isinf(arr).any()) if o.key in allowed_nan else not bool(np.isfinite(arr).all())


class _Picked:
    """One scenario of a record, field by field as they are read (:func:`pick` of each field
    once, nested records alike): an output table reads only some of a record's fields."""

    def __init__(self, record, which: str, row_ndim: int) -> None:
        self._record, self._which, self._row_ndim = record, which, row_ndim

    def __getattr__(self, name: str):
        value = getattr(self._record, name)
        value = (_Picked(value, self._which, self._row_ndim) if dataclasses.is_dataclass(value)
                 else pick(value, self._which, self._row_ndim))
        setattr(self, name, value)
        return value


def fill_columns(out: Columns, box: Box, labels_: dict, extra: dict, meta, outputs, inputs: Inputs, case, values,
                 ranges: bool, allowed_nan: frozenset) -> int | None:
    """Write one box's columns: the label columns (``key: (codes, categories)``), the per-row
    ``meta`` columns (key, function of case and typical values, dtype), any ``extra`` label
    columns, every other swept input as given, then the output table (with ``_low``/``_high``
    when ``ranges``). Returns the position in ``outputs`` of the first output that is not finite
    in this box (see :func:`raise_not_finite`), or None."""
    r = box.ndim
    picked = {end: _Picked(values, end, r) for end in (("typical", "low", "high") if ranges else ("typical",))}
    typical = picked["typical"]
    for key, (codes, categories) in labels_.items():
        out.put_label(key, codes, categories)
    for key, fn, dtype in meta:
        out.put(key, fn(case, typical), "token" if key.endswith("_tokens") else "", dtype)
    for key, (codes, categories) in extra.items():
        out.put_label(key, codes, categories)
    shown = {*labels_, *(key for key, _, _ in meta), *extra}
    computed = {o.key for o in outputs}
    for key in inputs.order:  # every other swept input, as given (an output of the same name in its place)
        if key in shown:
            continue
        if key in computed:
            out.place(key)
            continue
        if key in inputs.numeric:
            out.put(key, inputs.numeric[key][box.index[key]])
        else:
            codes, categories = inputs.labels[key]
            out.put_label(key, codes[box.index[key]], categories)
    bad = None
    for i, o in enumerate(outputs):
        value = o.value(case, typical)
        if bad is None and _bad(o, value, allowed_nan):
            bad = i
        out.put(o.key, value, o.unit)
        if ranges and o.ranged:
            for end in ("low", "high"):
                out.put(f"{o.key}_{end}", o.value(case, picked[end]), o.unit)
    return bad


def raise_not_finite(outputs, bad: int | None, culprits: dict, default: str) -> None:
    """Refuse the first output (``bad``, its position) that was not finite in some box, with
    the estimators' own message (:func:`costmodel.results.base.check_finite`)."""
    if bad is not None:
        o = outputs[bad]
        check_finite([Output(o.key, o.unit, lambda c, v: math.inf)], None, None, frozenset(), culprits, default)
