"""Serving: estimates against measured TTFT, TPOT, ITL, latency and throughput, and their ranges' coverage.

Each scorable row of the serving table (``tests/data/inference_points.csv``: a catalogued
model, known lengths, and a fixed batch, saturation or a stated rate) becomes the arguments of
:func:`~costmodel.estimate_inference` (:func:`inference_kwargs`) and one :class:`ServingPoint`
per measured metric (:func:`serving_points`), which keeps its resolved case so a fit
re-evaluates it under other constants. :func:`served_figure` reads an evaluated case's figure
at the row's statistic (:func:`statistic_of`); :func:`inference_validation` tabulates the
errors and :func:`inference_coverage` scores the ranges. :func:`source_group` names the
independent source a point comes from, for leave-one-source-out fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .published_tables import coverage, read_cases

__all__ = ["inference_kwargs", "SERVING_METRICS", "source_group", "ServingPoint", "statistic_of", "served_figure",
           "serving_points", "inference_validation", "inference_coverage"]


def inference_kwargs(row: dict) -> dict:
    """Arguments of estimate_inference for one measured point: a fixed batch (static or
    continuous), throughput at saturation (``offline``: every request submitted at once, as many
    in flight as fit), or Poisson traffic (``rate``, at ``rate_per_s``)."""
    batching = row.get("batching") or "static"
    kwargs: dict = {"hardware": row["hardware"], "n_gpus": int(row["tp"] or row["n_gpus"]),
                    "prompt_tokens": int(float(row["prompt_tokens"])), "output_tokens": int(float(row["output_tokens"])),
                    "dtype": row["dtype"] or None, "kv_dtype": row["kv_dtype"] or None, "engine": row.get("engine") or None}
    if batching == "rate":
        kwargs["rate"] = float(row["rate_per_s"])
        if row.get("batch_size"):
            kwargs["batch_size"] = int(row["batch_size"])
    elif batching == "offline":
        kwargs.update(batching="continuous", batch_size=int(row["batch_size"]) if row.get("batch_size") else 100_000)
    else:
        kwargs.update(batching=batching, batch_size=int(row["batch_size"]))
    if row.get("model_id"):
        kwargs["model"] = row["model_id"]
    return kwargs


def _scoreable(row: dict) -> bool:
    """A measured point the estimator can reproduce: a catalogued model, known lengths, and a
    fixed batch, saturation or a stated rate."""
    batching = row.get("batching")
    if not (row.get("model_id") and row.get("measured") == "true" and row.get("prompt_tokens")
            and row.get("output_tokens")):
        return False
    if batching in ("static", "continuous"):
        return bool(row.get("batch_size"))
    return batching == "offline" or (batching == "rate" and bool(row.get("rate_per_s")))


SERVING_METRICS = ("ttft", "tpot", "itl", "latency", "samples_per_s", "throughput_tok_s")
_COLUMN = {"ttft": "ttft_ms", "tpot": "tpot_ms", "itl": "itl_ms", "latency": "latency_ms", "samples_per_s": "samples_per_s",
           "throughput_tok_s": "throughput_tok_s"}
_PHASE = {"ttft": "prefill", "latency": "prefill", "samples_per_s": "prefill", "tpot": "decode", "itl": "decode",
          "throughput_tok_s": "decode"}
# TPOT is per request, (latency - TTFT) / (output - 1); ITL per gap between two streamed tokens,
# which a benchmark summarises over every gap (its median leaves out the gaps stalled by other
# requests' prefills): a row's itl_ms is scored against the estimate's ITL at its statistic


def source_group(source: str) -> str:
    """The independent source a point comes from: a GitHub repository (owner/name), else the
    web site; what leave-one-source-out leaves out together."""
    import re

    url = re.search(r"https?://([^\s/]+)/?([^\s/]*)/?([^\s/#?]*)", source or "")
    if url is None:
        return (source or "").split(",")[0].strip()
    host, first, second = url.groups()
    if host in ("github.com", "raw.githubusercontent.com") and first and second:
        return f"{first}/{second}".lower()
    return host.lower().removeprefix("www.")


@dataclass(frozen=True)
class ServingPoint:
    """One measured figure of the serving table, its resolved case (constants swapped in by
    :meth:`estimate`, so a fit re-evaluates it without resolving the inputs again)."""

    point: str
    metric: str
    published: float
    engine: str
    group: str
    holdout: bool
    phase: str
    row: dict
    case: Any

    def estimate(self, calibration=None) -> float:
        """The estimate of the published figure, in its unit, under ``calibration``."""
        from dataclasses import replace

        from .calibration import resolve_calibration, serving_scenarios
        from .engines import engine_constants, get_engine
        from .inference_estimate import evaluate, typical_scenario

        cal = resolve_calibration(calibration)
        k = engine_constants(cal.serving, get_engine(self.engine))
        phases = serving_scenarios(cal.serving)
        case = replace(self.case, hardware=replace(self.case.hardware, step_fixed_s=k.fixed_s, launch_s=k.launch_s,
                                                   efficiency=k.efficiency),
                       prefill=typical_scenario(phases["prefill"]), decode=typical_scenario(phases["decode"]))
        return served_figure(evaluate(case), self.metric, self.row.get("statistic") or "")


def statistic_of(statistic: str, metric: str) -> str:
    """``p50``, ``p90``, ``p99`` or ``mean``: what a row's ``statistic`` says of ``metric``, from
    its ``metric=...`` part (``"ttft=mean; itl=p50 per-token"``), else its first part; a median
    is the p50."""
    parts = [part.strip() for part in statistic.split(";")]
    said = next((part.split("=", 1)[1] for part in parts if part.startswith(f"{metric}=")), parts[0]).lower()
    if "median" in said:
        return "p50"
    return next((p for p in ("p50", "p90", "p99") if p in said), "mean")


def served_figure(v, metric: str, statistic: str) -> float:
    """An evaluated serving case's figure of ``metric`` at a row's ``statistic`` (see
    :func:`statistic_of`): TTFT, TPOT, ITL and latency [ms], samples/s, output tokens/s."""
    from .results.inference import itl_of

    q = v.traffic
    if q is not None and metric in ("ttft", "tpot", "latency", "itl"):
        which = statistic_of(statistic, metric)
        return float(getattr(q, f"{metric}_{which}")) * 1e3
    if metric == "itl":  # a fixed batch: the step without a stall (its median while under half the gaps stall)
        return float(itl_of(v)) * 1e3
    if metric in ("ttft", "tpot", "latency"):
        return float(getattr(v.timings, metric)) * 1e3
    return float(v.samples_per_s if metric == "samples_per_s" else v.throughput)


def serving_points(path, metrics=SERVING_METRICS, refused: list | None = None) -> list[ServingPoint]:
    """Every measured figure of the serving table the estimator can reproduce, one per (point,
    metric). A throughput is scored only where neither TTFT nor TPOT (nor ITL) is (a fixed
    batch's throughput follows from them). A point the estimator refuses (a format a profile does not
    list) raises, or with ``refused`` (a list) is appended to it as ``(point, message)``."""
    from .errors import CostModelError
    from .inference_estimate import estimate_inference

    out = []
    for row in read_cases(path):
        if not _scoreable(row):
            continue
        try:
            est = estimate_inference(**inference_kwargs(row))
        except CostModelError as exc:
            if refused is None:
                raise
            refused.append((row["point"], str(exc)))
            continue
        for metric in metrics:
            value = row.get(_COLUMN[metric])
            if not value:
                continue
            if metric == "throughput_tok_s" and (row.get("ttft_ms") or row.get("tpot_ms") or row.get("itl_ms")):
                continue
            out.append(ServingPoint(point=row["point"], metric=metric, published=float(value), engine=est.engine,
                                    group=source_group(row["source"]), holdout=row.get("holdout") == "true",
                                    phase=_PHASE[metric], row=row, case=est._case))
    return out


def inference_validation(path, calibration=None, metrics=SERVING_METRICS):
    """Measured serving figures vs estimates, one row per (point, metric): TTFT, TPOT, ITL and
    single-pass latency [ms], samples/s and output tokens/s; ``metrics`` chooses which."""
    import pandas as pd

    records = []
    for p in serving_points(path, metrics):
        row, estimated = p.row, p.estimate(calibration)
        records.append({"point": p.point, "model": row["model_id"], "hardware": row["hardware"],
                        "n_gpus": int(row["tp"] or row["n_gpus"]), "batch": row.get("batch_size") or "",
                        "prompt": row["prompt_tokens"], "output": row["output_tokens"], "dtype": row["dtype"],
                        "batching": row["batching"], "metric": p.metric, "published_ms": p.published,
                        "estimated_ms": estimated, "error": estimated / p.published - 1.0, "engine": p.engine,
                        "holdout": p.holdout, "source": row["source"], "group": p.group})
    return pd.DataFrame.from_records(records)


def inference_coverage(path, metric: str, holdout: bool | None = None) -> dict:
    """Measured figures of one metric (``ttft``, ``tpot``, ``itl``, ``latency``, ``samples_per_s``,
    ``throughput_tok_s``) inside [low, high] of the shipped estimate: every point, or
    (``holdout=False``) those the constants may be fitted on, or (``holdout=True``) the held-out
    ones (devices the fit has not seen)."""
    from .inference_estimate import estimate_inference

    inside, width = [], []
    for p in serving_points(path, metrics=(metric,)):
        if holdout is not None and p.holdout != holdout:
            continue
        est = estimate_inference(**inference_kwargs(p.row))
        low, high = est.low, est.high
        assert low is not None and high is not None  # an estimate has both ends (only an end has none)
        ends = [served_figure(e._values, metric, p.row.get("statistic") or "") for e in (low, high)]
        lo, hi = min(ends), max(ends)
        inside.append(lo <= p.published <= hi)
        width.append(hi / lo)
    return coverage(inside, width)
