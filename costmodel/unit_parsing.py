"""The parsing of user input into canonical floats.

Everything that enters the library passes through :func:`parse_count` or
:func:`parse_quantity` once; the core then works on plain floats (or numpy
arrays) in canonical units (:mod:`costmodel.unit_registry`), and results are wrapped back
into Quantities with :func:`~costmodel.unit_registry.quantity`.

What a string may be
--------------------
A number and, for a quantity, a unit: ``"7.5B"``, ``"7_500_000_000"``, ``"7,500,000,000"``,
``"3.35 TB/s"``, ``"$2.10/h"``. Never an expression: ``"9**9**9 USD/h"`` or ``"10**400"`` is
refused at once. A comma is a thousands separator in groups of three (``"7,5B"`` is refused,
not read as 75B); a unit may have small integer exponents (``"m^2"``).

Finite ranges
-------------
Every count and quantity is finite and at most :data:`~costmodel.unit_registry.LIMITS` of its
kind (for example 1e18 parameters or tokens, 100 years, 1 EB): beyond that nothing real is
being described and the arithmetic would overflow. The estimators bound their other inputs the
same way (MFU at least 1e-4, prompts at most 1e9 tokens), so every figure they return is finite.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import SupportsFloat, overload

import numpy as np
import pint

from .errors import InputError, UnitError
from .unit_registry import (CANONICAL, DIMS, LIMITS, UNITS, CountLike, LazyPattern, Quantity, QuantityLike,
                            dollars_to_usd, ureg)

__all__ = ["parse_count", "parse_quantity", "parse_whole", "parse_fraction", "FRACTION_MIN"]

_COUNT_SUFFIX = {
    "": 1.0, "k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "mn": 1e6,
    "b": 1e9, "bn": 1e9, "g": 1e9, "billion": 1e9, "t": 1e12, "trillion": 1e12,
    "q": 1e15, "quadrillion": 1e15,
}
# A number as users write it: digits with underscores between them, or with commas between
# groups of three, an optional fraction and exponent.
_NUMBER = r"[+-]?(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?"
_COUNT_RE = LazyPattern(
    rf"^\s*({_NUMBER})\s*"
    r"(k|thousand|m|mn|million|b|bn|g|billion|t|trillion|q|quadrillion)?\s*"
    r"(tokens?|params?|parameters?|samples?|images?|examples?)?\s*$",
    re.IGNORECASE,
)
# A unit: names (letters first; digits inside, as in tCO2e), products and quotients,
# parentheses, and small integer exponents. No number outside an exponent: never arithmetic.
_UNIT_NAME = r"[A-Za-z°µμ%][A-Za-z0-9_°µμ%]*"
_POWER = r"(?:\s*(?:\*\*|\^)\s*-?\d{1,2})?"  # one exponent per factor: m^2, s**-1
_TERM = rf"{_UNIT_NAME}{_POWER}(?:\s*[*/·]?\s*{_UNIT_NAME}{_POWER})*"
_UNIT_RE = LazyPattern(rf"^(?:{_TERM}|\(\s*{_TERM}\s*\){_POWER})(?:\s*[*/·]?\s*(?:{_TERM}|\(\s*{_TERM}\s*\){_POWER}))*$")
_QUANTITY_RE = LazyPattern(rf"^\s*({_NUMBER})?\s*(.*?)\s*$", re.DOTALL)
_AMBIGUOUS_RATE = LazyPattern(r"(?<![A-Za-z])([kMGTPE]?)(FLOPS|flops|OPS|ops)(?![A-Za-z/])")


def _fail(name: str, got: object, kind: str, why: str = "") -> UnitError:
    _, description, example = CANONICAL[kind]
    detail = f" ({why})" if why else ""
    return UnitError(f"expected {description} such as {example!r}, got {got!r}{detail}", argument=name)


def _check_finite(name: str, got: object, value: float, *, allow_zero: bool, allow_negative: bool = False,
                  kind: str = "count") -> float:
    if isinstance(value, float) and not math.isfinite(value):
        raise UnitError(f"expected a finite number, got {got!r}", argument=name)
    if abs(value) > LIMITS[kind]:
        unit = CANONICAL[kind][0].replace("dimensionless", "").strip()
        raise UnitError(f"expected at most {LIMITS[kind]:.0e}{' ' + unit if unit else ''}, got {got!r}",
                        argument=name)
    if not allow_negative and (value < 0 or (value == 0 and not allow_zero)):
        bound = "zero or more" if allow_zero else "more than zero"
        raise UnitError(f"expected a value {bound}, got {got!r}", argument=name)
    return value


def _as_float(value: object) -> float | np.ndarray:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            return float(value)
        except OverflowError:  # an int beyond any float: refused as not finite
            return math.inf
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return value.astype(np.float64)
    raise TypeError


@overload
def parse_count(value: np.ndarray, name: str = ..., *, allow_zero: bool = ...) -> np.ndarray: ...
@overload
def parse_count(value: CountLike, name: str = ..., *, allow_zero: bool = ...) -> float: ...
def parse_count(value: CountLike | np.ndarray, name: str = "value", *, allow_zero: bool = False) -> float | np.ndarray:
    """Parse a count of parameters, tokens or samples into a float.

    Accepts numbers (``7e9``, ``7_000_000_000``), strings (``"7B"``, ``"7 billion"``,
    ``"1.7T"``, ``"350M"``, ``"300B tokens"``) and dimensionless or token Quantities; a numpy
    array of numbers gives an array.

    >>> parse_count("1.7T")
    1700000000000.0
    """
    out: float | np.ndarray
    try:
        out = _as_float(value)
    except TypeError:
        if isinstance(value, str):
            out = _count_from_string(value, name)
        elif isinstance(value, pint.Quantity):
            value = _own(value, name, "count")
            if value.dimensionality == DIMS["token"]:
                out = float(value.to(UNITS["token"]).magnitude)
            elif value.dimensionless:
                out = float(value.to("dimensionless").magnitude)
            else:
                raise _fail(name, str(value), "count", f"it has units of {value.units:~}") from None
        else:
            raise _fail(name, value, "count") from None
    if isinstance(out, np.ndarray):
        if (not np.all(np.isfinite(out)) or np.any(out < 0) or (not allow_zero and np.any(out == 0))
                or np.any(out > LIMITS["count"])):
            raise UnitError(f"every value must be finite, {'zero or more' if allow_zero else 'positive'} and at "
                            f"most {LIMITS['count']:.0e}", argument=name)
        return out
    return _check_finite(name, value, out, allow_zero=allow_zero)


@lru_cache(maxsize=4096)
def _count_from_string(text: str, name: str) -> float:
    if text.isascii() and text.isdigit():  # "1024": what the pattern reads it as, without compiling it
        return float(text)
    match = _COUNT_RE.match(text)
    if not match:
        why = ("a comma only separates thousands, in groups of three: write 7.5B or 7,500,000,000"
               if re.search(r"\d,(?!\d{3}(?:\D|$))", text) else "use a number with an optional k/M/B/T suffix")
        raise _fail(name, text, "count", why)
    number, suffix, _ = match.groups()
    return float(number.replace("_", "").replace(",", "")) * _COUNT_SUFFIX[(suffix or "").lower()]


@overload
def parse_quantity(value: np.ndarray, kind: str, name: str = ..., *, allow_zero: bool = ...,
                   allow_negative: bool = ...) -> np.ndarray: ...
@overload
def parse_quantity(value: QuantityLike, kind: str, name: str = ..., *, allow_zero: bool = ...,
                   allow_negative: bool = ...) -> float: ...
def parse_quantity(value: QuantityLike | np.ndarray, kind: str, name: str = "value", *, allow_zero: bool = False,
                   allow_negative: bool = False) -> float | np.ndarray:
    """Parse a number, a string with units, or a Quantity into a canonical float.

    A bare number is taken to be in the canonical unit of ``kind`` (see the module
    docstring). A wrong dimension raises :class:`~costmodel.UnitError` naming ``name``. A numpy
    array gives an array, and so does a Quantity whose magnitude is one (typed as a float: the
    estimators take one value per keyword).

    >>> parse_quantity("3.35 TB/s", "bandwidth")
    3350000000000.0
    """
    out: float | np.ndarray
    try:
        out = _as_float(value)
    except TypeError:
        if isinstance(value, str):
            out = _quantity_from_string(value, kind, name)
        elif isinstance(value, pint.Quantity):
            out = _convert(_own(value, name, kind), kind, name, str(value))
        else:
            raise _fail(name, value, kind) from None
    if isinstance(out, np.ndarray):
        bad = (~np.isfinite(out) | (np.abs(out) > LIMITS[kind])
               | (False if allow_negative else (out < 0) | ((out == 0) & (not allow_zero))))
        if np.any(bad):
            raise UnitError(f"every value must be finite and {'non-negative' if allow_zero else 'positive'}; "
                            f"got {out[bad][0]!r}", argument=name)
        return out
    return _check_finite(name, value, out, allow_zero=allow_zero, allow_negative=allow_negative, kind=kind)


def _own(q: pint.Quantity, name: str, kind: str) -> pint.Quantity:
    """The Quantity in costmodel's registry: one from another registry (the caller's own, or
    pint's application registry) is read again by its unit names."""
    if q._REGISTRY is ureg:
        return q
    try:
        return Quantity(q.magnitude, str(q._units))
    except Exception:  # pint raises several types for a unit we do not define
        raise _fail(name, str(q), kind, f"costmodel's registry has no unit {str(q._units)!r}") from None


def _convert(q: pint.Quantity, kind: str, name: str, got: str) -> float | np.ndarray:
    if q.dimensionality != DIMS[kind]:
        units = f"{q.units:~}" or "no units"
        raise _fail(name, got, kind, f"it has units of {units}")
    mag = q.to(UNITS[kind]).magnitude
    return float(mag) if np.ndim(mag) == 0 else np.asarray(mag, dtype=np.float64)


@lru_cache(maxsize=4096)
def _quantity_from_string(text: str, kind: str, name: str) -> float:
    """A number and a unit, read separately: the number by :data:`_NUMBER`, the unit by pint
    once :data:`_UNIT_RE` has checked it holds no arithmetic."""
    if not text.strip():
        raise _fail(name, text, kind, "the string is empty")
    ambiguous = _AMBIGUOUS_RATE.search(text)
    if ambiguous:
        prefix, word = ambiguous.groups()
        base = "FLOP" if word.lower() == "flops" else "OP"
        raise _fail(name, text, kind, f"{prefix}{word!s} is ambiguous; write {prefix}{base}/s for a rate "
                    f"or {prefix}{base} for an amount")
    number, unit = _split_quantity(dollars_to_usd(text), name, kind, text)
    if not unit:  # a bare number means the canonical unit, like a bare float does
        return number
    try:
        units = ureg.parse_units(unit)
    except Exception:  # pint raises several types for unknown or malformed units
        raise _fail(name, text, kind, f"could not read it: {unit!r} is not a unit costmodel knows") from None
    return float(_convert(Quantity(number, units), kind, name, text))


_NOT_FINITE = LazyPattern(r"^\s*([+-]?(?:nan|inf|infinity))\b\s*(.*?)\s*$", re.IGNORECASE)


def _split_quantity(text: str, name: str, kind: str, given: str) -> tuple[float, str]:
    special = _NOT_FINITE.match(text)
    if special:  # "nan", "inf W": a number, refused later as not finite
        return float(special[1]), special[2]
    match = _QUANTITY_RE.match(text)
    number, unit = match.groups() if match else (None, text)
    if number is None:
        if unit and _UNIT_RE.match(unit):  # "GiB" alone: one of them
            number = "1"
        else:
            raise _fail(name, given, kind, "write a number and a unit; arithmetic is not evaluated")
    if unit.startswith("/") and _UNIT_RE.match(unit[1:].strip()):  # "12/s": per unit, as rates are written
        unit = f"({unit[1:].strip()})**-1"
    if unit and not _UNIT_RE.match(unit):
        why = ("a comma only separates thousands, in groups of three" if "," in unit or "," in number
               else "write a number and a unit; arithmetic is not evaluated")
        raise _fail(name, given, kind, why)
    return float(number.replace("_", "").replace(",", "")), unit


def parse_whole(value: CountLike, name: str = "value", *, limit: float = 1e7, allow_zero: bool = False) -> int:
    """A whole number from 1 (0 with ``allow_zero``) to ``limit`` (device counts, batch sizes,
    parallel degrees, token counts).

    >>> parse_whole("1k", "n_gpus")
    1000
    """
    number = parse_count(value, name, allow_zero=allow_zero)
    if number != math.floor(number) or number > limit:
        raise InputError(f"expected a whole number from {0 if allow_zero else 1} to {limit:.0e}, got {value!r}",
                         argument=name)
    return int(number)


FRACTION_MIN = 1e-4  # below it a utilisation describes no real run, and times overflow


def parse_fraction(value: SupportsFloat | str, name: str = "value") -> float:
    """A number in (0, 1], such as an MFU, at least :data:`FRACTION_MIN`.

    >>> parse_fraction("0.4", "mfu")
    0.4
    """
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"expected a number in (0, 1], got {value!r}", argument=name) from None
    if not 0.0 < x <= 1.0:
        raise InputError(f"expected a number in (0, 1], got {value!r}", argument=name)
    if x < FRACTION_MIN:
        raise InputError(f"expected at least {FRACTION_MIN:g} (a utilisation of real hardware), got {value!r}",
                         argument=name)
    return x
