"""Hostile values for every option of every command, in process (scripts/fuzz_cli.py has the
rules; it runs 10,000+ examples, this runs a derandomised sample sized for CI)."""

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("fuzz_cli", ROOT / "scripts" / "fuzz_cli.py")
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)

COMMANDS = fuzz.commands()
FOLDER = Path(tempfile.mkdtemp(prefix="costmodel-fuzz-"))


@pytest.fixture(autouse=True, scope="module")
def _in_a_scratch_folder():
    """Files the commands are told to write ("--csv 7,5B") land in a scratch folder."""
    here = os.getcwd()
    os.chdir(FOLDER)
    yield
    os.chdir(here)


@hs.composite
def invocations(draw):
    words, cmd = draw(hs.sampled_from(COMMANDS))
    args = fuzz.base_args(words, cmd, FOLDER)
    opts = fuzz.options(cmd)
    chosen = draw(hs.lists(hs.sampled_from(opts), min_size=1, max_size=3, unique_by=lambda o: o.name)) if opts else []
    for option in chosen:
        flag = next((o for o in option.opts if o.startswith("--")), option.opts[0])
        args += [flag] if option.is_flag else [flag, draw(hs.sampled_from(fuzz.HOSTILE) | hs.text(max_size=8))]
    return args


def test_every_command_is_fuzzed():
    names = {" ".join(words) for words, _ in COMMANDS}
    assert {"train", "infer", "compare", "sweep train", "sweep infer", "optimal", "compare-sizes", "plot sweep",
            "hardware show", "models list"} <= names


@settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(invocations())
def test_hostile_values_never_crash_and_never_print_non_numbers(args):
    assert fuzz.check(args) is None, args


@pytest.mark.parametrize("args", [
    ["train", "gpt2", "--hardware", "h100", "--gpus", "8", "--tokens", "1e308", "--json"],
    ["train", "gpt2", "--hardware", "h100", "--gpus", "8", "--tokens", "1B", "--mfu", "1e-300"],
    ["infer", "llama-2-7b", "--hardware", "h100", "--prompt", "1e300"],
    ["train", "gpt2", "--hardware", "h100", "--gpus", "8", "--tokens", "1B", "--price", "9**9**9 USD/h"],
    ["train", "gpt2", "--hardware", "h100", "--gpus", "8", "--tokens", "1B", "--power", "10**400"],
    ["train", "gpt2", "--hardware", "h100", "--gpus", "8", "--tokens", "1B", "--seq-len", "1e40", "--json"],
    ["sweep", "infer", "--model", "llama-2-7b", "--hardware", "h100", "--prompt", "1e19", "--json"],
    ["sweep", "infer", "--hardware", "h100", "--params", "7,5B", "--csv", "--json"],
    ["sweep", "infer", "--hardware", "h100", "--params", "1", "--parquet", "1" * 400],
    ["compare", "--json", "--variants", "-h"],
    ["plan-serving", "llama-2-7b", "--hardware", "h100", "--rate", "1", "--disaggregate", "--prompt", "0"],
])
def test_the_reported_hostile_inputs_are_clean_errors(args):
    assert fuzz.check(args) is None
