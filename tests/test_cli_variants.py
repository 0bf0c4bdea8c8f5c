"""The breadth of the CLI: compare --variants and --config wherever a model is named."""

import json
from pathlib import Path

import pytest

import costmodel
from costmodel.cli import main

CONFIGS = Path(__file__).resolve().parent / "data" / "configs"


@pytest.mark.parametrize("model, variants", [("gpt2-xl", None), ("llama-3.1-70b", "full,w4a16,2:4,distill:8B,scratch:8B")])
def test_compare_variants_answers_is_bigger_better(runner, model, variants):
    args = ["compare", "--models", model, "--variants", *([variants] if variants else []), "--json"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    expected = costmodel.compare_variants(model, None if variants is None else variants.split(","))
    assert [r["variant"] for r in rows] == list(expected.variant)
    assert [r["tpot_ms"] for r in rows] == pytest.approx(list(expected.tpot_ms), rel=1e-12)
    table = runner.invoke(main, args[:-1]).stdout
    assert table.splitlines()[0].split()[:3] == ["model", "variant", "params"]
    assert "never invented" in table


def test_a_bad_variant_is_one_line_naming_the_option(runner):
    result = runner.invoke(main, ["compare", "--models", "gpt2-xl", "--variants", "w5a5"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: --variants: 'w5a5' is not a variant") and len(result.stderr.splitlines()) == 1


def test_config_files_stand_in_for_a_model_id(runner):
    path = str(CONFIGS / "mistral-7b-v0.1.json")
    spec = costmodel.model_from_config(path)
    out = json.loads(runner.invoke(main, ["infer", "--config", path, "--hardware", "h100", "--json"]).stdout)
    assert out["tpot_ms"] == pytest.approx(costmodel.estimate_inference(spec, hardware="h100", prompt_tokens=512,
                                                                        output_tokens=256).tpot.to("ms").magnitude)
    train = json.loads(runner.invoke(main, ["train", "--config", path, "--hardware", "h100", "--gpus", "8",
                                            "--tokens", "1B", "--json"]).stdout)
    assert train["params"] == spec.params.magnitude
    shown = runner.invoke(main, ["models", "show", "--config", path]).stdout
    assert "dense-decoder" in shown and "7.24B" in shown


def test_a_model_and_a_config_together_are_refused(runner):
    path = str(CONFIGS / "gpt2.json")
    result = runner.invoke(main, ["train", "gpt2", "--config", path, "--hardware", "h100", "--gpus", "8"])
    assert result.exit_code == 2 and result.stderr.startswith("Error: --config: give MODEL or --config, not both")


def test_serving_formats_and_sparsity_from_the_cli(runner):
    out = json.loads(runner.invoke(main, ["infer", "llama-2-7b", "--hardware", "h100", "--dtype", "int4",
                                          "--prune", "2:4", "--json"]).stdout)
    assert out["dtype"] == "w4a16"
    est = costmodel.estimate_inference("llama-2-7b", hardware="h100", prompt_tokens=512, output_tokens=256,
                                       dtype="w4a16", prune="2:4")
    assert out["memory_weights_GiB"] == pytest.approx(est.memory.weights.to("GiB").magnitude)
    bad = runner.invoke(main, ["infer", "llama-2-7b", "--hardware", "t4", "--prune", "2:4"])
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: --prune: t4 lists no 2:4 sparse peak")
