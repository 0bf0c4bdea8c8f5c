"""``costmodel train``: one training estimate as a readable summary or JSON."""

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
from .types import COUNT, DTYPE, FRACTION, GLOBAL_BATCH, WHOLE, Whole

# written out so that building the command imports no library module (a test checks they agree)
METHODS = ("full", "lora", "qlora")  # costmodel.training.METHODS
TUNINGS = ("typical", "tuned")  # costmodel.steptime.TIERS


@command()
@click.argument("model", required=False)
@click.option("--params", type=COUNT, help="Total parameters when MODEL is not catalogued (e.g. 7B, 7e9).")
@click.option("--active-params", type=COUNT, help="Active parameters per token, for mixture-of-experts (e.g. 37B).")
@click.option("--tokens", type=COUNT, help="Training tokens (default: the catalog's reported figure). Example: 300B")
@click.option("--samples", type=COUNT, help="Images or rows seen, for CNN/ViT/linear models. Example: 115M")
@hardware_option("Hardware profile id or alias. Example: --hardware a100-sxm4-80gb", required=True)
@click.option("--gpus", "n_gpus", type=WHOLE, required=True, help="Number of accelerators (TPU chips). Example: --gpus 1024")
@click.option("--mfu", type=FRACTION,
              help="Model FLOPs utilisation in (0, 1], replacing the step-time model. Example: 0.4")
@click.option("--dtype", type=DTYPE, help="Training precision (bf16, fp16, fp8, fp32); default bf16, or fp16 without bf16.")
@click.option("--seq-len", type=COUNT, help="Training sequence length in tokens (default: the model's context). "
                                            "Example: 4096")
@click.option("--micro-batch", type=WHOLE, default=1, show_default=True, help="Sequences per micro-batch per device.")
@click.option("--tp", type=WHOLE, help="Tensor-parallel degree (default: chosen, see --zero-stage). Example: --tp 8")
@click.option("--pp", type=WHOLE, help="Pipeline-parallel degree (default: chosen, see --zero-stage). Example: --pp 4")
@click.option("--cp", type=WHOLE, default=1, show_default=True,
              help="Context-parallel degree: the sequence split over devices. Example: --cp 2")
@click.option("--ep", type=WHOLE, help="Expert-parallel degree of a mixture of experts (default: as many as the "
                                      "experts and the data-parallel degree allow). Example: --ep 8")
@click.option("--vpp", type=WHOLE, default=None,
              help="Virtual pipeline stages per device (interleaving), shrinking the bubble; default with pipelining: two layers per virtual stage. Example: --vpp 2")
@click.option("--sequence-parallel/--no-sequence-parallel", "sequence_parallel", default=None,
              help="Shard the activations tensor parallelism leaves whole (Korthikanti et al. 2022); default: on "
                   "where --tp > 1.")
@click.option("--zero-stage", type=click.IntRange(0, 3),
              help="ZeRO stage sharding optimizer(1)/gradients(2)/weights(3) over data parallelism. Default: "
                   "chosen, with --tp and --pp where not given: the fastest layout that fits (tensor parallelism "
                   "inside a node, ZeRO-1 or ZeRO-3, the fewest pipeline stages).")
@click.option("--global-batch", type=GLOBAL_BATCH,
              help="Tokens or sequences per optimizer step (default: GPT-3's batch for the model's size). "
                   "Example: --global-batch 4M, '4M token' or '1024 sequence'")
@click.option("--tuning", type=click.Choice(TUNINGS), default="typical", show_default=True,
              help="Engineering tier: typical for a team's run as most are published, tuned for a "
                   "benchmark-class configuration (Megatron-LM, NeMo, MaxText tables).")
@click.option("--flash-attention/--no-flash-attention", "flash_attention", default=True, show_default=True,
              help="Fused attention kernels with tensor-parallel collectives overlapped (software since 2023); "
                   "--no-flash-attention for 2021-22 software (scores through memory, collectives exposed).")
@click.option("--ep-overlap/--no-ep-overlap", "ep_overlap", default=False, show_default=True,
              help="Expert all-to-alls overlapped with another micro-batch's computation (DeepSeek-V3's "
                   "DualPipe, Megatron-Core's --overlap-moe-expert-parallel-comm), hidden up to its length.")
@click.option("--recompute", type=click.Choice(["none", "selective", "full"]), default="selective",
              show_default=True, help="Activation recomputation policy.")
@click.option("--method", type=click.Choice(METHODS), default="full", show_default=True,
              help="full fine-tuning or pre-training; lora or qlora train adapters on frozen weights.")
@click.option("--lora-rank", type=Whole(limit=1e5), default=8, show_default=True,
              help="Adapter rank for --method lora/qlora (on the query and value projections).")
@click.option("--trainable-params", type=COUNT,
              help="Adapter parameters, replacing the ones --lora-rank gives. Example: 20M")
@click.option("--teacher", metavar="ID|COUNT",
              help="Distillation teacher (catalog id or parameter count) run forward on every token. "
                   "Example: --teacher llama-2-70b")
@footprint_options
@config_option
@json_option
@profile_option
def train(model, as_json, config, **options):
    """Estimate FLOPs, time, GPU-hours and memory of a training run.

    MODEL is a catalog id (see `costmodel models list`); leave it out and give --params
    for a model that is not catalogued.

    Example: costmodel train gpt3-175b --hardware v100-sxm2-32gb --gpus 10000
    """
    import costmodel

    est = costmodel.estimate_training(model_from(model, config, options["params"]), **options)
    if as_json:
        emit_json({**est.to_dict(ranges=True), "layout": est.layout, "assumptions": est.assumptions})
    else:
        click.echo(render(est))


def render(est) -> str:
    name = est.model or f"a {fmt.count(est.params.magnitude)}-parameter model"
    m, f = est.memory, est.footprint
    r = lambda path, unit, style=fmt.plain: fmt.ranged(est, path, unit, style)  # noqa: E731
    size = lambda q: fmt.size(q.to("B").magnitude)  # noqa: E731
    cost = (f"- ({fmt.no_price(f.cost_basis)})" if est.cost is None
            else f"{r('cost', 'USD', fmt.money)} ({f.cost_basis})")
    co2e = r("co2e", "g", fmt.mass) + ("" if f.embodied_co2e is None else
                                       f", embodied {fmt.mass(f.embodied_co2e.to('g').magnitude)}")
    lines = [
        f"Training {name} on {est.n_gpus:,} x {est.hardware} ({est.dtype}); ranges in brackets",
        f"  compute      {fmt.number(est.flops.magnitude)} FLOP (model), "
        f"{fmt.number(est.hardware_flops.magnitude)} FLOP executed",
        f"  MFU          {r('mfu', 'dimensionless', lambda *v: fmt.plain(*v, digits=2))} (of the {est.dtype} peak)",
        f"  layout       {layout(est.layout)}",
        f"  wall time    {r('wall_time', 's', fmt.duration)}",
        f"  GPU-hours    {r('gpu_hours', 'hour', lambda *v: fmt.plain(*v, unit='h', how=fmt.count))}",
        f"  memory/GPU   {size(est.memory_per_gpu)} (weights {size(m.weights)}, gradients {size(m.gradients)}, "
        f"optimizer {size(m.optimizer)}, activations {size(m.activations)})"
        + ("" if est.fits else "  ** does not fit **"),
        "  min devices  " + ("- (no layout holds one micro-batch; see the warnings)" if est.min_gpus is None
                             else f"{fmt.number(est.min_gpus.magnitude)} (model states fully sharded)"),
        f"  energy       {r('energy', 'J', fmt.energy)} (PUE {fmt.number(f.pue)})",
        f"  CO2e         {co2e}",
        f"  cost         {cost}",
    ]
    if est.tokens is not None:
        lines.insert(2, f"  tokens       {fmt.count(est.tokens.magnitude)}")
    if est.teacher_flops is not None:
        lines.insert(2, f"  teacher      {fmt.number(est.teacher_flops.magnitude)} FLOP (included in compute)")
    return "\n".join([*lines, *fmt.footer(est)])


def layout(used: dict) -> str:
    """The layout of :attr:`TrainingEstimate.layout` in one phrase: ``'tp 8 x pp 4, ZeRO-1,
    micro-batch 1, global batch 4.19M tokens, tuned'``; context, virtual-pipeline and expert
    degrees only where they are above 1."""
    degrees = " x ".join(f"{k} {used[k]}" for k in ("tp", "pp", "cp") if k != "cp" or used[k] > 1)
    extra = ", ".join(f"{k} {used[k]}" for k in ("vpp", "ep") if used[k] > 1)
    batch = f"global batch {fmt.count(used['global_batch_tokens'])} tokens"
    parts = [degrees + (f" ({extra})" if extra else ""), f"ZeRO-{used['zero_stage']}",
             f"micro-batch {used['micro_batch']}", batch, used["tuning"]]
    return ", ".join(parts)
