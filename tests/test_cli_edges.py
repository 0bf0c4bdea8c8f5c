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

@pytest.mark.parametrize("args, message", [
    (["train", "gpt2", "--hardware", "h100", "--gpus", "8"], "--tokens: required when the model has no reported"),
    (["train", "gpt2", "--hardware", "h100", "--gpus", "8", "--samples", "1M"], "give --tokens for language models"),
    (["train", "resnet-50", "--hardware", "h100", "--gpus", "8", "--method", "lora"], "a token count (--tokens)"),
    (["train", "gpt2", "--tokens", "1B", "--hardware", "h100", "--gpus", "8", "--pp", "16"],
     "--pp: the parallel degree --tp x --pp = 16 exceeds --gpus = 8"),
    (["train", "gpt2", "--tokens", "1B", "--hardware", "h100", "--gpus", "8", "--pp", "4", "--cp", "4"],
     "--pp: the parallel degree --tp x --pp x --cp = 16 exceeds --gpus = 8"),  # cp named once it is not 1
    (["train", "gpt2", "--tokens", "1B", "--hardware", "h100", "--gpus", "8", "--method", "lora",
      "--trainable-params", "1T"], "--trainable-params: must not exceed --params"),
    (["infer", "llama-2-70b", "--hardware", "h100", "--batch", "64", "--strict"], "use --gpus >= 2"),
    (["infer", "llama-2-7b", "--hardware", "h100", "--prompt", "0", "--output", "0"], "--prompt: a request needs"),
    (["optimal", "--budget", "$1M", "--unique-tokens", "1T", "--inference-tokens", "1T"], "drop --unique-tokens"),
    (["optimal", "--budget", "$1M", "--hardware", "epyc-9654"], "no published price; pass --price or"),
    (["compare-sizes", "--sizes", "1B"], "give exactly one of --budget (every size spends it) or --tokens"),
    (["sweep", "train", "--model", "gpt2", "--hardware", "h100"], "--tokens: required"),
    (["sweep", "infer", "--hardware", "h100"], "--model: give --model (catalog ids) or --params"),
])
def test_messages_spell_the_commands_flags(runner, args, message):
    err = _fails(runner.invoke(main, args))
    assert message in err
    # no API keyword where the command has a flag: neither `name=` nor a snake_case name
    assert not re.search(r"\b[a-z]+=|\b[a-z]+_[a-z_]+\b", err.split(" (see ")[0]), err


# --- sweep ---------------------------------------------------------------------------------------

def test_sweep_table_shows_every_swept_input(runner):
    out = _ok(runner.invoke(main, ["sweep", "train", "--model", "gpt2", "--tokens", "1B", "--hardware", "h100",
                                   "--gpus", "8", "--region", "us,france", "--recompute", "none,full"])).stdout
    header, _, *rows = out.splitlines()
    assert header.split()[:6] == ["model", "hardware", "dtype", "recompute", "region", "n_gpus"]
    assert [r.split()[3:5] for r in rows] == [["none", "us"], ["none", "france"], ["full", "us"],
                                              ["full", "france"]]


def test_sweep_infer_table_shows_swept_prices(runner):
    out = _ok(runner.invoke(main, ["sweep", "infer", "--model", "llama-2-7b", "--hardware", "h100",
                                   "--price", "2,4"])).stdout
    assert out.splitlines()[0].split()[3] == "price_per_gpu_hour"


def test_a_range_past_the_limit_is_refused_not_cut(runner, monkeypatch):
    monkeypatch.setattr(costmodel, "sweep_training", lambda **kw: pytest.fail("the sweep ran"))
    err = _fails(runner.invoke(main, ["sweep", "train", "--model", "gpt2", "--tokens", "1B", "--hardware", "h100",
                                      "--gpus", "1..1e15"]))
    assert err.startswith("Error: --gpus: the range '1..1e15' has 1,000,000,000,000,000 values, more than the "
                          "5,000,000 a range may have")


def test_a_range_at_the_limit_is_whole():
    from costmodel.cli.types import LIMIT, Values

    values = Values().convert(f"1..{LIMIT}", None, None)
    assert len(values) == LIMIT and values[-1] == LIMIT


def test_csv_to_stdout_and_json_are_refused(runner):
    err = _fails(runner.invoke(main, ["sweep", "train", "--model", "gpt2", "--tokens", "1B", "--hardware", "h100",
                                      "--csv", "-", "--json"]))
    assert "Error: --csv: '-' writes the CSV to stdout, where --json writes JSON; choose one" in err


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
    assert lines[3].split()[5:8] == ["no", "(needs", "191)"]
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

@pytest.mark.parametrize("args, option", [
    (["sweep", "train", "--model", "gpt2", "--tokens", "1B", "--hardware", "h100", "--csv", "{missing}/x.csv"],
     "--csv"),
    (["sweep", "train", "--model", "gpt2", "--tokens", "1B", "--hardware", "h100", "--parquet",
      "{missing}/x.parquet"], "--parquet"),
    (["sweep", "infer", "--model", "gpt2", "--hardware", "h100", "--csv", "{tmp}"], "--csv"),
    (["plot", "training", "--out", "{missing}/x.png"], "--out"),
    (["plot", "sweep", "{table}", "--x", "n_gpus", "--y", "mfu", "--out", "{missing}/x.png"], "--out"),
])
def test_an_output_into_a_missing_folder_fails_before_any_work(runner, tmp_path, monkeypatch, args, option):
    (tmp_path / "t.csv").write_text("n_gpus,mfu\n8,0.4\n")
    for name in ("sweep_training", "sweep_inference"):
        monkeypatch.setattr(costmodel, name, lambda **kw: pytest.fail("the sweep ran"))
    names = {"missing": str(tmp_path / "missing"), "tmp": str(tmp_path), "table": str(tmp_path / "t.csv")}
    err = _fails(runner.invoke(main, [a.format(**names) for a in args]))
    assert err.startswith(f"Error: {option}: ")
    assert "does not exist" in err or "is a folder" in err


@pytest.mark.parametrize("content, message", [
    (b"", "is not a CSV table (it is empty)"),
    (b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe", "is not a CSV table (it is not text in CSV form)"),
    (b"n_gpus,mfu\n", "has a header but no rows"),
])
def test_plot_sweep_on_a_file_that_is_no_table_is_one_line(runner, tmp_path, content, message):
    table = tmp_path / "t.csv"
    table.write_bytes(content)
    err = _fails(runner.invoke(main, ["plot", "sweep", str(table), "--x", "n_gpus", "--y", "mfu", "--out",
                                      str(tmp_path / "x.png")]))
    assert err.startswith(f"Error: '{table}' {message}")


def test_plot_sweep_refuses_a_log_axis_of_names(runner, tmp_path):
    pytest.importorskip("matplotlib")
    table = tmp_path / "t.csv"
    table.write_text("hardware,wall_time_days\na100,2\nh100,1\n")
    args = ["plot", "sweep", str(table), "--x", "hardware", "--y", "wall_time_days", "--out", str(tmp_path / "x.png")]
    err = _fails(runner.invoke(main, args))
    assert err.startswith("Error: --xscale: a log axis needs numbers, and 'hardware' holds names; use 'linear'")
    assert _ok(runner.invoke(main, [*args, "--xscale", "linear"])).stdout == f"wrote {tmp_path / 'x.png'}\n"
