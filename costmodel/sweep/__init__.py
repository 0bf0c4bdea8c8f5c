"""Sweeps: the cartesian product of any inputs, evaluated in one vectorised pass.

``sweep_training`` and ``sweep_inference`` take the keywords of ``estimate_training`` /
``estimate_inference``; any of them may be a list, tuple, range, numpy array, pandas
Series or a Quantity of several values. Each distinct value is resolved once, by the estimator's own resolvers (so a bad entry
fails the whole call, naming the argument and the value), the product is laid out as boxes of
index arrays that broadcast (:mod:`costmodel.sweep.grid`), and the estimator's own pipeline
runs over them, computing each figure once per distinct combination of the inputs it depends
on. A row therefore equals ``estimate_*(...).to_dict()``: it is the same code. The result is a pandas DataFrame: the
inputs as columns, then every output as a float column whose name carries its unit
(``df.attrs["units"]`` maps column to unit).
"""

from __future__ import annotations

import os
from typing import Any, Callable

from ..errors import InputError

__all__ = ["sweep_training", "sweep_inference", "iter_sweep_training", "iter_sweep_inference", "to_dask"]

# Called as progress(rows_done, rows_total) as a sweep's grid is evaluated.
Progress = Callable[[int, int], object]


def _run(module: str, inputs: dict, ranges: bool, progress, chunk_rows, stream: bool, to_parquet, reduce):
    """One sweep, in memory or streamed: every path evaluates the same plan."""
    import importlib

    from . import stream as streaming
    from .grid import Grid, check_memory

    _check_controls(ranges, chunk_rows, progress=progress, stream=stream, to_parquet=to_parquet, reduce=reduce)
    if sum(x is not None and x is not False for x in (stream or None, to_parquet, reduce)) > 1:
        raise InputError("give one of stream=True, to_parquet= or reduce=", argument="stream")
    in_memory = not stream and to_parquet is None and reduce is None
    if in_memory:  # before resolving anything: a grid too large is refused at once
        check_memory(Grid.of({k: v for k, v in inputs.items() if k != "calibration"}).rows)
    plan = importlib.import_module(f".{module}", __name__).plan(inputs, ranges)
    if stream:
        return streaming.iterate(plan, chunk_rows, progress)
    if to_parquet is not None:
        return streaming.write_parquet(plan, to_parquet, chunk_rows, progress)
    if reduce is not None:
        return streaming.reduce_frames(plan, reduce, chunk_rows, progress)
    return plan.frame(progress=progress)


def _check_controls(ranges, chunk_rows, **given) -> None:
    """The sweep's own keywords (not the estimator's inputs) checked, one line naming the one
    that is wrong: a list or a string where a flag, a function or a path belongs would
    otherwise fail deep inside the sweep, or be read as true."""
    import numpy as np

    from .stream import chunk_size, reducer

    flags = {"ranges": ranges, "stream": given.get("stream", False)}
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise InputError(f"expected True or False, got {value!r}", argument=name)
    chunk_size(chunk_rows)
    progress, path, reduce = given.get("progress"), given.get("to_parquet"), given.get("reduce")
    if progress is not None and not callable(progress):
        raise InputError(f"expected a function called as progress(rows_done, rows_total), got {progress!r}",
                         argument="progress")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise InputError(f"expected a folder path for the dataset, got {path!r}", argument="to_parquet")
    if reduce is not None:
        reducer(reduce)


def sweep_training(*, ranges: bool = False, progress: Progress | None = None, chunk_rows: int | None = None,
                   stream: bool = False, to_parquet: str | os.PathLike[str] | None = None,
                   reduce: str | Callable[[Any], Any] | None = None, **inputs: Any) -> Any:
    """Evaluate ``estimate_training`` over the cartesian product of list-valued inputs.

    Parameters
    ----------
    **inputs
        The keywords of :func:`costmodel.estimate_training`; any may be a list, tuple, range,
        numpy array, pandas Series or Quantity of several values.
    ranges : bool
        Add ``<column>_low`` / ``<column>_high`` for every uncertain output.
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)`` as the grid is evaluated.
    stream, chunk_rows : optional
        ``stream=True`` returns an iterator of DataFrames of at most ``chunk_rows`` rows
        (default 2**20), in the grid's order, for grids of any size.
    to_parquet : path, optional
        Write a partitioned Parquet dataset there (one file per chunk; needs pyarrow) and
        return its path; nothing is left behind if a chunk fails.
    reduce : str or callable, optional
        Return only the best rows, streaming the grid: ``"min:cost_USD by model"`` (per model
        the cheapest row), ``"max:mfu"``, or a function of a DataFrame returning its best rows.

    Returns
    -------
    pandas.DataFrame
        One row per configuration; ``df.attrs["units"]`` maps each column to its unit (or the
        iterator, path or best rows above).

    Examples
    --------
    >>> df = sweep_training(model="llama-2-7b", hardware=["a100", "h100"], n_gpus=[64, 512])
    >>> len(df)
    4
    """
    return _run("training", inputs, ranges, progress, chunk_rows, stream, to_parquet, reduce)


def sweep_inference(*, ranges: bool = False, progress: Progress | None = None, chunk_rows: int | None = None,
                    stream: bool = False, to_parquet: str | os.PathLike[str] | None = None,
                    reduce: str | Callable[[Any], Any] | None = None, **inputs: Any) -> Any:
    """Evaluate ``estimate_inference`` over the cartesian product of list-valued inputs.

    Same conventions as :func:`sweep_training` (``strict`` is not accepted: a sweep reports
    ``fits`` per row instead).

    >>> df = sweep_inference(model="llama-2-7b", hardware="h100", prompt_tokens=512,
    ...                      output_tokens=256, batch_size=[1, 8, 64])
    >>> list(df.batch_size)
    [1, 8, 64]
    """
    return _run("inference", inputs, ranges, progress, chunk_rows, stream, to_parquet, reduce)


def iter_sweep_training(*, chunk_rows: int | None = None, ranges: bool = False, **inputs: Any) -> Any:
    """``sweep_training(stream=True, ...)``: DataFrames of at most ``chunk_rows`` rows, in order."""
    return sweep_training(stream=True, chunk_rows=chunk_rows, ranges=ranges, **inputs)


def iter_sweep_inference(*, chunk_rows: int | None = None, ranges: bool = False, **inputs: Any) -> Any:
    """``sweep_inference(stream=True, ...)``: DataFrames of at most ``chunk_rows`` rows, in order."""
    return sweep_inference(stream=True, chunk_rows=chunk_rows, ranges=ranges, **inputs)


def to_dask(kind: str = "training", *, chunk_rows: int | None = None, ranges: bool = False, **inputs: Any) -> Any:
    """A dask DataFrame of a ``"training"`` or ``"inference"`` grid, one partition per chunk
    (``dask.dataframe.from_map``), for a cluster's scheduler to evaluate. Needs dask."""
    import importlib

    from . import stream as streaming

    if kind not in ("training", "inference"):
        raise InputError(f"expected 'training' or 'inference', got {kind!r}", argument="kind")
    _check_controls(ranges, chunk_rows)
    plan = importlib.import_module(f".{kind}", __name__).plan(inputs, ranges)
    return streaming.to_dask(plan, chunk_rows)
