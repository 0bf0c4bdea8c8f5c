"""Shared fixtures: a CLI runner and a writer of small hardware profiles into tmp_path."""

import atexit
import os
import shutil
import tempfile

import pytest
from click.testing import CliRunner
from hypothesis import settings

# The property tests' fixed example budget: 60 examples each, derandomised (repeatable), no
# deadline (timing is measured by benchmarks/, not by tests).
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.load_profile("ci")

# The shipped data's cache (costmodel.datacache) goes to a directory of this run, removed at the
# end, never the user's ~/.cache; the CLI's subprocesses inherit it. Tests of the cache itself
# point it at their own tmp_path.
_CACHE = tempfile.mkdtemp(prefix="costmodel-test-cache-")
os.environ["COSTMODEL_CACHE_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


# A valid minimal profile: every required field, one dense precision, nothing optional.
TOY_PROFILE = """\
id = "toy"
name = "Toy accelerator"
vendor = "Acme"
kind = "gpu"
launch_year = 2024
device = "One toy chip."
aliases = ["toy-chip"]

[memory]
value = "16 GiB"
source = "Acme toy datasheet"
retrieved = "2026-01-01"

[memory_bandwidth]
value = "1 TB/s"
source = "Acme toy datasheet"
retrieved = "2026-01-01"

[tdp]
value = "300 W"
source = "Acme toy datasheet"
retrieved = "2026-01-01"

[dense.bf16]
value = "100 TFLOP/s"
source = "Acme toy datasheet"
retrieved = "2026-01-01"
"""


@pytest.fixture(autouse=True)
def _no_user_profile_path(monkeypatch):
    """Keep a developer's own COSTMODEL_PROFILE_PATH out of the tests."""
    monkeypatch.delenv("COSTMODEL_PROFILE_PATH", raising=False)


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def write_profile(tmp_path):
    """Write ``<name>.toml`` into a fresh directory and return the directory.

    The content is the toy profile with ``replace`` edits (old -> new, each must apply) and
    ``append`` added, saved in ``encoding``. Profile registries are cached per directory tuple, so
    each test gets its own directory.
    """
    directory = tmp_path / "profiles"
    directory.mkdir()

    def write(*, replace=(), append="", encoding="utf-8", name="toy"):
        text = TOY_PROFILE
        for old, new in dict(replace).items():
            assert old in text, f"test bug: {old!r} is not in the toy profile"
            text = text.replace(old, new)
        (directory / f"{name}.toml").write_text(text + append, encoding=encoding)
        return directory

    return write
