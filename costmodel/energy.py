"""Power, energy, carbon and dollars: pure vectorised functions on canonical floats.

Power model (per device)
------------------------
``P_device(u) = TDP x (idle + (busy - idle) x u)`` for a busy fraction ``u`` in [0, 1]: an
accelerator that is powered but idle draws ``idle x TDP`` (about 20%, LBNL 2024 via Uptime
Institute), one that is busy all the time draws ``busy x TDP`` (about 75% during large-model
training, Newkirk et al. 2025 / Latif et al. 2024 measurements on 8xH100 nodes). Training
keeps devices busy (``u = 1``); inference uses the fraction of each step spent at the roofline.
The server around the device adds ``host`` watts (CPUs, memory, network, fans), and the
facility multiplies IT power by its PUE. Every figure comes from ``data/energy_defaults.toml``.

References
----------
Patterson et al. 2021, "Carbon Emissions and Large Neural Network Training" (system power,
PUE, grid intensity); Luccioni et al. 2022, "Estimating the Carbon Footprint of BLOOM"
(dynamic vs idle energy, embodied emissions).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from .profiles import read_toml
from .units import parse_quantity

__all__ = ["device_power", "energy_joules", "carbon_grams", "cloud_cost", "owned_cost", "defaults"]

J_PER_KWH = 3.6e6


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


@cache
def defaults() -> dict:
    """Typical values (and their low/high range ends) of the energy model, as canonical floats."""
    raw = read_toml(Path(__file__).resolve().parent / "data" / "energy_defaults.toml")
    power = raw["gpu_utilisation_power"]

    def triple(table, kind=None):
        conv = (lambda v: float(v)) if kind is None else (lambda v: parse_quantity(v, kind))
        return tuple(conv(table[k]) for k in ("value", "low", "high"))  # (typical, low, high)

    def years(table):
        return tuple(float(str(table[k]).split()[0]) * 8760.0 for k in ("value", "low", "high"))

    return {
        "idle_fraction": triple(power["idle_fraction"]),
        "busy_fraction": triple(power["training_draw_fraction"]),
        "host_w": triple(raw["host_power_per_gpu"], "power"),
        "pue_cloud": triple(raw["pue"]["hyperscale"]),
        "pue_owned": triple(raw["pue"]["industry_average"]),
        "grid_g_per_kwh": triple(raw["grid_intensity"], "intensity"),
        "embodied_g": tuple(parse_quantity(raw["embodied"][k], "co2e") for k in ("value", "low", "high")),
        "service_life_h": years(raw["embodied"]["service_life"]),
        "electricity_usd_per_kwh": triple(raw["electricity_price"], "usd_per_energy"),
        "amortisation_h": years(raw["amortisation"]),
    }
