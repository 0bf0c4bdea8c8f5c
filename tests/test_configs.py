"""model_from_config: real config.json files reproduce the published parameter counts, bad input
fails in one line naming the file and the field, and the estimators take the result."""

import csv
import json
import re
from pathlib import Path

import pytest

import costmodel
from costmodel import InputError, ProfileError, model_from_config
from costmodel.architecture import count_parameters
from costmodel.configs import SUPPORTED
from costmodel.units import parse_count

CONFIGS = Path(__file__).resolve().parent / "data" / "configs"
with open(CONFIGS / "SOURCES.csv", encoding="utf-8", newline="") as _f:
    SOURCES = list(csv.DictReader(_f))
PUBLISHED = [row for row in SOURCES if row["params"]]

# A Llama-style shape small enough to read at a glance; each bad-input test breaks one field.
TINY = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 256}


def _spec(name: str):
    return model_from_config(CONFIGS / name)


def test_every_config_file_has_a_sourced_row():
    assert {p.name for p in CONFIGS.glob("*.json")} == {row["file"] for row in SOURCES}
    for row in SOURCES:
        assert row["config_url"].startswith("https://huggingface.co/") and row["config_url"].endswith("config.json")
        assert row["read_from"] and row["copy"] and row["params_source"] and row["retrieved"], row["file"]
    assert len(PUBLISHED) >= 15
    assert {row["model_type"] for row in PUBLISHED} >= {
        "llama", "mistral", "qwen2", "phi3", "mixtral", "qwen3_moe", "deepseek_v2", "deepseek_v3", "gpt2", "gptj",
        "gpt_neox", "bert", "roberta", "distilbert", "vit"}


@pytest.mark.parametrize("row", PUBLISHED, ids=lambda row: row["file"])
def test_the_shape_reproduces_the_published_parameter_count(row):
    # Published totals are rounded ("8B", "7.3B", "1.0B"), so 2%; a missing gate matrix, an
    # untied head or a misread expert count is off by 10% or more.
    spec = _spec(row["file"])
    assert spec.family == row["model_type"]
    assert spec.params.magnitude == pytest.approx(parse_count(row["params"]), rel=0.02)
    if row["active_params"]:
        assert spec.kind == "moe-decoder"
        assert spec.active_params.magnitude == pytest.approx(parse_count(row["active_params"]), rel=0.02)
    else:
        assert spec.kind != "moe-decoder"
        assert spec.active_params.magnitude == spec.params.magnitude


@pytest.mark.parametrize("name, count, what", [
    # GPT-2's released checkpoint (the catalog's gpt2 entry gives the same figure)
    ("gpt2.json", 124_439_808, lambda s: s.params.magnitude),
    # the Pythia card's non-embedding parameters for the 1.0B model (input and output tables apart)
    ("pythia-1b.json", 805_736_448, lambda s: s.params.magnitude - 2 * s.vocab * s.d_model),
])
def test_exact_counts_where_the_source_gives_one(name, count, what):
    assert what(_spec(name)) == count


# config.json file -> the catalog entry of the same model, whose shape was entered by hand
SAME_MODEL = {"llama-3.1-8b.json": "llama-3.1-8b", "mixtral-8x7b-v0.1.json": "mixtral-8x7b",
              "deepseek-r1.json": "deepseek-v3", "gpt2.json": "gpt2", "gpt2-large.json": "gpt2-large",
              "gpt-j-6b.json": "gpt-j-6b", "bert-base-uncased.json": "bert-base",
              "distilbert-base-uncased.json": "distilbert-base"}
SHAPE_FIELDS = ("layers", "d_model", "heads", "kv_heads", "ffn_dim", "vocab", "tied_embeddings", "ffn_type", "norm",
                "position", "bias", "embedding_norm", "pooler", "type_vocab", "train_context", "experts",
                "experts_per_token", "shared_experts", "expert_groups", "expert_groups_per_token", "dense_layers", "q_lora_rank", "kv_lora_rank",
                "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")


@pytest.mark.parametrize("name, model_id", SAME_MODEL.items())
def test_the_config_reads_as_the_catalog_entry_of_the_same_model(name, model_id):
    spec, entry = _spec(name), costmodel.get_model(model_id)
    assert {f: getattr(spec, f) or None for f in SHAPE_FIELDS} == {f: getattr(entry, f) or None for f in SHAPE_FIELDS}
    assert count_parameters(spec) == count_parameters(entry) or spec.family == "deepseek_v3"  # MLA head width
    assert spec.shape == entry.shape  # what the estimators use, attention widths included


def test_latent_attention_runs_at_its_query_key_and_value_widths():
    """DeepSeek-V3 (MLA): the scores are 192 wide per head (128 + 64 rotary), the values 128,
    so d_attn is 128 x 160 = 20,480, not d_model (7,168): at 32K tokens of context the
    attention is about half of a prefill token's FLOPs."""
    shape = costmodel.get_model("deepseek-v3").shape
    assert (shape.head_dim, shape.value_dim, shape.attention_dim) == (192, 128, 20_480)
    assert costmodel.get_model("llama-3.1-8b").shape.attention_dim == 4096  # 32 heads x 128, as before


def test_families_read_their_own_conventions():
    llama = _spec("llama-3.2-1b.json")
    assert (llama.tied_embeddings, llama.head_dim, llama.attention, llama.train_context) == (True, 64, "gqa", 8192)
    gemma = _spec("gemma-2-2b-it.json")  # tied by default (no tie_word_embeddings key), GeGLU, head_dim 256
    assert (gemma.tied_embeddings, gemma.ffn_type, gemma.head_dim, gemma.kv_heads) == (True, "geglu", 256, 4)
    assert "Sliding-window attention over 4,096 tokens on alternate layers" in gemma.notes
    # 2,614,341,888 in the checkpoint, whose two extra RMSNorms per layer the count leaves out
    assert gemma.params.magnitude == pytest.approx(2_614_341_888, rel=1e-4)
    mistral = _spec("mistral-7b-v0.1.json")
    assert "Sliding-window attention over 4,096 tokens;" in mistral.notes
    assert "Sliding-window" not in _spec("qwen2.5-7b.json").notes  # use_sliding_window is false
    r1 = _spec("deepseek-r1.json")
    assert (r1.attention, r1.dense_layers, r1.shared_experts, r1.train_context) == ("mla", 3, 1, 4096)
    assert "multi-token-prediction" in r1.notes
    vit = _spec("vit-base-patch16-224-in21k.json")
    assert (vit.context, vit.num_classes, vit.pooler) == (197, 2, False)
    assert vit.forward_flops.to("GFLOP").magnitude == pytest.approx(35.1, rel=0.01)  # the catalog's ViT-B/16


DEEPSEEK_TINY = {**TINY, "model_type": "deepseek_v3", "n_routed_experts": 8, "num_experts_per_tok": 2,
                 "moe_intermediate_size": 32, "kv_lora_rank": 16, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8,
                 "v_head_dim": 16}


def test_deepseek_group_limited_routing_is_read_where_it_limits():
    """n_group / topk_group: DeepSeek-V3 (R1's config) routes from 4 of 8 groups, DeepSeek-V2.5
    ('group_limited_greedy') from 3 of 8; 'greedy' routing (V2-Lite) ignores the groups, and one
    group or every group chosen limits nothing."""
    r1, v25 = _spec("deepseek-r1.json"), _spec("deepseek-v2.5.json")
    assert (r1.expert_groups, r1.expert_groups_per_token) == (8, 4)
    assert (v25.expert_groups, v25.expert_groups_per_token) == (8, 3)
    for extra in ({"n_group": 4, "topk_group": 2, "topk_method": "greedy"}, {"n_group": 1, "topk_group": 1},
                  {"n_group": 4, "topk_group": 4}, {}):
        spec = model_from_config({**DEEPSEEK_TINY, **extra})
        assert (spec.expert_groups, spec.expert_groups_per_token) == (None, None), extra
    spec = model_from_config({**DEEPSEEK_TINY, "n_group": 4, "topk_group": 2})
    assert (spec.expert_groups, spec.expert_groups_per_token) == (4, 2)


def test_qwen2_moe_reads_the_shared_expert_and_the_sparse_step():
    # Qwen1.5-MoE-A2.7B's shape: the shared expert is four routed experts wide
    config = {**TINY, "model_type": "qwen2_moe", "num_experts": 60, "num_experts_per_tok": 4,
              "moe_intermediate_size": 32, "shared_expert_intermediate_size": 128, "num_hidden_layers": 4}
    spec = model_from_config(config)
    assert (spec.kind, spec.experts, spec.shared_experts, spec.dense_layers) == ("moe-decoder", 60, 4, 0)
    assert model_from_config({**config, "decoder_sparse_step": 2}).dense_layers == 2
    assert model_from_config({**config, "mlp_only_layers": [0]}).dense_layers == 1


def test_null_means_the_library_default():
    spec = model_from_config({**TINY, "num_key_value_heads": None, "head_dim": None, "tie_word_embeddings": None})
    assert (spec.kv_heads, spec.head_dim, spec.tied_embeddings) == (4, None, False)


def test_name_and_id():
    assert model_from_config(TINY).id == "llama"
    assert model_from_config(TINY, name=" My Model ").name == "My Model"
    assert model_from_config(TINY, name="My Model").id == "my-model"
    assert _spec("qwen2.5-7b.json").id == "qwen2.5-7b"


def test_a_file_named_config_json_takes_its_folder_name(tmp_path):
    folder = tmp_path / "Tiny-Llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY), encoding="utf-8")
    assert model_from_config(folder / "config.json").name == "Tiny-Llama"


def _raises(config, message: str, tmp_path, monkeypatch, *, raw: bytes | None = None):
    monkeypatch.chdir(tmp_path)
    Path("config.json").write_bytes(raw if raw is not None else json.dumps(config).encode())
    with pytest.raises(ProfileError, match=f"^{re.escape(message)}$"):
        model_from_config("config.json")


@pytest.mark.parametrize("config, message", [
    ({k: v for k, v in TINY.items() if k != "hidden_size"},
     "config.json: field hidden_size: is required for model_type 'llama' but missing"),
    ({**TINY, "hidden_size": None},
     "config.json: field hidden_size: is required for model_type 'llama' but missing"),
    ({**TINY, "model_type": "lama"},
     f"config.json: field model_type: 'lama' is not a supported model_type; did you mean 'llama'? "
     f"(supported: {', '.join(SUPPORTED)})"),
    ({k: v for k, v in TINY.items() if k != "model_type"},
     "config.json: field model_type: is required but missing (it names the architecture family, e.g. 'llama')"),
    ({**TINY, "hidden_size": "4096"}, "config.json: field hidden_size: expected int, got str '4096'"),
    ({**TINY, "hidden_size": 64.0}, "config.json: field hidden_size: expected int, got float 64.0"),
    ({**TINY, "num_hidden_layers": True}, "config.json: field num_hidden_layers: expected int, got bool True"),
    ({**TINY, "num_hidden_layers": 0}, "config.json: field num_hidden_layers: must be positive, got 0"),
    ({**TINY, "vocab_size": -5}, "config.json: field vocab_size: must be positive, got -5"),
    ({**TINY, "vocab_size": 2**40}, "config.json: field vocab_size: must be at most 2,147,483,648, got 1,099,511,627,776"),
    ({**TINY, "tie_word_embeddings": "yes"}, "config.json: field tie_word_embeddings: expected bool, got str 'yes'"),
    ({**TINY, "num_key_value_heads": 3},
     "config.json: field num_key_value_heads: must divide num_attention_heads (4), got 3"),
    ({**TINY, "num_attention_heads": 5, "num_key_value_heads": 5},
     "config.json: field num_attention_heads: must divide hidden_size (64) when head_dim is not given, got 5"),
    ({**TINY, "hidden_act": "tanh"},
     "config.json: field hidden_act: 'tanh' is not supported in a gated feed-forward (expected a gelu variant such "
     "as gelu, gelu_new or gelu_pytorch_tanh, or silu or swish)"),
    ({**TINY, "model_type": "mixtral", "num_local_experts": 8, "num_experts_per_tok": 9},
     "config.json: field num_experts_per_tok: must not exceed the 8 experts, got 9"),
    ({**TINY, "model_type": "mixtral", "num_experts_per_tok": 2},
     "config.json: field num_local_experts: is required for model_type 'mixtral' but missing"),
    ({**TINY, "model_type": "deepseek_v3", "n_routed_experts": 8, "num_experts_per_tok": 2,
      "moe_intermediate_size": 32, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16},
     "config.json: field kv_lora_rank: is required for model_type 'deepseek_v3' but missing"),
    ({**DEEPSEEK_TINY, "n_group": 3, "topk_group": 2},
     "config.json: field n_group: must divide the 8 routed experts into equal groups, got 3"),
    ({**TINY, "model_type": "qwen2_moe", "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
      "mlp_only_layers": ["0"]},
     "config.json: field mlp_only_layers: expected a list of layer numbers, got ['0']"),
    ({"model_type": "vit", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
      "intermediate_size": 128, "image_size": 224, "patch_size": 15},
     "config.json: field image_size: must be a multiple of patch_size (15), got 224"),
    ([1, 2], "config.json: expected a JSON object (the fields of a config.json), got list"),
])
def test_bad_config_names_the_file_and_the_field(config, message, tmp_path, monkeypatch):
    _raises(config, message, tmp_path, monkeypatch)


@pytest.mark.parametrize("raw, message", [
    (b"{not json", "config.json: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2)"),
    (b'{"model_type": "llama", "hidden_size": NaN}', "config.json: not valid JSON (NaN is not a JSON number)"),
    (b"\xff\xfe{}", "config.json: not valid UTF-8 (byte 0); save the file as UTF-8"),
    (b" " * 1_000_001, "config.json: file is 1,000,001 bytes; config files are limited to 1,000,000 bytes"),
])
def test_a_file_that_is_not_a_json_config(raw, message, tmp_path, monkeypatch):
    _raises(None, message, tmp_path, monkeypatch, raw=raw)


def test_a_file_that_cannot_be_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProfileError, match=r"^missing\.json: cannot read the file \(No such file or directory\)$"):
        model_from_config("missing.json")
    with pytest.raises(ProfileError, match=r"^a\x00b\.json: cannot read the file \(.*\)$"):
        model_from_config("a\x00b.json")


def test_a_dict_is_named_dict_in_messages():
    with pytest.raises(ProfileError, match=r"^<dict>: field vocab_size: is required for model_type 'llama' but missing$"):
        model_from_config({k: v for k, v in TINY.items() if k != "vocab_size"})


@pytest.mark.parametrize("kwargs, message", [
    ({"source": 42}, "source: expected the path of a config.json or a dict, got int"),
    ({"source": "  "}, "source: expected the path of a config.json, got an empty path"),
    ({"source": TINY, "name": ""}, "name: expected a non-empty string, got ''"),
    ({"source": TINY, "name": 7}, "name: expected a non-empty string, got 7"),
])
def test_bad_arguments_are_input_errors(kwargs, message):
    with pytest.raises(InputError, match=f"^{re.escape(message)}$") as info:
        model_from_config(**kwargs)
    assert info.value.argument == message.split(":")[0]


def test_the_estimators_take_a_spec_from_a_config():
    # The same shape and pre-training context as the catalog's Llama-3.1-8B: only the parameter
    # count differs, 8.03B counted against the published 8B (0.4%).
    spec = _spec("llama-3.1-8b.json")
    mine = costmodel.estimate_training(spec, hardware="h100", n_gpus=8, tokens="1B")
    catalog = costmodel.estimate_training("llama-3.1-8b", hardware="h100", n_gpus=8, tokens="1B")
    assert mine.flops.to("FLOP").magnitude == pytest.approx(catalog.flops.to("FLOP").magnitude, rel=0.005)
    assert mine.flops.to("FLOP").magnitude > catalog.flops.to("FLOP").magnitude  # 8.03B > 8B
    mixtral = _spec("mixtral-8x7b-v0.1.json")
    kwargs = dict(hardware="h100", n_gpus=2, prompt_tokens=512, output_tokens=256, batch_size=8)
    mine_inf = costmodel.estimate_inference(mixtral, **kwargs)
    catalog_inf = costmodel.estimate_inference("mixtral-8x7b", **kwargs)
    assert mine_inf.tpot.to("ms").magnitude == pytest.approx(catalog_inf.tpot.to("ms").magnitude, rel=0.001)
    vit = _spec("vit-base-patch16-224-in21k.json")  # trained on images: its forward FLOPs come from the shape
    images = costmodel.estimate_training(vit, hardware="h100", n_gpus=8, samples="1M")
    assert images.flops.to("FLOP").magnitude == pytest.approx(
        costmodel.estimate_training("vit-b-16", hardware="h100", n_gpus=8, samples="1M").flops.to("FLOP").magnitude,
        rel=0.005)
