"""``costmodel optimal`` and ``costmodel compare-sizes``: planning with scaling laws."""

from __future__ import annotations

import json

import click

from . import format as fmt
from .options import usage_errors

LAWS = ["besiroglu2024", "hoffmann2022", "kaplan2020"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--budget", required=True,
              help="Compute, money, device-hours or energy. Example: --budget '$10M' or '1e24 FLOP' or '500000 GPU*h'")
@click.option("--hardware", default="h100-sxm5-80gb", show_default=True, help="Training hardware profile id.")
@click.option("--gpus", default=1024, show_default=True, type=click.IntRange(1), help="Training devices.")
@click.option("--law", type=click.Choice(LAWS), default="besiroglu2024", show_default=True, help="Loss law.")
@click.option("--unique-tokens", help="Unique training data available (count). Example: --unique-tokens 500B")
@click.option("--inference-tokens", help="Lifetime tokens to serve (count): adds the lifetime-optimal model. "
                                         "Example: --inference-tokens 10T")
@click.option("--price", "price_per_gpu_hour", help="Price per device-hour (default unit USD/h). Example: --price 2.5")
@click.option("--json", "as_json", is_flag=True, help="Write only JSON to stdout.")
@usage_errors
def optimal(budget, hardware, gpus, law, unique_tokens, inference_tokens, price_per_gpu_hour, as_json):
    """The loss-minimising model size and data for a budget, and what training it costs.

    Example: costmodel optimal --budget '$10M' --hardware h100-sxm5-80gb --inference-tokens 5T
    """
    from ..scaling import compute_optimal

    options = {} if price_per_gpu_hour is None else {"price_per_gpu_hour": price_per_gpu_hour}
    r = compute_optimal(budget, hardware=hardware, n_gpus=gpus, law=law, unique_tokens=unique_tokens,
                        inference_tokens=inference_tokens, **options)
    rows = [("compute-optimal", r)] + ([("lifetime-optimal", r.lifetime)] if r.lifetime is not None else [])
    records = [_record(name, x) for name, x in rows]
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    table = [[c["choice"], fmt.count(c["params"]), fmt.count(c["tokens"]), fmt.number(c["tokens"] / c["params"]),
              f"{c['loss']:.4f}", f"{c['train_flops_FLOP']:.3g}", fmt.number(c["wall_days"]),
              "-" if c["train_cost_USD"] is None else fmt.count(c["train_cost_USD"]),
              "-" if c["lifetime_flops_FLOP"] is None else f"{c['lifetime_flops_FLOP']:.3g}",
              "-" if c["serving_cost_USD"] is None else fmt.count(c["serving_cost_USD"])] for c in records]
    click.echo(fmt.table(table, ["choice", "params", "tokens", "tokens/param", "loss", "train FLOP", "days",
                                 "train USD", "train+serve FLOP", "serve USD"]))
    notes = [f"Law: {law}; training on {gpus} x {hardware} with the calibrated MFU."]
    if r.epochs is not None:
        notes.append(f"Data-constrained: {r.epochs:.1f} epochs of the unique data, worth "
                     f"{fmt.count(r.effective_tokens.magnitude)} fresh tokens (Muennighoff et al. 2023).")
    if r.lifetime is not None:
        notes.append("Lifetime-optimal: the same loss for the fewest training + serving FLOPs (2 N per served "
                     "token; Sardana et al. 2023). Serve USD: H100 on-demand, 512 in / 256 out, batch 8.")
    click.echo("\n".join(notes))


def _record(name, r) -> dict:
    t = r.training
    return {"choice": name, "params": r.params.magnitude, "tokens": r.tokens.magnitude, "loss": r.loss,
            "train_flops_FLOP": r.flops.magnitude, "gpu_hours_h": t.gpu_hours.to("hour").magnitude,
            "wall_days": t.wall_time.to("day").magnitude,
            "train_cost_USD": None if t.cost is None else t.cost.to("USD").magnitude,
            "energy_MWh": t.energy.to("MWh").magnitude,
            "lifetime_flops_FLOP": None if r.lifetime_flops is None else r.lifetime_flops.magnitude,
            "serving_cost_USD": None if r.serving_cost is None else r.serving_cost.to("USD").magnitude}


@click.command("compare-sizes", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--budget", help="Budget every size spends (compute, money, device-hours or energy). Example: '$10M'")
@click.option("--tokens", help="Or a fixed amount of training data for every size (count). Example: 2T")
@click.option("--sizes", default="1B,7B,30B,70B,200B,1T", show_default=True, help="Comma-separated parameter counts.")
@click.option("--hardware", default="h100-sxm5-80gb", show_default=True, help="Training hardware profile id.")
@click.option("--gpus", default=1024, show_default=True, type=click.IntRange(1), help="Training devices.")
@click.option("--law", type=click.Choice(LAWS), default="besiroglu2024", show_default=True, help="Loss law.")
@click.option("--csv", "as_csv", is_flag=True, help="Write the table as CSV to stdout.")
@click.option("--json", "as_json", is_flag=True, help="Write only JSON to stdout.")
@usage_errors
def compare_sizes_cmd(budget, tokens, sizes, hardware, gpus, law, as_csv, as_json):
    """Is bigger better? Loss, training cost and serving cost per model size.

    Example: costmodel compare-sizes --budget '$10M' --sizes 7B,30B,70B,200B
    """
    from ..scaling import compare_sizes

    df = compare_sizes(budget, tokens=tokens, sizes=[s for s in sizes.split(",") if s.strip()], law=law,
                       hardware=hardware, n_gpus=gpus)
    if as_json:
        click.echo(df.to_json(orient="records"))
    elif as_csv:
        click.echo(df.to_csv(index=False), nl=False)
    else:
        table = [[fmt.count(r.params), fmt.count(r.tokens), fmt.number(r.tokens_per_param), f"{r.loss:.4f}",
                  "-" if r.train_cost_USD is None else fmt.count(r.train_cost_USD), str(r.serve_gpus),
                  fmt.number(r.tpot_ms), "-" if r.usd_per_million_tokens is None else fmt.number(r.usd_per_million_tokens)]
                 for r in df.itertuples()]
        click.echo(fmt.table(table, ["params", "tokens", "tokens/param", "loss", "train USD", "serve GPUs",
                                     "TPOT ms", "USD/M tok"]))
        best = df.loc[df.loss.idxmin()]
        click.echo(f"Lowest predicted loss: {fmt.count(best.params)} parameters ({law}); beyond it extra "
                   "parameters cost more to train and serve and lower the loss no further.")
