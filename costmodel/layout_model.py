"""The figures of one parallel layout of a training run: its step-time terms, memory and work.

:mod:`costmodel.layout_search` evaluates these on every candidate layout (floats or per-row
arrays alike) and keeps the fastest that fits; the terms come from the step-time model of
:mod:`costmodel.steptime`, the memory from :mod:`costmodel.memory`. The global batch enters only
through :func:`costmodel.steptime.with_batch`, so the terms split into those of the batch and
the rest (:func:`batch_free_terms`, :func:`batch_free_degrees`).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import memory as mem
from . import steptime as st
from . import training as core
from .calibration import TrainingCalibration
from .elementwise import floor, isnan, maximum, minimum, where
from .layout import TrainingLayout
from .units import FloatArray
from .workload import TrainingModel

__all__ = ["TrainingHardware", "layout_memory", "wanted_batch", "layout_terms", "batch_free_degrees",
           "batch_free_terms", "work_flops", "chosen_seconds", "combine_terms"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingHardware:
    """Dense peak and large-GEMM ceiling at the training precision [FLOP/s], memory bandwidth,
    the link inside a node and the network per device between nodes [B/s per direction], the
    devices per node, memory [B], TDP [W], and the bytes per parameter of weights and of
    optimizer state at that precision, and of a gradient in the data-parallel reduction."""

    peak: FloatArray
    gemm: FloatArray
    bandwidth: FloatArray
    link: FloatArray
    scale_out: FloatArray
    node: FloatArray
    capacity: FloatArray
    tdp: FloatArray
    weight_bytes: FloatArray
    optimizer_bytes: FloatArray
    grad_bytes: FloatArray


def layout_memory(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, tp: FloatArray, pp: FloatArray,
                  zero: FloatArray) -> tuple[tuple, FloatArray, tuple, tuple]:
    """The weights, gradients and optimizer states [B] (a distillation teacher's weights with
    the weights), a CNN's feature maps per device (data-parallel: never split), the activation
    shape, and the four memory terms per device of the layouts (tp, pp, ZeRO stage); none
    depends on the global batch or the tokens."""
    w, g, o = mem.state_bytes(m.params, h.weight_bytes, h.optimizer_bytes, m.trainable, m.frozen_bytes)
    states = (w + m.teacher_params * h.weight_bytes, g, o)
    features = m.feature_elements * lay.micro_batch * h.weight_bytes
    shape = (m.layers, m.seq_len / lay.cp, lay.micro_batch, m.d_model, m.heads)
    split, whole = mem.activation_bytes(*shape, lay.recompute, lay.sequence_parallel, pp, m.vocab, lay.flash_attention)
    return states, features, shape, mem.memory_per_gpu(*states, lay.n_gpus, tp, pp, zero, split, whole + features)


def wanted_batch(m: TrainingModel, lay: TrainingLayout) -> FloatArray:
    """The global batch asked for [token]: given (tokens, or sequences kept negative), or the default."""
    seq = maximum(m.seq_len, 1.0)
    return where(isnan(lay.global_batch), st.default_global_batch(m.active_params),
                 where(lay.global_batch < 0, -lay.global_batch * seq, lay.global_batch))


def layout_terms(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, hw_flops: FloatArray, tp: FloatArray,
           pp: FloatArray, zero: FloatArray) -> tuple[st.StepTerms, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The step-time terms of a layout, with its expert degree, its global batch [token] and
    the batch asked for (given, or the default); the batch is never below one micro-batch per
    data-parallel rank, and the virtual pipeline stages (where not given with pipelining: two
    layers per virtual stage, the median of the NeMo and Megatron-Bridge recipes in
    ``tests/data/training_runs.csv``)."""
    ep, batch, wanted, vpp = _degrees(m, lay, tp, pp)
    return _terms(m, h, lay, hw_flops, tp, pp, zero, ep, batch, vpp), ep, batch, wanted, vpp


def _degrees(m: TrainingModel, lay: TrainingLayout, tp: FloatArray,
             pp: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """A layout's expert degree, global batch, the batch asked for and virtual stages (see
    :func:`layout_terms`); none depends on the tokens."""
    ep, vpp, least_batch = batch_free_degrees(m, lay, tp, pp)
    wanted = wanted_batch(m, lay)
    return ep, maximum(wanted, least_batch), wanted, vpp


def batch_free_degrees(m: TrainingModel, lay: TrainingLayout, tp: FloatArray,
                       pp: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A layout's expert degree, virtual stages and the least global batch [token] (one
    micro-batch per data-parallel rank), which do not depend on the batch asked for."""
    dp = maximum(lay.n_gpus / (tp * pp * lay.cp), 1.0)
    vpp = where(isnan(lay.vpp), where(pp > 1, maximum(floor(m.layers / (2.0 * pp)), 1.0), 1.0),
                lay.vpp)
    moe = where(m.experts > 0, 1.0, 0.0)
    ep = where(isnan(lay.ep), where(moe > 0, minimum(m.experts, dp), 1.0), lay.ep)
    return ep, vpp, dp * lay.micro_batch * maximum(m.seq_len, 1.0)


def _terms(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, hw_flops: FloatArray, tp: FloatArray,
           pp: FloatArray, zero: FloatArray, ep: FloatArray, batch: FloatArray, vpp: FloatArray) -> st.StepTerms:
    """:func:`costmodel.steptime.step_terms` of a layout whose degrees are known (:func:`_degrees`)."""
    return st.with_batch(batch_free_terms(m, h, lay, hw_flops, tp, pp, zero, ep, vpp), batch)


def batch_free_terms(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, hw_flops: FloatArray,
                     tp: FloatArray, pp: FloatArray, zero: FloatArray, ep: FloatArray, vpp: FloatArray) -> st.BatchFree:
    """:func:`costmodel.steptime.batch_free_terms` of a layout whose degrees are known."""
    return st.batch_free_terms(hardware_flops=hw_flops, tokens=where(isnan(m.forward_flops), m.tokens, 0.0),
                               params=m.params, active_params=m.active_params, layers=m.layers, d_model=m.d_model,
                               seq_len=maximum(m.seq_len, 1.0), top_k=m.top_k, moe=where(m.experts > 0, 1.0, 0.0),
                               experts=m.experts, expert_ffn=m.expert_ffn, expert_groups=m.expert_groups,
                               group_top_k=m.group_top_k,
                               gemm=h.gemm, bandwidth=h.bandwidth, link=h.link, scale_out=h.scale_out, node=h.node,
                               n=lay.n_gpus, tp=tp, pp=pp, cp=lay.cp, ep=ep, vpp=vpp, micro_batch=lay.micro_batch,
                               zero_stage=zero, recompute=lay.recompute,
                               sequence_parallel=lay.sequence_parallel, optimizer_bytes=h.optimizer_bytes,
                               frozen=m.params - m.trainable,
                               dequant_bytes=where(m.method == 2, core.QLORA_DEQUANT_BYTES, 0.0), vocab=m.vocab,
                               heads=m.heads, attention=m.attention, flash_attention=lay.flash_attention,
                               ep_overlap=lay.ep_overlap, grad_bytes=h.grad_bytes, weight_bytes=h.weight_bytes)


def work_flops(m: TrainingModel, lay: TrainingLayout) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The run's model FLOPs (a distillation teacher's included), the teacher's, and the
    hardware FLOPs with recomputation."""
    teacher = core.teacher_flops(m.teacher_active, m.teacher_attention, m.tokens)
    per_token = core.finetune_flops(m.active_params, m.tokens, m.attention, m.trainable, m.method)
    flops = where(isnan(m.forward_flops), per_token, core.sample_flops(m.forward_flops, m.samples)) + teacher
    return flops, teacher, core.hardware_flops(flops, m.tokens, m.attention, lay.recompute)


def chosen_seconds(m: TrainingModel, h: TrainingHardware, lay: TrainingLayout, cal: TrainingCalibration,
                   hw_flops: FloatArray, tp: FloatArray, pp: FloatArray, zero: FloatArray, ep: FloatArray,
                   batch: FloatArray, vpp: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The local, exposed-communication and whole modelled seconds of one layout chosen already,
    its degrees given (:func:`search_layout`'s ``ep``, ``batch`` and ``vpp``): the same
    operations on the same numbers as :func:`search_layout` with that ``choice``, so an estimate
    that changes only the work (the tokens) need not search or count memory again."""
    parts = combine_terms(_terms(m, h, lay, hw_flops, tp, pp, zero, ep, batch, vpp), lay, cal)
    return parts[0], parts[1], sum(parts)


def combine_terms(terms: st.StepTerms, lay: TrainingLayout, cal: TrainingCalibration) -> tuple:
    """The local, exposed-communication and stretch seconds of the terms at the calibration."""
    return st.combine_parts(terms, memory_passes=cal.memory_passes, dp_overlap=cal.dp_overlap,
                            efficiency=where(lay.tuning == 1, 1.0, cal.typical_efficiency), tp_overlap=cal.tp_overlap)
