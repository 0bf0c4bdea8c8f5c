"""The width of the serving ranges, and how often they hold on figures they were not built from.

A serving estimate's ``[low, high]`` spans the leave-one-source-out errors of its own kind of
figure (:data:`FAMILIES`): TTFT's for the prefill, TPOT's for the decode steps, single-pass
models' latency and samples per second for their forward pass, and the output tokens per
second of a batch. Each family's ends are two quantiles of those errors, at its ``tail``
(:class:`~costmodel.calibration.ServingCalibration`).

Scoring those ends on the estimates they were built around is in sample twice over: the
estimate was fitted on the figure and the ends on its error. :func:`nested_coverage` scores
them the way a user meets them, out of sample on both counts: each figure's own
leave-one-source-out estimate (``tests/data/inference_loso.csv``, written with the shipped
constants by ``scripts/fit_inference.py``) against the range whose ends come from every *other*
source's errors. ``scripts/fit_inference.py`` picks each family's tail as the narrowest whose
nested coverage of that family's figures is at least :data:`TARGET`.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from typing import Any

import numpy as np

__all__ = ["FAMILIES", "TAILS", "TARGET", "family_of", "range_residuals", "range_ends", "read_loso", "nested_coverage",
           "nested_inside", "choose_tails"]

# family -> the metrics whose errors set its ends (and which the tail is chosen on)
FAMILIES = {"ttft": ("ttft",), "tpot": ("tpot",), "single": ("latency", "samples_per_s"),
            "throughput": ("throughput_tok_s",)}
# the candidate tails, narrowest range first: down to 2%, beyond which a family of 20-50 errors
# has nothing left but its extremes
TAILS = (0.10, 0.09, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.025, 0.02)
TARGET = 0.80  # the share of out-of-sample figures a range is meant to hold


def family_of(metric: str, row: dict) -> str | None:
    """The family whose errors a figure's error joins: ``None`` for ITL (the decode step the
    TPOT family already spans) and a generating request's end-to-end latency (prefill and
    decode together: scored, never a family of its own)."""
    if metric == "latency" or metric == "samples_per_s":
        return "single" if (row.get("output_tokens") or "0") in ("0", "0.0") else None
    if metric in ("ttft", "tpot"):
        return metric
    return "throughput" if metric == "throughput_tok_s" else None


def _oriented(metric: str, family: str, error: float) -> float:
    """ln(estimate / measured) turned the way the family's ends read: a single-pass model's
    ends are those of a time, so a samples-per-second error counts with its sign flipped (a rate
    too high by exp(x) is a time too short by it)."""
    return -error if family == "single" and metric == "samples_per_s" else error


def range_residuals(points, loso: dict) -> list[tuple[str, str, float]]:
    """(family, source group, oriented error) of every point the ends may be built from (not
    held out), with ``loso`` mapping (point, metric) to ln(leave-one-source-out estimate / measured)."""
    out = []
    for p in points:
        family = family_of(p.metric, p.row)
        if family is None or p.holdout:
            continue
        out.append((family, p.group, _oriented(p.metric, family, loso[(p.point, p.metric)])))
    return out


def range_ends(residuals, tails: dict[str, float], leave_out: str | None = None) -> dict[str, float]:
    """``{family}_low`` and ``{family}_high`` (ServingCalibration's fields): each family's
    errors at its tail and one minus it, without the source ``leave_out``."""
    out = {}
    for family in FAMILIES:
        x = np.array([e for f, g, e in residuals if f == family and g != leave_out])
        if len(x) == 0:
            continue
        t = tails[family]
        out[f"{family}_low"], out[f"{family}_high"] = float(np.quantile(x, t)), float(np.quantile(x, 1 - t))
    return out


def read_loso(path) -> dict[tuple[str, str], float]:
    """(point, metric) -> ln(leave-one-source-out estimate / measured) from the fit's csv."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {(r["point"], r["metric"]): float(np.log(float(r["loso_estimate"]) / float(r["published"])))
                for r in csv.DictReader(handle)}


def nested_inside(points, loso: dict, calibration: Any, tails: dict[str, float],
                  metrics: tuple[str, ...] | None = None) -> list[tuple[Any, bool, float]]:
    """(point, inside, width) of every point (of ``metrics``, default all): whether its measured
    figure lies inside the range around its leave-one-source-out estimate, the range's ends
    built from the other sources' errors at ``tails`` (its own source's errors left out) and
    carried through the estimator exactly as the shipped ends are; width is high / low."""
    from .inference_estimate import estimate_inference
    from .serving_validation import inference_kwargs, served_figure

    residuals = range_residuals(points, loso)
    cals: dict[str, Any] = {}
    out = []
    for p in points:
        if metrics is not None and p.metric not in metrics:
            continue
        if p.group not in cals:
            ends = range_ends(residuals, tails, leave_out=p.group)
            cals[p.group] = replace(calibration, serving=replace(calibration.serving, **ends))
        est = estimate_inference(**inference_kwargs(p.row), calibration=cals[p.group])
        statistic = p.row.get("statistic") or ""
        typical = served_figure(est._values, p.metric, statistic)
        ends_ = [served_figure(e._values, p.metric, statistic) for e in (est.low, est.high)]  # type: ignore[union-attr]
        centre = p.published * float(np.exp(loso[(p.point, p.metric)]))  # the out-of-sample estimate
        lo, hi = centre * min(ends_) / typical, centre * max(ends_) / typical
        out.append((p, bool(lo <= p.published <= hi), max(ends_) / min(ends_)))
    return out


def nested_coverage(points_path, loso_path, metric: str, holdout: bool | None = None, calibration=None) -> dict:
    """Out-of-sample coverage of one metric's ranges (see the module's docstring): ``n``,
    ``coverage`` and ``median_width``; ``holdout`` as in
    :func:`costmodel.serving_validation.inference_coverage`."""
    from .calibration import resolve_calibration
    from .serving_validation import serving_points

    cal = resolve_calibration(calibration)
    s = cal.serving
    tails = {f: getattr(s, f"{f}_tail") for f in FAMILIES}
    scored = [r for r in nested_inside(serving_points(points_path), read_loso(loso_path), cal, tails, (metric,))
              if holdout is None or r[0].holdout == holdout]
    inside, width = [r[1] for r in scored], [r[2] for r in scored]
    return {"n": len(inside), "coverage": float(np.mean(inside)), "median_width": float(np.median(width))}


def choose_tails(points, loso: dict, calibration: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Each family's tail: the largest of :data:`TAILS` (the narrowest range) whose nested
    coverage of the family's own figures (every point, held-out devices included) reaches
    :data:`TARGET`, else the smallest; and that coverage (NaN for a family without figures).
    One number per family, chosen on the figures it is then scored on: with 20-50 figures a
    family, that coverage is mildly optimistic."""
    chosen: dict[str, float] = {}
    share: dict[str, float] = {}
    for t in TAILS:
        rows = nested_inside(points, loso, calibration, {f: t for f in FAMILIES})
        for family, metrics in FAMILIES.items():
            if family in chosen:
                continue
            inside = [i for p, i, _ in rows if p.metric in metrics and family_of(p.metric, p.row) == family]
            if inside and (np.mean(inside) >= TARGET or t == TAILS[-1]):
                chosen[family], share[family] = t, float(np.mean(inside))
    for family in FAMILIES:
        chosen.setdefault(family, TAILS[0])
        share.setdefault(family, float("nan"))
    return chosen, share
