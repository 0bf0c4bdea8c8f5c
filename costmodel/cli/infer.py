"""``costmodel infer``: one serving estimate as a readable summary or JSON."""

from __future__ import annotations

import click

from . import format as fmt
from .options import (
    command,
    config_option,
    emit_json,
    footprint_options,
    hardware_option,
    json_option,
    model_from,
    profile_option,
)
from .types import COUNT, DTYPE, SERVING_DTYPE, WHOLE, Count, Parsed, Whole

TOKENS = Count(allow_zero=True)


@command()
@click.argument("model", required=False)
@click.option("--params", type=COUNT, help="Total parameters when MODEL is not catalogued (e.g. 7B).")
@click.option("--active-params", type=COUNT, help="Active parameters per token, for mixture-of-experts (e.g. 13B).")
@hardware_option("Hardware profile id or alias. Example: --hardware h100", required=True)
@click.option("--gpus", "n_gpus", type=Whole(limit=1e6), default=1, show_default=True,
              help="Devices serving one replica (tensor parallel).")
@click.option("--pp", type=Whole(limit=1024), default=1, show_default=True,
              help="Pipeline stages: --gpus devices as PP stages of --gpus/PP tensor-parallel devices.")
@click.option("--tp", type=Whole(limit=1e6),
              help="Attention's tensor-parallel degree in a stage (default: all its devices); fewer makes "
                   "data-parallel attention groups, for a mixture of experts.")
@click.option("--ep", type=Whole(limit=1e6), default=1, show_default=True,
              help="Expert-parallel degree in a stage: the routed experts split, whole, over EP groups of devices "
                   "(tokens dispatched to them by all-to-all).")
@click.option("--prompt", "prompt_tokens", type=TOKENS, default=512, show_default=True,
              help="Prompt tokens per request.")
@click.option("--output", "output_tokens", type=TOKENS, default=256, show_default=True,
              help="Output tokens per request (0 = one forward pass).")
@click.option("--batch", "batch_size", type=WHOLE,
              help="Requests in flight (default 1); with --rate or --concurrency, the runtime's limit on them "
                   "(default: what fits).")
@click.option("--batching", type=click.Choice(["continuous", "static"]), default="continuous", show_default=True,
              help="continuous: --batch requests in flight (in-flight batching); static: the batch runs together.")
@click.option("--engine", metavar="ENGINE",
              help="Serving runtime: vllm, tensorrt-llm, sglang, eager, tensorrt, onnxruntime, llama.cpp... "
                   "(default: the device class's usual one; see: costmodel engines).")
@click.option("--max-batched-tokens", "max_batched_tokens",
              type=Parsed("costmodel.inference_estimate:parse_token_budget", "TOKENS"),
              help="The runtime's token budget per forward step (decode tokens plus prefill chunks; default: the "
                   "engine's own, e.g. vLLM 8192 on an H100). Example: --max-batched-tokens 2048")
@click.option("--rate", metavar="RATE", help="Poisson request rate, for percentiles under traffic. Example: --rate 12/s")
@click.option("--concurrency", type=Whole(limit=1e6),
              help="Clients in a closed loop, each sending its next request when the last completes.")
@click.option("--prefix-cache", "prefix_cache", type=Parsed("costmodel.inference_estimate:parse_prefix_cache", "SHARE"),
              default=0.0, show_default=True,
              help="Share of each prompt already in the KV cache (e.g. 0.5 or 50%%): its prefill is skipped.")
@click.option("--dtype", type=SERVING_DTYPE,
              help="Serving format: bf16, fp16, fp32, fp8, fp4, weight-only w8a16/w4a16 (int8, int4) or w8a8. "
                   "Example: --dtype w4a16")
@click.option("--prune", metavar="2:4|RATIO",
              help="2:4 structured sparsity (half the weights, the sparse peak) or an unstructured share of zero "
                   "weights such as 0.5 (no gain on dense kernels). Example: --prune 2:4")
@click.option("--kv-dtype", type=DTYPE, help="KV-cache precision (default: the weight precision, bf16 for int weights).")
@click.option("--strict", is_flag=True, help="Fail instead of reporting a model that does not fit.")
@footprint_options
@config_option
@json_option
@profile_option
def infer(model, as_json, config, **options):
    """Estimate latency, throughput, memory, energy and cost of serving requests.

    Example: costmodel infer llama-2-70b --hardware h100 --gpus 4 --prompt 512 --output 256 --batch 8
    """
    import costmodel

    est = costmodel.estimate_inference(model_from(model, config, options["params"]), **options)
    if as_json:
        emit_json({**est.to_dict(ranges=True), "assumptions": est.assumptions})
    else:
        click.echo(render(est))


def render(est) -> str:
    m, f = est.memory, est.footprint
    name = est.model or "the model"
    r = lambda path, unit, style=fmt.plain: fmt.ranged(est, path, unit, style)  # noqa: E731
    size = lambda q: fmt.size(q.to("B").magnitude)  # noqa: E731
    per_input = est.cost_per_million_input_tokens
    cost = (f"- ({fmt.no_price(f.cost_basis)})" if est.cost is None else
            f"{r('cost', 'USD', fmt.money)} per request, "
            + (f"{r('cost_per_million_tokens', 'USD', fmt.money)} per million output tokens"
               if est.cost_per_million_tokens is not None else "no output tokens")
            + ("" if per_input is None else
               f", {r('cost_per_million_input_tokens', 'USD', fmt.money)} per million input tokens")
            + ("" if est.cost_per_million_cached_tokens is None else
               f", {fmt.money(est.cost_per_million_cached_tokens.to('usd').magnitude)} per million cached"))
    co2e = r("footprint.co2e", "g", fmt.mass) + ("" if f.embodied_co2e is None else
                                                 f", embodied {fmt.mass(f.embodied_co2e.to('g').magnitude)}")
    generates = est.output_tokens > 0
    per_s = lambda unit: lambda *v: fmt.plain(*v, unit=unit)  # noqa: E731
    timing = ([f"  TTFT         {r('ttft', 's', fmt.duration)} (prefill {est.bound['prefill']}-bound)",
               f"  TPOT         {r('tpot', 's', fmt.duration)} (decode {est.bound['decode']}-bound)",
               f"  latency      {r('latency', 's', fmt.duration)} per request",
               f"  throughput   {r('throughput', 'token/s', per_s('output tokens/s'))}"] if generates else
              [f"  latency      {r('latency', 's', fmt.duration)} per batch (one forward pass, "
               f"{est.bound['prefill']}-bound)",
               f"  throughput   {r('samples_per_second', '1/s', per_s('samples/s'))}"])
    if est.percentiles is not None:
        p = {k: v.to("s").magnitude for k, v in est.percentiles.items()}
        timing += [f"  {name:<12} p50 {fmt.duration(p[key + '_p50'])}, p90 {fmt.duration(p[key + '_p90'])}, "
                   f"p99 {fmt.duration(p[key + '_p99'])}" for key, name in
                   (("ttft", "TTFT"), ("tpot", "TPOT"), ("latency", "latency")) if generates or key != "tpot"]
        timing.append(f"  queue        {fmt.duration(est.queue.to('s').magnitude)} mean wait; sustains up to "
                      f"{est.max_rate.to('1/s').magnitude:,.3g} requests/s")
    battery = ("" if est.battery_share is None else
               f", {est.battery_share:.2g} of the battery ({1 / est.battery_share:,.0f} requests per charge)")
    lines = [
        f"Serving {name} on {est.n_gpus} x {est.hardware}{_layout(est)} with {est.engine} ({est.dtype} weights, {est.kv_dtype} KV), "
        f"{est.batching} batch {est.batch_size}, {est.prompt_tokens} in / {est.output_tokens} out; ranges in brackets",
        *timing,
        f"  memory/GPU   {size(est.memory_per_gpu)} (weights {size(m.weights)}, KV cache {size(m.kv_cache)}, "
        f"workspace {size(m.activations)}); max batch {est.max_batch_size:,}",
        f"  energy       {r('energy', 'J', fmt.energy)} per request{battery}, {co2e} CO2e",
        f"  cost         {cost}",
    ]
    if not est.fits:
        hint = f"; {est.fitting_dtype} weights would fit" if est.fitting_dtype else ""
        lines.append(f"  ** does not fit: needs {est.min_gpus} devices at this dtype{hint} **")
    return "\n".join([*lines, *fmt.footer(est)])


def _layout(est) -> str:
    """`` (tp1 x ep8)`` for an expert or attention layout other than tensor parallel over all."""
    stage = est.n_gpus // est.pp
    if est.ep <= 1 and est.tp in (0, stage):
        return ""
    return f" (tp{est.tp or stage}" + (f" x pp{est.pp}" if est.pp > 1 else "") + (f" x ep{est.ep}" if est.ep > 1 else "") + ")"
