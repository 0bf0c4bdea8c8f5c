"""The CLI's parameter types: what they convert to, what --help shows, how a bad value fails."""

import re

import click
import pytest

import costmodel
from costmodel.cli import main
from costmodel.cli import types as t

TRAIN = ["train", "gpt2", "--hardware", "h100", "--gpus", "8", "--tokens", "1B"]

# Every option that takes a count (of parameters, tokens, devices, requests) or a quantity
# with a unit (money, power, carbon intensity, a budget) or a bounded number (MFU, PUE), in
# any command. Each must show a metavar that says so, never TEXT.
COUNTS = {"--params", "--active-params", "--tokens", "--samples", "--gpus", "--seq-len", "--micro-batch", "--tp",
          "--pp", "--prompt", "--output", "--batch", "--unique-tokens", "--inference-tokens", "--sizes"}
QUANTITIES = {"--price", "--power", "--host-power", "--grid-intensity", "--budget", "--pue", "--mfu"}


def _leaves(command, path=()):
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            yield from _leaves(command.get_command(ctx, name), (*path, name))
    else:
        yield " ".join(path), command


def _metavar(param, command) -> str:
    ctx = click.Context(command)
    try:
        return param.make_metavar(ctx)
    except TypeError:  # click 8.1: make_metavar() takes no context
        return param.make_metavar()


@pytest.mark.parametrize("option, metavar", [("--params", "COUNT"), ("--tokens", "COUNT"),
                                             ("--price", "QUANTITY [USD/h]"), ("--power", "QUANTITY [W]"),
                                             ("--gpus", "N"), ("--mfu", "FRACTION")])
def test_train_help_shows_what_each_value_is(runner, option, metavar):
    out = runner.invoke(main, ["train", "--help"]).stdout
    assert re.search(rf"^  {re.escape(option)} {re.escape(metavar)}(  |\n|$)", out, re.MULTILINE), out


def test_no_count_or_quantity_option_reads_as_text():
    seen = set()
    for path, command in _leaves(main):
        for param in command.params:
            flags = set(getattr(param, "opts", [])) & (COUNTS | QUANTITIES)
            if not flags:
                continue
            seen |= flags
            metavar = _metavar(param, command)
            assert isinstance(param.type, t.DomainType), f"{path} {flags}: plain {param.type.name}"
            assert "TEXT" not in metavar and "STRING" not in metavar, f"{path} {flags}: {metavar}"
            if flags & COUNTS:
                assert metavar.startswith(("COUNT", "N")), f"{path} {flags}: {metavar}"
    assert seen == COUNTS | QUANTITIES  # the lists above name only options that exist


def test_a_bad_unit_in_price_is_one_usage_line_naming_the_option(runner):
    result = runner.invoke(main, [*TRAIN, "--price", "5 GB"], prog_name="costmodel")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: --price: expected a price per device-hour such as '$2.10/h', got '5 GB' (it has units of GB) "
        "(see 'costmodel train --help')"]


@pytest.mark.parametrize("args, option", [
    (["--gpus", "1.5"], "--gpus"), (["--gpus", "0"], "--gpus"), (["--mfu", "2"], "--mfu"), (["--mfu", "nan"], "--mfu"),
    (["--pue", "0.9"], "--pue"), (["--tp", "many"], "--tp"), (["--seq-len", "80 GB"], "--seq-len"),
    (["--power", "400 J"], "--power"), (["--grid-intensity", "0.4 kg"], "--grid-intensity"),
    (["--dtype", "fp12"], "--dtype"),
])
def test_every_typed_option_fails_as_a_usage_error(runner, args, option):
    result = runner.invoke(main, [*TRAIN, *args])
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(f"Error: {option}: expected ")


def test_the_library_gets_canonical_floats(runner, monkeypatch):
    seen = {}
    monkeypatch.setattr(costmodel, "estimate_training", lambda model, **kw: seen.update(kw) or _stop())
    runner.invoke(main, ["train", "gpt2", "--hardware", "h100", "--gpus", "1k", "--tokens", "300B", "--price",
                         "$2.50/h", "--power", "0.4 kW", "--grid-intensity", "0.385 kg/kWh", "--dtype", "bfloat16"])
    assert seen["n_gpus"] == 1000 and isinstance(seen["n_gpus"], int)
    assert seen["tokens"] == 300e9
    assert seen["price_per_gpu_hour"] == pytest.approx(2.5, rel=1e-12)  # USD/h
    assert seen["power_per_gpu"] == pytest.approx(400, rel=1e-12)  # W
    assert seen["grid_intensity"] == pytest.approx(385, rel=1e-12)  # g/kWh
    assert seen["dtype"] == "bf16"


def _stop():
    raise costmodel.CostModelError("stop here")


@pytest.mark.parametrize("value, expected", [
    ("1..8x2", [1, 2, 4, 8]), ("128..512+128", [128, 256, 384, 512]), ("a100, h100", ["a100", "h100"]),
    ("8,1..2", ["8", 1, 2]), ("7B,70B", ["7B", "70B"]),
])
def test_sweep_lists_and_ranges(value, expected):
    assert t.Values("COUNT").convert(value, None, None) == expected


@pytest.mark.parametrize("value, message", [
    ("8..1x2", "the range '8..1x2' never reaches its end"), ("1..ax2", "could not read the range '1..ax2'"),
    (" , ", "no values given"),
])
def test_sweep_list_errors_are_usage_errors(value, message):
    with pytest.raises(click.BadParameter, match=re.escape(message)):
        t.Values("COUNT").convert(value, None, None)


def test_budget_keeps_its_kind():
    assert t.BUDGET.convert("$10M", None, None).to("USD").magnitude == pytest.approx(1e7, rel=1e-12)
    assert t.BUDGET.convert("500000 GPU*h", None, None).to("GPU*hour").magnitude == pytest.approx(5e5, rel=1e-12)
    assert t.BUDGET.convert("1e24", None, None).to("FLOP").magnitude == pytest.approx(1e24, rel=1e-12)
    with pytest.raises(click.BadParameter, match="expected compute, money, device-hours or energy"):
        t.BUDGET.convert("80 GB", None, None)
