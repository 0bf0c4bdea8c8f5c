"""Malformed input across the API, the CLI and profile files: the exact error and message.

Each row: what is called, with what, the error class it must raise and text it must contain.
"""

import math
import os

import numpy as np
import pytest
from click.testing import CliRunner

import costmodel
from costmodel import estimate_inference, estimate_training, sweep_training
from costmodel.cli import main
from costmodel.errors import InputError, ProfileError, UnitError, UnknownProfileError

T = dict(params="7B", tokens="1T", hardware="h100", n_gpus=8)
I = dict(model="llama-2-7b", hardware="a100", prompt_tokens=128, output_tokens=128)

API = [
    ("train", dict(params=-1), UnitError, "params: expected a value more than zero, got -1"),
    ("train", dict(params=0), UnitError, "params: expected a value more than zero, got 0"),
    ("train", dict(params=math.nan), UnitError, "params: expected a finite number, got nan"),
    ("train", dict(params=math.inf), UnitError, "params: expected a finite number, got inf"),
    ("train", dict(params=""), UnitError, "params: expected a count such as '7e9', got ''"),
    ("train", dict(params="1e999"), UnitError, "params: expected a finite number, got '1e999'"),
    ("train", dict(params="seven billion"), UnitError, "params: expected a count"),
    ("train", dict(tokens="80 GB"), UnitError, "tokens: expected a count such as '7e9', got '80 GB'"),
    ("train", dict(tokens=-5), UnitError, "tokens: expected a value more than zero"),
    ("train", dict(tokens=None, params="7B"), InputError, "tokens: required when the model has no reported"),
    ("train", dict(n_gpus=0), UnitError, "n_gpus: expected a value more than zero, got 0"),
    ("train", dict(n_gpus=1.5), InputError, "n_gpus: expected a whole number from 1 to 1e+07, got 1.5"),
    ("train", dict(n_gpus=1e9), InputError, "n_gpus: expected a whole number from 1 to 1e+07"),
    ("train", dict(n_gpus="many"), UnitError, "n_gpus: expected a count"),
    ("train", dict(mfu=0), InputError, r"mfu: expected a number in (0, 1], got 0"),
    ("train", dict(mfu=1.01), InputError, r"mfu: expected a number in (0, 1], got 1.01"),
    ("train", dict(mfu=math.nan), InputError, r"mfu: expected a number in (0, 1], got nan"),
    ("train", dict(mfu="high"), InputError, r"mfu: expected a number in (0, 1], got 'high'"),
    ("train", dict(dtype="fp12"), InputError, "dtype: expected one of fp32, tf32, bf16, fp16, fp8, fp4, int8, int4, got 'fp12'"),
    ("train", dict(hardware="v100-sxm2-32gb", dtype="bf16"), InputError, "dtype: v100-sxm2-32gb does not support bf16"),
    ("train", dict(hardware="v100-sxm2-32gb", dtype="fp8"), InputError, "dtype: v100-sxm2-32gb does not support fp8"),
    ("train", dict(hardware="h1000"), UnknownProfileError, "'h1000' is not a known hardware profile; did you mean"),
    ("train", dict(hardware=""), UnknownProfileError, "'' is not a known hardware profile"),
    ("train", dict(hardware=None), UnknownProfileError, "'None' is not a known hardware profile"),
    ("train", dict(model="gpt5", params=None), UnknownProfileError, "'gpt5' is not a known model; did you mean"),
    ("train", dict(pue=0.5), InputError, "pue: expected a number from 1.0 to 10"),
    ("train", dict(pue=math.inf), InputError, "pue: expected a number from 1.0 to 10"),
    ("train", dict(power_per_gpu="400 J"), UnitError, "power_per_gpu: expected a power such as '700 W', got '400 J'"),
    ("train", dict(power_per_gpu=-1), UnitError, "power_per_gpu: expected a value zero or more, got -1"),
    ("train", dict(grid_intensity="0.4 kg"), UnitError, "grid_intensity: expected a carbon intensity"),
    ("train", dict(price_per_gpu_hour="$2"), UnitError, "price_per_gpu_hour: expected a price per device-hour"),
    ("train", dict(price_per_gpu_hour="2 TFLOPS"), UnitError, "TFLOPS is ambiguous; write TFLOP/s"),
    ("train", dict(region="mars"), UnknownProfileError, "'mars' is not a known region"),
    ("train", dict(cost_basis="lease"), InputError, "cost_basis: expected 'cloud' or 'owned'"),
    ("train", dict(recompute="always"), InputError, "recompute: expected one of none, selective, full"),
    ("train", dict(zero_stage=4), InputError, "zero_stage: expected 0, 1, 2 or 3 (or None: the fastest that fits), got 4"),
    ("train", dict(active_params="9B"), InputError, "active_params: must not exceed params"),
    ("infer", dict(prompt_tokens=-1), UnitError, "prompt_tokens: expected a value zero or more, got -1"),
    ("infer", dict(prompt_tokens=0, output_tokens=0), InputError, "prompt_tokens: a request needs at least one token"),
    ("infer", dict(batch_size=0), UnitError, "batch_size: expected a value more than zero, got 0"),
    ("infer", dict(batch_size=2.5), InputError, "batch_size: expected a whole number"),
    ("infer", dict(output_tokens="1e400"), UnitError, "output_tokens: expected a finite number"),
    ("infer", dict(dtype="fp8"), InputError, "dtype: a100-sxm4-40gb does not support fp8"),
    ("infer", dict(kv_dtype="int3"), InputError, "kv_dtype: expected one of"),
    ("infer", dict(batching="eager"), InputError, "batching: expected 'static' or 'continuous', got 'eager'"),
    ("infer", dict(prompt_tokens=5000, strict=True), InputError, "exceeds the model's context of 4096"),
    ("infer", dict(model="llama-2-70b", hardware="t4", strict=True), InputError, "batch_size: 1 requests need"),
    ("infer", dict(rate="abc"), UnitError, "rate: expected a request rate such as '12/s', got 'abc'"),
    ("infer", dict(rate="12 GB"), UnitError, "rate: expected a request rate such as '12/s', got '12 GB'"),
    ("infer", dict(rate=math.nan), UnitError, "rate: expected a finite number, got nan"),
    ("infer", dict(rate=-1), UnitError, "rate: expected a value more than zero, got -1"),
    ("infer", dict(rate=1e300), UnitError, "rate: expected at most 1e+09 1/s, got 1e+300"),
    ("infer", dict(rate=1, concurrency=1), InputError, "concurrency: give a rate (open loop) or a concurrency"),
    ("infer", dict(concurrency=0), UnitError, "concurrency: expected a value more than zero, got 0"),
    ("infer", dict(concurrency=1e9), InputError, "concurrency: expected a whole number from 1 to 1e+06"),
    ("infer", dict(prefix_cache=1), InputError, "prefix_cache: expected a share from 0 up to (not including) 1, got 1"),
    ("infer", dict(prefix_cache="150%"), InputError, "prefix_cache: expected a share from 0 up to (not including) 1, got '150%'"),
    ("infer", dict(prefix_cache="half"), InputError, "prefix_cache: expected a share between 0 and 1 such as 0.4 or '40%'"),
    ("infer", dict(engine="vlm"), UnknownProfileError, "'vlm' is not a known serving engine; did you mean 'vllm'? (see: costmodel engines)"),
    ("infer", dict(model="resnet-50", engine="vllm", output_tokens=0), InputError,
     "engine: vLLM does not serve a model that runs one forward pass per request (resnet-50); expected one of eager, tensorrt"),
    ("infer", dict(prompt_tokens=[128, 256]), InputError, "prompt_tokens: a sequence of lengths describes traffic"),
    ("infer", dict(rate=1, prompt_tokens=[]), InputError, "prompt_tokens: expected 1 to 100,000 sampled lengths, got 0"),
    ("infer", dict(rate=1, prompt_tokens=[1] * 100_001), InputError, "prompt_tokens: expected 1 to 100,000 sampled lengths, got 100,001"),
    ("infer", dict(rate=1, output_tokens=[10, -1]), UnitError, "output_tokens: expected a value zero or more, got -1"),
    ("infer", dict(rate=1, output_tokens=[10, math.nan]), UnitError, "output_tokens: expected a finite number, got nan"),
    ("sweep", dict(n_gpus=[8, 0]), UnitError, "n_gpus: expected a value more than zero, got 0"),
    ("sweep", dict(n_gpus=[]), InputError, "n_gpus: the list of values is empty"),
    ("sweep", dict(gpu=[8]), UnknownProfileError, "'gpu' is not a known estimate_training keyword"),
]


@pytest.mark.parametrize("target, kwargs, error, message", API, ids=[f"{t}-{i}" for i, (t, *_) in enumerate(API)])
def test_api_rejects_bad_input_with_a_clear_message(target, kwargs, error, message):
    base, call = {"train": (T, estimate_training), "infer": (I, estimate_inference),
                  "sweep": (T, sweep_training)}[target]
    args = {**base, **kwargs}
    args = {k: v for k, v in args.items() if not (k == "params" and v is None)}
    if target == "train" and "model" in kwargs:
        args.pop("params", None)
    with pytest.raises(error) as info:
        call(**args)
    assert message in str(info.value)
    assert "\n" not in str(info.value)  # one line


# Found by fuzzing the Python API with values of the wrong kind: each raised a bare TypeError from
# deep inside ("'int' object is not iterable", "unhashable type: 'list'").
PLANNERS = [
    (lambda: costmodel.plan_training("llama-2-7b", tokens="1T", hardware=1), InputError,
     "hardware: expected profile ids such as ['h100', 'b200'] (a list or a comma-separated string), got 1"),
    (lambda: costmodel.plan_serving("llama-2-7b", hardware=-0.0, rate="1/s", prompt_tokens=1, output_tokens=1),
     InputError, "hardware: expected profile ids such as ['h100', 'l40s'] (a list or a comma-separated string), "
                 "got -0.0"),
    (lambda: costmodel.compare_models(None), InputError,
     "models: expected catalog ids such as ['gpt2', 'llama-2-70b'] (a list or a comma-separated string), got None"),
    (lambda: costmodel.compare_sizes("1e22 FLOP", sizes=7), InputError,
     "sizes: expected parameter counts such as ['7B', '70B'] (a list or a comma-separated string), got 7"),
    (lambda: costmodel.predict_loss("7B", "1T", law=[]), UnknownProfileError, "'[]' is not a known scaling law"),
    (lambda: costmodel.compute_optimal("1e22 FLOP", law={}), UnknownProfileError, "'{}' is not a known scaling law"),
    # a law's counts below one: tokens per parameter was infinite and epochs of the data overflowed
    (lambda: costmodel.compare_sizes(tokens="7.5B", sizes=["1e-300"]), UnitError,
     "sizes: expected at least one parameter, got '1e-300'"),
    (lambda: costmodel.compute_optimal("1e22 FLOP", unique_tokens=1e-300), UnitError,
     "unique_tokens: expected at least one token, got 1e-300"),
    (lambda: costmodel.predict_loss(0.5, "1T"), UnitError, "params: expected at least one parameter, got 0.5"),
    # the tokens a budget buys past the count limit were reported as a bad tokens= the user never gave
    (lambda: costmodel.compare_sizes("1e30 FLOP", sizes=["1e6"]), InputError,
     "budget: the budget buys 1.67e+23 tokens for 1e+06 parameters, more than the 1e+18 a token count may be; give "
     "a smaller one or larger sizes"),
    (lambda: costmodel.get_hardware("h100", profile_path=1), InputError,
     "profile_path: expected a folder of profiles or a list of folders, got 1"),
    (lambda: costmodel.plan_serving("llama-2-7b", hardware="h100", rate="1/s", prompt_tokens=1, output_tokens=1,
                                    profile_path=[1]), InputError,
     "profile_path: expected a folder of profiles or a list of folders, got [1]"),
]


@pytest.mark.parametrize("call, error, message", PLANNERS, ids=[str(i) for i in range(len(PLANNERS))])
def test_an_argument_of_the_wrong_kind_is_one_line_naming_it(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == message or str(info.value).startswith(message)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("call, kwargs, argument, sweep", [
    (estimate_training, dict(params=np.array([7e9, 13e9])), "params", "sweep_training"),
    (estimate_training, dict(zero_stage=np.array([1, 3])), "zero_stage", "sweep_training"),
    (estimate_training, dict(price_per_gpu_hour=costmodel.ureg.Quantity(np.array([1.0, 2.0]), "USD/hour")),
     "price_per_gpu_hour", "sweep_training"),
    (estimate_inference, dict(batch_size=np.array([1, 8])), "batch_size", "sweep_inference"),
])
def test_an_array_of_several_values_is_refused_pointing_at_the_sweep(call, kwargs, argument, sweep):
    # found by fuzzing the API: an array reached a comparison ("the truth value of an array ... is
    # ambiguous") or a hash ("unhashable type: 'numpy.ndarray'")
    with pytest.raises(InputError) as info:
        call(**{**(T if call is estimate_training else I), **kwargs})
    assert str(info.value) == f"{argument}: expected one value, got an array of 2; {sweep}() takes arrays and lists"


def test_an_array_or_quantity_of_one_value_is_that_value():
    plain = estimate_training(**T, price_per_gpu_hour=5.0, zero_stage=1)
    held = estimate_training(**{**T, "tokens": np.array(1e12)}, price_per_gpu_hour=np.array(5.0),
                             zero_stage=np.array(1))
    assert held.to_dict() == plain.to_dict()
    quantity = estimate_training(**T, price_per_gpu_hour=costmodel.ureg.Quantity(np.array(5.0), "USD/hour"))
    assert quantity.cost == plain.cost
    sampled = estimate_inference(**{**I, "prompt_tokens": np.array([128, 256])}, rate="1/s")  # lengths: a sequence
    assert sampled.to_dict() == estimate_inference(**{**I, "prompt_tokens": [128, 256]}, rate="1/s").to_dict()


def test_compare_models_reads_a_comma_separated_string_as_a_list():
    # it iterated the string's characters ('g' is not a known model)
    rows = costmodel.compare_models("gpt2, bert-base")
    assert [r["model"] for r in rows] == ["gpt2", "bert-base"]


CLI = [
    (["train", "gpt2", "--hardware", "h100", "--gpus", "8", "--tokens", "80 GB"], 2, "--tokens: expected a count"),
    (["train", "gpt2", "--hardware", "h100", "--gpus", "0", "--tokens", "1B"], 2, "--gpus: expected a value more than zero"),
    (["train", "gpt2", "--hardware", "h100", "--gpus", "8", "--tokens", "1B", "--mfu", "nan"], 2, "--mfu: expected a number in (0, 1]"),
    (["train", "gpt2", "--hardware", "h100", "--gpus", "8", "--tokens", "1B", "--price", "$2"], 2, "--price: expected a price per device-hour"),
    (["train", "gpt2", "--hardware", "h1000", "--gpus", "8", "--tokens", "1B"], 1, "did you mean"),
    (["train", "gpt9", "--hardware", "h100", "--gpus", "8"], 1, "'gpt9' is not a known model"),
    (["train", "gpt2", "--gpus", "8"], 2, "Missing option '--hardware'"),
    (["infer", "llama-2-7b", "--hardware", "a100", "--batch", "-3"], 2, "--batch: expected a value more than zero"),
    (["infer", "llama-2-7b", "--hardware", "a100", "--power", "400 m"], 2, "--power: expected a power"),
    (["infer", "llama-2-7b", "--hardware", "a100", "--region", "atlantis"], 1, "'atlantis' is not a known region"),
    (["infer", "llama-2-7b", "--hardware", "a100", "--rate", "fast"], 2, "--rate: expected a request rate such as '12/s'"),
    (["infer", "llama-2-7b", "--hardware", "a100", "--concurrency", "0"], 2, "--concurrency: expected a value more than zero"),
    (["infer", "llama-2-7b", "--hardware", "a100", "--rate", "2/s", "--concurrency", "4"], 2, "--concurrency: give a rate"),
    (["infer", "llama-2-7b", "--hardware", "a100", "--prefix-cache", "1.5"], 2, "--prefix-cache: expected a share from 0 up to"),
    (["infer", "llama-2-7b", "--hardware", "a100", "--engine", "vlm"], 1, "did you mean 'vllm'"),
    (["infer", "resnet-50", "--hardware", "t4", "--engine", "vllm"], 2, "--engine: vLLM does not serve a model"),
    (["hardware", "show", "b900"], 1, "'b900' is not a known hardware profile"),
    (["models", "show", ""], 1, "is not a known model"),
    (["sweep", "train", "--model", "llama-2-7b", "--hardware", "h100", "--gpus", "4..1x2"], 2, "never reaches its end"),
    (["frobnicate"], 2, "No such command 'frobnicate'"),
]


@pytest.mark.parametrize("args, code, message", CLI, ids=[" ".join(a[:2]) + f"-{i}" for i, (a, *_) in enumerate(CLI)])
def test_cli_bad_input_is_one_line_with_the_right_exit_code(args, code, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


# Edits of the toy profile in tests/conftest.py (old -> new), or text appended to it.
TDP = '[tdp]\nvalue = "300 W"\nsource = "Acme toy datasheet"\nretrieved = "2026-01-01"\n'
PROFILES = [
    (dict(replace={TDP: ""}), "field tdp: is required but missing"),
    (dict(replace={"launch_year = 2024": 'launch_year = "2024"'}), "field launch_year: expected int, got str"),
    (dict(replace={'vendor = "Acme"': 'vendor = "Acme"\ncolour = "green"'}), "field colour: unknown key"),
    (dict(replace={'"1 TB/s"': '"1 TB"'}), "field memory_bandwidth.value: expected a bandwidth"),
    (dict(replace={'"300 W"': '"-300 W"'}), "field tdp.value: expected a value more than zero"),
    (dict(replace={'"100 TFLOP/s"': '"100 TFLOPS"'}), "TFLOPS is ambiguous"),
    (dict(replace={'kind = "gpu"': 'kind = "fpga"'}), "field kind: expected one of gpu, tpu, cpu, edge"),
    (dict(replace={'retrieved = "2026-01-01"': 'retrieved = "yesterday"'}), "expected a date such as"),
    (dict(replace={'id = "toy"': 'id = "other"'}), "must match the file name"),
    (dict(append="[dense\n"), "not valid TOML"),
]


@pytest.mark.parametrize("edit, message", PROFILES, ids=[m[:30] for _, m in PROFILES])
def test_bad_profile_files_name_the_file_and_field(write_profile, edit, message):
    directory = write_profile(**edit)
    path = directory / "toy.toml"
    before = sorted(os.listdir(directory))
    with pytest.raises(ProfileError) as info:
        costmodel.get_hardware("toy", profile_path=directory)
    assert message in str(info.value) and str(path) in str(info.value)
    assert sorted(os.listdir(directory)) == before  # nothing written next to it


def test_non_utf8_profile_file(write_profile):
    directory = write_profile(append="# caf\xe9\n", encoding="latin-1")  # 0xE9 alone is not UTF-8
    with pytest.raises(ProfileError, match="not valid UTF-8"):
        costmodel.get_hardware("toy", profile_path=directory)


def test_huge_profile_file(write_profile):
    directory = write_profile(append="#" * 10_000_000)
    with pytest.raises(ProfileError, match="file is 10,000,[0-9]+ bytes; profile files are limited to 1,000,000"):
        costmodel.get_hardware("toy", profile_path=directory)


def test_a_failed_cli_call_writes_nothing(tmp_path):
    out = tmp_path / "grid.csv"
    result = CliRunner().invoke(main, ["sweep", "train", "--model", "llama-2-7b", "--hardware", "h100", "--gpus", "8,-1",
                                       "--csv", str(out)])
    assert result.exit_code == 2 and not out.exists()
    plot = tmp_path / "p.png"
    result = CliRunner().invoke(main, ["plot", "inference", "--model", "nope", "--out", str(plot)])
    assert result.exit_code == 1 and not plot.exists()


# ---- hostile serving arguments (hypothesis) ---------------------------------------------------
#
# Whatever is passed, estimate_inference either returns finite figures or raises one line of
# CostModelError (InputError, UnitError or UnknownProfileError) that names the argument; never
# another exception, a RuntimeWarning or a figure that is not a number.

from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402

from costmodel.engines import engines, get_engine  # noqa: E402
from costmodel.errors import CostModelError  # noqa: E402

SERVE = dict(model="llama-2-7b", hardware="h100", prompt_tokens=128, output_tokens=32)


def _clean_or_refused(argument, **kwargs):
    try:
        est = estimate_inference(**{**SERVE, **kwargs})
    except CostModelError as exc:
        assert exc.argument == argument, (exc.argument, str(exc))
        assert "\n" not in str(exc) and str(exc)
        return exc
    d = est.to_dict(ranges=True)
    assert not {k: v for k, v in d.items() if isinstance(v, float) and not math.isfinite(v)}
    return None


texts = hs.text(max_size=12)
# Floats but those under 1e-290 in magnitude: a rate that small overflows the idle time per request
# (see test_a_vanishing_rate_is_refused_naming_the_rate below).
floats = hs.floats().filter(lambda x: not 0.0 < abs(x) < 1e-290)
units = hs.sampled_from(["/s", "/min", "/h", "1/ms", "Hz", "s", "GB", "", " per s", "/s/s"])
rates = hs.one_of(texts, floats, hs.integers(-10**40, 10**40), hs.booleans(), hs.lists(hs.integers(), max_size=2),
                  hs.builds(lambda x, u: f"{x}{u}", hs.floats(allow_nan=True, allow_infinity=True).filter(
                      lambda x: not 0.0 < abs(x) < 1e-290), units))


@given(rates)
def test_any_rate_is_served_or_refused_naming_rate(rate):
    _clean_or_refused("rate", rate=rate)


@given(hs.one_of(hs.integers(-10**12, 10**12), floats, texts, hs.booleans()))
def test_any_concurrency_is_served_or_refused_naming_concurrency(concurrency):
    error = _clean_or_refused("concurrency", concurrency=concurrency)
    if isinstance(concurrency, int) and not isinstance(concurrency, bool) and not 1 <= concurrency <= 10**6:
        assert error is not None  # 0, negative or past the million clients a replica is modelled for


@given(hs.one_of(floats, texts, hs.booleans(), hs.none(), hs.integers(-5, 5),
                 hs.builds(lambda x: f"{x}%", hs.floats(allow_nan=True, allow_infinity=True))))
def test_any_prefix_cache_is_served_or_refused_naming_prefix_cache(share):
    error = _clean_or_refused("prefix_cache", prefix_cache=share)
    if isinstance(share, float) and not 0.0 <= share < 1.0:
        assert error is not None and "up to (not including) 1" in str(error)


@given(hs.one_of(texts, hs.integers(), hs.floats()))
def test_any_engine_is_served_or_refused_naming_engine(engine):
    _clean_or_refused("engine", engine=engine)


@given(hs.sampled_from(sorted(engines())), hs.integers(min_value=0, max_value=40), hs.booleans())
def test_a_misspelt_engine_suggests_the_engine(engine, at, drop):
    at %= len(engine)
    typo = engine[:at] + engine[at + 1:] if drop else engine[:at] + engine[at] + engine[at:]
    try:
        get_engine(typo)
        assume(False)  # the typo is another engine's name or alias
    except UnknownProfileError:
        pass
    with pytest.raises(UnknownProfileError) as info:
        estimate_inference(**SERVE, engine=typo)
    assert info.value.argument == "engine"
    assert f"did you mean '{engine}'" in str(info.value) and "\n" not in str(info.value)


lengths = hs.lists(hs.one_of(hs.integers(-3, 3000), floats, texts, hs.none()), max_size=8)


@given(lengths, hs.booleans())
def test_any_sequence_of_lengths_is_served_or_refused_naming_it(values, prompt):
    argument = "prompt_tokens" if prompt else "output_tokens"
    error = _clean_or_refused(argument, rate="1/s", **{argument: values})
    if not values or any(isinstance(v, int) and v < 0 for v in values):
        assert error is not None


@given(hs.lists(hs.integers(1, 3000), min_size=1, max_size=8), hs.booleans())
def test_sampled_lengths_without_traffic_are_refused(values, prompt):
    argument = "prompt_tokens" if prompt else "output_tokens"
    with pytest.raises(InputError, match=f"{argument}: a sequence of lengths describes traffic") as info:
        estimate_inference(**{**SERVE, argument: values})
    assert info.value.argument == argument


@pytest.mark.parametrize("rate", [1e-305, "1e-310/s", 5e-324])
def test_a_vanishing_rate_is_refused_naming_the_rate(rate):
    _clean_or_refused("rate", rate=rate)
