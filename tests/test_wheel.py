"""The built wheel works on its own: profiles and the model catalog ship inside it."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import pathlib, sys
import costmodel
here = pathlib.Path(costmodel.__file__).resolve()
assert here.is_relative_to(pathlib.Path(sys.prefix).resolve()), here
assert not here.is_relative_to(pathlib.Path(sys.argv[1]).resolve()), here
profiles = costmodel.list_hardware()
assert len(profiles) == int(sys.argv[2]), (len(profiles), sys.argv[2])
assert all("site-packages" in p.path for p in profiles), profiles[0].path
assert costmodel.get_hardware("h100").peak_flops("bf16") == 989.4e12
assert costmodel.get_model("gpt3-175b").params.magnitude == 175e9
assert (here.parent / "report" / "report.html.j2").is_file()  # the report's template ships too
print("ok", here)
"""


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_source_tree(tmp_path):
    pytest.importorskip("build", reason="the `build` package is needed to build the wheel "
                                        "(pip install build)")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)], cwd=ROOT)
    (wheel,) = dist.glob("costmodel-*.whl")

    # A plain venv sees neither this environment's packages nor the base interpreter's. The
    # runtime dependencies come from the environment running the tests (which may itself be a
    # venv, where inheriting the system site would only reach the base interpreter): a .pth file
    # appends its site-packages after the new venv's own, so the wheel installed there wins and
    # nothing is fetched from the network. Paths a .pth file adds are not scanned for further
    # .pth files, so an editable install of the source tree out there stays invisible.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    outer = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    inner = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    site_packages = Path(inner.stdout.strip())
    (site_packages / "_outer_environment.pth").write_text("\n".join(sorted(outer)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
          "--disable-pip-version-check", str(wheel)])

    # Run from an empty directory so the source tree cannot be imported from the cwd.
    # The pint deprecation warning on import is a known bug (see test_api.py), so warnings
    # are left at their defaults here rather than turned into errors.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COSTMODEL_PROFILE_PATH")}
    work = tmp_path / "elsewhere"
    work.mkdir()
    n_profiles = len(list((ROOT / "hardware_profiles").glob("*.toml")))
    result = _run([str(python), "-c", CHECK, str(ROOT), str(n_profiles)], cwd=work, env=env)
    assert result.stdout.startswith("ok ")
