"""The best model for a budget, and over its life: :func:`compute_optimal`.

The loss-minimising size and data for a budget in FLOP, dollars, device-hours or energy
(Hoffmann et al. 2022; Besiroglu et al. 2024), with repeated data discounted (Muennighoff et
al. 2023) and the lifetime-optimal size that also pays for serving (Sardana et al. 2023).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pint

from ..errors import InputError
from ..hardware import HardwareProfile
from ..listing import one_value_keywords
from ..results.training import TrainingEstimate
from ..scaling import ScalingLaw, data_constrained_loss, get_law, law_count
from ..units import CountLike, QuantityLike, parse_count, quantity
from .budget import DEFAULT_HARDWARE, budget_flops, budget_used, one_device_count, serving_cost, training_run

__all__ = ["OptimalResult", "compute_optimal"]


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
    budget_used: float = 1.0  # share of the budget the training spends (above 1: more than it)

    @property
    def lifetime_cost(self) -> pint.Quantity | None:
        """USD to train the model and serve ``inference_tokens`` (None without them or a price)."""
        if self.serving_cost is None or self.training.cost is None:
            return None
        return self.training.cost.to("USD") + self.serving_cost.to("USD")


@one_value_keywords("n_gpus")
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
    hardware = DEFAULT_HARDWARE if hardware is None else hardware
    n_gpus = one_device_count(n_gpus)
    flops = budget_flops(budget, the_law, hardware, n_gpus, training_options)
    u = None if unique_tokens is None else law_count(unique_tokens, "unique_tokens", "token")
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
        training=training_run(n, d, hardware, n_gpus, training_options),
        epochs=None if u is None else d / u, effective_tokens=None if d_eff is None else quantity(d_eff, "token"))
    if inference_tokens is None:
        return result
    t = parse_count(inference_tokens, "inference_tokens", allow_zero=True)
    if u is not None:
        raise InputError("the lifetime optimum assumes unlimited data; drop {unique_tokens}",
                         argument="inference_tokens")
    result = _with_lifetime(result, the_law, loss, n, d, t, (hardware, n_gpus, training_options),
                            hardware if serve_hardware is None else serve_hardware)
    assert result.lifetime is not None  # _with_lifetime adds it
    lifetime = dataclasses.replace(result.lifetime, budget_used=budget_used(budget, result.lifetime.training))
    return dataclasses.replace(result, lifetime=lifetime)


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
        flops=quantity(6.0 * n_life * d_life, "flop"), law=result.law, training=training_run(n_life, d_life, *training),
        inference_tokens=quantity(t, "token"), lifetime_flops=quantity(6.0 * n_life * d_life + 2.0 * n_life * t, "flop"),
        serving_cost=serving_cost(n_life, t, serve_hardware))
    return dataclasses.replace(result, lifetime=lifetime, inference_tokens=quantity(t, "token"),
                               lifetime_flops=quantity(6.0 * n * d + 2.0 * n * t, "flop"),
                               serving_cost=serving_cost(n, t, serve_hardware))
