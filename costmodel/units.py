"""The unit registry and the parsing of user input into canonical floats.

Everything that enters the library passes through :func:`parse_count` or
:func:`parse_quantity` once; the core then works on plain floats (or numpy
arrays) in canonical units, and results are wrapped back into Quantities with
:func:`quantity`.

This module is the public face of two: :mod:`costmodel.unit_registry` (the registry built
from ``units.txt``, its pickling, the kinds with their canonical units and limits, and
:func:`quantity`) and :mod:`costmodel.unit_parsing` (counts and quantities read from numbers,
strings and Quantities: what a string may be, and the finite ranges).

Canonical units
---------------
FLOP, token, byte, second, watt, joule, USD, gram (of CO2e).
"""

from __future__ import annotations

from .unit_parsing import FRACTION_MIN, parse_count, parse_fraction, parse_quantity, parse_whole
from .unit_registry import (CANONICAL, DEFINITIONS, LIMITS, BoolArray, CountLike, FloatArray, Quantity, QuantityLike,
                            quantity, ureg)

__all__ = ["ureg", "Quantity", "parse_count", "parse_quantity", "parse_whole", "parse_fraction", "quantity", "LIMITS",
           "FloatArray", "BoolArray", "CountLike", "QuantityLike"]
