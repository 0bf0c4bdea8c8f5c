"""Start-up cost of the CLI as a fresh process, against importing numpy and pint alone.

    python benchmarks/bench_startup.py [--runs 25]

Prints the median wall time of each command and the ratio (target: at most 1.3).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

BASELINE = [sys.executable, "-c", "import numpy, pint"]
COMMAND = ["train", "gpt3-175b", "--hardware", "v100-sxm2-32gb", "--gpus", "10000"]


def _once(argv) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
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
    cli = [exe, *COMMAND] if exe else [sys.executable, "-m", "costmodel.cli", *COMMAND]
    base, ours = medians(BASELINE, cli, args.runs)
    print(f"python -c 'import numpy, pint': {base * 1e3:7.1f} ms")
    print(f"costmodel {' '.join(COMMAND)}: {ours * 1e3:7.1f} ms")
    print(f"ratio: {ours / base:.2f}")


if __name__ == "__main__":
    main()
