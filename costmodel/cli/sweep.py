"""``costmodel sweep train|infer``: grids of estimates as a table, CSV, JSON or Parquet.

Every option takes a comma-separated list or a range (``8..4096x2``, ``128..1024+128``;
:class:`~costmodel.cli.types.Values`); each option's destination is the keyword of
``costmodel.sweep_training`` / ``sweep_inference`` it feeds.
"""

from __future__ import annotations

import sys

import click

from . import format as fmt
from .options import emit_json_frame, group
from .types import OutputFile, Stages, Switches, Values

# The columns a table shows: these, with every input that takes more than one value after the
# first three (a CSV, Parquet or JSON output has every column).
SHOWN = {"train": ["model", "hardware", "dtype", "n_gpus", "params", "tokens", "mfu", "wall_time_days", "gpu_hours_h",
                   "memory_per_gpu_GiB", "fits", "energy_MWh", "co2e_t", "cost_USD"],
         "infer": ["model", "hardware", "dtype", "n_gpus", "batch_size", "prompt_tokens", "output_tokens", "ttft_ms",
                   "tpot_ms", "throughput_tok_s", "memory_per_gpu_GiB", "fits", "cost_per_million_tokens_USD"]}
# unit of a column (df.attrs["units"]) -> (its human style, the style's unit per column unit, suffix)
STYLES = {"day": (fmt.duration, 86400.0, "_days"), "ms": (fmt.duration, 1e-3, "_ms"), "s": (fmt.duration, 1.0, "_s"),
          "GiB": (fmt.size, 2.0**30, "_GiB"), "USD": (fmt.money, 1.0, "_USD"), "MWh": (fmt.energy, 3.6e9, "_MWh"),
          "Wh": (fmt.energy, 3600.0, "_Wh"), "tonne": (fmt.mass, 1e6, "_t"), "g": (fmt.mass, 1.0, "_g")}
COUNT_COLUMNS = ("params", "active_params", "tokens", "trainable_params", "prompt_tokens", "output_tokens")
OUTPUT = ("ranges", "csv_path", "parquet_path", "as_json")  # the options that are not sweep inputs
# The inputs in the order the grid is laid out: the first varies slowest.
ORDER = {"train": ("model", "params", "tokens", "hardware", "n_gpus", "mfu", "seq_len", "micro_batch",
                   "global_batch", "tp", "pp", "cp", "ep", "vpp", "zero_stage", "recompute", "flash_attention", "tuning", "method",
                   "dtype", "region", "pue", "price_per_gpu_hour", "power_per_gpu", "host_power_per_gpu",
                   "grid_intensity", "cost_basis"),
         "infer": ("model", "params", "hardware", "n_gpus", "dtype", "kv_dtype", "region", "pue", "price_per_gpu_hour",
                   "power_per_gpu", "host_power_per_gpu", "grid_intensity", "cost_basis", "prompt_tokens",
                   "output_tokens", "batch_size", "batching")}

COUNTS, IDS, NAMES, NUMBERS = Values("COUNT"), Values("ID"), Values("NAME"), Values("NUMBER")


def _list(flag: str, dest: str, values: Values, text: str, **kwargs):
    return click.option(flag, dest, type=values, help=text, **kwargs)


def _sweep_options(command):
    options = [
        click.option("--ranges", is_flag=True, help="Add _low/_high columns for every uncertain output."),
        click.option("--csv", "csv_path", type=OutputFile(stdout=True),
                     help="Write the table as CSV to FILE ('-' for stdout)."),
        click.option("--parquet", "parquet_path", type=OutputFile(),
                     help="Write the table as Parquet to FILE (needs pyarrow)."),
        click.option("--json", "as_json", is_flag=True,
                     help="Write only JSON to stdout: {\"costmodel\": version, \"rows\": one object per row}."),
        _list("--region", "region", IDS, "Region(s) for grid intensity and PUE. Example: --region us,france"),
        _list("--pue", "pue", NUMBERS, "PUE value(s). Example: --pue 1.1,1.5"),
        _list("--price", "price_per_gpu_hour", Values("QUANTITY", "USD/h"),
              "Price(s) per device-hour (default unit USD/h). Example: --price 2,4"),
        _list("--power", "power_per_gpu", Values("QUANTITY", "W"),
              "Device draw(s) replacing the power model (default unit W)."),
        _list("--host-power", "host_power_per_gpu", Values("QUANTITY", "W"),
              "Server overhead per device (default unit W). Example: 0,100"),
        _list("--grid-intensity", "grid_intensity", Values("QUANTITY", "g/kWh"),
              "CO2e per energy (default unit g/kWh). Example: --grid-intensity 50,400"),
        _list("--cost-basis", "cost_basis", NAMES, "cloud and/or owned. Example: --cost-basis cloud,owned"),
        _list("--dtype", "dtype", NAMES, "Precision(s). Example: --dtype bf16,fp8"),
        _list("--gpus", "n_gpus", COUNTS, "Device count(s) or a range. Example: --gpus 8,64,512 or --gpus 8..4096x2"),
        _list("--hardware", "hardware", IDS, "Hardware profile id(s). Example: --hardware a100-sxm4-80gb,h100-sxm5-80gb",
              required=True),
        _list("--params", "params", COUNTS, "Parameter count(s) for models not in the catalog. Example: --params 1B,7B"),
        _list("--model", "model", IDS, "Catalog id(s). Example: --model llama-2-7b,llama-2-70b"),
    ]
    for option in options:
        command = option(command)
    return command


@group()
def sweep():
    """Grids of estimates: comma-separated lists or ranges for any option.

    Example: costmodel sweep train --model llama-2-7b --hardware a100,h100 --gpus 8..1024x2
    """


@sweep.command("train")
@_sweep_options
@_list("--tokens", "tokens", COUNTS, "Training tokens, list or range. Example: --tokens 100B,1T")
@_list("--mfu", "mfu", NUMBERS, "MFU value(s) in (0, 1]. Example: --mfu 0.3,0.4,0.5")
@_list("--seq-len", "seq_len", COUNTS, "Training sequence length(s). Example: --seq-len 2048,8192")
@_list("--micro-batch", "micro_batch", COUNTS, "Sequences per micro-batch per device. Example: --micro-batch 1,4")
@_list("--global-batch", "global_batch", Values("COUNT", "token|sequence"),
       "Tokens or sequences per optimizer step (default: GPT-3's batch for the model's size). "
       "Example: --global-batch 2M,4M or '1024 sequence'")
@_list("--tp", "tp", COUNTS, "Tensor-parallel degree(s) (default: chosen). Example: --tp 1..8x2")
@_list("--pp", "pp", COUNTS, "Pipeline-parallel degree(s) (default: chosen). Example: --pp 1,2,4")
@_list("--cp", "cp", COUNTS, "Context-parallel degree(s). Example: --cp 1,2")
@_list("--ep", "ep", COUNTS, "Expert-parallel degree(s) of a mixture of experts (default: as many as the experts "
       "and the data-parallel degree allow). Example: --ep 8,64")
@_list("--vpp", "vpp", COUNTS, "Virtual pipeline stages per device (interleaving). Example: --vpp 1,2")
@_list("--zero-stage", "zero_stage", Stages(), "ZeRO stage(s) 0-3 (default: chosen with tp and pp, the fastest "
       "layout that fits). Example: --zero-stage 1,3")
@_list("--tuning", "tuning", NAMES, "typical and/or tuned engineering tier. Example: --tuning typical,tuned")
@_list("--recompute", "recompute", NAMES, "none, selective and/or full. Example: --recompute selective,full")
@_list("--flash-attention", "flash_attention", Switches(), "on (fused attention, today's software) and/or off "
       "(2021-22 software: scores through memory, collectives exposed). Example: --flash-attention on,off")
@_list("--method", "method", NAMES, "full, lora and/or qlora. Example: --method full,lora")
def sweep_train(**options):
    """Training estimates over every combination of the given values.

    Example: costmodel sweep train --model llama-2-7b,llama-2-70b --hardware h100 --gpus 64,512 --csv out.csv
    """
    from costmodel import sweep_training

    _run(sweep_training, "train", options, n_gpus=["8"])


@sweep.command("infer")
@_sweep_options
@_list("--prompt", "prompt_tokens", COUNTS, "Prompt tokens, list or range. Example: --prompt 128..4096x2",
       default="512", show_default=True)
@_list("--output", "output_tokens", COUNTS, "Output tokens, list or range.", default="256", show_default=True)
@_list("--batch", "batch_size", COUNTS, "Batch size(s). Example: --batch 1..256x2", default="1", show_default=True)
@_list("--batching", "batching", NAMES, "static and/or continuous.", default="static", show_default=True)
@_list("--kv-dtype", "kv_dtype", NAMES, "KV-cache precision(s). Example: --kv-dtype bf16,fp8")
def sweep_infer(**options):
    """Serving estimates over every combination of the given values.

    Example: costmodel sweep infer --model llama-2-70b --hardware a100,h100 --gpus 4,8 --batch 1..256x2
    """
    from costmodel import sweep_inference

    _run(sweep_inference, "infer", options, n_gpus=["1"])


def _run(fn, kind: str, options: dict, **defaults) -> None:
    """Check what is needed before any work, run the sweep and write what was asked for."""
    import costmodel
    from costmodel.files import write_whole

    out = {key: options.pop(key) for key in OUTPUT}
    given = {**defaults, **{k: v for k, v in options.items() if v is not None}}
    inputs = {key: given[key] for key in ORDER[kind] if key in given}
    if "model" not in inputs and "params" not in inputs:
        raise costmodel.InputError("give --model (catalog ids) or --params", argument="model")
    if out["csv_path"] == "-" and out["as_json"]:
        raise costmodel.InputError("'-' writes the CSV to stdout, where {as_json} writes JSON; choose one",
                                   argument="csv_path")
    if out["parquet_path"]:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise costmodel.InputError("writing Parquet needs pyarrow (pip install pyarrow); use --csv instead",
                                       argument="parquet_path") from None
    df = _evaluate(fn, inputs, out["ranges"])
    if out["parquet_path"]:
        write_whole(out["parquet_path"], df.to_parquet, argument="parquet_path")
    if out["csv_path"] == "-":
        df.to_csv(sys.stdout, index=False)
    elif out["csv_path"]:
        write_whole(out["csv_path"], lambda scratch: df.to_csv(scratch, index=False), argument="csv_path")
    if out["as_json"]:
        emit_json_frame(df)
    if not (out["csv_path"] or out["parquet_path"] or out["as_json"]):
        swept = [key for key, values in inputs.items() if len(values) > 1]
        click.echo(_table(df, [*SHOWN[kind][:3], *swept, *SHOWN[kind][3:]]))


def _evaluate(fn, inputs: dict, ranges: bool):
    """The sweep's DataFrame, with a progress bar on stderr for a large grid."""
    import math

    rows = math.prod(len(v) for v in inputs.values())
    if rows < 500_000:  # under about a second: no progress bar
        return fn(ranges=ranges, **inputs)
    with click.progressbar(length=rows, label=f"{rows:,} configurations", file=sys.stderr) as bar:
        done = [0]

        def progress(n, total):
            bar.update(n - done[0])
            done[0] = n

        return fn(ranges=ranges, progress=progress, **inputs)


def _table(df, columns, limit: int = 40) -> str:
    """The first ``limit`` rows of ``columns`` (each once, those of ``df``) in human units."""
    shown = [c for c in dict.fromkeys(columns) if c in df.columns]
    units = df.attrs.get("units", {})
    header, styles = zip(*(_style(c, units.get(c)) for c in shown))
    rows = [[style(v) for v, style in zip(row, styles)] for row in df[shown].head(limit).itertuples(index=False)]
    text = fmt.table(rows, list(header))
    if len(df) > limit:
        text += f"\n... {len(df) - limit:,} more rows of {len(df):,}; write them all with --csv FILE"
    return text


def _style(column: str, unit: str | None):
    """A column's header and how to write its cells: a time, size, energy, mass or amount of
    money in the unit that fits (the header loses its unit suffix), a count as 7B."""
    if unit in STYLES:
        style, scale, suffix = STYLES[unit]
        name = column[:-len(suffix)] if column.endswith(suffix) else column
        return name, lambda v: "-" if _missing(v) else style(float(v) * scale)
    if column in COUNT_COLUMNS:
        return column, lambda v: "-" if _missing(v) else _count(v)
    return column, lambda v: fmt.number(v) if isinstance(v, float) else "-" if v is None else str(v)


def _count(value) -> str:
    try:
        return fmt.count(float(value))
    except (TypeError, ValueError):  # a swept input as the user wrote it
        return str(value)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)
