"""The CLI at its edges: compare's workload rule, messages in the CLI's own spelling, sweep
tables and ranges, planning verdicts, and nothing on stdout before an error."""

import json
import re

import pytest

import costmodel
from costmodel.cli import main


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


def _fails(result, code=2):
    """One line on stderr, nothing on stdout, the documented exit code."""
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    return result.stderr


# --- compare: the workload rule of `costmodel train` ------------------------------------------

@pytest.mark.parametrize("model", ["resnet-50", "vit-b-16"])
def test_compare_trains_image_models_on_their_samples_as_train_does(runner, model):
    rows = json.loads(_ok(runner.invoke(main, ["compare", "--models", model, "--json"])).stdout)["rows"]
    train = json.loads(_ok(runner.invoke(main, ["train", model, "--hardware", "h100", "--gpus", "1024",
                                                "--json"])).stdout)
    assert rows[0]["flops_FLOP"] == pytest.approx(train["flops_FLOP"], rel=1e-12)
    assert rows[0]["workload"] == "catalog samples" and rows[0]["tokens"] is None
    assert rows[0]["samples"] == costmodel.get_model(model).training_samples.magnitude


def test_compare_names_each_rows_rule(runner):
    rows = json.loads(_ok(runner.invoke(main, ["compare", "--models", "gpt2,gpt3-175b,resnet-50",
                                               "--json"])).stdout)["rows"]
    assert [r["workload"] for r in rows] == ["20 tokens per parameter (Hoffmann et al. 2022)", "catalog tokens",
                                             "catalog samples"]
    assert rows[0]["tokens"] == 20 * 124e6
    table = _ok(runner.invoke(main, ["compare", "--models", "gpt2,gpt3-175b,resnet-50"])).stdout
    assert ("Training data: * 20 tokens per parameter (Hoffmann et al. 2022): gpt2; catalog tokens: gpt3-175b; "
            "catalog samples: resnet-50.") in table
    assert "115M samples" in table


def test_compare_refuses_a_model_without_a_workload(runner):
    err = _fails(runner.invoke(main, ["compare", "--models", "gpt2,linear-regression"]))
    assert err.startswith("Error: --models: linear-regression reports no training samples")


# --- messages name the CLI's flags ------------------------------------------------------------


# --- sweep ---------------------------------------------------------------------------------------


# --- compare-sizes and optimal ---------------------------------------------------------------

def _sizes(runner, *args):
    return _ok(runner.invoke(main, ["compare-sizes", *args])).stdout.splitlines()


def test_compare_sizes_says_when_the_best_is_the_largest_size_tried(runner):
    lines = _sizes(runner, "--budget", "1e24 FLOP", "--sizes", "1B,7B")
    assert lines[-1] == ("Lowest predicted loss: 7B parameters, the largest size tried (besiroglu2024); a larger "
                         "one may do better still.")


def test_compare_sizes_calls_a_tie_a_tie(runner):
    lines = _sizes(runner, "--tokens", "1T", "--sizes", "70B,70.0001B")
    assert lines[-1] == ("Lowest predicted loss: a tie between 70B and 70B parameters (besiroglu2024; losses "
                         "within 0.0001 nats, the law's precision).")


def test_compare_sizes_flags_sizes_that_do_not_fit(runner):
    lines = _sizes(runner, "--budget", "$10M", "--sizes", "1B,1T", "--gpus", "8")
    assert lines[0].split()[6:9] == ["fits", "8", "GPUs"]
    assert lines[3].split()[5:8] == ["no", "(needs", "187)"]
    assert lines[-1] == ("1T does not fit in the memory of 8 x h100-sxm5-80gb; training it needs more devices "
                         "(the fits column).")


@pytest.mark.parametrize("sizes", ["", ",", " "])
def test_compare_sizes_with_no_sizes_is_one_line(runner, sizes):
    err = _fails(runner.invoke(main, ["compare-sizes", "--budget", "1e22", "--sizes", sizes]))
    assert err.startswith("Error: --sizes: no values given")


def test_optimal_says_when_the_lifetime_optimum_exceeds_the_budget(runner):
    out = _ok(runner.invoke(main, ["optimal", "--budget", "$1M", "--inference-tokens", "10T"])).stdout
    rows = json.loads(_ok(runner.invoke(main, ["optimal", "--budget", "$1M", "--inference-tokens", "10T",
                                               "--json"])).stdout)["rows"]
    over = rows[1]["budget_used"] - 1
    assert rows[0]["budget_used"] == pytest.approx(1.0, rel=1e-6)
    assert rows[1]["cost_USD"] == pytest.approx(1e6 * rows[1]["budget_used"], rel=1e-9)
    assert over > 0.1
    assert (f"The lifetime-optimal model's training exceeds the training budget by {100 * over:.0f}%; the saving "
            "comes from serving.") in out


def test_optimal_with_a_free_price_is_one_line(runner):
    err = _fails(runner.invoke(main, ["optimal", "--budget", "$1M", "--price", "0"]))
    assert err.startswith("Error: --price: training costs nothing with this setting, so the budget buys unlimited")


# --- nothing on stdout before an error ----------------------------------------------------------


