"""Start-up cost of the CLI as a fresh process, against importing numpy and pint alone.

    python benchmarks/bench_startup.py [--runs 25] [--write]

Prints the median wall time of each command and of the baseline, run alternately, the spread
(lowest-highest run) and the ratio of the medians (target: at most 1.15), for the two commands
of the performance issue. Run it from an installed wheel (or an editable install) so the
``costmodel`` script is on PATH, as a user runs it. ``--write`` keeps the figures in
``benchmarks/results/bench_startup.json`` for the README (``scripts/speed_report.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import row, spread, spread_text, write  # noqa: E402

BASELINE = [sys.executable, "-c", "import numpy, pint"]
COMMANDS = (["train", "llama-2-70b", "--hardware", "h100", "--gpus", "1024"], ["compare"])


# An installed wheel runs from compiled bytecode (pip compiles it at install); a checkout whose
# environment sets PYTHONDONTWRITEBYTECODE would recompile every module on every start. The
# first, untimed run writes the bytecode under a temporary prefix, outside the checkout.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="costmodel-pycache-")


def _once(argv) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - start


def timings(a, b, runs: int) -> tuple[list[float], list[float]]:
    """Wall times of two commands, run alternately so machine drift hits both alike."""
    _once(a), _once(b)  # warm the file cache
    times_a, times_b = [], []
    for _ in range(runs):
        times_a.append(_once(a))
        times_b.append(_once(b))
    return times_a, times_b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    exe = shutil.which("costmodel")
    rows = []
    for command in COMMANDS:
        cli = [exe, *command] if exe else [sys.executable, "-c", "from costmodel.cli import main; main()", *command]
        base, ours = timings(BASELINE, cli, args.runs)
        ratio = spread(ours)[0] / spread(base)[0]
        print(f"python -c 'import numpy, pint': {spread_text(base, 1e3, 'ms')}")
        print(f"costmodel {' '.join(command)}: {spread_text(ours, 1e3, 'ms')}")
        print(f"ratio of the medians: {ratio:.2f}")
        rows.append(row(f"start-up of `costmodel {' '.join(command)}` against `python -c \"import numpy, pint\"`",
                        "python benchmarks/bench_startup.py",
                        f"{ratio:.2f}x ({spread_text(ours, 1e3, 'ms')} against {spread_text(base, 1e3, 'ms')}, "
                        f"{args.runs} alternating runs, wall time)", "<= 1.15x", ratio <= 1.15))
    if args.write:
        write("bench_startup", rows)


if __name__ == "__main__":
    main()
