"""Start-up cost of the CLI as a fresh process, against importing numpy and pint alone.

    python benchmarks/bench_startup.py [--runs 15]

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


def median_seconds(argv, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = shutil.which("costmodel")
    cli = [exe, *COMMAND] if exe else [sys.executable, "-m", "costmodel.cli", *COMMAND]
    base = median_seconds(BASELINE, args.runs)
    ours = median_seconds(cli, args.runs)
    print(f"python -c 'import numpy, pint': {base * 1e3:7.1f} ms")
    print(f"costmodel {' '.join(COMMAND)}: {ours * 1e3:7.1f} ms")
    print(f"ratio: {ours / base:.2f}")


if __name__ == "__main__":
    main()
