"""Sweeps: the cartesian product of any inputs, evaluated in one vectorised pass.

``sweep_training`` and ``sweep_inference`` take the keywords of ``estimate_training`` /
``estimate_inference``; any of them may be a list, tuple, range, numpy array or pandas
Series. Each distinct value is resolved once, by the estimator's own resolvers (so a bad entry
fails the whole call, naming the argument and the value), the product is laid out as index
arrays, and the estimator's own pipeline runs once over arrays. A row therefore equals
``estimate_*(...).to_dict()``: it is the same code. The result is a pandas DataFrame: the
inputs as columns, then every output as a float column whose name carries its unit
(``df.attrs["units"]`` maps column to unit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["sweep_training", "sweep_inference"]

# Called as progress(rows_done, rows_total) as a sweep's grid is evaluated.
Progress = Callable[[int, int], object]


def sweep_training(*, ranges: bool = False, progress: Progress | None = None, **inputs: Any) -> pd.DataFrame:
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
    from .training import run

    return run(inputs, ranges, progress)


def sweep_inference(*, ranges: bool = False, progress: Progress | None = None, **inputs: Any) -> pd.DataFrame:
    """Evaluate ``estimate_inference`` over the cartesian product of list-valued inputs.

    Same conventions as :func:`sweep_training` (``strict`` is not accepted: a sweep reports
    ``fits`` per row instead).

    >>> df = sweep_inference(model="llama-2-7b", hardware="h100", prompt_tokens=512,
    ...                      output_tokens=256, batch_size=[1, 8, 64])
    >>> list(df.batch_size)
    [1, 8, 64]
    """
    from .inference import run

    return run(inputs, ranges, progress)
