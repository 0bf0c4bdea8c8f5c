"""Time to build the report with its default content (target: under 5 s on the 2-core CI machine).

    python benchmarks/bench_report.py [--runs 3] [--rate 12/s]

Prints the import time, then each build's wall time (``write_report`` into a temporary folder:
every estimate, the five SVG figures and the template) and the median. Each build runs in a
fresh process, so the profile loading and the first layout searches are counted, as a user's
``costmodel report`` pays them. ``--rate`` builds it with ``rate=`` (the SLA planner serves the
language models).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

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
    args = parser.parse_args()
    builds = []
    for i in range(args.runs):
        out = subprocess.run([sys.executable, "-c", BUILD, args.rate], check=True, capture_output=True, text=True).stdout
        imported, built, size = out.split()
        builds.append(float(built))
        print(f"run {i + 1}: import {float(imported):.2f} s, build {float(built):.2f} s, "
              f"{int(size) / 1e3:,.0f} kB")
    print(f"median build: {statistics.median(builds):.2f} s (target < 5 s)")


if __name__ == "__main__":
    main()
