"""``costmodel compare --variants``: are larger models always better? A model beside its
quantised, pruned and distilled variants and a smaller model from scratch."""

from __future__ import annotations

import click

from . import format as fmt
from .options import emit_csv, emit_json


def variant_rows(models: list[str], variants: str | None, hardware: str, n_gpus: int, serve_hardware: str,
                 prompt_tokens: int, output_tokens: int, batch_size: int, region: str | None) -> list[dict]:
    """One row per (model, variant), from :func:`costmodel.compare_variants`."""
    from costmodel import compare_variants

    chosen = None if variants in (None, "", "default") else [v.strip() for v in variants.split(",") if v.strip()]
    rows = []
    for model in models:
        df = compare_variants(model, chosen, hardware=serve_hardware, train_hardware=hardware, train_gpus=n_gpus,
                              prompt_tokens=prompt_tokens, output_tokens=output_tokens, batch_size=batch_size,
                              region=region)
        rows += [{"model": model, **row} for row in df.to_dict(orient="records")]
    return rows


def _loss(value) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def render(rows: list[dict], hardware: str, gpus: int, serve_hardware: str) -> str:
    table = [[r["model"], r["variant"], fmt.count(r["params"]), r["serve_dtype"], fmt.money(r["train_cost_USD"]),
              str(r["serve_gpus"]), fmt.duration(r["ttft_ms"] / 1e3), fmt.duration(r["tpot_ms"] / 1e3),
              fmt.size(r["memory_per_gpu_GiB"] * 2**30), fmt.money(r["cost_per_million_tokens_USD"]),
              fmt.energy(r["energy_per_request_Wh"] * 3600.0), _loss(r["predicted_loss"])] for r in rows]
    header = ["model", "variant", "params", "format", "cost to make", "serve GPUs", "TTFT", "TPOT", "memory/GPU",
              "$/M output tokens", "energy/request", "predicted loss"]
    notes = [f"Training on {gpus} x {hardware}; serving on {serve_hardware}. The cost to make a variant includes the "
             "full model's run where the variant derives from it (quantising and one-shot pruning add none).",
             "Predicted loss: the Besiroglu et al. 2024 law, only for dense language models trained from scratch; "
             "'-' means no law or published figure applies (never invented)."]
    notes += [f"{r['model']} {r['variant']}: {r['note']}" for r in rows if r["kind"] in ("pruned", "distilled")]
    return fmt.table(table, header) + "\n" + "\n".join(notes)


def emit(rows: list[dict], as_json: bool, as_csv: bool, hardware: str, gpus: int, serve_hardware: str) -> None:
    if as_json:
        emit_json(rows)
    elif as_csv:
        emit_csv(rows)
    else:
        click.echo(render(rows, hardware, gpus, serve_hardware))
