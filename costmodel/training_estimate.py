"""``estimate_training``: resolve the inputs once into typed records, run the pipeline, wrap.

The pieces, in the order an estimate runs them: the resolvers (:func:`costmodel.workload.resolve_model`,
:func:`~costmodel.training_pipeline.resolve_hardware`, :func:`costmodel.layout.resolve_layout` and
:func:`costmodel.energy.resolve_footprint`) turn the arguments into the records of a
:class:`~costmodel.training_pipeline.TrainingCase`, and :mod:`costmodel.training_pipeline`
evaluates it (:func:`~costmodel.training_pipeline.evaluate`; its ranges by
:func:`~costmodel.training_pipeline.scenarios`). The sweep (:mod:`costmodel.sweep`) resolves
each distinct value with the same resolvers, lays the records out per row and runs the same
:func:`evaluate` once over arrays.

One estimate keeps each distinct argument list resolved (:func:`_resolved`): the records, the
layout chosen and the figures no scenario changes (:class:`~costmodel.training_pipeline.StepValues`,
carried on the case), so a repeated estimate evaluates only its time and footprint, and its
ranges only those again over the scenarios; an estimate that changes only the token count
reuses the rest and evaluates only the work and its seconds again (:func:`_retokened`), and one
that changes only the global batch reuses the records, the memory and the layout search's
batch-free terms (:func:`_rebatched`). Every figure is the one a first estimate (or a sweep row)
gives.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .calibration import Calibration, resolve_calibration
from .elementwise import any_true
from .energy import FootprintInputs, FootprintLabels, resolve_footprint
from .hardware import HardwareProfile, ProfilePath, get_hardware
from .layout import parse_global_batch, resolve_layout
from .layout_choices import BatchSearch, choice_array, remember_choice, remembered_choice
from .layout_search import TrainingHardware
from .listing import one_each
from .memo import memoise, per_argument_list, replaced
from .models import ModelSpec
from .results.base import check_finite, first_not_finite
from .results.training import CULPRITS, MAY_BE_MISSING, OUTPUTS, TrainingEstimate
from .training_pipeline import (QUANTISED_TRAINING, StepValues, TrainingCase, TrainingValues, evaluate,
                                resolve_hardware, scenarios, step_terms_of, step_values, with_layout, with_tokens)
from .units import CountLike, QuantityLike, parse_count
from .workload import layout_heads, resolve_model

if TYPE_CHECKING:
    from .layout import TrainingLayout
    from .regions import Region
    from .workload import TrainingModel

__all__ = ["TrainingHardware", "TrainingCase", "StepValues", "TrainingValues", "resolve_hardware", "step_values",
           "evaluate", "estimate_training", "scenarios", "step_terms_of"]  # the pipeline's, for the sweep and scripts


# One estimate parses its model keywords once per distinct arguments (the catalog is fixed for the
# process); a sweep resolves each distinct value itself, and caching its many misses would cost more
_resolve_model = memoise(resolve_model)


def estimate_training(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                      active_params: CountLike | None = None, tokens: CountLike | None = None,
                      samples: CountLike | None = None, hardware: str | HardwareProfile, n_gpus: CountLike,
                      dtype: str | None = None, mfu: float | str | None = None, seq_len: CountLike | None = None,
                      micro_batch: CountLike = 1, tp: CountLike | None = None, pp: CountLike | None = None,
                      zero_stage: int | None = None, recompute: str = "selective",
                      sequence_parallel: bool | None = None, cp: CountLike = 1, ep: CountLike | None = None,
                      vpp: CountLike | None = None, global_batch: CountLike | None = None, tuning: str = "typical",
                      flash_attention: bool = True, ep_overlap: bool = False, pue: float | str | None = None,
                      power_per_gpu: QuantityLike | None = None, host_power_per_gpu: QuantityLike | None = None,
                      region: str | Region | None = None, grid_intensity: QuantityLike | None = None,
                      price_per_gpu_hour: QuantityLike | None = None, cost_basis: str = "cloud",
                      price_kind: str = "on_demand", purchase_price: QuantityLike | None = None,
                      electricity_price: QuantityLike | None = None, service_life: QuantityLike | None = None,
                      embodied: bool = False, method: str = "full", trainable_params: CountLike | None = None,
                      lora_rank: CountLike = 8, teacher: CountLike | None = None,
                      profile_path: ProfilePath | None = None,
                      calibration: Calibration | str | os.PathLike[str] | None = None) -> TrainingEstimate:
    """Estimate the compute, time, memory, energy and cost of one training run.

    Parameters
    ----------
    model : str or ModelSpec, optional
        A catalog id (``"gpt3-175b"``); its shape, parameters and reported training data are
        the defaults for the arguments below.
    params, active_params : count, optional
        Total and per-token active parameters (``"7B"``, ``7e9``); override the catalog.
    tokens : count [token], optional
        Training tokens (``"300B"``); defaults to the catalog's reported figure.
    samples : count, optional
        Images (or rows) seen, for CNN, ViT and linear models: FLOPs are 3 x forward FLOPs
        per sample x samples.
    hardware : str or HardwareProfile
        A hardware profile id or alias (``"a100"``).
    n_gpus : int
        Accelerators (TPU chips) used.
    dtype : str, optional
        Training precision; default bf16, or fp16 where the device has no bf16. ``"fp8"``
        (where the device has it) runs the matmuls at the FP8 peak and ceiling; MFU is then
        reported against the FP8 peak.
    mfu : float, optional
        Model FLOPs utilisation in (0, 1]; replaces the step-time model.
    seq_len, micro_batch, tp, pp, zero_stage, recompute, sequence_parallel, cp, ep, vpp
        Layout: sequence length (default the model's context; 2048 for a model known only by
        ``params``, whose shape is then derived from them, see
        :func:`costmodel.memory.shape_from_params`), micro-batch size (sequences), tensor,
        pipeline and ZeRO stage (each ``None``: the fastest layout that fits, searched over
        tensor parallelism inside a node, pipeline stages and ZeRO-1 or ZeRO-3; the choice is
        in ``assumptions``), activation recomputation (``"none" | "selective" | "full"``;
        default selective, as Megatron-LM runs do), sequence parallelism (``None``: on
        wherever ``tp > 1``; ``False`` leaves layer norms and dropouts whole on every
        tensor-parallel device), context-parallel degree, expert-parallel degree of a
        mixture of experts (``None``: as many as the experts and the data-parallel degree
        allow) and virtual pipeline stages (interleaving). Give an explicit shape as a
        :class:`ModelSpec` (``ModelSpec.from_mapping``) with ``layers``, ``d_model`` and
        ``heads``.
    global_batch : count, optional
        Tokens per optimizer step (``"4M"``, ``"4M token"``) or sequences (``"1024 sequence"``);
        default GPT-3's batch for the model's size (:func:`costmodel.steptime.default_global_batch`),
        at least one micro-batch per data-parallel rank. Sets the pipeline bubble and how
        often gradients are exchanged.
    tuning : {"typical", "tuned"}
        The engineering tier: ``"typical"`` (default) for a team's pre-training run as most
        are published, ``"tuned"`` for a benchmark-class configuration (Megatron-LM, NeMo,
        MaxText or torchtitan performance tables). See :mod:`costmodel.steptime`.
    flash_attention : bool
        True (default): a fused attention kernel (FlashAttention, Dao et al. 2022) and
        tensor-parallel collectives overlapped with the GEMMs, as software has run since 2023;
        False: the software of 2021-22 (attention scores through memory, the causal mask's
        hidden half computed, collectives between the GEMMs). See :mod:`costmodel.steptime`.
    ep_overlap : bool
        True: the software overlaps a mixture of experts' all-to-alls with another micro-batch's
        computation (DeepSeek-V3's DualPipe; Megatron-Core's ``--overlap-moe-expert-parallel-comm``),
        hiding them up to the computation's length; False (default): they are hidden as the
        data-parallel traffic is, by the fitted share. See :mod:`costmodel.steptime`.
    pue, power_per_gpu, host_power_per_gpu, region, grid_intensity : optional
        Energy and carbon: facility PUE (default the region's, else 1.10 for cloud and 1.56 for
        owned hardware), average device draw [W] replacing the power model, server overhead per
        device [W] (``0`` turns it off), a region id (``"france"``) for grid intensity and PUE, or
        a grid intensity [mass/energy] replacing the region's (default: world average).
    price_per_gpu_hour, cost_basis, price_kind, purchase_price, electricity_price, service_life
        Dollars: ``cost_basis="cloud"`` (default) multiplies device-hours by the price per
        device-hour (default the profile's ``price_kind`` price); ``"owned"`` amortises the
        purchase price over ``service_life`` and adds electricity at ``electricity_price``.
    embodied : bool
        Also report manufacturing emissions amortised per device-hour (``footprint.embodied_co2e``).
    method, trainable_params, lora_rank : optional
        ``"full"`` (default), ``"lora"`` or ``"qlora"``: frozen base weights take no gradients
        or optimizer state and save the weight-gradient third of the backward pass (see
        :mod:`costmodel.training`); adapters default to rank ``lora_rank`` on the query and
        value projections, or give ``trainable_params``.
    teacher : str or count, optional
        Knowledge distillation: a teacher (catalog id or parameter count) runs a forward pass
        on every token; its FLOPs are in ``teacher_flops`` and included in ``flops``.
    profile_path : path, optional
        Extra directories of hardware profiles.
    calibration : Calibration or path, optional
        Fitted constants (default: the shipped ones; see :mod:`costmodel.calibration`).

    Returns
    -------
    TrainingEstimate

    References
    ----------
    Kaplan et al. 2020 (FLOPs); Korthikanti et al. 2022 (activations); Rajbhandari et al.
    2020 (ZeRO); Chowdhery et al. 2022, Appendix B (MFU).

    Examples
    --------
    >>> est = estimate_training("gpt3-175b", hardware="v100-sxm2-32gb", n_gpus=10_000)
    >>> round(est.flops.to("FLOP").magnitude / 1e23, 2)
    3.19
    """
    cal = resolve_calibration(calibration)
    try:  # the resolved inputs are kept per profile (a changed profile file is a new one)
        hw: HardwareProfile | str = get_hardware(hardware, profile_path=profile_path)
    except Exception:  # raised again in the order the inputs resolve
        hw = hardware
    r = _resolved(cal, hw, (model, params, active_params, tokens, samples, n_gpus, dtype, mfu, seq_len, micro_batch,
                            tp, pp, zero_stage, recompute, sequence_parallel, cp, ep, vpp, global_batch, tuning,
                            flash_attention, ep_overlap, pue,
                            power_per_gpu, host_power_per_gpu, region, grid_intensity, price_per_gpu_hour,
                            cost_basis, price_kind, purchase_price, electricity_price, service_life, embodied,
                            method, trainable_params, lora_rank, teacher, profile_path))
    values = evaluate(r.typical, cal.training)  # the layout's figures are kept: the time and footprint
    if not (r.checked and _ranged_finite(r.typical, values)):
        check_finite(OUTPUTS, r.typical, values, MAY_BE_MISSING, CULPRITS, "tokens")
    return TrainingEstimate(model=r.model, hardware=r.profile.id, n_gpus=r.n_gpus, dtype=r.dtype, method=method,
                            warnings=r.warnings, _case=r.case, _calibration=cal, _scenarios_of=scenarios,
                            _values=values, _labels=r.labels, _profile=r.profile)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Resolved:
    """One argument list of :func:`estimate_training` resolved: the case (the layout chosen and
    its figures evaluated), its typical scenario, the result's labels and warnings, and whether
    the figures without a range are finite."""

    calibration: Calibration
    profile: HardwareProfile
    case: TrainingCase
    typical: TrainingCase
    model: str | None
    n_gpus: int
    dtype: str
    warnings: tuple[str, ...]
    input_warnings: tuple[str, ...]  # those of the model and precision, before the layout's
    labels: FootprintLabels
    checked: bool


_RESOLVED: dict[tuple, _Resolved] = {}


_BASES: dict[tuple, _Resolved] = {}  # per argument list less the tokens
_TOKENS = 3  # the tokens' place in the argument list
_ANY_TOKENS = "\0any token count"  # stands for the tokens in the keys of _BASES
_BATCHES: dict[tuple, _Resolved] = {}  # per argument list less the global batch
_ANY_BATCH = "\0any global batch"  # stands for the global batch in the keys of _BATCHES
_SEARCHES: dict[int, tuple[_Resolved, BatchSearch]] = {}  # per _BATCHES entry (by id, held): its kept search
_SEARCHES_MAX = 256


def _resolved(cal: Calibration, hw: HardwareProfile | str, args: tuple) -> _Resolved:
    """:func:`_resolve`, kept per exact argument list (:func:`costmodel.memo.per_argument_list`);
    a list that differs from one resolved before only in its token count (a number or a count
    string) reuses that one's records, layout and memory (:func:`_retokened`)."""
    return per_argument_list(_RESOLVED, cal, hw, args, _resolve_tokens)


def _resolve_tokens(cal: Calibration, hw: HardwareProfile | str, *args) -> _Resolved:
    args = one_each(_ARGUMENTS, args, sweep="sweep_training")
    tokens = args[_TOKENS]
    if type(tokens) not in (float, int, str) or args[_TOKENS + 1] is not None:  # samples given: refused
        return _resolve_batch(cal, hw, *args)
    try:
        count = parse_count(tokens, "tokens")
    except Exception:  # raised again in the order the inputs resolve
        return _resolve(cal, hw, *args)
    base = per_argument_list(_BASES, cal, hw, args[:_TOKENS] + (_ANY_TOKENS,) + args[_TOKENS + 1:],
                             lambda c, h, *_: _resolve_batch(c, h, *args))
    return base if base.case.model.tokens == count else _retokened(base, count, cal)


def _resolve_batch(cal: Calibration, hw: HardwareProfile | str, *args) -> _Resolved:
    """:func:`_resolve`; a list that differs from one resolved before only in its global batch
    (given: a number or a count string) reuses that one's records and memory, and its layout
    search (:func:`_rebatched`)."""
    batch = args[_GLOBAL_BATCH]
    if type(batch) not in (float, int, str):
        return _resolve(cal, hw, *args)
    try:
        given = parse_global_batch(batch)
    except Exception:  # raised again in the order the inputs resolve
        return _resolve(cal, hw, *args)
    base = per_argument_list(_BATCHES, cal, hw, args[:_GLOBAL_BATCH] + (_ANY_BATCH,) + args[_GLOBAL_BATCH + 1:],
                             lambda c, h, *_: _resolve(c, h, *args))
    if base.case.layout.global_batch == given:
        return base
    return _rebatched(base, given, args, cal) or _resolve(cal, hw, *args)


def _rebatched(base: _Resolved, batch: float, args: tuple, cal: Calibration) -> _Resolved | None:
    """``base`` with another (parsed) global batch, as :func:`_resolve` gives it, or None where
    no shortlisted layout fits (:meth:`BatchSearch.choose`). Only the layout, its
    batch, seconds and memory, and the warnings about them, depend on the batch; the model, the
    hardware, the footprint and the fewest devices do not."""
    case = base.case
    kept = _SEARCHES.get(id(base))
    if kept is None or kept[0] is not base:
        if len(_SEARCHES) >= _SEARCHES_MAX:
            _SEARCHES.clear()
        kept = _SEARCHES[id(base)] = (base, BatchSearch(case.model, case.hardware, case.layout))
    layout = replaced(case.layout, global_batch=batch)
    picked = kept[1].choose(layout, cal.training)
    if picked is None:
        return None
    step = with_layout(case, picked)
    choice = choice_array(step.tp, step.pp, step.zero_stage)
    typical = replaced(base.typical, layout=layout, choice=choice, step=step)
    return replaced(base, case=replaced(case, layout=layout, choice=choice, step=step), typical=typical,
                    warnings=base.input_warnings + _layout_warnings(case.model, layout, step, args[_EP], args[_VPP]),
                    checked=first_not_finite(_UNRANGED, typical, step, MAY_BE_MISSING) is None)


def _retokened(base: _Resolved, tokens: float, cal: Calibration) -> _Resolved:
    """``base`` with another (valid, positive) token count, as :func:`_resolve` gives it: the
    model's description checks only that tokens are given and positive, and no warning, label,
    layout or memory figure depends on their number."""
    m, step = with_tokens(base.case, tokens, cal.training)
    typical = replaced(base.typical, model=m, step=step)
    return replaced(base, case=replaced(base.case, model=m, step=step), typical=typical,
                   checked=base.checked and first_not_finite(_OF_TOKENS, typical, step, MAY_BE_MISSING) is None)


def _resolve(cal: Calibration, hardware: HardwareProfile | str, model, params, active_params, tokens, samples, n_gpus,
             dtype, mfu, seq_len, micro_batch, tp, pp, zero_stage, recompute, sequence_parallel, cp, ep, vpp,
             global_batch, tuning, flash_attention, ep_overlap, pue, power_per_gpu, host_power_per_gpu, region, grid_intensity,
             price_per_gpu_hour, cost_basis, price_kind, purchase_price, electricity_price, service_life, embodied,
             method, trainable_params, lora_rank, teacher, profile_path) -> _Resolved:
    """Parse and check the arguments of :func:`estimate_training`, choose the layout and
    evaluate its figures (:func:`step_values`)."""
    spec, m, warnings = _resolve_model(model, params=params, active_params=active_params, tokens=tokens,
                                      samples=samples, seq_len=seq_len, method=method,
                                      trainable_params=trainable_params, lora_rank=lora_rank, teacher=teacher)
    hw, dt, h = resolve_hardware(hardware, dtype, profile_path)
    if dt in ("fp8", "int8", "int4"):
        warnings += (QUANTISED_TRAINING.format(dtype=dt),)
    layout = resolve_layout(n_gpus=n_gpus, mfu=mfu, micro_batch=micro_batch, tp=tp, pp=pp, zero_stage=zero_stage,
                            recompute=recompute, sequence_parallel=sequence_parallel, cp=cp, ep=ep, vpp=vpp,
                            global_batch=global_batch, tuning=tuning, flash_attention=flash_attention,
                            ep_overlap=ep_overlap, heads=layout_heads(m))
    f, labels = resolve_footprint(hw, pue=pue, power_per_gpu=power_per_gpu, host_power_per_gpu=host_power_per_gpu,
                                  region=region, grid_intensity=grid_intensity,
                                  price_per_gpu_hour=price_per_gpu_hour, cost_basis=cost_basis,
                                  price_kind=price_kind, purchase_price=purchase_price,
                                  electricity_price=electricity_price, service_life=service_life,
                                  embodied=embodied)
    key, choice = remembered_choice(m, h, layout, cal.training)
    typical = TrainingCase(model=m, hardware=h, layout=layout, footprint=_typical(f), choice=choice)
    step = step_values(typical, cal.training)
    if choice is None:  # searched now: remember it, and give the result the same choice its ranges use
        choice = remember_choice(key, step.tp, step.pp, step.zero_stage)
    case = TrainingCase(model=m, hardware=h, layout=layout, footprint=f, choice=choice, step=step)
    typical = replace(typical, choice=choice, step=step)
    return _Resolved(calibration=cal, profile=hw, case=case, typical=typical,
                     model=spec.id if spec is not None else None, n_gpus=int(layout.n_gpus), dtype=dt,
                     warnings=warnings + _layout_warnings(m, layout, step, ep, vpp), input_warnings=warnings,
                     labels=labels, checked=first_not_finite(_UNRANGED, typical, step, MAY_BE_MISSING) is None)


# the places of these in the argument list (after the calibration and hardware)
_ARGUMENTS = _resolve.__code__.co_varnames[2:_resolve.__code__.co_argcount]
_GLOBAL_BATCH, _EP, _VPP = (_ARGUMENTS.index(name) for name in ("global_batch", "ep", "vpp"))
assert _ARGUMENTS[_TOKENS] == "tokens"


def _layout_warnings(m: TrainingModel, layout: TrainingLayout, step: StepValues, ep: CountLike | None,
                     vpp: CountLike | None) -> tuple[str, ...]:
    """The warnings about the layout chosen (``ep`` and ``vpp`` as given)."""
    warnings: tuple[str, ...] = ()
    if ep is not None and not float(m.experts):
        warnings += (f"ep={layout.ep:.0f} has no effect: the model has no experts (a dense model, or experts "
                     "the catalog does not list)",)
    if vpp is not None and float(step.pp) == 1 and float(layout.vpp) > 1:
        warnings += (f"vpp={layout.vpp:.0f} has no effect without pipeline parallelism (pp = 1)",)
    if any_true(step.batch_raised):
        warnings += (f"the global batch is below one micro-batch per data-parallel rank on every layout that fits: "
                     f"raised to {float(step.global_batch):.4g} tokens (fewer devices, or more tensor or pipeline "
                     "parallelism, keep it)",)
    if not (math.isfinite(step.min_gpus) if type(step.min_gpus) is float else np.isfinite(step.min_gpus)):
        warnings += ("no layout holds one micro-batch's activations on a device, even with full recomputation "
                     "and tensor parallelism of 1024: lower seq_len or micro_batch",)
    return warnings


# The figures without a range depend only on the layout's (StepValues carries their fields):
# checked once per resolved case; those with one (the time and footprint) on every estimate
_UNRANGED = tuple(o for o in OUTPUTS if not o.ranged)
_RANGED = tuple((o.value, o.key in MAY_BE_MISSING) for o in OUTPUTS if o.ranged)
# ... of which these change with the tokens (tests/test_training.py checks the list)
TOKEN_OUTPUTS = frozenset({"tokens", "flops_FLOP", "hardware_flops_FLOP", "teacher_flops_FLOP"})
_OF_TOKENS = tuple(o for o in _UNRANGED if o.key in TOKEN_OUTPUTS - {"tokens"})  # parse_count checks those


def _ranged_finite(case: TrainingCase, values: TrainingValues) -> bool:
    """Whether every figure with a range of one estimate is finite (or NaN where allowed)."""
    isfinite, isnan_ = math.isfinite, math.isnan
    for value, nan_allowed in _RANGED:
        x = value(case, values)
        if not isfinite(x) and not (nan_allowed and isnan_(x)):
            return False
    return True


@memoise
def _typical(f: FootprintInputs) -> FootprintInputs:
    return FootprintInputs(**{name: float(getattr(f, name)[0]) for name in FootprintInputs.__slots__})
