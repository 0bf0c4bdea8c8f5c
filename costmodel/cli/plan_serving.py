"""``costmodel plan-serving``: the cheapest replicas, layout and precision that serve a rate within p99 targets."""

from __future__ import annotations

import math

import click

from . import format as fmt
from .options import PRICE, command, emit_json, json_option, profile_option
from .types import SERVING_DTYPE, WHOLE, Count, Quantity

TOKENS = Count(allow_zero=True)
RATE = Quantity("rate", "1/s")
TARGET = Quantity("time", "s")


@command("plan-serving")
@click.argument("model")
@click.option("--hardware", "hardware", metavar="ID", multiple=True, required=True,
              help="Device type to consider; repeat it (or give ids with commas) to compare. Example: --hardware h100 "
                   "--hardware l40s")
@click.option("--rate", type=RATE, required=True, help="Total Poisson request rate (default unit 1/s). Example: 12/s")
@click.option("--prompt", "prompt_tokens", type=TOKENS, default=512, show_default=True, help="Prompt tokens per request.")
@click.option("--output", "output_tokens", type=TOKENS, default=256, show_default=True, help="Output tokens per request.")
@click.option("--ttft-p99", "ttft_p99", type=TARGET, help="p99 time-to-first-token target (default unit s). Example: 1s")
@click.option("--tpot-p99", "tpot_p99", type=TARGET, help="p99 time-per-output-token target (default unit s). Example: 50ms")
@click.option("--dtype", type=SERVING_DTYPE, help="Pin the serving format (default: search bf16, fp8, w8a16, w4a16).")
@click.option("--engine", metavar="ENGINE", help="Pin the serving runtime (default: the device class's usual one).")
@click.option("--max-devices", type=WHOLE, default=64, show_default=True, help="Most devices in one replica.")
@click.option("--region", metavar="ID", help="Grid region for carbon intensity and PUE. Example: --region france")
@click.option("--price", "price_per_gpu_hour", type=PRICE,
              help="Price per device-hour for every device type (default unit USD/h). Example: --price 2.5")
@click.option("--disaggregate", is_flag=True,
              help="Also search separate prefill and decode pools (the KV cache sent between them); chosen only "
                   "where cheaper.")
@json_option
@profile_option
def plan_serving(model, hardware, as_json, **options):
    """The cheapest deployment of MODEL that serves --rate within the p99 targets: replicas,
    devices per replica, batch limit, precision and engine, with cost per million tokens,
    p99s, headroom and the runners-up.

    Example: costmodel plan-serving llama-2-70b --hardware h100 --hardware l40s --rate 12/s --ttft-p99 1s --tpot-p99 50ms
    """
    import costmodel

    ids = [h.strip() for item in hardware for h in item.split(",") if h.strip()]
    options = {k: v for k, v in options.items() if v is not None}
    plan = costmodel.plan_serving(model, hardware=ids, **options)
    if as_json:
        emit_json(plan.to_dict())
    else:
        click.echo(render(plan))


def render(plan) -> str:
    b = plan.best
    lines = [(f"Serving plan for {plan.model}: {fmt.number(plan.rate.to('1/s').magnitude)} requests/s, "
             f"{plan.prompt_tokens} in / {plan.output_tokens} out ({_targets(plan)})"),
             (f"  cheapest     {b.replicas}{' decode' if b.prefill else ''} replica(s) x {b.devices_per_replica} "
              f"{b.hardware} ({b.layout}), {b.dtype}, {b.engine}, up to {b.batch_limit} requests in flight per replica"),
             *_prefill_pool(b),
             (f"  cost         {fmt.money(_usd(b.cost_per_million_input_tokens))} per M input tokens, "
             f"{fmt.money(_usd(b.cost_per_million_output_tokens))} per M output tokens "
             f"({fmt.money(_usd(b.cost_per_hour, 'USD/h'))}/h)"),
             f"  p99 TTFT     {_ms(b.ttft_p99)}{_vs(plan.ttft_p99)}",
             f"  p99 TPOT     {_ms(b.tpot_p99)}{_vs(plan.tpot_p99)}",
             (f"  headroom     {_share(b.headroom)} (each replica sustains {fmt.number(b.sustainable_rate.magnitude)} "
             f"requests/s within the targets)"),
             f"  energy       {fmt.energy(_usd(b.energy_per_output_token, 'J'))} per output token"]
    if len(plan.by_hardware) > 1:
        lines.append("  by device    " + ", ".join(f"{o.hardware} {fmt.money(_usd(o.cost_per_hour, 'USD/h'))}/h"
                                                for o in plan.by_hardware) + f" (cheapest: {plan.by_hardware[0].hardware})")
    if plan.runners_up:
        lines += ["", "Runners-up:", _table(plan.runners_up)]
    if plan.notes:
        lines += ["", "Notes:", *(f"  {n}" for n in plan.notes)]
    return "\n".join(lines)


def _prefill_pool(b) -> list[str]:
    """The prefill pool of a disaggregated deployment, one line (none when colocated)."""
    if b.prefill is None:
        return []
    p = b.prefill
    return [f"  prefill pool {p.replicas} replica(s) x {p.devices_per_replica} {p.hardware} ({p.layout}), one prompt "
            f"at a time; KV cache to the decode pool in {_ms(b.kv_transfer)} per request (in TTFT)"]


def _targets(plan) -> str:
    parts = [f"p99 {k} <= {_ms(q)}" for k, q in (("TTFT", plan.ttft_p99), ("TPOT", plan.tpot_p99)) if q is not None]
    return ", ".join(parts) or "no latency targets: sustainable rate only"


def _vs(target) -> str:
    return "" if target is None else f" (target {_ms(target)})"


def _ms(q) -> str:
    return fmt.duration(q.to("s").magnitude)


def _usd(q, unit: str = "USD"):
    return None if q is None else float(q.to(unit).magnitude)


def _share(x: float) -> str:
    return f"{x:.0%}" if math.isfinite(x) else "-"


def _table(options) -> str:
    rows = [[o.hardware, o.dtype, o.layout, str(o.replicas), str(o.batch_limit), fmt.money(_usd(o.cost_per_hour, "USD/h")),
             fmt.money(_usd(o.cost_per_million_output_tokens)), _ms(o.ttft_p99), _ms(o.tpot_p99), _share(o.headroom)]
            for o in options]
    return fmt.table(rows, ["hardware", "dtype", "layout", "replicas", "batch", "USD/h", "per M out", "p99 TTFT",
                            "p99 TPOT", "headroom"])
