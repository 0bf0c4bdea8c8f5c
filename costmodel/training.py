"""Training compute and time: pure vectorised functions on canonical floats.

Memory (model states, activations, the parallel layout) is in :mod:`costmodel.memory`.

Every function here accepts Python floats or numpy arrays (broadcasting), returns the same,
and never builds a Quantity; :mod:`costmodel.training_estimate` resolves the inputs, runs
these and wraps the results.

Fine-tuning and distillation change which parameters train and so the FLOPs:

- ``full``: every weight trains: ``6 (N + attn) D`` FLOPs [1].
- ``lora`` / ``qlora``: the base weights are frozen. The forward pass and the backward pass
  through the activations still run over every layer (``2 + 2`` per parameter and token), but
  frozen weights need no weight gradients (the third ``2``) and no optimizer state [5]; the
  adapters train fully: ``4 (N + attn) D + 6 T D`` for ``T`` adapter parameters. QLoRA stores
  the frozen base in 4-bit NormalFloat with double quantisation, about 4.127 bits per
  parameter [6], and dequantises it to bf16 for every matmul: the step-time model's
  ``dequant`` term (:mod:`costmodel.steptime`), with the same FLOPs as LoRA.
- distillation: the teacher runs a forward pass on every training token,
  ``2 (N_t + attn_t) D`` FLOPs, and its weights sit in memory beside the student's [7].

References
----------
.. [1] Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Table 1.
.. [2] Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
   Models", Sec. 5 (selective recomputation repeats the attention scores).
.. [4] Chowdhery et al. 2022, "PaLM", Appendix B (model FLOPs utilisation).
.. [5] Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", Sec. 4 and 7.1.
.. [6] Dettmers et al. 2023, "QLoRA: Efficient Finetuning of Quantized LLMs", Sec. 3.
.. [7] Hinton et al. 2015, "Distilling the Knowledge in a Neural Network".
"""

from __future__ import annotations

from .elementwise import where

__all__ = ["model_flops", "finetune_flops", "teacher_flops", "sample_flops", "lora_parameters",
           "hardware_flops", "training_seconds", "RECOMPUTE", "METHODS", "QLORA_BYTES_PER_PARAM",
           "QLORA_DEQUANT_BYTES"]

RECOMPUTE = ("none", "selective", "full")  # codes 0, 1, 2 in the array functions
METHODS = ("full", "lora", "qlora")  # codes 0, 1, 2 in the array functions
QLORA_BYTES_PER_PARAM = 4.127 / 8.0  # NF4 + double quantisation [6]
# bytes one dequantisation of a frozen QLoRA weight moves: the NF4 copy read, the bf16 copy
# written and read back by the matmul [6, Sec. 3]
QLORA_DEQUANT_BYTES = QLORA_BYTES_PER_PARAM + 2.0 * 2.0


def model_flops(active_params, tokens, attention_per_token=0.0):
    """Model FLOPs of training: 6 N D plus the attention term [1].

    Kaplan et al. count a forward pass as ``2 N + 2 n_layer n_ctx d_attn`` FLOPs per token
    and the backward pass as twice the forward, so training costs
    ``6 D (N + n_layer n_ctx d_attn)``. ``attention_per_token`` is ``n_layer n_ctx d_attn``
    (0 when the shape is unknown).

    >>> model_flops(175e9, 300e9)
    3.15e+23
    """
    return 6.0 * tokens * (active_params + attention_per_token)


def finetune_flops(active_params, tokens, attention_per_token, trainable, method):
    """Model FLOPs of training by method code (0 full, 1-2 LoRA/QLoRA) [1, 5].

    >>> float(finetune_flops(7e9, 1e9, 0.0, 4e6, 1))
    2.8024e+19
    """
    peft = tokens * (4.0 * (active_params + attention_per_token) + 6.0 * trainable)
    return where(method > 0, peft, model_flops(active_params, tokens, attention_per_token))


def teacher_flops(teacher_active, teacher_attention, tokens):
    """A distillation teacher's forward passes over the training tokens [7] (0 without one)."""
    return 2.0 * (teacher_active + teacher_attention) * tokens


def sample_flops(forward_flops_per_sample, samples):
    """Training FLOPs of image and tabular models: forward + backward (twice the forward) per
    sample seen."""
    return 3.0 * forward_flops_per_sample * samples


def lora_parameters(layers, d_model, heads, kv_heads, head_dim, rank):
    """Adapter parameters of rank ``rank`` on the query and value projections of every layer,
    the configuration of Hu et al. 2021 (Sec. 7.1) [5]: ``r (d + d_q) + r (d + d_kv)`` per layer.

    >>> lora_parameters(32, 4096, 32, 32, 128, 8)
    4194304.0
    """
    d_q, d_kv = heads * head_dim, kv_heads * head_dim
    return float(layers * rank * (2 * d_model + d_q + d_kv))


def hardware_flops(flops, tokens, attention_per_token, recompute):
    """FLOPs the devices execute, including recomputation (``recompute`` code 0, 1, 2).

    Full recomputation (2) repeats the forward pass, a third of the model FLOPs; selective
    recomputation (1) repeats only the attention scores [2], ``2 D n_layer n_ctx d_attn``.
    """
    extra = where(recompute == 2, flops / 3.0, where(recompute == 1, 2.0 * tokens * attention_per_token, 0.0))
    return flops + extra


def training_seconds(flops, n_gpus, peak_flops, mfu):
    """Wall-clock seconds: model FLOPs / (devices x dense peak x MFU) [4]."""
    return flops / (n_gpus * peak_flops * mfu)
