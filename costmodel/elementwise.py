"""numpy's ``where``, ``maximum``, ``minimum``, ``floor``, ``fmod``, ``isnan``, ``ndim`` and ``any`` for the core, without
numpy's dispatch on plain numbers.

One estimate runs the core on floats: each ufunc called on two floats costs about a
microsecond of dispatch for a nanosecond of arithmetic, and the training pipeline makes over a
hundred such calls. These functions hand arrays (and 0-d arrays) to numpy unchanged and
compute plain numbers in Python with numpy's semantics (NaN propagates through ``maximum`` and
``minimum``; ``isnan`` returns a numpy bool, so ``~`` stays a logical not), so a sweep and one
estimate still run the same code. ``tests/test_elementwise.py`` checks them against numpy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["any_true", "floor", "fmod", "isnan", "maximum", "minimum", "ndim", "where"]

_ARRAY = np.ndarray
_BOOL = np.bool_


def where(condition: Any, x: Any, y: Any) -> Any:
    """``np.where(condition, x, y)``; one of ``x``, ``y`` itself when all three are numbers, or
    when the condition is the same everywhere (:func:`_uniform_side`)."""
    if x.__class__ is float and y.__class__ is float and (condition.__class__ is _BOOL or condition.__class__ is bool):
        return x if condition else y  # the common case of one estimate, tested first
    if isinstance(condition, _ARRAY) or isinstance(x, _ARRAY) or isinstance(y, _ARRAY):
        side = _uniform_side(condition, x, y)
        return np.where(condition, x, y) if side is None else side
    return x if condition else y


def _uniform_side(condition: Any, x: Any, y: Any) -> Any:
    """``x`` or ``y`` itself where the condition is one value, or an array smaller than the result
    that is all true or all false (a sweep's box along which it does not change), and that side
    is already an array of the result's shape and type; else None (numpy's ``where`` then). The
    result is numpy's, without a copy; small arrays go to numpy at once."""
    array = _ARRAY
    if (x.size if isinstance(x, array) else 1) < _SMALL and (y.size if isinstance(y, array) else 1) < _SMALL:
        return None
    size = condition.size if isinstance(condition, array) else 1
    shape = np.broadcast_shapes(np.shape(condition), np.shape(x), np.shape(y))
    if size == 1:
        side = x if condition else y
    elif size < math.prod(shape):  # the condition broadcasts: testing it costs less than the copy
        side = x if np.all(condition) else y if not np.any(condition) else None
    else:
        return None
    if isinstance(side, _ARRAY) and side.shape == shape and side.dtype == np.result_type(x, y):
        return side
    return None


_SMALL = 256  # elements below which numpy's where costs less than looking at the condition


def maximum(x: Any, y: Any) -> Any:
    """``np.maximum(x, y)`` (NaN if either is NaN)."""
    if x.__class__ is float and y.__class__ is float:  # two floats: compared in Python, NaN by elimination
        return x if x >= y else y if y > x else math.nan
    if isinstance(x, _ARRAY) or isinstance(y, _ARRAY):
        return np.maximum(x, y)
    if math.isnan(x) or math.isnan(y):
        return math.nan
    return max(x, y)


def minimum(x: Any, y: Any) -> Any:
    """``np.minimum(x, y)`` (NaN if either is NaN)."""
    if x.__class__ is float and y.__class__ is float:
        return x if x <= y else y if y < x else math.nan
    if isinstance(x, _ARRAY) or isinstance(y, _ARRAY):
        return np.minimum(x, y)
    if math.isnan(x) or math.isnan(y):
        return math.nan
    return min(x, y)


def floor(x: Any) -> Any:
    """``np.floor(x)`` (a float; NaN and infinities unchanged)."""
    if isinstance(x, _ARRAY):
        return np.floor(x)
    return float(math.floor(x)) if math.isfinite(x) else x


def fmod(x: Any, y: Any) -> Any:
    """``np.fmod(x, y)`` (C's ``fmod``: the remainder has the sign of ``x``)."""
    if isinstance(x, _ARRAY) or isinstance(y, _ARRAY) or not (math.isfinite(x) and y):
        return np.fmod(x, y)  # numpy's NaN and warning where ``math.fmod`` raises
    return math.fmod(x, y)


def isnan(x: Any) -> Any:
    """``np.isnan(x)``: a numpy bool for a number, so that ``~isnan(x)`` negates it."""
    if isinstance(x, _ARRAY):
        return np.isnan(x)
    return np.True_ if math.isnan(x) else np.False_


def ndim(x: Any) -> int:
    """``np.ndim(x)``."""
    if x.__class__ is float:
        return 0
    if isinstance(x, _ARRAY):
        return x.ndim
    if isinstance(x, (float, int, np.generic)):
        return 0
    return np.ndim(x)


def any_true(x: Any) -> bool:
    """``bool(np.any(x))``."""
    if x.__class__ is bool:
        return x
    if isinstance(x, _ARRAY):
        return bool(x.any())
    return bool(x)
