"""Turning a model, device and precision into the numbers the serving pipeline needs."""

from __future__ import annotations

import functools
import math

import numpy as np

from . import inference as core
from .architecture import expert_parameters
from .errors import InputError
from .hardware import PRECISIONS
from .inference_pipeline import capacity_report
from .units import parse_count

__all__ = ["AUTOREGRESSIVE", "model_shape", "kv_dtype_for", "compute_dtype_for", "fit_report", "cal_scenarios"]

AUTOREGRESSIVE = ("dense-decoder", "moe-decoder", "encoder-decoder")


def model_shape(spec, params, active_params, dtype_bytes, kv_bytes) -> dict:
    """What the roofline needs to know about the model, in canonical floats."""
    n = parse_count(params, "params") if params is not None else float(spec.params.magnitude)
    if active_params is not None:
        act = parse_count(active_params, "active_params")
    else:
        act = n if params is not None else float(spec.active_params.magnitude)
    m = {"params": n, "active_params": act, "weight_bytes": n * dtype_bytes, "expert_bytes": 0.0,
         "experts": 0.0, "experts_per_token": 0.0, "kv_per_token": 0.0, "attention_per_ctx": 0.0,
         "d_model": 0.0, "ffn": 0.0, "context": math.inf, "layers": 0.0,
         "kind": "dense-decoder" if spec is None else spec.kind, "forward_flops": math.nan}
    m["autoregressive"] = float(m["kind"] in AUTOREGRESSIVE)
    if spec is None or params is not None:
        return m
    if spec.forward_flops is not None and spec.kind in ("cnn", "vit", "linear"):
        m["forward_flops"] = float(spec.forward_flops.magnitude)
    if spec.is_transformer:
        head_dim = spec.head_dim or spec.d_model // spec.heads
        latent = (spec.kv_lora_rank + spec.qk_rope_head_dim) if spec.attention == "mla" else 0.0
        m.update(kv_per_token=float(core.kv_bytes_per_token(spec.layers, spec.kv_heads or spec.heads, head_dim,
                                                            kv_bytes, latent)),
                 attention_per_ctx=float(spec.layers * spec.attention_dim), d_model=float(spec.d_model),
                 layers=float(spec.layers + (spec.decoder_layers or 0)),
                 ffn=float(spec.expert_ffn_dim or spec.ffn_dim or 4 * spec.d_model),
                 context=float(spec.context or math.inf))
    if spec.experts:
        m.update(expert_bytes=expert_parameters(spec) * dtype_bytes, experts=float(spec.experts),
                 experts_per_token=float(spec.experts_per_token))
    return m


def kv_dtype_for(kv_dtype, weight_dtype: str, hw) -> str:
    if kv_dtype is None:  # integer weight formats keep a bf16 (or fp16) cache
        return weight_dtype if weight_dtype not in ("int8", "int4") else hw.default_dtype
    from .hardware import canonical_dtype

    return canonical_dtype(kv_dtype, "kv_dtype")


def compute_dtype_for(dtype: str, hw) -> str:
    """Precision the matrix units run at: the weight format, or for weight-only integer
    quantisation the device's usual 16-bit format."""
    if dtype in hw.dense:
        return dtype
    if dtype in ("int8", "int4"):
        return hw.default_dtype
    raise InputError(f"dtype: {hw.id} does not support {dtype} (supported: "
                     f"{', '.join(d for d in PRECISIONS if d in hw.dense)}, or int8/int4 weight-only)")


def fit_report(m, n, batch, prompt, output, capacity, dtype, hw, kv_bytes) -> dict:
    """Does it fit; the largest batch that does; devices needed; a smaller dtype that fits."""
    c = capacity_report(m, n, batch, prompt, output, capacity)
    fitting = None
    order = ("fp32", "bf16", "fp8", "int8", "int4")
    for smaller in order[order.index(dtype if dtype in order else "bf16") + 1:]:
        if smaller in hw.dense or smaller in ("int8", "int4"):
            scale = core.BYTES[smaller] / core.BYTES[dtype]
            if c["w"] * scale + c["kv"] + c["a"] <= capacity:
                fitting = smaller
                break
    return {**c, "fits": bool(c["fits"]), "max_batch": int(c["max_batch"]), "min_gpus": int(c["min_gpus"]),
            "fitting_dtype": fitting}


def cal_scenarios(cal: dict) -> dict:
    return _cal_scenarios(tuple(sorted(cal.items())))


@functools.lru_cache(maxsize=64)
def _cal_scenarios(items: tuple) -> dict:
    """(typical, optimistic, pessimistic) serving constants per phase, from the fit's
    out-of-sample errors: the prefill's constants span TTFT's 5th-95th percentile errors, the
    decode steps' span TPOT's. Times scale about inversely with the achievable fractions and
    directly with the overheads; fractions never exceed 1.
    """
    cal = dict(items)

    def phase(high: float, low: float) -> dict:  # ln(estimate / measured) at the spread's ends
        scale = np.exp([0.0, high, low])
        out = {"compute_fraction": np.minimum(cal["compute_fraction"] * scale, 1.0),
               "bandwidth_fraction": np.minimum(cal["bandwidth_fraction"] * scale, 1.0),
               "step_overhead_s": cal["step_overhead_s"] / scale,
               "allreduce_latency_s": cal["allreduce_latency_s"] / scale}
        for array in out.values():
            array.flags.writeable = False  # cached and shared between calls
        return out

    return {"prefill": phase(cal.get("ttft_high", 0.0), cal.get("ttft_low", 0.0)),
            "decode": phase(cal.get("tpot_high", 0.0), cal.get("tpot_low", 0.0))}
