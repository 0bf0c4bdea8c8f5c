"""Compare estimates with published runs and measurements, and check the ranges cover them.

Each function reads a table of published cases (``tests/data/*.csv`` in the repository) and
returns a pandas DataFrame with the published figure, the estimate and the error, or, for
the ``*_coverage`` functions, how often the published figure falls inside ``[low, high]`` and
how wide that range is. Used by the tests, the README report and the fitting scripts, which
pass their own constants as ``calibration=``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = ["read_cases", "published_hours", "training_kwargs", "training_cases", "generation", "NOMINAL_TOKENS", "inference_kwargs", "serving_points", "ServingPoint", "source_group", "statistic_of", "served_figure", "training_validation",
           "energy_validation", "SERVING_METRICS", "inference_validation", "summary", "training_coverage", "inference_coverage",
           "energy_coverage", "energy_scenarios"]


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


def summary(errors) -> dict:
    """Median absolute error and worst factor of a series of relative errors."""
    e = np.asarray(errors, dtype=float)
    ratio = 1.0 + e
    return {"n": int(e.size), "median_abs_error": float(np.median(np.abs(e))),
            "worst_factor": float(np.max(np.maximum(ratio, 1.0 / ratio)))}


MEASURED = ("measured", "metered")
_PARTS_J = {"device": "device_j", "it": "it_j", "facility": "energy_j"}


def _energy_target(row: dict) -> tuple[float, str, str] | None:
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
    in and the training model supplies the hours too. Every other input is the default; where
    the authors give the grid intensity, CO2e uses it (where a run took place is an input no
    model can guess). ``footprint_of(hw)`` replaces the default footprint inputs (a fit's
    leave-one-source-out constants).
    """
    from .energy import footprint_values, resolve_footprint
    from .energy_range import combine_spreads
    from .hardware import get_hardware
    from .training_estimate import estimate_training, scenarios

    target = _energy_target(row)
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
            published, _, metric = _energy_target(row)  # type: ignore[misc]
            typical, low, high = got
            records.append({"run": row["run"], "mode": mode, "hardware": row["hardware"], "metric": metric,
                            "kind": row["kind"], "group": row.get("group"), "published": published,
                            "estimated": typical, "low": low, "high": high, "error": typical / published - 1.0,
                            "inside": low <= published <= high, "width": high / low, "source": row["source"]})
    return pd.DataFrame.from_records(records)


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


def _coverage(inside: list, width: list) -> dict:
    return {"n": len(inside), "coverage": float(np.mean(inside)), "median_width": float(np.median(width))}


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
    return _coverage(inside, width)


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
    return _coverage(inside, width)


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
        published = _energy_target(row)[0]  # type: ignore[index]
        _, lo, hi = got
        inside.append(lo <= published <= hi)
        width.append(hi / lo)
    return _coverage(inside, width)
