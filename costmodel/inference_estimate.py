"""``estimate_inference``: resolve the inputs once into typed records, run the pipeline, wrap.

The sweep (:mod:`costmodel.sweep`) resolves each distinct value with the same resolvers, lays
the records out per row and runs the same :func:`evaluate` over arrays.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import inference as core
from .architecture import expert_parameters
from .calibration import Calibration, resolve_calibration, serving_scenarios
from .energy import FootprintInputs, FootprintValues, footprint_values, resolve_footprint
from .errors import InputError, ProfileError
from .hardware import PRECISIONS, HardwareProfile, ProfilePath, canonical_dtype, get_hardware
from .inference import PhaseConstants, Request, ServingHardware, ServingModel
from .models import ModelSpec, get_model, resolve_counts
from .results.inference import InferenceEstimate
from .units import CountLike, FloatArray, QuantityLike, parse_count, parse_whole

if TYPE_CHECKING:
    from .regions import Region

__all__ = ["AUTOREGRESSIVE", "ServingCase", "ServingValues", "resolve_serving", "resolve_request",
           "check_request", "evaluate", "estimate_inference"]

AUTOREGRESSIVE = ("dense-decoder", "moe-decoder", "encoder-decoder")
BATCHING = ("static", "continuous")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingCase:
    """Everything the serving pipeline needs, with each phase's fitted constants."""

    model: ServingModel
    hardware: ServingHardware
    request: Request
    footprint: FootprintInputs
    prefill: PhaseConstants
    decode: PhaseConstants


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingValues:
    """The pipeline's outputs per request (s, B, W, J, USD) as floats or arrays."""

    timings: core.Timings
    capacity: core.Capacity
    output: FloatArray  # output tokens generated (0 for models that do not generate)
    throughput: FloatArray  # output tokens per second of the whole batch
    footprint: FootprintValues


def _serving_model(spec: ModelSpec | None, params: CountLike | None, active_params: CountLike | None,
                   weight_bytes: float, kv_bytes: float) -> ServingModel:
    n, active = resolve_counts(spec, params, active_params)
    kind = "dense-decoder" if spec is None else spec.kind
    fields: dict[str, float] = {"params": n, "active_params": active, "weight_bytes": n * weight_bytes,
                                "autoregressive": float(kind in AUTOREGRESSIVE)}
    if spec is None or params is not None:
        return ServingModel(**fields)
    if spec.forward_flops is not None and spec.kind in ("cnn", "vit", "linear"):
        fields["forward_flops"] = float(spec.forward_flops.magnitude)
    shape = spec.shape
    if shape is not None:
        fields.update(kv_per_token=float(core.kv_bytes_per_token(shape.layers, shape.kv_heads, shape.head_dim,
                                                                 kv_bytes, shape.kv_latent)),
                      attention_per_ctx=float(shape.layers * shape.attention_dim), d_model=float(shape.d_model),
                      layers=float(shape.layers + (spec.decoder_layers or 0)),
                      ffn=float(spec.expert_ffn_dim or spec.ffn_dim or 4 * shape.d_model),
                      context=float(spec.context or math.inf))
    if spec.experts:
        if spec.experts_per_token is None:
            raise ProfileError(f"model {spec.id!r}: a mixture of experts needs experts_per_token")
        fields.update(expert_bytes=expert_parameters(spec) * weight_bytes, experts=float(spec.experts),
                      experts_per_token=float(spec.experts_per_token))
    return ServingModel(**fields)


def _compute_dtype(dtype: str, hw: HardwareProfile) -> str:
    """The precision the matrix units run at: the weight format, or for weight-only integer
    quantisation the device's usual 16-bit format."""
    if dtype in hw.dense:
        return dtype
    if dtype in ("int8", "int4"):
        return hw.default_dtype
    raise InputError(f"{hw.id} does not support {dtype} (supported: "
                     f"{', '.join(d for d in PRECISIONS if d in hw.dense)}, or int8/int4 weight-only)", argument="dtype")


def resolve_serving(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                    active_params: CountLike | None = None, hardware: str | HardwareProfile, dtype: str | None = None,
                    kv_dtype: str | None = None, profile_path: ProfilePath | None = None
                    ) -> tuple[ModelSpec | None, HardwareProfile, tuple[str, str], ServingModel, ServingHardware]:
    """The model at its weight and KV precisions on a device: ``(spec, profile, (dtype,
    kv_dtype), model record, hardware record)``."""
    spec = get_model(model) if model is not None else None
    hw = get_hardware(hardware, profile_path=profile_path)
    dt = hw.default_dtype if dtype is None else canonical_dtype(dtype)
    compute = _compute_dtype(dt, hw)
    if kv_dtype is None:  # integer weight formats keep a bf16 (or fp16) cache
        kv = dt if dt not in ("int8", "int4") else hw.default_dtype
    else:
        kv = canonical_dtype(kv_dtype, "kv_dtype")
    m = _serving_model(spec, params, active_params, core.BYTES[dt], core.BYTES[kv])
    link = hw.number("interconnect_bandwidth") or hw.number("pcie_bandwidth") or 16e9
    h = ServingHardware(peak=hw.peak_flops(compute), bandwidth=hw.number("memory_bandwidth"),
                        capacity=hw.number("memory"), tdp=hw.number("tdp"), link=link)
    return spec, hw, (dt, kv), m, h


def parse_batching(value: str) -> float:
    if value not in BATCHING:
        raise InputError(f"expected 'static' or 'continuous', got {value!r}", argument="batching")
    return float(value == "continuous")


# keyword -> (record field, parser of one value, default); shared with the sweep
REQUEST_PARSERS: dict[str, tuple[str, Callable[[Any], float], Any]] = {
    "n_gpus": ("n", lambda v: float(parse_whole(v, "n_gpus", limit=1e6)), 1),
    "batch_size": ("batch", lambda v: float(parse_whole(v, "batch_size", limit=1e7)), 1),
    "prompt_tokens": ("prompt", lambda v: float(int(parse_count(v, "prompt_tokens", allow_zero=True))), None),
    "output_tokens": ("output", lambda v: float(int(parse_count(v, "output_tokens", allow_zero=True))), None),
    "batching": ("continuous", parse_batching, "static"),
}


def check_request(r: Request) -> Request:
    """Refuse a request with no token in or out (floats or arrays)."""
    if np.any(r.prompt + r.output < 1):
        raise InputError("a request needs at least one token in or out", argument="prompt_tokens")
    return r


def resolve_request(**options: Any) -> Request:
    """Devices, batch, tokens and batching mode (see :data:`REQUEST_PARSERS`) as floats."""
    return check_request(Request(**{name: parse(options.get(key, default))
                                    for key, (name, parse, default) in REQUEST_PARSERS.items()}))


def evaluate(case: ServingCase) -> ServingValues:
    """Timings, memory and per-request footprint (floats or arrays in, the same out)."""
    m, r = case.model, case.request
    output = np.where(m.autoregressive > 0, r.output, 0.0)
    r = replace(r, output=output)
    t = core.timings(m, case.hardware, r, case.prefill, case.decode)
    c = core.capacity_report(m, r.n, r.batch, r.prompt, output, case.hardware.capacity)
    fp = footprint_values(case.footprint, case.hardware.tdp, t.busy, r.n / r.batch, t.latency)
    return ServingValues(timings=t, capacity=c, output=output, throughput=r.batch * output / t.latency, footprint=fp)


def _fitting_dtype(m: ServingModel, hw: HardwareProfile, dtype: str, c: core.Capacity) -> str | None:
    """The first smaller weight precision the device has that would fit."""
    order = ("fp32", "bf16", "fp8", "int8", "int4")
    for smaller in order[order.index(dtype if dtype in order else "bf16") + 1:]:
        if smaller in hw.dense or smaller in ("int8", "int4"):
            scale = core.BYTES[smaller] / core.BYTES[dtype]
            if float(c.weights) * scale + float(c.kv_cache) + float(c.activations) <= hw.number("memory"):
                return smaller
    return None


def estimate_inference(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                       active_params: CountLike | None = None, hardware: str | HardwareProfile, n_gpus: CountLike = 1,
                       prompt_tokens: CountLike, output_tokens: CountLike, batch_size: CountLike = 1,
                       dtype: str | None = None, kv_dtype: str | None = None, batching: str = "static",
                       strict: bool = False, pue: float | str | None = None, power_per_gpu: QuantityLike | None = None,
                       host_power_per_gpu: QuantityLike | None = None, region: str | Region | None = None,
                       grid_intensity: QuantityLike | None = None, price_per_gpu_hour: QuantityLike | None = None,
                       cost_basis: str = "cloud", price_kind: str = "on_demand",
                       purchase_price: QuantityLike | None = None, electricity_price: QuantityLike | None = None,
                       service_life: QuantityLike | None = None, embodied: bool = False,
                       profile_path: ProfilePath | None = None,
                       calibration: Calibration | str | os.PathLike[str] | None = None) -> InferenceEstimate:
    """Estimate one request's latency, throughput, memory, energy and cost under batching.

    Parameters
    ----------
    model : str or ModelSpec, optional
        Catalog id; or give ``params`` (and ``active_params`` for MoE) for other models.
    hardware : str
        Hardware profile id or alias; ``n_gpus`` devices serve with tensor parallelism.
    prompt_tokens, output_tokens : int [token]
        Tokens in and out per request; ``output_tokens=0`` is one forward pass (encoders,
        vision models and linear models always are).
    batch_size : int
        Requests processed together; the figures are per request of that batch.
    batching : {"static", "continuous"}
        ``static`` (default): the batch is prefilled and decoded together. ``continuous``:
        ``batch_size`` requests in flight with in-flight batching, as serving engines run.
    dtype, kv_dtype : str, optional
        Weight precision (default bf16, fp16 where the device has none) and KV-cache precision
        (default the weight precision, or bf16 for integer weight formats).
    strict : bool
        Raise instead of returning ``fits=False`` or a warning for a too-long context.
    pue, power_per_gpu, ... : optional
        Energy, carbon and price options, as in :func:`costmodel.estimate_training`.
    calibration : Calibration or path, optional
        Fitted constants (default: the shipped ones; see :mod:`costmodel.calibration`).

    Notes
    -----
    TTFT is the prefill plus the first decode step; TPOT is one decode step at the average
    context of the generated tokens (KV traffic grows linearly, so the average step equals
    the sum over steps divided by their number while decode stays memory-bound).

    Examples
    --------
    >>> est = estimate_inference("llama-2-7b", hardware="h100", prompt_tokens=512, output_tokens=256)
    >>> est.bound["decode"]
    'memory'
    """
    cal = resolve_calibration(calibration)
    spec, hw, (dt, kv), m, h = resolve_serving(model, params=params, active_params=active_params, hardware=hardware,
                                               dtype=dtype, kv_dtype=kv_dtype, profile_path=profile_path)
    r = resolve_request(n_gpus=n_gpus, batch_size=batch_size, prompt_tokens=prompt_tokens,
                        output_tokens=output_tokens, batching=batching)
    warnings = []
    if r.prompt + r.output * m.autoregressive > m.context:
        msg = (f"prompt_tokens + output_tokens = {r.prompt + r.output * m.autoregressive:.0f} exceeds the model's "
               f"context of {m.context:.0f}")
        if strict:
            raise InputError(msg, argument="prompt_tokens")
        warnings.append(msg)
    f, labels = resolve_footprint(hw, pue=pue, power_per_gpu=power_per_gpu, host_power_per_gpu=host_power_per_gpu,
                                  region=region, grid_intensity=grid_intensity, price_per_gpu_hour=price_per_gpu_hour,
                                  cost_basis=cost_basis, price_kind=price_kind, purchase_price=purchase_price,
                                  electricity_price=electricity_price, service_life=service_life, embodied=embodied)
    phases = serving_scenarios(cal.serving)
    case = ServingCase(model=m, hardware=h, request=r, footprint=f, prefill=phases["prefill"], decode=phases["decode"])
    values = evaluate(_typical(case))
    c = values.capacity
    if strict and not c.fits:
        raise InputError(f"{r.batch:.0f} requests need {(c.weights + c.kv_cache + c.activations) / 2**30:.1f} GiB "
                         f"per device, more than {hw.id}'s {hw.number('memory') / 2**30:.0f} GiB; use {{n_gpus}} >= "
                         f"{c.min_gpus:.0f} or a smaller dtype", argument="batch_size")
    return InferenceEstimate(
        model=spec.id if spec else None, hardware=hw.id, n_gpus=int(r.n), dtype=dt, kv_dtype=kv,
        batch_size=int(r.batch), prompt_tokens=int(r.prompt), output_tokens=int(values.output),
        fitting_dtype=None if c.fits else _fitting_dtype(m, hw, dt, c), warnings=tuple(warnings),
        _case=case, _calibration=cal, _scenarios_of=scenarios, _values=values, _labels=labels, _profile=hw)


def _typical(case: ServingCase) -> ServingCase:
    first = lambda rec: type(rec)(**{k: float(getattr(rec, k)[0]) for k in type(rec).__slots__})  # noqa: E731
    return replace(case, footprint=first(case.footprint), prefill=first(case.prefill), decode=first(case.decode))


def scenarios(case: ServingCase, cal: Calibration) -> ServingValues:
    """The pipeline over the (typical, optimistic, pessimistic) scenarios of a scalar case (its
    footprint inputs and phase constants hold all three)."""
    return evaluate(case)
