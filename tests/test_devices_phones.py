"""Phone profiles: the Snapdragon NPUs (Galaxy S24 and S23) next to the A17 Pro GPU and the Tensor G4
CPU (Pixel 9), their names, energy per request in mWh and battery share, what a profile lacks, and their
measured points."""

from pathlib import Path

import pytest

import costmodel
from costmodel.engines import engine_constants, get_engine
from costmodel.validation import inference_validation

PHONES = ("snapdragon-8-gen-3-npu", "snapdragon-8-gen-2-npu", "apple-a17-pro-gpu", "tensor-g4-cpu")
DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("hardware_id", PHONES)
def test_phone_profiles_are_one_engine_each_with_every_figure_sourced(hardware_id):
    hw = costmodel.get_hardware(hardware_id)
    assert hw.kind == "phone" and hw.engine in ("npu", "gpu", "cpu")
    for key in ("memory", "memory_bandwidth", "tdp", *(f"dense.{d}" for d in hw.dense)):
        source = hw.sources[key]
        assert source.source.strip() and source.retrieved
        # no vendor publishes these phone figures: each is a third-party stand-in, flagged
        assert source.estimate, key


def test_snapdragon_npu_figures_are_the_profiles_stand_ins():
    s24 = costmodel.get_hardware("snapdragon-8-gen-3-npu")
    assert s24.peak_flops("int8") == pytest.approx(45e12)
    assert s24.number("memory_bandwidth") == pytest.approx(9600e6 * 8)  # LPDDR5X 4800 MHz on 64 bits
    assert s24.number("tdp") == pytest.approx(11.4 / (1 - 0.056), rel=2e-3)  # Exynos GPU load + 5.6%
    s23 = costmodel.get_hardware("snapdragon-8-gen-2-npu")
    assert s23.peak_flops("int8") == pytest.approx(45e12 / 1.98, rel=2e-3)  # Qualcomm's "+98% AI"
    assert s23.number("memory_bandwidth") == pytest.approx(8400e6 * 8)
    assert s24.number("battery") is None and s23.number("battery") is None  # no watt-hours found


def test_tensor_g4_cpu_figures_are_the_cited_derivation():
    """The Pixel 9's CPU: peaks from per-core rates measured on the same Arm cores (cpufp on a CIX P1:
    16 FP32 FLOP/cycle per Cortex-A720, 8 per Cortex-A520, FP16 twice that, int8 SMMLA 128 and 64
    op/cycle) at the Tensor G4's top clocks (3 x 2.6 GHz, 4 x 1.95 GHz). The Cortex-X4 has no sourced
    rate and is left out, so the peaks are a lower bound, and the profile says so. Power: freqbench's
    per-core CoreMark power at the top clocks, summed over the eight cores."""
    g4 = costmodel.get_hardware("tensor-g4-cpu")
    assert (g4.kind, g4.engine, g4.vendor, g4.launch_year) == ("phone", "cpu", "Google", 2024)
    a720, a520 = 3 * 2.6e9, 4 * 1.95e9  # cores x clock
    assert g4.peak_flops("fp32") == pytest.approx(a720 * 16 + a520 * 8, rel=1e-12)
    assert g4.peak_flops("fp16") == pytest.approx(a720 * 32 + a520 * 16, rel=1e-12)
    assert g4.peak_flops("int8") == pytest.approx(a720 * 128 + a520 * 64, rel=1e-12)
    assert g4.default_dtype == "fp16" and set(g4.dense) == {"fp32", "fp16", "int8"}
    assert "lower bound" in g4.sources["dense.fp32"].note and "Cortex-X4 is left out" in g4.sources["dense.fp32"].note
    assert g4.number("tdp") == pytest.approx(3.0277 + 3 * 0.8616 + 4 * 0.2044, rel=1e-3)  # X4 + 3 A720 + 4 A520
    assert g4.number("memory") == 12 * 2**30
    assert g4.number("memory_bandwidth") == pytest.approx(7500e6 * 8, rel=1e-12)  # the 60 GB/s stand-in
    assert g4.number("battery") is None  # mAh only in the sources read: no watt-hours


def test_an_llm_on_the_pixel_9_cpu_runs_llama_cpp_and_says_the_battery_share_is_missing():
    est = costmodel.estimate_inference("llama-3.2-1b", hardware="pixel-9", prompt_tokens=128, output_tokens=64,
                                       dtype="w4a16")
    assert est.engine == "llama.cpp" and est.footprint.pue == 1.0 and est.battery_share is None
    assert est.warnings == ("tensor-g4-cpu has no battery capacity in its profile: the share of a charge one "
                            "request drains is not computed",)
    power = est.to_dict()["power_per_gpu_W"]
    assert 0.2 * 6.43 <= power <= 6.43  # between the idle share and the measured all-core CPU power


@pytest.mark.parametrize("name, hardware_id", [
    ("snapdragon-8-gen-3", "snapdragon-8-gen-3-npu"), ("Galaxy S24", "snapdragon-8-gen-3-npu"),
    ("SM8650", "snapdragon-8-gen-3-npu"), ("sd_8_gen_3", "snapdragon-8-gen-3-npu"),
    ("snapdragon-8-gen-2", "snapdragon-8-gen-2-npu"), ("galaxy-s23", "snapdragon-8-gen-2-npu"),
    ("a17-pro", "apple-a17-pro-gpu"), ("iphone-15-pro", "apple-a17-pro-gpu"),
    ("tensor-g4", "tensor-g4-cpu"), ("Google Tensor G4", "tensor-g4-cpu"), ("pixel-9", "tensor-g4-cpu"),
    ("Pixel 9", "tensor-g4-cpu"), ("zumapro", "tensor-g4-cpu"),
])
def test_phone_short_names(name, hardware_id):
    assert costmodel.get_hardware(name).id == hardware_id


def test_phone_energy_per_request_is_power_times_latency_in_mwh_with_the_battery_share():
    """Energy per request = the device's modelled power x the request's latency; the battery share
    divides it by the profile's battery (12.70 Wh for the iPhone 15 Pro)."""
    est = costmodel.estimate_inference("distilbert-base", hardware="iphone-15-pro", prompt_tokens=128, output_tokens=0)
    d = est.to_dict()
    power, seconds = d["power_per_gpu_W"], est.latency.to("s").magnitude
    assert 0.2 * 11.5 <= power <= 11.5  # between the idle share and the TDP of the profile
    assert d["energy_mWh"] == pytest.approx(power * seconds / 3.6, rel=1e-9)
    assert est.battery_share == pytest.approx(power * seconds / (12.70 * 3600.0), rel=1e-9)
    assert est.footprint.pue == 1.0 and not any("battery" in w for w in est.warnings)


def test_a_phone_without_a_battery_figure_says_what_it_could_not_compute(runner):
    from costmodel.cli import main

    est = costmodel.estimate_inference("resnet-50", hardware="galaxy-s24", prompt_tokens=1, output_tokens=0,
                                       dtype="w8a8")
    assert est.battery_share is None and est.engine == "tflite"
    assert est.to_dict()["energy_mWh"] == pytest.approx(est.energy.to("J").magnitude / 3.6, rel=1e-12)
    assert est.warnings == ("snapdragon-8-gen-3-npu has no battery capacity in its profile: the share of a "
                            "charge one request drains is not computed",)
    out = runner.invoke(main, ["infer", "resnet-50", "--hardware", "galaxy-s24", "--dtype", "w8a8"])
    assert out.exit_code == 0 and " mWh (" in out.stdout and "no battery capacity" in out.stdout


def test_a_board_without_a_battery_is_not_warned_about_one():
    est = costmodel.estimate_inference("resnet-50", hardware="raspberry-pi-5-8gb", prompt_tokens=1, output_tokens=0)
    assert not any("battery" in w for w in est.warnings)


@pytest.mark.parametrize("dtype", ["fp16", "bf16", "fp32"])
def test_a_precision_the_npu_profile_lacks_is_a_one_line_error_naming_it(dtype, runner):
    from costmodel.cli import main

    with pytest.raises(costmodel.InputError, match=rf"snapdragon-8-gen-3-npu does not support {dtype}: "
                                                   rf"it has no {dtype} units"):
        costmodel.estimate_inference("resnet-50", hardware="galaxy-s24", prompt_tokens=1, output_tokens=0, dtype=dtype)
    out = runner.invoke(main, ["infer", "resnet-50", "--hardware", "galaxy-s24", "--dtype", dtype])
    assert out.exit_code == 2 and len(out.stderr.strip().splitlines()) == 1 and dtype in out.stderr


def test_litert_runs_with_its_measured_cost_per_invocation():
    """LiteRT has too few sources for constants of its own; its per-invocation cost is the measured
    0.187 ms of a tiny INT8 model on the Galaxy S24's NPU (engines.toml), not the 2.5 ms per step the
    graph-capturing LLM servers pool."""
    k = engine_constants(costmodel.default_calibration().serving, get_engine("litert"))
    assert (k.fixed_s, k.launch_s, k.borrowed_from) == (1.87e-4, 0.0, "measured")
    assert get_engine("qnn").id == "tflite"


def test_qualcomm_ai_hub_points_on_two_phones_land_within_a_factor_of_two():
    """Six INT8 latencies from Qualcomm AI Hub's performance files (ResNet-50 and MobileNet-v2 under
    LiteRT and QNN on a Galaxy S24, LiteRT on a Galaxy S23), scored with the shipped constants (not
    refitted on them). The estimate runs 0.54-0.88x the measurement: fast, most on MobileNet-v2,
    whose 0.3-0.4 ms is mostly the runtime's cost per invocation."""
    v = inference_validation(DATA / "inference_points.csv")
    phones = v[v.hardware.isin(["snapdragon-8-gen-3-npu", "snapdragon-8-gen-2-npu"])]
    assert sorted(phones.point) == ["N25", "N26", "N27", "N28", "N29", "N30"]
    assert set(phones.metric) == {"latency"} and set(phones.engine) == {"tflite"} and not phones.holdout.any()
    ratio = phones.estimated_ms / phones.published_ms
    assert ratio.between(0.5, 2.0).all(), phones[["point", "published_ms", "estimated_ms"]]
    assert phones.hardware.nunique() == 2


def test_an_llm_on_a_phone_npu_runs_litert_and_on_a_phone_gpu_llama_cpp():
    """llama.cpp has no NPU backend: an NPU profile's default is LiteRT (QNN delegate)."""
    from costmodel.engines import default_engine
    assert default_engine(costmodel.get_hardware("galaxy-s24"), "dense-decoder").id == "tflite"
    assert default_engine(costmodel.get_hardware("a17-pro"), "dense-decoder").id == "llama.cpp"
