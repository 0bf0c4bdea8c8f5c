"""The CLI's contract with scripts: errors mapped to options by the exception's argument, JSON
that says what produced it, and a start-up that loads only the command that runs."""

import json
import subprocess
import sys

import click
import pytest

import costmodel
from costmodel.cli import main

TRAIN = ["train", "llama-2-7b", "--hardware", "h100", "--gpus", "8"]


# --- library errors -> options ------------------------------------------------------------------

@pytest.mark.parametrize("error, argument, option, code", [
    (costmodel.InputError, "tp", "--tp", 2),
    (costmodel.InputError, "n_gpus", "--gpus", 2),  # the destination is the API keyword, the flag differs
    (costmodel.UnitError, "price_per_gpu_hour", "--price", 2),
    (costmodel.UnknownProfileError, "hardware", "--hardware", 1),
])
def test_a_library_error_names_the_option_of_its_argument(runner, monkeypatch, error, argument, option, code):
    def fail(*args, **kwargs):
        raise error("the parallel degree 8 exceeds the 4 devices", argument=argument)

    monkeypatch.setattr(costmodel, "estimate_training", fail)
    result = runner.invoke(main, TRAIN, prog_name="costmodel")
    assert result.exit_code == code
    hint = " (see 'costmodel train --help')" if code == 2 else ""
    assert result.stderr == f"Error: {option}: the parallel degree 8 exceeds the 4 devices{hint}\n"
    assert result.stdout == ""


def test_the_message_is_not_read_for_an_option_name(runner, monkeypatch):
    def fail(*args, **kwargs):
        raise costmodel.InputError("tp: looks like an option but is only text")

    monkeypatch.setattr(costmodel, "estimate_training", fail)
    result = runner.invoke(main, TRAIN)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: tp: looks like an option but is only text")


def test_a_real_library_error_with_an_argument(runner):
    # each sweep entry is parsed by the library, which names the keyword price_per_gpu_hour
    result = runner.invoke(main, ["sweep", "train", "--model", "llama-2-7b", "--hardware", "h100", "--price", "2,5 GB"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --price: expected a price per device-hour such as '$2.10/h', got '5 GB'")
    assert len(result.stderr.splitlines()) == 1


def test_tp_beyond_the_devices_is_one_usage_line(runner):
    # the error is about --tp and mentions --gpus: both in the CLI's spelling, one line, exit 2
    result = runner.invoke(main, [*TRAIN[:-1], "4", "--tp", "8"])
    assert result.exit_code == 2
    assert result.stderr == ("Error: --tp: the parallel degree --tp x --pp = 8 exceeds --gpus = 4 "
                             "(see 'main train --help')\n")


def test_debug_shows_the_library_error(runner):
    result = runner.invoke(main, ["--debug", *TRAIN, "--tp", "16"])
    assert isinstance(result.exception, costmodel.InputError)


# --- JSON ------------------------------------------------------------------------------------

ONE = {
    "train": TRAIN,
    "infer": ["infer", "llama-2-7b", "--hardware", "a100"],
    "hardware show": ["hardware", "show", "h100"],
    "models show": ["models", "show", "gpt2"],
    "plan-training": ["plan-training", "llama-2-7b", "--hardware", "h100,a100-80gb", "--deadline", "30 day"],
    "plan-serving": ["plan-serving", "llama-2-7b", "--hardware", "h100", "--rate", "12/s"],
}
ROWS = {
    "compare": ["compare", "--models", "gpt2,llama-2-7b"],
    "optimal": ["optimal", "--budget", "1e22", "--inference-tokens", "1T"],
    "compare-sizes": ["compare-sizes", "--budget", "1e22", "--sizes", "1B,7B"],
    "hardware list": ["hardware", "list"],
    "models list": ["models", "list"],
    "regions list": ["regions", "list"],
    "sweep train": ["sweep", "train", "--model", "llama-2-7b", "--hardware", "h100", "--gpus", "8,16"],
    "sweep infer": ["sweep", "infer", "--model", "llama-2-7b", "--hardware", "a100", "--batch", "1,8"],
    "engines": ["engines"],
}


def _json_commands(command, path=()):
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            yield from _json_commands(command.get_command(ctx, name), (*path, name))
    elif any(p.name == "as_json" for p in command.params):
        yield " ".join(path)


def test_the_json_cases_cover_every_command_with_json():
    assert set(_json_commands(main)) == set(ONE) | set(ROWS)


@pytest.mark.parametrize("name", sorted(ONE) + sorted(ROWS))
def test_every_json_output_states_the_version_and_calibration(runner, name):
    result = runner.invoke(main, [*(ONE.get(name) or ROWS[name]), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # only JSON on stdout
    assert data["costmodel"] == costmodel.provenance()
    assert data["costmodel"]["version"] == costmodel.__version__
    assert set(data["costmodel"]["calibration"]) == {"training", "serving"}
    if name in ROWS:
        assert set(data) == {"costmodel", "rows"} and len(data["rows"]) >= 2
    else:
        assert len(data) > 5  # the estimate's or profile's own keys sit next to "costmodel"


# --- start-up ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_command_imports_only_its_own_module():
    code = ("import sys; from costmodel.cli import main\n"
            "try: main(['train', 'gpt2', '--hardware', 'h100', '--gpus', '8', '--tokens', '1B'])\n"
            "except SystemExit: pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('costmodel.cli.') or m in ('pandas', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == str(["costmodel.cli.format", "costmodel.cli.options", "costmodel.cli.train",
                                        "costmodel.cli.types"])


@pytest.mark.slow
def test_a_command_imports_pint_without_dask_and_leaves_dask_importable():
    pytest.importorskip("dask")
    code = ("import sys; from costmodel.cli import main\n"
            "try: main(['train', 'gpt2', '--hardware', 'h100', '--gpus', '8', '--tokens', '1B'])\n"
            "except SystemExit: pass\n"
            "import pint.compat; loaded = 'dask' in sys.modules\n"
            "import dask.array\n"
            "print(pint.compat.dask_array is None, loaded, dask.array.ones(3).sum().compute())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "True False 3.0"
