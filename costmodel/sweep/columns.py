"""A sweep's output table: the columns written box by box (:class:`Columns`), the swept inputs
shown as columns (:class:`Inputs`), and the checks that every output is finite.

The boxes and lookups the values come from are :mod:`costmodel.sweep.grid`'s; :func:`fill_columns`
writes one box's label, input and output columns, with ``_low``/``_high`` for a range.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import math

import numpy as np

from ..results.base import Output, check_finite, pick
from .grid import Box, Grid

__all__ = ["Columns", "Inputs", "fill_columns", "raise_not_finite"]


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
