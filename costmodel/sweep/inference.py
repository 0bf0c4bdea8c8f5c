"""``sweep_inference``: the resolvers and pipeline of :mod:`costmodel.inference_estimate` over a grid."""

from __future__ import annotations

import inspect

import numpy as np

from ..calibration import resolve_calibration, serving_scenarios
from ..energy import FOOTPRINT_KEYWORDS, resolve_footprint
from ..errors import InputError
from ..hardware import get_hardware
from ..inference import PhaseConstants, Request
from ..inference_estimate import (
    REQUEST_PARSERS,
    ServingCase,
    check_request,
    estimate_inference,
    evaluate,
    resolve_serving,
)
from ..results.base import check_finite, pick_record
from ..results.inference import BOUNDS, COLUMNS, CULPRITS, MAY_BE_MISSING, OUTPUTS, bound_codes
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

SERVING_KEYS = ("model", "params", "active_params", "hardware", "dtype", "kv_dtype", "prune", "profile_path")
FOOTPRINT_KEYS = ("hardware", "profile_path", *FOOTPRINT_KEYWORDS)
ALLOWED = set(inspect.signature(estimate_inference).parameters) - {"strict"}


def _serving(**kw):
    spec, hw, dtypes, m, h = resolve_serving(kw.pop("model", None), **kw)
    return spec.id if spec else None, hw.id, dtypes, m, h


def _footprint(**kw):
    hw = get_hardware(kw.pop("hardware"), profile_path=kw.pop("profile_path", None))
    return resolve_footprint(hw, **kw)[0]


def _phase(c: PhaseConstants, ranges: bool) -> PhaseConstants:
    shaped = {k: (getattr(c, k)[:, None] if ranges else float(getattr(c, k)[0])) for k in PhaseConstants.__slots__}
    return PhaseConstants(**shaped)


def run(inputs: dict, ranges: bool, progress=None):
    check_keywords(inputs, ALLOWED, "estimate_inference")
    for key in ("hardware", "prompt_tokens", "output_tokens"):
        if key not in inputs:
            raise InputError("required", argument=key)
    calibration = resolve_calibration(inputs.pop("calibration", None))
    values, rows, index = expand(inputs)
    serving, srow = resolved(values, index, SERVING_KEYS, _serving)
    fps, frow = resolved(values, index, FOOTPRINT_KEYS, _footprint)
    request = check_request(Request(**{name: per_value(values, index, key, parse, default)
                                       for key, (name, parse, default) in REQUEST_PARSERS.items()}))
    phases = serving_scenarios(calibration.serving)
    case = ServingCase(model=stack([s[3] for s in serving], srow), hardware=stack([s[4] for s in serving], srow),
                       request=request, footprint=stack(fps, frow, scenarios=ranges),
                       prefill=_phase(phases["prefill"], ranges), decode=_phase(phases["decode"], ranges))
    v = chunked(evaluate, case, rows, progress)
    typical = pick_record(v, "typical", 1) if ranges else v
    check_finite(OUTPUTS, case, typical, MAY_BE_MISSING, CULPRITS, "prompt_tokens")
    cols = {"model": labels([s[0] for s in serving], srow, rows), "hardware": labels([s[1] for s in serving], srow, rows),
            "dtype": labels([s[2][0] for s in serving], srow, rows),
            "kv_dtype": labels([s[2][1] for s in serving], srow, rows)}
    units = {}
    for key, fn, dtype in COLUMNS:
        cols[key] = np.broadcast_to(fn(case, typical), (rows,)).astype(dtype)
        units[key] = "token" if key.endswith("_tokens") else ""
    import pandas as pd

    for key, codes in zip(("bound_prefill", "bound_decode"), bound_codes(typical.timings)):
        cols[key] = pd.Categorical.from_codes(np.broadcast_to(codes, (rows,)), categories=list(BOUNDS))
    for key, vals in values.items():  # every other swept input, as given
        if key not in cols and len(vals) > 1:
            cols[key] = input_column(vals, index[key], rows)
    out, out_units = output_columns(OUTPUTS, case, v, rows, ranges)
    return frame({**cols, **out}, {**units, **out_units})
