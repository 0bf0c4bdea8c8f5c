"""Reading the published tables the estimates are validated against (``tests/data/*.csv``).

:func:`read_cases` gives a table's rows; :func:`published_hours` a training run's
accelerator-hours as published; :func:`summary` the error of a set of estimates and
:func:`coverage` how often the published figures fall inside the ranges. The comparisons
themselves are in :mod:`costmodel.validation` (training), :mod:`costmodel.energy_validation`
and :mod:`costmodel.serving_validation`.
"""

from __future__ import annotations

import csv

import numpy as np

__all__ = ["read_cases", "published_hours", "summary", "coverage"]


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


def summary(errors) -> dict:
    """Median absolute error and worst factor of a series of relative errors."""
    e = np.asarray(errors, dtype=float)
    ratio = 1.0 + e
    return {"n": int(e.size), "median_abs_error": float(np.median(np.abs(e))),
            "worst_factor": float(np.max(np.maximum(ratio, 1.0 / ratio)))}


def coverage(inside: list, width: list) -> dict:
    """How many figures were scored, the share inside their range, and the ranges' median
    width (high / low)."""
    return {"n": len(inside), "coverage": float(np.mean(inside)), "median_width": float(np.median(width))}
