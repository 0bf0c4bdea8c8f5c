"""What a budget buys: budgets in FLOP, dollars, device-hours or energy, the training run
that spends one, and the serving run that prices a model's use.

A money, device-hours or energy budget is converted to FLOPs with the training estimator on
the caller's hardware (its MFU, price and power); serving is priced on the fewest power-of-two
devices that hold the model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pint

from ..errors import InputError
from ..hardware import HardwareProfile
from ..inference_estimate import estimate_inference
from ..listing import one_value
from ..models import ModelSpec
from ..results.inference import InferenceEstimate
from ..results.training import TrainingEstimate
from ..scaling import ScalingLaw
from ..training_estimate import estimate_training
from ..units import CountLike, QuantityLike, parse_quantity, parse_whole, quantity

__all__ = ["parse_budget", "budget_flops", "budget_used", "fixed_size_flops", "training_run", "one_device_count",
           "serve", "serve_interactive", "operating_point", "serving_cost", "DEFAULT_HARDWARE", "SERVING"]

DEFAULT_HARDWARE = "h100-sxm5-80gb"
# per request, the default traffic
SERVING: dict[str, Any] = {"prompt_tokens": 512, "output_tokens": 256, "batch_size": 8}


def parse_budget(budget: QuantityLike) -> tuple[str, float]:
    """(kind, value): a budget in FLOP, USD, device-hours or energy, as a canonical float."""
    budget = one_value(budget, "budget")
    for kind, unit in (("flop", "flop"), ("usd", "usd"), ("device_time", "device_time"), ("energy", "energy")):
        try:
            return kind, parse_quantity(budget, unit, "budget")
        except Exception:
            continue
    raise InputError(f"expected compute, money, device-hours or energy such as '1e24 FLOP', '$10M', "
                     f"'500000 GPU*h' or '5 GWh', got {budget!r}", argument="budget")


def training_run(n: float, d: float, hardware: str | HardwareProfile, n_gpus: CountLike,
                 options: dict[str, Any]) -> TrainingEstimate:
    """The training estimate of an ``n``-parameter model on ``d`` tokens (6 N D FLOPs)."""
    return estimate_training(params=float(n), tokens=float(d), hardware=hardware, n_gpus=n_gpus, **options)


# budget kind -> (the training estimate's figure that spends it, its unit)
_SPENDS = {"usd": ("cost", "USD"), "device_time": ("gpu_hours", "hour"), "energy": ("energy", "J")}
# budget kind -> the keyword that prices it, named when a budget cannot be spent
_PRICED_BY = {"usd": "price_per_gpu_hour", "device_time": "n_gpus", "energy": "power_per_gpu"}


def _spent(est: TrainingEstimate, kind: str) -> float:
    """What a training run spends of a budget of ``kind`` (USD, device-hours or J), refusing a
    run that spends none of it: such a budget buys unlimited compute."""
    attr, unit = _SPENDS[kind]
    spent = getattr(est, attr)
    if spent is None:
        raise InputError(f"{est.hardware} has no published price; pass {{price_per_gpu_hour=}} "
                         "or give the budget in FLOP, GPU*h or energy", argument="budget")
    value = float(spent.to(unit).magnitude)
    if not value > 0:
        what = {"usd": "costs nothing", "energy": "uses no energy"}.get(kind, "spends nothing")
        raise InputError(f"training {what} with this setting, so the budget buys unlimited compute; give a "
                         "value above zero or the budget in FLOP", argument=_PRICED_BY[kind])
    return value


def budget_flops(budget: QuantityLike, law: ScalingLaw, hardware: str | HardwareProfile, n_gpus: CountLike,
                 options: dict[str, Any], unique_tokens: CountLike | None = None) -> float:
    """FLOPs a budget buys. Money, device-hours and energy go through the training estimator
    (hardware, MFU, price, power); MFU depends on the model size the FLOPs buy, so iterate."""
    kind, value = parse_budget(budget)
    if kind == "flop":
        return value
    def share(flops: float) -> float:  # the budget's share a compute-optimal run of these FLOPs spends
        n = float(law.optimal_params(flops))
        return _spent(training_run(n, flops / (6.0 * n), hardware, n_gpus, options), kind) / value

    flops = 1e21
    for _ in range(8):  # the MFU changes slowly with size: converges in a few steps
        new = flops / share(flops)
        if abs(new / flops - 1.0) < 1e-9:
            return new
        flops = new
    # the layout the estimator chooses can change with size and make the fixed point oscillate:
    # bisect on log FLOPs between a run that spends less and one that spends more (spending grows
    # with FLOPs)
    lo, hi = flops, flops
    while share(lo) > 1.0:
        lo /= 2.0
    while share(hi) < 1.0:
        hi *= 2.0
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if share(mid) < 1.0 else (lo, mid)
        if hi / lo - 1.0 < 1e-12:
            break
    return math.sqrt(lo * hi)


def budget_used(budget: QuantityLike, est: TrainingEstimate) -> float:
    """The share of ``budget`` a training run spends (1.0: all of it; above 1: more than it)."""
    kind, value = parse_budget(budget)
    spent = float(est.flops.to("FLOP").magnitude) if kind == "flop" else _spent(est, kind)
    return spent / value if value > 0 else math.inf


def one_device_count(n_gpus: CountLike | None) -> int:
    """One device count (default 1024); an array is refused (the sweeps take many)."""
    if n_gpus is None:
        return 1024
    if np.ndim(n_gpus) != 0:
        raise InputError(f"expected one device count, got {np.size(n_gpus)} values; sweep_training takes many",
                         argument="n_gpus")
    return parse_whole(n_gpus, "n_gpus")


def fixed_size_flops(budget: QuantityLike, n: float, hardware: str | HardwareProfile, n_gpus: CountLike,
                      options: dict[str, Any]) -> float:
    """FLOPs a budget buys for a model of fixed size N (one probe: cost is linear in D)."""
    kind, value = parse_budget(budget)
    if kind == "flop":
        return value
    probe = 1e20
    return probe * value / _spent(training_run(n, probe / (6.0 * n), hardware, n_gpus, options), kind)


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


def serve_interactive(model: str | ModelSpec, *, hardware: str | HardwareProfile = DEFAULT_HARDWARE,
                      prompt_tokens: CountLike = 512, output_tokens: CountLike = 256, batch_size: CountLike = 8,
                      **options: Any) -> tuple[InferenceEstimate, int, float]:
    """Serving at the operating point an operator would run one replica at: on the fewest
    power-of-two devices that hold the model (:func:`serve`), the largest Poisson rate [1/s]
    that meets the interactive SLA (:data:`~costmodel.inference_estimate.INTERACTIVE_SLA`: p99
    TTFT 1 s, p99 TPOT 50 ms), estimated under that traffic. Returns the estimate, the device
    count and the rate; where no rate meets the SLA (or the model does not fit), the rate is 0
    and the estimate is the fixed batch of ``batch_size``."""
    from ..inference_estimate import INTERACTIVE_SLA, max_rate_within

    est, gpus = serve(model, hardware=hardware, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                      batch_size=batch_size, **options)
    rate = max_rate_within(est, **INTERACTIVE_SLA) if est.fits else 0.0
    if rate > 0:
        est = estimate_inference(model, hardware=hardware, n_gpus=gpus, prompt_tokens=prompt_tokens,
                                 output_tokens=output_tokens, rate=rate, **options)
    return est, gpus, rate


def operating_point(rate: float, batch_size: int) -> str:
    """The operating point of :func:`serve_interactive` in words.

    >>> operating_point(3.24, 8)
    '3.24 requests/s, the largest meeting p99 TTFT 1 s and p99 TPOT 50 ms'
    """
    if rate > 0:
        return f"{rate:.3g} requests/s, the largest meeting p99 TTFT 1 s and p99 TPOT 50 ms"
    return f"batch {batch_size}: no rate meets p99 TTFT 1 s and p99 TPOT 50 ms"


def serving_cost(n: float, tokens: float, hardware: str | HardwareProfile) -> pint.Quantity | None:
    """USD to generate ``tokens`` with an ``n``-parameter model on ``hardware`` (on-demand price,
    the default traffic of :data:`SERVING`)."""
    est, _ = serve(params=n, hardware=hardware, **SERVING)
    per_m = est.cost_per_million_tokens
    return None if per_m is None else quantity(per_m.to("USD").magnitude * tokens / 1e6, "usd")
