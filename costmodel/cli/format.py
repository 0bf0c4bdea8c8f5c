"""Rendering for people: numbers with sensible precision, quantities, aligned tables."""

from __future__ import annotations

import math

__all__ = ["number", "count", "qty", "table", "ranged"]

_COUNT_WORDS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def number(x: float, digits: int = 3) -> str:
    """A float with ``digits`` significant figures, no exponent for everyday sizes."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x == 0:
        return "0"
    if math.isinf(x):
        return "inf"
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude >= 15 or magnitude <= -4:
        return f"{x:.{digits - 1}e}"
    decimals = max(digits - 1 - magnitude, 0)
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def count(x: float) -> str:
    """A count with a word-like suffix: 175B, 1.8T, 124M."""
    if abs(x) >= 1e15:
        return f"{x:.3g}"
    for scale, suffix in _COUNT_WORDS:
        if abs(x) >= scale:
            return f"{number(x / scale)}{suffix}"
    return number(x)


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
    return bool(s) and (s[0].isdigit() or s[0] in "-+.") and s != "-"


def ranged(est, path: str, unit: str, render=number) -> str:
    """A figure with its range: '31 days (24-41)'; ``path`` is an attribute path of ``est``."""
    def get(obj):
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj

    typical = get(est)
    if typical is None:
        return "-"
    value = float(typical.to(unit).magnitude) if hasattr(typical, "to") else float(typical)
    text = render(value)
    if est.low is None:
        return text
    lo, hi = (get(e) for e in (est.low, est.high))
    lo, hi = (float(q.to(unit).magnitude) if hasattr(q, "to") else float(q) for q in (lo, hi))
    return text if lo == hi == value else f"{text} ({render(lo)}-{render(hi)})"
