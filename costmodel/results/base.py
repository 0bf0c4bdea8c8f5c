"""What the estimators return: frozen results whose figures are Quantities built when read.

A result holds the float records its pipeline produced (one scenario: typical, low or high)
and builds each Quantity the first time it is read. ``.low`` and ``.high`` run the same
pipeline once over the (typical, optimistic, pessimistic) scenarios of the uncertain inputs
and are cached. ``to_dict()`` and the sweeps read the same output tables (``OUTPUTS`` of each
estimator), so a sweep row equals ``to_dict()`` by construction. A result pickles through its
float records (pint would unpickle Quantities into its application registry, which does not
know FLOP or token).
"""

from __future__ import annotations

import abc
import dataclasses
import html
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, NamedTuple, TypeVar

import numpy as np
import pint

from ..elementwise import any_true, isnan, ndim
from ..energy import J_PER_KWH, FootprintLabels, FootprintValues
from ..errors import InputError
from ..units import quantity

__all__ = ["Output", "Footprint", "RangedEstimate", "pick", "pick_record", "output_values", "check_finite",
           "first_not_finite", "pick_ends"]


class Output(NamedTuple):
    """One figure of a result: its ``to_dict``/sweep key, unit, how it is computed from
    ``(case, values)``, and whether it has a range."""

    key: str
    unit: str
    value: Callable[[Any, Any], Any]
    ranged: bool = True


def pick(x, which: str, row_ndim: int = 0):
    """One scenario of an array whose leading axis (present when ``ndim > row_ndim``) holds the
    (typical, optimistic, pessimistic) scenarios: typical, or the low or high end field by field.

    Each output is monotone in each uncertain input, so its extremes lie at the scenario ends
    (tests/test_ranges.py checks that rather than assuming it).
    """
    rank = ndim(x)
    if rank <= row_ndim:
        return x
    if which == "typical":
        return x[0]
    if rank == 1:  # one configuration's three scenarios: plain floats are faster than a reduction
        return min(x.tolist()) if which == "low" else max(x.tolist())
    if len(x) == 3:  # the reduction's own order, as two elementwise passes (numpy's reduce over a
        end = np.minimum if which == "low" else np.maximum  # leading axis is slower)
        out = end(x[0], x[1])
        return end(out, x[2], out=out)
    return x.min(axis=0) if which == "low" else x.max(axis=0)


def pick_record(record, which: str, row_ndim: int = 0):
    """:func:`pick` applied to every field of a record (nested records included)."""
    out = {}
    for name in _field_names(type(record)):
        value = getattr(record, name)
        kind = type(value)
        if kind in _NUMBERS:  # no scenario axis (pick would return it as it is)
            out[name] = value
        elif _field_names(kind):
            out[name] = pick_record(value, which, row_ndim)
        else:
            out[name] = pick(value, which, row_ndim)
    return type(record)(**out)


def pick_ends(record, row_ndim: int = 0) -> tuple[Any, Any]:
    """``(pick_record(record, "low"), pick_record(record, "high"))`` in one pass."""
    low, high = {}, {}
    for name in _field_names(type(record)):
        value = getattr(record, name)
        kind = type(value)
        if kind in _NUMBERS:
            low[name] = high[name] = value
        elif kind is np.ndarray and value.ndim == row_ndim + 1 == 1:  # one configuration's scenarios, as in pick
            scenarios = value.tolist()
            low[name], high[name] = min(scenarios), max(scenarios)
        elif _field_names(kind):
            low[name], high[name] = pick_ends(value, row_ndim)
        else:
            low[name], high[name] = pick(value, "low", row_ndim), pick(value, "high", row_ndim)
    return type(record)(**low), type(record)(**high)


_NUMBERS = frozenset({float, int, bool, np.float64, np.bool_, type(None)})
_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    """The field names of a dataclass type (empty for any other type), looked up once per type."""
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = (tuple(f.name for f in dataclasses.fields(kind))
                                 if dataclasses.is_dataclass(kind) else ())
    return names


def first_not_finite(outputs, case, values, allowed_nan: frozenset) -> Output | None:
    """The first output of ``outputs`` that is infinite, or NaN where NaN does not mean "not
    known" (``allowed_nan``), or None."""
    for o in outputs:
        x = o.value(case, values)
        if type(x) is float:  # one estimate's figures: plain floats, most of them finite
            if x - x == 0.0:
                continue
            bad = math.isinf(x) or (math.isnan(x) and o.key not in allowed_nan)
        elif ndim(x) == 0:  # one estimate: plain floats are faster than array reductions
            f = float(x)
            bad = math.isinf(f) or (math.isnan(f) and o.key not in allowed_nan)
        else:
            arr = np.asarray(x, dtype=float)
            bad = bool(any_true(np.isinf(arr) | (isnan(arr) if o.key not in allowed_nan else False)))
        if bad:
            return o
    return None


def check_finite(outputs, case, values, allowed_nan: frozenset, culprits: dict, default: str) -> None:
    """Refuse a figure that is infinite, or NaN where NaN does not mean "not known": the error
    names the input that drives it (``culprits``: output key -> keyword, else ``default``). The
    inputs' documented ranges keep every figure finite; this is the last guard."""
    o = first_not_finite(outputs, case, values, allowed_nan)
    if o is not None:
        argument = culprits.get(o.key, default)
        raise InputError(f"gives a {o.key} that is not finite; a smaller {{{argument}}} keeps it finite",
                         argument=argument)


def output_values(outputs, case, values) -> dict:
    """``{key: value}`` of an output table; ``values`` of one scenario."""
    return {o.key: o.value(case, values) for o in outputs}


def _float(x) -> float:
    return float(x) if ndim(x) == 0 else float(np.ravel(x)[0])


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else x


@dataclass(frozen=True, slots=True, kw_only=True)
class Footprint:
    """Energy, emissions and cost of a job, with the assumptions behind them."""

    energy: pint.Quantity  # facility energy, PUE included
    it_energy: pint.Quantity  # devices and their servers, before PUE
    device_energy: pint.Quantity
    host_energy: pint.Quantity
    co2e: pint.Quantity  # operational, location-based
    embodied_co2e: pint.Quantity | None  # manufacturing share; only when asked for
    cost: pint.Quantity | None  # None when no price is known for this device
    cost_basis: str  # "cloud" or "owned"
    power_per_gpu: pint.Quantity  # average device draw used
    host_power_per_gpu: pint.Quantity
    pue: float
    grid_intensity: pint.Quantity
    region: str | None
    price_per_gpu_hour: pint.Quantity | None

    @classmethod
    def from_values(cls, v: FootprintValues, labels: FootprintLabels, energy_unit: str = "kWh") -> Footprint:
        """Quantities from one scenario's floats; energies in ``energy_unit`` (kWh or Wh)."""
        e = lambda j: _energy(j, energy_unit)  # noqa: E731
        embodied, cost, price = (_nan_to_none(_float(x)) for x in (v.embodied_g, v.cost, v.price))
        return cls(
            energy=e(v.energy_j), it_energy=e(v.it_j), device_energy=e(v.device_j), host_energy=e(v.host_j),
            co2e=quantity(_float(v.co2e_g) / 1000.0, "kg"),
            embodied_co2e=None if embodied is None else quantity(embodied / 1000.0, "kg"),
            cost=None if cost is None else quantity(cost, "usd"), cost_basis=labels.cost_basis,
            power_per_gpu=quantity(_float(v.device_w), "power"), host_power_per_gpu=quantity(_float(v.host_w), "power"),
            pue=_float(v.pue), grid_intensity=quantity(_float(v.grid), "intensity"), region=labels.region,
            price_per_gpu_hour=None if price is None else quantity(price, "usd_rate"))


def _energy(joules, unit: str) -> pint.Quantity:
    """An energy of the footprint's floats [J] as a Quantity in ``unit`` (kWh or Wh)."""
    return quantity(_float(joules) / (J_PER_KWH / (1000.0 if unit == "Wh" else 1.0)), unit)


_Estimate = TypeVar("_Estimate", bound="RangedEstimate")
_MISSING = object()
# id(case) -> (case, calibration, scenarios function, (low values, high values)): the ends of a
# case's range, kept with the objects they were made from (held here, so their ids are not reused)
_ENDS: dict[int, tuple[Any, Any, Any, tuple[Any, Any]]] = {}
_ENDS_MAX = 4096


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class RangedEstimate(abc.ABC):
    """Behaviour both result types share: cached figures, ``low``/``high``, ``to_dict``, pickling
    and short representations.

    The fields are the resolved inputs (``_case``), the constants they were evaluated with, the
    function that evaluates all three scenarios of them, one scenario's outputs (``_values``),
    which end of the range this is (``_bound``: None, "low" or "high") and a cache of built
    figures. Subclasses add their public fields and define ``OUTPUTS``, ``META``, ``HEADLINE``
    and ``_title()``.
    """

    _case: Any = field(compare=False)
    _calibration: Any = field(compare=False)
    _scenarios_of: Callable[[Any, Any], Any] = field(compare=False)  # (case, calibration) -> 3 scenarios
    _values: Any = field(compare=False)
    _labels: Any = field(compare=False)
    _profile: Any = field(compare=False)
    _bound: str | None = field(default=None, compare=False)
    _cache: dict = field(default_factory=dict, compare=False)

    OUTPUTS: ClassVar[tuple] = ()
    META: ClassVar[tuple] = ()
    HEADLINE: ClassVar[tuple] = ()  # (attribute, unit, label) shown by repr and _repr_html_
    ENERGY_UNIT: ClassVar[str] = "kWh"  # of the footprint's energies

    @property
    def footprint(self) -> Footprint:
        """Energy, emissions and cost with the inputs behind them."""
        if "footprint" not in self._cache:
            self._cache["footprint"] = Footprint.from_values(self._values.footprint, self._labels, self.ENERGY_UNIT)
        return self._cache["footprint"]

    @property
    def energy(self) -> pint.Quantity:
        """Facility energy, PUE included."""
        cache = self._cache
        if "footprint" in cache:
            return cache["footprint"].energy
        if "energy" not in cache:  # the headline figure alone, without the footprint's others
            cache["energy"] = _energy(self._values.footprint.energy_j, self.ENERGY_UNIT)
        return cache["energy"]

    @property
    def cost(self) -> pint.Quantity | None:
        """Dollars (None without a price)."""
        cache = self._cache
        if "footprint" in cache:
            return cache["footprint"].cost
        q = cache.get("cost", _MISSING)
        if q is _MISSING:  # the headline figure alone, as the footprint builds it
            x = _nan_to_none(_float(self._values.footprint.cost))
            q = cache["cost"] = None if x is None else quantity(x, "usd")
        return q

    @property
    @abc.abstractmethod
    def memory(self) -> Any:
        """Bytes per device by kind [GiB] (each estimator says which kinds)."""

    @property
    def memory_per_gpu(self) -> pint.Quantity:
        """Bytes per device, all kinds [GiB]."""
        return self.memory.total

    def _title(self) -> str:
        return type(self).__name__

    def _scenarios(self) -> Any:
        return self._scenarios_of(self._case, self._calibration)

    def _q(self, path: str, kind: str, scale: float = 1.0, *, of: str = "values") -> Any:
        """The figure at ``path`` (``"flops"``, ``"timings.ttft"``) of ``_values`` (or of the
        case's model with ``of="model"``) as a Quantity of ``kind``; cached; None if NaN."""
        cache, name = self._cache, (of, path, kind, scale)
        q = cache.get(name, _MISSING)
        if q is _MISSING:
            obj = self._values if of == "values" else self._case.model
            for part in path.split(".") if "." in path else (path,):
                obj = getattr(obj, part)
            x = (obj if type(obj) is float else _float(obj)) * scale
            q = cache[name] = None if math.isnan(x) else quantity(x, kind)
        return q

    def _ends(self) -> tuple[Any, Any]:
        """The values of the low and high ends (:func:`pick_ends` of the three scenarios), kept
        per case and calibration: an estimate repeated with the same arguments shares its case
        (the estimators keep each argument list resolved), so its range is evaluated once."""
        case = self._case
        held = _ENDS.get(id(case))
        if held is None or held[0] is not case or held[1] is not self._calibration or held[2] is not self._scenarios_of:
            held = (case, self._calibration, self._scenarios_of, pick_ends(self._scenarios()))
            if len(_ENDS) >= _ENDS_MAX:
                _ENDS.clear()
            _ENDS[id(case)] = held
        return held[3]

    def _end(self: _Estimate, which: str) -> _Estimate | None:
        if self._bound is not None:
            return None
        if which not in self._cache:  # one evaluation serves both ends
            fields = {name: getattr(self, name) for name in _field_names(type(self))}
            for end, values in zip(("low", "high"), self._ends()):
                self._cache[end] = type(self)(**{**fields, "_values": values, "_bound": end, "_cache": {}})
        return self._cache[which]

    @property
    def low(self: _Estimate) -> _Estimate | None:
        """The same estimate with every figure at the low end of its range (None on a bound)."""
        return self._end("low")

    @property
    def high(self: _Estimate) -> _Estimate | None:
        """The same estimate with every figure at the high end of its range (None on a bound)."""
        return self._end("high")

    def _flat(self) -> dict:
        out = {k: getattr(self, k) for k in self.META}
        for key, value in output_values(self.OUTPUTS, self._case, self._values).items():
            out[key] = _nan_to_none(_float(value))
        return out

    def to_dict(self, ranges: bool = False) -> dict:
        """Plain values with unit-suffixed keys (stable names; see README).

        ``ranges=True`` adds ``<key>_low`` and ``<key>_high`` for every figure with a range.
        """
        out = self._flat()
        if ranges and self._bound is None:
            ranged = {o.key for o in self.OUTPUTS if o.ranged}
            for end in ("low", "high"):
                out.update({f"{k}_{end}": v for k, v in getattr(self, end)._flat().items() if k in ranged})
        return out

    def _headline(self) -> list[tuple[str, str, str]]:
        rows = []
        for attr, unit, label in self.HEADLINE:
            q = getattr(self, attr)
            if q is not None:
                rows.append((label, attr, f"{q.to(unit).magnitude:.4g} {unit}"))
        return rows

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self._title()})"]
        lines += [f"  {label}: {text}" for label, _, text in self._headline()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A table of the headline figures with their ranges, for notebooks."""
        cells = []
        for attr, unit, label in self.HEADLINE:
            q = getattr(self, attr)
            if q is None:
                continue
            lo, hi = (getattr(e, attr) for e in (self.low, self.high)) if self._bound is None else (None, None)
            span = "" if lo is None or hi is None else f"{lo.to(unit).magnitude:.4g} – {hi.to(unit).magnitude:.4g}"
            cells.append(f"<tr><th>{html.escape(label)}</th><td>{q.to(unit).magnitude:.4g}</td>"
                         f"<td>{html.escape(span)}</td><td>{html.escape(unit)}</td></tr>")
        return (f"<table><caption>{html.escape(self._title())}</caption>"
                "<tr><th></th><th>estimate</th><th>range</th><th>unit</th></tr>" + "".join(cells) + "</table>")

    def __reduce__(self):
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("_cache", "_profile")}
        return _rebuild, (type(self), state, self._profile.id, self._profile.path)


def _rebuild(cls, state: dict, profile_id: str, profile_path: str):
    from ..hardware import get_hardware, load_profile

    try:
        profile = load_profile(profile_path)
    except Exception:  # the file moved: the built-in profile of that id
        profile = get_hardware(profile_id)
    return cls(**state, _profile=profile, _cache={})
