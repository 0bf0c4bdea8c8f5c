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

import dataclasses
import functools
import operator
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["memoise", "per_argument_list", "replaced"]

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


_PLAIN_SET = frozenset(_PLAIN)
_PLAIN_OR_FLOAT = _PLAIN_SET | {float}
_TYPE_NAMES: dict[type, str] = {kind: kind.__name__ for kind in (*_PLAIN, float)}


def per_argument_list(store: dict, cal: Any, hw: Any, args: tuple, resolve: Callable[..., Any]) -> Any:
    """``resolve(cal, hw, *args)``, kept in ``store`` per exact argument list: plain values by
    value and type, floats by their bits, the calibration and profile by identity (the result
    holds them as ``.calibration`` and ``.profile``). A list with any other argument (a
    ModelSpec, a Quantity, sampled lengths) is resolved afresh, and a call that raises is not
    kept. The key holds strings and numbers only, a tuple the garbage collector stops tracking,
    so thousands of kept lists cost its full passes nothing."""
    types = tuple(map(type, args))
    bits: tuple[str, ...] = ()
    if not _PLAIN_SET.issuperset(types):
        if not _PLAIN_OR_FLOAT.issuperset(types):
            return resolve(cal, hw, *args)
        bits = tuple(a.hex() for a in args if type(a) is float)  # -0.0 and 0.0 differ
    key = (id(cal), id(hw), args, tuple(map(_TYPE_NAMES.__getitem__, types)), bits)
    r = store.get(key)
    if r is None or r.calibration is not cal or r.profile is not hw:
        r = resolve(cal, hw, *args)
        if r.profile is hw:  # not a profile that failed to load before the call
            if len(store) >= _MAX_ENTRIES:
                store.clear()
            store[key] = r
    return r


_FIELDS: dict[type, tuple] = {}  # per record type: its field names, a getter of them all, and the names as a set
_SET, _NEW = object.__setattr__, object.__new__


def replaced(record: Any, **changes: Any) -> Any:
    """``dataclasses.replace(record, **changes)`` for a frozen dataclass without
    ``__post_init__`` or ``init=False`` fields (the records of the estimates' hot paths): the
    same new record, its fields set directly rather than through ``__init__`` (about half the
    time)."""
    kind = record.__class__
    known = _FIELDS.get(kind)
    if known is None:
        if hasattr(kind, "__post_init__") or not all(f.init for f in dataclasses.fields(kind)):
            raise TypeError(f"{kind.__name__} needs dataclasses.replace")
        names = tuple(f.name for f in dataclasses.fields(kind))
        known = _FIELDS[kind] = (names, operator.attrgetter(*names), frozenset(names))
    names, values, name_set = known
    if not name_set.issuperset(changes):
        raise TypeError(f"{kind.__name__} has no field {sorted(set(changes) - name_set)[0]!r}")
    new = _NEW(kind)
    for name, value in zip(names, values(record)):
        _SET(new, name, value)
    for name, value in changes.items():
        _SET(new, name, value)
    return new
