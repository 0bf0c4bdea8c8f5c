"""Parameter counts derived from a transformer's shape.

The catalog records each model's published total; this module recomputes it from the
architecture fields, so a shape that cannot express the model (for example SwiGLU's three
FFN matrices, or grouped-query attention) shows up as a mismatch in the tests.

Conventions (weights of every linear layer, embedding and norm):

- embeddings: ``vocab * d`` (+ ``context * d`` for learned positions, + ``type_vocab * d``),
  plus an untied output head of ``vocab * d``;
- attention: Q and O of ``d * heads * head_dim``, K and V of ``d * kv_heads * head_dim``
  (grouped-query attention, Ainslie et al. 2023); DeepSeek's multi-head latent attention
  with its low-rank projections (DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", Sec. 2.1);
- FFN: two matrices for GELU/ReLU, three for gated units (SwiGLU/GeGLU; Shazeer 2020);
  mixture-of-experts layers hold ``experts + shared_experts`` FFNs and a router;
- norms: two per layer and a final one (LayerNorm has a scale and a bias, RMSNorm a scale);
- relative position encodings (Transformer-XL) add one ``d * heads * head_dim`` projection
  per layer;
- a ViT embeds each flattened patch with a linear map (``channels * patch_size**2 * d`` and a
  bias) and prepends a learned class token, and a classifier adds ``num_classes * (d + 1)``
  (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", Eq. 1).
"""

from __future__ import annotations

__all__ = ["count_parameters", "expert_parameters", "bottleneck_parameters"]


def _ffn(d: int, ffn: int, gated: bool, bias: bool) -> int:
    weights = (3 if gated else 2) * d * ffn
    biases = ((2 if gated else 1) * ffn + d) if bias else 0
    return weights + biases


def _attention(spec) -> int:
    d, h = spec.d_model, spec.heads
    if spec.attention == "mla":
        nope, rope, v = spec.qk_nope_head_dim, spec.qk_rope_head_dim, spec.v_head_dim
        q = (d * spec.q_lora_rank + spec.q_lora_rank + spec.q_lora_rank * h * (nope + rope)
             if spec.q_lora_rank else d * h * (nope + rope))
        kv = d * (spec.kv_lora_rank + rope) + spec.kv_lora_rank + spec.kv_lora_rank * h * (nope + v)
        return q + kv + h * v * d
    hd = spec.head_dim or d // h
    kv = spec.kv_heads or h
    weights = 2 * d * h * hd + 2 * d * kv * hd
    if spec.position == "relative":
        # Transformer-XL relative positions (Dai et al. 2019): a projection of the position
        # encodings per layer, as in Gopher and Chinchilla (Rae et al. 2021)
        weights += d * h * hd
    biases = (h * hd + 2 * kv * hd + d) if spec.bias else 0
    return weights + biases


def _vision(spec) -> int:
    """A ViT's patch embedding, class token and classification head (0 for other models)."""
    if spec.kind != "vit" or not spec.patch_size:
        return 0
    d = spec.d_model
    stem = (spec.channels or 3) * spec.patch_size ** 2 * d + d + d
    return stem + (spec.num_classes * (d + 1) if spec.num_classes else 0)


def count_parameters(spec) -> tuple[float, float]:
    """Total and per-token active parameters derived from a catalog entry's shape.

    Returns floats (products can exceed what is comfortable in int32 on some platforms).
    Raises ValueError if the entry has no transformer shape.
    """
    if spec.layers is None or spec.d_model is None or spec.heads is None:
        raise ValueError(f"{spec.id} has no transformer shape to count")
    d = spec.d_model
    gated = spec.ffn_type in ("swiglu", "geglu")
    norm = (2 if spec.norm != "rmsnorm" else 1) * d
    embed = (spec.vocab or 0) * d
    if spec.position == "learned":
        embed += (spec.context or 0) * d
    if spec.type_vocab:
        embed += spec.type_vocab * d
    if spec.embedding_norm:
        embed += norm
    head = 0 if spec.tied_embeddings else (spec.vocab or 0) * d
    pooler = d * d + d if spec.pooler else 0

    attn = _attention(spec) + 2 * norm
    dense_ffn = _ffn(d, spec.ffn_dim, gated, spec.bias) if spec.ffn_dim else 0
    layers = spec.layers + (spec.decoder_layers or 0)
    total = active = float(embed + head + norm + pooler + _vision(spec))
    if spec.experts:
        n_dense = spec.dense_layers or 0
        expert = _ffn(d, spec.expert_ffn_dim or spec.ffn_dim, gated, spec.bias)
        shared = spec.shared_experts or 0
        router = d * spec.experts
        moe_layers = layers - n_dense
        total += layers * attn + n_dense * dense_ffn + moe_layers * ((spec.experts + shared) * expert + router)
        active += layers * attn + n_dense * dense_ffn + moe_layers * (
            (spec.experts_per_token + shared) * expert + router)
    else:
        total += layers * (attn + dense_ffn)
        active = total
    return float(total), float(active)


def expert_parameters(spec) -> float:
    """Parameters of the routed experts (0 for dense models): the weights a MoE decode step
    reads only when some token in the batch is routed to them."""
    if not spec.experts:
        return 0.0
    gated = spec.ffn_type in ("swiglu", "geglu")
    moe_layers = spec.layers + (spec.decoder_layers or 0) - (spec.dense_layers or 0)
    return float(moe_layers * spec.experts * _ffn(spec.d_model, spec.expert_ffn_dim or spec.ffn_dim,
                                                  gated, spec.bias))


def bottleneck_parameters(spec) -> float:
    """Weights of a ResNet of bottleneck blocks (He et al. 2016, Table 1) from its catalog
    stages: the 7x7 stem, per block 1x1, 3x3 and 1x1 convolutions (outputs ``4 w``) with a
    1x1 projection shortcut in each stage's first block, a batch norm (scale and shift) after
    every convolution, and the classifier. Raises ValueError without stages."""
    if spec.bottleneck_blocks is None or spec.bottleneck_widths is None or spec.stem_channels is None:
        raise ValueError(f"{spec.id} has no bottleneck stages to count")
    c = spec.stem_channels
    total = 49 * (spec.channels or 3) * c + 2 * c
    for n, w in zip(spec.bottleneck_blocks, spec.bottleneck_widths):
        for block in range(n):
            total += c * w + 9 * w * w + w * 4 * w + 2 * (w + w + 4 * w)
            if block == 0:
                total += c * 4 * w + 2 * 4 * w
            c = 4 * w
    return float(total + c * (spec.num_classes or 0) + (spec.num_classes or 0))
