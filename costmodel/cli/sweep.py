"""``costmodel sweep train|infer``: grids of estimates as a table, CSV, JSON or Parquet."""

from __future__ import annotations

import re
import sys

import click

from . import format as fmt
from .options import usage_errors
from ..errors import InputError
from ..units import parse_count

_RANGE = re.compile(r"^\s*([^.]+?)\s*\.\.\s*([^x+]+?)\s*(?:([x+])\s*(.+?))?\s*$")
SHOWN = {"train": ["model", "hardware", "dtype", "n_gpus", "params", "tokens", "mfu", "wall_time_days", "gpu_hours_h",
                   "memory_per_gpu_GiB", "fits", "energy_MWh", "co2e_t", "cost_USD"],
         "infer": ["model", "hardware", "dtype", "n_gpus", "batch_size", "prompt_tokens", "output_tokens", "ttft_ms",
                   "tpot_ms", "throughput_tok_s", "memory_per_gpu_GiB", "fits", "cost_per_million_tokens_USD"]}
LIMIT = 5_000_000


def values(text: str | None, name: str):
    """'8,64,512' -> ['8', '64', '512']; '1..256x2' -> 1, 2, 4, ..., 256; '128..1024+128' -> arithmetic."""
    if text is None:
        return None
    out = []
    for part in text.split(","):
        match = _RANGE.match(part)
        if not match:
            if part.strip():
                out.append(part.strip())
            continue
        start, stop, op, step = match.groups()
        try:
            a, b = parse_count(start, name, allow_zero=True), parse_count(stop, name, allow_zero=True)
            s = parse_count(step, name) if step else 1.0
        except ValueError:
            raise InputError(f"{name}: could not read the range {part.strip()!r}; use e.g. 1..256x2 or 128..1024+128") from None
        if (op == "x" and s <= 1) or (op != "x" and s <= 0) or b < a or a <= 0 and op == "x":
            raise InputError(f"{name}: the range {part.strip()!r} never reaches its end; use e.g. 1..256x2")
        v = a
        while v <= b * (1 + 1e-12) and len(out) <= LIMIT:
            out.append(int(v) if float(v).is_integer() else v)
            v = v * s if op == "x" else v + s
    if not out:
        raise InputError(f"{name}: no values given")
    return out


def _sweep_options(command):
    options = [
        click.option("--ranges", is_flag=True, help="Add _low/_high columns for every uncertain output."),
        click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the table as CSV to FILE ('-' for stdout)."),
        click.option("--parquet", "parquet_path", type=click.Path(dir_okay=False),
                     help="Write the table as Parquet to FILE (needs pyarrow)."),
        click.option("--json", "as_json", is_flag=True, help="Write only JSON (one object per row) to stdout."),
        click.option("--region", help="Region(s) for grid intensity and PUE. Example: --region us,france"),
        click.option("--pue", help="PUE value(s). Example: --pue 1.1,1.5"),
        click.option("--price", "price_per_gpu_hour", help="Price(s) per device-hour (default unit USD/h). Example: --price 2,4"),
        click.option("--power", "power_per_gpu", help="Device draw(s) replacing the power model (default unit W)."),
        click.option("--host-power", "host_power_per_gpu", help="Server overhead per device (default unit W). Example: 0,100"),
        click.option("--grid-intensity", help="CO2e per energy (default unit g/kWh). Example: --grid-intensity 50,400"),
        click.option("--cost-basis", help="cloud and/or owned. Example: --cost-basis cloud,owned"),
        click.option("--dtype", help="Precision(s). Example: --dtype bf16,fp8"),
        click.option("--gpus", help="Device count(s) or a range. Example: --gpus 8,64,512 or --gpus 8..4096x2"),
        click.option("--hardware", "hardware_id", required=True,
                     help="Hardware profile id(s). Example: --hardware a100-sxm4-80gb,h100-sxm5-80gb"),
        click.option("--params", help="Parameter count(s) for models not in the catalog. Example: --params 1B,7B,70B"),
        click.option("--model", "models", help="Catalog id(s). Example: --model llama-2-7b,llama-2-70b"),
    ]
    for option in options:
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def sweep():
    """Grids of estimates: comma-separated lists or ranges for any option.

    Example: costmodel sweep train --model llama-2-7b --hardware a100,h100 --gpus 8..1024x2
    """


@sweep.command("train")
@_sweep_options
@click.option("--tokens", help="Training tokens (count), list or range. Example: --tokens 100B,1T")
@click.option("--mfu", help="MFU value(s) in (0, 1]. Example: --mfu 0.3,0.4,0.5")
@click.option("--seq-len", help="Training sequence length(s). Example: --seq-len 2048,8192")
@click.option("--micro-batch", help="Sequences per micro-batch per device. Example: --micro-batch 1,4")
@click.option("--tp", help="Tensor-parallel degree(s). Example: --tp 1..8x2")
@click.option("--recompute", help="none, selective and/or full. Example: --recompute selective,full")
@click.option("--method", help="full, lora and/or qlora. Example: --method full,lora")
@usage_errors
def sweep_train(models, params, tokens, hardware_id, gpus, mfu, seq_len, micro_batch, tp, recompute, method, dtype,
                region, pue, price_per_gpu_hour, power_per_gpu, host_power_per_gpu, grid_intensity, cost_basis,
                ranges, csv_path, parquet_path, as_json):
    """Training estimates over every combination of the given values.

    Example: costmodel sweep train --model llama-2-7b,llama-2-70b --hardware h100 --gpus 64,512 --csv out.csv
    """
    from ..sweep import sweep_training

    kwargs = _collect(model=models, params=params, tokens=tokens, hardware=hardware_id, n_gpus=gpus or "8",
                      mfu=mfu, seq_len=seq_len, micro_batch=micro_batch, tp=tp, recompute=recompute, method=method,
                      dtype=dtype, region=region, pue=pue, price_per_gpu_hour=price_per_gpu_hour,
                      power_per_gpu=power_per_gpu, host_power_per_gpu=host_power_per_gpu,
                      grid_intensity=grid_intensity, cost_basis=cost_basis)
    _emit(sweep_training, kwargs, ranges, "train", csv_path, parquet_path, as_json)


@sweep.command("infer")
@_sweep_options
@click.option("--prompt", default="512", show_default=True, help="Prompt tokens, list or range. Example: --prompt 128..4096x2")
@click.option("--output", default="256", show_default=True, help="Output tokens, list or range.")
@click.option("--batch", default="1", show_default=True, help="Batch size(s). Example: --batch 1..256x2")
@click.option("--batching", default="static", show_default=True, help="static and/or continuous.")
@click.option("--kv-dtype", help="KV-cache precision(s). Example: --kv-dtype bf16,fp8")
@usage_errors
def sweep_infer(models, params, hardware_id, gpus, dtype, kv_dtype, region, pue, price_per_gpu_hour, power_per_gpu,
                host_power_per_gpu, grid_intensity, cost_basis, prompt, output, batch, batching, ranges, csv_path,
                parquet_path, as_json):
    """Serving estimates over every combination of the given values.

    Example: costmodel sweep infer --model llama-2-70b --hardware a100,h100 --gpus 4,8 --batch 1..256x2
    """
    from ..sweep import sweep_inference

    kwargs = _collect(model=models, params=params, hardware=hardware_id, n_gpus=gpus or "1", dtype=dtype,
                      kv_dtype=kv_dtype, region=region, pue=pue, price_per_gpu_hour=price_per_gpu_hour,
                      power_per_gpu=power_per_gpu, host_power_per_gpu=host_power_per_gpu,
                      grid_intensity=grid_intensity, cost_basis=cost_basis, prompt_tokens=prompt,
                      output_tokens=output, batch_size=batch, batching=batching)
    _emit(sweep_inference, kwargs, ranges, "infer", csv_path, parquet_path, as_json)


def _collect(**options) -> dict:
    out = {k: values(v, k) for k, v in options.items() if v is not None}
    if "model" not in out and "params" not in out:
        raise InputError("model: give --model (catalog ids) or --params")
    return out


def _emit(fn, kwargs, ranges, kind, csv_path, parquet_path, as_json) -> None:
    import math

    rows = math.prod(len(v) for v in kwargs.values())
    bar = None
    if rows >= 500_000:  # about a second or more: show progress on stderr
        bar = click.progressbar(length=rows, label=f"{rows:,} configurations", file=sys.stderr)
        bar.__enter__()
    done = [0]

    def progress(n, total):
        if bar is not None:
            bar.update(n - done[0])
            done[0] = n

    try:
        df = fn(ranges=ranges, progress=progress, **kwargs)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if parquet_path:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError("parquet: writing Parquet needs pyarrow (pip install pyarrow); use --csv instead") from None
        df.to_parquet(parquet_path)
    if csv_path:
        df.to_csv(sys.stdout if csv_path == "-" else csv_path, index=False)
    if as_json:
        click.echo(df.to_json(orient="records"))
    if not (csv_path or parquet_path or as_json):
        click.echo(_table(df, SHOWN[kind]))


def _table(df, columns, limit: int = 40) -> str:
    shown = df[[c for c in columns if c in df.columns]]
    rows = [[_cell(v) for v in row] for row in shown.head(limit).itertuples(index=False)]
    text = fmt.table(rows, list(shown.columns))
    if len(df) > limit:
        text += f"\n... {len(df) - limit:,} more rows of {len(df):,}; write them all with --csv FILE"
    return text


def _cell(value) -> str:
    if isinstance(value, float):
        return fmt.number(value)
    return str(value)
