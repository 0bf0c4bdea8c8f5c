"""The architecture families :func:`costmodel.model_from_config` reads, and the Hugging Face
``config.json`` keys each one spells a dimension with.

A family says which keys hold the shape (``n_embd`` for GPT-2, ``dim`` for DistilBERT,
``hidden_size`` for most others), which of them a config must have, and what the modelling
code of the ``transformers`` library assumes where the file is silent (tied embeddings, biases,
the norm, the position encoding, a gated feed-forward). The defaults follow each model's
``*Config`` class in ``transformers``, with one exception: an absent ``num_key_value_heads`` is
read as multi-head attention (``MistralConfig`` alone would assume 8; real files state it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .datafiles import FieldReader
from .errors import ProfileError

__all__ = ["ConfigReader", "Family", "FAMILIES"]

MAX_DIM = 2**31  # no dimension of a real model comes near; keeps the counts exact in floats

# ModelSpec field -> the config.json keys that can hold it, the first present one wins.
Keys = dict[str, tuple[str, ...]]
_DECODER: Keys = {
    "layers": ("num_hidden_layers",), "d_model": ("hidden_size",), "heads": ("num_attention_heads",),
    "kv_heads": ("num_key_value_heads",), "head_dim": ("head_dim",), "ffn_dim": ("intermediate_size",),
    "vocab": ("vocab_size",), "context": ("max_position_embeddings",)}
_GPT2: Keys = {
    "layers": ("n_layer",), "d_model": ("n_embd",), "heads": ("n_head",), "ffn_dim": ("n_inner",),
    "vocab": ("vocab_size",), "context": ("n_positions",)}
_BERT: Keys = {
    "layers": ("num_hidden_layers",), "d_model": ("hidden_size",), "heads": ("num_attention_heads",),
    "ffn_dim": ("intermediate_size",), "vocab": ("vocab_size",), "context": ("max_position_embeddings",),
    "type_vocab": ("type_vocab_size",)}
_DISTILBERT: Keys = {
    "layers": ("n_layers",), "d_model": ("dim",), "heads": ("n_heads",), "ffn_dim": ("hidden_dim",),
    "vocab": ("vocab_size",), "context": ("max_position_embeddings",)}
_VIT: Keys = {
    "layers": ("num_hidden_layers",), "d_model": ("hidden_size",), "heads": ("num_attention_heads",),
    "ffn_dim": ("intermediate_size",), "image_size": ("image_size",), "patch_size": ("patch_size",),
    "channels": ("num_channels",)}
_SHAPE = ("layers", "d_model", "heads")


class ConfigReader(FieldReader):
    """Fields of one config.json. ``null`` means "the library default", as an absent key does."""

    def __init__(self, path: str, data: dict[str, Any]):
        super().__init__(path, data)
        self.model_type = ""

    def present(self, key: str) -> bool:
        return self.data.get(key) is not None

    def missing(self, key: str) -> ProfileError:
        return self.error(key, f"is required for model_type {self.model_type!r} but missing")

    def number(self, keys: tuple[str, ...], *, required: bool = False, allow_zero: bool = False) -> int | None:
        """The first of ``keys`` that is set, a positive whole number (or zero, if allowed)."""
        key = next((k for k in keys if self.present(k)), None)
        if key is None:
            if required:
                raise self.missing(keys[0])
            return None
        value = self.data[key]
        if allow_zero and value == 0 and isinstance(value, int) and not isinstance(value, bool):
            return 0
        value = self.get(key, int)
        if value > MAX_DIM:
            raise self.error(key, f"must be at most {MAX_DIM:,}, got {value:,}")
        return value

    def need(self, keys: tuple[str, ...]) -> int:
        value = self.number(keys)
        if value is None:
            raise self.missing(keys[0])
        return value

    def flag(self, key: str, default: bool) -> bool:
        return self.get(key, bool) if self.present(key) else default

    def optional(self, key: str, kind: type, default: Any) -> Any:
        return self.get(key, kind) if self.present(key) else default


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """How one ``model_type`` writes its shape, and what its modelling code assumes.

    ``required`` names ModelSpec fields a config must give; ``act_keys`` are the keys of the
    activation (first present wins) and ``act`` its default; ``moe`` names the expert layout
    (``"mixtral"``, ``"qwen"`` or ``"deepseek"``); ``bias_keys`` are boolean keys that switch
    projection biases on (``bias`` is the default when none is present).
    """

    kind: str
    keys: Keys
    required: tuple[str, ...] = (*_SHAPE, "ffn_dim", "vocab")
    gated: bool = True
    act_keys: tuple[str, ...] = ("hidden_act",)
    act: str = "silu"
    position: str = "rope"
    norm: str = "rmsnorm"
    bias: bool = False
    bias_keys: tuple[str, ...] = ("attention_bias", "mlp_bias")
    tied: bool = False
    embedding_norm: bool = False  # a LayerNorm after the embeddings (BERT and its descendants)
    pooler: bool = False  # BERT's pooler (a d x d layer on the first token), part of BertModel
    moe: str | None = None
    notes: tuple[str, ...] = ()


_LLAMA = Family(kind="dense-decoder", keys=_DECODER)
_GEMMA = Family(kind="dense-decoder", keys=_DECODER, tied=True, act_keys=("hidden_activation", "hidden_act"),
                act="gelu_pytorch_tanh")
_MOE_REQUIRED = (*_SHAPE, "vocab")

FAMILIES: dict[str, Family] = {
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": Family(kind="dense-decoder", keys=_DECODER, notes=(
        "The Q, K and V projections carry biases (d_model + 2 x kv_heads x head_dim per layer), "
        "which the count leaves out (under 0.01%).",)),
    "qwen3": _LLAMA,
    "phi3": _LLAMA,
    "gemma": _GEMMA,
    "gemma2": _GEMMA,
    "mixtral": Family(kind="dense-decoder", keys=_DECODER, moe="mixtral"),
    "qwen2_moe": Family(kind="dense-decoder", keys=_DECODER, required=_MOE_REQUIRED, moe="qwen"),
    "qwen3_moe": Family(kind="dense-decoder", keys=_DECODER, required=_MOE_REQUIRED, moe="qwen"),
    "deepseek_v2": Family(kind="dense-decoder", keys=_DECODER, required=_MOE_REQUIRED, moe="deepseek"),
    "deepseek_v3": Family(kind="dense-decoder", keys=_DECODER, required=_MOE_REQUIRED, moe="deepseek"),
    "gpt2": Family(kind="dense-decoder", keys=_GPT2, required=(*_SHAPE, "vocab"), gated=False,
                   act_keys=("activation_function",), act="gelu_new", position="learned", norm="layernorm",
                   bias=True, bias_keys=(), tied=True),
    "gptj": Family(kind="dense-decoder", keys=_GPT2, required=(*_SHAPE, "vocab"), gated=False,
                   act_keys=("activation_function",), act="gelu_new", norm="layernorm", bias=True, bias_keys=(),
                   notes=("The MLP and the output head have biases, the attention projections none; the count "
                          "gives every projection a bias (under 0.01%).",)),
    "gpt_neox": Family(kind="dense-decoder", keys=_DECODER, gated=False, act="gelu", norm="layernorm", bias=True,
                       bias_keys=("attention_bias",)),
    "bert": Family(kind="encoder", keys=_BERT, gated=False, act="gelu", position="learned", norm="layernorm",
                   bias=True, bias_keys=(), tied=True, embedding_norm=True, pooler=True),
    "roberta": Family(kind="encoder", keys=_BERT, gated=False, act="gelu", position="learned", norm="layernorm",
                      bias=True, bias_keys=(), tied=True, embedding_norm=True, pooler=True),
    "distilbert": Family(kind="encoder", keys=_DISTILBERT, gated=False, act_keys=("activation",), act="gelu",
                         position="learned", norm="layernorm", bias=True, bias_keys=(), tied=True,
                         embedding_norm=True),
    "vit": Family(kind="vit", keys=_VIT, required=(*_SHAPE, "ffn_dim", "image_size", "patch_size"), gated=False,
                  act="gelu", position="learned", norm="layernorm", bias=True, bias_keys=("qkv_bias",)),
}
