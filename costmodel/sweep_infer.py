"""``sweep_inference``: serving estimates over a grid, one vectorised pass."""

from __future__ import annotations

import functools
import inspect

import numpy as np

from . import inference as core
from .calibration import inference_calibration
from .errors import InputError, unknown
from .footprint import FOOTPRINT_KEYWORDS, compute_footprint, resolve_footprint
from .hardware import canonical_dtype, get_hardware
from .inference_estimate import estimate_inference
from .inference_inputs import cal_scenarios, compute_dtype_for, kv_dtype_for, model_shape
from .inference_pipeline import capacity_report, timings
from .models import get_model
from .sweep import chunked, column, expand, frame, input_column, labels, resolved
from .sweep import per_value as sweep_per_value
from .training_inputs import _whole
from .units import parse_count

SERVING_KEYS = ("model", "params", "active_params", "hardware", "dtype", "kv_dtype", "profile_path")
FOOTPRINT_KEYS = ("hardware", "profile_path", *FOOTPRINT_KEYWORDS)
MODEL_FLOATS = ("params", "active_params", "weight_bytes", "expert_bytes", "experts", "experts_per_token",
                "kv_per_token", "attention_per_ctx", "d_model", "ffn", "context", "layers", "forward_flops",
                "autoregressive")
ALLOWED = set(inspect.signature(estimate_inference).parameters) - {"strict"}
GIB = float(2**30)


def _serving(**kw) -> dict:
    spec = get_model(kw["model"]) if kw.get("model") is not None else None
    if spec is None and kw.get("params") is None:
        raise InputError("params: give a catalogued model (e.g. 'llama-2-7b') or params=, e.g. params='7B'")
    hw = get_hardware(kw["hardware"], profile_path=kw.get("profile_path"))
    dt = hw.default_dtype if kw.get("dtype") is None else canonical_dtype(kw["dtype"])
    compute_dt = compute_dtype_for(dt, hw)
    kv_dt = kv_dtype_for(kw.get("kv_dtype"), dt, hw)
    m = model_shape(spec, kw.get("params"), kw.get("active_params"), core.BYTES[dt], core.BYTES[kv_dt])
    return {**{k: m[k] for k in MODEL_FLOATS}, "peak": hw.peak_flops(compute_dt),
            "bandwidth": hw.number("memory_bandwidth"), "capacity": hw.number("memory"), "tdp": hw.number("tdp"),
            "link": hw.number("interconnect_bandwidth") or hw.number("pcie_bandwidth") or 16e9,
            "model_id": spec.id if spec else None, "hardware_id": hw.id, "dtype_name": dt, "kv_name": kv_dt}


def _footprint(**kw) -> dict:
    hw = get_hardware(kw.pop("hardware"), profile_path=kw.pop("profile_path", None))
    return resolve_footprint(hw, **kw)


def _request(values: dict, index: dict) -> dict:
    per_value = functools.partial(sweep_per_value, values, index)

    def batching(v):
        if v not in ("static", "continuous"):
            raise InputError(f"batching: expected 'static' or 'continuous', got {v!r}")
        return float(v == "continuous")

    out = {"n": per_value("n_gpus", lambda v: float(_whole(v, "n_gpus", limit=1e6)), 1),
           "batch": per_value("batch_size", lambda v: float(_whole(v, "batch_size", limit=1e7)), 1),
           "prompt": per_value("prompt_tokens", lambda v: float(int(parse_count(v, "prompt_tokens", allow_zero=True))), 0),
           "output": per_value("output_tokens", lambda v: float(int(parse_count(v, "output_tokens", allow_zero=True))), 0),
           "continuous": per_value("batching", batching, "static")}
    if np.any(out["prompt"] + out["output"] < 1):
        raise InputError("prompt_tokens: a request needs at least one token in or out")
    return out


def evaluate(x: dict) -> dict:
    """Timings, memory and per-request footprint of every row (arrays in, arrays out)."""
    output = np.where(x["autoregressive"] > 0, x["output"], 0.0)
    t = timings(x, x, x["n"], x["batch"], x["prompt"], output, x["cal"], x["link"], x["continuous"] > 0)
    c = capacity_report(x, x["n"], x["batch"], x["prompt"], output, x["capacity"])
    fp = compute_footprint(x, x["tdp"], t["busy"], x["n"] / x["batch"], t["latency"])
    return {**t, **c, **fp, "output_used": output}


def run(inputs: dict, ranges: bool, progress=None):
    for key in inputs:
        if key not in ALLOWED:
            raise unknown(key, sorted(ALLOWED), what="estimate_inference keyword", command="help(costmodel.estimate_inference)")
    for key in ("hardware", "prompt_tokens", "output_tokens"):
        if key not in inputs:
            raise InputError(f"{key}: required")
    values, rows, index = expand(inputs)
    serving, srow = resolved(values, index, SERVING_KEYS, _serving)
    fps, frow = resolved(values, index, FOOTPRINT_KEYS, _footprint)
    x = {k: column(serving, srow, k, False) for k in (*MODEL_FLOATS, "peak", "bandwidth", "capacity", "tdp", "link")}
    x.update(_request(values, index))
    x.update({k: column(fps, frow, k, ranges) for k in ("pue", "grid", "power_w", "host_w", "idle", "busy", "life_h",
                                                        "embodied_g", "embodied_life_h", "price", "purchase",
                                                        "electricity", "owned", "embodied")})
    cal = cal_scenarios(inference_calibration())
    x["cal"] = {phase: {k: (v[:, None] if ranges else v[0]) for k, v in c.items()} for phase, c in cal.items()}
    r = chunked(evaluate, x, rows, progress)
    return frame(_columns(values, index, serving, srow, x, r, ranges, rows), UNITS)


OUTPUTS = {
    "ttft_ms": ("ms", lambda r: r["ttft"] * 1e3), "tpot_ms": ("ms", lambda r: r["tpot"] * 1e3),
    "latency_s": ("s", lambda r: r["latency"]),
    "throughput_tok_s": ("token/s", lambda r: r["batch"] * r["output_used"] / r["latency"]),
    "energy_Wh": ("Wh", lambda r: r["energy_j"] / 3600.0),
    "cost_USD": ("USD", lambda r: r["cost"]),
    "cost_per_million_tokens_USD": ("USD", lambda r: np.where(r["output_used"] > 0, r["cost"] * 1e6 / np.maximum(
        r["output_used"], 1.0), np.nan)),
    "co2e_g": ("g", lambda r: r["co2e_g"]), "power_per_gpu_W": ("W", lambda r: r["device_w"]),
}
UNITS = {"n_gpus": "", "batch_size": "", "prompt_tokens": "token", "output_tokens": "token",
         "memory_per_gpu_GiB": "GiB", "memory_weights_GiB": "GiB", "memory_kv_cache_GiB": "GiB",
         "memory_activations_GiB": "GiB", "max_batch_size": "", "min_gpus": "",
         **{k: u for k, (u, _) in OUTPUTS.items()}, **{f"{k}_low": u for k, (u, _) in OUTPUTS.items()},
         **{f"{k}_high": u for k, (u, _) in OUTPUTS.items()}}


def _columns(values, index, serving, srow, x, r, ranges, rows) -> dict:
    full = lambda v: np.broadcast_to(v, (rows,))  # noqa: E731
    cols = {"model": labels([s["model_id"] for s in serving], srow, rows),
            "hardware": labels([s["hardware_id"] for s in serving], srow, rows),
            "dtype": labels([s["dtype_name"] for s in serving], srow, rows),
            "kv_dtype": labels([s["kv_name"] for s in serving], srow, rows),
            "n_gpus": full(x["n"]).astype(np.int64), "batch_size": full(x["batch"]).astype(np.int64),
            "prompt_tokens": full(x["prompt"]).astype(np.int64),
            "output_tokens": full(r["output_used"] if np.ndim(r["output_used"]) < 2 else r["output_used"][0]).astype(np.int64)}
    for key, vals in values.items():
        if key not in cols and len(vals) > 1:
            cols[key] = input_column(vals, index[key], rows)
    typical = {k: (v[0] if ranges and np.ndim(v) == 2 else v) for k, v in r.items()}
    typical["batch"] = x["batch"]
    cols["fits"] = full(typical["fits"])
    cols["max_batch_size"] = full(typical["max_batch"]).astype(np.int64)
    cols["min_gpus"] = full(typical["min_gpus"]).astype(np.int64)
    mem = typical["w"] + typical["kv"] + typical["a"]
    cols.update(memory_per_gpu_GiB=full(mem / GIB), memory_weights_GiB=full(typical["w"] / GIB),
                memory_kv_cache_GiB=full(typical["kv"] / GIB), memory_activations_GiB=full(typical["a"] / GIB))
    cols["bound_prefill"] = np.where(full(typical["compute_bound_prefill"]), "compute", "memory")
    cols["bound_decode"] = np.where(full(typical["generating"]),
                                    np.where(full(typical["compute_bound_decode"]), "compute", "memory"), "none")
    scen = dict(r, batch=x["batch"])
    for name, (_, fn) in OUTPUTS.items():
        cols[name] = full(fn(typical))
        if ranges:
            both = np.broadcast_to(fn(scen), (3, rows))
            cols[f"{name}_low"], cols[f"{name}_high"] = both.min(axis=0), both.max(axis=0)
    return cols

