"""Energy, carbon and cost of a job: the keyword arguments shared by both estimators.

``resolve_footprint`` parses the user's energy/carbon/price options once into canonical
floats; ``compute_footprint`` turns device power, device count and time into a
:class:`Footprint` of Quantities.
"""

from __future__ import annotations

from dataclasses import dataclass

import pint

from . import energy as core
from .errors import InputError
from .regions import get_region
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


def resolve_footprint(hw, *, pue=None, power_per_gpu=None, host_power_per_gpu=None, region=None,
                      grid_intensity=None, price_per_gpu_hour=None, cost_basis="cloud",
                      price_kind="on_demand", purchase_price=None, electricity_price=None,
                      service_life=None, embodied=False) -> dict:
    """Parse the energy/carbon/cost options for device ``hw`` into canonical floats."""
    d = core.defaults()
    if cost_basis not in ("cloud", "owned"):
        raise InputError(f"cost_basis: expected 'cloud' or 'owned', got {cost_basis!r}")
    reg = get_region(region) if region is not None else None
    out = {"region": reg.id if reg else None, "cost_basis": cost_basis, "embodied": bool(embodied)}
    if pue is not None:
        out["pue"] = _pue(pue)
    elif reg is not None:
        out["pue"] = reg.pue
    else:  # rented devices sit in hyperscale data centres; owned ones in typical ones
        out["pue"] = d["pue_cloud" if cost_basis == "cloud" else "pue_owned"][0]
    out["grid"] = (parse_quantity(grid_intensity, "intensity", "grid_intensity", allow_zero=True)
                   if grid_intensity is not None
                   else float(reg.grid_intensity.magnitude) if reg is not None else d["grid_g_per_kwh"][0])
    out["power_w"] = (None if power_per_gpu is None
                      else parse_quantity(power_per_gpu, "power", "power_per_gpu", allow_zero=True))
    default_host = 0.0 if hw.kind == "edge" else d["host_w"][0]
    out["host_w"] = (default_host if host_power_per_gpu is None
                     else parse_quantity(host_power_per_gpu, "power", "host_power_per_gpu", allow_zero=True))
    out["idle"], out["busy"] = d["idle_fraction"][0], d["busy_fraction"][0]
    out["life_h"] = (parse_quantity(service_life, "time", "service_life") / 3600.0
                     if service_life is not None else d["amortisation_h"][0])
    out["embodied_g"], out["embodied_life_h"] = d["embodied_g"][0], d["service_life_h"][0]
    if price_per_gpu_hour is not None:
        out["price"] = parse_quantity(price_per_gpu_hour, "usd_rate", "price_per_gpu_hour", allow_zero=True)
    else:
        out["price"] = hw.price_per_hour(price_kind) if price_kind != "purchase" else None
        if price_kind not in ("on_demand", "spot", "reserved"):
            raise InputError(f"price_kind: expected 'on_demand', 'spot' or 'reserved', got {price_kind!r}")
    purchase = hw.prices.get("purchase")
    out["purchase"] = (parse_quantity(purchase_price, "usd", "purchase_price", allow_zero=True)
                       if purchase_price is not None
                       else float(purchase.value.magnitude) if purchase is not None else None)
    out["electricity"] = (parse_quantity(electricity_price, "usd_per_energy", "electricity_price", allow_zero=True)
                          if electricity_price is not None else d["electricity_usd_per_kwh"][0])
    return out


def compute_footprint(f: dict, tdp_w, busy_time_fraction, n_devices, seconds) -> dict:
    """Canonical floats (J, g, USD) of a job's footprint; works on arrays as well."""
    device_w = (f["power_w"] if f["power_w"] is not None
                else core.device_power(tdp_w, busy_time_fraction, f["idle"], f["busy"]))
    device, host, it, facility = core.energy_joules(device_w, f["host_w"], n_devices, seconds, f["pue"])
    device_hours = n_devices * seconds / 3600.0
    out = {"device_w": device_w, "device_j": device, "host_j": host, "it_j": it, "energy_j": facility,
           "co2e_g": core.carbon_grams(facility, f["grid"]),
           "embodied_g": (core.embodied_grams(device_hours, f["embodied_g"], f["embodied_life_h"])
                          if f["embodied"] else None)}
    if f["cost_basis"] == "cloud":
        out["cost"] = None if f["price"] is None else core.cloud_cost(device_hours, f["price"])
    else:
        out["cost"] = (None if f["purchase"] is None else
                       core.owned_cost(device_hours, f["purchase"], f["life_h"], facility, f["electricity"]))
    return out


def wrap_footprint(f: dict, x: dict, energy_unit: str = "kWh") -> Footprint:
    """Quantities of a scalar footprint (energies in ``energy_unit``: kWh or Wh)."""
    scale = core.J_PER_KWH / (1000.0 if energy_unit == "Wh" else 1.0)
    e = lambda j: quantity(j / scale, energy_unit)  # noqa: E731
    return Footprint(
        energy=e(x["energy_j"]), it_energy=e(x["it_j"]), device_energy=e(x["device_j"]),
        host_energy=e(x["host_j"]), co2e=quantity(x["co2e_g"] / 1000.0, "kg"),
        embodied_co2e=None if x["embodied_g"] is None else quantity(x["embodied_g"] / 1000.0, "kg"),
        cost=None if x["cost"] is None else quantity(x["cost"], "usd"), cost_basis=f["cost_basis"],
        power_per_gpu=quantity(x["device_w"], "power"), host_power_per_gpu=quantity(f["host_w"], "power"),
        pue=f["pue"], grid_intensity=quantity(f["grid"], "intensity"), region=f["region"],
        price_per_gpu_hour=None if f["price"] is None else quantity(f["price"], "usd_rate"),
    )
