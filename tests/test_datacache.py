"""The on-disk cache of parsed data files: a hit equals the parse, a changed source is parsed
again, a broken or unwritable cache falls back to parsing, and entries build nothing but data."""

import datetime
import os
import pickle
from pathlib import Path

import pint
import pytest
from hypothesis import given
from hypothesis import strategies as st

from costmodel import datacache, unit_registry, units
from costmodel.datafiles import read_toml
from costmodel.hardware import builtin_dir

DATA = Path(units.__file__).parent / "data"
SHIPPED = sorted(DATA.glob("*.toml")) + sorted(builtin_dir().glob("*.toml"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory of this test's own."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", str(directory))
    return directory


class Builds:
    """A build that counts its calls and returns what the source file says."""

    def __init__(self, path: Path):
        self.path, self.calls = path, 0

    def __call__(self):
        self.calls += 1
        return {"text": self.path.read_text(), "when": datetime.date(2026, 12, 2)}


def source(tmp_path, text="a = 1\n") -> Path:
    path = tmp_path / "source.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_cached_file_equals_its_parse(cache, path):
    parsed = read_toml(path)
    assert read_toml(path, cache=True) == parsed  # a miss: parsed and written
    assert len(list(cache.iterdir())) == 1
    assert read_toml(path, cache=True) == parsed  # a hit: read back


def test_a_hit_does_not_build_and_returns_a_fresh_copy(cache, tmp_path):
    path = source(tmp_path)
    build = Builds(path)
    first = datacache.cached("k", [path], build)
    first["text"] = "changed by the caller"
    again = datacache.cached("k", [path], build)
    assert build.calls == 1
    assert again == {"text": "a = 1\n", "when": datetime.date(2026, 12, 2)}


def test_a_source_with_a_new_modification_time_is_built_again(cache, tmp_path):
    path = source(tmp_path)
    build = Builds(path)
    datacache.cached("k", [path], build)
    st_ = path.stat()
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))
    datacache.cached("k", [path], build)
    assert build.calls == 2
    datacache.cached("k", [path], build)
    assert build.calls == 2  # the new stamp is cached in its turn


def test_a_source_of_another_size_is_built_again_even_at_the_same_modification_time(cache, tmp_path):
    path = source(tmp_path)
    build = Builds(path)
    datacache.cached("k", [path], build)
    st_ = path.stat()
    path.write_text("a = 12\n")
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns))  # an edit that keeps the time
    assert datacache.cached("k", [path], build)["text"] == "a = 12\n"
    assert build.calls == 2


def test_each_key_and_source_list_has_its_own_entry(cache, tmp_path):
    path, other = source(tmp_path), tmp_path / "other.toml"
    other.write_text("b = 2\n")
    build = Builds(path)
    datacache.cached("k", [path], build)
    datacache.cached("k2", [path], build)
    datacache.cached("k", [path, other], build)
    assert build.calls == 3


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05\x95garbage"])
def test_a_corrupt_entry_is_ignored_and_rewritten(cache, tmp_path, damage):
    path = source(tmp_path)
    build = Builds(path)
    datacache.cached("k", [path], build)
    (entry,) = cache.iterdir()
    entry.write_bytes(damage)
    assert datacache.cached("k", [path], build)["text"] == "a = 1\n"
    assert build.calls == 2
    datacache.cached("k", [path], build)
    assert build.calls == 2  # rewritten whole


def test_a_truncated_entry_is_ignored(cache, tmp_path):
    path = source(tmp_path)
    build = Builds(path)
    datacache.cached("k", [path], build)
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:-7])
    assert datacache.cached("k", [path], build)["text"] == "a = 1\n"
    assert build.calls == 2


def test_an_entry_that_would_run_code_is_refused(cache, tmp_path):
    """A pickle that calls a function outside the trusted classes is a miss, not a call."""
    path = source(tmp_path)
    build = Builds(path)
    datacache.cached("k", [path], build)
    (entry,) = cache.iterdir()
    salt, key, marks, _ = pickle.loads(entry.read_bytes())

    class Evil:
        def __reduce__(self):
            return (os.remove, (str(path),))

    entry.write_bytes(pickle.dumps((salt, key, marks, Evil())))
    assert datacache.cached("k", [path], build)["text"] == "a = 1\n"
    assert path.exists() and build.calls == 2


def test_an_entry_of_another_version_is_not_used(cache, tmp_path, monkeypatch):
    path = source(tmp_path)
    build = Builds(path)
    datacache.cached("k", [path], build)
    monkeypatch.setattr(datacache, "FORMAT", datacache.FORMAT + 1)
    datacache.cached("k", [path], build)
    assert build.calls == 2


def test_an_unwritable_cache_directory_falls_back_to_building(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    path = source(tmp_path)
    build = Builds(path)
    assert datacache.cached("k", [path], build)["text"] == "a = 1\n"
    assert datacache.cached("k", [path], build)["text"] == "a = 1\n"
    assert build.calls == 2 and blocker.read_text() == "not a directory"
    assert read_toml(SHIPPED[0], cache=True) == read_toml(SHIPPED[0])


def test_an_empty_cache_dir_setting_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", "")
    assert datacache.cache_dir() is None
    path = source(tmp_path)
    build = Builds(path)
    datacache.cached("k", [path], build)
    datacache.cached("k", [path], build)
    assert build.calls == 2


def test_the_default_directory_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("COSTMODEL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert datacache.cache_dir() == tmp_path / "costmodel"


def test_a_missing_source_is_not_cached_and_the_build_reports_it(cache, tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(FileNotFoundError):
        datacache.cached("k", [missing], lambda: missing.read_text())
    assert not cache.exists()


def test_a_failing_build_is_raised_and_nothing_is_cached(cache, tmp_path):
    path = source(tmp_path, "a = [")
    from costmodel.errors import ProfileError

    for _ in range(2):
        with pytest.raises(ProfileError, match="not valid TOML"):
            datacache.cached("k", [path], lambda: read_toml(path))
    assert not cache.exists() or not list(cache.iterdir())


toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.dates(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@given(st.dictionaries(st.text(max_size=8), toml_values, max_size=6))
def test_any_parsed_table_comes_back_equal(table):
    data = pickle.dumps(("s", "k", (), table), protocol=pickle.HIGHEST_PROTOCOL)
    assert datacache._loads(data) == ("s", "k", (), table)


def test_the_registry_from_cached_definitions_is_the_file_s():
    """Defining the cached definitions one by one builds what loading units.txt builds."""
    ref = pint.UnitRegistry(str(units.DEFINITIONS), cache_folder=None)
    ours = units.ureg
    assert set(ref._prefixes) == set(ours._prefixes) and set(ref._dimensions) == set(ours._dimensions)
    for name, definition in ref._units.items():
        mine = ours._units[name]
        assert (mine.name, mine.symbol, mine.aliases, mine.reference, mine.is_base, mine.converter.scale) == (
            definition.name, definition.symbol, definition.aliases, definition.reference, definition.is_base,
            definition.converter.scale), name
    for text in ("3.35 TB/s", "989 TFLOP/s", "80 GiB", "30 days", "173 tCO2e", "12 req/s", "500000 GPU*h",
                 "450 MWh", "385 g/kWh", "2.10 USD/h"):
        a, b = ref.Quantity(text).to_base_units(), ours.Quantity(text).to_base_units()
        assert a.magnitude == pytest.approx(b.magnitude, rel=1e-15) and dict(a._units) == dict(b._units), text


def test_cached_definitions_equal_the_parse(cache):
    registry = pint.UnitRegistry(None, cache_folder=None)
    parsed = unit_registry._parse_definitions(registry)
    hit = datacache.cached("units.txt", [units.DEFINITIONS], lambda: unit_registry._parse_definitions(registry))
    again = datacache.cached("units.txt", [units.DEFINITIONS], lambda: pytest.fail("built twice"))
    assert [d.raw for d in hit] == [d.raw for d in parsed] == [d.raw for d in again]
    assert [(type(d), d.name) for d in again] == [(type(d), d.name) for d in parsed]


def test_the_registry_knows_its_compatible_units_as_a_loaded_one_does():
    ref = pint.UnitRegistry(str(units.DEFINITIONS), cache_folder=None)
    for unit in ("W", "byte", "FLOP", "USD", "s"):
        names = [{tuple(dict(u._units).items()) for u in r.get_compatible_units(unit)} for r in (units.ureg, ref)]
        assert names[0] == names[1] and len(names[0]) >= 1, unit


def test_a_profile_from_a_warm_cache_prints_as_one_parsed_afresh(tmp_path):
    """A cached profile's quantities come back from unit containers: a prefixed unit such as
    gibibyte must still print (pint looks its symbol up) in a process that never parsed it.
    `hardware show --json` on a warm cache failed with KeyError: 'gibibyte'."""
    import subprocess
    import sys

    env = {**os.environ, "COSTMODEL_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "costmodel.cli", "hardware", "show", "h100", "--json"]
    cold, warm = (subprocess.run(command, capture_output=True, text=True, env=env) for _ in range(2))
    assert (cold.returncode, warm.returncode, warm.stderr) == (0, 0, "")
    assert warm.stdout == cold.stdout and '"memory"' in warm.stdout
    code = "import pickle, sys; from costmodel import units; print(f'{pickle.loads(sys.stdin.buffer.read()):~P}')"
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(units.ureg.Quantity(80, "GiB")),
                         capture_output=True, check=True).stdout
    assert out.decode().strip() == "80 GiB"
