"""One serving estimate's case: an argument list of :func:`~costmodel.estimate_inference` resolved
into records, checked, and its typical scenario evaluated, each distinct list once.

:func:`resolve_case` parses and checks the inputs (:mod:`costmodel.serving_inputs`), resolves the
model and device (:mod:`costmodel.serving_records`), the footprint inputs
(:func:`costmodel.energy.resolve_footprint`), the phases' fitted constants
(:func:`costmodel.calibration.serving_scenarios`) and any traffic, gathers the warnings, and
evaluates the typical scenario (:func:`costmodel.serving_pipeline.evaluate`). It keeps each exact
argument list resolved (:func:`costmodel.memo.per_argument_list`), and a list that changes only
the prompt length evaluates only the request again (:func:`_reprompted`). Every figure is the
one a first estimate (or a sweep row) gives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from . import inference as core
from .calibration import Calibration, serving_scenarios
from .elementwise import any_true
from .energy import FootprintLabels, resolve_footprint
from .engines import get_engine
from .errors import InputError
from .hardware import HardwareProfile
from .inference import Request, ServingHardware, ServingModel
from .listing import one_each
from .memo import per_argument_list, replaced
from .models import ModelSpec
from .precision import SERVING_DTYPES, resolve_sparsity
from .results.base import check_finite
from .results.inference import CULPRITS, MAY_BE_MISSING, OUTPUTS
from .serving_inputs import (layout_warnings, lengths, mean_length, parse_token_budget, prompt_length, request_of,
                             traffic_inputs)
from .serving_load import Load, ServingCase, ServingValues, resolve_traffic
from .serving_pipeline import evaluate, typical
from .serving_records import resolve_serving

__all__ = ["resolve_case"]

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


_RESOLVED: dict[tuple, _Resolved] = {}  # per exact argument list
_BASES: dict[tuple, _Resolved] = {}  # per argument list less the prompt length
_PROMPT, _RATE, _CONCURRENCY, _STRICT = 4, 12, 13, 18  # places in the argument list (of _resolve less two)
_ANY_PROMPT = "\0any prompt length"  # stands for the prompt length in the keys of _BASES


def resolve_case(cal: Calibration, hw: HardwareProfile | str, args: tuple) -> _Resolved:
    """:func:`_resolve`, kept per exact argument list (:func:`costmodel.memo.per_argument_list`);
    a list that differs from one resolved before only in its prompt length (one whole number,
    no traffic) reuses that one's records and evaluates only the request (:func:`_reprompted`)."""
    return per_argument_list(_RESOLVED, cal, hw, args, _resolve_prompt)


def _resolve_prompt(cal: Calibration, hw: HardwareProfile | str, *args) -> _Resolved:
    args = one_each(_ARGUMENTS, args, sweep="sweep_inference", lists=("prompt_tokens", "output_tokens"))
    prompt = args[_PROMPT]
    if type(prompt) is not int or args[_RATE] is not None or args[_CONCURRENCY] is not None:
        return _resolve(cal, hw, *args)
    base = per_argument_list(_BASES, cal, hw, args[:_PROMPT] + (_ANY_PROMPT,) + args[_PROMPT + 1:],
                             lambda c, h, *_: _resolve(c, h, *args))
    r = base.case.request
    try:
        length = prompt_length(prompt)
    except Exception:  # raised again in the order the inputs resolve
        return _resolve(cal, hw, *args)
    if length == r.prompt:
        return base
    if length + r.output < 1:  # refused by check_request
        return _resolve(cal, hw, *args)
    return _reprompted(base, replaced(r, prompt=length), args[_STRICT])


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
    prompts = lengths(prompt_tokens, "prompt_tokens", traffic is not None)
    outputs = lengths(output_tokens, "output_tokens", traffic is not None)
    r = request_of(n_gpus=n_gpus, batch_size=1 if batch_size is None else batch_size,
                        prompt_tokens=round(mean_length(prompts)), output_tokens=round(mean_length(outputs)),
                        batching=batching, prefix_cache=prefix_cache, pp=pp, tp=tp, ep=ep)
    warnings = layout_warnings(m, r)
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
    load = traffic_inputs(traffic, batch_size, prompts, outputs) if traffic is not None else None
    return _served(cal, hw, spec, (dt, kv, eng), m, h, r, f, labels, (phases["prefill"], phases["decode"]), load,
                   warnings, strict)


# the arguments' names, in the order of the argument list (after the calibration and hardware)
_ARGUMENTS = _resolve.__code__.co_varnames[2:_resolve.__code__.co_argcount]


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
    values = evaluate(typical(case))
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
