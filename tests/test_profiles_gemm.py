"""Measured GEMM throughput, scale-out bandwidth and scale-up domain size in hardware profiles."""

import csv
import re
from pathlib import Path

import pytest

import costmodel
from costmodel.hardware import get_hardware

DATA = Path(__file__).parent / "data"
# The datacenter training accelerators the physical step-time model covers.
DATACENTER = [
    "v100-sxm2-32gb", "a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm5-80gb", "h800-sxm5-80gb",
    "h200-sxm-141gb", "b200", "gb200", "b300", "mi250x", "mi300x", "mi325x", "mi355x", "gaudi2",
    "tpu-v3", "tpu-v4", "tpu-v5e", "tpu-v5p", "p100-sxm2-16gb", "a100-pcie-80gb", "h100-pcie-80gb", "l40s",
]
# Devices with a scale-up fabric (L40S has none: PCIe only).
WITH_INTERCONNECT = [d for d in DATACENTER if d != "l40s"]
with open(DATA / "gemm_measurements.csv", newline="") as f:
    MEASURED = list(csv.DictReader(f))

GEMM = '\n[gemm.bf16]\nvalue = "{value}"\nsource = "Acme GEMM benchmark"\nretrieved = "2026-01-01"\n'
SCALE_OUT = ('\n[scale_out]\nvalue = "{value}"\ndirection = "{direction}"\nname = "4x toy NIC"\n'
             'devices_per_node = {devices}\nsource = "Acme node datasheet"\nretrieved = "2026-01-01"\n')
LINK = '\n[interconnect]\nvalue = "900 GB/s"\ndirection = "bidirectional"\n{extra}source = "x"\nretrieved = "2026-01-01"\n'


# --- the loader ------------------------------------------------------------------------------

def test_loader_reads_gemm_and_scale_out(write_profile):
    extra = GEMM.format(value="80 TFLOP/s") + SCALE_OUT.format(value="50 GB/s", direction="per-direction", devices=4)
    toy = get_hardware("toy", profile_path=write_profile(append=extra))
    assert toy.gemm_flops("bf16") == pytest.approx(80e12, rel=1e-12)
    assert toy.gemm_flops() == toy.gemm_flops("bfloat16")  # default dtype, aliases resolve
    assert toy.number("scale_out_bandwidth") == pytest.approx(50e9, rel=1e-12)
    assert toy.scale_out_bandwidth.to("GB/s").magnitude == pytest.approx(50, rel=1e-12)
    assert (toy.scale_out, toy.devices_per_node) == ("4x toy NIC", 4)
    assert toy.sources["gemm.bf16"].source == "Acme GEMM benchmark"
    data = toy.to_dict()
    assert data["gemm"]["bf16"]["value"] == pytest.approx(80) and data["gemm"]["bf16"]["unit"] == "TFLOP/s"
    assert data["scale_out_bandwidth"]["direction"] == "per-direction"
    assert (data["scale_out"], data["devices_per_node"]) == ("4x toy NIC", 4)


def test_a_profile_without_the_new_figures_has_none(write_profile):
    toy = get_hardware("toy", profile_path=write_profile())
    assert toy.gemm_flops("bf16") is None
    assert toy.number("scale_out_bandwidth") is None and toy.scale_out_bandwidth is None
    assert toy.devices_per_node is None
    assert toy.to_dict()["gemm"] == {}


@pytest.mark.parametrize("direction, per_direction", [("bidirectional", 25e9), ("per-direction", 50e9)])
def test_scale_out_is_stored_per_direction(write_profile, direction, per_direction):
    toy = get_hardware("toy", profile_path=write_profile(
        append=SCALE_OUT.format(value="400 Gbit/s", direction=direction, devices=8)))
    assert toy.number("scale_out_bandwidth") == pytest.approx(per_direction, rel=1e-12)


def test_gemm_above_dense_is_refused(write_profile):
    directory = write_profile(append=GEMM.format(value="120 TFLOP/s"))  # the toy's dense bf16 is 100
    with pytest.raises(costmodel.ProfileError, match=re.escape(
            f"{directory / 'toy.toml'}: field gemm.bf16: measured 120.0 TFLOP/s is above the dense peak "
            "100.0 TFLOP/s; a measurement cannot beat the peak")):
        get_hardware("toy", profile_path=directory)


def test_gemm_without_a_dense_peak_is_refused(write_profile):
    extra = '\n[gemm.fp8]\nvalue = "80 TFLOP/s"\nsource = "x"\nretrieved = "2026-01-01"\n'
    with pytest.raises(costmodel.ProfileError, match=r"field gemm\.fp8: has no dense\.fp8 peak to compare with"):
        get_hardware("toy", profile_path=write_profile(append=extra))


def test_gemm_of_an_unsupported_dtype_is_an_input_error(write_profile):
    toy = get_hardware("toy", profile_path=write_profile(append=GEMM.format(value="80 TFLOP/s")))
    with pytest.raises(costmodel.InputError, match="toy does not support fp8"):
        toy.gemm_flops("fp8")


@pytest.mark.parametrize("devices, message", [
    ("0", "must be positive, got 0"), ("8.0", "expected int, got float 8.0"),
    ("true", "expected int, got bool True"), ('"8"', "expected int, got str '8'"),
])
def test_devices_per_node_must_be_a_positive_integer(write_profile, devices, message):
    directory = write_profile(append=SCALE_OUT.format(value="50 GB/s", direction="per-direction", devices=devices))
    with pytest.raises(costmodel.ProfileError, match=re.escape(f"field scale_out.devices_per_node: {message}")):
        get_hardware("toy", profile_path=directory)


def test_devices_per_node_may_sit_in_interconnect_when_no_network_is_published(write_profile):
    toy = get_hardware("toy", profile_path=write_profile(append=LINK.format(extra="devices_per_node = 256\n")))
    assert toy.devices_per_node == 256 and toy.scale_out_bandwidth is None


def test_two_disagreeing_domain_sizes_are_refused(write_profile):
    extra = (LINK.format(extra="devices_per_node = 72\n")
             + SCALE_OUT.format(value="50 GB/s", direction="per-direction", devices=8))
    with pytest.raises(costmodel.ProfileError,
                       match=r"field scale_out\.devices_per_node: 8 disagrees with interconnect\.devices_per_node = 72"):
        get_hardware("toy", profile_path=write_profile(append=extra))


def test_devices_per_node_belongs_only_to_link_tables(write_profile):
    extra = '\n[pcie]\nvalue = "64 GB/s"\ndirection = "per-direction"\ndevices_per_node = 8\nsource = "x"\nretrieved = "2026-01-01"\n'
    with pytest.raises(costmodel.ProfileError, match=r"field pcie\.devices_per_node: unknown key"):
        get_hardware("toy", profile_path=write_profile(append=extra))


# --- the shipped profiles --------------------------------------------------------------------

@pytest.mark.parametrize("row", MEASURED, ids=lambda r: f"{r['hardware']}-{r['precision']}")
def test_shipped_gemm_figures_match_their_published_measurements(row):
    profile = get_hardware(row["hardware"])
    assert profile.gemm_flops(row["precision"]) == pytest.approx(float(row["tflops"]) * 1e12, rel=1e-9)


def test_every_shipped_gemm_figure_is_in_the_table_of_measurements():
    listed = {(r["hardware"], r["precision"]) for r in MEASURED}
    shipped = {(d, p) for d in set(DATACENTER) | {r["hardware"] for r in MEASURED} for p in get_hardware(d).gemm}
    assert shipped == listed


@pytest.mark.parametrize("hardware_id", DATACENTER)
def test_measured_gemm_is_below_dense_and_plausibly_close(hardware_id):
    # A measured large GEMM is at most the peak; below ~45% it would more likely be a per-die
    # figure on a per-package profile (MI250X) or a small-matrix number than a large-GEMM one.
    profile = get_hardware(hardware_id)
    for dtype in profile.gemm:
        ratio = profile.gemm_flops(dtype) / profile.peak_flops(dtype)
        assert 0.45 <= ratio <= 1.0, f"{hardware_id} {dtype}: gemm/dense = {ratio:.3f}"
        source = profile.sources[f"gemm.{dtype}"]
        assert len(source.source) >= 10 and source.note, f"{hardware_id} {dtype}: say what was measured"


@pytest.mark.parametrize("hardware_id", DATACENTER)
def test_devices_per_node_is_a_positive_integer(hardware_id):
    n = get_hardware(hardware_id).devices_per_node
    assert n is None or (isinstance(n, int) and not isinstance(n, bool) and n >= 1)


@pytest.mark.parametrize("hardware_id, devices", [
    ("h100-sxm5-80gb", 8), ("h800-sxm5-80gb", 8), ("b200", 8), ("gb200", 72), ("mi250x", 4),
    ("mi300x", 8), ("gaudi2", 8), ("a100-pcie-80gb", 2), ("tpu-v4", 4096), ("tpu-v5e", 256), ("tpu-v5p", 8960),
])
def test_scale_up_domain_sizes(hardware_id, devices):
    assert get_hardware(hardware_id).devices_per_node == devices


@pytest.mark.parametrize("hardware_id, gb_per_s", [
    ("a100-sxm4-80gb", 25), ("h100-sxm5-80gb", 50), ("h800-sxm5-80gb", 50), ("b300", 100),
    ("mi250x", 25), ("gaudi2", 37.5), ("v100-sxm2-32gb", 6.25), ("tpu-v5p", 6.25),
])
def test_scale_out_per_direction_figures(hardware_id, gb_per_s):
    # NIC line rate shared out per device, one direction: e.g. DGX H100's 8x 400 Gb/s for 8 GPUs.
    assert get_hardware(hardware_id).number("scale_out_bandwidth") == pytest.approx(gb_per_s * 1e9, rel=1e-9)


@pytest.mark.parametrize("hardware_id", WITH_INTERCONNECT)
def test_every_datacenter_training_device_has_a_scale_up_link_faster_than_its_network(hardware_id):
    profile = get_hardware(hardware_id)
    link = profile.number("interconnect_bandwidth")
    assert link is not None, f"{hardware_id} has no [interconnect]"
    scale_out = profile.number("scale_out_bandwidth")
    if scale_out is not None:  # the network between nodes is the slower tier on every one of these
        assert scale_out < link, f"{hardware_id}: scale-out {scale_out:.3g} B/s >= interconnect {link:.3g} B/s"


def test_hardware_show_lists_the_new_figures(runner):
    from costmodel.cli import main

    result = runner.invoke(main, ["hardware", "show", "h100-sxm5-80gb"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^scale_out \(per direction\)\s+50 GB/s$", result.stdout, re.M)
    assert re.search(r"^devices per node\s+8$", result.stdout, re.M)
    assert re.search(r"^gemm bf16\s+794\.5 TFLOP/s$", result.stdout, re.M)
