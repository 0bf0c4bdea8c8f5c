"""Mixtures of experts in a ``config.json``: Mixtral's, Qwen-MoE's and DeepSeek's layouts, and
DeepSeek's multi-head latent attention (for :func:`costmodel.model_from_config`)."""

from __future__ import annotations

from typing import Any

from .config_families import ConfigReader, Family

__all__ = ["read_experts"]


def read_experts(r: ConfigReader, family: Family, fields: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """A mixture of experts (Mixtral, Qwen-MoE, DeepSeek), and DeepSeek's latent attention."""
    out: dict[str, Any] = {}
    if family.moe == "deepseek":
        out.update(_latent_attention(r))
        routed = r.number(("n_routed_experts",))
    elif family.moe == "qwen":
        routed = r.need(("num_experts",))
    else:
        routed = r.need(("num_local_experts",))
    nextn = r.number(("num_nextn_predict_layers",), allow_zero=True)
    if nextn:
        notes.append(f"The checkpoint's {nextn} multi-token-prediction layer(s) (num_nextn_predict_layers) are "
                     "not counted, as in DeepSeek-AI's published totals.")
    if not routed:  # DeepSeek without routed experts: a dense model
        if "ffn_dim" not in fields:
            raise r.missing("intermediate_size")
        return out
    per_token = r.need(("num_experts_per_tok",))
    if per_token > routed:
        raise r.error("num_experts_per_tok", f"must not exceed the {routed} experts, got {per_token}")
    width = fields["ffn_dim"] if family.moe == "mixtral" else r.need(("moe_intermediate_size",))
    moe_layers = _moe_layers(r, family, fields["layers"])
    if len(moe_layers) < fields["layers"] and "ffn_dim" not in fields:
        raise r.missing("intermediate_size")
    out.update(experts=routed, experts_per_token=per_token, expert_ffn_dim=width,
               shared_experts=_shared_experts(r, family, width, notes), dense_layers=fields["layers"] - len(moe_layers))
    if family.moe == "deepseek":
        out.update(_expert_groups(r, routed))
    return out


def _expert_groups(r: ConfigReader, routed: int) -> dict[str, int]:
    """DeepSeek's group-limited routing: ``n_group`` equal groups of the routed experts, each token
    choosing its experts from ``topk_group`` of them, unless ``topk_method`` is ``"greedy"``
    (DeepSeek-V2's modelling code then ignores the groups; V3's ``noaux_tc`` always uses them).
    Nothing where the groups limit nothing (one group, or every group chosen)."""
    if r.optional("topk_method", str, "") == "greedy":
        return {}
    groups, chosen = r.number(("n_group",)), r.number(("topk_group",))
    if groups is None or chosen is None or groups <= 1 or chosen >= groups:
        return {}
    if routed % groups:
        raise r.error("n_group", f"must divide the {routed} routed experts into equal groups, got {groups}")
    return {"expert_groups": groups, "expert_groups_per_token": chosen}


def _moe_layers(r: ConfigReader, family: Family, layers: int) -> list[int]:
    """Which layers hold experts: DeepSeek's first_k_dense_replace and moe_layer_freq, Qwen's
    decoder_sparse_step and mlp_only_layers (as the transformers modelling code reads them)."""
    if family.moe == "deepseek":
        first = r.number(("first_k_dense_replace",), allow_zero=True) or 0
        freq = r.number(("moe_layer_freq",)) or 1
        return [i for i in range(layers) if i >= first and i % freq == 0]
    if family.moe == "qwen":
        step = r.number(("decoder_sparse_step",)) or 1
        dense = r.optional("mlp_only_layers", list, [])
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in dense):
            raise r.error("mlp_only_layers", f"expected a list of layer numbers, got {dense!r}")
        return [i for i in range(layers) if i not in dense and (i + 1) % step == 0]
    return list(range(layers))


def _shared_experts(r: ConfigReader, family: Family, width: int, notes: list[str]) -> int:
    if family.moe == "deepseek":
        return r.number(("n_shared_experts",), allow_zero=True) or 0
    shared_width = r.number(("shared_expert_intermediate_size",), allow_zero=True) or 0
    shared = round(shared_width / width)
    if shared_width and shared * width != shared_width:
        shared = max(shared, 1)
        notes.append(f"The shared expert ({shared_width} wide) is counted as {shared} expert(s) of {width}.")
    return shared


def _latent_attention(r: ConfigReader) -> dict[str, Any]:
    """DeepSeek's multi-head latent attention (DeepSeek-AI 2024, DeepSeek-V2, Sec. 2.1)."""
    out: dict[str, Any] = {key: r.need((key,))
                           for key in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")}
    out["q_lora_rank"] = r.number(("q_lora_rank",))  # null: queries are projected at full rank
    out["head_dim"] = out["qk_nope_head_dim"] + out["qk_rope_head_dim"]  # the query-key width
    out["attention"] = "mla"
    return out
