"""compare_variants: a model beside its compressed variants, each row from the estimators."""

import math

import pytest

import costmodel
from costmodel import compare_variants


@pytest.fixture(scope="module")
def gpt2xl():
    return compare_variants("gpt2-xl", hardware="h100").set_index("variant")


def test_default_variants_cover_every_lever(gpt2xl):
    assert list(gpt2xl.index) == ["full", "w8a16", "w4a16", "2:4", "prune:0.5", "distill:0.1", "scratch:0.1"]
    assert list(gpt2xl.kind) == ["full", "quantised", "quantised", "pruned", "pruned", "distilled", "scratch"]


def test_rows_are_the_estimators_figures(gpt2xl):
    full = costmodel.estimate_training("gpt2-xl", tokens=20 * 1.56e9, hardware="h100", n_gpus=1024)
    assert gpt2xl.loc["full", "train_cost_USD"] == pytest.approx(full.cost.magnitude, rel=1e-12)
    served = costmodel.estimate_inference("gpt2-xl", hardware="h100", prompt_tokens=512, output_tokens=256,
                                          batch_size=8, dtype="w4a16")
    assert gpt2xl.loc["w4a16", "tpot_ms"] == pytest.approx(served.tpot.to("ms").magnitude, rel=1e-12)


def test_quantisation_and_pruning_add_no_training_and_distillation_adds_the_student_run(gpt2xl):
    full = gpt2xl.loc["full", "train_cost_USD"]
    assert gpt2xl.loc["w4a16", "train_cost_USD"] == full and gpt2xl.loc["2:4", "train_cost_USD"] == full
    student = costmodel.estimate_training(params=1.56e8, tokens=20 * 1.56e8, hardware="h100", n_gpus=1024,
                                          teacher="gpt2-xl")
    assert gpt2xl.loc["distill:0.1", "train_cost_USD"] == pytest.approx(full + student.cost.magnitude, rel=1e-12)
    assert gpt2xl.loc["scratch:0.1", "train_cost_USD"] < full / 50


def test_smaller_variants_serve_cheaper_and_unstructured_pruning_changes_nothing(gpt2xl):
    per_m = gpt2xl.cost_per_million_tokens_USD
    assert per_m["w4a16"] < per_m["w8a16"] < per_m["full"]
    assert per_m["scratch:0.1"] < per_m["full"]
    assert per_m["prune:0.5"] == per_m["full"] and "dense kernels run no faster" in gpt2xl.loc["prune:0.5", "note"]


def test_quality_only_where_a_law_applies(gpt2xl):
    law = costmodel.scaling.get_law("besiroglu2024")
    assert gpt2xl.loc["scratch:0.1", "predicted_loss"] == pytest.approx(float(law.loss(1.56e8, 20 * 1.56e8)))
    assert gpt2xl.loc["full", "predicted_loss"] < gpt2xl.loc["scratch:0.1", "predicted_loss"]
    for variant in ("w4a16", "2:4", "prune:0.5", "distill:0.1"):
        assert math.isnan(gpt2xl.loc[variant, "predicted_loss"])  # missing, never invented


def test_a_70b_model_answers_the_question():
    df = compare_variants("llama-3.1-70b", ["full", "w4a16", "2:4", "distill:8B", "scratch:8B"]).set_index("variant")
    assert df.loc["full", "serve_gpus"] == 2 and df.loc["w4a16", "serve_gpus"] == 1
    assert df.loc["distill:8B", "params"] == 8e9
    assert df.loc["scratch:8B", "predicted_loss"] > df.loc["full", "predicted_loss"]


@pytest.mark.parametrize("variants, message", [
    (["w5a5"], r"variants: 'w5a5' is not a variant; expected full, a format"),
    (["distill:200B"], r"variants: 'distill:200B': a smaller model than gpt2-xl's"),
    (["scratch:lots"], r"variants: 'scratch:lots': expected a size such as 'distill:1.5B'"),
    (1, r"^variants: expected variants such as \['w4a16', '2:4'\] \(a list or a comma-separated string\), got 1$"),
])
def test_bad_variants_name_the_argument(variants, message):
    with pytest.raises(costmodel.InputError, match=message):
        compare_variants("gpt2-xl", variants)


def test_a_comma_separated_string_names_the_variants():
    # it iterated the string's characters ("'w' is not a variant")
    assert compare_variants("gpt2-xl", "w4a16, 2:4").variant.tolist() == ["w4a16", "2:4"]


def test_image_models_have_no_students_here():
    with pytest.raises(costmodel.InputError, match=r"variants: 'scratch:0.1': students and smaller runs are for language"):
        compare_variants("resnet-50", ["full", "scratch:0.1"])


def test_structured_pruning_is_a_smaller_dense_model_plus_its_retraining():
    df = compare_variants("llama-3.1-70b", ["full", "prune:35B"], retrain_tokens="94B").set_index("variant")
    retrain = costmodel.estimate_training(params=35e9, tokens=94e9, hardware="h100", n_gpus=1024,
                                          teacher="llama-3.1-70b")
    assert df.loc["prune:35B", "params"] == 35e9
    assert df.loc["prune:35B", "train_cost_USD"] == pytest.approx(df.loc["full", "train_cost_USD"]
                                                                  + retrain.cost.magnitude, rel=1e-12)
    assert df.loc["prune:35B", "memory_per_gpu_GiB"] < df.loc["full", "memory_per_gpu_GiB"]
