"""Any transformer from its Hugging Face ``config.json``: :func:`model_from_config`.

A model hub ships every checkpoint with a ``config.json`` that fixes its shape. This module maps
each supported family's keys (:mod:`costmodel.config_families`) onto a :class:`ModelSpec`, and
counts the parameters from that shape with :func:`costmodel.architecture.count_parameters`, so
the estimators take a model the catalog does not list. Files are read from disk only (UTF-8
JSON, at most 1 MB like the profile files); nothing is fetched from the network.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn, Union

from .architecture import count_parameters
from .config_families import FAMILIES, ConfigReader, Family
from .config_moe import read_experts
from .datafiles import normalise, read_text
from .errors import InputError, ProfileError, suggest
from .models import ModelSpec
from .units import quantity

__all__ = ["model_from_config", "vision_forward_flops", "SUPPORTED"]

SUPPORTED = tuple(sorted(FAMILIES))
ConfigSource = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def model_from_config(source: ConfigSource, *, name: str | None = None) -> ModelSpec:
    """A :class:`ModelSpec` built from a Hugging Face ``config.json``.

    Parameters
    ----------
    source : str, os.PathLike or dict
        The path of a ``config.json`` on disk, or the already parsed file.
    name : str, optional
        The model's display name (its id is the name, normalised). Default: the file's name,
        or its folder's for a file called ``config.json``; the ``model_type`` for a dict.

    Returns
    -------
    ModelSpec
        The shape, with ``params`` [count] and (for a mixture of experts) ``active_params``
        [count] counted from it; ``notes`` says what the count leaves out or approximates.

    Raises
    ------
    ProfileError
        The file cannot be read, is not JSON, or a field is missing, of the wrong type, not
        positive, or inconsistent; the message names the file and the field.
    InputError
        ``source`` or ``name`` is not of a usable type.

    References
    ----------
    The families and their keys: :data:`SUPPORTED`, :mod:`costmodel.config_families`; the
    ``*Config`` classes of Hugging Face ``transformers`` give the defaults of absent keys.

    Examples
    --------
    >>> spec = model_from_config({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12,
    ...                           "n_positions": 1024, "vocab_size": 50257})
    >>> int(spec.params.magnitude)
    124439808
    """
    data, where = _load(source)
    r = ConfigReader(where, data)
    family = _family(r)
    notes = list(family.notes)
    fields = _shape(r, family)
    fields.update(_features(r, family, fields))
    if family.moe is not None:
        fields.update(read_experts(r, family, fields, notes))
    if family.kind == "vit":
        fields.update(_vision(r, fields))
    context, more = _context(r, family, fields)
    fields.update(context)
    notes.extend(more)
    title = _name(source, name, r.model_type)
    kind = "moe-decoder" if fields.get("experts") else family.kind
    spec = ModelSpec(id=normalise(title), name=title, family=r.model_type, kind=kind,
                     params=quantity(0.0, "count"), active_params=quantity(0.0, "count"),
                     source=f"{where} (Hugging Face config.json, model_type {r.model_type!r}); parameters counted "
                            "from the shape by costmodel.architecture.count_parameters",
                     retrieved=datetime.date.today().isoformat(), notes=" ".join(notes), **fields)
    total, active = count_parameters(spec)
    return dataclasses.replace(spec, params=quantity(total, "count"), active_params=quantity(active, "count"))


def _load(source: object) -> tuple[dict[str, Any], str]:
    if isinstance(source, Mapping):
        return dict(source), "<dict>"
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if not isinstance(text, str) or not text.strip():
            raise InputError("expected the path of a config.json, got an empty path", argument="source")
        return _read_json(Path(text), text), text
    raise InputError(f"expected the path of a config.json or a dict, got {type(source).__name__}",
                     argument="source")


def _read_json(path: Path, shown: str) -> dict[str, Any]:
    """Read a JSON object, turning every failure into a ProfileError naming the file."""

    def constant(word: str) -> NoReturn:
        raise ProfileError(f"{shown}: not valid JSON ({word} is not a JSON number)")

    text = read_text(path, "config", shown)
    try:
        data = json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{shown}: not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{shown}: expected a JSON object (the fields of a config.json), got {type(data).__name__}")
    return data


def _family(r: ConfigReader) -> Family:
    if not r.present("model_type"):
        raise r.error("model_type", "is required but missing (it names the architecture family, e.g. 'llama')")
    model_type = r.get("model_type", str)
    if model_type not in FAMILIES:
        close = suggest(model_type, SUPPORTED)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise r.error("model_type", f"{model_type!r} is not a supported model_type{hint} "
                                    f"(supported: {', '.join(SUPPORTED)})")
    r.model_type = model_type
    return FAMILIES[model_type]


def _shape(r: ConfigReader, family: Family) -> dict[str, Any]:
    """The dimensions, checked against each other."""
    fields: dict[str, Any] = {}
    for field, keys in family.keys.items():
        value = r.number(keys, required=field in family.required)
        if value is not None:
            fields[field] = value
    d_key, h_key = family.keys["d_model"][0], family.keys["heads"][0]
    heads, kv = fields["heads"], fields.get("kv_heads", fields["heads"])
    if kv > heads or heads % kv:
        raise r.error(family.keys["kv_heads"][0], f"must divide {h_key} ({heads}), got {kv}")
    if "head_dim" not in fields and fields["d_model"] % heads and family.moe != "deepseek":
        raise r.error(h_key, f"must divide {d_key} ({fields['d_model']}) when head_dim is not given, got {heads}")
    fields["kv_heads"] = kv
    if "ffn_dim" not in fields and family.moe is None:  # GPT-2's n_inner: null means 4 x n_embd
        fields["ffn_dim"] = 4 * fields["d_model"]
    if family.pooler and "type_vocab" not in fields:  # BertConfig's default type_vocab_size
        fields["type_vocab"] = 2
    return fields


def _features(r: ConfigReader, family: Family, fields: dict[str, Any]) -> dict[str, Any]:
    """What the shape alone does not say: the activation, biases, tying, norm and positions."""
    heads, kv = fields["heads"], fields.get("kv_heads", fields["heads"])
    bias = family.bias
    set_keys = [k for k in family.bias_keys if r.present(k)]
    if set_keys:
        bias = any(r.get(k, bool) for k in set_keys)
    return {"ffn_type": _ffn_type(r, family), "bias": bias,
            "tied_embeddings": r.flag("tie_word_embeddings", family.tied), "norm": family.norm, "position": family.position, "embedding_norm": family.embedding_norm,
            "pooler": family.pooler, "attention": "mha" if kv == heads else "mqa" if kv == 1 else "gqa"}


def _ffn_type(r: ConfigReader, family: Family) -> str:
    key = next((k for k in family.act_keys if r.present(k)), family.act_keys[0])
    act = r.get(key, str) if r.present(key) else family.act
    base = "gelu" if act.startswith("gelu") or act == "quick_gelu" else {"silu": "silu", "swish": "silu",
                                                                         "relu": "relu"}.get(act)
    ffn = {(True, "gelu"): "geglu", (True, "silu"): "swiglu", (False, "gelu"): "gelu",
           (False, "relu"): "relu"}.get((family.gated, base or ""))
    if ffn is None:
        layout, others = ("a gated", "silu or swish") if family.gated else ("a two-matrix", "relu")
        raise r.error(key, f"{act!r} is not supported in {layout} feed-forward (expected a gelu variant such as "
                           f"gelu, gelu_new or gelu_pytorch_tanh, or {others})")
    return ffn


def _vision(r: ConfigReader, fields: dict[str, Any]) -> dict[str, Any]:
    """A ViT's sequence (patches and the class token) and its head: a classifier for
    ``*ForImageClassification`` (two classes unless id2label lists others), a pooler for ViTModel."""
    image, patch = fields["image_size"], fields["patch_size"]
    if image % patch:
        raise r.error("image_size", f"must be a multiple of patch_size ({patch}), got {image}")
    architectures = r.optional("architectures", list, [])
    labels = r.optional("id2label", dict, {"0": "LABEL_0", "1": "LABEL_1"})
    classify = any(isinstance(a, str) and a.endswith("ForImageClassification") for a in architectures)
    out = {"context": (image // patch) ** 2 + 1, "num_classes": len(labels) if classify else None,
           "pooler": "ViTModel" in architectures, "channels": fields.get("channels", 3)}
    out["forward_flops"] = quantity(vision_forward_flops({**fields, **out}), "flop")
    return out


def vision_forward_flops(fields: dict[str, Any]) -> float:
    """Forward FLOPs per image of a ViT [FLOP]: 2 per weight of each linear layer per token it
    sees (Kaplan et al. 2020, Table 1) plus the two attention matmuls, QK^T and AV, at 2 n_ctx
    d_attn each per layer and token. This is the count that gives the catalog's 35.1 GFLOP for
    ViT-B/16 (timm's 17.6 GMACs).

    >>> round(vision_forward_flops({"d_model": 768, "layers": 12, "heads": 12, "ffn_dim": 3072,
    ...     "patch_size": 16, "channels": 3, "context": 197, "num_classes": 1000}) / 1e9, 1)
    35.1
    """
    d, layers, seq = fields["d_model"], fields["layers"], fields["context"]
    d_attn = fields["heads"] * (fields.get("head_dim") or d // fields["heads"])
    per_layer = 4 * d * d_attn + 2 * d * fields["ffn_dim"]  # Q, K, V, O and the two FFN matrices
    stem = fields["channels"] * fields["patch_size"] ** 2 * d  # applied to each patch, not the class token
    head = (fields.get("num_classes") or 0) * d
    return float(2 * layers * per_layer * seq + 2 * stem * (seq - 1) + 4 * layers * seq * seq * d_attn + 2 * head)


def _context(r: ConfigReader, family: Family, fields: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The pre-training sequence length where the config gives it (the context before a RoPE
    extension), and notes on what it does not give and on a sliding attention window."""
    out: dict[str, Any] = {}
    notes = []
    context = fields.get("context")
    scaling = r.data.get("rope_scaling")
    original = scaling.get("original_max_position_embeddings") if isinstance(scaling, dict) else None
    original = original or r.data.get("original_max_position_embeddings")
    if context and isinstance(original, int) and not isinstance(original, bool) and 0 < original < context:
        out["train_context"] = original
    elif context and family.position == "rope":
        notes.append(f"config.json does not give the pre-training sequence length: training estimates use the "
                     f"context of {context:,} tokens unless seq_len= is given.")
    window = r.number(("sliding_window",))
    if window and r.data.get("use_sliding_window") is not False:
        layers = " on alternate layers" if r.model_type == "gemma2" else ""
        notes.append(f"Sliding-window attention over {window:,} tokens{layers}; the attention and KV-cache "
                     "estimates assume full attention.")
    return out, notes


def _name(source: ConfigSource, name: str | None, model_type: str) -> str:
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"expected a non-empty string, got {name!r}", argument="name")
        return name.strip()
    if isinstance(source, Mapping):
        return model_type
    path = Path(os.fspath(source))
    if path.stem.lower() == "config":
        return path.resolve().parent.name or model_type
    return path.stem
