"""``estimate_inference``: resolve the inputs once into typed records, run the pipeline, wrap.

The pieces, in the order an estimate runs them: :mod:`costmodel.serving_inputs` parses and
checks the request's options, :mod:`costmodel.serving_records` resolves the model and device
into the rooflines' records, :mod:`costmodel.serving_case` builds the case (and keeps each
distinct argument list resolved and evaluated, so a repeated estimate only wraps it), and
:mod:`costmodel.serving_pipeline` evaluates it (:func:`evaluate`; a case under traffic by
:mod:`costmodel.serving_load`). The ends of a case's range are kept with it
(:class:`~costmodel.results.inference.InferenceEstimate`).

The sweep (:mod:`costmodel.sweep`) resolves each distinct value with the same resolvers, lays
the records out per row and runs the same :func:`evaluate` over arrays. Every figure is the one
a first estimate (or a sweep row) gives.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

from . import inference as core
from .calibration import Calibration, resolve_calibration
from .elementwise import where
from .hardware import HardwareProfile, ProfilePath, get_hardware
from .models import ModelSpec
from .results.inference import InferenceEstimate
from .serving_case import resolve_case
from .serving_inputs import (REQUEST_PARSERS, check_layout, check_request, parse_prefix_cache, parse_token_budget,
                             resolve_request)
from .serving_load import INTERACTIVE_SLA, Load, ServingCase, ServingValues, service_from, service_of
from .serving_pipeline import evaluate, typical, typical_scenario
from .serving_records import AUTOREGRESSIVE, resolve_serving
from .units import CountLike, QuantityLike

if TYPE_CHECKING:
    from .regions import Region

__all__ = ["AUTOREGRESSIVE", "typical_scenario", "INTERACTIVE_SLA", "max_rate_within", "service_of", "service_from", "ServingCase", "ServingValues", "resolve_serving", "resolve_request",
           "check_request", "check_layout", "evaluate", "estimate_inference",
           # re-exported for the sweep, the planners and the CLI, which import them from here
           "REQUEST_PARSERS", "Load", "parse_token_budget", "parse_prefix_cache"]


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
    r = resolve_case(cal, hw, (model, params, active_params, n_gpus, prompt_tokens, output_tokens, batch_size, dtype,
                            kv_dtype, prune, engine, batching, rate, concurrency, prefix_cache, pp, tp, ep, strict,
                            pue, power_per_gpu, host_power_per_gpu, region, grid_intensity, price_per_gpu_hour,
                            cost_basis, price_kind, purchase_price, electricity_price, service_life, embodied,
                            profile_path, max_batched_tokens))
    return InferenceEstimate(**r.fields, _case=r.case, _calibration=cal, _scenarios_of=scenarios, _values=r.values,
                             _labels=r.labels, _profile=r.profile)


def scenarios(case: ServingCase, cal: Calibration) -> ServingValues:
    """The pipeline over the (typical, optimistic, pessimistic) scenarios of a scalar case (its
    footprint inputs and phase constants hold all three)."""
    return evaluate(case)


def max_rate_within(est: InferenceEstimate, *, ttft_p99: float | None = None, tpot_p99: float | None = None,
                    latency_p99: float | None = None) -> float:
    """The largest Poisson rate [1/s] at which one replica of ``est``'s deployment meets the
    given p99 targets [s] (0 when none does), with as many requests in flight as fit (or
    ``est``'s batch limit under traffic)."""
    from . import traffic as tr

    case = typical(est._case)
    case = replace(case, load=case.load if case.load is not None else Load())
    m, r = case.model, case.request
    r = replace(r, output=where(m.autoregressive > 0, r.output, 0.0),
                prompt=where(m.sequence > 0, m.sequence, r.prompt))
    c = core.capacity_report(m, r.n * r.pp, r.batch, r.prompt, r.output, case.hardware.capacity,
                             r.n / core.attention_tp(r))
    service = service_of(case, r, c)[0]
    return float(tr.max_rate_within(service, ttft_p99=ttft_p99, tpot_p99=tpot_p99, latency_p99=latency_p99))
