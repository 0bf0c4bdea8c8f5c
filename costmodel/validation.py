"""Compare estimates with published runs and measurements, and check the ranges cover them.

Each function reads a table of published cases (``tests/data/*.csv`` in the repository) and
returns a pandas DataFrame with the published figure, the estimate and the error, or, for
the ``*_coverage`` functions, how often the published figure falls inside ``[low, high]`` and
how wide that range is. Used by the tests, the README report and the fitting scripts, which
pass their own constants as ``calibration=``.
"""

from __future__ import annotations

import csv

import numpy as np

__all__ = ["read_cases", "published_hours", "training_kwargs", "inference_kwargs", "training_validation",
           "energy_validation", "inference_validation", "summary", "training_coverage", "inference_coverage",
           "energy_coverage"]

_ENERGY_PARTS = {"device": "device_energy", "it": "it_energy", "facility": "energy"}


def read_cases(path) -> list[dict]:
    """Rows of a CSV table as dicts of strings (empty cells as None)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(handle)]


def published_hours(row: dict) -> float | None:
    """Accelerator-hours as published, or wall-clock days x 24 x devices."""
    if row.get("published_gpu_hours"):
        return float(row["published_gpu_hours"])
    if row.get("published_days") and row.get("n_gpus"):
        return float(row["published_days"]) * 24.0 * float(row["n_gpus"])
    return None


_LAYOUT_COLUMNS = {"seq_len": int, "micro_batch": int, "tp": int, "pp": int, "ep": int, "cp": int, "vpp": int,
                   "zero_stage": int, "recompute": str}


def _spec(row: dict):
    """A ModelSpec from a row's shape columns (a model not in the catalog)."""
    from .models import ModelSpec

    data = {"id": row["run"], "name": row["run"], "family": "validation",
            "kind": "moe-decoder" if row.get("experts") else "dense-decoder",
            "params": float(row["params"]), "source": row["source"], "retrieved": "2026-12-01",
            "layers": int(float(row["layers"])), "d_model": int(float(row["d_model"])),
            "heads": int(float(row["heads"]))}
    if row.get("active_params"):
        data["active_params"] = float(row["active_params"])
    columns = [("vocab", "vocab"), ("ffn_dim", "ffn"), ("experts", "experts"), ("experts_per_token", "top_k"),
               ("context", "seq_len")]
    if row.get("experts"):
        columns.append(("expert_ffn_dim", "ffn"))
    for key, column in columns:
        if row.get(column):
            data[key] = int(float(row[column]))
    return ModelSpec.from_mapping(data)


def training_kwargs(row: dict) -> dict:
    """Arguments of estimate_training for one published run: the catalog model or the row's
    shape, and every layout figure the source publishes (the rest are the defaults)."""
    kwargs: dict = {"hardware": row["hardware"], "n_gpus": int(float(row["n_gpus"]))}
    if row.get("tokens"):
        kwargs["tokens"] = float(row["tokens"])
    if row.get("model_id"):
        kwargs["model"] = row["model_id"]
    elif row.get("layers") and row.get("d_model") and row.get("heads"):
        kwargs["model"] = _spec(row)
    else:
        kwargs["params"] = float(row["params"])
        if row.get("active_params"):
            kwargs["active_params"] = float(row["active_params"])
    if row.get("dtype"):
        kwargs["dtype"] = row["dtype"]
    for key, kind in _LAYOUT_COLUMNS.items():
        if row.get(key):
            kwargs[key] = kind(float(row[key])) if kind is int else row[key]
    if row.get("sequence_parallel"):
        kwargs["sequence_parallel"] = row["sequence_parallel"] == "true"
    if row.get("global_batch_tokens"):
        kwargs["global_batch"] = float(row["global_batch_tokens"])
    if row.get("tier"):
        kwargs["tuning"] = row["tier"]
    return kwargs


def _training_runs(path):
    """(row, published hours) of every run with a device count and a published figure."""
    for row in read_cases(path):
        hours = published_hours(row)
        if hours is not None and row.get("n_gpus"):
            yield row, hours


def training_validation(path, calibration=None, **overrides):
    """Published vs estimated accelerator-hours for every usable run in ``path``."""
    import pandas as pd

    from .training_estimate import estimate_training

    records = []
    for row, hours in _training_runs(path):
        est = estimate_training(**training_kwargs(row), calibration=calibration, **overrides)
        predicted = float(est.gpu_hours.magnitude)
        basis = row.get("flops_basis") or ""
        if basis == "hardware-full-recompute":
            flops = float(estimate_training(**training_kwargs(row), recompute="full", calibration=calibration,
                                            **overrides).hardware_flops.magnitude)
        else:
            flops = float(est.flops.magnitude)
        records.append({
            "run": row["run"], "hardware": row["hardware"], "n_gpus": int(float(row["n_gpus"])),
            "params": float(row["params"]), "tokens": float(row["tokens"]),
            "published_hours": hours, "estimated_hours": predicted, "low_hours": None, "high_hours": None,
            "error": predicted / hours - 1.0, "mfu": float(est.mfu.magnitude),
            "published_flops": (float(row["published_flops"]) if basis in ("model", "hardware-full-recompute")
                                else np.nan),
            "estimated_flops": flops, "approximate": row.get("approximate") == "true",
            "estimate": row.get("estimate") == "true", "source": row["source"],
        })
    return pd.DataFrame.from_records(records)


def summary(errors) -> dict:
    """Median absolute error and worst factor of a series of relative errors."""
    e = np.asarray(errors, dtype=float)
    ratio = 1.0 + e
    return {"n": int(e.size), "median_abs_error": float(np.median(np.abs(e))),
            "worst_factor": float(np.max(np.maximum(ratio, 1.0 / ratio)))}


def _energy_cases(path):
    """(row, estimate, published figure, getter of the matching figure of an estimate).

    Only params, tokens, hardware and device count go in; MFU, power, host overhead and PUE
    are the defaults. Each row's ``covers`` column says what its published energy includes
    (``device`` power only, ``it`` = devices and servers, or ``facility`` = with PUE), and the
    matching part of the estimate is compared. Rows with no published energy compare CO2e,
    using the row's grid intensity where the authors give one: where a run took place is an
    input no model can guess.
    """
    from .training_estimate import estimate_training

    for row in read_cases(path):
        if not (row.get("tokens") and row.get("n_gpus")):
            continue
        kwargs = {"params": float(row["params"]), "tokens": float(row["tokens"]), "hardware": row["hardware"],
                  "n_gpus": int(float(row["n_gpus"]))}
        if row.get("active_params"):
            kwargs["active_params"] = float(row["active_params"])
        if row.get("published_energy_MWh"):
            part = _ENERGY_PARTS[row["covers"]]
            yield (row, estimate_training(**kwargs), float(row["published_energy_MWh"]),
                   lambda e, part=part: float(getattr(e.footprint, part).to("MWh").magnitude),
                   f"energy ({row['covers']}) MWh")
        elif row.get("published_co2e_t"):
            grid = row.get("grid_intensity_g_per_kWh")
            yield (row, estimate_training(**kwargs, grid_intensity=float(grid) if grid else None),
                   float(row["published_co2e_t"]), lambda e: float(e.co2e.to("tonne").magnitude), "CO2e t")


def energy_validation(path):
    """Published energy (or, where none, CO2e) of training runs vs estimates from defaults."""
    import pandas as pd

    records = [{"run": row["run"], "hardware": row["hardware"], "metric": metric, "kind": row["kind"],
                "published": published, "estimated": get(est), "error": get(est) / published - 1.0,
                "source": row["source"]}
               for row, est, published, get, metric in _energy_cases(path)]
    return pd.DataFrame.from_records(records)


def inference_kwargs(row: dict) -> dict:
    """Arguments of estimate_inference for one measured point."""
    kwargs = {"hardware": row["hardware"], "n_gpus": int(row["tp"] or row["n_gpus"]),
              "batch_size": int(row["batch_size"]), "prompt_tokens": int(row["prompt_tokens"]),
              "output_tokens": int(row["output_tokens"]), "dtype": row["dtype"] or None,
              "kv_dtype": row["kv_dtype"] or None, "batching": row.get("batching") or "static"}
    if row.get("model_id"):
        kwargs["model"] = row["model_id"]
    return kwargs


def _fixed_batch_points(path):
    """Measured points at a fixed batch. Points measured under a request rate are left out:
    their batch size changes from step to step and is not published."""
    for row in read_cases(path):
        if (row.get("batch_size") and row.get("batching") in ("static", "continuous") and row.get("prompt_tokens")
                and row.get("output_tokens") and row.get("model_id") and row.get("measured") == "true"):
            yield row


def inference_validation(path, calibration=None):
    """Measured TTFT and TPOT at a fixed batch vs estimates, one row per (point, metric)."""
    import pandas as pd

    from .inference_estimate import estimate_inference

    records = []
    for row in _fixed_batch_points(path):
        est = estimate_inference(**inference_kwargs(row), calibration=calibration)
        for metric in ("ttft", "tpot"):
            if row.get(f"{metric}_ms"):
                published = float(row[f"{metric}_ms"])
                estimated = float(getattr(est, metric).to("ms").magnitude)
                records.append({"point": row["point"], "model": row["model_id"], "hardware": row["hardware"],
                                "n_gpus": int(row["tp"] or row["n_gpus"]), "batch": int(row["batch_size"]),
                                "prompt": int(row["prompt_tokens"]), "output": int(row["output_tokens"]),
                                "dtype": row["dtype"], "batching": row["batching"], "metric": metric,
                                "published_ms": published, "estimated_ms": estimated,
                                "error": estimated / published - 1.0, "engine": row["engine"],
                                "source": row["source"]})
    return pd.DataFrame.from_records(records)


def _coverage(inside: list, width: list) -> dict:
    return {"n": len(inside), "coverage": float(np.mean(inside)), "median_width": float(np.median(width))}


def training_coverage(path) -> dict:
    """Published accelerator-hours inside [low, high] (runs whose figure is not an estimate)."""
    from .training_estimate import estimate_training

    inside, width = [], []
    for row, hours in _training_runs(path):
        if row.get("estimate") == "true":
            continue
        est = estimate_training(**training_kwargs(row))
        low, high = est.low, est.high
        assert low is not None and high is not None  # an estimate has both ends (only an end has none)
        lo, hi = low.gpu_hours.to("hour").magnitude, high.gpu_hours.to("hour").magnitude
        inside.append(lo <= hours <= hi)
        width.append(hi / lo)
    return _coverage(inside, width)


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
    return _coverage(inside, width)


def energy_coverage(path) -> dict:
    """Published training energy (or CO2e) inside [low, high], with every input at its default."""
    inside, width = [], []
    for _, est, published, get, _ in _energy_cases(path):
        lo, hi = get(est.low), get(est.high)
        inside.append(lo <= published <= hi)
        width.append(hi / lo)
    return _coverage(inside, width)
