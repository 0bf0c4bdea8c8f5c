"""The public surface: exported names, the error tree, immutability."""

import dataclasses
import os
import subprocess
import sys

import pytest

import costmodel

PUBLIC = [
    "Calibration", "CostModelError", "HardwareProfile", "InferenceEstimate", "InferenceMemory", "InputError",
    "MemoryBreakdown", "ModelSpec", "OptimalResult", "ProfileError", "Quantity", "Region",
    "ServingPlan", "TrainingEstimate", "TrainingPlan", "UnitError", "UnknownProfileError", "WriteError", "__version__", "compare_models", "compare_sizes", "compare_variants",
    "compute_optimal", "default_calibration", "estimate_inference", "estimate_training", "get_hardware", "get_model",
    "get_region", "list_hardware", "list_models", "list_regions", "load_calibration", "model_from_config",
    "plan_serving", "plan_training", "predict_loss", "provenance", "reload_profiles",
    "sweep_inference", "sweep_training", "ureg", "write_report",
]


def test_all_is_pinned_so_additions_are_deliberate():
    assert costmodel.__all__ == PUBLIC
    assert PUBLIC == sorted(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_exported_name_exists(name):
    assert getattr(costmodel, name) is not None


@pytest.mark.parametrize("error, builtin", [
    (costmodel.UnitError, ValueError), (costmodel.InputError, ValueError),
    (costmodel.ProfileError, ValueError), (costmodel.UnknownProfileError, KeyError),
    (costmodel.WriteError, OSError),
])
def test_errors_inherit_the_base_and_the_matching_builtin(error, builtin):
    assert issubclass(error, costmodel.CostModelError)
    assert issubclass(error, builtin)
    assert issubclass(costmodel.CostModelError, Exception)


def test_lookup_error_is_not_a_value_error():
    # `except ValueError` around a lookup must not swallow an unknown id
    assert not issubclass(costmodel.UnknownProfileError, ValueError)
    assert not issubclass(costmodel.ProfileError, KeyError)


def test_unknown_profile_message_has_no_keyerror_quotes():
    with pytest.raises(costmodel.UnknownProfileError) as info:
        costmodel.get_hardware("zzz")
    message = "'zzz' is not a known hardware profile (see: costmodel hardware list)"
    assert str(info.value) == message  # a plain KeyError would print "\"'zzz' is ...\""
    assert str(costmodel.UnknownProfileError("no such thing")) == "no such thing"
    assert str(costmodel.UnknownProfileError()) == ""


@pytest.mark.parametrize("obj, field", [
    (costmodel.get_hardware("h100"), "memory"),
    (costmodel.get_hardware("h100"), "id"),
    (costmodel.get_model("gpt3-175b"), "params"),
    (costmodel.get_model("gpt3-175b"), "layers"),
])
def test_profiles_and_models_are_frozen(obj, field):
    before = getattr(obj, field)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, field, before)
    assert getattr(obj, field) == before


def test_profile_figure_tables_are_read_only():
    h100 = costmodel.get_hardware("h100")
    with pytest.raises(TypeError):
        h100.dense["bf16"] = h100.dense["fp32"]
    assert h100.peak_flops("bf16") == pytest.approx(989.4e12, rel=1e-9)


@pytest.mark.slow
def test_import_emits_no_warnings(tmp_path):
    # filterwarnings=error in pytest config means any import-time warning breaks every test
    # module; check in a fresh interpreter so the cached import in conftest does not hide it.
    result = subprocess.run([sys.executable, "-W", "error", "-c", "import costmodel"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONWARNINGS": "error"})
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1]
