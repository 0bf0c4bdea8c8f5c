"""Grids of any size: in fixed-size chunks, through a reducer, into Parquet, or onto dask.

A sweep's :class:`Plan` resolves every distinct input once; its rows are then evaluated a
slice at a time (:meth:`Plan.frame`), so memory is bounded by the chunk, not the grid. Every
path below calls that same method, so a streamed, reduced, Parquet or dask sweep holds the
rows the in-memory sweep returns, in the same order.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files import cannot_write

__all__ = ["DEFAULT_CHUNK_ROWS", "chunk_size", "chunks", "iterate", "reducer", "reduce_frames", "write_parquet",
           "to_dask"]

DEFAULT_CHUNK_ROWS = 1 << 20  # about a second and a few hundred MiB per chunk
_REDUCER = re.compile(r"^\s*(min|max)\s*:\s*([\w.]+)\s*(?:by\s+([\w.,\s]+))?$")


def chunk_size(chunk_rows) -> int:
    """``chunk_rows`` checked (a whole number of at least 1), or the default."""
    if chunk_rows is None:
        return DEFAULT_CHUNK_ROWS
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InputError(f"expected a whole number of rows of at least 1, got {chunk_rows!r}", argument="chunk_rows")
    return chunk_rows


def chunks(rows: int, chunk_rows=None) -> list[tuple[int, int]]:
    """The (start, stop) row ranges of the chunks, in order."""
    size = chunk_size(chunk_rows)
    return [(start, min(start + size, rows)) for start in range(0, rows, size)]


def iterate(plan, chunk_rows=None, progress=None) -> Iterator[Any]:
    """DataFrames of at most ``chunk_rows`` rows, in the grid's order."""
    for start, stop in chunks(plan.rows, chunk_rows):
        df = plan.frame(start, stop)
        df.index = range(start, stop)  # the row's number in the whole grid
        yield df
        if progress is not None:
            progress(stop, plan.rows)


def reducer(reduce) -> Callable[[Any], Any]:
    """A function of a DataFrame that keeps its best rows: ``"min:cost_USD by model"`` keeps,
    per model, the row of least cost (``max:`` the greatest; no ``by``: one row), or a callable
    of a DataFrame that returns a DataFrame (applied to each chunk and to their combination, so
    it must keep what a later chunk could beat)."""
    if callable(reduce):
        return reduce
    match = _REDUCER.match(reduce) if isinstance(reduce, str) else None
    if not match:
        raise InputError(f"expected 'min:<column>' or 'max:<column> by <column>[,...]', or a function of a "
                         f"DataFrame, got {reduce!r}", argument="reduce")
    how, column, by = match.groups()
    groups = [c.strip() for c in by.split(",") if c.strip()] if by else []

    def best(df):
        for name in (column, *groups):
            if name not in df.columns:
                raise InputError(f"{name!r} is not a column of the sweep", argument="reduce")
        known = df[df[column].notna()]
        if known.empty:
            return known
        if not groups:
            return known.loc[[known[column].idxmin() if how == "min" else known[column].idxmax()]]
        ordered = known.sort_values(column, ascending=how == "min", kind="stable")
        return ordered.drop_duplicates(groups, keep="first").sort_index()

    return best


def reduce_frames(plan, reduce, chunk_rows=None, progress=None):
    """The best rows of the whole grid, one chunk in memory at a time."""
    import pandas as pd

    best = reducer(reduce)
    kept = None
    for df in iterate(plan, chunk_rows, progress):
        part = best(df)
        kept = part if kept is None else best(pd.concat([kept, part]))
    return kept.reset_index(drop=True) if kept is not None else kept


def write_parquet(plan, path, chunk_rows=None, progress=None) -> Path:
    """A partitioned Parquet dataset (``part-00000.parquet``, ...), written into a temporary
    folder beside ``path`` and moved there only when every chunk is written."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError("writing Parquet needs pyarrow (pip install 'costmodel[parquet]')",
                         argument="to_parquet") from None
    target = Path(path)
    if "\x00" in str(target):
        raise InputError("a folder name cannot contain a NUL byte", argument="to_parquet")
    try:
        exists = target.exists()
    except OSError as exc:  # a name the file system refuses (too long)
        raise cannot_write(target, exc, "to_parquet") from None
    if exists:
        raise InputError(f"{str(target)!r} exists; give a new folder for the dataset", argument="to_parquet")
    if not target.parent.is_dir():
        raise InputError(f"the folder {str(target.parent)!r} does not exist", argument="to_parquet")
    scratch = None
    try:
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        for i, df in enumerate(iterate(plan, chunk_rows, progress)):
            df.to_parquet(scratch / f"part-{i:05d}.parquet", index=False)
        os.replace(scratch, target)
    except BaseException as exc:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if isinstance(exc, OSError):  # a full disk, a folder made read-only: one line naming the dataset
            raise cannot_write(target, exc, "to_parquet") from None
        raise
    return target


def to_dask(plan, chunk_rows=None):
    """A dask DataFrame of the grid, one partition per chunk (``dask.dataframe.from_map``):
    evaluated where the caller's dask scheduler runs it."""
    try:
        import dask.dataframe as dd
    except ImportError:
        raise InputError("a dask DataFrame needs dask (pip install 'costmodel[dask]')", argument="to_dask") from None
    ranges = chunks(plan.rows, chunk_rows)
    meta = plan.frame(0, min(1, plan.rows)).iloc[:0]
    return dd.from_map(lambda r: plan.frame(*r), ranges, meta=meta, enforce_metadata=False)
