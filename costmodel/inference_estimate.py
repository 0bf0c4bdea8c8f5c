"""``estimate_inference``: resolve the inputs once into typed records, run the pipeline, wrap.

The sweep (:mod:`costmodel.sweep`) resolves each distinct value with the same resolvers, lays
the records out per row and runs the same :func:`evaluate` over arrays. A case under traffic
is evaluated by :mod:`costmodel.serving_load`.

One estimate keeps each distinct argument list resolved and evaluated (:func:`_resolved`: the
case and the typical scenario's figures), so a repeated estimate only wraps them, and one that
changes only the prompt length evaluates only the request again (:func:`_reprompted`); the ends
of a case's range are kept with it (:class:`~costmodel.results.inference.InferenceEstimate`).
Every figure is the one a first estimate (or a sweep row) gives.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pint

from . import inference as core
from .architecture import expert_parameters
from .calibration import Calibration, resolve_calibration, serving_scenarios
from .elementwise import any_true, fmod, maximum, minimum, where
from .energy import FootprintLabels, footprint_values, resolve_footprint
from .errors import InputError, ProfileError
from .engines import (Engine, default_engine, engine_constants, engines, get_engine, kernels_per_pass, model_class,
                      token_budget)
from .hardware import HardwareProfile, ProfilePath, get_hardware
from .inference import Request, ServingHardware, ServingModel
from .memo import memoise, per_argument_list, replaced
from .models import ModelSpec, get_model, resolve_counts
from .precision import SERVING_DTYPES, resolve_kv, resolve_precision, resolve_sparsity
from .results.base import check_finite
from .results.inference import CULPRITS, MAY_BE_MISSING, OUTPUTS, InferenceEstimate
from .serving_load import (INTERACTIVE_SLA, Load, ServingCase, ServingValues, resolve_traffic, service_from,
                           service_of, split_by_phase, under_load)
from .units import CountLike, FloatArray, QuantityLike, parse_whole

if TYPE_CHECKING:
    from .regions import Region

__all__ = ["AUTOREGRESSIVE", "typical_scenario", "INTERACTIVE_SLA", "max_rate_within", "service_of", "service_from", "ServingCase", "ServingValues", "resolve_serving", "resolve_request",
           "check_request", "check_layout", "evaluate", "estimate_inference"]

AUTOREGRESSIVE = ("dense-decoder", "moe-decoder", "encoder-decoder")
BATCHING = ("static", "continuous")


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
    fields["layers"] = float(_layer_count(spec))
    if spec.kind in ("cnn", "linear"):  # one image or one row per request
        fields["sequence"] = 1.0
    if spec.kind == "cnn" and spec.image_size:
        # a convolution's rows are the output positions: stages at strides 4, 8, 16 and 32 doing
        # about equal FLOPs average (image / 7)^2 positions per image, weighted by FLOPs
        fields["rows_per_token"] = float((spec.image_size / 7.0) ** 2)
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
                      experts_per_token=float(spec.experts_per_token),
                      expert_layers=float(fields["layers"] - (spec.dense_layers or 0)))
    return ServingModel(**fields)


def _layer_count(spec: ModelSpec) -> int:
    """Layers of a forward pass (a tensor-parallel step all-reduces after each): a transformer's
    blocks, a ResNet's convolutions (3 per bottleneck block, the stem and the classifier), a
    linear model's one; 1 where the catalogue gives no count."""
    if spec.layers:
        return spec.layers + (spec.decoder_layers or 0)
    if spec.bottleneck_blocks:
        return 3 * sum(spec.bottleneck_blocks) + 2
    return 1


def _kernels(spec: ModelSpec | None, runtime: Engine) -> float:
    """Kernels one forward pass of the model launches under the runtime (a linear model's
    predict: one call); see :func:`costmodel.engines.kernels_per_pass`."""
    if spec is not None and spec.kind == "linear":
        return 1.0
    blocks = float((spec.layers or 0) + (spec.decoder_layers or 0)) if spec is not None else 0.0
    stages = (spec.bottleneck_blocks or ()) if spec is not None else ()
    return kernels_per_pass(runtime, blocks=blocks, bottlenecks=float(sum(stages)), stages=float(len(stages)))


def resolve_serving(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                    active_params: CountLike | None = None, hardware: str | HardwareProfile, dtype: str | None = None,
                    kv_dtype: str | None = None, prune: str | float | None = None, engine: str | None = None,
                    profile_path: ProfilePath | None = None, calibration: Calibration | None = None
                    ) -> tuple[ModelSpec | None, HardwareProfile, tuple[str, str, str], ServingModel, ServingHardware]:
    """The model at its weight and KV precisions (and sparsity) on a device run by a serving
    engine: ``(spec, profile, (dtype, kv_dtype, engine id), model record, hardware record)``
    (see :mod:`costmodel.precision` and :mod:`costmodel.engines`)."""
    spec = get_model(model) if model is not None else None
    hw = get_hardware(hardware, profile_path=profile_path)
    names, m, h = _serving_records(spec, hw, params, active_params, dtype, kv_dtype, prune, engine, calibration)
    return spec, hw, names, m, h


@memoise
def _serving_records(spec: ModelSpec | None, hw: HardwareProfile, params: CountLike | None,
                     active_params: CountLike | None, dtype: str | None, kv_dtype: str | None,
                     prune: str | float | None, engine: str | None, calibration: Calibration | None
                     ) -> tuple[tuple[str, str, str], ServingModel, ServingHardware]:
    p, compute = resolve_precision(dtype, hw)
    kv, kv_bytes = resolve_kv(kv_dtype, p, compute, hw)
    sparsity = resolve_sparsity(prune, p, compute, hw)
    m = _serving_model(spec, params, active_params, p.weight_bytes * sparsity.weight_share, kv_bytes)
    kind = "dense-decoder" if spec is None else spec.kind
    runtime = resolve_engine(engine, hw, kind, spec.id if spec else "the model")
    m = replace(m, kernels=_kernels(spec, runtime))
    constants = engine_constants((calibration or resolve_calibration(None)).serving, runtime)
    link = hw.number("interconnect_bandwidth") or hw.number("pcie_bandwidth") or 16e9
    peak = float(hw.sparse[compute].to("FLOP/s").magnitude) if sparsity.sparse_peak else hw.peak_flops(compute)
    ceiling = None if sparsity.sparse_peak else hw.gemm_flops(compute)
    battery = hw.number("battery")
    h = ServingHardware(peak=peak, bandwidth=hw.number("memory_bandwidth"), capacity=hw.number("memory"),
                        tdp=hw.number("tdp"), link=link, battery=math.nan if battery is None else battery,
                        step_fixed_s=constants.fixed_s, launch_s=constants.launch_s, efficiency=constants.efficiency,
                        overlap=float(not runtime.graphs and hw.engine != "cpu"),
                        network=hw.number("scale_out_bandwidth") or SCALE_OUT_DEFAULT,
                        node=float(hw.devices_per_node or NODE_DEFAULT),
                        max_in_flight=float(runtime.max_in_flight or math.inf),
                        in_flight=float(runtime.in_flight_batching), mixed=float(runtime.mixed_prefill), ceiling=math.inf if ceiling is None else ceiling,
                        token_budget=token_budget(runtime, hw.id, hw.number("memory")))
    return (p.name, kv, runtime.id), m, h


def resolve_engine(engine: str | None, hw: HardwareProfile, kind: str, name: str) -> Engine:
    """The serving runtime asked for, or the device class's default for this kind of model;
    refused when it does not serve this kind of model."""
    if engine is None:
        return default_engine(hw, kind)
    runtime = get_engine(engine)
    needed = "generative" if model_class(kind) == "generative" else "single-pass"
    if needed not in runtime.serves:
        what = "generates tokens" if needed == "generative" else "runs one forward pass per request"
        able = [e.id for e in engines().values() if needed in e.serves]
        raise InputError(f"{runtime.name} does not serve a model that {what} ({name}); expected one of "
                         f"{', '.join(able)}", argument="engine")
    return runtime


def parse_batching(value: str) -> float:
    if value not in BATCHING:
        raise InputError(f"expected 'static' or 'continuous', got {value!r}", argument="batching")
    return float(value == "continuous")


NODE_DEFAULT = 8  # devices per node where a profile gives none (an HGX/DGX-style 8-GPU server)
SCALE_OUT_DEFAULT = 12.5e9  # B/s per device between nodes where a profile gives none: a 100 Gb/s NIC each
TOKENS_LIMIT = 1e9  # tokens in or out of one request: a thousand times the longest context windows
# keyword -> (record field, parser of one value, default); shared with the sweep
REQUEST_PARSERS: dict[str, tuple[str, Callable[[Any], float], Any]] = {
    "n_gpus": ("n", lambda v: float(parse_whole(v, "n_gpus", limit=1e6)), 1),
    "batch_size": ("batch", lambda v: float(parse_whole(v, "batch_size", limit=1e7)), 1),
    "prompt_tokens": ("prompt", lambda v: float(parse_whole(v, "prompt_tokens", limit=TOKENS_LIMIT, allow_zero=True)),
                      None),
    "output_tokens": ("output", lambda v: float(parse_whole(v, "output_tokens", limit=TOKENS_LIMIT, allow_zero=True)),
                      None),
    "batching": ("continuous", parse_batching, "continuous"),
    "prefix_cache": ("cached", lambda v: parse_share(v, "prefix_cache"), 0.0),
    "pp": ("pp", lambda v: float(parse_whole(v, "pp", limit=1024)), 1),
    "tp": ("tp", lambda v: 0.0 if v is None else float(parse_whole(v, "tp", limit=1e6)), None),
    "ep": ("ep", lambda v: float(parse_whole(v, "ep", limit=1e6)), 1),
}


BUDGET_LIMIT = 1e9  # tokens per forward step: far above any runtime's (vLLM's offline default is 16,384)


def parse_token_budget(value: Any) -> float:
    """``max_batched_tokens``: a whole number of tokens per step from 1, such as 8192 or
    "8192 token" (also the CLI's option type)."""
    if isinstance(value, bool):
        raise InputError(f"expected a whole number of tokens per step such as 8192, got {value!r}",
                         argument="max_batched_tokens")
    return float(parse_whole(value, "max_batched_tokens", limit=BUDGET_LIMIT))


def parse_prefix_cache(value: Any) -> float:
    """``prefix_cache`` as :func:`parse_share` reads it (for the CLI's option type)."""
    return parse_share(value, "prefix_cache")


def parse_share(value: Any, argument: str) -> float:
    """A share in [0, 1): a float, or a percentage string such as "40%"."""
    text = value.strip() if isinstance(value, str) else None
    try:
        x = float(text[:-1]) / 100.0 if text and text.endswith("%") else float(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a share between 0 and 1 such as 0.4 or '40%', got {value!r}",
                         argument=argument) from None
    if not 0.0 <= x < 1.0 or isinstance(value, bool):
        raise InputError(f"expected a share from 0 up to (not including) 1, got {value!r}", argument=argument)
    return x


def check_request(r: Request) -> Request:
    """Refuse a request with no token in or out (floats or arrays), or a layout whose degrees
    do not divide the devices, and split ``n`` (the devices of a replica, as given) into ``pp``
    stages of ``n / pp`` devices."""
    if any_true(r.prompt + r.output < 1):
        raise InputError("a request needs at least one token in or out", argument="prompt_tokens")
    if any_true(r.n % r.pp):
        raise InputError("n_gpus must be a multiple of pp (pp stages of n_gpus / pp devices each)", argument="pp")
    for key in ("tp", "ep"):
        degree = getattr(r, key)
        if any_true((degree > 0) & ((r.n / r.pp) % maximum(degree, 1.0) != 0)):
            raise InputError(f"{key} must divide the devices of a pipeline stage (n_gpus / pp)", argument=key)
    return replace(r, n=r.n / r.pp) if any_true(r.pp > 1) else r


def request_of(**options: Any) -> Request:
    """Devices, batch, tokens and batching mode (see :data:`REQUEST_PARSERS`) as floats, each
    plain option parsed once per process."""
    return check_request(Request(**{name: _parsed(key, parse, options.get(key, default))
                                    for key, (name, parse, default) in REQUEST_PARSERS.items()}))


resolve_request = memoise(request_of)
resolve_request.__doc__ = """:func:`request_of`, cached per distinct options."""


def _parsed(key: str, parse: Callable[[Any], float], value: Any) -> float:
    """``parse(value)``, kept per keyword and plain value (by value and type, a float by its
    bits): a request that changes one option parses only that one."""
    kind = type(value)
    if kind is float:
        held = (key, kind, value.hex())
    elif kind in _PLAIN:
        held = (key, kind, value)
    else:
        return parse(value)
    x = _PARSED.get(held)
    if x is None:
        x = parse(value)
        if len(_PARSED) >= _RESOLVED_MAX:
            _PARSED.clear()
        _PARSED[held] = x
    return x


_PARSED: dict[tuple, float] = {}  # (keyword, type, value) -> its parsed float


def evaluate(case: ServingCase) -> ServingValues:
    """Timings, memory and per-request footprint (floats or arrays in, the same out).

    Under continuous batching ``batch_size`` requests are in flight when they fit (the weights
    plus every request's KV cache in the devices' memory, and the runtime's limit on requests in
    flight); the rest wait for a free slot, as on a real server, and the wait is part of their
    TTFT and latency.
    """
    m, r, h = case.model, case.request, case.hardware
    output = where(m.autoregressive > 0, r.output, 0.0)
    r = replace(r, output=output, prompt=where(m.sequence > 0, m.sequence, r.prompt))
    groups = r.n / core.attention_tp(r)
    c = core.capacity_report(m, r.n * r.pp, r.batch, r.prompt, output, h.capacity, groups)
    if case.load is not None:
        return under_load(case, r, c)
    continuous = (r.continuous > 0) & (h.in_flight > 0) & (m.autoregressive > 0)
    slots = where(continuous, minimum(maximum(minimum(core.runtime_slots(h), c.max_batch), 1.0),
                                      r.batch), r.batch)
    queued = bool(any_true(slots < r.batch))
    if queued:  # memory and timings of the requests in flight; the others wait
        c = replace(core.capacity_report(m, r.n * r.pp, slots, r.prompt, output, h.capacity, groups),
                    max_batch=c.max_batch)
    running = replace(r, batch=slots) if queued else r
    t = core.timings(m, h, running, case.prefill, case.decode)
    busy_latency = t.latency
    generating_latency = _throughput_latency(case, running, busy_latency)
    if queued:
        wait = where(slots < r.batch, core.slot_wait(r.batch, slots, t.latency), 0.0)
        t = replace(t, ttft=t.ttft + wait, latency=t.latency + wait, wait_s=wait)
    fp = footprint_values(case.footprint, h.tdp, t.busy, r.n * r.pp / slots, busy_latency)
    if type(output) is float and type(slots) is float and type(generating_latency) is float and generating_latency != 0.0:
        throughput = slots * output / generating_latency if output > 0 else math.nan  # one estimate: plain floats
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            throughput = where(output > 0, np.divide(slots * output, generating_latency), np.nan)  # none without output
    return ServingValues(timings=t, capacity=c, output=output, prompt=r.prompt, throughput=throughput,
                         samples_per_s=slots / busy_latency, footprint=fp, in_flight=slots, **split_by_phase(t, fp))


def _throughput_latency(case: ServingCase, r: Request, latency: FloatArray) -> FloatArray:
    """The busy latency a batch's throughput is taken from: ``latency`` itself in the typical
    scenario; at the ends, the request's timings with both phases at the throughput's own
    spread (the decode's ``throughput_speed``: its leave-one-source-out errors differ from
    TPOT's, since a saturated batch's steps are bound by other costs than one request's)."""
    speed = case.decode.throughput_speed
    if type(speed) is float and type(case.decode.speed) is float and type(case.prefill.speed) is float:
        if speed == case.decode.speed and speed == case.prefill.speed:  # one scenario: without numpy
            return latency
    elif np.all(np.equal(speed, case.decode.speed)) and np.all(np.equal(speed, case.prefill.speed)):
        return latency
    return core.timings(case.model, case.hardware, r, core.at_speed(case.prefill, speed),
                        core.at_speed(case.decode, speed)).latency


def max_rate_within(est: InferenceEstimate, *, ttft_p99: float | None = None, tpot_p99: float | None = None,
                    latency_p99: float | None = None) -> float:
    """The largest Poisson rate [1/s] at which one replica of ``est``'s deployment meets the
    given p99 targets [s] (0 when none does), with as many requests in flight as fit (or
    ``est``'s batch limit under traffic)."""
    from . import traffic as tr

    case = _typical(est._case)
    case = replace(case, load=case.load if case.load is not None else Load())
    m, r = case.model, case.request
    r = replace(r, output=where(m.autoregressive > 0, r.output, 0.0),
                prompt=where(m.sequence > 0, m.sequence, r.prompt))
    c = core.capacity_report(m, r.n * r.pp, r.batch, r.prompt, r.output, case.hardware.capacity,
                             r.n / core.attention_tp(r))
    service = service_of(case, r, c)[0]
    return float(tr.max_rate_within(service, ttft_p99=ttft_p99, tpot_p99=tpot_p99, latency_p99=latency_p99))


LENGTH_SAMPLES = 100_000  # sampled request lengths: more is a data file, not an argument


def _lengths(value: Any, name: str, traffic: bool) -> np.ndarray:
    """Token counts per request: one number, or (under traffic) a sequence of sampled lengths."""
    if isinstance(value, (str, bytes, int, float)) or not hasattr(value, "__len__") or isinstance(value, pint.Quantity):
        return np.array([float(parse_whole(value, name, limit=TOKENS_LIMIT, allow_zero=True))])
    if isinstance(value, (set, frozenset, dict)):
        raise InputError("expected a list or array of sampled lengths (a set drops repeated lengths)", argument=name)
    if not traffic:
        raise InputError("a sequence of lengths describes traffic; give rate= or concurrency= with it, or one number",
                         argument=name)
    if not 0 < len(value) <= LENGTH_SAMPLES:
        raise InputError(f"expected 1 to {LENGTH_SAMPLES:,} sampled lengths, got {len(value):,}", argument=name)
    return np.array([float(parse_whole(v, name, limit=TOKENS_LIMIT, allow_zero=True)) for v in value])


def _traffic_inputs(traffic: tuple[float, float], batch_size: CountLike | None, prompts: np.ndarray, outputs: np.ndarray) -> Load:
    rate, concurrency = traffic
    limit = math.inf if batch_size is None else float(parse_whole(batch_size, "batch_size", limit=1e7))
    spread = lambda x: float(np.mean(x ** 2) / np.mean(x) ** 2) if np.mean(x) > 0 else 1.0  # noqa: E731
    return Load(rate=rate, concurrency=concurrency, limit=limit, prompt_spread=spread(prompts),
                output_spread=spread(outputs))


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
                       prompt_tokens: CountLike | Sequence[CountLike], output_tokens: CountLike | Sequence[CountLike],
                       batch_size: CountLike | None = None, dtype: str | None = None, kv_dtype: str | None = None,
                       prune: str | float | None = None, engine: str | None = None, batching: str = "continuous",
                       rate: QuantityLike | None = None, concurrency: CountLike | None = None,
                       prefix_cache: float | str = 0.0, pp: CountLike = 1, tp: CountLike | None = None,
                       ep: CountLike = 1, strict: bool = False, pue: float | str | None = None, power_per_gpu: QuantityLike | None = None,
                       host_power_per_gpu: QuantityLike | None = None, region: str | Region | None = None,
                       grid_intensity: QuantityLike | None = None, price_per_gpu_hour: QuantityLike | None = None,
                       cost_basis: str = "cloud", price_kind: str = "on_demand",
                       purchase_price: QuantityLike | None = None, electricity_price: QuantityLike | None = None,
                       service_life: QuantityLike | None = None, embodied: bool = False,
                       profile_path: ProfilePath | None = None,
                       calibration: Calibration | str | os.PathLike[str] | None = None,
                       max_batched_tokens: CountLike | None = None) -> InferenceEstimate:
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
    batch_size : int, optional
        Requests served together (default 1): under ``continuous`` batching the requests in
        flight (those that do not fit wait for a free slot, and the wait shows in TTFT), under
        ``static`` a batch prefilled and decoded together. Next to ``rate`` or ``concurrency``,
        the runtime's limit on requests in flight (default: what fits in memory, at most the
        engine's own limit). The figures are per request.
    max_batched_tokens : int or str [token], optional
        The runtime's budget of tokens per forward step (vLLM ``--max-num-batched-tokens``,
        TensorRT-LLM ``max_num_tokens``, SGLang ``--chunked-prefill-size``): the running
        requests' decode tokens plus prefill chunks. A longer prompt is prefilled in
        ``ceil(prompt / budget)`` steps, and at most ``budget`` requests are in flight. Default:
        the engine's own default on this device (``token_budget`` of data/engines.toml; none for
        an engine without a sourced one). The result's assumptions say which was used.
    batching : {"continuous", "static"}
        ``continuous`` (default): in-flight batching, as serving engines run; ``static``: the
        batch runs together. A runtime without in-flight batching (``eager``) is always static.
    engine : str, optional
        Serving runtime: ``vllm``, ``tensorrt-llm``, ``sglang``, ``eager`` (PyTorch /
        transformers), ``tensorrt``, ``onnxruntime``, ``llama.cpp``, ``mlc``, ``coreml``... (see
        ``costmodel engines``); its fitted per-step and per-layer overheads join each forward
        step. Default: the device class's usual runtime for this kind of model
        (``data/engines.toml``: vLLM for LLMs on datacenter GPUs, TensorRT for CNNs, encoders and
        ViTs on NVIDIA GPUs, ...); ``assumptions["engine"]`` says which was used.
    rate, concurrency : optional
        Traffic: Poisson arrivals at ``rate`` (e.g. ``"12/s"``), or ``concurrency`` clients that
        each send a new request when their last one completes (as benchmark clients do). The
        result then gives percentiles (``ttft_p50``... ``latency_p99``), the queueing delay and
        the largest rate the deployment sustains (:mod:`costmodel.traffic`); the headline TTFT,
        TPOT and latency are the traffic's means, and cost and energy per request include idle
        time. ``prompt_tokens`` and ``output_tokens`` may then be sequences of sampled lengths
        (an empirical distribution).
    pp : int
        Pipeline stages: the ``n_gpus`` devices of a replica run as ``pp`` stages of ``n_gpus / pp``
        tensor-parallel devices, each holding its share of the layers; a token passes every
        stage in turn (a point-to-point send between stages, over the network when a stage
        boundary crosses nodes) and ``pp`` micro-batches keep the stages busy. Default 1.
    tp, ep : int, optional
        The layout of a stage's ``n_gpus / pp`` devices for a mixture of experts, as vLLM,
        SGLang and TensorRT-LLM run it. ``tp``: attention and the dense weights tensor parallel
        over ``tp`` devices (default: all of them); fewer makes ``n_gpus / pp / tp``
        data-parallel attention groups, each holding a copy of the dense weights and its own
        requests. ``ep``: the routed experts split, whole, over ``ep`` groups of devices (each
        expert tensor parallel over the ``n_gpus / pp / ep`` devices of its group; default 1,
        every expert split like the dense weights); each token's hidden state then goes to its
        ``top-k`` experts' devices and back (two all-to-alls per MoE layer, over NVLink inside a
        node, the network beyond), where that is faster than reducing the outputs over every
        device (:func:`costmodel.inference.layer_comm_seconds`). Both must divide
        ``n_gpus / pp``, and ``ep`` the experts. Per device the experts take ``1 / (n_gpus /
        pp)`` of their bytes and a decode step reads the experts its batch touches, ``E (1 -
        (1 - k / E)^B)`` of ``E`` for ``B`` tokens routed to ``k`` each, spread over the devices.
    prefix_cache : float or str
        Share of each prompt whose KV cache is already there (e.g. ``0.5`` or ``"50%"``): its
        prefill is skipped, its KV still read; cached input tokens are priced separately.
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
    try:  # the resolved inputs are kept per profile (a changed profile file is a new one)
        hw: HardwareProfile | str = get_hardware(hardware, profile_path=profile_path)
    except Exception:  # raised again in the order the inputs resolve
        hw = hardware
    r = _resolved(cal, hw, (model, params, active_params, n_gpus, prompt_tokens, output_tokens, batch_size, dtype,
                            kv_dtype, prune, engine, batching, rate, concurrency, prefix_cache, pp, tp, ep, strict,
                            pue, power_per_gpu, host_power_per_gpu, region, grid_intensity, price_per_gpu_hour,
                            cost_basis, price_kind, purchase_price, electricity_price, service_life, embodied,
                            profile_path, max_batched_tokens))
    return InferenceEstimate(**r.fields, _case=r.case, _calibration=cal, _scenarios_of=scenarios, _values=r.values,
                             _labels=r.labels, _profile=r.profile)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Resolved:
    """One argument list of :func:`estimate_inference` resolved and evaluated: the result's
    public fields, its case (every scenario's inputs), the typical scenario's values and the
    footprint's labels."""

    calibration: Calibration
    profile: HardwareProfile
    fields: dict[str, Any]
    case: ServingCase
    values: ServingValues
    labels: FootprintLabels
    spec: ModelSpec | None = None  # what the prompt's length does not change (:func:`_reprompted`)
    names: tuple[str, str, str] = ("", "", "")  # dtype, KV dtype, engine
    static_warnings: tuple[str, ...] = ()


_RESOLVED: dict[tuple, _Resolved] = {}
_RESOLVED_MAX = 4096
_PLAIN = frozenset({str, int, bool, type(None)})


_BASES: dict[tuple, _Resolved] = {}  # per argument list less the prompt length
_PROMPT, _RATE, _CONCURRENCY, _STRICT = 4, 12, 13, 18  # places in the argument list (of _resolve less two)
_ANY_PROMPT = "\0any prompt length"  # stands for the prompt length in the keys of _BASES


def _resolved(cal: Calibration, hw: HardwareProfile | str, args: tuple) -> _Resolved:
    """:func:`_resolve`, kept per exact argument list (:func:`costmodel.memo.per_argument_list`);
    a list that differs from one resolved before only in its prompt length (one whole number,
    no traffic) reuses that one's records and evaluates only the request (:func:`_reprompted`)."""
    return per_argument_list(_RESOLVED, cal, hw, args, _resolve_prompt)


def _resolve_prompt(cal: Calibration, hw: HardwareProfile | str, *args) -> _Resolved:
    prompt = args[_PROMPT]
    if type(prompt) is not int or args[_RATE] is not None or args[_CONCURRENCY] is not None:
        return _resolve(cal, hw, *args)
    base = per_argument_list(_BASES, cal, hw, args[:_PROMPT] + (_ANY_PROMPT,) + args[_PROMPT + 1:],
                             lambda c, h, *_: _resolve(c, h, *args))
    r = base.case.request
    try:
        length = _prompt_length(prompt)
    except Exception:  # raised again in the order the inputs resolve
        return _resolve(cal, hw, *args)
    if length == r.prompt:
        return base
    if length + r.output < 1:  # refused by check_request
        return _resolve(cal, hw, *args)
    return _reprompted(base, replaced(r, prompt=length), args[_STRICT])


def _prompt_length(prompt: CountLike) -> float:
    """One prompt length as :func:`_resolve` reads it into the request."""
    return _parsed("prompt_tokens", REQUEST_PARSERS["prompt_tokens"][1],
                   round(_mean(_lengths(prompt, "prompt_tokens", False))))


def _reprompted(base: _Resolved, r: Request, strict: bool) -> _Resolved:
    """``base`` for the request ``r`` (another prompt length, no traffic), as :func:`_resolve`
    gives it: the model, device, engine, footprint inputs and the warnings that do not depend
    on the request's lengths are the same; the rest is evaluated again."""
    case = base.case
    return _served(base.calibration, base.profile, base.spec, base.names, case.model, case.hardware, r,
                   case.footprint, base.labels, (case.prefill, case.decode), None, list(base.static_warnings),
                   strict)


def _resolve(cal: Calibration, hardware: HardwareProfile | str, model, params, active_params, n_gpus, prompt_tokens,
             output_tokens, batch_size, dtype, kv_dtype, prune, engine, batching, rate, concurrency, prefix_cache, pp,
             tp, ep, strict, pue, power_per_gpu, host_power_per_gpu, region, grid_intensity, price_per_gpu_hour,
             cost_basis, price_kind, purchase_price, electricity_price, service_life, embodied,
             profile_path, max_batched_tokens=None) -> _Resolved:
    """Parse and check the arguments of :func:`estimate_inference` and evaluate the typical
    scenario."""
    spec, hw, (dt, kv, eng), m, h = resolve_serving(model, params=params, active_params=active_params,
                                                    hardware=hardware, dtype=dtype, kv_dtype=kv_dtype, prune=prune,
                                                    engine=engine, profile_path=profile_path, calibration=cal)
    if max_batched_tokens is not None:
        h = replace(h, token_budget=parse_token_budget(max_batched_tokens))
    traffic = resolve_traffic(rate, concurrency)
    if traffic is not None and batching == "static":
        raise InputError("traffic (rate or concurrency) is served with in-flight batching; 'static' is for one "
                         "batch at a time: leave batching at 'continuous'", argument="batching")
    prompts = _lengths(prompt_tokens, "prompt_tokens", traffic is not None)
    outputs = _lengths(output_tokens, "output_tokens", traffic is not None)
    r = request_of(n_gpus=n_gpus, batch_size=1 if batch_size is None else batch_size,
                        prompt_tokens=round(_mean(prompts)), output_tokens=round(_mean(outputs)),
                        batching=batching, prefix_cache=prefix_cache, pp=pp, tp=tp, ep=ep)
    warnings = _layout_warnings(m, r)
    if r.continuous and not h.in_flight and m.autoregressive:
        warnings.append(f"{get_engine(eng).name} does not batch in flight: the batch runs static")
    if hw.kind == "phone" and hw.number("battery") is None:  # say what could not be computed
        warnings.append(f"{hw.id} has no battery capacity in its profile: the share of a charge one request "
                        "drains is not computed")
    if prune is not None and str(prune).strip() != "2:4":  # unstructured: say what it does not do
        warnings.append(resolve_sparsity(prune, SERVING_DTYPES[dt], dt, hw).note)
    f, labels = resolve_footprint(hw, pue=pue, power_per_gpu=power_per_gpu, host_power_per_gpu=host_power_per_gpu,
                                  region=region, grid_intensity=grid_intensity, price_per_gpu_hour=price_per_gpu_hour,
                                  cost_basis=cost_basis, price_kind=price_kind, purchase_price=purchase_price,
                                  electricity_price=electricity_price, service_life=service_life, embodied=embodied)
    phases = serving_scenarios(cal.serving)
    load = _traffic_inputs(traffic, batch_size, prompts, outputs) if traffic is not None else None
    return _served(cal, hw, spec, (dt, kv, eng), m, h, r, f, labels, (phases["prefill"], phases["decode"]), load,
                   warnings, strict)


def _served(cal: Calibration, hw: HardwareProfile, spec: ModelSpec | None, names: tuple[str, str, str],
            m: ServingModel, h: ServingHardware, r: Request, f: Any, labels: FootprintLabels,
            phases: tuple[Any, Any], load: Load | None, warnings: list[str], strict: bool) -> _Resolved:
    """The request's part of :func:`_resolve`: its checks and warnings, and the typical
    scenario evaluated (``warnings``: those of the model, device and layout so far)."""
    dt, kv, eng = names
    static_warnings = tuple(warnings)
    if r.prompt + r.output * m.autoregressive > m.context:
        template = (f"{{prompt_tokens}} + {{output_tokens}} = {r.prompt + r.output * m.autoregressive:.0f} exceeds "
                    f"the model's context of {m.context:.0f}")
        error = InputError(template, argument="prompt_tokens")
        if strict:  # the CLI spells both keywords as its flags
            raise error
        warnings.append(error.message)
    case = ServingCase(model=m, hardware=h, request=r, footprint=f, prefill=phases[0], decode=phases[1])
    if load is not None:
        case = replace(case, load=load)
    values = evaluate(_typical(case))
    check_finite(OUTPUTS, case, values, MAY_BE_MISSING, CULPRITS, "prompt_tokens")
    c = values.capacity
    if load is None and any_true(values.timings.wait_s > 0):
        by_budget = values.in_flight >= h.token_budget
        warnings.append(f"{int(r.batch - values.in_flight):,} of the {int(r.batch):,} requests wait for a free slot: "
                        f"{int(values.in_flight):,} fit in flight ("
                        + (f"the runtime's token budget of {h.token_budget:,.0f} per step, one decode token each)"
                           if by_budget else "memory and the runtime's limit)"))
    if strict and not c.fits:
        raise InputError(f"{r.batch:.0f} requests need {(c.weights + c.kv_cache + c.activations) / 2**30:.1f} GiB "
                         f"per device, more than {hw.id}'s {hw.number('memory') / 2**30:.0f} GiB; use {{n_gpus}} >= "
                         f"{c.min_gpus:.0f} or a smaller dtype", argument="batch_size")
    fields = dict(
        model=spec.id if spec else None, hardware=hw.id, n_gpus=int(r.n * r.pp), pp=int(r.pp),
        tp=int(core.attention_tp(r)), ep=int(r.ep), dtype=dt, kv_dtype=kv,
        engine=eng,
        batching="continuous" if r.continuous and h.in_flight and m.autoregressive else "static",
        batch_size=int(r.batch), prompt_tokens=int(values.prompt), output_tokens=int(values.output),
        fitting_dtype=None if c.fits else _fitting_dtype(hw, dt, c), warnings=tuple(warnings))
    return _Resolved(calibration=cal, profile=hw, fields=fields, case=case, values=values, labels=labels, spec=spec,
                     names=names, static_warnings=static_warnings)


def check_layout(m: ServingModel, r: Request) -> None:
    """Refuse an expert or attention layout the model cannot take (floats or arrays): ``ep``
    that does not divide a mixture's experts, or data-parallel attention (``tp`` below the
    devices of a stage) for a model without experts."""
    bad = (m.experts > 0) & (fmod(m.experts, maximum(r.ep, 1.0)) != 0)
    if any_true(bad):
        ep, experts = (float(np.broadcast_to(x, np.shape(bad))[bad][0]) if np.ndim(bad) else float(x)
                       for x in (r.ep, m.experts))
        raise InputError(f"ep={ep:.0f} does not divide the model's {experts:.0f} experts", argument="ep")
    if any_true((m.experts <= 0) & (r.tp > 0) & (r.tp < r.n)):
        raise InputError("tp below the devices of a pipeline stage is data-parallel attention, for a mixture of "
                         "experts; serve copies of a dense model as replicas", argument="tp")


def _layout_warnings(m: ServingModel, r: Request) -> list[str]:
    """Refuse a layout the model cannot take; say when ``ep`` does nothing (as
    :func:`costmodel.estimate_training` does)."""
    check_layout(m, r)
    if not m.experts and r.ep > 1:
        return [f"ep={r.ep:.0f} has no effect: the model has no experts (a dense model, or experts the catalog "
                "does not list)"]
    return []


def _mean(lengths: np.ndarray) -> float:
    return float(lengths[0]) if lengths.size == 1 else float(np.mean(lengths))  # one length: itself


def _typical(case: ServingCase) -> ServingCase:
    """The case at its typical scenario (the footprint inputs and phase constants' first)."""
    f, pre, dec = case.footprint, case.prefill, case.decode
    key = (id(f), id(pre), id(dec))
    held = _TYPICAL.get(key)
    if held is None or held[0] is not f or held[1] is not pre or held[2] is not dec:
        held = (f, pre, dec, typical_scenario(f), typical_scenario(pre), typical_scenario(dec))
        if len(_TYPICAL) >= _RESOLVED_MAX:
            _TYPICAL.clear()
        _TYPICAL[key] = held
    return ServingCase(model=case.model, hardware=case.hardware, request=case.request, footprint=held[3],
                       prefill=held[4], decode=held[5], load=case.load)


# ids of (footprint, prefill, decode) -> those records and their typical scenarios (held here, so
# that their ids are not reused while kept)
_TYPICAL: dict[tuple[int, int, int], tuple[Any, ...]] = {}


@memoise
def typical_scenario(record: Any) -> Any:
    """The typical scenario (the first) of a record of (typical, optimistic, pessimistic) arrays."""
    return type(record)(**{k: float(getattr(record, k)[0]) for k in type(record).__slots__})


def scenarios(case: ServingCase, cal: Calibration) -> ServingValues:
    """The pipeline over the (typical, optimistic, pessimistic) scenarios of a scalar case (its
    footprint inputs and phase constants hold all three)."""
    return evaluate(case)
