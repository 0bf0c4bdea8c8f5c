"""The step model's terms and how they combine into seconds (:mod:`costmodel.steptime` builds them).

:class:`StepTerms` holds one layout's seconds per part of the step; :func:`combine_parts` turns
them into wall-clock seconds at the fitted constants. The global batch enters the terms only
through the optimizer steps and the pipeline bubble, so :func:`costmodel.steptime.batch_free_terms`
leaves those to :func:`with_batch`, and a layout can be timed again at another batch without
its other terms (:class:`costmodel.layout_choices.BatchSearch`).

References
----------
Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using
Megatron-LM" (SC'21), Sec. 2.2 (the pipeline bubble).
"""

from __future__ import annotations

from dataclasses import dataclass

from .elementwise import maximum, minimum, where
from .units import FloatArray

__all__ = ["StepTerms", "BatchFree", "with_batch", "pipeline_bubble", "combine_parts", "combine"]


@dataclass(frozen=True, slots=True)
class StepTerms:
    """Seconds (per device, whole run) of each part of the step model, for unit constants:
    ``matmul`` and ``optimizer`` are physical; ``memory`` is for one pass over the stored
    activations; ``tp`` the tensor-parallel and pipeline traffic (never hidden), ``dp`` and
    ``ep`` the whole data- and expert-parallel traffic (partly hidden behind the computation);
    ``stretch`` multiplies the total (pipeline bubble x failures); ``dequant`` is QLoRA's
    memory-bound dequantisation of its frozen weights (0 for other methods) and ``scores``
    the attention scores' memory traffic without a fused attention kernel (0 with one), not
    scaled by any fitted constant; ``tp_hideable`` the part of ``tp`` (its collectives, where
    the software overlaps them) that ``tp_overlap`` may hide; ``ep_overlapped`` the part of
    ``ep`` the software overlaps with another micro-batch's computation (all of it, or none),
    hidden whole up to the computation's length."""

    matmul: FloatArray
    memory: FloatArray
    optimizer: FloatArray
    tp: FloatArray
    dp: FloatArray
    ep: FloatArray
    stretch: FloatArray
    dequant: FloatArray = 0.0
    scores: FloatArray = 0.0
    tp_hideable: FloatArray = 0.0
    ep_overlapped: FloatArray = 0.0


def pipeline_bubble(pp: FloatArray, vpp: FloatArray, in_flight: FloatArray) -> FloatArray:
    """The step's stretch by the pipeline bubble, ``1 + (pp - 1) / (vpp m)``, for ``in_flight``
    micro-batches per step per pipeline (``m``, at least one) and ``vpp`` virtual stages
    (Narayanan et al. 2021, Sec. 2.2)."""
    return 1.0 + (pp - 1.0) / (maximum(vpp, 1.0) * maximum(in_flight, 1.0))


@dataclass(frozen=True, slots=True)
class BatchFree:
    """What :func:`costmodel.steptime.batch_free_terms` gives: the step terms less those of the global batch
    (``optimizer``, ``dp`` and ``stretch`` 0 in ``terms``), and the factors :func:`with_batch`
    makes those of: the optimizer's parameters per device, its bytes per parameter and the
    memory bandwidth; the data-parallel degree, the parameters a link moves, their bytes and
    the link's speed; the pipeline stages, the virtual stages and the tokens one micro-batch
    per data-parallel rank holds; the stage imbalance and the failures' stretch."""

    terms: StepTerms
    tokens: FloatArray
    sharded: FloatArray
    state_bytes: FloatArray
    bandwidth: FloatArray
    dp: FloatArray
    per_link: FloatArray
    moved: FloatArray
    dp_link: FloatArray
    pp: FloatArray
    vpp: FloatArray
    feed: FloatArray
    imbalance: FloatArray
    failures: FloatArray


def with_batch(f: BatchFree, global_batch: FloatArray) -> StepTerms:
    """The step terms of :func:`costmodel.steptime.batch_free_terms`' layout at ``global_batch`` tokens per step:
    the optimizer and the data-parallel reduction run once per step, and the pipeline's bubble
    shrinks with the micro-batches in flight."""
    steps = f.tokens / global_batch
    t = f.terms
    return StepTerms(matmul=t.matmul, memory=t.memory, optimizer=steps * f.sharded * f.state_bytes / f.bandwidth,
                     tp=t.tp, dp=where(f.dp > 1, steps * f.per_link * f.moved / f.dp_link, 0.0), ep=t.ep,
                     stretch=pipeline_bubble(f.pp, f.vpp, global_batch / f.feed) * f.imbalance * f.failures,
                     dequant=t.dequant, scores=t.scores, tp_hideable=t.tp_hideable, ep_overlapped=t.ep_overlapped)


def combine_parts(t: StepTerms, *, memory_passes: FloatArray, dp_overlap: FloatArray,
                  efficiency: FloatArray, tp_overlap: FloatArray = 0.0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Seconds of the run's device-local work, exposed communication and stretch (pipeline
    bubble and failures) from its terms and the fitted constants: ``efficiency`` (1 for the
    tuned tier, ``typical_efficiency`` for the typical one) divides the matmul and optimizer
    time, ``memory_passes`` multiplies the memory-bound term; QLoRA's dequantisation and the
    unfused attention scores' traffic are added as they are; ``tp_overlap`` of the hideable
    tensor-parallel traffic hides behind the matmuls (at most their time); of the data- and
    expert-parallel traffic the share ``dp_overlap`` hides, and all of the expert traffic that
    the software overlaps, what exceeds two thirds of the local work showing again. Their sum
    is the wall-clock time."""
    matmul = t.matmul / efficiency
    local = matmul + t.optimizer / efficiency + memory_passes * t.memory + t.dequant + t.scores
    overlappable = t.dp + t.ep
    hidden = dp_overlap * (overlappable - t.ep_overlapped) + t.ep_overlapped
    tp_hidden = minimum(tp_overlap * t.tp_hideable, matmul)
    comm = t.tp - tp_hidden + (overlappable - hidden) + maximum(hidden - local * (2.0 / 3.0), 0.0)
    return local, comm, (local + comm) * (t.stretch - 1.0)


def combine(t: StepTerms, **constants: FloatArray) -> FloatArray:
    """Wall-clock seconds of the run (the sum of :func:`combine_parts`)."""
    local, comm, stretch = combine_parts(t, **constants)
    return local + comm + stretch
