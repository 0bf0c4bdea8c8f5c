"""Files the library and the CLI write: whole or not at all, and a name that cannot be written
refused before any work, in one line."""

import errno
import os
from pathlib import Path

import pandas as pd
import pytest

import costmodel
from costmodel.cli import main
from costmodel.errors import CostModelError, WriteError
from costmodel.files import write_whole


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_whole_file_replaces_the_old_one_with_a_new_files_permissions(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    mask = os.umask(0o027)
    try:
        assert write_whole(target, lambda scratch: Path(scratch).write_text("new\n")) == str(target)
    finally:
        os.umask(mask)
    assert target.read_text() == "new\n"
    assert oct(target.stat().st_mode & 0o777) == oct(0o640)
    assert _names(tmp_path) == ["t.csv"]


def test_the_scratch_file_keeps_the_suffix_that_picks_a_writers_format(tmp_path):
    seen = []
    write_whole(tmp_path / "plot.svg", seen.append)
    name = os.path.basename(seen[0])
    assert name.startswith(".costmodel-") and name.endswith(".svg")
    assert _names(tmp_path) == ["plot.svg"]


def test_a_failure_midway_leaves_the_old_file_and_no_scratch_and_names_the_file(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("old\n")

    def full_disk(scratch):
        with open(scratch, "w") as f:
            f.write("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WriteError) as info:
        write_whole(target, full_disk, argument="csv_path")
    assert str(info.value) == f"csv_path: cannot write {str(target)!r}: No space left on device"
    assert isinstance(info.value, OSError) and isinstance(info.value, CostModelError)
    assert target.read_text() == "old\n"
    assert _names(tmp_path) == ["t.csv"]


def test_an_error_that_is_not_the_file_systems_passes_through_and_cleans_up(tmp_path):
    def broken(scratch):
        raise ValueError("bad frame")

    with pytest.raises(ValueError, match="bad frame"):
        write_whole(tmp_path / "t.csv", broken)
    assert _names(tmp_path) == []


# --- the CLI ---------------------------------------------------------------------------------

SWEEP = ["sweep", "infer", "--model", "gpt2", "--hardware", "h100"]


def _fails(result, code):
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize("args, message", [
    (["--csv", "--json"], "Error: --csv: expected a file name, got '--json', which reads as an option (a file "
                          "whose name starts with '-' is written ./--json)"),
    (["--parquet", "-"], "Error: --parquet: this output cannot go to stdout ('-'); give a file name"),
    (["--csv", ""], "Error: --csv: expected a file name, got an empty one"),
    (["--csv", " "], "Error: --csv: expected a file name, got an empty one"),
    (["--parquet", "9" * 300 + ".parquet"], "Error: --parquet: the file name is 308 bytes long, more than the "
                                            "255 the file system allows"),
    (["--csv", "a\x00b.csv"], "Error: --csv: a file name cannot contain a NUL byte"),
])
def test_a_name_that_cannot_be_an_output_is_refused_before_any_work(runner, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(costmodel, "sweep_inference", lambda **kw: pytest.fail("the sweep ran"))
    err = _fails(runner.invoke(main, [*SWEEP, *args]), 2)
    assert err.startswith(message)
    assert _names(tmp_path) == []


def test_a_plot_name_that_reads_as_an_option_is_refused(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = _fails(runner.invoke(main, ["plot", "training", "--out", "--json.png"]), 2)
    assert err.startswith("Error: --out: expected a file name, got '--json.png', which reads as an option")


def test_a_disk_that_fills_during_the_csv_is_one_line_exit_1_and_leaves_nothing(runner, tmp_path, monkeypatch):
    def full_disk(self, path, **kwargs):
        with open(path, "w") as f:
            f.write("model,")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    out = tmp_path / "sweep.csv"
    err = _fails(runner.invoke(main, [*SWEEP, "--csv", str(out)]), 1)
    assert err == f"Error: --csv: cannot write {str(out)!r}: No space left on device\n"
    assert _names(tmp_path) == []


def test_a_file_whose_name_starts_with_a_dash_is_written_as_dot_slash(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, [*SWEEP, "--csv", "./--json"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "--json")["model"].tolist() == ["gpt2"]
    assert _names(tmp_path) == ["--json"]
