"""The report's planning sections: is bigger better? (:func:`costmodel.compare_sizes` and
:func:`costmodel.compute_optimal`) and the compression levers (:func:`costmodel.compare_variants`)."""

from __future__ import annotations

import math

from ..cli import format as fmt
from .content import Figure, Options, Panel, Point, Section, Table

__all__ = ["sizes_section", "variants_section"]


def _loss(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f} nat/token"


def _money(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.money(value)


def _usd(q) -> float | None:
    return None if q is None else float(q.to("USD").magnitude)


def _budget(budget) -> str:
    """The budget as given (``'$10M'``), or a Quantity written as the CLI writes it."""
    if isinstance(budget, str):
        return budget
    if budget.check("[currency]"):
        return fmt.money(float(budget.to("USD").magnitude))
    return fmt.qty(budget)


def _optima_rows(opt) -> tuple[tuple[str, ...], ...]:
    rows = []
    for name, r in (("compute-optimal", opt), ("lifetime-optimal", opt.lifetime)):
        rows.append((name, fmt.count(r.params.magnitude), f"{fmt.count(r.tokens.magnitude)} tokens", _loss(r.loss),
                     fmt.ranged(r.training, "cost", "USD", fmt.money), _money(_usd(r.serving_cost)),
                     _money(_usd(r.lifetime_cost))))
    return tuple(rows)


def sizes_section(o: Options) -> Section:
    """Predicted loss, training and lifetime cost per size at one budget, the optima marked."""
    from ..planning import compare_sizes, compute_optimal

    df = compare_sizes(o.budget, sizes=o.sizes, hardware=o.hardware, n_gpus=o.n_gpus, serve_hardware=o.serve_hardware,
                       prompt_tokens=o.prompt_tokens, output_tokens=o.output_tokens, batch_size=o.batch_size,
                       inference_tokens=o.inference_tokens, region=o.region)
    opt = compute_optimal(o.budget, hardware=o.hardware, n_gpus=o.n_gpus, inference_tokens=o.inference_tokens,
                          serve_hardware=o.serve_hardware, region=o.region)
    records, budget = df.to_dict(orient="records"), _budget(o.budget)
    rows = tuple((fmt.count(r["params"]), f"{fmt.count(r['tokens'])} tokens", fmt.number(r["tokens_per_param"]),
                  _loss(r["loss"]), "yes" if r["fits"] else f"no (needs {r['min_gpus']})", _money(r["cost_USD"]),
                  _money(r["cost_per_million_tokens_USD"]), _money(r["serving_cost_USD"]),
                  _money(r["lifetime_cost_USD"]), "best" if r["best"] else "") for r in records)
    sizes = Table(caption=f"Every size spends {budget} on {o.n_gpus:,} x {o.hardware}; served on {o.serve_hardware} at "
                          f"{o.prompt_tokens} prompt / {o.output_tokens} output tokens, batch {o.batch_size}",
                  key="sizes-table",
                  header=("params", "tokens", "tokens per param", "predicted loss", "fits", "training cost",
                          "$ per million output tokens", f"serving {o.inference_tokens} tokens", "lifetime cost",
                          "lowest loss"), rows=rows)
    optima = Table(caption=f"The optimal sizes for {budget} and {o.inference_tokens} tokens served", key="optima-table",
                   header=("optimum", "params", "data", "predicted loss", "training cost", "serving cost",
                           "lifetime cost"), rows=_optima_rows(opt),
                   notes=("Compute-optimal: the lowest loss the budget buys (Besiroglu et al. 2024 law). "
                          "Lifetime-optimal: the same loss for the fewest training plus serving FLOPs, a smaller "
                          "model trained longer (Sardana et al. 2023); its serving is priced at 512 prompt / 256 "
                          "output tokens, batch 8.",))
    lifetime = opt.lifetime
    assert lifetime is not None  # compute_optimal adds it when given inference_tokens
    marks = ((opt.params.magnitude, "compute-optimal"), (lifetime.params.magnitude, "lifetime-optimal"))
    loss = Panel(title="Predicted loss at a fixed budget", xlabel="parameters [count]", ylabel="loss [nat/token]",
                 yscale="linear", marks=marks,
                 points=tuple(Point(label="", x=r["params"], y=r["loss"], series="predicted loss") for r in records))
    cost = Panel(title="Training and lifetime cost", xlabel="parameters [count]", ylabel="cost [USD]", marks=marks,
                 points=tuple(Point(label="", x=r["params"], y=r[key], series=name) for name, key in
                              (("training", "cost_USD"), (f"lifetime ({o.inference_tokens} tokens)",
                                                          "lifetime_cost_USD")) for r in records))
    figure = Figure(title=f"Is bigger better? Sizes at {budget}", panels=(loss, cost), key="sizes-figure",
                    caption=f"Left: predicted loss against parameter count when every size spends {budget}; "
                            "lower is better, and the curve has its minimum near the compute-optimal size. Right: "
                            f"training cost (flat: the budget) and lifetime cost with {o.inference_tokens} tokens "
                            "served, both on log axes; dashed lines mark the compute-optimal and lifetime-optimal "
                            "sizes.")
    intro = (f"At a fixed budget ({budget}), a larger model sees fewer tokens: past the compute-optimal size the "
             f"predicted loss rises again, and serving {o.inference_tokens} tokens costs more the larger the model.",)
    return Section(key="sizes", title="Is bigger better?", intro=intro, tables=(sizes, optima), figures=(figure,))


VARIANT_HEADER = ("variant", "kind", "params", "format", "cost to make", "serve devices", "TTFT", "TPOT",
                  "memory per device", "$ per million output tokens", "energy per request", "predicted loss", "note")


def variants_section(o: Options) -> Section:
    """A model beside its quantised, pruned and distilled variants and a smaller model from scratch."""
    from ..variants import compare_variants

    df = compare_variants(o.variant_model, o.variants, hardware=o.serve_hardware, train_hardware=o.hardware,
                          train_gpus=o.n_gpus, prompt_tokens=o.prompt_tokens, output_tokens=o.output_tokens,
                          batch_size=o.batch_size, region=o.region)
    records = df.to_dict(orient="records")
    rows = tuple((r["variant"], r["kind"], fmt.count(r["params"]), r["serve_dtype"], _money(r["train_cost_USD"]),
                  str(r["serve_gpus"]), fmt.duration(r["ttft_ms"] / 1e3), fmt.duration(r["tpot_ms"] / 1e3),
                  fmt.size(r["memory_per_gpu_GiB"] * 2**30), _money(r["cost_per_million_tokens_USD"]),
                  fmt.energy(r["energy_per_request_Wh"] * 3600.0), _loss(r["predicted_loss"]), r["note"])
                 for r in records)
    table = Table(caption=f"{o.variant_model} and its variants: made on {o.n_gpus:,} x {o.hardware}, served on "
                          f"{o.serve_hardware}", header=VARIANT_HEADER, rows=rows, key="variants-table",
                  notes=("The cost to make a variant includes the full model's run where the variant derives from "
                         "it; quantising and one-shot pruning add none.",
                         "Predicted loss only where the scaling law applies (a dense language model trained from "
                         "scratch); '-' means no law or published figure gives one."))
    panels = tuple(Panel(title=title, xlabel="variant", ylabel=label, xscale="linear",
                         points=tuple(Point(label=r["variant"], x=r["variant"], y=r[key]) for r in records
                                      if r[key] is not None))
                   for key, title, label in (("cost_per_million_tokens_USD", "Serving price",
                                              "$ per million output tokens [USD]"),
                                             ("energy_per_request_Wh", "Energy per request", "energy [Wh]"),
                                             ("train_cost_USD", "Cost to make", "training cost [USD]")))
    figure = Figure(title=f"Compression levers for {o.variant_model}", panels=panels, key="variants-figure",
                    caption=f"Three panels, one marker per variant of {o.variant_model} (log scale): price per "
                            "million output tokens, energy per request and the training cost of making it.")
    intro = (f"The levers beside the full model: quantised formats, 2:4 and unstructured sparsity, a distilled "
             f"student and a smaller model trained from scratch, served at the same operating point "
             f"({o.prompt_tokens} prompt / {o.output_tokens} output tokens, batch {o.batch_size}).",)
    return Section(key="variants", title="Compression levers", intro=intro, tables=(table,), figures=(figure,))
