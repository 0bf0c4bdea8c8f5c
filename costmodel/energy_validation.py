"""Training energy and CO2e: estimates against published measurements, and their ranges' coverage.

Each row of the energy table (``tests/data/energy_runs.csv``) publishes a run's energy at the
level its ``covers`` column names (device, IT or facility), or its CO2e.
:func:`energy_scenarios` estimates that figure and its range two ways: from the published
accelerator-hours (the power model alone: draw, host, PUE) or end to end (the training model
supplies the hours too); :func:`energy_validation` tabulates them and
:func:`energy_coverage` scores the ranges. Every other input is the default.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .published_tables import coverage, published_hours, read_cases

__all__ = ["MEASURED", "energy_target", "energy_scenarios", "energy_validation", "energy_coverage"]


MEASURED = ("measured", "metered")
_PARTS_J = {"device": "device_j", "it": "it_j", "facility": "energy_j"}


def energy_target(row: dict) -> tuple[float, str, str] | None:
    """(published figure, the FootprintValues field it matches, metric label) of a row: its
    energy at the level its ``covers`` column names, else its CO2e; None without either."""
    if row.get("published_energy_MWh"):
        return float(row["published_energy_MWh"]), _PARTS_J[row["covers"]], f"energy ({row['covers']}) MWh"
    if row.get("published_co2e_t"):
        return float(row["published_co2e_t"]), "co2e_g", "CO2e t"
    return None


def _grid(row: dict) -> float | None:
    return float(row["grid_intensity_g_per_kWh"]) if row.get("grid_intensity_g_per_kWh") else None


def energy_scenarios(row: dict, mode: str, footprint_of=None) -> tuple[float, float, float] | None:
    """(typical, low, high) of a row's published figure as estimated, in MWh or t, or None when
    the row cannot be scored that way.

    ``mode="hours"``: the published accelerator-hours are given, so only the power model
    (draw, host, PUE) is tested; ``mode="e2e"``: params, tokens, hardware and device count go
    in and the training model supplies the hours too, with the run's attention kernels where the
    table gives them (``flash_attention``: false for runs trained before FlashAttention existed,
    as in ``tests/data/training_runs.csv``). Every other input is the default; where the authors
    give the grid intensity, CO2e uses it (where a run took place is an input no model can
    guess). ``footprint_of(hw)`` replaces the default footprint inputs (a fit's
    leave-one-source-out constants).
    """
    from .energy import footprint_values, resolve_footprint
    from .energy_range import combine_spreads
    from .hardware import get_hardware
    from .training_estimate import estimate_training, scenarios

    target = energy_target(row)
    if target is None or not row.get("n_gpus"):
        return None
    _, field, _ = target
    n = int(float(row["n_gpus"]))
    if mode == "hours":
        hours = published_hours(row)
        if hours is None:
            return None
        hw = get_hardware(row["hardware"])
        f = footprint_of(hw) if footprint_of else resolve_footprint(hw, grid_intensity=_grid(row))[0]
        tdp = hw.number("tdp")
        values = footprint_values(combine_spreads(f, tdp, (0.0, 0.0), True), tdp, 1.0, n, hours * 3600.0 / n)
    elif mode == "e2e":
        if not row.get("tokens"):
            return None
        kwargs = {"params": float(row["params"]), "tokens": float(row["tokens"]), "hardware": row["hardware"],
                  "n_gpus": n}
        if row.get("active_params"):
            kwargs["active_params"] = float(row["active_params"])
        if row.get("flash_attention"):  # the run's attention kernels, where known (none before 2022)
            kwargs["flash_attention"] = row["flash_attention"] == "true"
        est = estimate_training(**kwargs, grid_intensity=_grid(row))
        case = est._case if footprint_of is None else replace(est._case, footprint=footprint_of(est._profile))
        values = scenarios(case, est._calibration).footprint
    else:
        raise ValueError(f"mode: expected 'hours' or 'e2e', got {mode!r}")
    scale = 1e6 if field == "co2e_g" else 3.6e9  # g -> t, J -> MWh
    x = np.ravel(getattr(values, field)) / scale
    return float(x[0]), float(x.min()), float(x.max())


def energy_validation(path, modes=("hours", "e2e")):
    """Published energy (or, where none, CO2e) of training runs vs estimates from the defaults,
    one row per (run, mode): given the published hours (the power model alone) and end to end."""
    import pandas as pd

    records = []
    for row in read_cases(path):
        for mode in modes:
            got = energy_scenarios(row, mode)
            if got is None:
                continue
            published, _, metric = energy_target(row)  # type: ignore[misc]
            typical, low, high = got
            records.append({"run": row["run"], "mode": mode, "hardware": row["hardware"], "metric": metric,
                            "kind": row["kind"], "group": row.get("group"), "published": published,
                            "estimated": typical, "low": low, "high": high, "error": typical / published - 1.0,
                            "inside": low <= published <= high, "width": high / low, "source": row["source"]})
    return pd.DataFrame.from_records(records)


def energy_coverage(path, mode: str = "e2e", kinds=MEASURED) -> dict:
    """Published training energy (or CO2e) inside [low, high], every input at its default:
    ``mode`` as in :func:`energy_scenarios`; ``kinds`` the rows' ``kind`` values scored (default
    the measured and metered figures; ``("formula",)`` scores TDP x hours x PUE figures)."""
    inside, width = [], []
    for row in read_cases(path):
        if row["kind"] not in kinds:
            continue
        got = energy_scenarios(row, mode)
        if got is None:
            continue
        published = energy_target(row)[0]  # type: ignore[index]
        _, lo, hi = got
        inside.append(lo <= published <= hi)
        width.append(hi / lo)
    return coverage(inside, width)
