"""Arguments that take several entries: a list (any iterable), one entry, or a comma-separated
string, read the same way by every function that takes them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["entries", "one_each"]

_PLAIN = frozenset((str, int, float, bool, type(None)))


def entries(value: Any, argument: str, *, what: str, example: str, single: tuple[type, ...] = (),
            allow_empty: bool = False) -> list[Any]:
    """The entries of ``value``: a string split at commas (each stripped, blanks dropped), an
    object of a ``single`` type as the one entry, or the items of any other iterable but a
    mapping or bytes. Anything else, or no entry (unless ``allow_empty``), is an
    :class:`InputError` naming ``argument``.

    >>> entries("h100, b200", "hardware", what="hardware", example="profile ids such as ['h100', 'b200']")
    ['h100', 'b200']
    >>> entries(1, "hardware", what="hardware", example="profile ids such as ['h100', 'b200']")
    Traceback (most recent call last):
    ...
    costmodel.errors.InputError: hardware: expected profile ids such as ['h100', 'b200'] (a list or a \
comma-separated string), got 1
    """
    items: list[Any]
    if isinstance(value, str):
        items = [x.strip() for x in value.split(",") if x.strip()]
    elif single and isinstance(value, single):
        items = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray, Mapping)):
        items = list(value)
    else:
        raise InputError(f"expected {example} (a list or a comma-separated string), got {value!r}",
                         argument=argument)
    if not items and not allow_empty:
        raise InputError(f"no {what} given; expected {example}", argument=argument)
    return items


def one_each(names: tuple[str, ...], args: tuple, *, sweep: str, lists: tuple[str, ...] = ()) -> tuple:
    """One estimate's arguments (``args``, named ``names``) with each numpy array of one value,
    or Quantity of one, as that value; an array of several (but for the arguments in
    ``lists``, which take sequences) is refused naming it and ``sweep``, which takes them.

    >>> one_each(("params", "tokens"), (np.array(7e9), "1T"), sweep="sweep_training")
    (7000000000.0, '1T')
    """
    if _PLAIN.issuperset(map(type, args)):  # the common case, at the cost of one pass over the types
        return args
    out = list(args)
    for i, (name, value) in enumerate(zip(names, args)):
        magnitude = getattr(value, "magnitude", value)
        if not isinstance(magnitude, np.ndarray) or name in lists:
            continue
        if magnitude.ndim:
            raise InputError(f"expected one value, got an array of {magnitude.size:,}; {sweep}() takes arrays and "
                             "lists", argument=name)
        out[i] = magnitude.item() if magnitude is value else type(value)(magnitude.item(), value.units)
    return tuple(out)
