"""The model catalog: published shapes, parameter counts and training data, with sources.

The catalog lives in ``costmodel/data/models.toml``; every entry names its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pint

from .datacache import cached
from .datafiles import FieldReader, lookup, name_index, read_toml, retrieved_date
from .errors import InputError, ProfileError, UnitError
from .units import CountLike, parse_count, quantity

__all__ = ["ModelSpec", "TransformerShape", "get_model", "list_models", "resolve_counts", "KINDS"]

KINDS = ("dense-decoder", "moe-decoder", "encoder", "encoder-decoder", "cnn", "vit", "linear")
TRANSFORMERS = ("dense-decoder", "moe-decoder", "encoder", "encoder-decoder", "vit")
_INT_FIELDS = ("layers", "d_model", "heads", "kv_heads", "head_dim", "ffn_dim", "vocab", "context",
               "type_vocab", "experts", "experts_per_token", "shared_experts", "expert_ffn_dim",
               "expert_groups", "expert_groups_per_token", "dense_layers", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim",
               "qk_rope_head_dim", "v_head_dim", "image_size", "patch_size", "channels",
               "num_classes", "decoder_layers", "train_context", "stem_channels")
_LIST_FIELDS = ("bottleneck_blocks", "bottleneck_widths")  # a ResNet's stages, one entry each
_STR_FIELDS = ("ffn_type", "position", "norm", "attention")
_BOOL_FIELDS = ("tied_embeddings", "bias", "embedding_norm", "pooler", "estimate")
_CHOICES = {"ffn_type": ("gelu", "relu", "swiglu", "geglu"),
            "position": ("learned", "rope", "alibi", "relative", "sinusoidal", "none"),
            "norm": ("layernorm", "rmsnorm"), "attention": ("mha", "gqa", "mqa", "mla")}
_KEYS = {"id", "name", "family", "kind", "params", "active_params", "source", "retrieved",
         "notes", "forward_flops", "training_tokens", "training_samples", "aliases",
         *_INT_FIELDS, *_STR_FIELDS, *_BOOL_FIELDS, *_LIST_FIELDS}


@dataclass(frozen=True, slots=True, kw_only=True)
class TransformerShape:
    """The dimensions of a catalogued transformer that the estimators use, with the catalog's
    defaults filled in: KV heads as many as query heads, a head size of ``d_model / heads``
    (MLA: the query-key width, ``qk_nope_head_dim + qk_rope_head_dim``), a value head as wide
    (MLA: ``v_head_dim``), MLA's cached latent per layer (0 for other attention), and the
    training sequence length (a ViT's patches plus the class token; else the pre-training
    context, the context, or 2048)."""

    layers: int
    d_model: int
    heads: int
    kv_heads: int
    head_dim: int
    value_dim: int = 0  # a value head's width where it is not head_dim's (MLA); 0: head_dim
    kv_latent: int = 0
    seq_len: int

    @property
    def attention_dim(self) -> int:
        """Width of the attention, d_attn in Kaplan et al. 2020: heads x head size, the mean of
        the query-key and the value widths where they differ (its ``4 n_ctx d_attn`` FLOPs per
        token and layer are the scores' ``2 n_ctx`` x query-key width plus the weighted values'
        ``2 n_ctx`` x value width). DeepSeek-V3's MLA: 128 x (192 + 128) / 2 = 20,480 against a
        d_model of 7,168 (prefill and training run the attention decompressed, per head)."""
        return self.heads * (self.head_dim + (self.value_dim or self.head_dim)) // 2


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """One catalogued model. Architecture fields are None where they do not apply."""

    id: str
    name: str
    family: str
    kind: str
    params: pint.Quantity
    active_params: pint.Quantity
    source: str
    retrieved: str
    notes: str = ""
    estimate: bool = False
    aliases: tuple[str, ...] = ()
    layers: int | None = None
    d_model: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    ffn_dim: int | None = None
    ffn_type: str | None = None
    vocab: int | None = None
    context: int | None = None
    train_context: int | None = None  # sequence length of pre-training, where it differs
    position: str | None = None
    tied_embeddings: bool = False
    bias: bool = False
    norm: str | None = None
    embedding_norm: bool = False
    pooler: bool = False
    type_vocab: int | None = None
    decoder_layers: int | None = None
    experts: int | None = None
    experts_per_token: int | None = None
    shared_experts: int | None = None
    expert_ffn_dim: int | None = None
    # group-limited routing (DeepSeek's n_group / topk_group, Megatron-Core's moe_router_num_groups /
    # moe_router_group_topk): the routed experts split into equal groups, each token choosing its
    # experts from expert_groups_per_token of them
    expert_groups: int | None = None
    expert_groups_per_token: int | None = None
    dense_layers: int | None = None
    attention: str | None = None
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    image_size: int | None = None
    patch_size: int | None = None
    channels: int | None = None
    num_classes: int | None = None
    stem_channels: int | None = None
    bottleneck_blocks: tuple[int, ...] | None = None  # blocks per stage (ResNet-50: 3, 4, 6, 3)
    bottleneck_widths: tuple[int, ...] | None = None  # bottleneck width per stage; blocks output 4x
    forward_flops: pint.Quantity | None = None
    training_tokens: pint.Quantity | None = None
    training_samples: pint.Quantity | None = None

    @classmethod
    def from_mapping(cls, data: dict[str, Any], path: Path | str = "<mapping>") -> ModelSpec:
        """Validate one catalog table and build the entry (ProfileError naming the field)."""
        r = FieldReader(path, data, prefix=f"model[{data.get('id', '?')}].")
        r.check_keys(_KEYS, required=("id", "name", "family", "kind", "params", "source", "retrieved"))
        kind = r.get("kind", str)
        if kind not in KINDS:
            raise r.error("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        fields: dict[str, Any] = {k: r.get(k, int) for k in _INT_FIELDS if k in data}
        for key in _STR_FIELDS:
            if key in data:
                fields[key] = r.get(key, str)
                if fields[key] not in _CHOICES[key]:
                    raise r.error(key, f"expected one of {', '.join(_CHOICES[key])}, got {fields[key]!r}")
        fields.update({k: r.get(k, bool) for k in _BOOL_FIELDS if k in data})
        fields.update({k: _stages(r, k) for k in _LIST_FIELDS if k in data})
        if len(fields.get("bottleneck_blocks", ())) != len(fields.get("bottleneck_widths", ())):
            raise r.error("bottleneck_widths", "needs one width per entry of bottleneck_blocks")
        _check_groups(r, fields)
        counts: dict[str, Any] = {k: _count(r, k) for k in ("params", "active_params", "training_tokens",
                                             "training_samples") if k in data}
        if "active_params" not in counts:
            counts["active_params"] = counts["params"]
        for key in ("params", "active_params"):
            counts[key] = quantity(counts[key], "count")
        for key in ("training_tokens", "training_samples"):
            if key in counts:
                counts[key] = quantity(counts[key], "token" if key == "training_tokens" else "count")
        if "forward_flops" in data:
            fields["forward_flops"] = r.quantity("forward_flops", "flop")
        return cls(id=r.get("id", str), name=r.get("name", str), family=r.get("family", str),
                   kind=kind, source=r.get("source", str), retrieved=retrieved_date(r),
                   notes=r.get("notes", str, ""), aliases=tuple(r.get("aliases", list, [])),
                   **counts, **fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (counts as floats; None fields left out)."""
        import dataclasses

        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "aliases" and not value):
                continue
            if hasattr(value, "magnitude"):
                value = float(value.magnitude)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @property
    def is_transformer(self) -> bool:
        return self.kind in TRANSFORMERS and self.layers is not None

    @property
    def shape(self) -> TransformerShape | None:
        """The transformer's dimensions (None when :attr:`is_transformer` is false); a
        ProfileError names a dimension the catalog entry lacks."""
        if not self.is_transformer:
            return None
        layers, d_model, heads = self.layers, self.d_model, self.heads
        if layers is None or d_model is None or heads is None:
            raise self._missing("d_model and heads")
        head_dim = self.head_dim or d_model // heads
        latent = value = 0
        if self.attention == "mla":
            if self.kv_lora_rank is None or self.qk_rope_head_dim is None:
                raise self._missing("kv_lora_rank and qk_rope_head_dim (attention = 'mla')")
            latent = self.kv_lora_rank + self.qk_rope_head_dim
            if self.qk_nope_head_dim is not None:
                head_dim = self.qk_nope_head_dim + self.qk_rope_head_dim  # the query-key width
            value = self.v_head_dim or 0
        if self.kind == "vit":
            if self.image_size is None or self.patch_size is None:
                raise self._missing("image_size and patch_size (kind = 'vit')")
            seq_len = (self.image_size // self.patch_size) ** 2 + 1
        else:
            seq_len = self.train_context or self.context or 2048
        return TransformerShape(layers=layers, d_model=d_model, heads=heads, kv_heads=self.kv_heads or heads,
                                head_dim=head_dim, value_dim=value, kv_latent=latent, seq_len=seq_len)

    def _missing(self, what: str) -> ProfileError:
        return ProfileError(f"model {self.id!r}: a transformer needs {what}")

    @property
    def attention_dim(self) -> int | None:
        """Width of the attention (heads x head size), d_attn in Kaplan et al. 2020."""
        if self.heads is None or self.d_model is None:
            return None
        if self.is_transformer:
            return self.shape.attention_dim  # type: ignore[union-attr]  # (MLA's widths as well)
        return self.heads * (self.head_dim or self.d_model // self.heads)


def _check_groups(r: FieldReader, fields: dict[str, Any]) -> None:
    """Group-limited routing needs both figures, equal groups of the routed experts, and at most
    as many groups per token as there are groups."""
    groups, chosen = fields.get("expert_groups"), fields.get("expert_groups_per_token")
    if groups is None and chosen is None:
        return
    if groups is None or chosen is None:
        raise r.error("expert_groups" if groups is None else "expert_groups_per_token",
                      "group-limited routing needs both expert_groups and expert_groups_per_token")
    experts = fields.get("experts")
    if not experts or experts % groups:
        raise r.error("expert_groups", f"must divide the routed experts ({experts}) into equal groups, got {groups}")
    if not 1 <= chosen <= groups:
        raise r.error("expert_groups_per_token", f"must be between 1 and expert_groups ({groups}), got {chosen}")


def _stages(r: FieldReader, key: str) -> tuple[int, ...]:
    values = r.get(key, list)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise r.error(key, f"expected a list of positive whole numbers, got {values!r}")
    return tuple(values)


def _count(r: FieldReader, key: str) -> float:
    value = r.data[key]
    try:
        return parse_count(value, key)
    except UnitError as exc:
        raise r.error(key, exc.message) from None


def catalog_path() -> Path:
    return Path(__file__).resolve().parent / "data" / "models.toml"


@cache
def _entries() -> dict[str, dict[str, Any]]:
    """id -> raw catalog table (validated only when the model is used)."""
    return {entry.get("id"): entry for entry in read_toml(catalog_path(), cache=True).get("model", [])}


@cache
def _build(model_id: str) -> ModelSpec:
    # validated once and kept on disk while the catalog and the package do not change (datacache)
    return cached(f"model:{catalog_path()}:{model_id}", [catalog_path()],
                  lambda: ModelSpec.from_mapping(_entries()[model_id], catalog_path()), code=True)


@cache
def _catalog() -> tuple[dict[str, ModelSpec], dict[str, ModelSpec]]:
    models = {model_id: _build(model_id) for model_id in _entries()}
    return models, name_index(models.values())


def get_model(name: str | ModelSpec, *, argument: str = "model") -> ModelSpec:
    """Look up a catalogued model by id or alias (case-insensitive).

    An exact id builds only that entry; an alias or a near miss validates the whole catalog.

    >>> get_model("gpt3-175b").name
    'GPT-3 175B'
    """
    if isinstance(name, ModelSpec):
        return name
    if isinstance(name, str) and name in _entries():
        return _build(name)
    return lookup(name, _catalog()[1], what="model", command="costmodel models list", argument=argument)


def list_models() -> list[ModelSpec]:
    """All catalogued models, in catalog order."""
    return list(_catalog()[0].values())


def resolve_counts(spec: ModelSpec | None, params: CountLike | None,
                   active_params: CountLike | None) -> tuple[float, float]:
    """Total and per-token active parameters: the ones given, else the catalog entry's."""
    if params is not None:
        n = parse_count(params, "params")
    elif spec is not None:
        n = float(spec.params.magnitude)
    else:
        raise InputError("give a catalogued model (e.g. 'llama-2-7b') or {params=} (e.g. 7B)", argument="params")
    if active_params is not None:
        active = parse_count(active_params, "active_params")
    else:
        active = n if params is not None or spec is None else float(spec.active_params.magnitude)
    if active > n:
        raise InputError(f"must not exceed {{params}} ({active:.4g} > {n:.4g})", argument="active_params")
    return n, active
