"""What the estimators return: the ranged-estimate behaviour both result types share."""

from __future__ import annotations

import numpy as np

__all__ = ["RangedEstimate", "scenario_values"]


class RangedEstimate:
    """Mixin of the frozen result dataclasses: lazily built ``assumptions``, ``low``, ``high``.

    Subclasses define the fields ``_describe`` (a callable returning the assumptions),
    ``_ranges`` (``(build, low_values, high_values)`` or None) and ``_cache`` (a dict).
    """

    __slots__ = ()

    @property
    def assumptions(self) -> dict:
        """What was assumed and where it comes from."""
        if "assumptions" not in self._cache:
            self._cache["assumptions"] = {} if self._describe is None else self._describe()
        return self._cache["assumptions"]

    @property
    def low(self):
        """The same estimate with every figure at the low end of its range (None on a bound)."""
        return None if self._ranges is None else self._ranges[0](self._ranges[1])

    @property
    def high(self):
        """The same estimate with every figure at the high end of its range (None on a bound)."""
        return None if self._ranges is None else self._ranges[0](self._ranges[2])


def scenario_values(r: dict, f: dict) -> tuple[dict, dict, dict]:
    """Typical, low and high value of every output as plain floats.

    Low and high are taken field by field over the three scenarios: each output is monotone
    in each uncertain input, so its extremes lie at the scenario ends (tests/test_ranges.py
    checks that rather than assuming it).
    """
    keys = list(r) + ["host_w", "pue", "grid", "price"]
    table = np.empty((len(keys), 3))
    for j, k in enumerate(keys):
        table[j] = r[k] if k in r else f[k]
    return (dict(zip(keys, table[:, 0].tolist())), dict(zip(keys, table.min(axis=1).tolist())),
            dict(zip(keys, table.max(axis=1).tolist())))
