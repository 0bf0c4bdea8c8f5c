"""The README, CHANGELOG and CI script agree with the code, the scripts and pyproject.toml (so they cannot drift)."""

import importlib.util
import re
from pathlib import Path

import pytest

import costmodel

ROOT = Path(__file__).resolve().parent.parent


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_validation_tables_in_readme_are_current():
    readme = (ROOT / "README.md").read_text()
    assert _load("validation_report").render(readme) == readme, (
        "README validation tables are stale: run `python scripts/validation_report.py --write`")


def test_speed_table_in_readme_is_current():
    """The README's Speed table is what the benchmark scripts measured (their results files),
    rendered by scripts/speed_report.py, and every figure the performance issue sets has one."""
    readme = (ROOT / "README.md").read_text()
    report = _load("speed_report")
    assert report.render(readme) == readme, (
        "README Speed table is stale: run `python scripts/speed_report.py --write`")
    names = {r["benchmark"] for r in report.load()}
    assert {"bench_estimate", "bench_sweep", "bench_stream_1e9", "bench_startup", "bench_report"} <= names


def test_speed_report_renders_targets_and_machines(tmp_path):
    """Each figure's row says whether its target is met; figures from two machines are told apart."""
    import json

    report = _load("speed_report")
    machine = {"cpu": "Some CPU", "cores": 2, "memory_GiB": 8.0, "os": "Linux", "python": "3.11.7",
               "numpy": "2.0", "pandas": "2.2", "pint": "0.24", "costmodel": "0.1.0", "commit": "abc1234"}
    rows = [{"what": "fast | thing", "command": "python benchmarks/x.py", "measured": "1 us", "target": "< 2 us",
             "met": True, "peer": None},
            {"what": "slow thing", "command": "python benchmarks/x.py", "measured": "3 us", "target": "< 2 us",
             "met": False, "peer": "peer 30 us"}]
    (tmp_path / "bench_estimate.json").write_text(json.dumps({"benchmark": "bench_estimate", "date": "2026-12-03",
                                                              "machine": machine, "rows": rows}))
    text = report.table(report.load(tmp_path))
    assert text.startswith("Machine: Some CPU, 2 logical cores, 8 GiB of memory, Linux; Python 3.11.7")
    assert "| fast \\| thing | 1 us | < 2 us | yes | – | `python benchmarks/x.py`, 2026-12-03, at abc1234 |" in text
    assert "| slow thing | 3 us | < 2 us | **no** | peer 30 us |" in text
    assert report._cell("2.83e+06 (9.29e+05-3.1e-07) rows") == "2.83e6 (9.29e5-3.1e-7) rows"
    (tmp_path / "bench_sweep.json").write_text(json.dumps({"benchmark": "bench_sweep", "date": "2026-12-04",
                                                           "machine": {**machine, "cpu": "Other CPU"}, "rows": rows[:1]}))
    text = report.table(report.load(tmp_path))
    assert "Machine 1: Some CPU" in text and "Machine 2: Other CPU" in text
    assert text.splitlines()[-1].endswith("2026-12-04, at abc1234 | 2 |")
    with pytest.raises(SystemExit, match="no <!-- speed --> section"):
        report.render("# README without the section\n", tmp_path)


def test_quick_start_has_exactly_two_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    venv = "python3 -m venv .venv && . .venv/bin/activate && "
    assert commands == [venv + "pip install . && costmodel compare",
                        venv + 'pip install -e ".[test]" && pytest']
    # CI runs the same install and test command, each time in a venv of its own made fresh:
    # once with the newest dependencies, once constrained to the oldest ones (.ci/oldest.txt);
    # the newest run also type-checks the package.
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.count("python3 -m venv") == 1
    assert ci.count('pip install --quiet --disable-pip-version-check "$@" -e ".[test]"') == 1
    assert ci.count("python -m pytest -q") == 1
    assert ci.count("python -m mypy") == 1 and 'if [ "$name" = newest ]; then' in ci
    runs = [line.split() for line in ci.splitlines() if line.startswith("run_suite ")]
    assert runs == [["run_suite", "newest"], ["run_suite", "oldest", "-c", ".ci/oldest.txt"]]


def test_oldest_pins_are_the_declared_lower_bounds():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    declared = {}
    for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", dep)
        if match:
            declared[match[1].lower()] = match[2]
    pins = dict(line.split("==") for line in (ROOT / ".ci" / "oldest.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    runtime = {k: v for k, v in pins.items() if k in declared}
    assert runtime == declared and set(runtime) == {"numpy", "pandas", "pint", "click"}
    extras = set(pins) - set(declared)  # optional extras the test extra needs, pinned to old versions that work
    assert extras <= {"pyarrow", "dask", "jinja2"}


def test_changelog_newest_release_is_the_package_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, flags=re.MULTILINE)
    assert released and released[0] == costmodel.__version__
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{released[0]}]")


def _python_blocks(readme: str) -> list[str]:
    return [block.split("```", 1)[0] for block in readme.split("```python\n")[1:]]


def test_readme_python_examples_run(tmp_path, monkeypatch):
    """Every Python block of the README runs as written (the public import paths it shows work)."""
    pytest.importorskip("matplotlib")
    blocks = _python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)  # examples may save files
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["est"].flops.to("FLOP").magnitude == pytest.approx(8.72e23, rel=0.01)
    assert (tmp_path / "training.png").stat().st_size > 10_000
