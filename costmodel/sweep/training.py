"""``sweep_training``: the resolvers and pipeline of :mod:`costmodel.training_estimate` over a grid."""

from __future__ import annotations

import inspect

import numpy as np

from ..calibration import mfu_scales, resolve_calibration
from ..energy import FOOTPRINT_KEYWORDS, resolve_footprint
from ..errors import InputError
from ..hardware import get_hardware
from ..layout import LAYOUT_PARSERS, TrainingLayout, check_layout
from ..results.base import check_finite, pick_record
from ..results.training import COLUMNS, CULPRITS, MAY_BE_MISSING, OUTPUTS
from ..training_estimate import TrainingCase, estimate_training, evaluate, layout_heads, resolve_hardware, resolve_model
from .grid import (
    check_keywords,
    chunked,
    expand,
    frame,
    input_column,
    labels,
    output_columns,
    per_value,
    resolved,
    stack,
)

MODEL_KEYS = ("model", "params", "active_params", "tokens", "samples", "seq_len", "method", "trainable_params",
              "lora_rank", "teacher")
HARDWARE_KEYS = ("hardware", "dtype", "profile_path")
FOOTPRINT_KEYS = ("hardware", "profile_path", *FOOTPRINT_KEYWORDS)
ALLOWED = set(inspect.signature(estimate_training).parameters)


def _model(**kw):
    spec, m, _ = resolve_model(kw.pop("model", None), **kw)
    return spec.id if spec else None, kw.get("method", "full"), m


def _hardware(**kw):
    hw, dt, h = resolve_hardware(kw["hardware"], kw.get("dtype"), kw.get("profile_path"))
    return hw.id, dt, h


def _footprint(**kw):
    hw = get_hardware(kw.pop("hardware"), profile_path=kw.pop("profile_path", None))
    return resolve_footprint(hw, **kw)[0]


def run(inputs: dict, ranges: bool, progress=None):
    check_keywords(inputs, ALLOWED, "estimate_training")
    for key, example in (("hardware", "['h100']"), ("n_gpus", "[8, 64]")):
        if key not in inputs:
            raise InputError(f"required, e.g. {key}={example}", argument=key)
    calibration = resolve_calibration(inputs.pop("calibration", None))
    values, rows, index = expand(inputs)
    if None in values["n_gpus"]:
        raise InputError("None is not a device count", argument="n_gpus")
    models, mrow = resolved(values, index, MODEL_KEYS, _model)
    hws, hrow = resolved(values, index, HARDWARE_KEYS, _hardware)
    fps, frow = resolved(values, index, FOOTPRINT_KEYS, _footprint)
    model = stack([m for _, _, m in models], mrow)
    layout = check_layout(TrainingLayout(**{k: per_value(values, index, k, parse, default)
                                            for k, (parse, default) in LAYOUT_PARSERS.items()}), layout_heads(model))
    case = TrainingCase(model=model, hardware=stack([h for _, _, h in hws], hrow),
                        layout=layout, footprint=stack(fps, frow, scenarios=ranges),
                        mfu_scale=mfu_scales(calibration.training)[:, None] if ranges else 1.0)
    v = chunked(lambda block: evaluate(block, calibration.training), case, rows, progress)
    cols = {"model": labels([m[0] for m in models], mrow, rows), "hardware": labels([h[0] for h in hws], hrow, rows),
            "dtype": labels([h[1] for h in hws], hrow, rows), "method": labels([m[1] for m in models], mrow, rows)}
    typical = pick_record(v, "typical", 1) if ranges else v
    check_finite(OUTPUTS, case, typical, MAY_BE_MISSING, CULPRITS, "tokens")
    units = {}
    for key, fn, dtype in COLUMNS:
        cols[key] = np.broadcast_to(fn(case, typical), (rows,)).astype(dtype)
        units[key] = ""
    for key, vals in values.items():  # every other swept input, as given
        if key not in cols and len(vals) > 1:
            cols[key] = input_column(vals, index[key], rows)
    out, out_units = output_columns(OUTPUTS, case, v, rows, ranges)
    return frame({**cols, **out}, {**units, **out_units})

