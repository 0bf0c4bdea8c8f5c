"""Are larger models always better? A model beside its quantised, pruned and distilled variants
and a smaller model trained from scratch, in one table.

Variants are strings:

- ``"full"``: the model as published;
- a serving format (``"w4a16"``, ``"w8a16"``, ``"w8a8"``, ``"fp8"``, ``"fp4"``): post-training
  quantisation, the same weights stored and computed smaller (:mod:`costmodel.precision`);
- ``"2:4"``: 2:4 structured sparsity (half the weights, the sparse peak);
- ``"prune:0.5"``: unstructured sparsity at a ratio (no gain on dense kernels; said so);
- ``"prune:8B"``: structured width/depth pruning to a smaller dense model of that size, then
  retraining by distillation on ``retrain_tokens`` (default 94B, the Minitron recipe:
  Sreenivas et al. 2024, "LLM Pruning and Distillation in Practice");
- ``"distill:1.5B"``: a student of that size trained on 20 tokens per parameter with the
  model as teacher (its forward passes counted; Hinton et al. 2015);
- ``"scratch:1.5B"``: a model of that size trained from scratch on 20 tokens per parameter
  (Hoffmann et al. 2022).

Training cost is what it takes to make the variant: the full model's own run for the full
model and for variants derived from it (quantisation and one-shot pruning add no training),
that run plus the distillation for a student, the smaller run alone from scratch. Quality is
the scaling law's predicted loss where the law applies (a dense language model trained from
scratch on known tokens) and missing elsewhere: a figure no law or source gives is never
invented.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import CostModelError, InputError
from .listing import entries, one_value_keywords
from .models import ModelSpec, get_model
from .planning import CHINCHILLA_TOKENS_PER_PARAM, serve
from .precision import SERVING_DTYPES
from .scaling import get_law
from .training_estimate import estimate_training
from .units import parse_count

__all__ = ["compare_variants", "DEFAULT_VARIANTS"]

DEFAULT_VARIANTS = ("full", "w8a16", "w4a16", "2:4", "prune:0.5", "distill:0.1", "scratch:0.1")
_LANGUAGE = ("dense-decoder", "moe-decoder")


def _size(text: str, spec: ModelSpec, variant: str) -> float:
    """A student's size: a count ("1.5B") or a share of the model's (a number below 1)."""
    try:
        value = parse_count(text, "variants")
    except CostModelError:
        raise InputError(f"{variant!r}: expected a size such as 'distill:1.5B' or a share such as 'distill:0.1'",
                         argument="variants") from None
    n = value * spec.params.magnitude if value < 1 else value
    if n >= spec.params.magnitude:
        raise InputError(f"{variant!r}: a smaller model than {spec.id}'s {spec.params.magnitude:.3g} parameters",
                         argument="variants")
    return n


def _is_size(text: str) -> bool:
    """'8B', '1.5e9' name a size; '0.5' (below 1) is a ratio of weights pruned."""
    try:
        return parse_count(text, "variants") >= 1.0
    except CostModelError:
        return False


def _row(name: str, kind: str, params: float, training, serving: dict, loss: float | None, note: str) -> dict:
    est, gpus = serving["estimate"], serving["gpus"]
    per_m = est.cost_per_million_tokens
    return {
        "variant": name, "kind": kind, "params": params, "serve_dtype": est.dtype,
        "train_flops_FLOP": training["flops"], "train_gpu_hours_h": training["hours"], "train_cost_USD": training["cost"],
        "serve_gpus": gpus, "ttft_ms": est.ttft.to("ms").magnitude, "tpot_ms": est.tpot.to("ms").magnitude,
        "memory_per_gpu_GiB": est.memory_per_gpu.to("GiB").magnitude,
        "cost_per_million_tokens_USD": None if per_m is None else per_m.to("USD").magnitude,
        "energy_per_request_Wh": est.energy.to("Wh").magnitude, "predicted_loss": loss, "note": note,
    }


def _training(est) -> dict:
    cost = est.cost
    return {"flops": est.flops.magnitude, "hours": est.gpu_hours.to("hour").magnitude,
            "cost": None if cost is None else cost.to("USD").magnitude}


def _plus(a: dict, b: dict) -> dict:
    return {k: (None if a[k] is None or b[k] is None else a[k] + b[k]) for k in a}


@one_value_keywords("variants")
def compare_variants(model: str | ModelSpec, variants: Iterable[str] | None = None, *, hardware: str = "h100-sxm5-80gb",
                     train_hardware: str | None = None, train_gpus: int = 1024, prompt_tokens: int = 512,
                     output_tokens: int = 256, batch_size: int = 8, law: str = "besiroglu2024",
                     retrain_tokens: str | float = "94B", region: str | None = None) -> Any:
    """The model beside its variants (see the module docstring): training cost to make each,
    serving on ``hardware`` (the fewest power-of-two devices that hold it), memory, energy per
    request, and predicted loss where a law applies. Returns a pandas DataFrame with
    ``df.attrs["units"]``.

    >>> df = compare_variants("gpt2-xl", ["full", "w4a16", "scratch:0.1"])
    >>> list(df.variant)
    ['full', 'w4a16', 'scratch:0.1']
    """
    import pandas as pd

    spec = get_model(model)
    the_law = get_law(law)
    train_hw = train_hardware or hardware
    tokens = None if spec.training_tokens is not None or spec.kind not in _LANGUAGE else \
        CHINCHILLA_TOKENS_PER_PARAM * spec.params.magnitude
    full_run = estimate_training(spec, tokens=tokens, hardware=train_hw, n_gpus=train_gpus, region=region)
    full = _training(full_run)
    traffic: dict[str, Any] = dict(prompt_tokens=prompt_tokens, output_tokens=output_tokens, batch_size=batch_size,
                                   region=region)
    language = spec.kind in _LANGUAGE and full_run.tokens is not None
    d_full = full_run.tokens.magnitude if full_run.tokens is not None else None
    rows = []
    chosen = entries(variants, "variants", what="variants", example="variants such as ['w4a16', '2:4']",
                     allow_empty=True) if variants is not None else []
    for variant in chosen or list(DEFAULT_VARIANTS):
        name, _, arg = str(variant).partition(":")
        name = name.strip().lower()
        if name == "full":
            est, gpus = serve(spec, hardware=hardware, **traffic)
            loss = float(the_law.loss(spec.params.magnitude, d_full)) if language and spec.kind == "dense-decoder" else None
            rows.append(_row(variant, "full", spec.params.magnitude, full, {"estimate": est, "gpus": gpus}, loss,
                             "as published"))
        elif name in SERVING_DTYPES or name in ("int8", "int4"):
            est, gpus = serve(spec, hardware=hardware, dtype=name, **traffic)
            rows.append(_row(variant, "quantised", spec.params.magnitude, full, {"estimate": est, "gpus": gpus}, None,
                             "post-training quantisation: no training added; quality: no law applies"))
        elif name == "prune" and _is_size(arg):
            if not language:
                raise InputError(f"{variant!r}: structured pruning is for language models; {spec.id} is a "
                                 f"{spec.kind}", argument="variants")
            n = _size(arg, spec, variant)
            d = parse_count(retrain_tokens, "retrain_tokens")
            run = estimate_training(params=n, tokens=d, hardware=train_hw, n_gpus=train_gpus, region=region,
                                    teacher=spec.id)
            est, gpus = serve(params=n, hardware=hardware, **traffic)
            rows.append(_row(variant, "pruned", n, _plus(full, _training(run)), {"estimate": est, "gpus": gpus}, None,
                             f"pruned to {n:.3g} parameters, retrained by distillation on {d:.3g} tokens; quality: "
                             "no law applies"))
        elif name in ("2", "prune") or variant == "2:4":
            prune = "2:4" if variant == "2:4" else arg
            est, gpus = serve(spec, hardware=hardware, prune=prune, **traffic)
            note = est.warnings[-1] if est.warnings else "2:4 sparsity, one-shot pruning: no training added"
            rows.append(_row(variant, "pruned", spec.params.magnitude, full, {"estimate": est, "gpus": gpus}, None, note))
        elif name in ("distill", "scratch"):
            if not language:
                raise InputError(f"{variant!r}: students and smaller runs are for language models with known "
                                 f"tokens; {spec.id} is a {spec.kind}", argument="variants")
            n = _size(arg, spec, variant)
            d = CHINCHILLA_TOKENS_PER_PARAM * n
            run = estimate_training(params=n, tokens=d, hardware=train_hw, n_gpus=train_gpus, region=region,
                                    teacher=spec.id if name == "distill" else None)
            est, gpus = serve(params=n, hardware=hardware, **traffic)
            training = _plus(full, _training(run)) if name == "distill" else _training(run)
            loss = float(the_law.loss(n, d)) if name == "scratch" else None
            note = (f"student of {n:.3g} parameters on {d:.3g} tokens, {spec.id} as teacher; quality: no law applies"
                    if name == "distill" else f"{n:.3g} parameters on {d:.3g} tokens (20 per parameter)")
            rows.append(_row(variant, "distilled" if name == "distill" else "scratch", n, training,
                             {"estimate": est, "gpus": gpus}, loss, note))
        else:
            raise InputError(f"{variant!r} is not a variant; expected full, a format ({', '.join(SERVING_DTYPES)}), "
                             "2:4, prune:0.5, distill:1.5B or scratch:1.5B", argument="variants")
    df = pd.DataFrame(rows)
    df.attrs["units"] = {"params": "", "train_flops_FLOP": "FLOP", "train_gpu_hours_h": "hour", "train_cost_USD": "USD",
                         "ttft_ms": "ms", "tpot_ms": "ms", "memory_per_gpu_GiB": "GiB",
                         "cost_per_million_tokens_USD": "USD", "energy_per_request_Wh": "Wh",
                         "predicted_loss": "nat/token"}
    return df
