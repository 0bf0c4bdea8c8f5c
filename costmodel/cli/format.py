"""Rendering for people: one number style, human units, aligned tables.

Every figure a command prints goes through these helpers: :func:`number` (three significant
figures, thousands separated, an exponent only for very large or small values), :func:`count`
(``175B``), and the unit pickers :func:`duration`, :func:`size`, :func:`energy`, :func:`mass`
and :func:`money`, which choose the unit that fits (``8.6 s``, not ``9.96e-05 days``). Each
picker takes the typical value and optionally the low and high ends of its range, and writes
``'31 days (24-41)'``: the range in the typical value's unit.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

__all__ = ["number", "count", "qty", "duration", "size", "energy", "mass", "money", "plain", "table", "ranged",
           "CENT"]

_COUNT_WORDS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))
# (unit, its size in the canonical unit), smallest first: a value takes the largest unit it reaches
_TIME = (("ms", 1e-3), ("s", 1.0), ("min", 60.0), ("h", 3600.0), ("days", 86400.0))
_BYTES = (("B", 1.0), ("KiB", 2.0**10), ("MiB", 2.0**20), ("GiB", 2.0**30), ("TiB", 2.0**40))
_ENERGY = (("mWh", 3.6), ("Wh", 3600.0), ("kWh", 3.6e6), ("MWh", 3.6e9), ("GWh", 3.6e12))  # from J
_MASS = (("g", 1.0), ("kg", 1e3), ("t", 1e6))  # from g
CENT = 0.01

Number = Optional[float]


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def number(x: Number, digits: int = 3) -> str:
    """A float with ``digits`` significant figures, no exponent for everyday sizes."""
    if _missing(x):
        return "-"
    assert x is not None
    if x == 0:
        return "0"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude >= 15 or magnitude <= -4:
        return f"{x:.{digits - 1}e}"
    decimals = max(digits - 1 - magnitude, 0)
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def count(x: Number) -> str:
    """A count with a word-like suffix: 175B, 1.8T, 124M."""
    if _missing(x):
        return "-"
    assert x is not None
    if abs(x) >= 1e15:
        return number(x)
    for scale, suffix in _COUNT_WORDS:
        if abs(x) >= scale * (1 - 5e-4):  # 999,999 rounds to 1,000k: write it 1M
            return f"{number(x / scale)}{suffix}"
    return number(x)


def _span(typical: str, low: str | None, high: str | None) -> str:
    """``'typical (low-high)'``; the typical value alone when the range is a point or absent."""
    if low is None or high is None or low == high == typical.split(" ")[0]:
        return typical
    return f"{typical} ({low}-{high})"


def _laddered(ladder, x: Number, low: Number, high: Number) -> str:
    """``x`` in the largest unit of ``ladder`` it reaches, its range in the same unit."""
    if _missing(x):
        return "-"
    assert x is not None
    unit, scale = next((u for u in ladder if u[1] == 1.0), ladder[0]) if x == 0 else ladder[0]
    for name, size_ in ladder:
        if x != 0 and abs(x) >= size_ * (1 - 5e-4):  # 59.99 s rounds to 60 s: show it as 1 min
            unit, scale = name, size_
    ends = [None if v is None or _missing(v) else number(v / scale) for v in (low, high)]
    return _span(f"{number(x / scale)} {unit}", *ends)


def duration(seconds: Number, low: Number = None, high: Number = None) -> str:
    """A time in ms, s, min, h or days, whichever fits: ``duration(8.6)`` is ``'8.6 s'``."""
    return _laddered(_TIME, seconds, low, high)


def size(nbytes: Number, low: Number = None, high: Number = None) -> str:
    """Bytes in B, KiB, MiB, GiB or TiB: ``size(2**30 * 80)`` is ``'80 GiB'``."""
    return _laddered(_BYTES, nbytes, low, high)


def energy(joules: Number, low: Number = None, high: Number = None) -> str:
    """Energy in mWh, Wh, kWh, MWh or GWh: ``energy(3.6e9)`` is ``'1 MWh'``."""
    return _laddered(_ENERGY, joules, low, high)


def mass(grams: Number, low: Number = None, high: Number = None) -> str:
    """A mass of CO2e in g, kg or t: ``mass(1.54e5)`` is ``'154 kg'``."""
    return _laddered(_MASS, grams, low, high)


def _dollars(x: float) -> str:
    if x == 0:
        return "$0"
    if 0 < abs(x) < CENT:
        return "< $0.01"
    return f"${number(x)}" if abs(x) < 1e3 else f"${count(x)}"


def money(usd: Number, low: Number = None, high: Number = None) -> str:
    """Dollars: ``'$0.746'``, ``'$16.8'``, ``'$1.91k'``, ``'$4.6M'``; below a cent ``'< $0.01'``."""
    if _missing(usd):
        return "-"
    assert usd is not None
    ends = [None if v is None or _missing(v) else _dollars(v) for v in (low, high)]
    typical = _dollars(usd)
    if ends[0] is None or ends[1] is None or ends[0] == ends[1] == typical:
        return typical
    return f"{typical} ({ends[0]}-{ends[1]})"


def plain(x: Number, low: Number = None, high: Number = None, *, unit: str = "", digits: int = 3,
          how: Callable[[Number], str] | None = None) -> str:
    """A number (and ``unit``) with its range, written by ``how`` (default :func:`number` with
    ``digits``): ``plain(0.25, 0.2, 0.37)`` is ``'0.25 (0.2-0.37)'``."""
    if _missing(x):
        return "-"
    write = how or (lambda v: number(v, digits))
    ends = [None if _missing(v) else write(v) for v in (low, high)]
    return _span(f"{write(x)} {unit}".rstrip(), *ends)


def qty(q, unit: str | None = None, digits: int = 3) -> str:
    """A Quantity in ``unit`` (or its own), e.g. '80 GiB'."""
    if q is None:
        return "-"
    if unit is not None:
        q = q.to(unit)
    return f"{number(float(q.magnitude), digits)} {q.units:~P}".strip()


def table(rows: list[list[str]], header: list[str]) -> str:
    """Rows as an aligned text table; numeric-looking columns are right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    numeric = [all(_looks_numeric(r[i]) for r in rows) if rows else False for i in range(len(header))]

    def line(cells):
        return "  ".join((str(c).rjust(w) if num else str(c).ljust(w))
                         for c, w, num in zip(cells, widths, numeric)).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def _looks_numeric(text) -> bool:
    s = str(text).strip()
    if not s or s == "-":
        return s == "-"
    return s[0].isdigit() or s[0] in "$<+." or (s[0] == "-" and s[1:2].isdigit())


def ranged(est, path: str, unit: str, style: Callable[..., str] = plain) -> str:
    """A figure of an estimate with its range, in ``style``: ``ranged(est, "wall_time", "s",
    duration)`` is ``'31 days (24-41)'``; ``path`` is an attribute path of ``est``, read in
    ``unit`` (the unit ``style`` expects)."""
    def get(obj):
        for part in path.split("."):
            obj = getattr(obj, part)
        return None if obj is None else float(obj.to(unit).magnitude) if hasattr(obj, "to") else float(obj)

    typical = get(est)
    if typical is None:
        return "-"
    if est.low is None:
        return style(typical)
    return style(typical, get(est.low), get(est.high))


def no_price(cost_basis: str) -> str:
    """What to pass when a device has no price for the cost basis."""
    if cost_basis == "owned":
        return "no purchase price for this device; pass --purchase-price"
    return "no price for this device; pass --price"


def footer(est) -> list[str]:
    """An estimate's warnings and assumptions, as the summaries end."""
    return [*(f"  warning: {w}" for w in est.warnings), "Assumptions:",
            *(f"  {k}: {v}" for k, v in est.assumptions.items())]
