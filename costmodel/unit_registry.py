"""The unit registry: built once from ``units.txt``, its Quantities pickled back into it, and
the kinds of amount the package reads and reports.

Canonical units
---------------
FLOP, token, byte, second, watt, joule, USD, gram (of CO2e). Each kind (``"byte"``,
``"usd_rate"``, ...) has one canonical unit (:data:`CANONICAL`) and a largest value
(:data:`LIMITS`); :func:`quantity` wraps a canonical float as a Quantity of its kind.

The parsing of user input is :mod:`costmodel.unit_parsing`; :mod:`costmodel.units` is the
public face of both.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, TypeAlias

import numpy as np
import pint

from .datacache import cached

__all__ = ["ureg", "Quantity", "quantity", "LIMITS", "CANONICAL", "UNITS", "DIMS", "DEFINITIONS", "LazyPattern",
           "dollars_to_usd", "FloatArray", "BoolArray", "CountLike", "QuantityLike"]

# A canonical float, or a numpy array of them (one per row of a sweep, or the three scenarios
# of a range): what the records passed between stages hold (TrainingModel, ServingModel,
# Request, FootprintInputs, PhaseConstants, ...) and what the vectorised core computes on,
# numpy scalars (one element of an array) included.
FloatArray: TypeAlias = float | np.floating | np.ndarray
# A flag, or a numpy array of them (whether a layout fits, which resource binds a phase).
BoolArray: TypeAlias = bool | np.bool_ | np.ndarray
# A count as users write it (parse_count): a number (7e9, 7_000_000_000), a string with an
# optional suffix ("7B", "1.7T", "300B tokens") or a dimensionless or token Quantity.
CountLike: TypeAlias = float | int | np.integer | np.floating | str | pint.Quantity
# An amount of one kind as users write it (parse_quantity): a number in the kind's canonical
# unit, a string with units ("3.35 TB/s", "$2.10/h", "30 days") or a pint Quantity (of
# costmodel.ureg, or of another registry that defines its units).
QuantityLike: TypeAlias = float | int | np.integer | np.floating | str | pint.Quantity


class LazyPattern:
    """A regular expression compiled on first use: compiling the parsing patterns took ~5 ms
    of every start, and most starts read no figure from a string (their data comes from the
    cache, their counts are plain numbers)."""

    def __init__(self, pattern: str, flags: int = 0):
        self.pattern, self.flags = pattern, flags

    def __getattr__(self, name: str) -> Any:  # the first use: compile, and keep its methods
        compiled = re.compile(self.pattern, self.flags)
        for method in ("match", "search", "sub", "fullmatch"):
            setattr(self, method, getattr(compiled, method))
        return getattr(compiled, name)


_DOLLAR = LazyPattern(r"\$\s*(\d[\d_,]*\.?\d*)(?:e([+-]?\d+))?(?:\s*(k|K|M|B|bn)\b)?")
_DOLLAR_EXPONENT = {None: 0, "k": 3, "K": 3, "M": 6, "B": 9, "bn": 9}


def dollars_to_usd(text: str) -> str:
    """Rewrite ``$<number>[k|M|B|bn]`` as ``<number>e<exp> USD``: the registry's preprocessor.

    >>> dollars_to_usd("$2.10/h"), dollars_to_usd("$10M"), dollars_to_usd("$ 1,000")
    ('2.10e0 USD/h', '10e6 USD', '1000e0 USD')
    """
    def usd(match: re.Match[str]) -> str:
        number, exponent, suffix = match.groups()
        exp = int(exponent or 0) + _DOLLAR_EXPONENT[suffix]
        return f"{number.replace('_', '').replace(',', '')}e{exp} USD"

    return _DOLLAR.sub(usd, text) if "$" in text else text


DEFINITIONS = Path(__file__).with_name("units.txt")


def _build_registry() -> pint.UnitRegistry:
    # Built from our own definitions file alone: it holds every unit the package reads or
    # reports, with bytes in their own [information] dimension (pint's full default set takes
    # ~100 ms to load; the CLI pays the registry on every start).
    # The registry is ours alone: pint's application registry is left to the application
    # (pint docs, "Using Pint in your projects").
    registry: pint.UnitRegistry = pint.UnitRegistry(None, cache_folder=None, preprocessors=[dollars_to_usd])
    try:
        definitions = cached("units.txt", [DEFINITIONS], lambda: _parse_definitions(registry))
    except AttributeError:  # a pint whose parser is not where this looks: load the file
        registry.load_definitions(str(DEFINITIONS))
    else:
        for definition in definitions:
            registry.define(definition)
        registry._build_cache()  # what loading a file ends with (get_compatible_units reads it)
    registry.formatter.default_format = "~P"
    # f"{q:.3g}" formats the magnitude and keeps the default unit format, without pint's
    # deprecation warning about mixing the two (the behaviour pint will adopt)
    registry.separate_format_defaults = True
    # pint unpickles into the application registry, which does not know FLOP or token; ours
    # come back into this registry instead. The classes are the ones this registry built, so
    # their pickling is replaced at run time (setattr: this is not an override mypy can check).
    setattr(registry.Quantity, "__reduce__", _reduce_quantity)
    setattr(registry.Unit, "__reduce__", _reduce_unit)
    return registry


def _parse_definitions(registry: pint.UnitRegistry) -> list[Any]:
    """The definitions of units.txt as pint's parser reads them (~10 ms, so they are cached on
    disk with the file's stamp: :mod:`costmodel.datacache`); ``define``-ing them one by one
    builds the same registry as loading the file."""
    parser = registry._def_parser
    if parser is None:  # pragma: no cover - every pint since 0.20 has one
        raise AttributeError("this pint registry has no definitions parser")
    return list(parser.iter_parsed_project(parser.parse_file(DEFINITIONS)))


def _reduce_quantity(q: pint.Quantity) -> tuple[Callable[..., pint.Quantity], tuple[Any, Any]]:
    return _unpickle_quantity, (q.magnitude, q._units)


def _reduce_unit(u: pint.Unit) -> tuple[Callable[..., pint.Unit], tuple[Any]]:
    return _unpickle_unit, (u._units,)


def _known(units: Any) -> Any:
    """``units`` (a unit container) after every name in it is known to the registry: a
    prefixed unit (``gibibyte``) enters it only when a string names it, and a Quantity built
    from a container that the registry never parsed cannot be printed (pint's formatter looks
    its symbol up: KeyError)."""
    for name in units:
        if name not in _NAMED:
            ureg.get_name(name)
            _NAMED.add(name)
    return units


def _unpickle_quantity(magnitude: Any, units: Any) -> pint.Quantity:
    return ureg.Quantity(magnitude, _known(units))


def _unpickle_unit(units: Any) -> pint.Unit:
    return ureg.Unit(_known(units))


_NAMED: set[str] = set()  # unit names the registry has parsed since start-up (see _known)


ureg: pint.UnitRegistry = _build_registry()
Quantity = ureg.Quantity

# Dimension name -> (canonical unit, human description, example) for error messages.
CANONICAL = {
    "count": ("dimensionless", "a count", "7e9"),
    "flop": ("FLOP", "an amount of compute", "3.14e23 FLOP"),
    "flop_rate": ("FLOP/s", "a compute throughput", "989 TFLOP/s"),
    "token": ("token", "a number of tokens", "300B tokens"),
    "byte": ("byte", "an amount of memory", "80 GiB"),
    "bandwidth": ("byte/s", "a bandwidth", "3.35 TB/s"),
    "time": ("s", "a duration", "30 days"),
    "power": ("W", "a power", "700 W"),
    "energy": ("J", "an energy", "450 MWh"),
    "usd": ("USD", "an amount of money", "$1000"),
    "usd_rate": ("USD/h", "a price per device-hour", "$2.10/h"),
    "usd_per_energy": ("USD/kWh", "an electricity price", "$0.08/kWh"),
    "co2e": ("g", "a mass of CO2e", "173 tCO2e"),
    "intensity": ("g/kWh", "a carbon intensity", "385 g/kWh"),
    "device_time": ("GPU*hour", "device-hours", "500000 GPU*h"),
    "rate": ("1/s", "a request rate", "12/s"),
}


# Units results are reported in (magnitudes are converted by the caller), besides the kinds'.
_REPORTED = frozenset({"hour", "day", "GiB", "1/s", "mWh", "Wh", "kWh", "MWh", "kg", "tonne", "ms", "token/s",
                       "USD/MWh", "W"})


class _Units(dict):
    """Kind -> its canonical Unit, and the reported units by name, each parsed on first use
    (parsing them all took ~5 ms of every start)."""

    def __missing__(self, key: str) -> pint.Unit:
        if key in CANONICAL:
            unit = ureg.Unit(CANONICAL[key][0])
        elif key in _REPORTED:
            unit = ureg.Unit(key)
        else:
            raise KeyError(key)
        self[key] = unit
        return unit


class _Dimensions(dict):
    """Kind -> the dimensionality of its canonical unit, on first use."""

    def __missing__(self, key: str) -> Any:
        if key not in CANONICAL:
            raise KeyError(key)
        dims = self[key] = UNITS[key].dimensionality
        return dims


UNITS = _Units()
DIMS = _Dimensions()

# The largest value of each kind, in its canonical unit (see costmodel.unit_parsing's docstring).
LIMITS = {
    "count": 1e18, "token": 1e18, "flop": 1e33, "flop_rate": 1e21, "byte": 1e18, "bandwidth": 1e17,
    "time": 3.2e9, "power": 1e10, "energy": 1e22, "usd": 1e15, "usd_rate": 1e9, "usd_per_energy": 1e4,
    "co2e": 1e16, "intensity": 1e6, "device_time": 1e13, "rate": 1e9,
}


def quantity(magnitude: FloatArray, kind: str) -> pint.Quantity:
    """Wrap a canonical float (or array) as a Quantity of the given kind, cheaply."""
    q: pint.Quantity = object.__new__(Quantity)
    q._magnitude = magnitude
    q._units = UNITS[kind]._units
    return q
