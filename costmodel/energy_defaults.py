"""The energy model's sourced defaults (``data/energy_defaults.toml``) as canonical floats, and
the training power per device they give.

Training power per device before PUE (:func:`training_power`): where measurements of the
device under training load exist (``[fitted.measured_power]``: the median over sources of
the measured power, device only and with its share of the server, that
``scripts/fit_energy.py`` takes from the measured rows of ``tests/data/energy_runs.csv``),
they are used; otherwise the device draws ``draw_fraction x TDP`` and its server adds
:func:`host_power`. Both are fitted by that script, which scores them leaving each source
out: a source's own measurements never predict it.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

from .datacache import cached
from .datafiles import read_toml
from .units import parse_quantity

__all__ = ["defaults", "host_power", "measured_power", "systems", "training_power"]


def _defaults_path() -> Path:
    return Path(__file__).resolve().parent / "data" / "energy_defaults.toml"


@cache
def _raw() -> dict[str, Any]:
    return read_toml(_defaults_path(), cache=True)


@cache
def defaults() -> dict[str, tuple[float, ...]]:
    """Typical values (and their low/high range ends) of the energy model, as canonical floats.

    The training draw fraction and the host share are the ``[fitted]`` block that
    ``scripts/fit_energy.py`` writes; their range ends are the fit's leave-one-source-out 10th
    and 90th percentile errors of measured power per device (``power_resid_q10/q90``, as
    ``power_spread``: measured / modelled power at the typical value and those percentiles).
    Kept on disk while the file and the package do not change (:mod:`costmodel.datacache`).
    """
    return cached(f"energy defaults:{_defaults_path()}", [_defaults_path()], _read_defaults, code=True)


def _read_defaults() -> dict[str, tuple[float, ...]]:
    raw = _raw()
    power, fitted = raw["gpu_utilisation_power"], raw["fitted"]

    def triple(table: dict[str, Any], kind: str | None = None) -> tuple[float, ...]:
        values = [table[k] for k in ("value", "low", "high")]  # (typical, low, high)
        return tuple(float(v) if kind is None else parse_quantity(v, kind) for v in values)

    def years(table: dict[str, Any]) -> tuple[float, ...]:
        return tuple(float(str(table[k]).split()[0]) * 8760.0 for k in ("value", "low", "high"))

    q_lo, q_hi = float(fitted["power_resid_q10"]), float(fitted["power_resid_q90"])
    spread = (1.0, math.exp(q_lo), math.exp(q_hi))  # measured / modelled power at the 10th, 90th pct
    draw = float(fitted["draw_fraction"])
    return {
        "idle_fraction": triple(power["idle_fraction"]),
        "power_spread": spread,
        "busy_fraction": tuple(draw * k for k in spread),
        "host_share": tuple(float(fitted["host_share"]) * k for k in spread),
        "headroom_ratio": (float(fitted["headroom_ratio"]),),
        "pue_cloud": triple(raw["pue"]["hyperscale"]),
        "pue_owned": triple(raw["pue"]["industry_average"]),
        "grid_g_per_kwh": triple(raw["grid_intensity"], "intensity"),
        "embodied_g": triple(raw["embodied"], "co2e"),
        "service_life_h": years(raw["embodied"]["service_life"]),
        "electricity_usd_per_kwh": triple(raw["electricity_price"], "usd_per_energy"),
        "amortisation_h": years(raw["amortisation"]),
    }


@cache
def systems() -> dict[str, float]:
    """Server nameplate power per device [W] by hardware id (``[host_power_per_gpu.systems]``),
    kept on disk as :func:`defaults` is."""
    def build() -> dict[str, float]:
        table = _raw()["host_power_per_gpu"]["systems"]
        return {hw_id: parse_quantity(row["max_power"], "power") / float(row["devices"]) for hw_id, row in table.items()}

    return cached(f"energy systems:{_defaults_path()}", [_defaults_path()], build, code=True)


def host_power(hw_id: str, tdp_w: float, share: float | None = None) -> float:
    """Non-accelerator IT power per device [W] under training load: ``share`` (default the
    fitted host share) of the server's nameplate headroom per device, (system max power /
    devices) - TDP. A device with no listed system uses the listed systems' median headroom
    as a share of TDP (``headroom_ratio`` in ``[fitted]``).

    Examples
    --------
    >>> round(host_power("h100-sxm5-80gb", 700.0, share=1.0))  # DGX H100: 10.2 kW / 8 - 700 W
    575
    """
    d = defaults()
    per_device = systems().get(hw_id)
    headroom = per_device - tdp_w if per_device is not None else d["headroom_ratio"][0] * tdp_w
    return (d["host_share"][0] if share is None else share) * max(headroom, 0.0)


@cache
def _measured() -> dict[str, tuple[float, float]]:
    table = _raw()["fitted"].get("measured_power", {})
    return {hw_id: (float(row.get("device_w", math.nan)), float(row.get("it_w", math.nan)))
            for hw_id, row in table.items()}


def measured_power(hw_id: str) -> tuple[float, float]:
    """(device only, device with its share of the server) power [W] measured under training
    load for a device, before PUE (``[fitted.measured_power]``); NaN where none is published."""
    return _measured().get(hw_id, (math.nan, math.nan))


def training_power(hw_id: str, tdp_w: float, *, draw: float | None = None, share: float | None = None,
                   spread: tuple[float, ...] | None = None,
                   measured: tuple[float, float] | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(busy fraction of TDP, host power [W]) of a device under training load, each at the
    typical value and the two ends of its range (``spread``, default the fit's).

    A measured device power sets the busy fraction; a measured power with the server's share
    sets the sum, the host taking what the device (measured, else modelled) does not.
    Otherwise ``draw`` x TDP and :func:`host_power` at ``share`` (default the fitted
    constants). ``measured`` replaces :func:`measured_power`'s figures (``scripts/fit_energy.py``
    passes those without the source it predicts)."""
    d = defaults()
    draw = d["busy_fraction"][0] if draw is None else draw
    spread = d["power_spread"] if spread is None else spread
    device_w, it_w = measured_power(hw_id) if measured is None else measured
    host_w = host_power(hw_id, tdp_w, share)
    if device_w == device_w:  # measured alone
        host_w = max(it_w - device_w, 0.0) if it_w == it_w else host_w
    else:
        device_w = draw * tdp_w
        if it_w == it_w:  # measured with its server only: the server takes what the device does not
            device_w = min(device_w, it_w)
            host_w = it_w - device_w
    busy = device_w / tdp_w if tdp_w > 0 else draw
    return tuple(busy * k for k in spread), tuple(host_w * k for k in spread)
