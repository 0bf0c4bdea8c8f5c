"""``costmodel infer`` and ``costmodel regions``: serving estimates and grid regions."""

from __future__ import annotations

import json

import click

from . import format as fmt
from .options import csv_option, emit_table, footprint_options, json_option, usage_errors


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model", required=False)
@click.option("--params", help="Total parameters when MODEL is not catalogued (count; e.g. 7B).")
@click.option("--active-params", help="Active parameters per token, for mixture-of-experts (e.g. 13B).")
@click.option("--hardware", "hardware_id", required=True, help="Hardware profile id or alias. Example: --hardware h100")
@click.option("--gpus", default="1", show_default=True, help="Devices serving one replica (tensor parallel).")
@click.option("--prompt", default="512", show_default=True, help="Prompt tokens per request (count).")
@click.option("--output", default="256", show_default=True, help="Output tokens per request (count; 0 = one forward pass).")
@click.option("--batch", default="1", show_default=True, help="Requests served together.")
@click.option("--batching", type=click.Choice(["static", "continuous"]), default="static", show_default=True,
              help="static: the batch runs together; continuous: --batch requests in flight (in-flight batching).")
@click.option("--dtype", help="Weight precision (bf16, fp16, fp8, int8, int4). Example: --dtype fp8")
@click.option("--kv-dtype", help="KV-cache precision (default: the weight precision, bf16 for int weights).")
@click.option("--strict", is_flag=True, help="Fail instead of reporting a model that does not fit.")
@footprint_options
@json_option
@click.option("--profile-path", type=click.Path(file_okay=False), default=None,
              help="Extra directory of hardware profile TOML files.")
@usage_errors
def infer(model, params, active_params, hardware_id, gpus, prompt, output, batch, batching, dtype, kv_dtype,
          strict, as_json, profile_path, **footprint):
    """Estimate latency, throughput, memory, energy and cost of serving requests.

    Example: costmodel infer llama-2-70b --hardware h100 --gpus 4 --prompt 512 --output 256 --batch 8
    """
    from ..inference_estimate import estimate_inference

    est = estimate_inference(model, params=params, active_params=active_params, hardware=hardware_id,
                             n_gpus=gpus, prompt_tokens=prompt, output_tokens=output, batch_size=batch,
                             batching=batching, dtype=dtype, kv_dtype=kv_dtype, strict=strict,
                             profile_path=profile_path, **footprint)
    if as_json:
        click.echo(json.dumps({**est.to_dict(ranges=True), "assumptions": est.assumptions}, indent=2, default=str))
        return
    click.echo(render(est))


def render(est) -> str:
    m = est.memory
    name = est.model or "the model"
    r = lambda path, unit, how=fmt.number: fmt.ranged(est, path, unit, how)  # noqa: E731
    money = lambda v: f"${v:.3g}" if v < 1 else f"${fmt.number(v)}"  # noqa: E731
    cost = ("- (no price; pass --price)" if est.cost is None else
            f"{r('cost', 'USD', money)} per request, "
            + (f"{r('cost_per_million_tokens', 'USD', money)} per million output tokens"
               if est.cost_per_million_tokens is not None else "no output tokens"))
    lines = [
        f"Serving {name} on {est.n_gpus} x {est.hardware} ({est.dtype} weights, {est.kv_dtype} KV), "
        f"batch {est.batch_size}, {est.prompt_tokens} in / {est.output_tokens} out; ranges in brackets",
        f"  TTFT         {r('ttft', 'ms')} ms (prefill {est.bound['prefill']}-bound)",
        f"  TPOT         {r('tpot', 'ms')} ms (decode {est.bound['decode']}-bound)",
        f"  latency      {r('latency', 's')} s per request",
        f"  throughput   {r('throughput', 'token/s')} output tokens/s",
        f"  memory/GPU   {fmt.qty(est.memory_per_gpu, 'GiB')} (weights {fmt.qty(m.weights, 'GiB')}, "
        f"KV cache {fmt.qty(m.kv_cache, 'GiB')}, workspace {fmt.qty(m.activations, 'GiB')}); "
        f"max batch {est.max_batch_size:,}",
        f"  energy       {r('energy', 'Wh')} Wh per request, {r('footprint.co2e', 'g')} g CO2e",
        f"  cost         {cost}",
    ]
    if not est.fits:
        hint = f"; {est.fitting_dtype} weights would fit" if est.fitting_dtype else ""
        lines.append(f"  ** does not fit: needs {est.min_gpus} devices at this dtype{hint} **")
    lines += [f"  warning: {w}" for w in est.warnings]
    lines.append("Assumptions:")
    lines += [f"  {k}: {v}" for k, v in est.assumptions.items()]
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def regions():
    """Grid regions: carbon intensity and typical PUE, with sources.

    Example: costmodel regions list
    """


@regions.command("list")
@json_option
@csv_option
def regions_list(as_json, as_csv):
    """List every region with its grid intensity and PUE.

    Example: costmodel regions list --json
    """
    from ..regions import list_regions

    items = list_regions()
    if as_json:
        click.echo(json.dumps([{"id": r.id, "name": r.name, "grid_intensity_g_per_kWh": r.grid_intensity.magnitude,
                                "grid_year": r.grid_year, "grid_source": r.grid_source, "pue": r.pue,
                                "pue_source": r.pue_source} for r in items], indent=2))
        return
    rows = [[r.id, r.name, fmt.number(r.grid_intensity.magnitude), str(r.grid_year), f"{r.pue:.2f}"] for r in items]
    emit_table(rows, ["id", "name", "gCO2e/kWh", "year", "PUE"], as_csv)
