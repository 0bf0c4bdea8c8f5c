"""Sweeps: the cartesian product of any inputs, evaluated in one vectorised pass.

``sweep_training`` and ``sweep_inference`` take the keywords of ``estimate_training`` /
``estimate_inference``; any of them may be a list, tuple, range, numpy array or pandas
Series. Each distinct value is parsed once (so a bad entry fails the whole call, naming the
argument and the value), the product is laid out as index arrays, and the same core
functions as the single estimates run once over arrays. The result is a pandas DataFrame:
the inputs as columns, then every output as a float column whose name carries its unit
(``df.attrs["units"]`` maps column to unit).
"""

from __future__ import annotations

import itertools
import math
import os

import numpy as np

from .errors import InputError

__all__ = ["sweep_training", "sweep_inference", "expand"]

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


def per_value(values: dict, index: dict, key: str, parse, default) -> np.ndarray:
    """Parse each distinct value of a numeric option once and lay it out per row (``default``
    when the option was not given)."""
    if key not in values:
        return np.float64(parse(default))
    return np.array([parse(v) for v in values[key]], dtype=float)[index[key]]


def column(results: list[dict], row: np.ndarray, key: str, scenarios: bool) -> np.ndarray:
    """Per-row array of ``key`` from per-combination results; scenario axis first if asked."""
    if np.ndim(results[0][key]) == 0:
        table = np.fromiter((r[key] for r in results), dtype=float, count=len(results))
        if scenarios:
            table = np.repeat(table[:, None], 3, axis=1)
    else:
        table = np.array([r[key] for r in results], dtype=float)
        if not scenarios:
            table = table[:, 0]
    if np.array_equal(table, np.broadcast_to(table[0], table.shape), equal_nan=True):
        return table[0][:, None] if scenarios else table[0]  # the same for every row: broadcast
    picked = table[row]
    return picked.T if scenarios else picked


def labels(names: list, row: np.ndarray, rows: int):
    """A categorical column of per-combination labels (cheap for a million rows)."""
    import pandas as pd

    categories = list(dict.fromkeys(names))
    codes = np.broadcast_to(np.array([categories.index(n) for n in names])[row], (rows,))
    return pd.Categorical.from_codes(codes, categories=[str(c) for c in categories])


CHUNK = 1 << 15  # rows per pass: keeps the temporaries of a pass in cache


def input_column(vals: list, row: np.ndarray, rows: int):
    """A swept input as a column: numbers stay numeric, anything else becomes categorical."""
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in vals):
        return np.broadcast_to(np.array(vals, dtype=float)[row], (rows,))
    return labels([str(v) for v in vals], row, rows)


def chunked(fn, x: dict, rows: int, progress=None) -> dict:
    """``fn(x)`` over blocks of rows (the last axis of per-row arrays), written into one output.

    ``progress(done, total)`` is called after each block.
    """
    if rows <= CHUNK:
        out = fn(x)
        if progress is not None:
            progress(rows, rows)
        return out
    out = {}
    for start in range(0, rows, CHUNK):
        stop = min(start + CHUNK, rows)
        block = {k: (v[..., start:stop] if not isinstance(v, dict) and np.ndim(v) and np.shape(v)[-1] == rows else v)
                 for k, v in x.items()}
        for key, value in fn(block).items():
            shape = np.broadcast_shapes(np.shape(value), (stop - start,))
            if key not in out:
                out[key] = np.empty(shape[:-1] + (rows,), dtype=np.result_type(value))
            out[key][..., start:stop] = value
        if progress is not None:
            progress(stop, rows)
    return out


def frame(columns: dict, units: dict):
    import pandas as pd

    df = pd.DataFrame(columns, copy=False)
    df.attrs["units"] = units
    return df


def sweep_training(*, ranges: bool = False, progress=None, **inputs):
    """Evaluate ``estimate_training`` over the cartesian product of list-valued inputs.

    Parameters
    ----------
    **inputs
        The keywords of :func:`costmodel.estimate_training`; any may be a list, tuple, range,
        numpy array or pandas Series.
    ranges : bool
        Add ``<column>_low`` / ``<column>_high`` for every uncertain output.
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)`` as the grid is evaluated.

    Returns
    -------
    pandas.DataFrame
        One row per configuration; ``df.attrs["units"]`` maps each column to its unit.

    Examples
    --------
    >>> df = sweep_training(model="llama-2-7b", hardware=["a100", "h100"], n_gpus=[64, 512])
    >>> len(df)
    4
    """
    from .sweep_train import run

    return run(inputs, ranges, progress)


def sweep_inference(*, ranges: bool = False, progress=None, **inputs):
    """Evaluate ``estimate_inference`` over the cartesian product of list-valued inputs.

    Same conventions as :func:`sweep_training` (``strict`` is not accepted: a sweep reports
    ``fits`` per row instead).

    >>> df = sweep_inference(model="llama-2-7b", hardware="h100", prompt_tokens=512,
    ...                      output_tokens=256, batch_size=[1, 8, 64])
    >>> list(df.batch_size)
    [1, 8, 64]
    """
    from .sweep_infer import run

    return run(inputs, ranges, progress)
