"""``costmodel compare``: do bigger models cost more? Training and serving, side by side."""

from __future__ import annotations

import click

from costmodel.errors import InputError

from . import format as fmt
from .options import command, csv_option, emit_csv, emit_json, hardware_option, json_option
from .types import WHOLE, Count

TOKENS = Count(allow_zero=True)

DEFAULT_MODELS = "gpt2,gpt2-xl,gpt3-175b,llama-2-70b,llama-3.1-405b,gpt4"


def _ranged(r: dict, key: str, style, scale: float = 1.0) -> str:
    """A row's figure and its ``_low``/``_high`` ends in ``style``, after multiplying by ``scale``."""
    value, lo, hi = (r.get(k) for k in (key, f"{key}_low", f"{key}_high"))
    return style(*(None if v is None else v * scale for v in (value, lo, hi)))


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
@click.option("--variants", is_flag=False, flag_value="default", default=None, metavar="[VARIANT,...]",
              help="Put each model beside its variants: w4a16, w8a16, w8a8, fp8, 2:4, prune:0.5, prune:35B, "
                   "distill:1.5B, scratch:1.5B (alone: a default set). Example: --models gpt2-xl --variants")
@csv_option
@json_option
def compare(models, hardware, n_gpus, serve_hardware, prompt_tokens, output_tokens, batch_size, region, variants,
            as_csv, as_json):
    """Do bigger models cost more? Training and serving cost from GPT-2 to GPT-4.

    Training runs on --gpus x --hardware at the step-time model's MFU (typical tuning, the fastest
    layout that fits) on each model's default data, the rule `costmodel train` uses: the
    catalog's tokens, or its samples for image and tabular models; 20 tokens per parameter for a
    language model with none reported. Serving runs on --serve-hardware.

    Example: costmodel compare --hardware a100-sxm4-80gb --gpus 2048 --region us
    """
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise InputError("give at least one catalog id, e.g. --models gpt2,llama-2-70b", argument="models")
    setup = (hardware, n_gpus, serve_hardware, prompt_tokens, output_tokens, batch_size, region)
    if variants is not None:
        from .variants import emit, variant_rows

        emit(variant_rows(names, variants, *setup), as_json, as_csv, hardware, n_gpus, serve_hardware)
        return
    from costmodel import compare_models

    rows = compare_models(names, hardware=hardware, n_gpus=n_gpus, serve_hardware=serve_hardware,
                          prompt_tokens=prompt_tokens, output_tokens=output_tokens, batch_size=batch_size,
                          region=region)
    if as_json:
        emit_json(rows)
    elif as_csv:
        emit_csv(rows)
    else:
        click.echo(render(rows, *setup))


MARKS = {"catalog tokens": "", "catalog samples": "", "20 tokens per parameter (Hoffmann et al. 2022)": "*"}


def _data(r: dict) -> str:
    if r["tokens"] is None:
        return f"{fmt.count(r['samples'])} samples"
    return f"{fmt.count(r['tokens'])} tokens{MARKS.get(r['workload'], '')}"


def render(rows, hardware, gpus, serve_hardware, prompt, output, batch, region) -> str:
    table = [[r["model"], fmt.count(r["params"]), _data(r), fmt.number(r["flops_FLOP"]),
              _ranged(r, "gpu_hours_h", lambda *v: fmt.plain(*v, how=fmt.count)),
              _ranged(r, "wall_time_days", fmt.duration, 86400.0), fmt.energy(r["energy_MWh"] * 3.6e9),
              fmt.mass(r["co2e_t"] * 1e6), _ranged(r, "cost_USD", fmt.money), str(r["serve_gpus"]),
              "-" if r["serve_rate_per_s"] is None else f"{r['serve_rate_per_s']:,.3g}/s",
              fmt.duration(r["ttft_ms"] / 1e3), fmt.duration(r["tpot_ms"] / 1e3),
              "-" if r["cost_per_million_input_tokens_USD"] is None else fmt.money(r["cost_per_million_input_tokens_USD"]),
              _ranged(r, "cost_per_million_tokens_USD", fmt.money)] for r in rows]
    header = ["model", "params", "training data", "FLOP", "GPU-hours", "wall time", "energy", "CO2e", "train cost",
              "serve GPUs", "rate", "TTFT", "TPOT", "$/M input", "$/M output"]
    notes = [
        f"Training: {gpus} x {hardware}, MFU from the step-time model (typical tuning), "
        f"{region or 'world-average grid, cloud PUE 1.10'}, on-demand cloud price.",
        f"Serving: {serve_hardware}, {fmt.count(prompt)} prompt / {fmt.count(output)} output tokens, at the largest "
        "Poisson rate per replica that meets p99 TTFT 1 s and p99 TPOT 50 ms (mean TTFT and TPOT shown; "
        f"batch {batch} where no rate does); cost per million input and output tokens at on-demand price.",
    ]
    rules = [f"{MARKS.get(rule, '')} {rule}: {', '.join(r['model'] for r in rows if r['workload'] == rule)}".lstrip()
             for rule in dict.fromkeys(r["workload"] for r in rows)]
    notes.append(f"Training data: {'; '.join(rules)}.")
    estimates = [r["model"] for r in rows if r["estimate"]]
    if estimates:
        notes.append(f"{', '.join(estimates)}: size and data are estimates (see `costmodel models show`).")
    notes.append("Ranges in brackets (low-high); energy and CO2e ranges are in --json.")
    return fmt.table(table, header) + "\n" + "\n".join(notes)
