"""Power, energy, carbon and dollars: pure vectorised functions on canonical floats.

Power model (per device)
------------------------
``P_device(u) = TDP x (idle + (busy - idle) x u)`` for a busy fraction ``u`` in [0, 1]: an
accelerator that is powered but idle draws ``idle x TDP`` (about 20%, LBNL 2024 via Uptime
Institute), one that is busy all the time draws ``busy x TDP``: the device's measured power under
training load where sources give it, else the draw fraction fitted on measured training
energy (``[fitted]`` in ``data/energy_defaults.toml``, written by ``scripts/fit_energy.py``;
:func:`costmodel.energy_defaults.training_power`). Training keeps devices busy (``u = 1``);
inference uses the fraction of each step spent at the roofline. The server around the device
adds its measured share, else :func:`host_power`, the fitted share of its nameplate headroom
per device (CPUs, memory, network, fans), and the facility multiplies IT power by its PUE.
:func:`costmodel.energy_range.combine_spreads` makes the range of training energy the
root-sum-square of the inputs' log spreads (hours, power per device, PUE).

References
----------
Patterson et al. 2021, "Carbon Emissions and Large Neural Network Training" (system power,
PUE, grid intensity); Luccioni et al. 2022, "Estimating the Carbon Footprint of BLOOM"
(dynamic vs idle energy, embodied emissions); Dodge et al. 2022, "Measuring the Carbon
Intensity of AI in Cloud Instances" (measured GPU energy); Newkirk et al. 2025,
arXiv:2506.14551 (metered H100 node power: 76% of the 10.2 kW rating).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, SupportsFloat

import numpy as np

from .elementwise import any_true, isnan, where
from .energy_defaults import defaults, host_power, measured_power, training_power
from .errors import InputError
from .hardware import PERSONAL_KINDS
from .memo import memoise
from .units import FloatArray, QuantityLike, parse_quantity

if TYPE_CHECKING:
    from .hardware import HardwareProfile
    from .regions import Region

__all__ = ["device_power", "energy_joules", "carbon_grams", "embodied_grams", "cloud_cost", "owned_cost",
           "defaults", "FootprintInputs", "FootprintLabels", "FootprintValues", "resolve_footprint",
           "footprint_values", "describe_footprint", "parse_pue", "FOOTPRINT_KEYWORDS", "host_power"]

J_PER_KWH = 3.6e6
# The keyword arguments both estimators share for energy, carbon and dollars.
FOOTPRINT_KEYWORDS = ("pue", "power_per_gpu", "host_power_per_gpu", "region", "grid_intensity",
                      "price_per_gpu_hour", "cost_basis", "price_kind", "purchase_price",
                      "electricity_price", "service_life", "embodied")
COST_BASES = ("cloud", "owned")
PRICE_KINDS = ("on_demand", "spot", "reserved")


def device_power(tdp, busy_fraction_of_time, idle=0.2, busy=0.75):
    """Average device draw in W for a device busy ``busy_fraction_of_time`` of the time."""
    return tdp * (idle + (busy - idle) * busy_fraction_of_time)


def energy_joules(device_w, host_w, n_devices, seconds, pue):
    """(device, host, IT, facility) energy in J: IT = (device + host) x n x t; facility = IT x PUE."""
    device = device_w * n_devices * seconds
    host = host_w * n_devices * seconds
    it = device + host
    return device, host, it, it * pue


def carbon_grams(energy_j, intensity_g_per_kwh):
    """Operational emissions in gCO2e: energy x grid intensity."""
    return energy_j / J_PER_KWH * intensity_g_per_kwh


def embodied_grams(device_hours, embodied_g_per_device, life_hours):
    """Manufacturing emissions amortised over the device's service life, per device-hour."""
    return device_hours * embodied_g_per_device / life_hours


def cloud_cost(device_hours, price_per_hour):
    """Rented devices: device-hours x price per device-hour (USD)."""
    return device_hours * price_per_hour


def owned_cost(device_hours, purchase_price, life_hours, energy_j, electricity_usd_per_kwh):
    """Owned devices: purchase price amortised per device-hour plus the electricity bill (USD)."""
    return device_hours * purchase_price / life_hours + energy_j / J_PER_KWH * electricity_usd_per_kwh



@dataclass(frozen=True, slots=True, kw_only=True)
class FootprintInputs:
    """The energy, carbon and price options as canonical floats (W, J, gCO2e/kWh, USD, h).

    Each field is a length-3 array of (typical, optimistic, pessimistic) values, or per-row
    arrays in a sweep. A value the user gave is certain (three equal entries); a default
    spans its sourced range, the optimistic end being the one that lowers energy, carbon and
    cost. ``NaN`` marks "model it" (``power_w``) or "not known" (``price``, ``purchase``).
    ``owned`` and ``embodied`` are 0/1 flags.
    """

    pue: FloatArray
    grid: FloatArray
    power_w: FloatArray
    host_w: FloatArray
    idle: FloatArray
    busy: FloatArray
    life_h: FloatArray
    embodied_g: FloatArray
    embodied_life_h: FloatArray
    price: FloatArray
    purchase: FloatArray
    electricity: FloatArray
    owned: FloatArray
    embodied: FloatArray


@dataclass(frozen=True, slots=True, kw_only=True)
class FootprintLabels:
    """The named choices behind a :class:`FootprintInputs` (for descriptions and results)."""

    region: str | None
    cost_basis: str
    price_kind: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FootprintValues:
    """A job's footprint in canonical floats (or arrays): draw per device [W], energies [J],
    emissions [g], cost [USD; NaN without a price], and the uncertain inputs used."""

    device_w: FloatArray
    host_w: FloatArray
    pue: FloatArray
    grid: FloatArray
    price: FloatArray
    device_j: FloatArray
    host_j: FloatArray
    it_j: FloatArray
    energy_j: FloatArray
    co2e_g: FloatArray
    embodied_g: FloatArray
    cost: FloatArray


@functools.lru_cache(maxsize=1024)
def _span(typical: float, low: float, high: float) -> np.ndarray:
    """(typical, optimistic, pessimistic) values of an uncertain input (read-only, cached)."""
    out = np.array([typical, low, high], dtype=float)
    out.flags.writeable = False
    return out


def _fixed(value: float) -> np.ndarray:
    return _span(value, value, value)


def parse_pue(value: SupportsFloat | str) -> float:
    """A facility PUE from 1.0 to 10 (facility / IT energy)."""
    try:
        pue = float(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a number of at least 1.0 such as 1.1, got {value!r}", argument="pue") from None
    if not 1.0 <= pue <= 10.0:
        raise InputError(f"expected a number from 1.0 to 10 (facility / IT energy), got {value!r}", argument="pue")
    return pue


def _choice(value: str, allowed: tuple[str, ...], argument: str) -> str:
    if value not in allowed:
        raise InputError(f"expected {' or '.join(repr(a) for a in allowed)}, got {value!r}", argument=argument)
    return value


@memoise
def resolve_footprint(hw: HardwareProfile, *, pue: SupportsFloat | str | None = None,
                      power_per_gpu: QuantityLike | None = None, host_power_per_gpu: QuantityLike | None = None,
                      region: str | Region | None = None, grid_intensity: QuantityLike | None = None,
                      price_per_gpu_hour: QuantityLike | None = None, cost_basis: str = "cloud",
                      price_kind: str = "on_demand", purchase_price: QuantityLike | None = None,
                      electricity_price: QuantityLike | None = None, service_life: QuantityLike | None = None,
                      embodied: bool = False) -> tuple[FootprintInputs, FootprintLabels]:
    """Parse the energy/carbon/cost options for device ``hw`` once into canonical floats (cached
    per profile and distinct options)."""
    d = defaults()
    _choice(cost_basis, COST_BASES, "cost_basis")
    if cost_basis == "owned" and price_per_gpu_hour is not None:
        raise InputError("is a rented device's price; owned hardware is priced by {purchase_price=} (and "
                         "{electricity_price=}, {service_life=}), or use {cost_basis=} 'cloud'",
                         argument="price_per_gpu_hour")
    _choice(price_kind, PRICE_KINDS, "price_kind")
    reg = None
    if region is not None:
        from .regions import get_region  # only runs that name a region read the region table

        reg = get_region(region)
    personal = hw.kind in PERSONAL_KINDS  # phones, laptops, edge boards: no facility, no server
    if pue is not None:
        pue_span = _fixed(parse_pue(pue))
    elif personal:
        pue_span = _fixed(1.0)
    else:  # rented devices sit in hyperscale data centres, owned ones in typical ones
        typ, lo, hi = d["pue_cloud" if cost_basis == "cloud" else "pue_owned"]
        pue_span = _span(reg.pue, min(lo, reg.pue), max(hi, reg.pue)) if reg else _span(typ, lo, hi)
    if grid_intensity is not None:
        grid = _fixed(parse_quantity(grid_intensity, "intensity", "grid_intensity", allow_zero=True))
    elif reg is not None:
        grid = _span(*(float(q.magnitude) for q in (reg.grid_intensity, reg.intensity_low, reg.intensity_high)))
    else:
        grid = _span(*d["grid_g_per_kwh"])
    # under training load: measured where sources give it, else the fitted draw and host share
    busy, modelled_host = (d["busy_fraction"], None) if personal else training_power(hw.id, hw.number("tdp"))
    if host_power_per_gpu is not None:
        host = _fixed(parse_quantity(host_power_per_gpu, "power", "host_power_per_gpu", allow_zero=True))
    elif modelled_host is None:  # an edge module's, phone's or laptop's power already covers its CPU and memory
        host = _fixed(0.0)
    else:
        host = _span(*modelled_host)
    purchase = hw.prices.get("purchase")
    inputs = FootprintInputs(
        pue=pue_span, grid=grid, host_w=host,
        power_w=_fixed(math.nan if power_per_gpu is None
                       else parse_quantity(power_per_gpu, "power", "power_per_gpu", allow_zero=True)),
        idle=_span(*d["idle_fraction"]),
        busy=_span(*busy),
        life_h=_fixed(parse_quantity(service_life, "time", "service_life") / 3600.0
                      if service_life is not None else d["amortisation_h"][0]),
        embodied_g=_span(*d["embodied_g"]),
        embodied_life_h=_span(d["service_life_h"][0], d["service_life_h"][2], d["service_life_h"][1]),
        price=_price(hw, price_per_gpu_hour, price_kind),
        purchase=_fixed(parse_quantity(purchase_price, "usd", "purchase_price", allow_zero=True)
                        if purchase_price is not None
                        else float(purchase.value.magnitude) if purchase is not None else math.nan),
        electricity=(_fixed(parse_quantity(electricity_price, "usd_per_energy", "electricity_price",
                                           allow_zero=True))
                     if electricity_price is not None else _span(*d["electricity_usd_per_kwh"])),
        owned=_fixed(float(cost_basis == "owned")), embodied=_fixed(float(bool(embodied))))
    return inputs, FootprintLabels(region=reg.id if reg else None, cost_basis=cost_basis, price_kind=price_kind)


def _price(hw: HardwareProfile, given: QuantityLike | None, kind: str) -> np.ndarray:
    """Price per device-hour: the one given, else the profile's, spanning to its cheapest."""
    if given is not None:
        return _fixed(parse_quantity(given, "usd_rate", "price_per_gpu_hour", allow_zero=True))
    typical = hw.price_per_hour(kind)
    if typical is None:
        return _fixed(math.nan)
    cheapest = min([p for k in PRICE_KINDS if (p := hw.price_per_hour(k)) is not None])
    return _span(typical, min(cheapest, typical), typical)


def footprint_values(f: FootprintInputs, tdp_w: FloatArray, busy_time_fraction: FloatArray, n_devices: FloatArray,
                     seconds: FloatArray) -> FootprintValues:
    """Energy, emissions and cost of ``n_devices`` busy ``busy_time_fraction`` of ``seconds``;
    broadcasts over arrays."""
    modelled = device_power(tdp_w, busy_time_fraction, f.idle, f.busy)
    device_w = where(isnan(f.power_w), modelled, f.power_w)
    device, host, it, facility = energy_joules(device_w, f.host_w, n_devices, seconds, f.pue)
    device_hours = n_devices * seconds / 3600.0
    # the embodied and owned-cost terms are only computed where some row asks for them
    embodied: FloatArray = (
        where(f.embodied > 0, embodied_grams(device_hours, f.embodied_g, f.embodied_life_h), np.nan)
        if any_true(f.embodied) else np.nan)
    cloud = cloud_cost(device_hours, f.price)
    cost = (where(f.owned > 0, owned_cost(device_hours, f.purchase, f.life_h, facility, f.electricity), cloud)
            if any_true(f.owned) else cloud)
    return FootprintValues(device_w=device_w, host_w=f.host_w, pue=f.pue, grid=f.grid, price=f.price,
                           device_j=device, host_j=host, it_j=it, energy_j=facility,
                           co2e_g=carbon_grams(facility, f.grid), embodied_g=embodied, cost=cost)


def _first(values: FloatArray) -> float:
    """The typical value of an input of :func:`resolve_footprint` (the first of its scenarios)."""
    return float(np.ravel(values)[0])


def _span_text(values: FloatArray, fmt: str, unit: str = "") -> str:
    typ, lo, hi = (float(v) for v in np.ravel(values))
    text = f"{typ:{fmt}}{unit}"
    return text if lo == hi == typ else f"{text} (range {lo:{fmt}}-{hi:{fmt}}{unit})"


def _measured_text(hw: HardwareProfile) -> str:
    """Which measurements of the device under training load set its power, if any."""
    device_w, it_w = (math.nan, math.nan) if hw.kind in PERSONAL_KINDS else measured_power(hw.id)
    parts = [f"{label} {w:.0f} W" for label, w in (("device", device_w), ("with its server's share", it_w))
             if w == w]
    return f"; measured under training: {', '.join(parts)}, [fitted.measured_power]" if parts else ""


def describe_footprint(hw: HardwareProfile, f: FootprintInputs, labels: FootprintLabels) -> dict[str, str]:
    """Human-readable statements of the energy/carbon/cost inputs used, with their ranges (``f``
    as :func:`resolve_footprint` made it: the three scenarios of each input)."""
    power = ("given" if not np.isnan(_first(f.power_w)) else
             f"TDP {hw.number('tdp'):.0f} W x (idle {_first(f.idle):.2f} + (busy {_span_text(f.busy, '.2f')} - idle) "
             "x busy share of time) (data/energy_defaults.toml" + _measured_text(hw) + ")")
    if labels.cost_basis == "cloud":
        price = hw.prices.get(labels.price_kind)
        cost = ("no published price for this device; pass price_per_gpu_hour" if np.isnan(_first(f.price)) else
                "$" + _span_text(f.price, ".4g", "/device-hour") + " "
                + (f"({price.provider}, {price.date})" if price else "(given)"))
    else:
        cost = ("owned: no purchase price known; pass purchase_price" if np.isnan(_first(f.purchase)) else
                f"owned: ${_first(f.purchase):,.0f} over {_first(f.life_h) / 8760:.3g} years + electricity "
                f"${_span_text(f.electricity, '.3g', '/kWh')}")
    where = f" (region {labels.region})" if labels.region else ""
    if hw.kind in PERSONAL_KINDS and float(np.max(f.pue)) == 1.0 and not where:
        pue_basis = f" ({hw.kind} device: no data-centre facility)"
    else:
        pue_basis = where or (" (hyperscale cloud)" if labels.cost_basis == "cloud" else " (industry average)")
    return {"power": power, "host_power_per_gpu": _span_text(f.host_w, ".0f", " W"),
            "pue": _span_text(f.pue, ".3g") + pue_basis,
            "grid_intensity": _span_text(f.grid, ".0f", " gCO2e/kWh") + (where or " (world average)"),
            "cost": cost}
