"""``costmodel plan-training``: the device type, count and layout that train a model by a deadline."""

from __future__ import annotations

import click

from . import format as fmt
from .options import PRICE, command, emit_json, json_option, profile_option
from .types import COUNT, DTYPE, WHOLE, Quantity

DEADLINE = Quantity("time", "day", bare=True)
BUDGET_USD = Quantity("usd", "USD")
TIERS = ("typical", "tuned")  # costmodel.steptime.TIERS
OBJECTIVES = ("cost", "time")  # costmodel.planning.training.OBJECTIVES


@command("plan-training")
@click.argument("model", required=False)
@click.option("--params", type=COUNT, help="Total parameters when MODEL is not catalogued (e.g. 70B).")
@click.option("--tokens", type=COUNT, help="Training tokens (default: the catalog's reported figure). Example: 2T")
@click.option("--hardware", metavar="ID[,...]",
              help="Device types to choose from (default: datacenter training GPUs and TPUs with an on-demand "
                   "price). Example: --hardware h100,a100,b200")
@click.option("--deadline", type=DEADLINE,
              help="Longest acceptable wall time (default unit day). Example: --deadline '30 day'")
@click.option("--budget", type=BUDGET_USD, help="Most the run may cost (default unit USD). Example: --budget '$5M'")
@click.option("--objective", type=click.Choice(OBJECTIVES),
              help="What to minimise: cost (default without --budget) or time (default with one).")
@click.option("--max-devices", type=WHOLE, default=65_536, show_default=True,
              help="Most devices of one type to consider.")
@click.option("--tuning", type=click.Choice(TIERS), default="typical", show_default=True,
              help="Engineering tier: typical (most published runs) or tuned (benchmark-class software).")
@click.option("--dtype", type=DTYPE, help="Training precision (bf16, fp16, fp8); devices without it are skipped.")
@click.option("--global-batch", metavar="COUNT",
              help="Tokens (or sequences) per optimizer step. Example: --global-batch '4M token'")
@click.option("--seq-len", type=COUNT, help="Training sequence length in tokens. Example: 4096")
@click.option("--region", metavar="ID", help="Grid region for carbon intensity and PUE. Example: --region france")
@click.option("--price", "price_per_gpu_hour", type=PRICE,
              help="Price per device-hour for every device type (default unit USD/h). Example: --price 2.5")
@json_option
@profile_option
def plan_training(model, params, tokens, hardware, deadline, budget, objective, max_devices, as_json, **options):
    """The cheapest device type, count and layout that trains MODEL by a deadline (with --budget:
    the fastest within it), with time, cost, energy and each other device type's best option.

    Example: costmodel plan-training llama-2-70b --tokens 2T --hardware h100,a100,b200 --deadline '30 day'
    """
    import costmodel
    from costmodel.units import quantity

    options = {k: v for k, v in options.items() if v is not None}
    plan = costmodel.plan_training(model, params=params, tokens=tokens, hardware=hardware, objective=objective,
                                   deadline=None if deadline is None else quantity(deadline, "time"),
                                   budget=budget, max_devices=max_devices, **options)
    if as_json:
        emit_json(plan.to_dict())
    else:
        click.echo(render(plan))


def render(plan) -> str:
    lines = [_headline(plan), *_choice(plan.best), f"  why          {plan.reason}"]
    if len(plan.runners_up):
        title = ("Runners-up (each other device type's best option" if plan.best is not None
                 else "Closest options (each device type's, and what it misses")
        lines += ["", f"{title}; ranges in brackets):", _table(plan.runners_up)]
    if plan.notes:
        lines += ["", "Notes:", *(f"  {n}" for n in plan.notes)]
    return "\n".join(lines)


def _headline(plan) -> str:
    goal = "cheapest" if plan.objective == "cost" else "fastest"
    limits = ([f"deadline {fmt.duration(plan.deadline.to('s').magnitude)}"] if plan.deadline is not None else []) + (
        [f"budget {fmt.money(plan.budget.to('USD').magnitude)}"] if plan.budget is not None else [])
    return f"Training plan ({goal}{', ' + ', '.join(limits) if limits else ''}; up to {plan.max_devices:,} devices)"


def _choice(est) -> list[str]:
    if est is None:
        return ["  choice       none"]
    r = lambda path, unit, style: fmt.ranged(est, path, unit, style)  # noqa: E731
    cost = "- (no price; pass --price)" if est.cost is None else r("cost", "USD", fmt.money)
    return [f"  choice       {est.n_gpus:,} x {est.hardware} ({est.dtype}), {_layout(est.layout)}",
            f"  wall time    {r('wall_time', 's', fmt.duration)}",
            f"  GPU-hours    {r('gpu_hours', 'hour', lambda *v: fmt.plain(*v, unit='h', how=fmt.count))}",
            f"  cost         {cost}",
            f"  energy       {r('energy', 'J', fmt.energy)}",
            f"  CO2e         {r('co2e', 'g', fmt.mass)}"]


def _layout(lay) -> str:
    parts = [f"{k}={lay[k]}" for k in ("tp", "pp", "cp", "ep", "vpp") if lay[k] != 1] or ["data parallel"]
    return (f"{' '.join(parts)}, ZeRO-{lay['zero_stage']}, micro-batch {lay['micro_batch']}, global batch "
            f"{fmt.count(lay['global_batch_tokens'])} tokens, {lay['recompute']} recompute, {lay['tuning']}")


def _table(df) -> str:
    rows = [[r.hardware, f"{r.n_gpus:,}", _layout_short(r), fmt.duration(*(86400.0 * x for x in (
             r.wall_time_days, r.wall_time_days_low, r.wall_time_days_high))),
             fmt.money(*(None if x != x else x for x in (r.cost_USD, r.cost_USD_low, r.cost_USD_high))),
             fmt.energy(r.energy_MWh * 3.6e9), fmt.mass(r.co2e_t * 1e6), r.note or "meets the constraints"]
            for r in df.itertuples()]
    return fmt.table(rows, ["hardware", "devices", "layout", "wall time", "cost", "energy", "CO2e", "note"])


def _layout_short(r) -> str:
    return f"tp{r.tp} pp{r.pp}" + (f" ep{r.ep}" if r.ep != 1 else "") + f" z{r.zero_stage}"
