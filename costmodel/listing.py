"""Arguments that take several entries: a list (any iterable), one entry, or a comma-separated
string, read the same way by every function that takes them."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import numpy as np

from .errors import InputError

__all__ = ["entries", "one_each", "one_value", "one_value_keywords", "flag"]

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
    else:
        found = _items(value)
        if found is None:
            raise InputError(f"expected {example} (a list or a comma-separated string), got {value!r}",
                             argument=argument)
        items = found
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
    hint = f"; {sweep}() takes arrays and lists"
    return tuple(value if name in lists else one_value(value, name, hint) for name, value in zip(names, args))


def _items(value: Any) -> list[Any] | None:
    """The items of an iterable (not a mapping or bytes), or None where ``value`` is one thing:
    a Quantity of one value and a 0-d array have ``__iter__`` but refuse to iterate."""
    if not isinstance(value, Iterable) or isinstance(value, (bytes, bytearray, Mapping)):
        return None
    try:
        return list(value)
    except TypeError:
        return None


def one_value(value: Any, argument: str, hint: str = "") -> Any:
    """``value`` where an argument takes one value: a numpy array or Quantity of one value as
    that value, one of several refused naming ``argument`` (``hint`` ends the message)."""
    magnitude = getattr(value, "magnitude", value)
    if not isinstance(magnitude, np.ndarray):
        return value
    if magnitude.ndim:
        raise InputError(f"expected one value, got an array of {magnitude.size:,}{hint}", argument=argument)
    return magnitude.item() if magnitude is value else type(value)(magnitude.item(), value.units)


_F = TypeVar("_F", bound=Callable[..., Any])


def one_value_keywords(*own: str) -> Callable[[_F], _F]:
    """A decorator for a function whose every argument takes one value but those in ``own``
    (which take lists, or which the function checks with a message of its own): each goes
    through :func:`one_value` before the call (``**options`` too, each by its name), so an
    array of one value is that value and one of several is one line naming it, not a
    comparison of arrays deep inside."""
    def wrap(fn: _F) -> _F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind_partial(*args, **kwargs)
            for name, value in list(bound.arguments.items()):
                kind = signature.parameters[name].kind
                if name in own or kind is inspect.Parameter.VAR_POSITIONAL:
                    continue
                bound.arguments[name] = ({k: one_value(v, k) for k, v in value.items()}
                                         if kind is inspect.Parameter.VAR_KEYWORD else one_value(value, name))
            return fn(*bound.args, **bound.kwargs)

        return checked  # type: ignore[return-value]
    return wrap


def flag(value: Any, argument: str) -> bool:
    """A true/false argument: ``True`` or ``False`` (numpy's too), nothing read as one."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise InputError(f"expected True or False, got {value!r}", argument=argument)
