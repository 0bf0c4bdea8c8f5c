"""A training grid streamed through a reducer: rows per second and peak memory.

    python benchmarks/bench_stream.py [--rows 1e8] [--chunk-rows 1048576] [--write]

The grid is params x tokens x hardware x devices x price; the reducer keeps, per device
count, the cheapest row (``reduce="min:cost_USD by n_gpus"``). Peak memory is the process's
maximum resident set size (``resource.getrusage``), so it includes the interpreter, numpy and
pandas. The issue's target: 1e9 rows in under 10 minutes in under 1 GiB on the 2-core machine.
``--write`` keeps the figures in ``benchmarks/results/bench_stream.json`` (one file per row
count: ``bench_stream_1e9.json``) for the README (``scripts/speed_report.py``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import row, write  # noqa: E402

import costmodel


def grid(rows: float) -> dict:
    per = max(int(round((rows / (4 * 25 * 5)) ** 0.5)), 1)  # params x tokens share the rest
    return dict(params=list(np.logspace(8, 12, per)), tokens=list(np.logspace(10, 13, per)),
                hardware=["a100-sxm4-80gb", "h100-sxm5-80gb", "b200", "tpu-v5p"],
                n_gpus=[8 * k for k in range(1, 26)], price_per_gpu_hour=[1.0, 2.0, 3.0, 4.0, 5.0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e8)
    parser.add_argument("--chunk-rows", type=int, default=1 << 20)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    g = grid(args.rows)
    rows = int(np.prod([len(v) if isinstance(v, list) else 1 for v in g.values()]))
    start = time.perf_counter()
    best = costmodel.sweep_training(reduce="min:cost_USD by n_gpus", chunk_rows=args.chunk_rows, **g)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB -> MiB on Linux
    print(f"{rows:,} rows in {seconds:.1f} s: {rows / seconds:,.0f} rows/s; peak RSS {peak:,.0f} MiB; "
          f"{len(best)} best rows (chunks of {args.chunk_rows:,})")
    if args.write:
        billion = rows >= 0.99e9
        size = f"{args.rows:.0e}".replace("e+0", "e").replace("e+", "e")  # 1e9
        command = f"python benchmarks/bench_stream.py --rows {size} --chunk-rows {args.chunk_rows}"
        write(f"bench_stream_{size}",
              [row(f"a {rows:,}-row training grid streamed through `reduce=\"min:cost_USD by n_gpus\"`", command,
                   f"{seconds:.3g} s wall-clock ({rows / seconds:.3g} rows/s), {peak:,.0f} MiB peak RSS, "
                   f"chunks of {args.chunk_rows:,} rows",
                   "1e9 rows in < 10 minutes in < 1 GiB" if billion else None,
                   (seconds < 600 and peak < 1024) if billion else None)])


if __name__ == "__main__":
    main()
