"""The model catalog: every entry loads, is sourced, and its shape reproduces its size."""

import pytest

import costmodel
from costmodel.architecture import count_parameters
from costmodel.models import get_model, list_models

REQUIRED_IDS = [
    "linear-regression", "resnet-50", "vit-b-16", "vit-l-16", "vit-h-14", "distilbert-base",
    "bert-base", "bert-large", "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "gpt-j-6b",
    "gpt3-175b", "gpt4", "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b",
    "llama-3.1-70b", "llama-3.1-405b", "mixtral-8x7b", "deepseek-v3", "bloom-176b", "opt-175b",
    "falcon-180b", "chinchilla-70b", "gopher-280b", "palm-540b",
]
NOT_TRANSFORMERS = {"linear-regression", "resnet-50"}
TRANSFORMER_IDS = [m.id for m in list_models() if m.is_transformer]


@pytest.mark.parametrize("model_id", REQUIRED_IDS)
def test_every_required_model_loads_with_a_source(model_id):
    spec = get_model(model_id)
    assert spec.id == model_id
    assert len(spec.source.strip()) >= 10, spec.source
    assert spec.retrieved == "2026-11-23"  # the catalog was read on one day
    assert spec.active_params.magnitude <= spec.params.magnitude


def test_the_parametrised_shape_check_covers_every_required_transformer():
    # guards against the list below silently shrinking (e.g. a shape field going missing)
    assert set(REQUIRED_IDS) - NOT_TRANSFORMERS <= set(TRANSFORMER_IDS)
    assert NOT_TRANSFORMERS.isdisjoint(TRANSFORMER_IDS)


@pytest.mark.parametrize("model_id", TRANSFORMER_IDS)
def test_shape_reproduces_published_parameter_counts(model_id):
    # The catalog promises its shapes reproduce the published totals "to within a few per
    # cent" (papers round, e.g. ViT-L's 307M vs 304.3M exact); 3% also catches a missing
    # gate matrix or GQA head, which are off by 20% or more.
    spec = get_model(model_id)
    total, active = count_parameters(spec)
    assert total == pytest.approx(spec.params.magnitude, rel=0.03)
    assert active == pytest.approx(spec.active_params.magnitude, rel=0.03)


def test_llama_2_70b_counts_gqa_and_swiglu():
    # Meta's checkpoint has 68,976,648,192 weights. Counting K/V as full multi-head attention
    # would overshoot; counting two FFN matrices instead of SwiGLU's three gives ~55B.
    total, active = count_parameters(get_model("llama-2-70b"))
    assert total == pytest.approx(68_976_648_192, rel=1e-6)
    assert active == total


@pytest.mark.parametrize("model_id, total, active", [
    ("mixtral-8x7b", 46.7e9, 12.9e9),   # Mistral AI model card
    ("deepseek-v3", 671e9, 37e9),       # DeepSeek-V3 technical report
    ("gpt4", 1.8e12, 280e9),            # SemiAnalysis estimate
])
def test_moe_entries_have_fewer_active_than_total_parameters(model_id, total, active):
    spec = get_model(model_id)
    assert spec.kind == "moe-decoder"
    assert spec.params.magnitude == pytest.approx(total, rel=1e-9)
    assert spec.active_params.magnitude == pytest.approx(active, rel=1e-9)
    derived_total, derived_active = count_parameters(spec)
    assert derived_active < derived_total
    # the shape routes the published share of weights to each token (two 3% errors compound)
    assert derived_active / derived_total == pytest.approx(active / total, rel=0.06)


def test_every_moe_entry_has_active_below_total():
    moe = [m for m in list_models() if m.kind == "moe-decoder"]
    assert {m.id for m in moe} >= {"mixtral-8x7b", "deepseek-v3", "gpt4"}
    for spec in moe:
        assert spec.active_params.magnitude < spec.params.magnitude, spec.id


def test_gpt4_is_flagged_as_an_estimate_and_says_from_where():
    spec = get_model("gpt4")
    assert spec.estimate is True
    assert "SemiAnalysis" in spec.notes
    assert "not published by OpenAI" in spec.notes
    assert "arXiv:2303.08774" in spec.source  # the technical report that withholds the figures
    # every other required entry is a published figure
    assert [m for m in REQUIRED_IDS if get_model(m).estimate] == ["gpt4"]


def test_aliases_resolve_case_insensitively():
    assert get_model("GPT-3") is get_model("gpt3-175b")
    assert get_model(" GPT3-175B ") is get_model("gpt3-175b")


def test_unknown_model_suggests_close_ids():
    with pytest.raises(costmodel.UnknownProfileError,
                       match=r"^'llama-2-7' is not a known model; did you mean 'llama-2-7b'.*"
                             r"\(see: costmodel models list\)$"):
        get_model("llama-2-7")


def test_non_transformer_has_no_shape_to_count():
    with pytest.raises(ValueError, match="^resnet-50 has no transformer shape to count$"):
        count_parameters(get_model("resnet-50"))


_MOE = {"id": "moe", "name": "moe", "family": "test", "kind": "moe-decoder", "params": "10B", "source": "test",
        "retrieved": "2026-12-02", "experts": 16, "experts_per_token": 2}


@pytest.mark.parametrize("fields, message", [
    ({"expert_groups": 4}, "expert_groups_per_token: group-limited routing needs both expert_groups and "
                           "expert_groups_per_token"),
    ({"expert_groups": 3, "expert_groups_per_token": 1}, "expert_groups: must divide the routed experts (16) into "
                                                         "equal groups, got 3"),
    ({"expert_groups": 4, "expert_groups_per_token": 5}, "expert_groups_per_token: must be between 1 and "
                                                         "expert_groups (4), got 5"),
])
def test_group_limited_routing_is_checked_on_load(fields, message):
    import re

    with pytest.raises(costmodel.ProfileError, match=f"^<mapping>: field model\\[moe\\]\\.{re.escape(message)}$"):
        costmodel.models.ModelSpec.from_mapping({**_MOE, **fields})


def test_deepseek_v3_routes_from_four_of_eight_groups():
    spec = get_model("deepseek-v3")
    assert (spec.experts, spec.expert_groups, spec.expert_groups_per_token) == (256, 8, 4)
