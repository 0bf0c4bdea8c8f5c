"""``sweep_training``: training estimates over a grid, one vectorised pass."""

from __future__ import annotations

import inspect

import numpy as np

from . import training as core
from .errors import InputError, unknown
from .finetune import apply_method
from .footprint import FOOTPRINT_KEYWORDS, resolve_footprint
from .hardware import get_hardware
from .sweep import chunked, column, expand, frame, input_column, labels, per_value, resolved
from .training_estimate import estimate_training, evaluate, mfu_scales
from .training_inputs import _fraction, _whole, hardware_numbers, model_numbers, resolve_inputs

MODEL_KEYS = ("model", "params", "active_params", "tokens", "samples", "seq_len", "method", "trainable_params",
              "lora_rank", "teacher")
HARDWARE_KEYS = ("hardware", "dtype", "profile_path")
FOOTPRINT_KEYS = ("hardware", "profile_path", *FOOTPRINT_KEYWORDS)
GIB = float(2**30)

# output column -> (unit, function of the evaluated arrays); names match TrainingEstimate.to_dict()
OUTPUTS = {
    "hardware_flops_FLOP": ("FLOP", lambda r: r["hardware_flops"]),
    "mfu": ("", lambda r: r["mfu"]),
    "wall_time_days": ("day", lambda r: r["seconds"] / 86400.0),
    "gpu_hours_h": ("hour", lambda r: r["gpu_hours"]),
    "memory_per_gpu_GiB": ("GiB", lambda r: (r["weights"] + r["gradients"] + r["optimizer"] + r["activations"]) / GIB),
    "memory_weights_GiB": ("GiB", lambda r: r["weights"] / GIB),
    "memory_gradients_GiB": ("GiB", lambda r: r["gradients"] / GIB),
    "memory_optimizer_GiB": ("GiB", lambda r: r["optimizer"] / GIB),
    "memory_activations_GiB": ("GiB", lambda r: r["activations"] / GIB),
    "min_gpus": ("", lambda r: r["min_gpus"]),
    "energy_MWh": ("MWh", lambda r: r["energy_j"] / 3.6e9),
    "it_energy_MWh": ("MWh", lambda r: r["it_j"] / 3.6e9),
    "device_energy_MWh": ("MWh", lambda r: r["device_j"] / 3.6e9),
    "host_energy_MWh": ("MWh", lambda r: r["host_j"] / 3.6e9),
    "co2e_t": ("tonne", lambda r: r["co2e_g"] / 1e6),
    "embodied_co2e_t": ("tonne", lambda r: r["embodied_g"] / 1e6),
    "cost_USD": ("USD", lambda r: r["cost"]),
    "power_per_gpu_W": ("W", lambda r: r["device_w"]),
}
RANGED = ("mfu", "wall_time_days", "gpu_hours_h", "energy_MWh", "it_energy_MWh", "device_energy_MWh",
          "host_energy_MWh", "co2e_t", "embodied_co2e_t", "cost_USD", "power_per_gpu_W")
ALLOWED = set(inspect.signature(estimate_training).parameters)


def _model(**kw) -> dict:
    spec, x = resolve_inputs(kw.get("model"), kw.get("params"), kw.get("active_params"), kw.get("tokens"),
                             kw.get("samples"), kw.get("seq_len"))
    x = apply_method(spec, x, method=kw.get("method", "full"), trainable_params=kw.get("trainable_params"),
                     lora_rank=kw.get("lora_rank", 8), teacher=kw.get("teacher"), seq_len=kw.get("seq_len"))
    return {**model_numbers(x), "model_id": spec.id if spec else None, "has_tokens": x.tokens is not None}


def _hardware(**kw) -> dict:
    hw = get_hardware(kw["hardware"], profile_path=kw.get("profile_path"))
    dt = hw.resolve_dtype(kw.get("dtype"))
    return {**hardware_numbers(hw, dt), "hardware_id": hw.id, "dtype_name": dt}


def _footprint(**kw) -> dict:
    hw = get_hardware(kw.pop("hardware"), profile_path=kw.pop("profile_path", None))
    return resolve_footprint(hw, **kw)


def layout_arrays(values: dict, index: dict) -> dict:
    """The parallel-layout options per row, validated like estimate_training's."""
    def zero(v):
        if v not in (0, 1, 2, 3):
            raise InputError(f"zero_stage: expected 0, 1, 2 or 3, got {v!r}")
        return float(v)

    def recompute(v):
        if v not in core.RECOMPUTE:
            raise InputError(f"recompute: expected one of {', '.join(core.RECOMPUTE)}, got {v!r}")
        return float(core.RECOMPUTE.index(v))

    out = {
        "n_gpus": per_value(values, index, "n_gpus", lambda v: float(_whole(v, "n_gpus")), None),
        "mfu": per_value(values, index, "mfu", lambda v: np.nan if v is None else _fraction(v, "mfu"), None),
        "micro_batch": per_value(values, index, "micro_batch", lambda v: float(_whole(v, "micro_batch")), 1),
        "tp": per_value(values, index, "tp", lambda v: np.nan if v is None else float(_whole(v, "tp")), None),
        "pp": per_value(values, index, "pp", lambda v: float(_whole(v, "pp")), 1),
        "zero_stage": per_value(values, index, "zero_stage", zero, 3),
        "recompute": per_value(values, index, "recompute", recompute, "selective"),
    }
    degree = np.where(np.isnan(out["tp"]), 1.0, out["tp"]) * out["pp"]
    bad = degree > out["n_gpus"]
    if np.any(bad):
        i = int(np.argmax(np.broadcast_to(bad, np.broadcast(bad, out["n_gpus"]).shape)))
        raise InputError(f"tp x pp: a parallel degree of {np.ravel(np.broadcast_to(degree, bad.shape))[i]:.0f} "
                         f"exceeds n_gpus={np.ravel(np.broadcast_to(out['n_gpus'], bad.shape))[i]:.0f}")
    return out


def run(inputs: dict, ranges: bool, progress=None):
    for key in inputs:
        if key not in ALLOWED:
            raise unknown(key, sorted(ALLOWED), what="estimate_training keyword", command="help(costmodel.estimate_training)")
    for key, example in (("hardware", "['h100']"), ("n_gpus", "[8, 64]")):
        if key not in inputs:
            raise InputError(f"{key}: required, e.g. {key}={example}")
    values, rows, index = expand(inputs)
    if "n_gpus" in values and None in values["n_gpus"]:
        raise InputError("n_gpus: None is not a device count")
    models, mrow = resolved(values, index, MODEL_KEYS, _model)
    hws, hrow = resolved(values, index, HARDWARE_KEYS, _hardware)
    fps, frow = resolved(values, index, FOOTPRINT_KEYS, _footprint)
    x = {k: column(models, mrow, k, False) for k in ("params", "active_params", "tokens", "flops", "attention",
                                                      "layers", "d_model", "heads", "seq_len", "trainable",
                                                      "frozen_bytes", "teacher_params")}
    x.update({k: column(hws, hrow, k, False) for k in ("peak", "bandwidth", "capacity", "tdp", "weight_bytes",
                                                        "optimizer_bytes")})
    x.update(layout_arrays(values, index))
    x.update({k: column(fps, frow, k, ranges) for k in ("pue", "grid", "power_w", "host_w", "idle", "busy", "life_h",
                                                        "embodied_g", "embodied_life_h", "price", "purchase",
                                                        "electricity", "owned", "embodied")})
    x["mfu_scale"] = mfu_scales()[:, None] if ranges else 1.0
    r = chunked(evaluate, x, rows, progress)
    return frame(_columns(values, index, models, mrow, hws, hrow, x, r, ranges, rows), _units())


def _columns(values, index, models, mrow, hws, hrow, x, r, ranges, rows) -> dict:
    cols = {
        "model": labels([m["model_id"] for m in models], mrow, rows),
        "hardware": labels([h["hardware_id"] for h in hws], hrow, rows),
        "dtype": labels([h["dtype_name"] for h in hws], hrow, rows),
        "n_gpus": np.broadcast_to(x["n_gpus"], (rows,)).astype(np.int64),
        "params": np.broadcast_to(x["params"], (rows,)), "active_params": np.broadcast_to(x["active_params"], (rows,)),
        "tokens": np.broadcast_to(np.where(np.array([m["has_tokens"] for m in models])[mrow], x["tokens"], np.nan),
                                  (rows,)),
    }
    for key, vals in values.items():  # every other swept input, as given
        if key not in cols and len(vals) > 1:
            cols[key] = input_column(vals, index[key], rows)
    cols["flops_FLOP"] = np.broadcast_to(x["flops"], (rows,))
    typical = {k: (v[0] if ranges and np.ndim(v) == 2 else v) for k, v in r.items()}
    cols["tp"] = np.broadcast_to(typical["tp"], (rows,)).astype(np.int64)
    cols["fits"] = np.broadcast_to(typical["fits"], (rows,))
    for name, (_, fn) in OUTPUTS.items():
        cols[name] = np.broadcast_to(fn(typical), (rows,))
        if ranges and name in RANGED:
            both = np.broadcast_to(fn(r), (3, rows))
            cols[f"{name}_low"], cols[f"{name}_high"] = both.min(axis=0), both.max(axis=0)
    return cols


def _units() -> dict:
    units = {"params": "", "active_params": "", "tokens": "token", "flops_FLOP": "FLOP", "n_gpus": "", "tp": ""}
    for name, (unit, _) in OUTPUTS.items():
        units[name] = unit
        units[f"{name}_low"] = units[f"{name}_high"] = unit
    return units
