"""Every keyword of the estimators has a flag on its command, with the library's default, and
the choices the CLI writes out agree with the library's."""

import inspect
import json

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
    from costmodel.training import METHODS

    assert train.METHODS == METHODS
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

    # the shipped constants with ln(mfu) lowered by ln 2: the calibrated MFU halves
    text = (DATA / "calibration.toml").read_text()
    assert "c0 = -1.331862" in text, "test bug: the shipped c0 changed"
    (tmp_path / "cal.toml").write_text(text.replace("c0 = -1.331862", "c0 = -2.025009"))
    half = _json(runner, [*GPT2, "--calibration", str(tmp_path / "cal.toml")])
    assert half["mfu"] == pytest.approx(_json(runner, GPT2)["mfu"] / 2, rel=1e-5)
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
