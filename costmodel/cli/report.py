"""``costmodel report``: one self-contained HTML page of training, serving, sizing, compression
and carbon estimates, with the assumptions and sources of every figure."""

from __future__ import annotations

import click

from .options import command, hardware_option
from .types import BUDGET, WHOLE, OutputFile, Quantity, Whole

TOKENS = Whole(allow_zero=True)
RATE = Quantity("rate", "1/s")


@command()
@click.option("--models", metavar="ID[,...]", help="Comma-separated catalog ids (default: linear-regression, "
              "resnet-50, vit-b-16, distilbert-base, gpt2-xl, gpt3-175b, gpt4). Example: --models gpt2,llama-2-70b")
@hardware_option("Training hardware profile (default h100-sxm5-80gb). Example: --hardware a100-sxm4-80gb")
@click.option("--gpus", "n_gpus", type=WHOLE, help="Training devices (default 1024). Example: --gpus 4096")
@click.option("--serve-hardware", metavar="ID", help="Datacenter serving hardware (default h100-sxm5-80gb).")
@click.option("--edge-hardware", metavar="ID[,...]",
              help="Edge devices, one per request (default jetson-orin-nano-super-8gb,apple-a17-pro-gpu).")
@click.option("--prompt", "prompt_tokens", type=TOKENS, help="Prompt tokens per request (default 512).")
@click.option("--output", "output_tokens", type=TOKENS, help="Output tokens per request (default 256).")
@click.option("--batch", "batch_size", type=WHOLE, help="Requests served together in the datacenter (default 8).")
@click.option("--rate", type=RATE, help="Total request rate (default unit 1/s): language models are then served in "
              "the datacenter by the SLA planner's cheapest deployment (costmodel plan-serving) within p99 TTFT 1 s "
              "and p99 TPOT 50 ms (default: one replica at the largest rate within them). Example: --rate 12/s")
@click.option("--variants", metavar="VARIANT[,...]",
              help="Compression levers beside --variant-model (default: full, w8a16, w4a16, 2:4, prune:0.5, "
                   "distill:0.1, scratch:0.1). Example: --variants full,w4a16,distill:1.5B")
@click.option("--variant-model", metavar="ID", help="The model shown beside its variants (default gpt2-xl).")
@click.option("--region", metavar="ID", help="Grid of the training and serving tables (default: world average). "
                                            "Example: --region us")
@click.option("--regions", metavar="ID[,...]", help="Grids the carbon section compares (default world, us, india, "
                                                  "germany, france, quebec).")
@click.option("--budget", type=BUDGET, help="Budget of the 'is bigger better?' section (default $10M).")
@click.option("--out", "out", required=True, type=OutputFile((".html", ".htm")),
              help="The HTML file to write (its folder must exist). Example: --out report.html")
def report(out, **options):
    """Write one self-contained HTML report: training, serving, sizes, compression levers,
    carbon by region, assumptions and sources (needs: pip install 'costmodel[report]').

    The page loads nothing: figures are inline SVG, styles inline. It is written to a temporary
    file beside --out and renamed, so an error leaves no partial file.

    Example: costmodel report --region us --rate 12/s --out report.html
    """
    from costmodel.report import write_report

    given = {k: v for k, v in options.items() if v is not None}
    write_report(out, command="costmodel report", **given)
    click.echo(f"wrote {out}")
