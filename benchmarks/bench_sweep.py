"""Rows per second of sweep_training and sweep_inference to a DataFrame, and their peak memory.

    python benchmarks/bench_sweep.py [--repeats 7] [--rows 1e6] [--peer-python /tmp/peer/bin/python] [--write]

Each sweep runs ``--repeats`` times at ``--rows`` rows (the targets are set at 1e6): rows per
CPU-second of the process (the machine is shared, so CPU time is the steadier figure; wall time
is printed too), as the median run and the spread (lowest-highest), building the DataFrame
included (pandas itself is imported before timing). Peak memory is the tracemalloc peak of a
separate run (numpy and pandas report their buffers to it; tracing slows allocation, so it is
not timed), as a ratio to the DataFrame's own bytes (``memory_usage(deep=True)``).

llm-analysis has no sweep: a grid there is a Python loop over its one-call API, so its rows per
second are 1e6 over its microseconds per call (``benchmarks/peer_llm_analysis.py``), timed in
``--repeats`` rounds after the sweeps (its interpreter's start, importing transformers, would
disturb the sweeps' memory if run between them) where ``--peer-python`` (or
``$COSTMODEL_PEER_PYTHON``) names an interpreter that has it. A Python loop over ``estimate_training`` with a new
configuration each call is timed too: what a tool without a vectorised sweep has to do.
``--write`` keeps the figures in ``benchmarks/results/bench_sweep.json`` for the README.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas  # noqa: E402,F401  (imported once, outside the timings)

import costmodel  # noqa: E402
from _common import number, peer_python, peer_us, row, spread, spread_text, write  # noqa: E402
from costmodel import sweep_inference, sweep_training  # noqa: E402

COMMAND = "python benchmarks/bench_sweep.py"
HARDWARE = ["a100-sxm4-80gb", "h100-sxm5-80gb", "b200", "tpu-v5p"]
TARGETS = {("training", False): 1e7, ("training", True): 4e6, ("inference", False): 5e6, ("inference", True): 2e6}
PEAK_TARGET = 1.5


def training_grid(rows: int) -> dict:
    """params x tokens x hardware x devices (20 distinct counts of 25: a layout search per
    params, hardware and count, 8e4 of them at 1e6 rows)."""
    n_params = max(rows // (len(HARDWARE) * 10 * 25), 1)
    return dict(params=[1e8 * (i + 1) for i in range(n_params)], tokens=[1e10 * (i + 1) for i in range(10)],
                hardware=HARDWARE, n_gpus=[2 ** (i % 20) for i in range(25)])


def inference_grid(rows: int) -> dict:
    n_prompt = max(rows // (len(HARDWARE) * 5 * 10 * 10), 1)
    return dict(model="llama-2-70b", hardware=HARDWARE, n_gpus=[1, 2, 4, 8, 16],
                prompt_tokens=[64 * (i + 1) for i in range(n_prompt)], output_tokens=[32 * (i + 1) for i in range(10)],
                batch_size=[2 ** i for i in range(10)])


def timed(fn, grid: dict, ranges: bool) -> tuple[int, float, float]:
    """Rows, wall and CPU seconds of one sweep (the previous result freed first, as in a fresh call)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    df = fn(ranges=ranges, **grid)
    return len(df), time.perf_counter() - start, time.process_time() - start_cpu


def peak(fn, grid: dict, ranges: bool) -> tuple[float, float]:
    """The DataFrame's bytes, and the tracemalloc peak of a run (separate: tracing slows allocation)."""
    df = fn(ranges=ranges, **grid)
    size = float(df.memory_usage(index=True, deep=True).sum())
    del df
    tracemalloc.start()
    fn(ranges=ranges, **grid)
    top = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return size, top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=float, default=1e6)
    parser.add_argument("--peer-python", default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    python = peer_python(args.peer_python)
    rows_asked = int(args.rows)

    results, peer, rows_out = {}, [], []
    for name, fn, grid_of in (("training", sweep_training, training_grid), ("inference", sweep_inference, inference_grid)):
        grid = grid_of(rows_asked)
        fn(**{k: (v[:1] if isinstance(v, list) else v) for k, v in grid.items()})  # warm the caches
        for ranges in (False, True):
            runs = []
            for _ in range(args.repeats):
                runs.append(timed(fn, grid, ranges))
            n = runs[0][0]
            size, top = peak(fn, grid, ranges)
            results[(name, ranges)] = (n, [n / r[2] for r in runs], [n / r[1] for r in runs], size, top)
    if python:  # after the sweeps: its interpreter's start (transformers' import) would disturb their memory
        peer = [peer_us(python, "training", 300) for _ in range(args.repeats)]

    print(f"rows per second: median (lowest-highest) of {args.repeats} runs; peak: tracemalloc peak / DataFrame bytes")
    print(f"{'sweep':10s} {'ranges':6s} {'rows':>9s} {'rows/CPU-s':>28s} {'rows/wall-s':>28s} {'frame MiB':>9s} {'peak/frame':>10s}")
    for (name, ranges), (n, cpu, wall, size, top) in results.items():
        print(f"{name:10s} {str(ranges):6s} {n:9,d} {spread_text(cpu):>28s} {spread_text(wall):>28s} "
              f"{size / 2**20:9.0f} {top / size:10.2f}")
        target = TARGETS[(name, ranges)]
        what = f"`sweep_{name}`{' with ranges' if ranges else ''}, {n:,} rows to a DataFrame"
        peer_text = None
        if name == "training" and not ranges and peer:
            peer_text = (f"llm-analysis (a Python loop; no sweep) {1e6 / spread(peer)[0]:,.0f} rows/s: "
                         f"costmodel {spread(cpu)[0] / (1e6 / spread(peer)[0]):,.0f}x")
        rows_out.append(row(what, COMMAND, f"{spread_text(cpu)} rows per CPU-second; peak {top / size:.2f}x the frame",
                            f">= {number(target)} rows per CPU-second; peak <= {PEAK_TARGET}x",
                            spread(cpu)[0] >= target and top / size <= PEAK_TARGET, peer_text))

    loop = 2000
    start = time.process_time()
    for i in range(loop):
        costmodel.estimate_training(params=1e9 + i, tokens=1e11, hardware="h100-sxm5-80gb", n_gpus=8)
    rate = loop / (time.process_time() - start)
    print(f"Python loop over estimate_training, a new configuration each call: {rate:,.0f} rows per CPU-second")
    if peer:
        print(f"llm-analysis training: {spread_text(peer)} us per call ({1e6 / spread(peer)[0]:,.0f} calls/s)")
    if args.write:
        write("bench_sweep", rows_out)


if __name__ == "__main__":
    main()
