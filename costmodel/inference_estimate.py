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
from .hardware import HardwareProfile, ProfilePath, get_hardware
from .inference import PhaseConstants, Request, ServingHardware, ServingModel
from .models import ModelSpec, get_model, resolve_counts
from .precision import SERVING_DTYPES, resolve_kv, resolve_precision, resolve_sparsity
from .results.base import check_finite
from .results.inference import CULPRITS, MAY_BE_MISSING, OUTPUTS, InferenceEstimate
from .units import CountLike, FloatArray, QuantityLike, parse_whole

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
    prompt: FloatArray  # input tokens per request (a ViT's patches, whatever the request said)
    throughput: FloatArray  # output tokens per second of the whole batch (NaN without output)
    samples_per_s: FloatArray  # requests (images, sequences, rows) completed per second
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
        # only a model that generates keeps a KV cache; an encoder or a ViT runs one pass
        kv = (float(core.kv_bytes_per_token(shape.layers, shape.kv_heads, shape.head_dim, kv_bytes, shape.kv_latent))
              if fields["autoregressive"] else 0.0)
        fields.update(kv_per_token=kv,
                      attention_per_ctx=float(shape.layers * shape.attention_dim), d_model=float(shape.d_model),
                      layers=float(shape.layers + (spec.decoder_layers or 0)),
                      ffn=float(spec.expert_ffn_dim or spec.ffn_dim or 4 * shape.d_model),
                      context=float(spec.context or math.inf))
        if spec.kind == "vit" and spec.image_size and spec.patch_size:  # its sequence: the patches and a class token
            fields["sequence"] = float((spec.image_size // spec.patch_size) ** 2 + 1)
    if spec.experts:
        if spec.experts_per_token is None:
            raise ProfileError(f"model {spec.id!r}: a mixture of experts needs experts_per_token")
        fields.update(expert_bytes=expert_parameters(spec) * weight_bytes, experts=float(spec.experts),
                      experts_per_token=float(spec.experts_per_token))
    return ServingModel(**fields)


def resolve_serving(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                    active_params: CountLike | None = None, hardware: str | HardwareProfile, dtype: str | None = None,
                    kv_dtype: str | None = None, prune: str | float | None = None,
                    profile_path: ProfilePath | None = None
                    ) -> tuple[ModelSpec | None, HardwareProfile, tuple[str, str], ServingModel, ServingHardware]:
    """The model at its weight and KV precisions (and sparsity) on a device: ``(spec, profile,
    (dtype, kv_dtype), model record, hardware record)`` (see :mod:`costmodel.precision`)."""
    spec = get_model(model) if model is not None else None
    hw = get_hardware(hardware, profile_path=profile_path)
    p, compute = resolve_precision(dtype, hw)
    kv, kv_bytes = resolve_kv(kv_dtype, p, compute, hw)
    sparsity = resolve_sparsity(prune, p, compute, hw)
    m = _serving_model(spec, params, active_params, p.weight_bytes * sparsity.weight_share, kv_bytes)
    link = hw.number("interconnect_bandwidth") or hw.number("pcie_bandwidth") or 16e9
    peak = float(hw.sparse[compute].to("FLOP/s").magnitude) if sparsity.sparse_peak else hw.peak_flops(compute)
    battery = hw.number("battery")
    h = ServingHardware(peak=peak, bandwidth=hw.number("memory_bandwidth"), capacity=hw.number("memory"),
                        tdp=hw.number("tdp"), link=link, battery=math.nan if battery is None else battery)
    return spec, hw, (p.name, kv), m, h


def parse_batching(value: str) -> float:
    if value not in BATCHING:
        raise InputError(f"expected 'static' or 'continuous', got {value!r}", argument="batching")
    return float(value == "continuous")


TOKENS_LIMIT = 1e9  # tokens in or out of one request: a thousand times the longest context windows
# keyword -> (record field, parser of one value, default); shared with the sweep
REQUEST_PARSERS: dict[str, tuple[str, Callable[[Any], float], Any]] = {
    "n_gpus": ("n", lambda v: float(parse_whole(v, "n_gpus", limit=1e6)), 1),
    "batch_size": ("batch", lambda v: float(parse_whole(v, "batch_size", limit=1e7)), 1),
    "prompt_tokens": ("prompt", lambda v: float(parse_whole(v, "prompt_tokens", limit=TOKENS_LIMIT, allow_zero=True)),
                      None),
    "output_tokens": ("output", lambda v: float(parse_whole(v, "output_tokens", limit=TOKENS_LIMIT, allow_zero=True)),
                      None),
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
    r = replace(r, output=output, prompt=np.where(m.sequence > 0, m.sequence, r.prompt))
    t = core.timings(m, case.hardware, r, case.prefill, case.decode)
    c = core.capacity_report(m, r.n, r.batch, r.prompt, output, case.hardware.capacity)
    fp = footprint_values(case.footprint, case.hardware.tdp, t.busy, r.n / r.batch, t.latency)
    with np.errstate(invalid="ignore", divide="ignore"):
        throughput = np.where(output > 0, r.batch * output / t.latency, np.nan)  # none without output
    return ServingValues(timings=t, capacity=c, output=output, prompt=r.prompt, throughput=throughput,
                         samples_per_s=r.batch / t.latency, footprint=fp)


def _fitting_dtype(hw: HardwareProfile, dtype: str, c: core.Capacity) -> str | None:
    """The first smaller weight format the device runs that would fit."""
    order = ("fp32", "bf16", "fp8", "w8a16", "w4a16")
    current = SERVING_DTYPES[dtype].weight_bytes if dtype in SERVING_DTYPES else 2.0
    for smaller in order:
        p = SERVING_DTYPES[smaller]
        compute = p.compute if p.compute != "16-bit" else hw.default_dtype
        if p.weight_bytes >= current or compute not in hw.dense:
            continue
        if float(c.weights) * p.weight_bytes / current + float(c.kv_cache) + float(c.activations) <= hw.number("memory"):
            return smaller
    return None


def estimate_inference(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                       active_params: CountLike | None = None, hardware: str | HardwareProfile, n_gpus: CountLike = 1,
                       prompt_tokens: CountLike, output_tokens: CountLike, batch_size: CountLike = 1,
                       dtype: str | None = None, kv_dtype: str | None = None, prune: str | float | None = None,
                       batching: str = "static", strict: bool = False, pue: float | str | None = None, power_per_gpu: QuantityLike | None = None,
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
        Serving format: ``bf16``, ``fp16``, ``fp32``, ``fp8``, ``fp4``, weight-only ``w8a16`` and
        ``w4a16`` (aliases ``int8``, ``int4``) or ``w8a8`` (default: the device's usual 16-bit
        format), and the KV cache's precision (default: the compute precision's; see
        :mod:`costmodel.precision`). A format the device cannot compute in is refused.
    prune : str or float, optional
        ``"2:4"`` structured sparsity (half the weight bytes plus metadata, the sparse peak;
        refused on a device without one) or an unstructured share of zero weights such as 0.5
        (no change on dense kernels; the result's warnings say so).
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
                                               dtype=dtype, kv_dtype=kv_dtype, prune=prune, profile_path=profile_path)
    r = resolve_request(n_gpus=n_gpus, batch_size=batch_size, prompt_tokens=prompt_tokens,
                        output_tokens=output_tokens, batching=batching)
    warnings = []
    if prune is not None and str(prune).strip() != "2:4":  # unstructured: say what it does not do
        warnings.append(resolve_sparsity(prune, SERVING_DTYPES[dt], dt, hw).note)
    if r.prompt + r.output * m.autoregressive > m.context:
        template = (f"{{prompt_tokens}} + {{output_tokens}} = {r.prompt + r.output * m.autoregressive:.0f} exceeds "
                    f"the model's context of {m.context:.0f}")
        error = InputError(template, argument="prompt_tokens")
        if strict:  # the CLI spells both keywords as its flags
            raise error
        warnings.append(error.message)
    f, labels = resolve_footprint(hw, pue=pue, power_per_gpu=power_per_gpu, host_power_per_gpu=host_power_per_gpu,
                                  region=region, grid_intensity=grid_intensity, price_per_gpu_hour=price_per_gpu_hour,
                                  cost_basis=cost_basis, price_kind=price_kind, purchase_price=purchase_price,
                                  electricity_price=electricity_price, service_life=service_life, embodied=embodied)
    phases = serving_scenarios(cal.serving)
    case = ServingCase(model=m, hardware=h, request=r, footprint=f, prefill=phases["prefill"], decode=phases["decode"])
    values = evaluate(_typical(case))
    check_finite(OUTPUTS, case, values, MAY_BE_MISSING, CULPRITS, "prompt_tokens")
    c = values.capacity
    if strict and not c.fits:
        raise InputError(f"{r.batch:.0f} requests need {(c.weights + c.kv_cache + c.activations) / 2**30:.1f} GiB "
                         f"per device, more than {hw.id}'s {hw.number('memory') / 2**30:.0f} GiB; use {{n_gpus}} >= "
                         f"{c.min_gpus:.0f} or a smaller dtype", argument="batch_size")
    return InferenceEstimate(
        model=spec.id if spec else None, hardware=hw.id, n_gpus=int(r.n), dtype=dt, kv_dtype=kv,
        batch_size=int(r.batch), prompt_tokens=int(values.prompt), output_tokens=int(values.output),
        fitting_dtype=None if c.fits else _fitting_dtype(hw, dt, c), warnings=tuple(warnings),
        _case=case, _calibration=cal, _scenarios_of=scenarios, _values=values, _labels=labels, _profile=hw)


def _typical(case: ServingCase) -> ServingCase:
    first = lambda rec: type(rec)(**{k: float(getattr(rec, k)[0]) for k in type(rec).__slots__})  # noqa: E731
    return replace(case, footprint=first(case.footprint), prefill=first(case.prefill), decode=first(case.decode))


def scenarios(case: ServingCase, cal: Calibration) -> ServingValues:
    """The pipeline over the (typical, optimistic, pessimistic) scenarios of a scalar case (its
    footprint inputs and phase constants hold all three)."""
    return evaluate(case)
