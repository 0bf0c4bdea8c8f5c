"""The edge of a one-dimensional region: the largest input at which a test still passes.

:func:`find_edge` brackets the edge between a good and a bad end and closes the bracket by
regula falsi on a continuous excess (with the Illinois halving, Dowell and Jarratt 1971),
bisecting where the excess is unusable; :func:`costmodel.traffic.max_rate_within` finds with it
the most requests a second a replica serves within its p99 targets.

>>> find_edge(lambda x: (x <= 0.3, x - 0.3), 1.0, 1e-12) == 0.3
True
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["find_edge"]


def find_edge(f: Callable[[float], tuple[bool, float | None]], top: float, resolution: float) -> float:
    """The largest ``x`` in ``[0, top)`` with ``f(x)`` good, to ``resolution`` (or 4 units in the
    last place), for ``f`` good below an edge and bad above it (``top`` is bad); 0 when ``f(0)``
    is bad.

    ``f`` also returns a continuous excess that crosses zero at the edge. The bracket ``[lo, hi]``
    (``lo`` good, ``hi`` bad) shrinks by the secant through the two ends' excesses (regula falsi,
    with the Illinois halving of an end kept twice: Dowell and Jarratt 1971); a secant point
    within the tolerance of an end moves one tolerance past it, so that the bracket closes from
    both sides. Where an end has no usable excess (at first the top: an unstable replica's
    figures blow up, and a secant from there crawls), or the bracket did not halve in two steps,
    the step bisects; so it never takes more than about twice bisection's steps, and near a
    smooth edge it takes a handful. The last few units in the last place are bisected, as
    bisection from 0 would: then both give the same float wherever their grid is finer than
    the floats there (an edge above about 2^-7 of ``top`` at the default resolution).
    """
    good, e_lo = f(0.0)
    if not good:
        return 0.0
    e_lo = None if e_lo is None else min(e_lo, 0.0)
    lo, hi, e_hi = 0.0, top, None  # the top is unstable: bad, whatever its figures
    last, steps, width = 0, 0, 2.0 * top  # the end the last step moved (+1 lo, -1 hi); the width two steps ago
    while hi - lo > (tol := max(resolution, 4e-16 * hi)):
        stalled = False
        if steps % 2 == 0:
            stalled, width = hi - lo > 0.5 * width, hi - lo
        steps += 1
        if e_lo is None or e_hi is None or stalled:  # (e_lo <= 0 < e_hi otherwise)
            x = 0.5 * (lo + hi)
        else:
            x = min(max((lo * e_hi - hi * e_lo) / (e_hi - e_lo), lo + tol), hi - tol)
        good, e = f(x)
        if good:  # (an excess a rounding above zero at a good rate counts as zero)
            lo, e_lo = x, None if e is None else min(e, 0.0)
            if last == 1 and e_hi is not None:  # hi kept twice: halve its excess (Illinois)
                e_hi *= 0.5
            last = 1
        else:
            hi, e_hi = x, e if e is not None and e > 0.0 else None
            if last == -1 and e_lo is not None:
                e_lo *= 0.5
            last = -1
    while hi - lo > resolution and lo < (mid := 0.5 * (lo + hi)) < hi:  # the last units in the last place
        lo, hi = (mid, hi) if f(mid)[0] else (lo, mid)
    return lo
