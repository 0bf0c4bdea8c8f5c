"""Side by side: :func:`compare_sizes` (is bigger better? loss, training and serving cost per
size) and :func:`compare_models` (catalogued models trained on their default data and served
on given hardware)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pint

from ..errors import InputError
from ..hardware import HardwareProfile
from ..listing import entries, one_value_keywords
from ..models import ModelSpec, get_model
from ..scaling import get_law, law_count
from ..training_estimate import estimate_training
from ..workload import resolve_model
from ..units import LIMITS, CountLike, QuantityLike, parse_count
from .budget import (DEFAULT_HARDWARE, fixed_size_flops, one_device_count, operating_point, parse_budget, serve,
                     serve_interactive, training_run)

if TYPE_CHECKING:
    import pandas as pd

    from ..regions import Region

__all__ = ["compare_sizes", "compare_models", "default_workload", "LOSS_PRECISION", "CHINCHILLA_TOKENS_PER_PARAM"]

CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022: compute-optimal D is about 20 N


LOSS_PRECISION = 1e-4  # nats per token: losses closer than this are a tie (the laws' fits are no finer)


def _sizes(sizes: Iterable[CountLike] | str) -> list[float]:
    """Parameter counts from a list or a comma-separated string; an empty one is refused."""
    items = entries(sizes, "sizes", what="sizes", example="parameter counts such as ['7B', '70B']")
    return [law_count(x, "sizes", "parameter") for x in items]


@one_value_keywords("sizes", "n_gpus")
def compare_sizes(budget: QuantityLike | None = None, *, sizes: Iterable[CountLike] | str,
                  tokens: CountLike | None = None, law: str = "besiroglu2024",
                  hardware: str | HardwareProfile | None = None, n_gpus: CountLike | None = None,
                  serve_hardware: str | HardwareProfile = DEFAULT_HARDWARE, prompt_tokens: CountLike = 512,
                  output_tokens: CountLike = 256, batch_size: CountLike = 8, inference_tokens: CountLike | None = None,
                  **training_options: Any) -> pd.DataFrame:
    """Is bigger better? For each size: tokens affordable, predicted loss, training and serving cost.

    Give a ``budget`` (every size spends it all: D = C / (6 N)) or a fixed ``tokens`` count.
    Returns a pandas DataFrame, one row per size, with ``df.attrs["units"]``; the figures use the
    keys of ``TrainingEstimate.to_dict()`` (``flops_FLOP``, ``cost_USD``, ...). ``fits`` says
    whether the training run fits on ``n_gpus`` x ``hardware`` (``min_gpus``: the fewest it
    needs); ``best`` marks the lowest predicted loss, every size within :data:`LOSS_PRECISION`
    of it (a tie) included. With ``inference_tokens`` (output tokens served over the model's
    life, at this traffic and the on-demand price), ``serving_cost_USD`` prices them and
    ``lifetime_cost_USD`` adds the training cost (Sardana et al. 2023).
    """
    import pandas as pd

    if (budget is None) == (tokens is None):
        raise InputError("give exactly one of {budget=} (every size spends it) or {tokens=} (fixed data)", argument="budget")
    if budget is not None:
        parse_budget(budget)  # a bad budget fails before any work
    counts, the_law = _sizes(sizes), get_law(law)
    served_tokens = None if inference_tokens is None else parse_count(inference_tokens, "inference_tokens",
                                                                      allow_zero=True)
    hardware, n_gpus = DEFAULT_HARDWARE if hardware is None else hardware, one_device_count(n_gpus)
    rows = []
    for n in counts:
        if budget is not None:
            d = fixed_size_flops(budget, n, hardware, n_gpus, training_options) / (6.0 * n)
            if d > LIMITS["count"]:  # named as the budget's: the user gave no token count
                raise InputError(f"the budget buys {d:.3g} tokens for {n:.3g} parameters, more than the "
                                 f"{LIMITS['count']:.0e} a token count may be; give a smaller one or larger "
                                 "{sizes}", argument="budget")
        elif tokens is not None:  # one of the two, checked above
            d = law_count(tokens, "tokens", "token")
        est = training_run(n, d, hardware, n_gpus, training_options)
        served, gpus = serve(params=n, hardware=serve_hardware, prompt_tokens=prompt_tokens,
                             output_tokens=output_tokens, batch_size=batch_size)
        rows.append({"params": n, "tokens": d, "tokens_per_param": d / n, "loss": float(the_law.loss(n, d)),
                     "flops_FLOP": 6.0 * n * d, "gpu_hours_h": est.gpu_hours.to("hour").magnitude,
                     "cost_USD": _value(est.cost, "USD"), "energy_MWh": est.energy.to("MWh").magnitude,
                     "fits": est.fits, "min_gpus": None if est.min_gpus is None else int(est.min_gpus.magnitude),
                     "serve_gpus": gpus,
                     "tpot_ms": served.tpot.to("ms").magnitude,
                     "cost_per_million_tokens_USD": _value(served.cost_per_million_tokens, "USD")})
        if served_tokens is not None:
            rows[-1].update(_lifetime(rows[-1], served_tokens))
    df = pd.DataFrame(rows)
    df["best"] = df.loss <= df.loss.min() + LOSS_PRECISION
    df.attrs["units"] = {"params": "", "tokens": "token", "loss": "nat/token", "flops_FLOP": "FLOP",
                         "gpu_hours_h": "hour", "cost_USD": "USD", "energy_MWh": "MWh", "tpot_ms": "ms",
                         "cost_per_million_tokens_USD": "USD", "serving_cost_USD": "USD", "lifetime_cost_USD": "USD"}
    return df


def _lifetime(row: dict[str, Any], tokens: float) -> dict[str, float | None]:
    """Serving ``tokens`` output tokens at the row's price per million, and that plus training."""
    per_m, train = row["cost_per_million_tokens_USD"], row["cost_USD"]
    serving = None if per_m is None else per_m * tokens / 1e6
    return {"serving_cost_USD": serving,
            "lifetime_cost_USD": None if serving is None or train is None else train + serving}


def _value(q: pint.Quantity | None, unit: str) -> float | None:
    return None if q is None else float(q.to(unit).magnitude)


# The rules a catalogued model's default training data comes from (compare_models' "workload").
CATALOG_TOKENS, CATALOG_SAMPLES = "catalog tokens", "catalog samples"
CHINCHILLA_RULE = "20 tokens per parameter (Hoffmann et al. 2022)"
# the keys of compare_models() rows taken from each estimate's to_dict() (with _low/_high where ranged)
TRAINING_KEYS = ("tokens", "flops_FLOP", "mfu", "wall_time_days", "gpu_hours_h", "energy_MWh", "co2e_t", "cost_USD")
SERVING_KEYS = ("ttft_ms", "tpot_ms", "ttft_p99_ms", "tpot_p99_ms", "cost_per_million_tokens_USD",
                "cost_per_million_input_tokens_USD")


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
        _, m, _ = resolve_model(spec)
    except InputError as exc:
        if exc.argument == "tokens":  # a language model without reported tokens
            return {"tokens": CHINCHILLA_TOKENS_PER_PARAM * float(spec.params.magnitude)}, CHINCHILLA_RULE
        raise InputError(f"{spec.id} reports no training samples, so it has no default workload; leave it out",
                         argument="models") from None
    return {}, CATALOG_SAMPLES if np.isfinite(m.forward_flops) else CATALOG_TOKENS


def _ranged_keys(data: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``keys`` of a ``to_dict(ranges=True)``, each followed by its ``_low``/``_high`` where it has them."""
    return {k: data[k] for key in keys for k in (key, f"{key}_low", f"{key}_high") if k in data}


@one_value_keywords("models")
def compare_models(models: Iterable[str | ModelSpec], *, hardware: str | HardwareProfile = DEFAULT_HARDWARE,
                   n_gpus: CountLike = 1024, serve_hardware: str | HardwareProfile = DEFAULT_HARDWARE,
                   prompt_tokens: CountLike = 512, output_tokens: CountLike = 256, batch_size: CountLike = 8,
                   region: str | Region | None = None) -> list[dict[str, Any]]:
    """Do bigger models cost more? One row per catalogued model: its training run on
    ``n_gpus`` x ``hardware`` with the data of :func:`default_workload` (named in ``workload``)
    and its serving on the fewest power-of-two ``serve_hardware`` devices that hold it, at the
    operating point an operator would run: the largest Poisson rate that meets the interactive
    SLA (:data:`~costmodel.inference_estimate.INTERACTIVE_SLA`: p99 TTFT 1 s, p99 TPOT 50 ms),
    named in ``operating_point`` (``batch_size`` only where no rate meets it).

    Rows use the keys of ``TrainingEstimate.to_dict()`` (``flops_FLOP``, ``wall_time_days``,
    ``cost_USD``, ...) and ``InferenceEstimate.to_dict()`` (``ttft_ms``, ``tpot_ms``,
    ``cost_per_million_tokens_USD``), ranged figures followed by ``_low``/``_high``.
    """
    rows = []
    for name in entries(models, "models", what="models", example="catalog ids such as ['gpt2', 'llama-2-70b']",
                        single=(ModelSpec,)):
        spec = get_model(name, argument="models")
        data, rule = default_workload(spec)
        t = estimate_training(spec, **data, hardware=hardware, n_gpus=n_gpus, region=region)
        s, gpus, rate = serve_interactive(spec, hardware=serve_hardware, prompt_tokens=prompt_tokens,
                                          output_tokens=output_tokens, batch_size=batch_size, region=region)
        point = operating_point(rate, s.batch_size)
        samples = spec.training_samples if rule == CATALOG_SAMPLES else None
        rows.append({"model": spec.id, "params": spec.params.magnitude, "estimate": spec.estimate,
                     "workload": rule, "samples": None if samples is None else float(samples.magnitude),
                     **_ranged_keys(t.to_dict(ranges=True), TRAINING_KEYS), "serve_gpus": gpus,
                     "serve_rate_per_s": rate or None, "operating_point": point,
                     **_ranged_keys(s.to_dict(ranges=True), SERVING_KEYS)})
    return rows
