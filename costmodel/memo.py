"""A cache for the resolvers: inputs parsed once per distinct argument list.

An estimate resolves its keywords (``"7B"``, ``"h100"``, ``recompute="full"``) into frozen records
of canonical floats before the pipeline runs; a second estimate with the same keywords reuses
them. :func:`memoise` keys a call on its arguments exactly: plain values (``str``, ``int``,
``bool``, ``None``, and ``float`` by its bits, so ``-0.0`` and ``0.0`` differ) by value and type
(``1`` and ``True`` differ; a parser may accept one and refuse the other), tuples of those, and
frozen dataclasses (a :class:`~costmodel.hardware.HardwareProfile`, a ``ModelSpec``) by identity,
holding on to them so that their ``id`` is not reused. A call with any other argument (a
Quantity, an array, a list, a path) is not cached, nor is a call that raises. The records
returned are shared, so they must be immutable (frozen dataclasses of floats and read-only
arrays).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["memoise"]

_F = TypeVar("_F", bound=Callable[..., Any])
_PLAIN = (str, int, bool, type(None))
_MAX_ENTRIES = 4096


class _Uncacheable(Exception):
    pass


def _key(value: Any) -> tuple:
    kind = type(value)
    if kind is float:
        return (kind, value.hex())
    if kind in _PLAIN:
        return (kind, value)
    if kind is tuple:
        return (kind, tuple(_key(v) for v in value))
    frozen = _FROZEN.get(kind)
    if frozen is None:
        params = getattr(kind, "__dataclass_params__", None)
        frozen = _FROZEN[kind] = bool(params is not None and params.frozen)
    if frozen:
        return (kind, id(value))
    raise _Uncacheable


_FROZEN: dict[type, bool] = {}  # is a type a frozen dataclass


def memoise(fn: _F) -> _F:
    """``fn`` with its results kept per exact argument list (see the module docstring);
    ``fn.cache_clear()`` forgets them."""
    cache: dict[tuple, tuple[Any, tuple]] = {}

    @functools.wraps(fn)
    def cached(*args: Any, **kwargs: Any) -> Any:
        try:
            key = (tuple(_key(a) for a in args), tuple((k, _key(v)) for k, v in kwargs.items()))
        except _Uncacheable:
            return fn(*args, **kwargs)
        hit = cache.get(key)
        if hit is not None:
            return hit[0]
        result = fn(*args, **kwargs)
        if len(cache) >= _MAX_ENTRIES:
            cache.clear()
        cache[key] = (result, (args, kwargs))  # the arguments keep the objects keyed by id alive
        return result

    cached.cache_clear = cache.clear  # type: ignore[attr-defined]
    return cached  # type: ignore[return-value]
