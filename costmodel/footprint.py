"""Energy, carbon and cost of a job: the keyword arguments shared by both estimators.

``resolve_footprint`` parses the user's energy/carbon/price options once into canonical
floats; ``compute_footprint`` turns device power, device count and time into a
:class:`Footprint` of Quantities.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pint

from . import energy as core
from .errors import InputError
from .units import parse_quantity, quantity

__all__ = ["Footprint", "resolve_footprint", "compute_footprint", "FOOTPRINT_KEYWORDS"]

FOOTPRINT_KEYWORDS = ("pue", "power_per_gpu", "host_power_per_gpu", "region", "grid_intensity",
                      "price_per_gpu_hour", "cost_basis", "price_kind", "purchase_price",
                      "electricity_price", "service_life", "embodied")


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


def _pue(value) -> float:
    try:
        pue = float(value)
    except (TypeError, ValueError):
        raise InputError(f"pue: expected a number of at least 1.0 such as 1.1, got {value!r}") from None
    if not 1.0 <= pue <= 10.0:
        raise InputError(f"pue: expected a number from 1.0 to 10 (facility / IT energy), got {value!r}")
    return pue


@functools.lru_cache(maxsize=1024)
def _span(typical: float, low: float, high: float) -> np.ndarray:
    """(typical, optimistic, pessimistic) values of an uncertain input (read-only, cached)."""
    out = np.array([typical, low, high], dtype=float)
    out.flags.writeable = False
    return out


def _fixed(value: float) -> np.ndarray:
    return _span(value, value, value)


def resolve_footprint(hw, *, pue=None, power_per_gpu=None, host_power_per_gpu=None, region=None,
                      grid_intensity=None, price_per_gpu_hour=None, cost_basis="cloud",
                      price_kind="on_demand", purchase_price=None, electricity_price=None,
                      service_life=None, embodied=False) -> dict:
    """Parse the energy/carbon/cost options for device ``hw`` into canonical floats.

    Every value is a length-3 array: (typical, optimistic, pessimistic). A value the user
    gave is certain (three equal entries); a default spans its sourced low/high range, with
    the optimistic end the one that lowers energy, carbon and cost. ``NaN`` marks "model it"
    (``power_w``) or "not known" (``price``, ``purchase``).
    """
    d = core.defaults()
    if cost_basis not in ("cloud", "owned"):
        raise InputError(f"cost_basis: expected 'cloud' or 'owned', got {cost_basis!r}")
    if price_kind not in ("on_demand", "spot", "reserved"):
        raise InputError(f"price_kind: expected 'on_demand', 'spot' or 'reserved', got {price_kind!r}")
    if region is not None:
        from .regions import get_region  # only runs that name a region read the region table

        reg = get_region(region)
    else:
        reg = None
    out = {"region": reg.id if reg else None, "cost_basis": cost_basis,
           "owned": _fixed(cost_basis == "owned"), "embodied": _fixed(bool(embodied))}
    if pue is not None:
        out["pue"] = _fixed(_pue(pue))
    else:  # rented devices sit in hyperscale data centres, owned ones in typical ones
        typ, lo, hi = d["pue_cloud" if cost_basis == "cloud" else "pue_owned"]
        out["pue"] = _span(reg.pue, min(lo, reg.pue), max(hi, reg.pue)) if reg else _span(typ, lo, hi)
    if grid_intensity is not None:
        out["grid"] = _fixed(parse_quantity(grid_intensity, "intensity", "grid_intensity", allow_zero=True))
    elif reg is not None:
        out["grid"] = _span(*(float(q.magnitude) for q in (reg.grid_intensity, reg.intensity_low, reg.intensity_high)))
    else:
        out["grid"] = _span(*d["grid_g_per_kwh"])
    out["power_w"] = (_fixed(np.nan) if power_per_gpu is None
                      else _fixed(parse_quantity(power_per_gpu, "power", "power_per_gpu", allow_zero=True)))
    if host_power_per_gpu is not None:
        out["host_w"] = _fixed(parse_quantity(host_power_per_gpu, "power", "host_power_per_gpu", allow_zero=True))
    else:  # edge modules' power already covers their CPU and memory
        out["host_w"] = _fixed(0.0) if hw.kind == "edge" else _span(*d["host_w"])
    out["idle"], out["busy"] = _span(*d["idle_fraction"]), _span(*d["busy_fraction"])
    out["life_h"] = _fixed(parse_quantity(service_life, "time", "service_life") / 3600.0
                           if service_life is not None else d["amortisation_h"][0])
    out["embodied_g"] = _span(*d["embodied_g"])
    out["embodied_life_h"] = _span(d["service_life_h"][0], d["service_life_h"][2], d["service_life_h"][1])
    out["price"] = _price(hw, price_per_gpu_hour, price_kind)
    purchase = hw.prices.get("purchase")
    out["purchase"] = _fixed(parse_quantity(purchase_price, "usd", "purchase_price", allow_zero=True)
                             if purchase_price is not None
                             else float(purchase.value.magnitude) if purchase is not None else np.nan)
    out["electricity"] = (_fixed(parse_quantity(electricity_price, "usd_per_energy", "electricity_price",
                                                allow_zero=True))
                          if electricity_price is not None else _span(*d["electricity_usd_per_kwh"]))
    return out


def _price(hw, given, kind: str) -> np.ndarray:
    """Price per device-hour: the one given, else the profile's, spanning to its cheapest."""
    if given is not None:
        return _fixed(parse_quantity(given, "usd_rate", "price_per_gpu_hour", allow_zero=True))
    typical = hw.price_per_hour(kind)
    if typical is None:
        return _fixed(np.nan)
    cheapest = min([p for k in ("on_demand", "spot", "reserved") if (p := hw.price_per_hour(k)) is not None])
    return _span(typical, min(cheapest, typical), typical)


def compute_footprint(f: dict, tdp_w, busy_time_fraction, n_devices, seconds) -> dict:
    """Canonical floats (J, g, USD) of a job's footprint; broadcasts over arrays.

    ``cost`` is NaN where no price (or purchase price) is known for the device.
    """
    modelled = core.device_power(tdp_w, busy_time_fraction, f["idle"], f["busy"])
    device_w = np.where(np.isnan(f["power_w"]), modelled, f["power_w"])
    device, host, it, facility = core.energy_joules(device_w, f["host_w"], n_devices, seconds, f["pue"])
    device_hours = n_devices * seconds / 3600.0
    # the embodied and owned-cost terms are only computed where some row asks for them
    embodied = (np.where(f["embodied"] > 0, core.embodied_grams(device_hours, f["embodied_g"], f["embodied_life_h"]),
                         np.nan) if np.any(f["embodied"]) else np.nan)
    cloud = core.cloud_cost(device_hours, f["price"])
    cost = (np.where(f["owned"] > 0, core.owned_cost(device_hours, f["purchase"], f["life_h"], facility,
                                                     f["electricity"]), cloud) if np.any(f["owned"]) else cloud)
    return {"device_w": device_w, "device_j": device, "host_j": host, "it_j": it, "energy_j": facility,
            "co2e_g": core.carbon_grams(facility, f["grid"]), "embodied_g": embodied, "cost": cost}


def footprint_from_values(v: dict, f: dict, energy_unit: str = "kWh") -> Footprint:
    """A Footprint from plain floats (``energy_j``, ``co2e_g``, ..., ``host_w``, ``pue``,
    ``grid``, ``price``); energies in ``energy_unit`` (kWh or Wh)."""
    scale = core.J_PER_KWH / (1000.0 if energy_unit == "Wh" else 1.0)
    e = lambda j: quantity(j / scale, energy_unit)  # noqa: E731
    nan = math.isnan
    return Footprint(
        energy=e(v["energy_j"]), it_energy=e(v["it_j"]), device_energy=e(v["device_j"]),
        host_energy=e(v["host_j"]), co2e=quantity(v["co2e_g"] / 1000.0, "kg"),
        embodied_co2e=None if nan(v["embodied_g"]) else quantity(v["embodied_g"] / 1000.0, "kg"),
        cost=None if nan(v["cost"]) else quantity(v["cost"], "usd"), cost_basis=f["cost_basis"],
        power_per_gpu=quantity(v["device_w"], "power"), host_power_per_gpu=quantity(v["host_w"], "power"),
        pue=v["pue"], grid_intensity=quantity(v["grid"], "intensity"), region=f["region"],
        price_per_gpu_hour=None if nan(v["price"]) else quantity(v["price"], "usd_rate"),
    )


def _span_text(values, fmt: str, unit: str = "") -> str:
    typ, lo, hi = (float(v) for v in values)
    text = f"{typ:{fmt}}{unit}"
    return text if lo == hi == typ else f"{text} (range {lo:{fmt}}-{hi:{fmt}}{unit})"


def describe_footprint(hw, f: dict, price_kind: str) -> dict:
    """Human-readable statements of the energy/carbon/cost inputs used, with their ranges."""
    power = ("given" if not np.isnan(f["power_w"][0]) else
             f"TDP {hw.number('tdp'):.0f} W x (idle {f['idle'][0]:.2f} + (busy {_span_text(f['busy'], '.2f')} - idle) "
             "x busy share of time) (data/energy_defaults.toml)")
    if f["cost_basis"] == "cloud":
        price = hw.prices.get(price_kind)
        cost = ("no published price for this device; pass price_per_gpu_hour" if np.isnan(f["price"][0]) else
                "$" + _span_text(f["price"], ".4g", "/device-hour") + " "
                + (f"({price.provider}, {price.date})" if price else "(given)"))
    else:
        cost = ("owned: no purchase price known; pass purchase_price" if np.isnan(f["purchase"][0]) else
                f"owned: ${f['purchase'][0]:,.0f} over {f['life_h'][0] / 8760:.3g} years + electricity "
                f"${_span_text(f['electricity'], '.3g', '/kWh')}")
    where = f" (region {f['region']})" if f["region"] else ""
    pue_basis = where or (" (hyperscale cloud)" if f["cost_basis"] == "cloud" else " (industry average)")
    return {"power": power, "host_power_per_gpu": _span_text(f["host_w"], ".0f", " W"),
            "pue": _span_text(f["pue"], ".3g") + pue_basis,
            "grid_intensity": _span_text(f["grid"], ".0f", " gCO2e/kWh") + (where or " (world average)"),
            "cost": cost}
