"""``estimate_inference``: per-request latency, throughput, memory fit, energy and cost."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field


import pint

from . import inference as core
from .calibration import inference_calibration
from .errors import InputError
from .footprint import Footprint, compute_footprint, describe_footprint, footprint_from_values, resolve_footprint
from .hardware import canonical_dtype, get_hardware
from .models import get_model
from .inference_inputs import AUTOREGRESSIVE, compute_dtype_for, kv_dtype_for, model_shape, cal_scenarios, fit_report
from .inference_pipeline import bounds, timings
from .results import RangedEstimate, scenario_values
from .training_inputs import _whole
from .units import parse_count, quantity

__all__ = ["InferenceEstimate", "InferenceMemory", "estimate_inference"]



@dataclass(frozen=True, slots=True, kw_only=True)
class InferenceMemory:
    """Bytes per device while serving; ``total`` is their sum."""

    weights: pint.Quantity
    kv_cache: pint.Quantity
    activations: pint.Quantity

    @property
    def total(self) -> pint.Quantity:
        return self.weights + self.kv_cache + self.activations


@dataclass(frozen=True, slots=True, kw_only=True)
class InferenceEstimate(RangedEstimate):
    """One request of a batch: latency, throughput, memory, energy and cost, with reasons."""

    model: str | None
    hardware: str
    n_gpus: int
    dtype: str
    kv_dtype: str
    batch_size: int
    prompt_tokens: int
    output_tokens: int
    ttft: pint.Quantity
    tpot: pint.Quantity
    latency: pint.Quantity
    throughput: pint.Quantity
    memory_per_gpu: pint.Quantity
    memory: InferenceMemory
    fits: bool
    max_batch_size: int
    min_gpus: int
    fitting_dtype: str | None
    bound: dict
    energy: pint.Quantity
    cost: pint.Quantity | None
    cost_per_million_tokens: pint.Quantity | None
    footprint: Footprint
    warnings: tuple[str, ...] = ()
    _describe: object = field(default=None, repr=False, compare=False)
    _ranges: tuple | None = field(default=None, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self, ranges: bool = False) -> dict:
        """Plain floats with unit-suffixed keys (stable names; see README).

        ``ranges=True`` adds ``<key>_low`` and ``<key>_high`` for every measured figure.
        """
        out = self._flat()
        if ranges and self.low is not None:
            for bound, est in (("low", self.low), ("high", self.high)):
                out.update({f"{k}_{bound}": v for k, v in est._flat().items() if k in _RANGED})
        return out

    def _flat(self) -> dict:
        out = {k: getattr(self, k) for k in ("model", "hardware", "n_gpus", "dtype", "kv_dtype", "batch_size",
                                             "prompt_tokens", "output_tokens", "fits", "max_batch_size",
                                             "min_gpus", "fitting_dtype")}
        out["bound_prefill"], out["bound_decode"] = self.bound["prefill"], self.bound["decode"]
        for attr, unit, key in _DICT_FIELDS:
            q = self
            for part in attr.split("."):
                q = getattr(q, part)
            out[key] = None if q is None else float(q.to(unit).magnitude)
        out["warnings"] = list(self.warnings)
        return out


_DICT_FIELDS = (("ttft", "ms", "ttft_ms"), ("tpot", "ms", "tpot_ms"), ("latency", "s", "latency_s"),
                ("throughput", "token/s", "throughput_tok_s"), ("memory_per_gpu", "GiB", "memory_per_gpu_GiB"),
                ("memory.weights", "GiB", "memory_weights_GiB"), ("memory.kv_cache", "GiB", "memory_kv_cache_GiB"),
                ("memory.activations", "GiB", "memory_activations_GiB"), ("energy", "Wh", "energy_Wh"),
                ("cost", "USD", "cost_USD"), ("cost_per_million_tokens", "USD", "cost_per_million_tokens_USD"),
                ("footprint.co2e", "g", "co2e_g"), ("footprint.power_per_gpu", "W", "power_per_gpu_W"))


_RANGED = {key for _, _, key in _DICT_FIELDS} - {"memory_per_gpu_GiB", "memory_weights_GiB",
                                                 "memory_kv_cache_GiB", "memory_activations_GiB"}


def estimate_inference(model=None, *, params=None, active_params=None, hardware, n_gpus=1,
                       prompt_tokens, output_tokens, batch_size=1, dtype=None, kv_dtype=None,
                       batching="static", strict=False, pue=None, power_per_gpu=None, host_power_per_gpu=None,
                       region=None, grid_intensity=None, price_per_gpu_hour=None, cost_basis="cloud",
                       price_kind="on_demand", purchase_price=None, electricity_price=None,
                       service_life=None, embodied=False, profile_path=None) -> InferenceEstimate:
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
        Energy, carbon and price options, as in :func:`estimate_training`.

    Notes
    -----
    TTFT is the prefill plus the first decode step; TPOT is one decode step at the average
    context of the generated tokens (KV traffic grows linearly, so the average step equals
    the sum over steps divided by their number while decode stays memory-bound).
    """
    spec = get_model(model) if model is not None else None
    if spec is None and params is None:
        raise InputError("params: give a catalogued model (e.g. 'llama-2-7b') or params=, e.g. params='7B'")
    hw = get_hardware(hardware, profile_path=profile_path)
    n = _whole(n_gpus, "n_gpus", limit=1e6)
    batch = _whole(batch_size, "batch_size", limit=1e7)
    prompt = int(parse_count(prompt_tokens, "prompt_tokens", allow_zero=True))
    output = int(parse_count(output_tokens, "output_tokens", allow_zero=True))
    if prompt + output < 1:
        raise InputError("prompt_tokens: a request needs at least one token in or out")
    dt = hw.default_dtype if dtype is None else canonical_dtype(dtype)
    compute_dt = compute_dtype_for(dt, hw)
    kv_dt = kv_dtype_for(kv_dtype, dt, hw)
    m = model_shape(spec, params, active_params, core.BYTES[dt], core.BYTES[kv_dt])
    if m["kind"] not in AUTOREGRESSIVE:
        output = 0
    warnings = []
    if prompt + output > m["context"]:
        msg = f"prompt_tokens + output_tokens = {prompt + output} exceeds the model's context of {m['context']:.0f}"
        if strict:
            raise InputError(msg)
        warnings.append(msg)
    cal = inference_calibration()
    hw_f = {"peak": hw.peak_flops(compute_dt), "bandwidth": hw.number("memory_bandwidth")}
    link = hw.number("interconnect_bandwidth") or hw.number("pcie_bandwidth") or 16e9
    if batching not in ("static", "continuous"):
        raise InputError(f"batching: expected 'static' or 'continuous', got {batching!r}")
    t = timings(m, hw_f, n, batch, prompt, output, cal_scenarios(cal), link, batching == "continuous")
    fit = fit_report(m, n, batch, prompt, output, hw.number("memory"), dt, hw, core.BYTES[kv_dt])
    if strict and not fit["fits"]:
        raise InputError(f"batch_size: {batch} requests need {(fit['w'] + fit['kv'] + fit['a']) / 2**30:.1f} GiB "
                         f"per device, more than {hw.id}'s {hw.number('memory') / 2**30:.0f} GiB; "
                         f"use n_gpus >= {fit['min_gpus']} or a smaller dtype")
    f = resolve_footprint(hw, pue=pue, power_per_gpu=power_per_gpu, host_power_per_gpu=host_power_per_gpu,
                          region=region, grid_intensity=grid_intensity, price_per_gpu_hour=price_per_gpu_hour,
                          cost_basis=cost_basis, price_kind=price_kind, purchase_price=purchase_price,
                          electricity_price=electricity_price, service_life=service_life, embodied=embodied)
    r = {**t, **compute_footprint(f, hw.number("tdp"), t["busy"], n / batch, t["latency"])}
    r["throughput"] = batch * output / r["latency"]  # its own key: it falls as latency rises
    bound = bounds(t)
    for key in ("compute_bound_prefill", "compute_bound_decode", "generating"):
        r.pop(key)
    typical, lo, hi = scenario_values(r, f)

    def describe() -> dict:
        return {"compute": f"{hw_f['peak'] / 1e12:.4g} TFLOP/s dense {compute_dt} x {cal['compute_fraction']:.2f}",
                "bandwidth": f"{hw_f['bandwidth'] / 1e12:.4g} TB/s x {cal['bandwidth_fraction']:.2f}",
                "step_overhead": f"{cal['step_overhead_s'] * 1e3:.3g} ms per forward step",
                "fractions": "fitted on measured points (data/inference_calibration.toml); ranges from the "
                             "10th-90th percentile of the fit's errors",
                **describe_footprint(hw, f, price_kind)}

    build = functools.partial(
        _wrap, spec=spec, hw=hw, f=f, fit=fit, bound=bound, describe=describe, warnings=tuple(warnings),
        shape=dict(n_gpus=n, dtype=dt, kv_dtype=kv_dt, batch_size=batch, prompt_tokens=prompt, output_tokens=output))
    return build(typical, ranges=(build, lo, hi))


def _wrap(v: dict, *, spec, hw, f, fit, bound, describe, warnings, shape, ranges=None) -> InferenceEstimate:
    fp = footprint_from_values(v, f, "Wh")
    gib = 2.0**30
    output = shape["output_tokens"]
    return InferenceEstimate(
        model=spec.id if spec else None, hardware=hw.id, **shape,
        ttft=quantity(v["ttft"] * 1e3, "ms"), tpot=quantity(v["tpot"] * 1e3, "ms"),
        latency=quantity(v["latency"], "time"),
        throughput=quantity(v["throughput"], "token/s"),
        memory_per_gpu=quantity((fit["w"] + fit["kv"] + fit["a"]) / gib, "GiB"),
        memory=InferenceMemory(weights=quantity(fit["w"] / gib, "GiB"), kv_cache=quantity(fit["kv"] / gib, "GiB"),
                               activations=quantity(fit["a"] / gib, "GiB")),
        fits=fit["fits"], max_batch_size=fit["max_batch"], min_gpus=fit["min_gpus"],
        fitting_dtype=None if fit["fits"] else fit["fitting_dtype"], bound=bound,
        energy=fp.energy, cost=fp.cost,
        cost_per_million_tokens=None if fp.cost is None or output == 0 else quantity(v["cost"] * 1e6 / output, "usd"),
        footprint=fp, warnings=warnings, _describe=describe, _ranges=ranges,
    )
