"""Start-up cost of the CLI as a fresh process, against importing numpy and pint alone.

    python benchmarks/bench_startup.py [--runs 25]

Prints the median wall time of each command and its ratio to the baseline (target: at most
1.15), for the two commands of the performance issue. Run it from an installed wheel (or an
editable install) so the ``costmodel`` script is on PATH, as a user runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

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


def medians(a, b, runs: int) -> tuple[float, float]:
    """Median wall time of two commands, run alternately so machine drift hits both alike."""
    _once(a), _once(b)  # warm the file cache
    times_a, times_b = [], []
    for _ in range(runs):
        times_a.append(_once(a))
        times_b.append(_once(b))
    return statistics.median(times_a), statistics.median(times_b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args()
    exe = shutil.which("costmodel")
    for command in COMMANDS:
        cli = [exe, *command] if exe else [sys.executable, "-c", "from costmodel.cli import main; main()", *command]
        base, ours = medians(BASELINE, cli, args.runs)
        print(f"python -c 'import numpy, pint': {base * 1e3:7.1f} ms")
        print(f"costmodel {' '.join(command)}: {ours * 1e3:7.1f} ms")
        print(f"ratio: {ours / base:.2f}")


if __name__ == "__main__":
    main()
