"""``costmodel compare``: do bigger models cost more? Training and serving, side by side."""

from __future__ import annotations

import click

from . import format as fmt
from .options import command, csv_option, emit_json, hardware_option, json_option
from .types import WHOLE, Count

TOKENS = Count(allow_zero=True)

DEFAULT_MODELS = "gpt2,gpt2-xl,gpt3-175b,llama-2-70b,llama-3.1-405b,gpt4"


def _ranged(r: dict, key: str, how) -> str:
    if r.get(key) is None:
        return "-"
    lo, hi = r.get(f"{key}_low"), r.get(f"{key}_high")
    text = how(r[key])
    return text if lo is None or lo == hi else f"{text} ({how(lo)}-{how(hi)})"


@command()
@click.option("--models", metavar="ID[,...]", default=DEFAULT_MODELS, show_default=True,
              help="Comma-separated catalog ids. Example: --models gpt2,llama-2-70b")
@hardware_option("Training hardware profile. Example: --hardware a100-sxm4-80gb", default="h100-sxm5-80gb",
                 show_default=True)
@click.option("--gpus", "n_gpus", type=WHOLE, default=1024, show_default=True,
              help="Training devices. Example: --gpus 4096")
@click.option("--serve-hardware", metavar="ID", default="h100-sxm5-80gb", show_default=True,
              help="Serving hardware; each model gets the fewest power-of-two devices that hold it.")
@click.option("--prompt", "prompt_tokens", type=TOKENS, default=512, show_default=True,
              help="Prompt tokens per request.")
@click.option("--output", "output_tokens", type=TOKENS, default=256, show_default=True,
              help="Output tokens per request.")
@click.option("--batch", "batch_size", type=WHOLE, default=8, show_default=True, help="Requests served together.")
@click.option("--region", metavar="ID", help="Grid region for carbon intensity and PUE. Example: --region us")
@csv_option
@json_option
def compare(models, hardware, n_gpus, serve_hardware, prompt_tokens, output_tokens, batch_size, region, as_csv,
            as_json):
    """Do bigger models cost more? Training and serving cost from GPT-2 to GPT-4.

    Training runs on --gpus x --hardware with the calibrated MFU and the catalog's reported
    tokens (20 tokens per parameter where none is reported); serving on --serve-hardware.

    Example: costmodel compare --hardware a100-sxm4-80gb --gpus 2048 --region us
    """
    names = [m.strip() for m in models.split(",") if m.strip()]
    setup = (hardware, n_gpus, serve_hardware, prompt_tokens, output_tokens, batch_size, region)
    from costmodel import compare_models

    rows = compare_models(names, hardware=hardware, n_gpus=n_gpus, serve_hardware=serve_hardware,
                          prompt_tokens=prompt_tokens, output_tokens=output_tokens, batch_size=batch_size,
                          region=region)
    if as_json:
        emit_json(rows)
    elif as_csv:
        import csv
        import sys

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        click.echo(render(rows, *setup))


def render(rows, hardware, gpus, serve_hardware, prompt, output, batch, region) -> str:
    table = []
    for r in rows:
        table.append([r["model"], fmt.count(r["params"]), fmt.count(r["tokens"]) + ("*" if "Hoffmann" in r["tokens_source"] else ""),
                      f"{r['train_flops']:.2e}", _ranged(r, "gpu_hours", fmt.count), _ranged(r, "wall_days", fmt.number),
                      fmt.number(r["energy_MWh"]), fmt.number(r["co2e_t"]), _ranged(r, "train_cost_USD", fmt.count),
                      str(r["serve_gpus"]), fmt.number(r["ttft_ms"]), fmt.number(r["tpot_ms"]),
                      _ranged(r, "usd_per_million_tokens", fmt.number)])
    header = ["model", "params", "tokens", "FLOP", "GPU-hours", "days", "MWh", "tCO2e", "train USD",
              "serve GPUs", "TTFT ms", "TPOT ms", "USD/M tok"]
    notes = [
        f"Training: {gpus} x {hardware}, calibrated MFU, {region or 'world-average grid, cloud PUE 1.10'}, "
        "on-demand cloud price.",
        f"Serving: {serve_hardware}, {fmt.count(prompt)} prompt / {fmt.count(output)} output tokens, batch {batch}; "
        "USD per million output tokens at on-demand price.",
        "* tokens not reported: 20 per parameter (Hoffmann et al. 2022). gpt4 is an estimate (catalog notes).",
        "Ranges in brackets (low-high); energy and CO2e ranges are in --json.",
    ]
    return fmt.table(table, header) + "\n" + "\n".join(notes)
