"""The grid machinery both sweeps share: lists of values, per-row records, blocks, frames.

A sweep lays the cartesian product of its inputs out as index arrays (one per keyword), calls
an estimator's resolver once per distinct combination of the keywords it reads, and turns the
resolved records into one record of per-row arrays (:func:`stack`), which the estimator's own
pipeline evaluates in blocks of rows (:func:`chunked`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os

import numpy as np

from ..errors import InputError, unknown
from ..results.base import pick_record
from ..units import FloatArray

__all__ = ["expand", "resolved", "per_value", "stack", "labels", "input_column", "chunked", "frame",
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


def expand(inputs: dict) -> tuple[dict, int, dict]:
    """Lists of values per keyword, the row count, and each keyword's index per row."""
    values = {k: _values(v) for k, v in inputs.items()}
    for key, vals in values.items():
        if not vals:
            raise InputError(f"{key}: the list of values is empty")
    shape = tuple(len(v) for v in values.values())
    rows = math.prod(shape)
    _check_memory(rows)
    flat = np.arange(rows)
    index = dict(zip(values, np.unravel_index(flat, shape))) if shape else {}
    return values, rows, index


def _check_memory(rows: int) -> None:
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return
    need = rows * BYTES_PER_ROW
    if need > 0.5 * available:
        raise InputError(f"sweep: {rows:,} rows would need about {need / 2**30:,.1f} GiB, more than half of the "
                         f"{available / 2**30:.1f} GiB available; split the grid")


def resolved(values: dict, index: dict, keys, resolve) -> tuple[list, np.ndarray]:
    """Call ``resolve(**combination)`` once per distinct combination of ``keys``.

    Returns the results and, per row, the number of its combination (a length-1 array when
    no key varies).
    """
    present = [k for k in keys if k in values]
    varying = [k for k in present if len(values[k]) > 1]
    fixed = {k: values[k][0] for k in present if k not in varying}
    combos = list(itertools.product(*(values[k] for k in varying)))
    results = [resolve(**fixed, **dict(zip(varying, combo))) for combo in combos]
    if not varying:
        return results, np.zeros(1, dtype=np.intp)
    sizes = [len(values[k]) for k in varying]
    row = index[varying[0]] if len(varying) == 1 else np.ravel_multi_index([index[k] for k in varying], sizes)
    return results, row


def per_value(values: dict, index: dict, key: str, parse, default) -> FloatArray:
    """Parse each distinct value of a numeric option once and lay it out per row (``default``
    when the option was not given)."""
    if key not in values:
        return np.float64(parse(default))
    return np.array([parse(v) for v in values[key]], dtype=float)[index[key]]


def _field_column(values: list, row: np.ndarray, scenarios: bool):
    """Per-row array of one field from per-combination values (floats, or (3,) scenario
    arrays); the scenario axis first when asked; one value when every combination agrees."""
    if np.ndim(values[0]) == 0:
        table = np.fromiter(values, dtype=float, count=len(values))
        if scenarios:
            table = np.repeat(table[:, None], 3, axis=1)
    else:
        table = np.array(values, dtype=float)
        if not scenarios:
            table = table[:, 0]
    if np.array_equal(table, np.broadcast_to(table[0], table.shape), equal_nan=True):
        return table[0][:, None] if scenarios else float(table[0])  # the same for every row
    picked = table[row]
    return picked.T if scenarios else picked


def stack(records: list, row: np.ndarray, scenarios: bool = False):
    """One record of per-row arrays from per-combination records of the same type.

    Fields holding (typical, optimistic, pessimistic) arrays keep a leading scenario axis when
    ``scenarios`` is true, else their typical value.
    """
    cls = type(records[0])
    return cls(**{f.name: _field_column([getattr(r, f.name) for r in records], row, scenarios)
                  for f in dataclasses.fields(cls)})


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


def _block(record, start: int, stop: int, rows: int):
    """Rows ``start:stop`` of a record whose per-row fields have ``rows`` on their last axis."""
    out = {}
    for f in dataclasses.fields(record):
        v = getattr(record, f.name)
        if dataclasses.is_dataclass(v):
            out[f.name] = _block(v, start, stop, rows)
        else:
            out[f.name] = v[..., start:stop] if np.ndim(v) and np.shape(v)[-1] == rows else v
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
        result = fn(_block(case, start, stop, rows))
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


def frame(columns: dict, units: dict):
    import pandas as pd

    df = pd.DataFrame(columns, copy=False)
    df.attrs["units"] = units
    return df


