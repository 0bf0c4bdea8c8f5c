"""``costmodel optimal`` and ``costmodel compare-sizes``: planning with scaling laws."""

from __future__ import annotations

import click

from . import format as fmt
from .options import PRICE, command, csv_option, emit_json, emit_json_frame, hardware_option, json_option
from .types import BUDGET, COUNT, WHOLE, Count, Values

LAWS = ["besiroglu2024", "hoffmann2022", "kaplan2020"]


def _law_option(command):
    return click.option("--law", type=click.Choice(LAWS), default="besiroglu2024", show_default=True,
                        help="Loss law.")(command)


def _training_options(command):
    """The training setup both planning commands share: --hardware and --gpus."""
    command = click.option("--gpus", "n_gpus", type=WHOLE, default=1024, show_default=True,
                           help="Training devices.")(command)
    return hardware_option("Training hardware profile id.", default="h100-sxm5-80gb", show_default=True)(command)


@command()
@click.option("--budget", type=BUDGET, required=True,
              help="Compute, money, device-hours or energy. Example: --budget '$10M' or '1e24 FLOP' or '500000 GPU*h'")
@_training_options
@_law_option
@click.option("--unique-tokens", type=COUNT, help="Unique training data available. Example: --unique-tokens 500B")
@click.option("--inference-tokens", type=Count(allow_zero=True),
              help="Lifetime tokens to serve: adds the lifetime-optimal model. Example: --inference-tokens 10T")
@click.option("--price", "price_per_gpu_hour", type=PRICE,
              help="Price per device-hour (default unit USD/h). Example: --price 2.5")
@json_option
def optimal(budget, hardware, n_gpus, law, unique_tokens, inference_tokens, price_per_gpu_hour, as_json):
    """The loss-minimising model size and data for a budget, and what training it costs.

    Example: costmodel optimal --budget '$10M' --hardware h100-sxm5-80gb --inference-tokens 5T
    """
    from costmodel import compute_optimal

    options = {} if price_per_gpu_hour is None else {"price_per_gpu_hour": price_per_gpu_hour}
    r = compute_optimal(budget, hardware=hardware, n_gpus=n_gpus, law=law, unique_tokens=unique_tokens,
                        inference_tokens=inference_tokens, **options)
    rows = [("compute-optimal", r)] + ([("lifetime-optimal", r.lifetime)] if r.lifetime is not None else [])
    records = [_record(name, x) for name, x in rows]
    if as_json:
        emit_json(records)
    else:
        click.echo(_render_optimal(records, r, f"Law: {law}; training on {n_gpus} x {hardware} with the "
                                               "calibrated MFU."))


def _render_optimal(records: list[dict], r, first_note: str) -> str:
    table = [[c["choice"], fmt.count(c["params"]), fmt.count(c["tokens"]), fmt.number(c["tokens"] / c["params"]),
              f"{c['loss']:.4f}", f"{c['train_flops_FLOP']:.3g}", fmt.number(c["wall_days"]),
              "-" if c["train_cost_USD"] is None else fmt.count(c["train_cost_USD"]),
              "-" if c["lifetime_flops_FLOP"] is None else f"{c['lifetime_flops_FLOP']:.3g}",
              "-" if c["serving_cost_USD"] is None else fmt.count(c["serving_cost_USD"])] for c in records]
    notes = [first_note]
    if r.epochs is not None:
        notes.append(f"Data-constrained: {r.epochs:.1f} epochs of the unique data, worth "
                     f"{fmt.count(r.effective_tokens.magnitude)} fresh tokens (Muennighoff et al. 2023).")
    if r.lifetime is not None:
        notes.append("Lifetime-optimal: the same loss for the fewest training + serving FLOPs (2 N per served "
                     "token; Sardana et al. 2023). Serve USD: H100 on-demand, 512 in / 256 out, batch 8.")
    header = ["choice", "params", "tokens", "tokens/param", "loss", "train FLOP", "days", "train USD",
              "train+serve FLOP", "serve USD"]
    return fmt.table(table, header) + "\n" + "\n".join(notes)


def _record(name, r) -> dict:
    t = r.training
    return {"choice": name, "params": r.params.magnitude, "tokens": r.tokens.magnitude, "loss": r.loss,
            "train_flops_FLOP": r.flops.magnitude, "gpu_hours_h": t.gpu_hours.to("hour").magnitude,
            "wall_days": t.wall_time.to("day").magnitude,
            "train_cost_USD": None if t.cost is None else t.cost.to("USD").magnitude,
            "energy_MWh": t.energy.to("MWh").magnitude,
            "lifetime_flops_FLOP": None if r.lifetime_flops is None else r.lifetime_flops.magnitude,
            "serving_cost_USD": None if r.serving_cost is None else r.serving_cost.to("USD").magnitude}


@command("compare-sizes")
@click.option("--budget", type=BUDGET,
              help="Budget every size spends (compute, money, device-hours or energy). Example: '$10M'")
@click.option("--tokens", type=COUNT, help="Or a fixed amount of training data for every size. Example: 2T")
@click.option("--sizes", type=Values("COUNT"), default="1B,7B,30B,70B,200B,1T", show_default=True,
              help="Comma-separated parameter counts.")
@_training_options
@_law_option
@csv_option
@json_option
def compare_sizes(budget, tokens, sizes, hardware, n_gpus, law, as_csv, as_json):
    """Is bigger better? Loss, training cost and serving cost per model size.

    Example: costmodel compare-sizes --budget '$10M' --sizes 7B,30B,70B,200B
    """
    import costmodel

    if (budget is None) == (tokens is None):
        raise costmodel.InputError("give exactly one of --budget (every size spends it) or --tokens (fixed data)",
                                   argument="budget")
    df = costmodel.compare_sizes(budget, tokens=tokens, sizes=sizes, law=law, hardware=hardware, n_gpus=n_gpus)
    if as_json:
        emit_json_frame(df)
    elif as_csv:
        click.echo(df.to_csv(index=False), nl=False)
    else:
        click.echo(_render_sizes(df, law))


def _render_sizes(df, law: str) -> str:
    table = [[fmt.count(r.params), fmt.count(r.tokens), fmt.number(r.tokens_per_param), f"{r.loss:.4f}",
              "-" if r.train_cost_USD is None else fmt.count(r.train_cost_USD), str(r.serve_gpus),
              fmt.number(r.tpot_ms), "-" if r.usd_per_million_tokens is None else fmt.number(r.usd_per_million_tokens)]
             for r in df.itertuples()]
    best = df.loc[df.loss.idxmin()]
    return (fmt.table(table, ["params", "tokens", "tokens/param", "loss", "train USD", "serve GPUs", "TPOT ms",
                              "USD/M tok"])
            + f"\nLowest predicted loss: {fmt.count(best.params)} parameters ({law}); beyond it extra "
            "parameters cost more to train and serve and lower the loss no further.")
