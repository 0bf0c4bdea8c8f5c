"""Hardware profiles: the shipped data, lookup by alias, user directories and validation."""

import dataclasses
import re

import pytest

import costmodel
from costmodel import ureg
from costmodel.hardware import get_hardware, list_hardware

REQUIRED_IDS = [
    "p100-sxm2-16gb", "v100-sxm2-32gb", "t4", "a10g", "l4", "l40s", "a100-sxm4-40gb",
    "a100-sxm4-80gb", "a100-pcie-80gb", "h100-sxm5-80gb", "h100-pcie-80gb", "h800-sxm5-80gb",
    "h200-sxm-141gb", "b200", "mi250x", "mi300x", "tpu-v2", "tpu-v3", "tpu-v4", "tpu-v5e",
    "tpu-v5p", "tpu-v6e", "gaudi2", "jetson-agx-orin-64gb", "epyc-9654",
    "mi325x", "mi355x",
    "gb200", "b300",
    "jetson-orin-nano-super-8gb", "jetson-orin-nx-16gb",
    "xeon-platinum-8480-plus",
    "apple-m4-gpu", "apple-m4-cpu",
    "apple-a17-pro-gpu", "snapdragon-8-gen-3-npu", "snapdragon-8-gen-2-npu",
    "raspberry-pi-5-8gb",
    "tensor-g4-cpu",
]
DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")  # ISO date, or year-month for a price sheet


# --- the shipped profiles ---------------------------------------------------------------------

@pytest.mark.parametrize("hardware_id", REQUIRED_IDS)
def test_every_shipped_profile_loads(hardware_id):
    profile = get_hardware(hardware_id)
    assert profile.id == hardware_id
    assert profile.path.endswith(f"{hardware_id}.toml")
    # the default dtype is one the device supports, so peak_flops() needs no argument
    assert profile.peak_flops() == profile.dense[profile.default_dtype].to("FLOP/s").magnitude


def test_the_shipped_set_is_exactly_the_required_ids():
    assert [p.id for p in list_hardware()] == sorted(REQUIRED_IDS)


@pytest.mark.parametrize("hardware_id", REQUIRED_IDS)
def test_every_figure_has_a_source_and_a_retrieval_date(hardware_id):
    profile = get_hardware(hardware_id)
    keys = ["memory", "memory_bandwidth", "tdp", *(f"dense.{d}" for d in profile.dense)]
    for key in keys:
        source = profile.sources[key]
        assert len(source.source.strip()) >= 10, f"{hardware_id} {key}: {source.source!r}"
        assert DATE.match(source.retrieved), f"{hardware_id} {key}: {source.retrieved!r}"


@pytest.mark.parametrize("hardware_id", REQUIRED_IDS)
def test_sparse_is_about_twice_dense_for_the_same_precision(hardware_id):
    # 2:4 structured sparsity doubles the headline rate. A ratio near 1 would mean a sparse
    # figure was typed into `dense` (or vice versa); 1.5..2.5 allows vendors' rounding.
    profile = get_hardware(hardware_id)
    assert set(profile.sparse) <= set(profile.dense)
    for dtype, sparse in profile.sparse.items():
        ratio = (sparse / profile.dense[dtype]).to("dimensionless").magnitude
        assert 1.5 <= ratio <= 2.5, f"{hardware_id} {dtype}: sparse/dense = {ratio:.3f}"


def test_h100_sxm_headline_figures():
    # NVIDIA H100 datasheet (SXM column), dense = sparse headline / 2
    h100 = get_hardware("h100-sxm5-80gb")
    assert h100.dense["bf16"].to("TFLOP/s").magnitude == pytest.approx(989.4, rel=1e-9)
    assert h100.peak_flops("bf16") == pytest.approx(989.4e12, rel=1e-9)
    assert h100.sparse["bf16"].to("TFLOP/s").magnitude == pytest.approx(1979, rel=1e-9)
    assert h100.memory_bandwidth.to("TB/s").magnitude == pytest.approx(3.35, rel=1e-9)
    assert h100.number("memory_bandwidth") == pytest.approx(3.35e12, rel=1e-9)
    assert h100.tdp.to("W").magnitude == pytest.approx(700, rel=1e-9)
    assert h100.number("memory") == 80 * 2**30  # 80 GiB (five 16 GiB HBM3 stacks), not 80e9
    # bidirectional 900 GB/s NVLink is stored per direction
    assert h100.number("interconnect_bandwidth") == pytest.approx(450e9, rel=1e-9)


@pytest.mark.parametrize("hardware_id", ["v100-sxm2-32gb", "t4", "p100-sxm2-16gb"])
def test_pre_ampere_nvidia_has_no_bf16_and_defaults_to_fp16(hardware_id):
    profile = get_hardware(hardware_id)
    assert "bf16" not in profile.dense
    assert profile.default_dtype == "fp16"
    with pytest.raises(costmodel.InputError, match=f"^dtype: {hardware_id} does not support bf16"):
        profile.peak_flops("bf16")


# --- lookup -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("H100", "h100-sxm5-80gb"), ("h100", "h100-sxm5-80gb"), ("nvidia-h100-sxm", "h100-sxm5-80gb"),
    ("NVIDIA_H100_SXM", "h100-sxm5-80gb"), ("  H100-SXM5-80GB ", "h100-sxm5-80gb"),
    ("TPU-V4", "tpu-v4"), ("Tesla V100", "v100-sxm2-32gb"),
])
def test_ids_and_aliases_resolve_case_insensitively(name, expected):
    assert get_hardware(name).id == expected


def test_the_alias_index_read_from_file_heads_equals_the_full_registrys():
    """Every id and alias the validated profiles define finds the same file through the index
    read from the files' top-level keys alone (what an alias lookup uses)."""
    from costmodel import hardware_registry
    dirs = (str(hardware_registry.builtin_dir()),)
    _, full, _ = hardware_registry._registry(dirs)
    heads = hardware_registry._alias_files(dirs)
    assert heads is not None
    assert {key: path.stem for key, path in heads.items()} == {key: p.id for key, p in full.items()}


def test_an_alias_lookup_loads_only_the_profile_it_names():
    from costmodel import hardware_registry
    costmodel.reload_profiles()
    assert get_hardware("h100").id == "h100-sxm5-80gb"
    assert hardware_registry._load_at.cache_info().currsize == 1
    costmodel.reload_profiles()


def test_bare_a100_resolves_to_an_a100_profile():
    assert get_hardware("a100").id.startswith("a100-")
    assert get_hardware("A100") is get_hardware("a100")


def test_unknown_name_suggests_the_close_id():
    with pytest.raises(costmodel.UnknownProfileError,
                       match=r"^'h100-sxm5-80g' is not a known hardware profile; "
                             r"did you mean 'h100-sxm5-80gb'.*\(see: costmodel hardware list\)$"):
        get_hardware("h100-sxm5-80g")


def test_unknown_name_is_also_a_key_error():
    with pytest.raises(KeyError, match="is not a known hardware profile"):
        get_hardware("no-such-device")


# --- user profile directories -----------------------------------------------------------------

def test_profile_path_adds_a_profile(write_profile):
    directory = write_profile()
    toy = get_hardware("TOY-CHIP", profile_path=directory)  # by alias, case-insensitively
    assert toy.id == "toy"
    assert toy.peak_flops() == pytest.approx(100e12, rel=1e-12)
    assert toy.number("memory") == 16 * 2**30
    assert len(list_hardware(profile_path=directory)) == len(REQUIRED_IDS) + 1
    with pytest.raises(costmodel.UnknownProfileError):  # the default registry is untouched
        get_hardware("toy")


def test_environment_variable_adds_a_profile(write_profile, monkeypatch):
    directory = write_profile()
    monkeypatch.setenv("COSTMODEL_PROFILE_PATH", str(directory))
    assert get_hardware("toy").tdp.to("W").magnitude == pytest.approx(300, rel=1e-12)
    assert "toy" in [p.id for p in list_hardware()]


def test_user_profile_with_a_builtin_id_overrides_it(write_profile):
    directory = write_profile(name="h100-sxm5-80gb", replace={
        'id = "toy"': 'id = "h100-sxm5-80gb"', 'aliases = ["toy-chip"]': 'aliases = ["h100"]'})
    mine = get_hardware("h100", profile_path=directory)
    assert mine.peak_flops() == pytest.approx(100e12, rel=1e-12)  # the toy's figure, not 989.4
    assert mine.path == str(directory / "h100-sxm5-80gb.toml")
    assert len(list_hardware(profile_path=directory)) == len(REQUIRED_IDS)  # replaced, not added
    assert get_hardware("h100").peak_flops() == pytest.approx(989.4e12, rel=1e-9)


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, message", [
    pytest.param({'kind = "gpu"': 'kind = "gpu"\ncolor = "red"'},
                 r"field color: unknown key \(allowed: aliases, battery, dense, ", id="unknown-key"),
    pytest.param({"[memory_bandwidth]": "[memory_bandwith]"},
                 r"field memory_bandwith: unknown key; did you mean 'memory_bandwidth'\?", id="typo-key"),
    pytest.param({'vendor = "Acme"\n': ""}, r"field vendor: is required but missing", id="missing-field"),
    pytest.param({'[tdp]\nvalue = "300 W"\nsource = "Acme toy datasheet"\n': '[tdp]\nvalue = "300 W"\n'},
                 r"field tdp\.source: is required but missing", id="missing-source"),
    pytest.param({'"300 W"': '"-300 W"'},
                 r"field tdp\.value: expected a value more than zero, got '-300 W'", id="negative"),
    pytest.param({'"300 W"': '"0 W"'},
                 r"field tdp\.value: expected a value more than zero, got '0 W'", id="zero"),
    pytest.param({"launch_year = 2024": "launch_year = 0"},
                 r"field launch_year: must be positive, got 0", id="non-positive-int"),
    pytest.param({'"1 TB/s"': '"3.35 TB"'},
                 r"field memory_bandwidth\.value: expected a bandwidth such as '3\.35 TB/s', "
                 r"got '3\.35 TB' \(it has units of TB\)", id="wrong-dimension"),
    pytest.param({'"100 TFLOP/s"': '"100 TFLOPS"'},
                 r"field dense\.bf16\.value: .*TFLOPS is ambiguous; write TFLOP/s", id="ambiguous-tflops"),
    pytest.param({"launch_year = 2024": 'launch_year = "2024"'},
                 r"field launch_year: expected int, got str '2024'", id="wrong-type"),
    pytest.param({'value = "16 GiB"': "value = 16"},
                 r"field memory\.value: expected str, got int 16", id="number-without-unit"),
    pytest.param({'kind = "gpu"': 'kind = "fpga"'},
                 r"field kind: expected one of gpu, tpu, cpu, edge, phone, laptop, got 'fpga'", id="bad-kind"),
    pytest.param({"[dense.bf16]": "[dense.fp64]"}, r"field dense\.fp64: unknown key", id="bad-precision"),
    pytest.param({'id = "toy"': 'id = "other"'},
                 r"field id: 'other' must match the file name 'toy'", id="id-not-file-name"),
])
def test_validation_names_the_file_and_the_field(write_profile, edit, message):
    directory = write_profile(replace=edit)
    with pytest.raises(costmodel.ProfileError, match="^" + re.escape(str(directory / "toy.toml")) + ": " + message):
        get_hardware("toy", profile_path=directory)


@pytest.mark.parametrize("direction", ["both", "duplex", "Per-Direction"])
def test_link_direction_must_be_stated_exactly(write_profile, direction):
    link = f'\n[interconnect]\nvalue = "900 GB/s"\ndirection = "{direction}"\nsource = "x"\nretrieved = "2026-01-01"\n'
    directory = write_profile(append=link)
    with pytest.raises(costmodel.ProfileError,
                       match=re.escape(f"toy.toml: field interconnect.direction: expected 'per-direction' "
                                       f"or 'bidirectional', got '{direction}'")):
        get_hardware("toy", profile_path=directory)


@pytest.mark.parametrize("direction, per_direction", [("bidirectional", 450e9), ("per-direction", 900e9)])
def test_link_bandwidth_is_stored_per_direction(write_profile, direction, per_direction):
    link = f'\n[interconnect]\nvalue = "900 GB/s"\ndirection = "{direction}"\nsource = "x"\nretrieved = "2026-01-01"\n'
    toy = get_hardware("toy", profile_path=write_profile(append=link))
    assert toy.number("interconnect_bandwidth") == pytest.approx(per_direction, rel=1e-12)


def test_non_utf8_file_is_refused(write_profile):
    directory = write_profile(replace={'"Acme"': '"Acmé"'}, encoding="latin-1")  # é is byte 0xE9
    with pytest.raises(costmodel.ProfileError,
                       match=re.escape(f"{directory / 'toy.toml'}: not valid UTF-8 (byte ") + r"\d+\); save the file as UTF-8"):
        get_hardware("toy", profile_path=directory)


def test_file_over_one_megabyte_is_refused(write_profile):
    directory = write_profile(append="#" + "x" * 1_000_000 + "\n")
    with pytest.raises(costmodel.ProfileError,
                       match=re.escape(str(directory / "toy.toml")) + r": file is 1,00\d,\d{3} bytes; "
                             r"profile files are limited to 1,000,000 bytes"):
        get_hardware("toy", profile_path=directory)


def test_invalid_toml_is_a_profile_error(write_profile):
    directory = write_profile(append="[[[\n")
    with pytest.raises(costmodel.ProfileError, match=r"toy\.toml: not valid TOML \("):
        get_hardware("toy", profile_path=directory)


def test_missing_profile_directory_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(costmodel.ProfileError, match=re.escape(f"{missing}: profile directory does not exist")):
        list_hardware(profile_path=missing)


def test_blank_retrieval_date_is_refused(write_profile):
    directory = write_profile(replace={'[tdp]\nvalue = "300 W"\nsource = "Acme toy datasheet"\nretrieved = "2026-01-01"':
                                       '[tdp]\nvalue = "300 W"\nsource = "Acme toy datasheet"\nretrieved = ""'})
    with pytest.raises(costmodel.ProfileError, match=r"field tdp\.retrieved: expected a date such as '2026-11-23', got ''"):
        get_hardware("toy", profile_path=directory)


# --- what-if variants -------------------------------------------------------------------------

def test_replace_makes_a_what_if_variant_and_the_floats_follow():
    h100 = get_hardware("h100-sxm5-80gb")
    big = dataclasses.replace(h100, memory=ureg.Quantity(160, "GiB"))
    assert big.number("memory") == 160 * 2**30
    assert big.peak_flops() == pytest.approx(989.4e12, rel=1e-9)  # untouched figures carry over
    assert h100.number("memory") == 80 * 2**30  # the original is unchanged

    faster = dataclasses.replace(h100, dense={**h100.dense, "bf16": ureg.Quantity(2, "PFLOP/s")})
    assert faster.peak_flops("bf16") == pytest.approx(2e15, rel=1e-12)
    assert faster.peak_flops("fp16") == pytest.approx(989.4e12, rel=1e-9)
    assert h100.peak_flops("bf16") == pytest.approx(989.4e12, rel=1e-9)
