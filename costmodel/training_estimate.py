"""``estimate_training``: parse inputs once, run the vectorised core, wrap the results."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pint

from . import training as core
from .calibration import calibration, mfu_from_constants
from .finetune import apply_method
from .training_inputs import (TrainingInputs, _fraction, _whole, hardware_numbers, model_numbers,  # noqa: F401
                              resolve_inputs, resolve_layout)
from .results import RangedEstimate, scenario_values
from .footprint import Footprint, compute_footprint, describe_footprint, footprint_from_values, resolve_footprint
from .hardware import get_hardware
from .units import quantity

__all__ = ["TrainingEstimate", "MemoryBreakdown", "estimate_training", "TrainingInputs"]

_GIB = float(2**30)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryBreakdown:
    """Bytes held on each device, by kind; ``total`` is their sum."""

    weights: pint.Quantity
    gradients: pint.Quantity
    optimizer: pint.Quantity
    activations: pint.Quantity

    @property
    def total(self) -> pint.Quantity:
        return self.weights + self.gradients + self.optimizer + self.activations


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingEstimate(RangedEstimate):
    """What one training run takes. Every figure is a Quantity; ``assumptions`` says why."""

    model: str | None
    hardware: str
    n_gpus: int
    dtype: str
    params: pint.Quantity
    active_params: pint.Quantity
    tokens: pint.Quantity | None
    flops: pint.Quantity
    hardware_flops: pint.Quantity
    mfu: pint.Quantity
    wall_time: pint.Quantity
    gpu_hours: pint.Quantity
    memory_per_gpu: pint.Quantity
    memory: MemoryBreakdown
    min_gpus: pint.Quantity
    fits: bool
    tp: int
    method: str
    trainable_params: pint.Quantity
    teacher_flops: pint.Quantity | None
    energy: pint.Quantity
    it_energy: pint.Quantity
    co2e: pint.Quantity
    cost: pint.Quantity | None
    footprint: Footprint
    _describe: object = field(default=None, repr=False, compare=False)
    _ranges: tuple | None = field(default=None, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self, ranges: bool = False) -> dict:
        """Plain floats with unit-suffixed keys (stable names; see README).

        ``ranges=True`` adds ``<key>_low`` and ``<key>_high`` for every number.
        """
        out = self._flat()
        if ranges and self.low is not None:
            for bound, est in (("low", self.low), ("high", self.high)):
                out.update({f"{k}_{bound}": v for k, v in est._flat().items()
                            if isinstance(v, float) and k not in ("params", "active_params", "tokens")})
        return out

    def _flat(self) -> dict:
        out = {"model": self.model, "hardware": self.hardware, "n_gpus": self.n_gpus,
               "dtype": self.dtype, "tp": self.tp, "fits": self.fits, "method": self.method}
        for name, unit, key in _DICT_FIELDS:
            q = _get(self, name)
            out[key] = None if q is None else float(q.to(unit).magnitude)
        return out


# (attribute, unit, key) of to_dict(); keys carry their unit and are part of the public API.
_DICT_FIELDS = (
    ("params", "dimensionless", "params"), ("active_params", "dimensionless", "active_params"),
    ("tokens", "token", "tokens"), ("flops", "FLOP", "flops_FLOP"),
    ("hardware_flops", "FLOP", "hardware_flops_FLOP"), ("mfu", "dimensionless", "mfu"),
    ("wall_time", "day", "wall_time_days"), ("gpu_hours", "hour", "gpu_hours_h"),
    ("memory_per_gpu", "GiB", "memory_per_gpu_GiB"), ("memory.weights", "GiB", "memory_weights_GiB"),
    ("memory.gradients", "GiB", "memory_gradients_GiB"),
    ("memory.optimizer", "GiB", "memory_optimizer_GiB"),
    ("memory.activations", "GiB", "memory_activations_GiB"),
    ("min_gpus", "dimensionless", "min_gpus"), ("trainable_params", "dimensionless", "trainable_params"),
    ("teacher_flops", "FLOP", "teacher_flops_FLOP"), ("energy", "MWh", "energy_MWh"),
    ("it_energy", "MWh", "it_energy_MWh"), ("co2e", "tonne", "co2e_t"), ("cost", "USD", "cost_USD"),
    ("footprint.device_energy", "MWh", "device_energy_MWh"),
    ("footprint.host_energy", "MWh", "host_energy_MWh"),
    ("footprint.embodied_co2e", "tonne", "embodied_co2e_t"),
    ("footprint.power_per_gpu", "W", "power_per_gpu_W"),
)


def _get(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def estimate_training(model=None, *, params=None, active_params=None, tokens=None, samples=None,
                      hardware, n_gpus, dtype=None, mfu=None, seq_len=None, micro_batch=1,
                      tp=None, pp=1, zero_stage=3, recompute="selective", pue=None,
                      power_per_gpu=None, host_power_per_gpu=None, region=None,
                      grid_intensity=None, price_per_gpu_hour=None, cost_basis="cloud",
                      price_kind="on_demand", purchase_price=None, electricity_price=None,
                      service_life=None, embodied=False, method="full", trainable_params=None, lora_rank=8,
                      teacher=None, profile_path=None) -> TrainingEstimate:
    """Estimate the compute, time and memory of one training run.

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
        Training precision; default bf16, or fp16 where the device has no bf16.
    mfu : float, optional
        Model FLOPs utilisation in (0, 1]; default from the fitted calibration.
    seq_len, micro_batch, tp, pp, zero_stage, recompute
        Memory layout: sequence length (default the model's context), micro-batch size,
        tensor/pipeline parallel degrees (``tp=None`` picks the smallest that fits), ZeRO
        stage (default 3, i.e. FSDP) and activation recomputation
        (``"none" | "selective" | "full"``; default selective, as Megatron-LM runs do).
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
        :mod:`costmodel.finetune`); adapters default to rank ``lora_rank`` on the query and
        value projections, or give ``trainable_params``.
    teacher : str or count, optional
        Knowledge distillation: a teacher (catalog id or parameter count) runs a forward pass
        on every token; its FLOPs are in ``teacher_flops`` and included in ``flops``.

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
    spec, x = resolve_inputs(model, params, active_params, tokens, samples, seq_len)
    x = apply_method(spec, x, method=method, trainable_params=trainable_params, lora_rank=lora_rank,
                     teacher=teacher, seq_len=seq_len)
    hw = get_hardware(hardware, profile_path=profile_path)
    dt = hw.resolve_dtype(dtype)
    layout = resolve_layout(n_gpus, mfu, micro_batch, tp, pp, zero_stage, recompute)
    f = resolve_footprint(hw, pue=pue, power_per_gpu=power_per_gpu, host_power_per_gpu=host_power_per_gpu,
                          region=region, grid_intensity=grid_intensity,
                          price_per_gpu_hour=price_per_gpu_hour, cost_basis=cost_basis,
                          price_kind=price_kind, purchase_price=purchase_price,
                          electricity_price=electricity_price, service_life=service_life,
                          embodied=embodied)
    r = evaluate({**model_numbers(x), **hardware_numbers(hw, dt), **layout, **f, "mfu_scale": mfu_scales()})
    typical, lo, hi = scenario_values(r, f)

    def describe() -> dict:
        return {"mfu": "given" if mfu is not None else "calibrated default (data/calibration.toml)",
                "recompute": recompute, "zero_stage": zero_stage, "pp": int(layout["pp"]),
                "micro_batch": int(layout["micro_batch"]), "seq_len": x.seq_len,
                "peak_flops": f"{hw.peak_flops(dt) / 1e12:.4g} TFLOP/s dense {dt} ({hw.sources[f'dense.{dt}']})",
                **describe_footprint(hw, f, price_kind)}

    build = functools.partial(_wrap, spec=spec, hw=hw, dt=dt, x=x, f=f, n=int(layout["n_gpus"]),
                              describe=describe)
    return build(typical, ranges=(build, lo, hi))


def mfu_scales():
    """(typical, optimistic, pessimistic) multipliers of the default MFU: the 10th and 90th
    percentiles of published / modelled MFU over the calibration runs."""
    c = calibration()["mfu"]
    return np.array([1.0, math.exp(c["resid_q90"]), math.exp(c["resid_q10"])])


def evaluate(x: dict) -> dict:
    """The whole training pipeline on arrays (or floats) of canonical inputs.

    Every entry of ``x`` broadcasts against the others; a leading axis of length 3 carries
    the (typical, optimistic, pessimistic) scenarios of the uncertain inputs.
    """
    default_mfu = mfu_from_constants(calibration()["mfu"], x["peak"], x["bandwidth"], x["active_params"], x["n_gpus"])
    mfu = np.where(np.isnan(x["mfu"]), np.minimum(default_mfu * x["mfu_scale"], 1.0), x["mfu"])
    seconds = core.training_seconds(x["flops"], x["n_gpus"], x["peak"], mfu)
    acts = core.activation_bytes(x["layers"], x["seq_len"], x["micro_batch"], x["d_model"], x["heads"], x["recompute"])
    acts_full = 2.0 * x["layers"] * x["seq_len"] * x["micro_batch"] * x["d_model"]  # full recomputation
    w, g, o = core.state_bytes(x["params"], x["weight_bytes"], x["optimizer_bytes"], x["trainable"], x["frozen_bytes"])
    states = (w + x["teacher_params"] * x["weight_bytes"], g, o)  # a distillation teacher's weights
    tp, w, g, o, a = core.plan_memory(*states, x["n_gpus"], x["capacity"], acts, x["tp"], x["pp"], x["zero_stage"])
    fp = compute_footprint(x, x["tdp"], 1.0, x["n_gpus"], seconds)
    return {"mfu": mfu, "seconds": seconds, "gpu_hours": seconds * x["n_gpus"] / 3600.0,
            "hardware_flops": core.hardware_flops(x["flops"], x["tokens"], x["attention"], x["recompute"]),
            "tp": tp, "weights": w, "gradients": g, "optimizer": o, "activations": a,
            "min_gpus": core.min_devices(sum(states), x["capacity"], acts, acts_full),
            "fits": w + g + o + a <= x["capacity"], **fp}


def _wrap(v: dict, *, spec, hw, dt, x: TrainingInputs, f: dict, n: int, describe, ranges=None) -> TrainingEstimate:
    """An estimate from one set of output values (floats) as Quantities."""
    gib = _GIB
    fp = footprint_from_values(v, f, "kWh")
    return TrainingEstimate(
        model=spec.id if spec is not None else None, hardware=hw.id, n_gpus=n, dtype=dt,
        params=quantity(x.params, "count"), active_params=quantity(x.active_params, "count"),
        tokens=None if x.tokens is None else quantity(x.tokens, "token"),
        flops=quantity(x.flops, "flop"), hardware_flops=quantity(v["hardware_flops"], "flop"),
        mfu=quantity(v["mfu"], "count"), wall_time=quantity(v["seconds"] / 86400.0, "day"),
        gpu_hours=quantity(v["gpu_hours"], "hour"),
        memory_per_gpu=quantity((v["weights"] + v["gradients"] + v["optimizer"] + v["activations"]) / gib, "GiB"),
        memory=MemoryBreakdown(weights=quantity(v["weights"] / gib, "GiB"), gradients=quantity(v["gradients"] / gib, "GiB"),
                               optimizer=quantity(v["optimizer"] / gib, "GiB"),
                               activations=quantity(v["activations"] / gib, "GiB")),
        min_gpus=quantity(v["min_gpus"], "count"), fits=bool(v["fits"]), tp=int(v["tp"]), method=x.method,
        trainable_params=quantity(x.params if math.isnan(x.trainable) else x.trainable, "count"),
        teacher_flops=quantity(x.teacher_flops, "flop") if x.teacher_flops else None,
        energy=fp.energy, it_energy=fp.it_energy, co2e=fp.co2e, cost=fp.cost, footprint=fp,
        _describe=describe, _ranges=ranges,
    )
