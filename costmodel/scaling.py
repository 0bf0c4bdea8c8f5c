"""Planning with scaling laws: loss, compute-optimal size, data limits, serving-aware size.

Laws and their constants live in ``data/scaling_laws.toml`` with their sources. Compute is
``C = 6 N D`` (Kaplan et al. 2020), the convention the laws were fitted with.

References
----------
Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (parametric loss,
approach 3); Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt" (re-fit, the
default); Kaplan et al. 2020; Muennighoff et al. 2023, "Scaling Data-Constrained Language
Models" (repeated data); Sardana et al. 2023, "Beyond Chinchilla-Optimal: Accounting for
Inference in Language Model Scaling Laws" (lifetime-optimal size).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pint

from .errors import InputError, unknown
from .datafiles import read_toml
from .units import parse_count, quantity

__all__ = ["predict_loss", "compute_optimal", "compare_sizes", "ScalingLaw", "get_law", "OptimalResult"]


@dataclass(frozen=True, slots=True)
class ScalingLaw:
    """A parametric loss law; ``loss(N, D)`` works on floats and arrays."""

    id: str
    form: str
    constants: dict
    source: str

    @property
    def irreducible(self) -> float:
        return self.constants.get("E", 0.0)

    def loss(self, n, d):
        c = self.constants
        if self.form == "kaplan":
            return ((c["N_c"] / n) ** (c["alpha_N"] / c["alpha_D"]) + c["D_c"] / d) ** c["alpha_D"]
        return c["E"] + c["A"] / n ** c["alpha"] + c["B"] / d ** c["beta"]

    def optimal_params(self, flops):
        """Loss-minimising N at compute C with D = C / (6 N): closed form for the Chinchilla
        form (Hoffmann et al. 2022, Eq. 4), a numerical search for Kaplan's."""
        c = self.constants
        if self.form == "chinchilla":
            a, b = c["alpha"], c["beta"]
            g = (a * c["A"] / (b * c["B"])) ** (1.0 / (a + b))
            return g * (np.asarray(flops, dtype=float) / 6.0) ** (b / (a + b))
        return _grid_argmin(lambda n, f: self.loss(n, f / (6.0 * n)), flops)

    def tokens_for_loss(self, n, target):
        """D that reaches ``target`` loss with N parameters (inf where N alone cannot)."""
        c = self.constants
        if self.form == "kaplan":
            gap = target ** (1.0 / c["alpha_D"]) - (c["N_c"] / n) ** (c["alpha_N"] / c["alpha_D"])
            with np.errstate(divide="ignore", over="ignore"):
                return np.where(gap > 0, c["D_c"] / np.maximum(gap, 1e-300), np.inf)
        gap = target - c["E"] - c["A"] / n ** c["alpha"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.where(gap > 0, (c["B"] / np.maximum(gap, 1e-300)) ** (1.0 / c["beta"]), np.inf)


def _grid_argmin(objective, flops, lo=1e3, hi=1e16, points=4001):
    """Argmin over N on a log grid (refined once) for each compute value."""
    flops = np.atleast_1d(np.asarray(flops, dtype=float))
    grid = np.logspace(np.log10(lo), np.log10(hi), points)
    out = []
    for f in flops:
        values = objective(grid, f)
        i = int(np.argmin(values))
        fine = np.logspace(np.log10(grid[max(i - 1, 0)]), np.log10(grid[min(i + 1, points - 1)]), 401)
        out.append(fine[int(np.argmin(objective(fine, f)))])
    return np.array(out) if len(out) > 1 else out[0]


@cache
def _laws() -> dict:
    data = read_toml(Path(__file__).resolve().parent / "data" / "scaling_laws.toml")
    laws = {}
    for key, table in data["law"].items():
        constants = {k: float(v) for k, v in table.items() if isinstance(v, (int, float))}
        laws[key] = ScalingLaw(id=key, form=table["form"], constants=constants, source=table["source"])
    return laws, data["data_constrained"]


def get_law(name: str) -> ScalingLaw:
    """A loss law by id: ``besiroglu2024`` (default), ``hoffmann2022``, ``kaplan2020``."""
    laws = _laws()[0]
    if name not in laws:
        raise unknown(str(name), laws, what="scaling law", command="costmodel optimal --help", argument="law")
    return laws[name]


def predict_loss(params, tokens, *, law: str = "besiroglu2024") -> float:
    """Predicted loss (nats per token) of N parameters trained on D tokens.

    >>> round(predict_loss("70B", "1.4T"), 3)
    1.977
    """
    n, d = parse_count(params, "params"), parse_count(tokens, "tokens")
    return float(get_law(law).loss(n, d))


def effective_data(tokens, unique_tokens, r_star):
    """Muennighoff et al. 2023, Eq. 5: repeated tokens are worth less each epoch."""
    repeats = np.maximum(tokens / unique_tokens - 1.0, 0.0)
    return np.where(tokens > unique_tokens, unique_tokens + unique_tokens * r_star * (1.0 - np.exp(-repeats / r_star)),
                    tokens)


def data_constrained_loss(law: ScalingLaw, n, flops, unique_tokens):
    """Loss at N with D = C / (6N) when only ``unique_tokens`` exist (Muennighoff et al. 2023).

    Effective data decays with repetition (R*_D); parameters beyond U_N, the compute-optimal
    size for the unique data, decay the same way (R*_N). Returns ``(loss, effective tokens)``.
    """
    dc = _laws()[1]
    d_eff = effective_data(flops / (6.0 * n), unique_tokens, dc["R_D_star"])
    u_n = params_for_tokens(law, unique_tokens)
    excess = np.maximum(n / u_n - 1.0, 0.0)
    n_eff = np.where(n > u_n, u_n + u_n * dc["R_N_star"] * (1.0 - np.exp(-excess / dc["R_N_star"])), n)
    return law.loss(n_eff, d_eff), d_eff


def params_for_tokens(law: ScalingLaw, tokens: float) -> float:
    """The compute-optimal N whose optimal D equals ``tokens`` (U_N for U_D in Muennighoff)."""
    flops = np.logspace(8, 34, 521)
    n_opt = np.asarray(law.optimal_params(flops), dtype=float)
    return float(np.exp(np.interp(np.log(tokens), np.log(flops / (6.0 * n_opt)), np.log(n_opt))))


@dataclass(frozen=True, slots=True, kw_only=True)
class OptimalResult:
    """The loss-minimising model for a budget, and what training it takes."""

    params: pint.Quantity
    tokens: pint.Quantity
    loss: float
    flops: pint.Quantity
    law: str
    training: object
    epochs: float | None = None
    effective_tokens: pint.Quantity | None = None
    lifetime: "OptimalResult | None" = None
    inference_tokens: pint.Quantity | None = None
    lifetime_flops: pint.Quantity | None = None
    serving_cost: pint.Quantity | None = None  # USD to serve inference_tokens (on-demand price)


def _budget(budget):
    """(kind, value): a budget in FLOP, USD, device-hours or energy, as a canonical float."""
    from .units import parse_quantity

    for kind, unit in (("flop", "flop"), ("usd", "usd"), ("device_time", "device_time"), ("energy", "energy")):
        try:
            return kind, parse_quantity(budget, unit, "budget")
        except Exception:
            continue
    raise InputError(f"budget: expected compute, money, device-hours or energy such as '1e24 FLOP', '$10M', "
                     f"'500000 GPU*h' or '5 GWh', got {budget!r}")


def _train(n, d, hardware, n_gpus, options):
    from .training_estimate import estimate_training

    return estimate_training(params=float(n), tokens=float(d), hardware=hardware, n_gpus=n_gpus, **options)


def budget_flops(budget, law: ScalingLaw, hardware, n_gpus, options, unique_tokens=None) -> float:
    """FLOPs a budget buys. Money, device-hours and energy go through the training estimator
    (hardware, MFU, price, power); MFU depends on the model size the FLOPs buy, so iterate."""
    kind, value = _budget(budget)
    if kind == "flop":
        return value
    flops = 1e21
    for _ in range(8):  # the MFU changes slowly with size: converges in a few steps
        n = float(law.optimal_params(flops))
        est = _train(n, flops / (6.0 * n), hardware, n_gpus, options)
        spent = {"usd": est.cost, "device_time": est.gpu_hours, "energy": est.energy}[kind]
        if spent is None:
            raise InputError(f"budget: {est.hardware} has no published price; pass price_per_gpu_hour= "
                             "or give the budget in FLOP, GPU*h or energy")
        unit = {"usd": "USD", "device_time": "hour", "energy": "J"}[kind]
        new = flops * value / float(spent.to(unit).magnitude)
        if abs(new / flops - 1.0) < 1e-9:
            break
        flops = new
    return new


def compute_optimal(budget, *, hardware=None, n_gpus=None, law: str = "besiroglu2024", unique_tokens=None,
                    inference_tokens=None, **training_options) -> OptimalResult:
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
    **training_options
        Passed to :func:`estimate_training` (``mfu``, ``region``, ``price_per_gpu_hour``, ...).

    Examples
    --------
    >>> r = compute_optimal("5.76e23 FLOP")
    >>> round(r.params.magnitude / 1e9), round(r.tokens.magnitude / 1e12, 2)
    (72, 1.33)
    """
    the_law = get_law(law)
    hardware = hardware or "h100-sxm5-80gb"
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
        raise InputError("inference_tokens: the lifetime optimum assumes unlimited data; drop unique_tokens")
    return _with_lifetime(result, the_law, loss, n, d, t, hardware, n_gpus, training_options, law)


def _with_lifetime(result, the_law, loss, n, d, t, hardware, n_gpus, options, law) -> OptimalResult:
    """Sardana et al. 2023: minimise 6 N D(N) + 2 N T subject to L(N, D(N)) = target."""
    import dataclasses

    grid = np.logspace(np.log10(n) - 3.0, np.log10(n), 3001)
    tokens = the_law.tokens_for_loss(grid, loss)
    total = 6.0 * grid * tokens + 2.0 * grid * t
    i = int(np.argmin(np.where(np.isfinite(total), total, np.inf)))
    n_life, d_life = float(grid[i]), float(tokens[i])
    if not np.isfinite(total[i]) or 6.0 * n * d + 2.0 * n * t <= total[i]:
        n_life, d_life = n, d  # the compute-optimal model is already the cheapest over its life
    lifetime = OptimalResult(
        params=quantity(n_life, "count"), tokens=quantity(d_life, "token"), loss=float(the_law.loss(n_life, d_life)),
        flops=quantity(6.0 * n_life * d_life, "flop"), law=law, training=_train(n_life, d_life, hardware, n_gpus, options),
        inference_tokens=quantity(t, "token"), lifetime_flops=quantity(6.0 * n_life * d_life + 2.0 * n_life * t, "flop"),
        serving_cost=_serving_cost(n_life, t))
    return dataclasses.replace(result, lifetime=lifetime, inference_tokens=quantity(t, "token"),
                               lifetime_flops=quantity(6.0 * n * d + 2.0 * n * t, "flop"), serving_cost=_serving_cost(n, t))


def serve(n: float, hardware="h100-sxm5-80gb", prompt_tokens=512, output_tokens=256, batch_size=8):
    """Serving estimate on the fewest power-of-two devices (up to 1024) that hold the model."""
    from .inference_estimate import estimate_inference

    gpus = 1
    while True:
        est = estimate_inference(params=n, hardware=hardware, n_gpus=gpus, prompt_tokens=prompt_tokens,
                                 output_tokens=output_tokens, batch_size=batch_size)
        if est.fits or gpus >= 1024:
            return est, gpus
        gpus *= 2


def _serving_cost(n: float, tokens: float):
    """USD to generate ``tokens`` with the model on H100s at on-demand price (512 in / 256 out, batch 8)."""
    est, _ = serve(n)
    per_m = est.cost_per_million_tokens
    return None if per_m is None else quantity(per_m.to("USD").magnitude * tokens / 1e6, "usd")


def compare_sizes(budget=None, *, sizes, tokens=None, law: str = "besiroglu2024", hardware=None, n_gpus=None,
                  serve_hardware="h100-sxm5-80gb", prompt_tokens=512, output_tokens=256, batch_size=8,
                  **training_options):
    """Is bigger better? For each size: tokens affordable, predicted loss, training and serving cost.

    Give a ``budget`` (every size spends it all: D = C / (6 N)) or a fixed ``tokens`` count.
    Returns a pandas DataFrame, one row per size, with ``df.attrs["units"]``.
    """
    import pandas as pd

    if (budget is None) == (tokens is None):
        raise InputError("budget: give exactly one of budget= (every size spends it) or tokens= (fixed data)")
    the_law = get_law(law)
    hardware, n_gpus = hardware or "h100-sxm5-80gb", n_gpus or 1024
    rows = []
    for size in sizes:
        n = parse_count(size, "sizes")
        if budget is not None:
            f = _fixed_size_flops(budget, n, hardware, n_gpus, training_options)
            d = f / (6.0 * n)
        else:
            d = parse_count(tokens, "tokens")
        est = _train(n, d, hardware, n_gpus, training_options)
        served, gpus = serve(n, serve_hardware, prompt_tokens, output_tokens, batch_size)
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


def _fixed_size_flops(budget, n, hardware, n_gpus, options) -> float:
    """FLOPs a budget buys for a model of fixed size N (one probe: cost is linear in D)."""
    kind, value = _budget(budget)
    if kind == "flop":
        return value
    probe = 1e20
    est = _train(n, probe / (6.0 * n), hardware, n_gpus, options)
    spent = {"usd": est.cost, "device_time": est.gpu_hours, "energy": est.energy}[kind]
    if spent is None:
        raise InputError(f"budget: {est.hardware} has no published price; pass price_per_gpu_hour=")
    unit = {"usd": "USD", "device_time": "hour", "energy": "J"}[kind]
    return probe * value / float(spent.to(unit).magnitude)
