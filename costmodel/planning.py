"""Planning: the best model for a budget, over its life, and side by side.

- :func:`compute_optimal`: the loss-minimising size and data for a budget in FLOP, dollars,
  device-hours or energy (Hoffmann et al. 2022; Besiroglu et al. 2024), with repeated data
  discounted (Muennighoff et al. 2023) and the lifetime-optimal size that also pays for
  serving (Sardana et al. 2023).
- :func:`compare_sizes`: is bigger better? loss, training and serving cost per size.
- :func:`compare_models`: catalogued models trained and served on given hardware.

Serving is priced on the hardware the caller names (``serve_hardware``), on the fewest
power-of-two devices that hold the model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, TypeVar

import numpy as np
import pint

from .errors import InputError
from .hardware import HardwareProfile
from .inference_estimate import estimate_inference
from .models import ModelSpec, get_model
from .results.inference import InferenceEstimate
from .results.training import TrainingEstimate
from .scaling import ScalingLaw, data_constrained_loss, get_law
from .training_estimate import estimate_training
from .units import CountLike, QuantityLike, parse_count, parse_quantity, quantity

if TYPE_CHECKING:
    import pandas as pd

    from .regions import Region

__all__ = ["OptimalResult", "compute_optimal", "compare_sizes", "compare_models", "serve", "parse_budget",
           "CHINCHILLA_TOKENS_PER_PARAM"]

CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022: compute-optimal D is about 20 N
DEFAULT_HARDWARE = "h100-sxm5-80gb"
# per request, the default traffic
SERVING: dict[str, Any] = {"prompt_tokens": 512, "output_tokens": 256, "batch_size": 8}


@dataclass(frozen=True, slots=True, kw_only=True)
class OptimalResult:
    """The loss-minimising model for a budget, and what training it takes."""

    params: pint.Quantity
    tokens: pint.Quantity
    loss: float
    flops: pint.Quantity
    law: str
    training: TrainingEstimate
    epochs: float | None = None
    effective_tokens: pint.Quantity | None = None
    lifetime: "OptimalResult | None" = None
    inference_tokens: pint.Quantity | None = None
    lifetime_flops: pint.Quantity | None = None
    serving_cost: pint.Quantity | None = None  # USD to serve inference_tokens (on-demand price)


def parse_budget(budget: QuantityLike) -> tuple[str, float]:
    """(kind, value): a budget in FLOP, USD, device-hours or energy, as a canonical float."""
    for kind, unit in (("flop", "flop"), ("usd", "usd"), ("device_time", "device_time"), ("energy", "energy")):
        try:
            return kind, parse_quantity(budget, unit, "budget")
        except Exception:
            continue
    raise InputError(f"expected compute, money, device-hours or energy such as '1e24 FLOP', '$10M', "
                     f"'500000 GPU*h' or '5 GWh', got {budget!r}", argument="budget")


def _train(n: float, d: float, hardware: str | HardwareProfile, n_gpus: CountLike,
           options: dict[str, Any]) -> TrainingEstimate:
    return estimate_training(params=float(n), tokens=float(d), hardware=hardware, n_gpus=n_gpus, **options)


def budget_flops(budget: QuantityLike, law: ScalingLaw, hardware: str | HardwareProfile, n_gpus: CountLike,
                 options: dict[str, Any], unique_tokens: CountLike | None = None) -> float:
    """FLOPs a budget buys. Money, device-hours and energy go through the training estimator
    (hardware, MFU, price, power); MFU depends on the model size the FLOPs buy, so iterate."""
    kind, value = parse_budget(budget)
    if kind == "flop":
        return value
    flops = 1e21
    for _ in range(8):  # the MFU changes slowly with size: converges in a few steps
        n = float(law.optimal_params(flops))
        est = _train(n, flops / (6.0 * n), hardware, n_gpus, options)
        spent = {"usd": est.cost, "device_time": est.gpu_hours, "energy": est.energy}[kind]
        if spent is None:
            raise InputError(f"{est.hardware} has no published price; pass {{price_per_gpu_hour=}} "
                             "or give the budget in FLOP, GPU*h or energy", argument="budget")
        unit = {"usd": "USD", "device_time": "hour", "energy": "J"}[kind]
        new = flops * value / float(spent.to(unit).magnitude)
        if abs(new / flops - 1.0) < 1e-9:
            break
        flops = new
    return new


def compute_optimal(budget: QuantityLike, *, hardware: str | HardwareProfile | None = None,
                    n_gpus: CountLike | None = None, law: str = "besiroglu2024", unique_tokens: CountLike | None = None,
                    inference_tokens: CountLike | None = None, serve_hardware: str | HardwareProfile | None = None,
                    **training_options: Any) -> OptimalResult:
    """The loss-minimising model size and data for a budget, and what training it costs.

    Parameters
    ----------
    budget : Quantity or str
        Compute (``"1e24 FLOP"``), money (``"$10M"``), device-hours (``"500000 GPU*h"``) or
        energy (``"5 GWh"``); the last three are converted with the training estimator on
        ``hardware`` x ``n_gpus`` (default 1024 x H100).
    law : str
        ``besiroglu2024`` (default), ``hoffmann2022`` or ``kaplan2020``.
    unique_tokens : count, optional
        Unique data available; repeated epochs are discounted (Muennighoff et al. 2023).
    inference_tokens : count, optional
        Lifetime tokens to generate; adds ``lifetime``, the smaller model trained longer that
        reaches the same loss for the fewest training + inference FLOPs (Sardana et al. 2023).
    serve_hardware : str, optional
        Where ``inference_tokens`` are served and priced (default: ``hardware``), on the fewest
        power-of-two devices that hold the model, 512 tokens in / 256 out at batch 8.
    **training_options
        Passed to :func:`estimate_training` (``mfu``, ``region``, ``price_per_gpu_hour``, ...).

    Examples
    --------
    >>> r = compute_optimal("5.76e23 FLOP")
    >>> round(r.params.magnitude / 1e9), round(r.tokens.magnitude / 1e12, 2)
    (72, 1.33)
    """
    the_law = get_law(law)
    hardware = hardware or DEFAULT_HARDWARE
    n_gpus = n_gpus or 1024
    flops = budget_flops(budget, the_law, hardware, n_gpus, training_options)
    u = None if unique_tokens is None else parse_count(unique_tokens, "unique_tokens")
    if u is None:
        n = float(the_law.optimal_params(flops))
        d = flops / (6.0 * n)
        loss, d_eff = float(the_law.loss(n, d)), None
    else:
        grid = np.logspace(3, 16, 6001)
        losses, _ = data_constrained_loss(the_law, grid, flops, u)
        n = float(grid[int(np.argmin(losses))])
        d = flops / (6.0 * n)
        loss_arr, d_eff = data_constrained_loss(the_law, n, flops, u)
        loss, d_eff = float(loss_arr), float(d_eff)
    result = OptimalResult(
        params=quantity(n, "count"), tokens=quantity(d, "token"), loss=loss, flops=quantity(flops, "flop"), law=law,
        training=_train(n, d, hardware, n_gpus, training_options),
        epochs=None if u is None else d / u, effective_tokens=None if d_eff is None else quantity(d_eff, "token"))
    if inference_tokens is None:
        return result
    t = parse_count(inference_tokens, "inference_tokens", allow_zero=True)
    if u is not None:
        raise InputError("the lifetime optimum assumes unlimited data; drop unique_tokens",
                         argument="inference_tokens")
    return _with_lifetime(result, the_law, loss, n, d, t, (hardware, n_gpus, training_options),
                          serve_hardware or hardware)


def _with_lifetime(result: OptimalResult, the_law: ScalingLaw, loss: float, n: float, d: float, t: float,
                   training: tuple[str | HardwareProfile, CountLike, dict[str, Any]],
                   serve_hardware: str | HardwareProfile) -> OptimalResult:
    """Sardana et al. 2023: minimise 6 N D(N) + 2 N T subject to L(N, D(N)) = target."""
    grid = np.logspace(np.log10(n) - 3.0, np.log10(n), 3001)
    tokens = the_law.tokens_for_loss(grid, loss)
    total = 6.0 * grid * tokens + 2.0 * grid * t
    i = int(np.argmin(np.where(np.isfinite(total), total, np.inf)))
    n_life, d_life = float(grid[i]), float(tokens[i])
    if not np.isfinite(total[i]) or 6.0 * n * d + 2.0 * n * t <= total[i]:
        n_life, d_life = n, d  # the compute-optimal model is already the cheapest over its life
    lifetime = OptimalResult(
        params=quantity(n_life, "count"), tokens=quantity(d_life, "token"), loss=float(the_law.loss(n_life, d_life)),
        flops=quantity(6.0 * n_life * d_life, "flop"), law=result.law, training=_train(n_life, d_life, *training),
        inference_tokens=quantity(t, "token"), lifetime_flops=quantity(6.0 * n_life * d_life + 2.0 * n_life * t, "flop"),
        serving_cost=_serving_cost(n_life, t, serve_hardware))
    return dataclasses.replace(result, lifetime=lifetime, inference_tokens=quantity(t, "token"),
                               lifetime_flops=quantity(6.0 * n * d + 2.0 * n * t, "flop"),
                               serving_cost=_serving_cost(n, t, serve_hardware))


def serve(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
          hardware: str | HardwareProfile = DEFAULT_HARDWARE, prompt_tokens: CountLike = 512,
          output_tokens: CountLike = 256, batch_size: CountLike = 8, **options: Any) -> tuple[InferenceEstimate, int]:
    """A serving estimate on the fewest power-of-two devices (up to 1024) that hold the model,
    and that device count."""
    gpus = 1
    while True:
        est = estimate_inference(model, params=params, hardware=hardware, n_gpus=gpus, prompt_tokens=prompt_tokens,
                                 output_tokens=output_tokens, batch_size=batch_size, **options)
        if est.fits or gpus >= 1024:
            return est, gpus
        gpus *= 2


def _serving_cost(n: float, tokens: float, hardware: str | HardwareProfile) -> pint.Quantity | None:
    """USD to generate ``tokens`` with an ``n``-parameter model on ``hardware`` (on-demand price,
    the default traffic of :data:`SERVING`)."""
    est, _ = serve(params=n, hardware=hardware, **SERVING)
    per_m = est.cost_per_million_tokens
    return None if per_m is None else quantity(per_m.to("USD").magnitude * tokens / 1e6, "usd")


def compare_sizes(budget: QuantityLike | None = None, *, sizes: Iterable[CountLike], tokens: CountLike | None = None,
                  law: str = "besiroglu2024", hardware: str | HardwareProfile | None = None,
                  n_gpus: CountLike | None = None, serve_hardware: str | HardwareProfile = DEFAULT_HARDWARE,
                  prompt_tokens: CountLike = 512, output_tokens: CountLike = 256, batch_size: CountLike = 8,
                  **training_options: Any) -> pd.DataFrame:
    """Is bigger better? For each size: tokens affordable, predicted loss, training and serving cost.

    Give a ``budget`` (every size spends it all: D = C / (6 N)) or a fixed ``tokens`` count.
    Returns a pandas DataFrame, one row per size, with ``df.attrs["units"]``.
    """
    import pandas as pd

    if (budget is None) == (tokens is None):
        raise InputError("give exactly one of {budget=} (every size spends it) or {tokens=} (fixed data)", argument="budget")
    the_law = get_law(law)
    hardware, n_gpus = hardware or DEFAULT_HARDWARE, n_gpus or 1024
    rows = []
    for size in sizes:
        n = parse_count(size, "sizes")
        if budget is not None:
            f = _fixed_size_flops(budget, n, hardware, n_gpus, training_options)
            d = f / (6.0 * n)
        elif tokens is not None:  # one of the two, checked above
            d = parse_count(tokens, "tokens")
        est = _train(n, d, hardware, n_gpus, training_options)
        served, gpus = serve(params=n, hardware=serve_hardware, prompt_tokens=prompt_tokens,
                             output_tokens=output_tokens, batch_size=batch_size)
        per_m = served.cost_per_million_tokens
        rows.append({"params": n, "tokens": d, "tokens_per_param": d / n, "loss": float(the_law.loss(n, d)),
                     "train_flops_FLOP": 6.0 * n * d, "gpu_hours_h": est.gpu_hours.to("hour").magnitude,
                     "train_cost_USD": None if est.cost is None else est.cost.to("USD").magnitude,
                     "energy_MWh": est.energy.to("MWh").magnitude, "serve_gpus": gpus,
                     "tpot_ms": served.tpot.to("ms").magnitude,
                     "usd_per_million_tokens": None if per_m is None else per_m.to("USD").magnitude})
    df = pd.DataFrame(rows)
    df.attrs["units"] = {"params": "", "tokens": "token", "loss": "nat/token", "train_flops_FLOP": "FLOP",
                         "gpu_hours_h": "hour", "train_cost_USD": "USD", "energy_MWh": "MWh", "tpot_ms": "ms",
                         "usd_per_million_tokens": "USD"}
    return df


def _fixed_size_flops(budget: QuantityLike, n: float, hardware: str | HardwareProfile, n_gpus: CountLike,
                      options: dict[str, Any]) -> float:
    """FLOPs a budget buys for a model of fixed size N (one probe: cost is linear in D)."""
    kind, value = parse_budget(budget)
    if kind == "flop":
        return value
    probe = 1e20
    est = _train(n, probe / (6.0 * n), hardware, n_gpus, options)
    spent = {"usd": est.cost, "device_time": est.gpu_hours, "energy": est.energy}[kind]
    if spent is None:
        raise InputError(f"{est.hardware} has no published price; pass {{price_per_gpu_hour=}}", argument="budget")
    unit = {"usd": "USD", "device_time": "hour", "energy": "J"}[kind]
    return probe * value / float(spent.to(unit).magnitude)


def _value(q: pint.Quantity | None, unit: str) -> float | None:
    return None if q is None else float(q.to(unit).magnitude)


_Estimate = TypeVar("_Estimate", TrainingEstimate, InferenceEstimate)


def _ends(est: _Estimate) -> tuple[tuple[str, _Estimate], tuple[str, _Estimate]]:
    """``(("low", est.low), ("high", est.high))``."""
    low, high = est.low, est.high
    assert low is not None and high is not None  # an estimate has both ends (only an end has none)
    return ("low", low), ("high", high)


# (row key, estimate attribute, unit) of the ranged training figures of compare_models()
_RANGED = (("gpu_hours", "gpu_hours", "hour"), ("wall_days", "wall_time", "day"), ("energy_MWh", "energy", "MWh"),
           ("co2e_t", "co2e", "tonne"), ("train_cost_USD", "cost", "USD"))


def compare_models(models: Iterable[str | ModelSpec], *, hardware: str | HardwareProfile = DEFAULT_HARDWARE,
                   n_gpus: CountLike = 1024, serve_hardware: str | HardwareProfile = DEFAULT_HARDWARE,
                   prompt_tokens: CountLike = 512, output_tokens: CountLike = 256, batch_size: CountLike = 8,
                   region: str | Region | None = None) -> list[dict[str, Any]]:
    """Do bigger models cost more? One row per catalogued model: its training run on
    ``n_gpus`` x ``hardware`` (reported tokens, or 20 per parameter, Hoffmann et al. 2022, where
    none are reported) and its serving on the fewest power-of-two ``serve_hardware`` devices
    that hold it. Ranged figures carry ``_low``/``_high``.
    """
    rows = []
    for name in models:
        spec = get_model(name)
        tokens = None if spec.training_tokens is not None else CHINCHILLA_TOKENS_PER_PARAM * spec.params.magnitude
        t = estimate_training(spec, tokens=tokens, hardware=hardware, n_gpus=n_gpus, region=region)
        s, gpus = serve(spec, hardware=serve_hardware, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                        batch_size=batch_size, region=region)
        rows.append({
            "model": spec.id, "params": spec.params.magnitude,
            "tokens": None if t.tokens is None else t.tokens.magnitude,
            "tokens_source": "catalog" if tokens is None else "20 x params (Hoffmann et al. 2022)",
            "train_flops": t.flops.magnitude, "mfu": t.mfu.magnitude,
            **{key: _value(getattr(t, attr), unit) for key, attr, unit in _RANGED},
            "serve_gpus": gpus, "ttft_ms": s.ttft.to("ms").magnitude, "tpot_ms": s.tpot.to("ms").magnitude,
            "usd_per_million_tokens": _value(s.cost_per_million_tokens, "USD"),
            **{f"{key}_{end}": _value(getattr(e, attr), unit) for key, attr, unit in _RANGED
               for end, e in _ends(t)},
            **{f"usd_per_million_tokens_{end}": _value(e.cost_per_million_tokens, "USD") for end, e in _ends(s)},
        })
    return rows
