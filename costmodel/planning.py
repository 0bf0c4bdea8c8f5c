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
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pint

from .errors import InputError
from .hardware import HardwareProfile
from .inference_estimate import estimate_inference
from .models import ModelSpec, get_model
from .results.inference import InferenceEstimate
from .results.training import TrainingEstimate
from .scaling import ScalingLaw, data_constrained_loss, get_law
from .training_estimate import estimate_training, resolve_model
from .units import CountLike, QuantityLike, parse_count, parse_quantity, parse_whole, quantity

if TYPE_CHECKING:
    import pandas as pd

    from .regions import Region

__all__ = ["OptimalResult", "compute_optimal", "compare_sizes", "compare_models", "default_workload", "serve",
           "parse_budget", "CHINCHILLA_TOKENS_PER_PARAM"]

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
    budget_used: float = 1.0  # share of the budget the training spends (above 1: more than it)


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
    flops = 1e21
    for _ in range(8):  # the MFU changes slowly with size: converges in a few steps
        n = float(law.optimal_params(flops))
        new = flops * value / _spent(_train(n, flops / (6.0 * n), hardware, n_gpus, options), kind)
        if abs(new / flops - 1.0) < 1e-9:
            break
        flops = new
    return new


def budget_used(budget: QuantityLike, est: TrainingEstimate) -> float:
    """The share of ``budget`` a training run spends (1.0: all of it; above 1: more than it)."""
    kind, value = parse_budget(budget)
    spent = float(est.flops.to("FLOP").magnitude) if kind == "flop" else _spent(est, kind)
    return spent / value if value > 0 else math.inf


def _devices(n_gpus: CountLike | None) -> int:
    """One device count (default 1024); an array is refused (the sweeps take many)."""
    if n_gpus is None:
        return 1024
    if np.ndim(n_gpus) != 0:
        raise InputError(f"expected one device count, got {np.size(n_gpus)} values; sweep_training takes many",
                         argument="n_gpus")
    return parse_whole(n_gpus, "n_gpus")


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
    n_gpus = _devices(n_gpus)
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
        raise InputError("the lifetime optimum assumes unlimited data; drop {unique_tokens}",
                         argument="inference_tokens")
    result = _with_lifetime(result, the_law, loss, n, d, t, (hardware, n_gpus, training_options),
                            serve_hardware or hardware)
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


LOSS_PRECISION = 1e-4  # nats per token: losses closer than this are a tie (the laws' fits are no finer)


def _sizes(sizes: Iterable[CountLike] | str) -> list[float]:
    """Parameter counts from a list or a comma-separated string; an empty one is refused."""
    items = [x for x in sizes.split(",") if x.strip()] if isinstance(sizes, str) else list(sizes)
    if not items:
        raise InputError("no sizes given; expected parameter counts such as ['7B', '70B']", argument="sizes")
    return [parse_count(x, "sizes") for x in items]


def compare_sizes(budget: QuantityLike | None = None, *, sizes: Iterable[CountLike] | str,
                  tokens: CountLike | None = None, law: str = "besiroglu2024",
                  hardware: str | HardwareProfile | None = None, n_gpus: CountLike | None = None,
                  serve_hardware: str | HardwareProfile = DEFAULT_HARDWARE, prompt_tokens: CountLike = 512,
                  output_tokens: CountLike = 256, batch_size: CountLike = 8, **training_options: Any) -> pd.DataFrame:
    """Is bigger better? For each size: tokens affordable, predicted loss, training and serving cost.

    Give a ``budget`` (every size spends it all: D = C / (6 N)) or a fixed ``tokens`` count.
    Returns a pandas DataFrame, one row per size, with ``df.attrs["units"]``; the figures use the
    keys of ``TrainingEstimate.to_dict()`` (``flops_FLOP``, ``cost_USD``, ...). ``fits`` says
    whether the training run fits on ``n_gpus`` x ``hardware`` (``min_gpus``: the fewest it
    needs); ``best`` marks the lowest predicted loss, every size within :data:`LOSS_PRECISION`
    of it (a tie) included.
    """
    import pandas as pd

    if (budget is None) == (tokens is None):
        raise InputError("give exactly one of {budget=} (every size spends it) or {tokens=} (fixed data)", argument="budget")
    if budget is not None:
        parse_budget(budget)  # a bad budget fails before any work
    counts, the_law = _sizes(sizes), get_law(law)
    hardware, n_gpus = hardware or DEFAULT_HARDWARE, _devices(n_gpus)
    rows = []
    for n in counts:
        if budget is not None:
            d = _fixed_size_flops(budget, n, hardware, n_gpus, training_options) / (6.0 * n)
        elif tokens is not None:  # one of the two, checked above
            d = parse_count(tokens, "tokens")
        est = _train(n, d, hardware, n_gpus, training_options)
        served, gpus = serve(params=n, hardware=serve_hardware, prompt_tokens=prompt_tokens,
                             output_tokens=output_tokens, batch_size=batch_size)
        rows.append({"params": n, "tokens": d, "tokens_per_param": d / n, "loss": float(the_law.loss(n, d)),
                     "flops_FLOP": 6.0 * n * d, "gpu_hours_h": est.gpu_hours.to("hour").magnitude,
                     "cost_USD": _value(est.cost, "USD"), "energy_MWh": est.energy.to("MWh").magnitude,
                     "fits": est.fits, "min_gpus": int(est.min_gpus.magnitude), "serve_gpus": gpus,
                     "tpot_ms": served.tpot.to("ms").magnitude,
                     "cost_per_million_tokens_USD": _value(served.cost_per_million_tokens, "USD")})
    df = pd.DataFrame(rows)
    df["best"] = df.loss <= df.loss.min() + LOSS_PRECISION
    df.attrs["units"] = {"params": "", "tokens": "token", "loss": "nat/token", "flops_FLOP": "FLOP",
                         "gpu_hours_h": "hour", "cost_USD": "USD", "energy_MWh": "MWh", "tpot_ms": "ms",
                         "cost_per_million_tokens_USD": "USD"}
    return df


def _value(q: pint.Quantity | None, unit: str) -> float | None:
    return None if q is None else float(q.to(unit).magnitude)


def _fixed_size_flops(budget: QuantityLike, n: float, hardware: str | HardwareProfile, n_gpus: CountLike,
                      options: dict[str, Any]) -> float:
    """FLOPs a budget buys for a model of fixed size N (one probe: cost is linear in D)."""
    kind, value = parse_budget(budget)
    if kind == "flop":
        return value
    probe = 1e20
    return probe * value / _spent(_train(n, probe / (6.0 * n), hardware, n_gpus, options), kind)


# The rules a catalogued model's default training data comes from (compare_models' "workload").
CATALOG_TOKENS, CATALOG_SAMPLES = "catalog tokens", "catalog samples"
CHINCHILLA_RULE = "20 tokens per parameter (Hoffmann et al. 2022)"
# the keys of compare_models() rows taken from each estimate's to_dict() (with _low/_high where ranged)
TRAINING_KEYS = ("tokens", "flops_FLOP", "mfu", "wall_time_days", "gpu_hours_h", "energy_MWh", "co2e_t", "cost_USD")
SERVING_KEYS = ("ttft_ms", "tpot_ms", "cost_per_million_tokens_USD")


def default_workload(model: str | ModelSpec) -> tuple[dict[str, Any], str]:
    """The training data of a catalogued model's default run, by :func:`estimate_training`'s
    own rule: the catalog's tokens, or its samples for image and tabular models (cnn, vit,
    linear); a language model with none reported gets 20 tokens per parameter (Hoffmann et al.
    2022). Returns the keywords to pass to the estimator (none when the catalog has the data)
    and the rule's name.

    >>> default_workload("gpt2")
    ({'tokens': 2480000000.0}, '20 tokens per parameter (Hoffmann et al. 2022)')
    >>> default_workload("resnet-50")
    ({}, 'catalog samples')
    """
    spec = get_model(model, argument="models")
    try:
        _, m = resolve_model(spec)
    except InputError as exc:
        if exc.argument == "tokens":  # a language model without reported tokens
            return {"tokens": CHINCHILLA_TOKENS_PER_PARAM * float(spec.params.magnitude)}, CHINCHILLA_RULE
        raise InputError(f"{spec.id} reports no training samples, so it has no default workload; leave it out",
                         argument="models") from None
    return {}, CATALOG_SAMPLES if np.isfinite(m.forward_flops) else CATALOG_TOKENS


def _ranged_keys(data: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``keys`` of a ``to_dict(ranges=True)``, each followed by its ``_low``/``_high`` where it has them."""
    return {k: data[k] for key in keys for k in (key, f"{key}_low", f"{key}_high") if k in data}


def compare_models(models: Iterable[str | ModelSpec], *, hardware: str | HardwareProfile = DEFAULT_HARDWARE,
                   n_gpus: CountLike = 1024, serve_hardware: str | HardwareProfile = DEFAULT_HARDWARE,
                   prompt_tokens: CountLike = 512, output_tokens: CountLike = 256, batch_size: CountLike = 8,
                   region: str | Region | None = None) -> list[dict[str, Any]]:
    """Do bigger models cost more? One row per catalogued model: its training run on
    ``n_gpus`` x ``hardware`` with the data of :func:`default_workload` (named in ``workload``)
    and its serving on the fewest power-of-two ``serve_hardware`` devices that hold it.

    Rows use the keys of ``TrainingEstimate.to_dict()`` (``flops_FLOP``, ``wall_time_days``,
    ``cost_USD``, ...) and ``InferenceEstimate.to_dict()`` (``ttft_ms``, ``tpot_ms``,
    ``cost_per_million_tokens_USD``), ranged figures followed by ``_low``/``_high``.
    """
    rows = []
    for name in models:
        spec = get_model(name, argument="models")
        data, rule = default_workload(spec)
        t = estimate_training(spec, **data, hardware=hardware, n_gpus=n_gpus, region=region)
        s, gpus = serve(spec, hardware=serve_hardware, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                        batch_size=batch_size, region=region)
        samples = spec.training_samples if rule == CATALOG_SAMPLES else None
        rows.append({"model": spec.id, "params": spec.params.magnitude, "estimate": spec.estimate,
                     "workload": rule, "samples": None if samples is None else float(samples.magnitude),
                     **_ranged_keys(t.to_dict(ranges=True), TRAINING_KEYS), "serve_gpus": gpus,
                     **_ranged_keys(s.to_dict(ranges=True), SERVING_KEYS)})
    return rows
