"""Distributions and queueing formulas that the traffic model (:mod:`costmodel.traffic`) is
built from: an occupancy-dependent Erlang C, normal, gamma and lognormal quantiles, and the
percentile of a sum of independent parts.

Every function takes a namespace ``xp`` first: :class:`Floats` (plain floats through
:mod:`math`, for one scenario) or :class:`Arrays` (numpy, rows that broadcast), so one formula
serves a single estimate and a sweep.

References
----------
Kleinrock 1975, "Queueing Systems", vol. 1 (Erlang C);
Halfin and Whitt 1981, "Heavy-traffic limits for queues with many exponential servers";
Wilson and Hilferty 1931 (gamma quantiles); Abramowitz and Stegun 1964, 7.1.26 (erf) and
26.2.23 (normal quantiles).

Examples
--------
>>> round(ncdf(Floats, 1.2815515655446004), 4)
0.9
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Arrays", "Floats", "TINY", "add_deviations", "erlang_c", "gamma_dev", "lognormal_q", "ncdf", "nquantile",
           "wait_dev"]

_EXACT_SLOTS = 64  # Erlang C by recursion up to here, Halfin-Whitt above
TINY = 1e-300


class Floats:
    """Plain-float versions of the few functions the model needs (the scalar path is ~10x faster
    in math than in numpy on 0-d arrays); arguments are kept in range by the callers."""

    sqrt = staticmethod(math.sqrt)
    exp = staticmethod(lambda x: math.exp(min(x, 700.0)))
    log = staticmethod(lambda x: math.log(max(x, TINY)))
    minimum = staticmethod(min)
    maximum = staticmethod(max)
    where = staticmethod(lambda c, a, b: a if c else b)
    floor = staticmethod(math.floor)


class Arrays:
    """The same functions on numpy arrays (any shape that broadcasts)."""

    sqrt = staticmethod(np.sqrt)
    exp = staticmethod(lambda x: np.exp(np.minimum(x, 700.0)))
    log = staticmethod(lambda x: np.log(np.maximum(x, TINY)))
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)
    where = staticmethod(np.where)
    floor = staticmethod(np.floor)


def erlang_c(xp: Any, c: Any, base: Any, per_slot: Any) -> Any:
    """Probability that all ``c`` slots are taken, an Erlang C whose offered load depends on the
    occupancy: ``base + per_slot * k`` at ``k`` taken (a fuller replica steps slower); exact
    recursion up to 64 slots, Halfin-Whitt at the full load above."""
    a = base + per_slot * c
    rho = a / c
    beta = (c - a) / xp.sqrt(xp.maximum(a, 1e-12))  # Halfin-Whitt: C = 1 / (1 + beta Phi(beta) / phi(beta))
    hw = 1.0 / (1.0 + beta * ncdf(xp, beta) * 2.5066282746310002 * xp.exp(xp.minimum(0.5 * beta * beta, 300.0)))
    if xp is Floats:
        if c > _EXACT_SLOTS:
            return hw
        b: Any = 1.0
        for k in range(1, int(c) + 1):
            ak = (base + per_slot * k) * b
            b = ak / (k + ak)
        return b / (1.0 - rho * (1.0 - b))
    if np.all(c > _EXACT_SLOTS):  # Halfin-Whitt everywhere: the recursion below would be dropped
        return np.array(hw, dtype=float)
    b = np.ones_like(a)
    for k in range(1, int(min(np.max(c, initial=1.0), _EXACT_SLOTS)) + 1):
        ak = (base + per_slot * k) * b
        b = np.where(k <= c, ak / (k + ak), b)
    return np.where(c > _EXACT_SLOTS, hw, b / (1.0 - rho * (1.0 - b)))


def ncdf(xp: Any, x: Any) -> Any:
    """Standard normal CDF (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7)."""
    z = abs(x) / 1.4142135623730951
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    half_erfc = 0.5 * poly * xp.exp(-z * z)
    return xp.where(x >= 0, 1.0 - half_erfc, half_erfc)


def gamma_dev(xp: Any, mean: Any, var: Any, z: float) -> Any:
    """Quantile minus mean of a gamma with these moments (Wilson-Hilferty)."""
    c2 = xp.minimum(var / xp.maximum(mean * mean, TINY), 1e6)
    base = xp.maximum(1.0 - c2 / 9.0 + z * xp.sqrt(c2) / 3.0, 0.0)
    return mean * (base * base * base - 1.0)


def lognormal_q(xp: Any, mean: Any, var: Any, z: float) -> Any:
    """Quantile of a lognormal with these moments at the standard normal quantile ``z``."""
    c2 = xp.minimum(var / xp.maximum(mean * mean, TINY), 1e6)
    return mean / xp.sqrt(1.0 + c2) * xp.exp(z * xp.sqrt(xp.log(1.0 + c2)))


def wait_dev(xp: Any, mean: Any, pi: Any, alpha: float) -> Any:
    """Quantile minus mean of a wait that is 0 with probability ``1 - pi``, else exponential."""
    theta = mean / xp.maximum(pi, TINY)
    return theta * xp.log(xp.maximum(pi / (1.0 - alpha), 1.0)) - mean


def add_deviations(xp: Any, devs: tuple[Any, ...]) -> Any:
    """Deviation of a sum of independent parts at a percentile: positive and negative parts
    root-sum-squared apart."""
    pos = sum(xp.maximum(d, 0.0) ** 2 for d in devs)
    neg = sum(xp.minimum(d, 0.0) ** 2 for d in devs)
    return xp.sqrt(pos) - xp.sqrt(neg)

def nquantile(xp: Any, level: Any) -> Any:
    """Standard normal quantile at ``level`` (Abramowitz and Stegun 26.2.23, |error| < 4.5e-4)."""
    q = xp.minimum(xp.maximum(xp.minimum(level, 1.0 - level), 1e-12), 0.5)
    t = xp.sqrt(-2.0 * xp.log(q))
    x = t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)))
    return xp.where(level < 0.5, -x, x)

