"""Hostile values for every option of every command, in process, and for every keyword of the
library's public functions (scripts/fuzz_cli.py and scripts/fuzz_api.py have the rules; they run
10,000+ examples, this runs a derandomised sample of each sized for CI)."""

import importlib.util
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import costmodel

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("fuzz_cli", ROOT / "scripts" / "fuzz_cli.py")
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)
_api_spec = importlib.util.spec_from_file_location("fuzz_api", ROOT / "scripts" / "fuzz_api.py")
fuzz_api = importlib.util.module_from_spec(_api_spec)
_api_spec.loader.exec_module(fuzz_api)
API_TARGETS = fuzz_api.targets_of(slow=False)

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


@hs.composite
def api_calls(draw):
    name = draw(hs.sampled_from(sorted(API_TARGETS)))
    _, valid, keywords = API_TARGETS[name]
    chosen = draw(hs.lists(hs.sampled_from(keywords), min_size=1, max_size=3, unique=True))
    return name, {**valid, **{k: draw(hs.sampled_from(fuzz_api.HOSTILE)) for k in chosen}}


@settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(api_calls())
def test_hostile_keywords_are_one_line_errors_or_finite_results(call):
    name, kwargs = call
    assert fuzz_api.check(name, kwargs, API_TARGETS) is None, call


def test_the_api_fuzzer_covers_the_estimators_sweeps_and_planners():
    assert {"estimate_training", "estimate_inference", "sweep_training", "sweep_inference", "compute_optimal",
            "compare_sizes", "predict_loss"} <= set(API_TARGETS)
    assert {"plan_training", "plan_serving", "compare_models", "compare_variants"} <= set(fuzz_api.targets_of(slow=True))


@pytest.mark.parametrize("name, kwargs", [
    ("plan_training", dict(model="llama-2-7b", tokens="1T", hardware=["h100"], budget=np.array([1, 2]))),
    ("plan_serving", dict(model="llama-2-7b", hardware="h100", rate="1/s", prompt_tokens=512, output_tokens=128,
                          ttft_p99=costmodel.ureg.Quantity([1.0, 2.0], "s"))),
    ("plan_serving", dict(model="llama-2-7b", hardware="h100", rate="1/s", prompt_tokens=512, output_tokens=128,
                          disaggregate="yes")),
    ("compare_variants", dict(model="gpt2-xl", variants=["w4a16"], train_hardware=np.array(["h100", "a100"]))),
    ("get_hardware", dict(name="h100", profile_path=costmodel.ureg.Quantity(-1, "W"))),
    ("sweep_training", dict(params="7B", tokens="1T", hardware="h100", n_gpus=[8], to_parquet="\x00")),
])
def test_the_reported_hostile_keywords_are_clean_errors(name, kwargs):
    assert fuzz_api.check(name, kwargs, fuzz_api.targets_of(slow=True)) is None
    with pytest.raises(costmodel.CostModelError):
        fuzz_api.targets_of(slow=True)[name][0](**kwargs)
