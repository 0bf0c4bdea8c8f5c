"""Training time from physics: the parts of a step, each with a meaning, and a few fitted constants.

A training run's wall-clock time on ``n`` devices is the sum, over its steps, of

* **matmuls** at the device's measured large-GEMM ceiling at the training precision, slowed
  where the matrices are small: a GEMM of ``M x K x N`` moves ``M K + K N + M N`` elements for
  ``2 M K N`` FLOPs, and a narrow model (``d_model / tp`` small) sits nearer the roofline's ridge
  than the reference GEMM the ceiling was measured on;
* **memory-bound work** (norms, activations, dropout, residuals, casts, the optimizer step)
  at the memory bandwidth: ``memory_passes`` times the ``34 h`` bytes per token per layer that
  the layer stores for its backward pass [1]; this is why a device whose peak grew faster than
  its bandwidth reaches a smaller share of its peak;
* **communication** from the parallel layout: tensor-parallel all-reduces over the node's
  link (four per layer, six with full recomputation) [1, 2]; data-parallel gradient
  reduce-scatter and parameter all-gather (each gradient in fp32 where the weights are bf16,
  as Megatron-LM and torchtitan reduce them by default, in fp16 under fp16 [9]; the weights
  gathered once more under ZeRO-3; without ZeRO, an all-reduce of the gradients) over the network (hierarchically: each node moves its pipeline stage over all its links;
  a mixture of experts' routed experts, split over ``ep``, reduce over their ``dp / ep``
  replicas, one shard a device where ``tp ep`` exceeds the node);
  expert all-to-alls of a mixture of experts (four per layer: each routed copy of a token to
  a device of its own node over the link, to another node over the network, both at once;
  where the routing is group-limited, one copy per node reached crosses the network and is
  forwarded inside that node, :func:`costmodel.expert_comm.remote_nodes`) [6, 7]; pipeline stages passing
  activations and gradients on, once per virtual stage; of the data- and expert-parallel
  traffic the share ``dp_overlap`` hides behind the computation (up to the backward pass's
  length), and all of the expert all-to-alls where the software overlaps them with another
  micro-batch's computation (``ep_overlap``: DeepSeek-V3's DualPipe, overlapping a forward
  and a backward chunk for "a near-zero all-to-all communication overhead" [6, Sec. 3.2.1]; Megatron-Core's
  batch-level ``--overlap-moe-expert-parallel-comm`` [8]); links run at
  :data:`COMM_EFFICIENCY` of their rate;
* **dequantisation** of a QLoRA run's frozen NF4 weights to bf16 before every matmul, in the
  forward pass, again in the backward pass and again under full recomputation, for every
  micro-batch: the NF4 bytes read plus the bf16 copy written and read back, at the memory
  bandwidth [4, Sec. 3];
* the **pipeline bubble**, ``(pp - 1) / (vpp m)`` of the step for ``m`` micro-batches [2]
  (interleaved by default: two layers per virtual stage, the median of the published NeMo and
  Megatron-Bridge recipes);
* the **pipeline stage imbalance**: the last stage runs the output layer beside its share of
  the layers, and every stage waits for it (:func:`stage_imbalance`);
* **failures**: interruptions arrive at a rate per device-hour and each loses a restart and
  the work since the last checkpoint; the Llama 3 report gives 466 interruptions in 54 days
  on 16,384 GPUs with more than 90% effective training time [3].

**Attention without a fused kernel** (``flash_attention=False``: the software of 2021-22,
Megatron-LM before FlashAttention [5] and XLA on TPUs of that time) writes the ``a s``
attention scores of every token to memory and reads them back: the ``5 a s`` bytes a layer
stores per token for its softmax, dropout mask and dropout output [1, Eq. 1] are read and
written 32 bytes per score in a step (the QK^T product written; the fused scale-mask-softmax
read and written; the dropout read, written and its mask written; AV reads it; the backward
pass the same path in reverse with the softmax output and mask read again), 45 where the
forward pass of the scores is recomputed (:data:`SCORE_BYTES`), counted from the kernels,
not fitted; and it computes the causal mask's hidden half of ``QK^T`` and ``AV`` too (a
fused kernel skips the masked blocks). The same software runs tensor-parallel collectives
between the GEMMs; software with fused attention kernels (Megatron-Core with Transformer
Engine, torchtitan's asynchronous TP, XLA's collective matmuls) overlaps them with the GEMMs
they feed, and the fitted ``tp_overlap`` is the share of that traffic hidden (up to the
matmul time). The pipeline's point-to-point sends are never hidden.

Context parallelism splits each sequence over ``cp`` devices; its key/value exchange is not
modelled (it needs the key/value width, which grouped-query attention shrinks up to 16-fold,
and ring attention overlaps it with the attention itself).

The engineering tier is an input: ``tuned`` (benchmark-class software: fused kernels,
overlapped communication) runs the matmuls at the measured ceiling, ``typical`` (most published
pre-training runs) at the fitted share ``typical_efficiency`` of it. Fitted with a memory-pass
count of its own (never below the tuned tier's), the typical tier's came out equal to the
tuned one: typical software loses its time in the matmul path (untuned GEMM shapes,
stalls), not in extra element-wise passes, so the two tiers share it.

The fitted constants live in :class:`costmodel.calibration.TrainingCalibration`, fitted by
``scripts/fit_calibration.py`` leave-one-source-out on ``tests/data/training_runs.csv``.

References
----------
[1] Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
    arXiv:2205.05198, Sec. 4.
[2] Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using
    Megatron-LM", arXiv:2104.04473, Sec. 2.2 and 3.
[3] Llama Team 2024, "The Llama 3 Herd of Models", arXiv:2407.21783, Sec. 3.3.4.
[4] Dettmers et al. 2023, "QLoRA: Efficient Finetuning of Quantized LLMs", arXiv:2305.14314,
    Sec. 3 (the NF4 storage type is dequantised to the bf16 computation type for every
    forward and backward matmul).
[5] Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with
    IO-Awareness", arXiv:2205.14135 (May 2022): the scores stay in on-chip memory.
[6] DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", arXiv:2412.19437, Sec. 2.1.2 (node-limited
    routing: each token sent to at most M = 4 nodes) and Sec. 3.2.2 (a token crosses
    InfiniBand once to each target node, to the device of the same in-node index, and is
    forwarded over NVLink to the devices holding its experts; the two overlap).
[7] deepseek-ai/DeepEP README (github.com/deepseek-ai/DeepEP, retrieved 2026-12-02): kernels
    "aligned with the group-limited gating algorithm" of [6], forwarding between the NVLink
    and RDMA domains; NVIDIA Megatron-Core ``TransformerConfig.moe_router_num_groups``
    (megatron/core/transformer/transformer_config.py): equal groups of consecutive experts,
    "node-limited routing" when there are as many groups as nodes in the expert-parallel group.
[8] NVIDIA Megatron-LM, megatron/core/transformer/moe/README.md (retrieved 2026-12-02), MCore
    v0.14 (2025/09): "Batch-level overlapping to hide EP-A2A communication
    (--overlap-moe-expert-parallel-comm --delay-wgrad-compute)".
[9] NVIDIA Megatron-LM, megatron/training/arguments.py (retrieved 2026-12-02): under ``--bf16``
    "bfloat16 requires gradient accumulation and all-reduce to be done in fp32"
    (``accumulate_allreduce_grads_in_fp32`` set unless ``--grad-reduce-in-bf16``; not set for
    ``--fp16``); pytorch/torchtitan, the job config's ``training.mixed_precision_reduce``
    (default ``float32``, the FSDP2 ``MixedPrecisionPolicy.reduce_dtype``, parameters in
    ``mixed_precision_param`` bfloat16).
"""

from __future__ import annotations

import math
from typing import Any

from .elementwise import any_true, maximum, minimum, where
from .expert_comm import all_to_all, group_limited, remote_nodes, routed_parameters
from .step_parts import BatchFree, StepTerms, combine, combine_parts, pipeline_bubble, with_batch
from .units import FloatArray

__all__ = ["StepTerms", "step_terms", "stage_imbalance", "remote_nodes", "group_limited", "routed_parameters", "combine_parts", "combine", "TIERS", "DEFAULT_LINK", "DEFAULT_SCALE_OUT",
           "DEFAULT_NODE", "REFERENCE_GEMM", "INTERRUPTIONS_PER_DEVICE_HOUR",
           "HOURS_LOST_PER_INTERRUPTION", "default_global_batch", "GEMM_FRACTION_DEFAULT", "COMM_EFFICIENCY",
           "SCORE_BYTES", "grad_reduce_bytes", "pipeline_bubble", "BatchFree", "batch_free_terms",
           "with_batch"]

TIERS = ("typical", "tuned")  # codes 0, 1
REFERENCE_GEMM = 8192.0  # the square GEMM (M = K = N) on which the ceilings in the profiles are measured
ACT_BYTES = 2.0  # activations and gradients move in 16-bit formats, also under FP8 matmuls
# [3] Sec. 3.3.4: 466 job interruptions (419 unexpected) in a 54-day snapshot on 16,384 H100s
INTERRUPTIONS_PER_DEVICE_HOUR = 466.0 / (54.0 * 24.0 * 16384.0)
# ... with "higher than 90% effective training time": at most 10% of the time lost, i.e. at
# most 0.1 / (rate x 16,384) hours per interruption
HOURS_LOST_PER_INTERRUPTION = 0.1 / (INTERRUPTIONS_PER_DEVICE_HOUR * 16384.0)
# Achieved share of a link's bandwidth by ring collectives (NCCL bus bandwidth over the link's
# per-direction rate); a documented default, see COMM_SOURCE.
COMM_EFFICIENCY = 0.8
COMM_SOURCE = ("NVIDIA/nccl-tests issue #212 (2024-05-06), the NCCL maintainer: H100's 450 GB/s is the NVLink line "
               "rate, and with the protocol overhead (~20%) NCCL reaches an effective 370 GB/s, seen as the bus "
               "bandwidth of ring collectives (https://github.com/NVIDIA/nccl-tests/issues/212); A100 users report "
               "about 200-230 GB/s of 300 (issue #149)")
# Where a profile has no link figures: PCIe Gen4 x16 per direction inside a node, 100 Gb/s of
# network per device between nodes (one HDR-100 / 100 GbE NIC each), and 8 devices per node.
DEFAULT_LINK = 32e9
DEFAULT_SCALE_OUT = 12.5e9
DEFAULT_NODE = 8.0
# The achieved share of the dense peak that large GEMMs reach, for a device whose profile has no
# measurement: the median of the shipped profiles' measured [gemm.*] figures (all precisions;
# tests/test_steptime.py recomputes it). No TPU, CPU or phone publishes one, so it stands in for
# every kind, and the estimate's assumptions say so.
GEMM_FRACTION_DEFAULT = 0.77
# Bytes moved per attention score and step by attention without a fused kernel (16-bit scores,
# 1-byte dropout mask): forward 2 (QK^T written) + 4 (softmax read, written) + 5 (dropout read,
# written, mask written) + 2 (read by AV) = 13; backward 4 (P read for dV, dP written) + 5
# (dropout backward) + 6 (softmax backward: gradient and output read, gradient written) + 4
# (dS read for dQ and dK) = 19; a recomputed forward pass (selective or full) adds its 13.
SCORE_BYTES = (32.0, 45.0)  # (without, with recomputation)


def default_global_batch(active_params: FloatArray) -> FloatArray:
    """Tokens per optimizer step when none is given: GPT-3's batch sizes (Brown et al. 2020,
    Table 2.1: 0.5M tokens at 125M parameters to 3.2M at 175B), log-interpolated and held at
    those ends."""
    n = minimum(maximum(active_params, 1.25e8), 1.75e11)
    return 0.5e6 * (n / 1.25e8) ** (math.log(3.2 / 0.5) / math.log(1.75e11 / 1.25e8))


def _width_efficiency(rows: FloatArray, d_model: FloatArray, tp: FloatArray, ridge: FloatArray) -> FloatArray:
    """Time of the reference GEMM over time of the layer's representative GEMM, per FLOP: ``M``
    tokens by ``K = d_model`` by ``N = 2 d_model / tp`` (the mean of the layer's projections),
    its time the FLOPs at the ceiling plus its inputs and output moved at the memory bandwidth
    (``ridge`` = ceiling / bandwidth, FLOP per byte), both GEMMs alike. The intensity is
    ``M K N`` per byte, half the ``2 M K N`` FLOPs a GEMM does: the additive roofline with the
    traffic counted twice. The literal form (``2 M K N`` per byte moved once), refitted, scores
    worse out of sample: leave-one-source-out median error 13.1% against 10.5%, typical runs
    15.7% against 14.9% (``scripts/fit_calibration.py``, 2026-12-04), so the narrow GEMMs'
    slowdown stays as fitted. 1 where there is no shape."""
    k = maximum(d_model, 1.0)
    n = maximum(2.0 * d_model / maximum(tp, 1e-9), 1.0)
    m = maximum(rows, 1.0)
    intensity = m * k * n / ((m * k + k * n + m * n) * ACT_BYTES)
    reference = REFERENCE_GEMM / 3.0 / ACT_BYTES
    eff = (1.0 + ridge / reference) / (1.0 + ridge / intensity)
    return where(d_model > 0, minimum(eff, 1.0), 1.0)


def stage_imbalance(work: FloatArray, head: FloatArray, pp: FloatArray) -> FloatArray:
    """The slowest pipeline stage's work over the mean stage's: the layers split evenly over
    the ``pp`` stages (Megatron-LM's default split, and Narayanan et al.'s configurations [2]),
    the last stage also running the output layer (``head`` FLOPs of the ``work``: 2 vocab
    d_model a token forward, twice that backward, never recomputed); every stage waits for the
    slowest one, so the step stretches by ``(pp - 1)`` times the head's share of the work (6% for
    [2]'s 1T configuration: two layers a stage, the head an eighth of a layer). A run that
    moves layers off the last stage by hand (Llama 3 405B [3, Sec. 3.3.2]; DeepSeek-V3's
    DualPipe) recovers most of it, which this does not know. 1 without pipelining or without
    a vocabulary."""
    head = minimum(maximum(head, 0.0), 0.5 * work)
    return 1.0 + where(pp > 1, (pp - 1.0) * head / maximum(work, 1e-30), 0.0)


def grad_reduce_bytes(dtype: str) -> float:
    """Bytes per gradient element in the data-parallel reduction at a training precision: fp32
    (4) for bf16 and the 8- and 4-bit formats trained with bf16 weights, and for fp32 training;
    16-bit for fp16, whose gradients Megatron-LM reduces as they are [9]."""
    return 2.0 if dtype == "fp16" else 4.0


def _matmul_efficiency(rows: FloatArray, d_model: FloatArray, tp: FloatArray, ridge: FloatArray,
                       top_k: FloatArray, moe: FloatArray, ep: FloatArray, experts: FloatArray,
                       expert_ffn: FloatArray) -> FloatArray:
    """The GEMM efficiency of :func:`step_terms`: a mixture of experts' small expert matrices
    (each expert sees the tokens routed to it from the ep devices, top_k of every token, d_model
    by its own width), else the layer's own width split over tp. Where no row has routed
    experts the expert figure, which ``where`` would discard, is not computed."""
    dense = _width_efficiency(rows, d_model, tp, ridge)
    routed = (moe > 0) & (expert_ffn > 0)
    if not any_true(routed):
        return dense
    expert_rows = rows * top_k * maximum(ep, 1.0) / maximum(experts, 1.0)
    expert_eff = _width_efficiency(expert_rows, d_model, 2.0 * d_model / maximum(expert_ffn, 1.0), ridge)
    return where(routed, expert_eff, dense)


def step_terms(*, global_batch: FloatArray, **inputs: Any) -> StepTerms:
    """The parts of the step model for one layout at ``global_batch`` tokens per step: those of
    :func:`batch_free_terms` (the ``inputs``, as it takes them) finished by :func:`with_batch`."""
    return with_batch(batch_free_terms(**inputs), global_batch)


def batch_free_terms(*, hardware_flops: FloatArray, tokens: FloatArray, params: FloatArray, layers: FloatArray,
                     d_model: FloatArray, seq_len: FloatArray, top_k: FloatArray, moe: FloatArray,
                     experts: FloatArray, expert_ffn: FloatArray, expert_groups: FloatArray = 0.0,
                     group_top_k: FloatArray = 0.0, active_params: FloatArray | None = None, gemm: FloatArray,
                     bandwidth: FloatArray, link: FloatArray, scale_out: FloatArray,
                     node: FloatArray, n: FloatArray, tp: FloatArray, pp: FloatArray, cp: FloatArray, ep: FloatArray,
                     vpp: FloatArray, micro_batch: FloatArray, zero_stage: FloatArray,
                     recompute: FloatArray, sequence_parallel: FloatArray, optimizer_bytes: FloatArray,
                     frozen: FloatArray = 0.0, dequant_bytes: FloatArray = 0.0, vocab: FloatArray = 0.0,
                     heads: FloatArray = 0.0, attention: FloatArray = 0.0, flash_attention: FloatArray = 1.0,
                     ep_overlap: FloatArray = 0.0, grad_bytes: FloatArray = ACT_BYTES,
                     weight_bytes: FloatArray = ACT_BYTES) -> BatchFree:
    """The parts of the step model for one layout (floats or arrays that broadcast) that do not
    depend on the global batch, and the factors of those that do (:func:`with_batch`).

    ``hardware_flops`` are the whole run's (with recomputation); ``gemm`` the ceiling [FLOP/s];
    ``bandwidth``, ``link`` (inside a node) and ``scale_out`` (between nodes, per device) in
    B/s per direction; ``node`` the devices sharing one link domain; ``moe`` 1 for a mixture of
    experts whose ``top_k`` experts each token visits (chosen from ``group_top_k`` of
    ``expert_groups`` equal groups of the experts where the routing is group-limited; 0: not
    limited); ``global_batch`` tokens per step;
    ``frozen`` the frozen parameters that are dequantised before each matmul and
    ``dequant_bytes`` the bytes one dequantisation moves per parameter (0: none, as for every
    method but QLoRA); ``vocab`` the output layer's width (0: unknown, no stage imbalance);
    ``heads`` the query heads and ``attention`` ``n_layer n_ctx d_attn`` per token (0: unknown),
    for ``flash_attention`` 0 (attention without a fused kernel, see the module's notes);
    ``ep_overlap`` 1 where the software overlaps the expert all-to-alls with computation;
    ``grad_bytes`` the bytes of a gradient element in the data-parallel reduction and
    ``weight_bytes`` of a parameter gathered (:func:`grad_reduce_bytes`).

    The global batch enters only through the optimizer steps (``tokens / global_batch``, which
    the optimizer and data-parallel terms are proportional to) and the bubble of ``stretch``
    (:func:`pipeline_bubble`): a search over other global batches keeps these
    (:class:`costmodel.layout_choices.BatchSearch`).
    """
    dp = maximum(n / (tp * pp * cp), 1.0)
    active_params = params if active_params is None else active_params
    rows = micro_batch * seq_len / cp  # tokens of one micro-batch on one device
    ridge = gemm / bandwidth
    # a mixture of experts multiplies small matrices: each expert sees the tokens routed to it
    # from the ep devices (top_k of every token), d_model by its own width
    eff = _matmul_efficiency(rows, d_model, tp, ridge, top_k, moe, ep, experts, expert_ffn)
    unfused = 1.0 - flash_attention
    # without a fused kernel the causal mask's hidden half of the scores is computed as well:
    # the attention FLOPs once more, forward and backward (and the recomputed forward pass)
    masked = unfused * tokens * attention * where(recompute >= 1, 8.0, 6.0)
    matmul = (hardware_flops + masked) / (n * gemm * eff)
    # every device of a data-parallel replica sees its tokens for its layers / pp, width / tp
    layer_tokens = tokens / dp * layers / pp / cp
    redo = where(recompute == 2, 4.0 / 3.0, 1.0)  # full recomputation repeats the forward pass
    split = where(sequence_parallel != 0, 34.0 / tp, 24.0 / tp + 10.0)
    split = split + moe * 4.0 * top_k  # routed copies of each token, dispatched and combined, both ways
    memory = layer_tokens * split * d_model * redo / bandwidth
    score_bytes = where(recompute >= 1, SCORE_BYTES[1], SCORE_BYTES[0])
    scores = unfused * layer_tokens * heads / tp * seq_len * score_bytes / bandwidth
    # a mixture of experts' routed experts are split over the ep ranks as well, and replicated
    # over the dp / ep ranks that hold the same experts; the rest (attention, embeddings,
    # shared experts) over dp, as in a dense model
    ep = maximum(ep, 1.0)
    routed = routed_parameters(params, active_params, experts, top_k) * where(moe > 0, 1.0, 0.0)
    dense = params - routed
    edp = maximum(dp / ep, 1.0)  # replicas of one device's experts
    share = (dense + routed / ep) / (tp * pp)  # parameters on one device of a replica
    sharded = where(zero_stage >= 1, (dense / dp + routed / (ep * edp)) / (tp * pp), share)
    tp_link = where(tp <= node, link, scale_out) * COMM_EFFICIENCY
    collectives = where(recompute == 2, 6.0, 4.0)
    tp_time = where(tp > 1, layer_tokens * collectives * 2.0 * (tp - 1.0) / tp * d_model * ACT_BYTES / tp_link, 0.0)
    tp_hideable = tp_time * flash_attention
    # pipeline stages pass each micro-batch's activations on, and their gradients back, once per
    # (virtual) stage, split over the tensor-parallel ranks [2, Sec. 4.1], between nodes
    p2p_link = where(tp * pp <= node, link, scale_out) * COMM_EFFICIENCY
    p2p = where(pp > 1, tokens / dp / cp * maximum(vpp, 1.0) * 2.0 * d_model / tp * ACT_BYTES / p2p_link, 0.0)
    tp_time = tp_time + p2p
    # Data parallelism across nodes is hierarchical (NCCL's rings: reduce-scatter inside the
    # node, then every device's network link carries 1/node of its stage): each node moves its
    # pipeline stage's gradients over all of its links, whatever the tensor degree. Inside one
    # node, the replicas' shares move over the link.
    # Expert gradients reduce over their edp replicas: a node holds all tp ep expert shards of
    # its stage where they fit in it (each replicated inside it), else one shard a device, which
    # then moves whole over its own link.
    # Bytes a parameter moves per step: its gradient reduced (in ``grad_bytes``) and, under
    # ZeRO-1/2, its updated 16-bit copy gathered back (``weight_bytes``); ZeRO-3 gathers it once
    # more for the backward pass; without ZeRO, an all-reduce moves the gradient twice [9].
    moved = where(zero_stage >= 3, grad_bytes + 2.0 * weight_bytes,
                  where(zero_stage >= 1, grad_bytes + weight_bytes, 2.0 * grad_bytes))
    across = n > node
    dense_link = where(across, dense / pp / minimum(node, n), dense / (tp * pp))
    routed_link = where(across, routed / pp / maximum(minimum(node, n), tp * ep), routed / (tp * pp * ep))
    per_link = dense_link * (dp - 1.0) / dp + routed_link * (edp - 1.0) / edp
    dp_link = where(across, scale_out, link) * COMM_EFFICIENCY
    # expert all-to-alls, inside the node and between nodes at once (:func:`costmodel.expert_comm.all_to_all`)
    ep_time = all_to_all(layer_tokens, d_model, tp, node, link, scale_out, top_k, moe, ep, experts,
                         expert_groups, group_top_k, element_bytes=ACT_BYTES, efficiency=COMM_EFFICIENCY)
    imbalance = stage_imbalance(hardware_flops, 6.0 * vocab * d_model * tokens, pp)
    failures = 1.0 + INTERRUPTIONS_PER_DEVICE_HOUR * n * HOURS_LOST_PER_INTERRUPTION
    # QLoRA [4]: each micro-batch dequantises the device's frozen weights once per pass that
    # multiplies by them (forward, backward; the forward again under full recomputation)
    frozen_share = where(moe > 0, frozen / (tp * pp) / maximum(ep, 1.0), frozen / (tp * pp))
    dequant_passes = where(recompute == 2, 3.0, 2.0)
    device_micro_batches = tokens / (dp * maximum(micro_batch * seq_len, 1.0))
    dequant = device_micro_batches * frozen_share * dequant_bytes * dequant_passes / bandwidth
    terms = StepTerms(matmul=matmul, memory=memory, optimizer=0.0, tp=tp_time, dp=0.0, ep=ep_time, stretch=0.0,
                      dequant=dequant, scores=scores, tp_hideable=tp_hideable, ep_overlapped=ep_time * ep_overlap)
    return BatchFree(terms=terms, tokens=tokens, sharded=sharded, state_bytes=optimizer_bytes + 6.0,
                     bandwidth=bandwidth, dp=dp, per_link=per_link, moved=moved, dp_link=dp_link, pp=pp, vpp=vpp,
                     feed=dp * micro_batch * seq_len, imbalance=imbalance, failures=failures)
