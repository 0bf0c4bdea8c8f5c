"""Time to build the report with its default content (target: under 5 s on the 2-core CI machine).

    python benchmarks/bench_report.py [--runs 3] [--rate 12/s] [--write]

Prints the import time, then each build's wall time (``write_report`` into a temporary folder:
every estimate, the five SVG figures and the template) and the median. Each build runs in a
fresh process, so the profile loading and the first layout searches are counted, as a user's
``costmodel report`` pays them. ``--rate`` builds it with ``rate=`` (the SLA planner serves the
language models). ``--write`` keeps the figures in ``benchmarks/results/bench_report.json``
for the README (``scripts/speed_report.py``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import row, spread_text, write  # noqa: E402

BUILD = """
import sys, tempfile, time, os
rate = sys.argv[1] or None
t0 = time.perf_counter()
import costmodel, costmodel.report
t1 = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    path = costmodel.write_report(os.path.join(tmp, "report.html"), rate=rate)
    t2 = time.perf_counter()
    size = os.path.getsize(path)
print(t1 - t0, t2 - t1, size)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", default="", help="total request rate, e.g. 12/s (default: none)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    builds = []
    for i in range(args.runs):
        out = subprocess.run([sys.executable, "-c", BUILD, args.rate], check=True, capture_output=True, text=True).stdout
        imported, built, size = out.split()
        builds.append(float(built))
        print(f"run {i + 1}: import {float(imported):.2f} s, build {float(built):.2f} s, "
              f"{int(size) / 1e3:,.0f} kB")
    print(f"median build: {statistics.median(builds):.2f} s (target < 5 s)")
    if args.write:
        write("bench_report", [row("the report with its default content, a fresh process", "python benchmarks/bench_report.py",
                                   f"{spread_text(builds, unit='s')} ({args.runs} builds)", "< 5 s",
                                   statistics.median(builds) < 5)])


if __name__ == "__main__":
    main()
