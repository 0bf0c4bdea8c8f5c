"""The grid machinery both sweeps share: lists of values, per-row records, blocks, frames.

A sweep lays the cartesian product of its inputs out as index arrays (one per keyword), calls
an estimator's resolver once per distinct combination of the keywords it reads, and turns the
resolved records into one record of per-row arrays (:func:`stack`), which the estimator's own
pipeline evaluates in blocks of rows (:func:`chunked`).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
import math
import os

import numpy as np

from ..errors import InputError, unknown
from ..results.base import pick_record
from ..units import FloatArray

__all__ = ["Grid", "Combos", "Table", "check_memory", "per_row", "stack", "labels", "input_column", "chunked", "frame",
           "take_rows",
           "check_keywords", "output_columns"]

BYTES_PER_ROW = 1_000  # peak per row of a 1e6-row sweep with ranges: 760 B training, 940 B inference (benchmarks/bench_sweep.py)


def _values(value) -> list:
    if isinstance(value, (list, tuple, range)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if type(value).__name__ == "Series":
        return value.tolist()
    return [value]


@dataclass(frozen=True)
class Grid:
    """The cartesian product of the inputs, without per-row arrays: rows are numbered, and a
    slice of them is laid out as index arrays only when asked (:meth:`index`), so a grid of
    any size streams in bounded memory."""

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

    def index(self, start: int = 0, stop: int | None = None) -> dict:
        """Each keyword's value number for rows ``start:stop``."""
        flat = np.arange(start, self.rows if stop is None else stop)
        return dict(zip(self.values, np.unravel_index(flat, self.shape))) if self.shape else {}

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

    def rows(self, index: dict) -> np.ndarray:
        """Per row of ``index``, the number of its combination (length 1 when none varies)."""
        if not self.varying:
            return np.zeros(1, dtype=np.intp)
        if len(self.varying) == 1:
            return index[self.varying[0]]
        return np.ravel_multi_index([index[k] for k in self.varying], self.sizes)


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
    """A parsed option's value per row (a scalar when the option was not swept)."""
    return table[index[key]] if isinstance(table, np.ndarray) and table.ndim else table


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
        return False, (table[0][:, None] if scenarios else float(table[0]))  # the same for every row
    return True, table


@dataclass(frozen=True)
class Table:
    """Per-combination records of one type laid out as one array per field, once: each slice
    of rows then only indexes them (:meth:`rows`)."""

    cls: type
    columns: dict
    scenarios: bool

    @classmethod
    def of(cls, records: list, scenarios: bool = False) -> Table:
        """Fields holding (typical, optimistic, pessimistic) arrays keep their scenario axis when
        ``scenarios`` is true, else their typical value."""
        kind = type(records[0])
        return cls(kind, {f.name: _table([getattr(r, f.name) for r in records], scenarios)
                          for f in dataclasses.fields(kind)}, scenarios)

    def rows(self, row: np.ndarray):
        """The record of per-row arrays for the rows whose combinations are ``row``."""
        out = {}
        for name, (per_row, table) in self.columns.items():
            if per_row:
                picked = table[row]
                out[name] = picked.T if self.scenarios else picked
            else:
                out[name] = table
        return self.cls(**out)


def stack(records: list, row: np.ndarray, scenarios: bool = False):
    """One record of per-row arrays from per-combination records of the same type."""
    return Table.of(records, scenarios).rows(row)


def labels(names: list, row: np.ndarray, rows: int):
    """A categorical column of per-combination labels (cheap for a million rows); None (no
    catalog id) is a missing value, not the label "None"."""
    import pandas as pd

    categories = [n for n in dict.fromkeys(names) if n is not None]
    codes = np.array([-1 if n is None else categories.index(n) for n in names])
    return pd.Categorical.from_codes(np.broadcast_to(codes[row], (rows,)), categories=[str(c) for c in categories])


CHUNK = 1 << 15  # rows per pass: keeps the temporaries of a pass in cache


def input_column(vals: list, row: np.ndarray, rows: int):
    """A swept input as a column: numbers stay numeric, anything else becomes categorical."""
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in vals):
        return np.broadcast_to(np.array(vals, dtype=float)[row], (rows,))
    return labels([str(v) for v in vals], row, rows)


def take_rows(record, at, rows: int):
    """The rows ``at`` (a slice or an index array) of a record whose per-row fields have
    ``rows`` on their last axis; fields without the row axis stay as they are."""
    out = {}
    for f in dataclasses.fields(record):
        v = getattr(record, f.name)
        if dataclasses.is_dataclass(v):
            out[f.name] = take_rows(v, at, rows)
        else:
            out[f.name] = v[..., at] if np.ndim(v) and np.shape(v)[-1] == rows else v
    return type(record)(**out)


def _write(out: dict, record, start: int, stop: int, rows: int, prefix: str = "") -> None:
    """Copy one block's outputs into ``out``. A field without the row axis in the first block
    (a full block of CHUNK > 1 rows) depends on no per-row input: it is kept as it is, once."""
    for f in dataclasses.fields(record):
        v = getattr(record, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(v):
            _write(out, v, start, stop, rows, f"{key}.")
        elif key not in out:
            if np.ndim(v) and np.shape(v)[-1] == stop - start:
                out[key] = np.empty(np.shape(v)[:-1] + (rows,), dtype=np.result_type(v))
                out[key][..., start:stop] = v
            else:
                out[key] = v
        elif np.ndim(out[key]) and np.shape(out[key])[-1] == rows:
            out[key][..., start:stop] = v


def _assemble(template, out: dict, prefix: str = ""):
    fields = {}
    for f in dataclasses.fields(template):
        v = getattr(template, f.name)
        fields[f.name] = (_assemble(v, out, f"{prefix}{f.name}.") if dataclasses.is_dataclass(v)
                          else out[prefix + f.name])
    return type(template)(**fields)


def chunked(fn, case, rows: int, progress=None):
    """``fn(case)`` over blocks of rows (the last axis of per-row arrays), assembled into one
    record of the same type as ``fn`` returns. ``progress(done, total)`` follows each block.
    """
    if rows <= CHUNK:
        result = fn(case)
        if progress is not None:
            progress(rows, rows)
        return result
    out: dict = {}
    first = None
    for start in range(0, rows, CHUNK):
        stop = min(start + CHUNK, rows)
        result = fn(take_rows(case, slice(start, stop), rows))
        first = first or result
        _write(out, result, start, stop, rows)
        if progress is not None:
            progress(stop, rows)
    return _assemble(first, out)


def check_keywords(inputs: dict, allowed, estimator: str) -> None:
    """Refuse a keyword the estimator does not take, with a did-you-mean."""
    for key in inputs:
        if key not in allowed:
            raise unknown(key, sorted(allowed), what=f"{estimator} keyword", command=f"help(costmodel.{estimator})")


def output_columns(outputs, case, values, rows: int, ranges: bool) -> tuple[dict, dict]:
    """The output table's columns (and their units) from per-row values; with ``ranges``, the
    values carry a leading scenario axis and each ranged output gets ``_low``/``_high``."""
    ends = ("typical", "low", "high") if ranges else ("typical",)
    picked = {end: pick_record(values, end, 1) for end in ends}
    cols, units = {}, {}
    for o in outputs:
        cols[o.key] = np.broadcast_to(o.value(case, picked["typical"]), (rows,))
        units[o.key] = o.unit
        if ranges and o.ranged:
            for end in ("low", "high"):
                cols[f"{o.key}_{end}"] = np.broadcast_to(o.value(case, picked[end]), (rows,))
                units[f"{o.key}_{end}"] = o.unit
    return cols, units


def result_frame(labels_: dict, extra: dict, meta, outputs, grid: Grid, index: dict, case, values, rows: int,
                 ranges: bool):
    """A sweep's DataFrame: the label columns, the per-row ``meta`` columns (key, function of
    case and typical values, dtype), any ``extra`` columns, every other swept input as given,
    then the output table (with ``_low``/``_high`` when ``ranges``)."""
    typical = pick_record(values, "typical", 1) if ranges else values
    cols, units = dict(labels_), {}
    for key, fn, dtype in meta:
        cols[key] = np.broadcast_to(fn(case, typical), (rows,)).astype(dtype)
        units[key] = "token" if key.endswith("_tokens") else ""
    cols.update(extra)
    for key, vals in grid.values.items():  # every other swept input, as given
        if key not in cols and len(vals) > 1:
            cols[key] = input_column(vals, index[key], rows)
    out, out_units = output_columns(outputs, case, values, rows, ranges)
    return frame({**cols, **out}, {**units, **out_units})


def frame(columns: dict, units: dict):
    import pandas as pd

    df = pd.DataFrame(columns, copy=False)
    df.attrs["units"] = units
    return df


