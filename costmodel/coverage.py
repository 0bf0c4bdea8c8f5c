"""How often published figures fall inside the estimates' [low, high] ranges, and how wide
those ranges are: the check that the ranges are calibrated rather than guessed."""

from __future__ import annotations

import numpy as np

from .validation import inference_kwargs, published_hours, read_cases, training_kwargs

__all__ = ["training_coverage", "inference_coverage", "energy_coverage"]


def _summary(inside: list, width: list) -> dict:
    return {"n": len(inside), "coverage": float(np.mean(inside)), "median_width": float(np.median(width))}


def training_coverage(path) -> dict:
    """Published accelerator-hours inside [low, high] (runs whose figure is not an estimate)."""
    from .training_estimate import estimate_training

    inside, width = [], []
    for row in read_cases(path):
        hours = published_hours(row)
        if hours is None or not row.get("n_gpus") or row.get("estimate") == "true":
            continue
        est = estimate_training(**training_kwargs(row))
        lo, hi = est.low.gpu_hours.to("hour").magnitude, est.high.gpu_hours.to("hour").magnitude
        inside.append(lo <= hours <= hi)
        width.append(hi / lo)
    return _summary(inside, width)


def inference_coverage(path, metric: str) -> dict:
    """Measured TTFT or TPOT (fixed-batch points) inside [low, high]."""
    from .inference_estimate import estimate_inference

    inside, width = [], []
    for row in read_cases(path):
        if not (row.get("batch_size") and row.get("batching") in ("static", "continuous") and row.get("model_id")
                and row.get("prompt_tokens") and row.get("output_tokens") and row.get(f"{metric}_ms")):
            continue
        est = estimate_inference(**inference_kwargs(row))
        lo, hi = (getattr(e, metric).to("ms").magnitude for e in (est.low, est.high))
        inside.append(lo <= float(row[f"{metric}_ms"]) <= hi)
        width.append(hi / lo)
    return _summary(inside, width)


def energy_coverage(path) -> dict:
    """Published training energy (or CO2e) inside [low, high], with every input at its default."""
    from .training_estimate import estimate_training

    parts = {"device": "device_energy", "it": "it_energy", "facility": "energy"}
    inside, width = [], []
    for row in read_cases(path):
        if not (row.get("tokens") and row.get("n_gpus")):
            continue
        kwargs = {"params": float(row["params"]), "tokens": float(row["tokens"]), "hardware": row["hardware"],
                  "n_gpus": int(float(row["n_gpus"]))}
        if row.get("active_params"):
            kwargs["active_params"] = float(row["active_params"])
        if row.get("published_energy_MWh"):
            est, published = estimate_training(**kwargs), float(row["published_energy_MWh"])
            lo, hi = (getattr(e.footprint, parts[row["covers"]]).to("MWh").magnitude for e in (est.low, est.high))
        elif row.get("published_co2e_t"):
            grid = row.get("grid_intensity_g_per_kWh")
            est = estimate_training(**kwargs, grid_intensity=float(grid) if grid else None)
            published = float(row["published_co2e_t"])
            lo, hi = (e.co2e.to("tonne").magnitude for e in (est.low, est.high))
        else:
            continue
        inside.append(lo <= published <= hi)
        width.append(hi / lo)
    return _summary(inside, width)
