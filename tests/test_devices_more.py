"""More edge devices and short names: the Raspberry Pi 5's sourced figures, a DistilBERT request on
it (latency, mWh, the owned cost from its list price), and the bare 'orin'/'jetson' aliases."""

import math

import pytest

import costmodel
from costmodel.datafiles import normalise

PI = "raspberry-pi-5-8gb"
ORIN = "jetson-agx-orin-64gb"


def test_raspberry_pi_5_loads_with_its_sourced_figures():
    pi = costmodel.get_hardware(PI)
    assert (pi.kind, pi.engine, pi.vendor, pi.launch_year) == ("edge", "cpu", "Raspberry Pi", 2023)
    # 4 Cortex-A76 cores x 2.4 GHz x 2 NEON pipes x 4 fp32 lanes x 2 FLOP per FMA (Arm's A76 guide)
    assert pi.default_dtype == "fp32" and set(pi.dense) == {"fp32"}
    assert pi.peak_flops() == pytest.approx(4 * 2.4e9 * 2 * 4 * 2, rel=1e-12)
    assert pi.number("memory") == 8 * 2**30
    # a 32-bit LPDDR4X-4267 bus: 4267e6 transfers/s x 4 bytes, written rounded to 17.07 GB/s
    assert pi.number("memory_bandwidth") == pytest.approx(4267e6 * 4, rel=1e-3)
    assert pi.number("tdp") == pytest.approx(11.0, rel=1e-12)  # measured during HPL, not the 27 W supply
    assert pi.number("battery") is None
    assert pi.price_per_hour("purchase") == pytest.approx(80.0, rel=1e-12)
    # third-party measurements and derived peaks stand in for figures Raspberry Pi does not print
    assert pi.sources["tdp"].estimate and pi.sources["dense.fp32"].estimate
    assert not pi.sources["memory"].estimate and not pi.sources["memory_bandwidth"].estimate
    assert all(s.retrieved == "2026-12-01" for s in pi.sources.values())


@pytest.mark.parametrize("name", ["raspberry-pi-5", "RPi5", "pi5", "Raspberry Pi 5", "bcm2712"])
def test_raspberry_pi_5_short_names(name):
    assert costmodel.get_hardware(name).id == PI


def test_distilbert_on_a_raspberry_pi_5_has_a_latency_and_an_energy_per_request():
    est = costmodel.estimate_inference("distilbert-base", hardware="rpi5", prompt_tokens=128, output_tokens=0)
    assert est.hardware == PI and est.footprint.pue == 1.0 and est.footprint.host_power_per_gpu.magnitude == 0
    seconds, joules = est.latency.to("s").magnitude, est.energy.to("J").magnitude
    assert math.isfinite(seconds) and math.isfinite(joules)
    # at least the forward pass at the dense peak: 2 FLOP per parameter per token
    assert seconds >= 2 * 66e6 * 128 / 153.6e9
    # the board draws between its modelled idle floor and its 11 W measured load power
    assert 0.2 * 11.0 * seconds <= joules <= 11.0 * seconds
    d = est.to_dict()
    assert d["energy_mWh"] == pytest.approx(joules / 3.6, rel=1e-12)
    assert d["battery_share"] is None and est.battery_share is None  # mains-powered: no battery


def test_an_owned_raspberry_pi_5_is_priced_from_its_80_dollar_list_price():
    est = costmodel.estimate_inference("distilbert-base", hardware="rpi5", prompt_tokens=128, output_tokens=0,
                                       cost_basis="owned", electricity_price="0 USD/kWh", service_life="10000 h")
    hours = est.latency.to("h").magnitude
    assert est.to_dict()["cost_USD"] == pytest.approx(hours * 80.0 / 10000.0, rel=1e-9)


@pytest.mark.parametrize("name", ["orin", "jetson", "Orin", "JETSON", " jetson "])
def test_bare_orin_and_jetson_are_the_flagship_agx_orin(name):
    assert costmodel.get_hardware(name).id == ORIN


def test_the_smaller_orin_modules_keep_their_own_names():
    assert costmodel.get_hardware("orin-nano").id == "jetson-orin-nano-super-8gb"
    assert costmodel.get_hardware("orin-nx").id == "jetson-orin-nx-16gb"


def test_no_name_belongs_to_two_shipped_profiles():
    owners: dict[str, set[str]] = {}
    for profile in costmodel.list_hardware():
        for name in (profile.id, *profile.aliases):
            owners.setdefault(normalise(name), set()).add(profile.id)
    clashes = {name: ids for name, ids in owners.items() if len(ids) > 1}
    assert clashes == {}


def test_the_cli_lists_the_pi_and_shows_orin(runner):
    from costmodel.cli import main

    listed = runner.invoke(main, ["hardware", "list"])
    assert listed.exit_code == 0 and PI in listed.stdout
    shown = runner.invoke(main, ["hardware", "show", "orin"])
    assert shown.exit_code == 0 and ORIN in shown.stdout


# --- TPU v6e (Trillium) ------------------------------------------------------------------------

V6E = "tpu-v6e"


def test_tpu_v6e_figures_match_googles_spec_table():
    v6e = costmodel.get_hardware(V6E)
    assert (v6e.kind, v6e.vendor, v6e.launch_year) == ("tpu", "Google", 2024)
    # Google Cloud TPU docs 'TPU v6e' key specifications: 918 TFLOPs bf16, 1836 TOPs int8,
    # 32 GB HBM at 1638 GBps, 800 GBps bidirectional ICI over 4 ports, 256-chip 2D-torus pod
    assert v6e.default_dtype == "bf16" and set(v6e.dense) == {"bf16", "int8"}
    assert v6e.peak_flops("bf16") == pytest.approx(918e12, rel=1e-12)
    assert v6e.peak_flops("int8") == pytest.approx(1836e12, rel=1e-12)
    assert v6e.number("memory") == 32 * 2**30
    assert v6e.number("memory_bandwidth") == pytest.approx(1638e9, rel=1e-12)
    assert v6e.number("interconnect_bandwidth") == pytest.approx(800e9 / 2, rel=1e-12)  # stored per direction
    assert v6e.devices_per_node == 256
    assert v6e.price_per_hour("on_demand") == pytest.approx(2.70, rel=1e-12)
    # the published figures are Google's own; power is a derived placeholder and says so
    assert all(not v6e.sources[k].estimate for k in ("memory", "memory_bandwidth", "dense.bf16", "dense.int8"))
    assert v6e.sources["tdp"].estimate and "No published figure" in v6e.sources["tdp"].source
    # 4.7x peak compute at 1.67x the energy efficiency of the v5e placeholder
    v5e = costmodel.get_hardware("tpu-v5e")
    assert v6e.number("tdp") == pytest.approx(v5e.number("tdp") * 4.7 / 1.67, rel=2e-3)
    assert v6e.peak_flops("bf16") / v5e.peak_flops("bf16") == pytest.approx(4.7, rel=0.01)


@pytest.mark.parametrize("name", ["trillium", "v6e", "TPU v6e", "cloud-tpu-v6e"])
def test_tpu_v6e_short_names(name):
    assert costmodel.get_hardware(name).id == V6E


def test_an_llm_serves_on_a_tpu_v6e():
    est = costmodel.estimate_inference("llama-3.1-8b", hardware="trillium", prompt_tokens=512, output_tokens=128,
                                       batch_size=8, batching="static")
    assert est.hardware == V6E and math.isfinite(est.latency.to("s").magnitude)
    # a decode step reads at least the bf16 weights once at the published HBM bandwidth
    assert est.tpot.to("s").magnitude >= 2 * 8.0e9 / 1638e9
