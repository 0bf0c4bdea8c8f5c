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
                                               "step-time model's MFU."))


def _render_optimal(records: list[dict], r, first_note: str) -> str:
    table = [[c["choice"], fmt.count(c["params"]), fmt.count(c["tokens"]), fmt.number(c["tokens"] / c["params"]),
              fmt.number(c["loss"], 5), fmt.number(c["flops_FLOP"]), fmt.duration(c["wall_time_days"] * 86400.0),
              fmt.money(c["cost_USD"]), fmt.number(c["lifetime_flops_FLOP"]), fmt.money(c["serving_cost_USD"])]
             for c in records]
    notes = [first_note]
    if r.epochs is not None:
        notes.append(f"Data-constrained: {fmt.number(r.epochs, 2)} epochs of the unique data, worth "
                     f"{fmt.count(r.effective_tokens.magnitude)} fresh tokens (Muennighoff et al. 2023).")
    if r.lifetime is not None:
        notes.append("Lifetime-optimal: the same loss for the fewest training + serving FLOPs (2 N per served "
                     "token; Sardana et al. 2023). Serve cost: on-demand price, 512 in / 256 out, batch 8.")
        over = r.lifetime.budget_used - 1.0
        if over > 1e-6:
            notes.append(f"The lifetime-optimal model's training exceeds the training budget by "
                         f"{fmt.number(100 * over, 2)}%; the saving comes from serving.")
    header = ["choice", "params", "tokens", "tokens/param", "loss", "train FLOP", "wall time", "train cost",
              "train+serve FLOP", "serve cost"]
    return fmt.table(table, header) + "\n" + "\n".join(notes)


def _record(name, r) -> dict:
    t = r.training
    return {"choice": name, "params": r.params.magnitude, "tokens": r.tokens.magnitude, "loss": r.loss,
            "flops_FLOP": r.flops.magnitude, "gpu_hours_h": t.gpu_hours.to("hour").magnitude,
            "wall_time_days": t.wall_time.to("day").magnitude,
            "cost_USD": None if t.cost is None else t.cost.to("USD").magnitude,
            "energy_MWh": t.energy.to("MWh").magnitude, "budget_used": r.budget_used,
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
        click.echo(_render_sizes(df, law, hardware, n_gpus))


def _render_sizes(df, law: str, hardware: str, n_gpus: int) -> str:
    table = [[fmt.count(r.params), fmt.count(r.tokens), fmt.number(r.tokens_per_param), fmt.number(r.loss, 5),
              fmt.money(r.cost_USD), "yes" if r.fits else "no" if r.min_gpus is None or r.min_gpus != r.min_gpus else f"no (needs {int(r.min_gpus):,})", str(r.serve_gpus),
              fmt.duration(r.tpot_ms / 1e3), fmt.money(r.cost_per_million_tokens_USD)] for r in df.itertuples()]
    text = fmt.table(table, ["params", "tokens", "tokens/param", "loss", "train cost", f"fits {n_gpus:,} GPUs",
                             "serve GPUs", "TPOT", "$/M output tokens"])
    return text + "\n" + "\n".join(_size_notes(df, law, hardware, n_gpus))


def _size_notes(df, law: str, hardware: str, n_gpus: int) -> list[str]:
    from costmodel.planning import LOSS_PRECISION

    best = df[df.best]
    sizes = [fmt.count(n) for n in best.params]
    if len(best) > 1:
        verdict = (f"a tie between {', '.join(sizes[:-1])} and {sizes[-1]} parameters ({law}; losses within "
                   f"{LOSS_PRECISION:g} nats, the law's precision).")
    elif best.params.iloc[0] == df.params.max():
        verdict = (f"{sizes[0]} parameters, the largest size tried ({law}); a larger one may do better still.")
    else:
        verdict = (f"{sizes[0]} parameters ({law}); beyond it extra parameters cost more to train and serve and "
                   "lower the loss no further.")
    notes = [f"Lowest predicted loss: {verdict}"]
    too_big = [fmt.count(n) for n in df.params[~df.fits]]
    if too_big:
        one = len(too_big) == 1
        notes.append(f"{', '.join(too_big)} do{'es' if one else ''} not fit in the memory of {n_gpus:,} x {hardware}; "
                     f"training {'it' if one else 'them'} needs more devices (the fits column).")
    return notes
