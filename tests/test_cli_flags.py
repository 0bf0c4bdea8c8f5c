"""Every keyword of the estimators has a flag on its command, with the library's default, and
the choices the CLI writes out agree with the library's."""

import inspect
import json
import re

import click
import pytest

import costmodel
from costmodel.cli import main

# keyword -> why it is not an option of the command
EXCEPTIONS = {"model": "the positional MODEL argument"}
COMMANDS = {"train": costmodel.estimate_training, "infer": costmodel.estimate_inference}
REQUIRED = {"train": ["--hardware", "h100", "--gpus", "8"], "infer": ["--hardware", "h100"]}


def _command(name):
    return main.get_command(click.Context(main), name)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_keyword_of_the_estimator_has_a_flag(name):
    command = _command(name)
    params = {p.name: p for p in command.params}
    given = command.make_context(name, REQUIRED[name]).params  # the defaults, parsed
    for keyword, parameter in inspect.signature(COMMANDS[name]).parameters.items():
        assert keyword in params, f"costmodel {name} has no flag for {keyword}="
        option = params[keyword]
        if keyword in EXCEPTIONS:
            assert isinstance(option, click.Argument), EXCEPTIONS[keyword]
            continue
        assert isinstance(option, click.Option), f"{keyword} is not an option of costmodel {name}"
        default = given[keyword]
        if parameter.default is not inspect.Parameter.empty and default is not None:
            assert default == parameter.default, f"--{keyword}: the CLI default differs from the library's"


def test_choices_written_out_in_the_cli_agree_with_the_library():
    from costmodel.cli import options, train
    from costmodel.energy import COST_BASES, PRICE_KINDS
    from costmodel.steptime import TIERS
    from costmodel.training import METHODS

    assert train.METHODS == METHODS and train.TUNINGS == TIERS
    assert options.PRICE_KINDS == PRICE_KINDS and options.COST_BASES == COST_BASES


GPT2 = ["train", "gpt2", "--tokens", "1B", "--hardware", "h100", "--gpus", "8"]


def _json(runner, args):
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_owned_cost_basis_from_the_cli(runner):
    # a device bought for $43,800 and amortised over 43,800 hours costs $1 per device-hour;
    # with free electricity the run costs exactly its device-hours in dollars
    data = _json(runner, [*GPT2, "--cost-basis", "owned", "--purchase-price", "$43800", "--service-life", "43800 h",
                          "--electricity-price", "0"])
    assert data["cost_USD"] == pytest.approx(data["gpu_hours_h"], rel=1e-12)
    assert data["assumptions"]["cost"].startswith("owned: $43,800 over 5 years")


def test_service_life_in_bare_years(runner):
    four = _json(runner, [*GPT2, "--cost-basis", "owned", "--purchase-price", "$43800", "--service-life", "4",
                          "--electricity-price", "0"])
    # pint's year is 365.25 days: 4 years = 35,064 h
    assert four["cost_USD"] == pytest.approx(four["gpu_hours_h"] * 43800 / 35064, rel=1e-12)


def test_infer_owned_cost_and_embodied(runner):
    args = ["infer", "llama-2-7b", "--hardware", "h100"]
    cloud = _json(runner, args)
    owned = _json(runner, [*args, "--cost-basis", "owned", "--purchase-price", "30000", "--embodied"])
    assert owned["cost_USD"] != pytest.approx(cloud["cost_USD"], rel=0.01)
    assert "owned: $30,000" in owned["assumptions"]["cost"]


def test_price_kind_picks_the_profiles_price(runner):
    args = ["train", "gpt2", "--tokens", "1B", "--hardware", "tpu-v4", "--gpus", "8"]
    on_demand = _json(runner, args)
    spot = _json(runner, [*args, "--price-kind", "spot"])
    hw = costmodel.get_hardware("tpu-v4")
    ratio = hw.price_per_hour("spot") / hw.price_per_hour("on_demand")
    assert spot["cost_USD"] == pytest.approx(on_demand["cost_USD"] * ratio, rel=1e-9)


def test_lora_and_teacher_from_the_cli(runner):
    args = ["train", "llama-2-7b", "--tokens", "1B", "--hardware", "h100", "--gpus", "8"]
    full = _json(runner, args)
    lora = _json(runner, [*args, "--method", "lora", "--lora-rank", "16"])
    est = costmodel.estimate_training("llama-2-7b", tokens="1B", hardware="h100", n_gpus=8, method="lora",
                                      lora_rank=16)
    assert lora["trainable_params"] == pytest.approx(est.trainable_params.magnitude, rel=1e-12)
    assert lora["flops_FLOP"] < full["flops_FLOP"]
    given = _json(runner, [*args, "--method", "lora", "--trainable-params", "20M"])
    assert given["trainable_params"] == 20e6
    taught = _json(runner, [*args, "--teacher", "llama-2-70b"])
    assert taught["teacher_flops_FLOP"] > 0 and taught["flops_FLOP"] > full["flops_FLOP"]


def test_calibration_file_from_the_cli(runner, tmp_path):
    from costmodel.calibration import DATA

    # the shipped constants with the typical tier's matmul efficiency halved: the matmul and
    # optimizer time doubles, the rest of the step does not, so the MFU falls, by less than half
    text = (DATA / "calibration.toml").read_text()
    line = re.search(r"^typical_efficiency = ([\d.]+)$", text, re.MULTILINE)
    assert line, "test bug: the shipped calibration has no typical_efficiency"
    halved = f"typical_efficiency = {float(line.group(1)) / 2}"
    (tmp_path / "cal.toml").write_text(text.replace(line.group(0), halved))
    half = _json(runner, [*GPT2, "--calibration", str(tmp_path / "cal.toml")])
    shipped = _json(runner, GPT2)["mfu"]
    est = costmodel.estimate_training("gpt2", tokens="1B", hardware="h100", n_gpus=8,
                                      calibration=tmp_path / "cal.toml")
    assert half["mfu"] == pytest.approx(est.mfu.magnitude, rel=1e-12)
    assert shipped / 2 < half["mfu"] < shipped * 0.9
    missing = runner.invoke(main, [*GPT2, "--calibration", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and missing.stderr.startswith("Error: --calibration: File ") and missing.stdout == ""


@pytest.mark.parametrize("value, message", [("0", "expected a value more than zero, got '0'"),
                                            ("nan", "expected a finite number, got 'nan'"),
                                            ("5 GB", "expected a duration such as '30 days', got '5 GB'")])
def test_a_bad_service_life_is_reported_as_written(runner, value, message):
    result = runner.invoke(main, [*GPT2, "--cost-basis", "owned", "--service-life", value])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"Error: --service-life: {message}")  # not '0 year'


@pytest.mark.parametrize("command", [[*GPT2[:GPT2.index("--hardware") + 1], "a10g", *GPT2[GPT2.index("--hardware") + 2:]],
                                     ["infer", "gpt2", "--hardware", "a10g"]])
def test_owned_without_a_purchase_price_points_at_the_flag(runner, command):  # a10g is not sold: no price
    out = runner.invoke(main, [*command, "--cost-basis", "owned"]).stdout
    assert "- (no purchase price for this device; pass --purchase-price)" in out


# --- the layout: flags, what the output says, sweeps ------------------------------------------------

ISSUE = ["train", "llama-2-70b", "--hardware", "h100", "--gpus", "1024", "--tuning", "tuned", "--tp", "8", "--pp", "4",
         "--global-batch", "4M", "--dtype", "fp8"]
ISSUE_KW = dict(hardware="h100", n_gpus=1024, tuning="tuned", tp=8, pp=4, global_batch="4M", dtype="fp8")


def _lines(runner, args):
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return {line[2:15].strip(): line[15:] for line in result.stdout.splitlines() if line.startswith("  ")
            and line[2:15].strip()}


def test_the_issues_example_runs_the_layout_it_gives(runner):
    data = _json(runner, ISSUE)
    est = costmodel.estimate_training("llama-2-70b", **ISSUE_KW)
    assert data["layout"] == est.layout
    assert {k: data["layout"][k] for k in ("tp", "pp", "cp", "vpp", "global_batch_tokens", "tuning")} == {
        "tp": 8, "pp": 4, "cp": 1, "vpp": 10, "global_batch_tokens": 4e6, "tuning": "tuned"}
    assert data["dtype"] == "fp8" and data["mfu"] == pytest.approx(est.mfu.magnitude, rel=1e-12)
    assert data["assumptions"] == est.assumptions
    lines = _lines(runner, ISSUE)
    # the ZeRO stage is the one the search chose (the flag was not given)
    # the default interleaving: two of llama-2-70b's 80 layers per virtual stage, 10 per device
    assert lines["layout"] == (f"tp 8 x pp 4 (vpp 10), ZeRO-{est.layout['zero_stage']}, micro-batch 1, global batch "
                               "4M tokens, tuned")
    assert lines["MFU"].endswith(" (of the fp8 peak)")
    assert lines["MFU"].startswith(f"{est.mfu.magnitude:.2f} (")


def test_mfu_names_the_peak_it_is_measured_against(runner):
    # V100 has no bf16: training runs in fp16, and MFU is of the fp16 peak
    assert _lines(runner, ["train", "gpt2", "--tokens", "1B", "--hardware", "v100", "--gpus", "8"])["MFU"].endswith(
        " (of the fp16 peak)")
    assert _lines(runner, GPT2)["MFU"].endswith(" (of the bf16 peak)")
    # the MFU of an fp8 run is against the fp8 peak, twice the bf16 one on an H100: the same run
    # at a given 40% of the fp8 peak takes half the time of 40% of the bf16 peak
    fp8 = _json(runner, [*GPT2, "--dtype", "fp8", "--mfu", "0.4"])
    bf16 = _json(runner, [*GPT2, "--mfu", "0.4"])
    hw = costmodel.get_hardware("h100")
    assert fp8["wall_time_days"] == pytest.approx(bf16["wall_time_days"] * hw.peak_flops("bf16") / hw.peak_flops("fp8"),
                                                  rel=1e-12)


def test_a_global_batch_in_sequences_is_counted_in_tokens(runner):
    # 1024 sequences of llama-2-70b's 4096-token context: 4,194,304 tokens per step
    data = _json(runner, [*ISSUE[:-4], "--global-batch", "1024 sequence"])
    assert data["layout"]["global_batch_tokens"] == 1024 * 4096
    assert "global batch 4.19M tokens" in _lines(runner, [*ISSUE[:-4], "--global-batch", "1024 sequence"])["layout"]
    assert _json(runner, [*ISSUE[:-4], "--global-batch", "4M token"])["layout"]["global_batch_tokens"] == 4e6


@pytest.mark.parametrize("value, message", [
    ("4 GB", "expected a global batch such as '4M', '4M token' or '1024 sequence', got '4 GB'"),
    ("0", "expected a value more than zero, got '0'"),
    ("1.5 sequence", "expected a whole number from 1 to 1e+09, got 1.5"),
])
def test_a_bad_global_batch_is_a_usage_error(runner, value, message):
    result = runner.invoke(main, [*GPT2, "--global-batch", value])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"Error: --global-batch: {message}")


@pytest.mark.parametrize("flags, keywords", [
    (["--zero-stage", "3", "--pp", "2"], dict(zero_stage=3, pp=2)),
    (["--zero-stage", "0", "--tp", "2"], dict(zero_stage=0, tp=2)),
    (["--cp", "2", "--pp", "2", "--vpp", "2"], dict(cp=2, pp=2, vpp=2)),
    (["--tuning", "tuned"], dict(tuning="tuned")),
])
def test_each_layout_flag_reaches_the_estimate(runner, flags, keywords):
    args = ["train", "llama-2-7b", "--tokens", "1T", "--hardware", "h100", "--gpus", "64", *flags]
    data = _json(runner, args)
    est = costmodel.estimate_training("llama-2-7b", tokens="1T", hardware="h100", n_gpus=64, **keywords)
    assert data["layout"] == est.layout and {k: data["layout"][k] for k in keywords} == keywords
    assert data["gpu_hours_h"] == pytest.approx(est.gpu_hours.to("hour").magnitude, rel=1e-12)


def test_an_expert_degree_for_a_mixture_of_experts(runner):
    args = ["train", "mixtral-8x7b", "--tokens", "1T", "--hardware", "h100", "--gpus", "64"]
    given = _json(runner, [*args, "--ep", "4"])
    est = costmodel.estimate_training("mixtral-8x7b", tokens="1T", hardware="h100", n_gpus=64, ep=4)
    assert given["layout"]["ep"] == 4 and given["gpu_hours_h"] == pytest.approx(est.gpu_hours.magnitude, rel=1e-12)
    assert "ep 4)" in _lines(runner, [*args, "--ep", "4"])["layout"]


def test_the_layout_line_names_only_degrees_above_one():
    from costmodel.cli.train import layout

    used = dict(tp=8, pp=4, cp=1, ep=1, vpp=1, zero_stage=1, micro_batch=1, global_batch_tokens=4194304.0,
                recompute="selective", tuning="tuned")
    assert layout(used) == "tp 8 x pp 4, ZeRO-1, micro-batch 1, global batch 4.19M tokens, tuned"
    assert layout({**used, "cp": 2, "vpp": 2, "ep": 8, "zero_stage": 3, "tuning": "typical"}) == (
        "tp 8 x pp 4 x cp 2 (vpp 2, ep 8), ZeRO-3, micro-batch 1, global batch 4.19M tokens, typical")


def test_sweep_train_takes_lists_of_layout_options(runner):
    args = ["sweep", "train", "--model", "llama-2-7b", "--tokens", "1T", "--hardware", "h100", "--gpus", "64",
            "--tuning", "typical,tuned", "--pp", "1,2", "--cp", "1,2", "--ep", "1", "--vpp", "1",
            "--zero-stage", "1,3", "--global-batch", "4M,1024 sequence", "--json"]
    rows = _json(runner, args[:-1])["rows"]
    assert len(rows) == 2 * 2 * 2 * 2 * 2  # global batch, pp, cp, ZeRO stage, tuning
    # the grid's order: global batch, then pp, cp, ZeRO stage, tuning (the last varies fastest)
    last = rows[-1]
    est = costmodel.estimate_training("llama-2-7b", tokens="1T", hardware="h100", n_gpus=64, tuning="tuned", pp=2,
                                      cp=2, ep=1, vpp=1, zero_stage=3, global_batch="1024 sequence")
    assert last["gpu_hours_h"] == pytest.approx(est.gpu_hours.to("hour").magnitude, rel=1e-12)
    # swept inputs are columns, as written ('2' for --pp 1,2)
    assert (last["tuning"], float(last["pp"]), float(last["cp"]), float(last["zero_stage"])) == ("tuned", 2, 2, 3)


def test_every_sweep_train_option_feeds_the_sweep():
    from costmodel.cli.sweep import ORDER, OUTPUT, sweep_train

    inputs = {p.name for p in sweep_train.params} - set(OUTPUT)
    assert inputs <= set(ORDER["train"]), "an option missing from ORDER is silently dropped"


def test_sweep_refuses_a_zero_stage_that_does_not_exist(runner):
    result = runner.invoke(main, ["sweep", "train", "--model", "gpt2", "--tokens", "1B", "--hardware", "h100",
                                  "--zero-stage", "1,4"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: --zero-stage: expected ZeRO stages 0, 1, 2 or 3, got '4'")


def test_sweep_train_switches_flash_attention_on_and_off(runner):
    rows = _json(runner, ["sweep", "train", "--model", "gpt3-175b", "--hardware", "v100", "--gpus", "10000",
                          "--flash-attention", "on,off"])["rows"]
    for row, flash in zip(rows, (True, False)):
        est = costmodel.estimate_training("gpt3-175b", hardware="v100", n_gpus=10000, flash_attention=flash)
        assert row["gpu_hours_h"] == pytest.approx(est.gpu_hours.to("hour").magnitude, rel=1e-12)
    assert rows[1]["gpu_hours_h"] > rows[0]["gpu_hours_h"]  # scores through memory cost time
    bad = runner.invoke(main, ["sweep", "train", "--model", "gpt2", "--tokens", "1B", "--hardware", "h100",
                               "--flash-attention", "maybe"])
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.startswith("Error: --flash-attention: expected on or off, got 'maybe'")
