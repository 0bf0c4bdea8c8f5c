"""``estimate_inference``: per-request latency, throughput, memory fit, energy and cost."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

import pint

from . import inference as core
from .architecture import expert_parameters
from .calibration import inference_calibration
from .errors import InputError
from .footprint import Footprint, compute_footprint, describe_footprint, footprint_from_values, resolve_footprint
from .hardware import PRECISIONS, get_hardware
from .models import get_model
from .training_estimate import _whole, scenario_values
from .units import parse_count, quantity

__all__ = ["InferenceEstimate", "InferenceMemory", "estimate_inference"]

AUTOREGRESSIVE = ("dense-decoder", "moe-decoder", "encoder-decoder")


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
class InferenceEstimate:
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

    @property
    def assumptions(self) -> dict:
        """What was assumed (fitted fractions, power, PUE, grid, price) and where it comes from."""
        if "assumptions" not in self._cache:
            self._cache["assumptions"] = {} if self._describe is None else self._describe()
        return self._cache["assumptions"]

    @property
    def low(self) -> "InferenceEstimate | None":
        """The same estimate with every figure at the low end of its range."""
        return None if self._ranges is None else self._ranges[0](self._ranges[1])

    @property
    def high(self) -> "InferenceEstimate | None":
        """The same estimate with every figure at the high end of its range."""
        return None if self._ranges is None else self._ranges[0](self._ranges[2])

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


def _shape(spec, params, active_params, dtype_bytes, kv_bytes) -> dict:
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


def _kv_dtype(kv_dtype, weight_dtype: str, hw) -> str:
    if kv_dtype is None:  # integer weight formats keep a bf16 (or fp16) cache
        return weight_dtype if weight_dtype not in ("int8", "int4") else hw.default_dtype
    from .hardware import canonical_dtype

    return canonical_dtype(kv_dtype, "kv_dtype")


def _compute_dtype(dtype: str, hw) -> str:
    """Precision the matrix units run at: the weight format, or for weight-only integer
    quantisation the device's usual 16-bit format."""
    if dtype in hw.dense:
        return dtype
    if dtype in ("int8", "int4"):
        return hw.default_dtype
    raise InputError(f"dtype: {hw.id} does not support {dtype} (supported: "
                     f"{', '.join(d for d in PRECISIONS if d in hw.dense)}, or int8/int4 weight-only)")


def _step(m, hw_f, n, tokens_in_step, flops, moved, cal, link):
    """Seconds of one forward step: roofline + fixed overhead + 2 all-reduces per layer."""
    t, compute_bound = core.phase_seconds(flops, moved, n, hw_f["peak"], hw_f["bandwidth"],
                                          cal["compute_fraction"], cal["bandwidth_fraction"])
    comm = 2.0 * m["layers"] * core.allreduce_seconds(tokens_in_step * m["d_model"] * 2.0, n, link,
                                                      cal["allreduce_latency_s"])
    return t + cal["step_overhead_s"] + comm, t, compute_bound


def timings(m, hw_f, n, batch, prompt, output, cal, link, continuous=False) -> dict:
    """TTFT, TPOT and end-to-end latency of a request; busy share of the devices.

    Works on floats or arrays (one row per configuration). Static batching: the batch's
    prompts are prefilled together, then decoded together. Continuous (in-flight) batching:
    ``batch`` requests are in flight at once and each finished one is replaced; a request is
    prefilled alone, the other ``batch - 1`` requests' prefills are interleaved with its
    decode steps, and it waits for the prefills ahead of it as in an M/D/1 queue
    (Pollaczek-Khinchine mean wait). Models that do not generate (encoders, CNNs, ViTs,
    linear models; ``m["autoregressive"] == 0``) and ``output == 0`` take one forward pass.
    """
    together = np.where(continuous, 1.0, batch)
    pre, dec = cal["prefill"], cal["decode"]
    t_prefill, roof_p, cb_p = _step(m, hw_f, n, together * prompt, *core.prefill(m, together, prompt), pre, link)
    t_first, roof_1, _ = _step(m, hw_f, n, batch, *core.decode_step(m, batch, prompt), dec, link)
    tpot, roof_d, cb_d = _step(m, hw_f, n, batch, *core.decode_step(m, batch, prompt + output / 2.0), dec, link)
    others = np.where(continuous, batch - 1.0, 0.0)
    steps = np.maximum(output, 1.0)
    tpot = tpot + others * t_prefill / steps  # the others' prefills, spread over our steps
    load = np.minimum(0.95, others * t_prefill / (t_prefill + steps * tpot))
    ttft = load / (2.0 * (1.0 - load)) * t_prefill + t_prefill + t_first
    generating = (m["autoregressive"] > 0) & (output > 0)
    latency = np.where(generating, ttft + (output - 1.0) * tpot, t_prefill)
    roof = roof_p + np.where(generating, roof_1 + (output - 1.0) * roof_d, 0.0)
    one_pass, roof_one, cb_one = _single_pass(m, hw_f, n, batch, prompt, pre, link)
    ar = m["autoregressive"] > 0
    return {"ttft": np.where(ar, np.where(generating, ttft, t_prefill), one_pass),
            "tpot": np.where(generating, tpot, 0.0),
            "latency": np.where(ar, latency, one_pass),
            "busy": np.minimum(1.0, np.where(ar, roof / latency, roof_one / one_pass)),
            "compute_bound_prefill": np.where(ar, cb_p, cb_one), "compute_bound_decode": cb_d,
            "generating": generating}


def _single_pass(m, hw_f, n, batch, prompt, cal, link):
    """One forward pass: encoders over the prompt, CNN/ViT/linear over one input each."""
    per_sample = np.isfinite(m["forward_flops"])
    flops = np.where(per_sample, np.nan_to_num(m["forward_flops"]) * batch,
                     2.0 * m["active_params"] * batch * prompt + 4.0 * m["attention_per_ctx"] * prompt * prompt * batch)
    return _step(m, hw_f, n, batch * np.maximum(prompt, 1.0), flops, m["weight_bytes"], cal, link)


def _b(compute_bound) -> str:
    """The binding resource of a phase in the typical scenario."""
    return "compute" if np.ravel(compute_bound)[0] else "memory"


def bounds(t: dict) -> dict:
    """Which resource binds each phase (typical scenario)."""
    decode = _b(t["compute_bound_decode"]) if np.ravel(t["generating"])[0] else "none"
    return {"prefill": _b(t["compute_bound_prefill"]), "decode": decode}


def memory(m, n, batch, prompt, output, act_bytes=2.0):
    """Per-device (weights, KV cache, activation workspace) bytes.

    Workspace: one layer's activations for the whole prefill, ``b s (2 d + d_ff)`` values.
    """
    kv = batch * (prompt + output) * m["kv_per_token"]
    acts = batch * prompt * (2.0 * m["d_model"] + m["ffn"]) * act_bytes
    return m["weight_bytes"] / n, kv / n, acts / n


def capacity_report(m, n, batch, prompt, output, capacity) -> dict:
    """Per-device memory, whether it fits, the largest batch that fits (at most 1e6) and the
    devices the request needs at this dtype; floats or arrays."""
    w, kv, a = memory(m, n, batch, prompt, output)
    per_seq = (kv + a) / batch
    room = capacity - w
    with np.errstate(divide="ignore", invalid="ignore"):
        max_batch = np.where(room <= 0, 0.0, np.where(per_seq <= 0, 1e6, np.minimum(np.floor(np.divide(room, per_seq)), 1e6)))
    return {"w": w, "kv": kv, "a": a, "fits": w + kv + a <= capacity, "max_batch": max_batch,
            "min_gpus": np.maximum(1.0, np.ceil((w + kv + a) * n / capacity))}


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
    from .hardware import canonical_dtype

    dt = hw.default_dtype if dtype is None else canonical_dtype(dtype)
    compute_dt = _compute_dtype(dt, hw)
    kv_dt = _kv_dtype(kv_dtype, dt, hw)
    m = _shape(spec, params, active_params, core.BYTES[dt], core.BYTES[kv_dt])
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


def cal_scenarios(cal: dict) -> dict:
    """(typical, optimistic, pessimistic) serving constants per phase, from the fit's
    out-of-sample errors: the prefill's constants span TTFT's 5th-95th percentile errors, the
    decode steps' span TPOT's. Times scale about inversely with the achievable fractions and
    directly with the overheads; fractions never exceed 1.
    """
    def phase(high: float, low: float) -> dict:  # ln(estimate / measured) at the spread's ends
        scale = np.exp([0.0, high, low])
        return {"compute_fraction": np.minimum(cal["compute_fraction"] * scale, 1.0),
                "bandwidth_fraction": np.minimum(cal["bandwidth_fraction"] * scale, 1.0),
                "step_overhead_s": cal["step_overhead_s"] / scale,
                "allreduce_latency_s": cal["allreduce_latency_s"] / scale}

    return {"prefill": phase(cal.get("ttft_high", 0.0), cal.get("ttft_low", 0.0)),
            "decode": phase(cal.get("tpot_high", 0.0), cal.get("tpot_low", 0.0))}


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
        cost_per_million_tokens=None if fp.cost is None or output == 0 else fp.cost * (1e6 / output),
        footprint=fp, warnings=warnings, _describe=describe, _ranges=ranges,
    )
