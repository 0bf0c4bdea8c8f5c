"""Compare estimates with published runs and measurements, and check the ranges cover them.

Each function reads a table of published cases (``tests/data/*.csv`` in the repository,
:mod:`costmodel.published_tables`) and returns a pandas DataFrame with the published figure,
the estimate and the error, or, for the ``*_coverage`` functions, how often the published
figure falls inside ``[low, high]`` and how wide that range is. Used by the tests, the README
report and the fitting scripts, which pass their own constants as ``calibration=``.

This module holds the training runs (accelerator-hours); training energy and CO2e are in
:mod:`costmodel.energy_validation` and the serving measurements in
:mod:`costmodel.serving_validation`, whose public names it re-exports.
"""

from __future__ import annotations

import numpy as np

from .energy_validation import energy_coverage, energy_scenarios, energy_validation
from .published_tables import coverage, published_hours, read_cases, summary
from .serving_validation import (SERVING_METRICS, ServingPoint, inference_coverage, inference_kwargs,
                                 inference_validation, served_figure, serving_points, source_group, statistic_of)

__all__ = ["training_kwargs", "training_cases", "generation", "NOMINAL_TOKENS", "training_validation", "training_coverage",
           # re-exported: the tables' readers, and the energy and serving comparisons
           "read_cases", "published_hours", "summary", "energy_validation", "energy_scenarios", "energy_coverage",
           "SERVING_METRICS", "ServingPoint", "inference_kwargs", "serving_points", "source_group", "statistic_of",
           "served_figure", "inference_validation", "inference_coverage"]


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
    if row.get("flash_attention"):
        kwargs["flash_attention"] = row["flash_attention"] == "true"
    if row.get("ep_overlap"):
        kwargs["ep_overlap"] = row["ep_overlap"] == "true"
    return kwargs


NOMINAL_TOKENS = 1e12  # the work a throughput-only row is scored on


def generation(hardware: str) -> str:
    """The hardware generation a validation report groups a run under."""
    for prefix, name in (("v100", "V100"), ("a100", "A100"), ("h100", "H100/H800"), ("h800", "H100/H800"),
                         ("h200", "H200"), ("b200", "B200"), ("gb200", "B200"), ("b300", "B300"), ("mi", "MI250X/MI300X"),
                         ("tpu", "TPU"), ("p100", "P100")):
        if hardware.startswith(prefix):
            return name
    return hardware


def _published_target(row: dict, est) -> tuple[float | None, str]:
    """Published accelerator-hours of the row's work and what they come from: hours (or days x
    devices) where the row has its tokens, else its per-device throughput (tokens/s or TFLOP/s)
    or MFU, as hours for the estimate's work."""
    hours = published_hours(row)
    if hours is not None and row.get("tokens"):
        return hours, "hours"
    tokens = float(est.tokens.magnitude) if est.tokens is not None else NOMINAL_TOKENS
    if row.get("published_tokens_per_device_s"):
        return tokens / float(row["published_tokens_per_device_s"]) / 3600.0, "tokens/s"
    if row.get("published_tflops_per_device"):
        flops = est.hardware_flops if row.get("tflops_basis") == "hardware" else est.flops
        return float(flops.magnitude) / (float(row["published_tflops_per_device"]) * 1e12) / 3600.0, "TFLOP/s"
    if row.get("published_mfu"):
        peak = float(est.flops.magnitude) / (float(est.mfu.magnitude) * float(est.wall_time.to("s").magnitude)
                                             * est.n_gpus)
        return float(est.flops.magnitude) / (float(row["published_mfu"]) * peak) / 3600.0, "MFU"
    return None, ""


def training_cases(path, calibration=None) -> list[dict]:
    """Every scorable published run of ``path`` with its estimate at the run's published
    layout (the rest the defaults): ``row``, ``estimate``, ``hours`` (published), ``basis``,
    ``judged`` (false where the figure is itself an estimate or approximate) and ``group``
    (the source, for leave-one-source-out). A run without a device count is left out."""
    from .training_estimate import estimate_training

    out = []
    for row in read_cases(path):
        if not row.get("n_gpus"):
            continue
        kwargs = training_kwargs(row)
        if "tokens" not in kwargs and not row.get("model_id"):
            kwargs["tokens"] = NOMINAL_TOKENS
        est = estimate_training(**kwargs, calibration=calibration)
        hours, basis = _published_target(row, est)
        if hours is None:
            continue
        out.append({"row": row, "estimate": est, "hours": hours, "basis": basis,
                    "judged": row.get("estimate") != "true" and row.get("approximate") != "true",
                    "group": row["source"][:25]})
    return out


def training_validation(path, calibration=None):
    """Published vs estimated accelerator-hours (with the given constants) of every scorable
    run in ``path``; ``scripts/fit_calibration.py`` reports the leave-one-source-out errors."""
    import pandas as pd

    records = []
    for c in training_cases(path, calibration):
        row, est = c["row"], c["estimate"]
        predicted = float(est.gpu_hours.magnitude)
        records.append({
            "run": row["run"], "hardware": row["hardware"], "generation": generation(row["hardware"]),
            "n_gpus": est.n_gpus, "tier": row.get("tier") or "typical", "basis": c["basis"],
            "params": float(row["params"]), "published_hours": c["hours"], "estimated_hours": predicted,
            "error": predicted / c["hours"] - 1.0, "mfu": float(est.mfu.magnitude), "tp": est.tp,
            "published_flops": (float(row["published_flops"]) if row.get("published_flops")
                                and row.get("flops_basis") == "model" else np.nan),
            "estimated_flops": float(est.flops.magnitude),
            "pp": int(est.layout["pp"]), "judged": c["judged"], "approximate": row.get("approximate") == "true",
            "estimate": row.get("estimate") == "true", "source": row["source"]})
    return pd.DataFrame.from_records(records)


def training_coverage(path) -> dict:
    """Published accelerator-hours inside [low, high] (judged runs: not estimates nor approximate)."""
    inside, width = [], []
    for c in training_cases(path):
        if not c["judged"]:
            continue
        low, high = c["estimate"].low, c["estimate"].high
        assert low is not None and high is not None  # an estimate has both ends (only an end has none)
        lo, hi = low.gpu_hours.to("hour").magnitude, high.gpu_hours.to("hour").magnitude
        inside.append(lo <= c["hours"] <= hi)
        width.append(hi / lo)
    return coverage(inside, width)
