"""What the benchmark scripts share: the spread of repeated timings, the machine they ran on,
and the results file each writes with ``--write`` (``benchmarks/results/NAME.json``), from which
``scripts/speed_report.py`` renders the README's Speed table.

A result is a list of rows, one per figure the performance issue sets a target for: what was
timed, the measured figure as text (a median and its spread), the target, and whether it is
met (None where no target applies).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PEER = Path(__file__).resolve().parent / "peer_llm_analysis.py"


def spread(values: list[float]) -> tuple[float, float, float]:
    """(median, lowest, highest) of repeated measurements."""
    return statistics.median(values), min(values), max(values)


def spread_text(values: list[float], scale: float = 1.0, unit: str = "", digits: int = 3) -> str:
    """``median (lowest-highest) unit`` of ``values`` times ``scale``, ``digits`` significant."""
    mid, low, high = (v * scale for v in spread(values))
    return f"{mid:.{digits}g} ({low:.{digits}g}-{high:.{digits}g}){' ' + unit if unit else ''}"


def _first_line(path: str, prefix: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def machine() -> dict:
    """The machine and software a benchmark ran on."""
    import numpy
    import pandas
    import pint

    import costmodel

    memory = _first_line("/proc/meminfo", "MemTotal")
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=here,
                                check=False).stdout.strip() or None
        changed = subprocess.run(["git", "status", "--porcelain", "--", "costmodel", "hardware_profiles"],
                                 capture_output=True, text=True, cwd=here.parent, check=False).stdout.strip()
        if commit and changed:  # the code measured is not the commit's
            commit += " with uncommitted changes"
    except OSError:
        commit = None
    return {
        "cpu": _first_line("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_GiB": round(int(memory.split()[0]) / 2**20, 1) if memory else None,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "numpy": numpy.__version__, "pandas": pandas.__version__, "pint": pint.__version__,
        "costmodel": costmodel.__version__, "commit": commit,
    }


def number(x: float) -> str:
    """``1e7``, ``4e6``, ``2.5e6``: a round figure as the targets write it."""
    mantissa, exponent = f"{x:.2g}".split("e") if "e" in f"{x:.2g}" else (f"{x:.2g}", "0")
    return f"{mantissa}e{int(exponent)}" if int(exponent) else mantissa


def row(what: str, command: str, measured: str, target: str | None = None, met: bool | None = None,
        peer: str | None = None) -> dict:
    """One figure of a results file."""
    return {"what": what, "command": command, "measured": measured, "target": target, "met": met, "peer": peer}


def wants_write() -> bool:
    """Whether the script was asked (``--write``) to keep its results for the README."""
    return "--write" in sys.argv[1:]


def write(name: str, rows: list[dict]) -> Path:
    """Write ``benchmarks/results/NAME.json``: the rows, the date and the machine."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
               "machine": machine(), "rows": rows}
    path.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {path}")
    return path


def peer_python(given: str | None) -> str | None:
    """The interpreter that has llm-analysis: ``given``, ``$COSTMODEL_PEER_PYTHON``, this one
    if it has it, else None (the peer is not timed)."""
    if given:
        return given
    if os.environ.get("COSTMODEL_PEER_PYTHON"):
        return os.environ["COSTMODEL_PEER_PYTHON"]
    try:
        import llm_analysis  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def peer_us(python: str, case: str, calls: int) -> float:
    """CPU microseconds per call of llm-analysis on ``case`` (``benchmarks/peer_llm_analysis.py``)."""
    out = subprocess.run([python, str(PEER), case, str(calls)], check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])
