"""Phones, laptops and edge boards: their own power budget (no PUE, no server), energy per
request in mWh, and the share of a battery one request drains."""

import pytest

import costmodel

PHONE = {'kind = "gpu"': 'kind = "phone"\nengine = "npu"'}
BATTERY = '\n[battery]\nvalue = "17.3 Wh"\nsource = "Acme phone datasheet"\nretrieved = "2026-01-01"\n'


def test_a_phone_has_no_pue_or_server_and_reports_its_battery_share(write_profile):
    directory = write_profile(replace=PHONE, append=BATTERY)
    est = costmodel.estimate_inference("distilbert-base", hardware="toy", prompt_tokens=128, output_tokens=0,
                                       profile_path=directory)
    assert est.footprint.pue == 1.0 and est.footprint.host_power_per_gpu.magnitude == 0
    joules = est.energy.to("J").magnitude
    assert est.battery_share == pytest.approx(joules / (17.3 * 3600.0), rel=1e-12)
    d = est.to_dict(ranges=True)
    assert d["energy_mWh"] == pytest.approx(joules / 3.6, rel=1e-12)
    assert d["battery_share"] == pytest.approx(est.battery_share, rel=1e-12)
    assert costmodel.get_hardware("toy", profile_path=directory).engine == "npu"


def test_a_device_without_a_battery_reports_none(write_profile):
    est = costmodel.estimate_inference("distilbert-base", hardware="toy", prompt_tokens=128, output_tokens=0,
                                       profile_path=write_profile())
    assert est.battery_share is None and est.to_dict()["battery_share"] is None


def test_a_battery_outside_the_plausible_range_names_the_field(write_profile):
    directory = write_profile(replace=PHONE, append=BATTERY.replace("17.3 Wh", "50 kWh"))
    with pytest.raises(costmodel.ProfileError, match=r"field battery.value: '50 kWh' is outside the plausible range"):
        costmodel.get_hardware("toy", profile_path=directory)


def test_an_unknown_engine_names_the_field(write_profile):
    directory = write_profile(replace={'kind = "gpu"': 'kind = "phone"\nengine = "fpga"'})
    with pytest.raises(costmodel.ProfileError, match=r"field engine: expected one of gpu, npu, cpu, tpu, dla"):
        costmodel.get_hardware("toy", profile_path=directory)


def test_distilbert_on_a_phone_has_a_latency_and_an_energy_per_request(runner):
    from costmodel.cli import main

    est = costmodel.estimate_inference("distilbert-base", hardware="a17-pro", prompt_tokens=128, output_tokens=0)
    assert est.hardware == "apple-a17-pro-gpu" and est.footprint.pue == 1.0
    assert est.latency.to("ms").magnitude > 0 and est.battery_share == pytest.approx(
        est.energy.to("J").magnitude / (12.70 * 3600.0), rel=1e-12)
    out = runner.invoke(main, ["infer", "distilbert-base", "--hardware", "a17-pro", "--prompt", "128"]).stdout
    assert "mWh" in out and "of the battery" in out and "samples/s" in out
