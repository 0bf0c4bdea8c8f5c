"""Trust at the edges (library side): strings are a number and a unit, never arithmetic; every
input has a finite range; data files write units and plausible figures; contradictions are
errors or warnings; profiles edited during a process are seen."""

import math
import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as hs

import costmodel
from costmodel.errors import InputError, ProfileError, UnitError
from costmodel.units import LIMITS, parse_count, parse_quantity

T = dict(params="7B", tokens="1T", hardware="h100", n_gpus=8)
I = dict(model="llama-2-7b", hardware="a100", prompt_tokens=128, output_tokens=128)


# --- strings: a number and a unit ---------------------------------------------------------------

@pytest.mark.parametrize("text, kind", [
    ("9**9**9 USD/h", "usd_rate"), ("10**400", "power"), ("2*3 W", "power"), ("1 USD**99**99", "usd"),
    ("(1e308)**2 J", "energy"), ("3 W + 4 W", "power"), ("1e3/2 s", "time"), ("1 GiB**9**9", "byte"),
])
def test_arithmetic_in_a_quantity_string_is_refused_not_evaluated(text, kind):
    with pytest.raises(UnitError, match="arithmetic is not evaluated"):
        parse_quantity(text, kind, "x")


@pytest.mark.parametrize("text, kind, expected", [
    ("3.35 TB/s", "bandwidth", 3.35e12), ("$2.10/h", "usd_rate", 2.10), ("0.385 kg/kWh", "intensity", 385.0),
    ("500000 GPU*h", "device_time", 5e5), ("2 g/(kW*h)", "intensity", 2.0), ("30 days", "time", 2_592_000.0),
    ("$1,000", "usd", 1000.0), ("1_000 W", "power", 1000.0), ("2 m^2/m^2", "count", 2.0),
])
def test_numbers_with_units_still_read(text, kind, expected):
    assert parse_quantity(text, kind, "x") == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("text, expected", [("7.5B", 7.5e9), ("7_500_000_000", 7.5e9), ("7,500,000,000", 7.5e9),
                                            ("1,000", 1000.0), ("12,345.5", 12345.5)])
def test_counts_take_decimal_points_underscores_and_thousands_separators(text, expected):
    assert parse_count(text, "params") == expected


@pytest.mark.parametrize("text", ["7,5B", "1,00", "1,0000", "7,5", ",5"])
def test_a_comma_that_is_not_a_thousands_separator_is_refused(text):
    with pytest.raises(UnitError, match="params: expected a count"):
        parse_count(text, "params")


def test_the_decimal_comma_gets_a_hint():
    with pytest.raises(UnitError, match="a comma only separates thousands, in groups of three: write 7.5B"):
        parse_count("7,5B", "params")


# --- finite ranges --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(tokens=1e308), "tokens: expected at most 1e\\+18"),
    (dict(params="1e19"), "params: expected at most 1e\\+18"),
    (dict(mfu=1e-300), "mfu: expected at least 0.0001"),
    (dict(price_per_gpu_hour="1" + "0" * 400), "price_per_gpu_hour: expected a finite number"),
    (dict(power_per_gpu="1e300 W"), "power_per_gpu: expected at most 1e\\+10 W"),
    (dict(seq_len=1e40), "seq_len: expected at most"),
])
def test_inputs_beyond_their_range_are_errors_naming_them(kwargs, message):
    with pytest.raises(costmodel.CostModelError, match=message):
        costmodel.estimate_training(**{**T, **kwargs})


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt_tokens=1e300), "prompt_tokens: expected"),
    (dict(output_tokens=1e19), "output_tokens: expected"),
    (dict(prompt_tokens=1.5), "prompt_tokens: expected a whole number"),
])
def test_serving_inputs_beyond_their_range_are_errors(kwargs, message):
    with pytest.raises(costmodel.CostModelError, match=message):
        costmodel.estimate_inference(**{**I, **kwargs})


@given(hs.floats(min_value=1.0, max_value=1e18), hs.floats(min_value=1.0, max_value=1e18),
       hs.integers(min_value=1, max_value=10_000_000), hs.floats(min_value=1e-4, max_value=1.0))
def test_every_figure_of_a_valid_training_estimate_is_finite(params, tokens, n_gpus, mfu):
    est = costmodel.estimate_training(params=params, tokens=tokens, hardware="h100", n_gpus=n_gpus, mfu=mfu,
                                      seq_len=2048)
    for key, value in est.to_dict(ranges=True).items():
        assert value is None or not isinstance(value, float) or math.isfinite(value), key


def test_limits_are_documented_for_every_kind():
    from costmodel.units import CANONICAL

    assert set(LIMITS) == set(CANONICAL)
    assert all(math.isfinite(v) and v > 0 for v in LIMITS.values())


# --- contradictions: errors or warnings -----------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    (dict(samples="1M", tokens="1T"), InputError, r"samples: give samples= or tokens=, not both"),
    (dict(model="resnet-50", params=None, tokens="1T"), InputError,
     r"tokens: resnet-50 is a cnn model, trained on samples \(images or rows\), not tokens; give samples="),
    (dict(cost_basis="owned", price_per_gpu_hour="$2/h"), InputError,
     r"price_per_gpu_hour: is a rented device's price; owned hardware is priced by purchase_price="),
    (dict(n_gpus=12, tp=8), InputError, r"tp: the parallel degree tp x pp = 8 does not divide n_gpus = 12"),
    (dict(model="gpt3-175b", params=None, tokens="1B", n_gpus=64, tp=64), InputError,
     r"tp: 64 does not divide the model's 96 attention heads"),
])
def test_contradictions_are_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        costmodel.estimate_training(**{**T, **kwargs})


def test_a_resized_catalog_model_is_a_warning_not_a_silent_relabel():
    est = costmodel.estimate_training("gpt2", params="7B", tokens="1T", hardware="h100", n_gpus=8)
    assert est.params.magnitude == 7e9
    assert est.warnings == ("params=7e+09 replaces gpt2's 1.24e+08 parameters: the estimate describes a resized "
                            "model, and gpt2's shape (activations, attention FLOPs) is not used",)
    assert costmodel.estimate_training("gpt2", tokens="1T", hardware="h100", n_gpus=8).warnings == ()


def test_a_training_sequence_beyond_the_context_is_a_warning():
    est = costmodel.estimate_training("llama-2-7b", seq_len=8192, hardware="h100", n_gpus=8)
    assert est.warnings == ("seq_len=8192 exceeds llama-2-7b's context of 4096 tokens",)
    assert est.to_dict()["model"] == "llama-2-7b"


def test_8_bit_training_only_when_asked_and_with_a_note(write_profile):
    directory = write_profile(append='\n[dense.int8]\nvalue = "200 TFLOP/s"\nsource = "Acme"\nretrieved = "2026-01-01"\n',
                              replace={'[dense.bf16]\nvalue = "100 TFLOP/s"\nsource = "Acme toy datasheet"\n'
                                       'retrieved = "2026-01-01"\n': ''})
    with pytest.raises(InputError, match=r"dtype: toy lists no 16- or 32-bit precision to train in; give dtype= \(int8\)"):
        costmodel.estimate_training(params="1B", tokens="1B", hardware="toy", n_gpus=1, profile_path=directory)
    est = costmodel.estimate_training(params="1B", tokens="1B", hardware="h100", n_gpus=8, dtype="fp8")
    assert est.dtype == "fp8" and "fp8 training needs quantised-training software" in est.warnings[0]
    assert costmodel.estimate_training(params="1B", tokens="1B", hardware="h100", n_gpus=8).dtype == "bf16"


# --- data files -----------------------------------------------------------------------------------

@pytest.mark.parametrize("replace, message", [
    ({'value = "16 GiB"': 'value = "16"'}, r"field memory.value: '16' has no unit; .* e.g. '80 GiB'"),
    ({'value = "16 GiB"': 'value = "16 B"'}, r"field memory.value: '16 B' is outside the plausible range of device memory"),
    ({'value = "16 GiB"': 'value = "1 PiB"'}, r"field memory.value: '1 PiB' is outside the plausible range"),
    ({'value = "300 W"': 'value = "3 MW"'}, r"field tdp.value: '3 MW' is outside the plausible range of one device's power"),
    ({'value = "100 TFLOP/s"': 'value = "100"'}, r"field dense.bf16.value: '100' has no unit"),
    ({'value = "1 TB/s"': 'value = "1 TB/s**9**9"'}, r"field memory_bandwidth.value: .*arithmetic is not evaluated"),
])
def test_profile_figures_carry_a_unit_and_a_plausible_value(write_profile, replace, message):
    directory = write_profile(replace=replace)
    with pytest.raises(ProfileError, match=message):
        costmodel.get_hardware("toy", profile_path=directory)


def test_a_profile_edited_or_added_during_the_process_is_seen(write_profile, tmp_path):
    directory = write_profile()
    assert costmodel.get_hardware("toy", profile_path=directory).memory.to("GiB").magnitude == 16
    path = directory / "toy.toml"
    path.write_text(path.read_text().replace('value = "16 GiB"', 'value = "32 GiB"'))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a later modification time, whatever the clock
    assert costmodel.get_hardware("toy", profile_path=directory).memory.to("GiB").magnitude == 32
    (directory / "toy2.toml").write_text(path.read_text().replace('id = "toy"', 'id = "toy2"')
                                         .replace('aliases = ["toy-chip"]', 'aliases = ["second-toy"]'))
    os.utime(directory, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert costmodel.get_hardware("second-toy", profile_path=directory).id == "toy2"


def test_reload_profiles_forgets_what_was_read(write_profile):
    directory = write_profile()
    costmodel.get_hardware("toy", profile_path=directory)
    costmodel.reload_profiles()
    assert costmodel.get_hardware("toy-chip", profile_path=directory).id == "toy"


def test_a_broken_user_file_breaks_lookups_by_alias_and_id_alike(write_profile):
    directory = write_profile()
    (directory / "broken.toml").write_text('id = "broken"\nname = 3\n')
    # a valid profile is found by id and by alias alike
    assert costmodel.get_hardware("toy", profile_path=directory).id == "toy"
    assert costmodel.get_hardware("toy-chip", profile_path=directory).id == "toy"
    assert costmodel.get_hardware("H100", profile_path=directory).id == "h100-sxm5-80gb"
    # a name only the broken file could answer: its error, by id or by anything else
    for name in ("broken", "brokn"):
        with pytest.raises(ProfileError, match=r"broken.toml: field"):
            costmodel.get_hardware(name, profile_path=directory)
    with pytest.raises(ProfileError, match=r"broken.toml: field"):
        costmodel.list_hardware(profile_path=directory)


def test_formatting_a_result_quantity_with_a_number_format_warns_nothing():
    # warnings are errors in this suite, so a DeprecationWarning from pint fails here
    est = costmodel.estimate_inference(**I)
    ms = est.ttft.to("ms").magnitude
    assert f"{est.ttft:.3g}" == f"{ms:.3g} ms"
    assert f"{est.memory_per_gpu:.1f}".endswith(" GiB")


@pytest.mark.parametrize("value", [10**400, -(10**400)])
def test_an_integer_beyond_any_float_is_a_clean_error(value):
    with pytest.raises(UnitError, match="expected a finite number"):
        parse_count(value, "params")
    with pytest.raises(UnitError, match="expected a finite number"):
        parse_quantity(value, "power", "power_per_gpu")


def test_a_pipeline_degree_beyond_the_devices_names_pp_when_tp_was_not_given():
    with pytest.raises(InputError, match=r"^pp: the parallel degree tp x pp = 8 exceeds n_gpus = 4"):
        costmodel.estimate_training(**{**T, "n_gpus": 4}, pp=8)
    with pytest.raises(InputError, match=r"^tp: the parallel degree tp x pp = 8 exceeds n_gpus = 4"):
        costmodel.estimate_training(**{**T, "n_gpus": 4}, tp=2, pp=4)


def test_a_context_overflow_names_both_keywords_in_the_callers_spelling():
    with pytest.raises(InputError) as info:
        costmodel.estimate_inference(**{**I, "prompt_tokens": 5000}, strict=True)
    assert str(info.value) == "prompt_tokens: prompt_tokens + output_tokens = 5128 exceeds the model's context of 4096"
    assert info.value.render(lambda n: {"prompt_tokens": "--prompt", "output_tokens": "--output"}[n]).startswith(
        "--prompt: --prompt + --output = 5128")
    warned = costmodel.estimate_inference(**{**I, "prompt_tokens": 5000})
    assert warned.warnings == ("prompt_tokens + output_tokens = 5128 exceeds the model's context of 4096",)
