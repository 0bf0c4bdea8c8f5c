"""``costmodel plot``: training, inference and sweep pictures as PNG, SVG or PDF."""

from __future__ import annotations

import click

from costmodel.plot import LANGUAGE_MODELS  # cheap: matplotlib is imported only when a plot is drawn

from .options import group
from .types import SafePath, WHOLE, OutputFile, Whole

SUFFIXES = (".png", ".svg", ".pdf")

out_option = click.option("--out", "out", required=True, type=OutputFile(SUFFIXES),
                          help="File to write; the extension picks the format (.png, .svg or .pdf). "
                               "Example: --out cost.png")


def _save(fig, out: str) -> None:
    from costmodel.files import write_whole

    write_whole(out, lambda scratch: fig.savefig(scratch, dpi=150), argument="out")
    click.echo(f"wrote {out}")


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@group()
def plot():
    """Pictures of estimates (needs the plot extra: pip install 'costmodel[plot]').

    Example: costmodel plot training --out training.png
    """


@plot.command("training")
@click.option("--models", metavar="ID[,...]", default=",".join(LANGUAGE_MODELS),
              show_default=True, help="Comma-separated catalog ids.")
@click.option("--hardware", metavar="ID[,...]", default="a100-sxm4-80gb,h100-sxm5-80gb,b200", show_default=True,
              help="Comma-separated hardware ids, one series each.")
@click.option("--gpus", "n_gpus", default=1024, show_default=True, type=WHOLE, help="Training devices.")
@click.option("--region", metavar="ID", help="Grid region for energy and carbon. Example: --region us")
@out_option
def plot_training_cmd(models, hardware, n_gpus, region, out):
    """Training cost and energy vs parameter count, GPT-2 to GPT-4, log-log.

    Example: costmodel plot training --hardware a100-sxm4-80gb,h100-sxm5-80gb --out training.svg
    """
    from costmodel.plot import plot_training

    _save(plot_training(models=_split(models), hardware=_split(hardware), n_gpus=n_gpus, region=region), out)


@plot.command("inference")
@click.option("--model", metavar="ID", default="llama-2-70b", show_default=True, help="Catalog id.")
@click.option("--hardware", metavar="ID[,...]", default="a100-sxm4-80gb,h100-sxm5-80gb,h200-sxm-141gb",
              show_default=True, help="Comma-separated hardware ids, one series each.")
@click.option("--gpus", "n_gpus", default=4, show_default=True, type=Whole(limit=1e6), help="Devices per replica.")
@click.option("--prompt", "prompt_tokens", default=512, show_default=True, type=Whole(allow_zero=True),
              help="Prompt tokens.")
@click.option("--output", "output_tokens", default=256, show_default=True, type=Whole(allow_zero=True),
              help="Output tokens.")
@out_option
def plot_inference_cmd(model, hardware, n_gpus, prompt_tokens, output_tokens, out):
    """Serving latency (TTFT, TPOT) and cost per million tokens vs batch size.

    Example: costmodel plot inference --model llama-2-7b --gpus 1 --out serving.png
    """
    from costmodel.plot import plot_inference

    _save(plot_inference(model=model, hardware=_split(hardware), n_gpus=n_gpus, prompt_tokens=prompt_tokens,
                         output_tokens=output_tokens), out)


@plot.command("sweep")
@click.argument("table", type=SafePath(exists=True, dir_okay=False))
@click.option("--x", "x", required=True, help="Column for the x axis. Example: --x n_gpus")
@click.option("--y", "y", required=True, help="Column for the y axis. Example: --y wall_time_days")
@click.option("--hue", help="Column whose values become separate series (first in the legend). Example: --hue hardware")
@click.option("--xscale", type=click.Choice(["log", "linear"]), default="log", show_default=True,
              help="x axis scale; a column of names (hardware, model) needs linear.")
@click.option("--yscale", type=click.Choice(["log", "linear"]), default="log", show_default=True,
              help="y axis scale.")
@out_option
def plot_sweep_cmd(table, x, y, hue, xscale, yscale, out):
    """Any sweep table (CSV from `costmodel sweep ... --csv`) as a plot, one line per combination
    of the inputs that vary other than --x.

    Example: costmodel plot sweep grid.csv --x n_gpus --y wall_time_days --hue hardware --out grid.png
    """
    from costmodel.plot import plot_sweep

    _save(plot_sweep(read_table(table), x, y, hue, xscale=xscale, yscale=yscale), out)


def read_table(path: str):
    """A sweep table from a CSV file; a file that is not one, or has no rows, is one line."""
    import pandas as pd

    from costmodel.errors import InputError

    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
        if b"\x00" in head:  # a binary file: no pandas version reads it as a table
            raise pd.errors.ParserError("binary")
        df = pd.read_csv(path)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        reason = "it is empty" if isinstance(exc, pd.errors.EmptyDataError) else "it is not text in CSV form"
        raise InputError(f"{path!r} is not a CSV table ({reason}); write one with `costmodel sweep ... --csv FILE`",
                         argument="table") from None
    if df.empty:
        raise InputError(f"{path!r} has a header but no rows", argument="table")
    return df
