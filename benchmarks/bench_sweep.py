"""Rows per second of sweep_training and sweep_inference at 1e4, 1e5 and 1e6 rows.

    python benchmarks/bench_sweep.py

Times are the best of three calls, wall-clock and CPU seconds of the process (the machine is
shared, so the CPU figure is the steadier one), and include building the DataFrame (pandas
itself is imported before timing). Peak memory is the tracemalloc peak of a fourth, separate
call (numpy and pandas report their buffers to it; tracing slows allocation, so it is not
timed), also as a ratio to the DataFrame's own bytes (``memory_usage(deep=True)``). For
comparison the script also times a Python loop over estimate_training, which is what a tool
without a vectorised sweep has to do.
"""

from __future__ import annotations

import time
import tracemalloc

import pandas  # noqa: F401  (imported once, outside the timings)

import costmodel
from costmodel import sweep_inference, sweep_training

HARDWARE = ["a100-sxm4-80gb", "h100-sxm5-80gb", "b200", "tpu-v5p"]


def training_grid(rows: int) -> dict:
    n_params = rows // (len(HARDWARE) * 10 * 25)
    return dict(params=[1e8 * (i + 1) for i in range(n_params)], tokens=[1e10 * (i + 1) for i in range(10)],
                hardware=HARDWARE, n_gpus=[2 ** (i % 20) for i in range(25)])


def inference_grid(rows: int) -> dict:
    n_prompt = rows // (len(HARDWARE) * 5 * 10 * 10)
    return dict(model="llama-2-70b", hardware=HARDWARE, n_gpus=[1, 2, 4, 8, 16],
                prompt_tokens=[64 * (i + 1) for i in range(n_prompt)], output_tokens=[32 * (i + 1) for i in range(10)],
                batch_size=[2 ** i for i in range(10)])


def measure(fn, grid: dict, ranges: bool) -> tuple[int, float, float, float, float]:
    """Rows, best-of-3 wall and CPU seconds, the DataFrame's bytes and (in a separate run:
    tracing slows allocation) the peak bytes allocated while the sweep ran."""
    fn(**{k: (v[:1] if isinstance(v, list) else v) for k, v in grid.items()})  # warm caches
    seconds = cpu = float("inf")
    for _ in range(3):
        df = None  # the previous result is freed first, as in a fresh call
        start, start_cpu = time.perf_counter(), time.process_time()
        df = fn(ranges=ranges, **grid)
        seconds, cpu = min(seconds, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    rows, size = len(df), float(df.memory_usage(index=True, deep=True).sum())
    df = None
    tracemalloc.start()
    fn(ranges=ranges, **grid)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return rows, seconds, cpu, size, peak


def main() -> None:
    print("wall: best of 3 (a shared machine's other load slows it); CPU: best of 3 process seconds; "
          "peak / frame: tracemalloc peak over the DataFrame's own bytes")
    print(f"{'sweep':10s} {'ranges':6s} {'rows':>9s} {'wall s':>7s} {'rows/s':>10s} {'CPU s':>6s} {'rows/CPU-s':>11s} "
          f"{'frame MiB':>9s} {'peak MiB':>8s} {'peak/frame':>10s}")
    for name, fn, grid in (("training", sweep_training, training_grid), ("inference", sweep_inference, inference_grid)):
        for ranges in (False, True):
            for rows in (10_000, 100_000, 1_000_000):
                n, seconds, cpu, size, peak = measure(fn, grid(rows), ranges)
                print(f"{name:10s} {str(ranges):6s} {n:9,d} {seconds:7.3f} {n / seconds:10,.0f} {cpu:6.3f} "
                      f"{n / cpu:11,.0f} {size / 2**20:9.0f} {peak / 2**20:8.0f} {peak / size:10.2f}")
    loop = 2000
    start = time.perf_counter()
    for i in range(loop):
        costmodel.estimate_training(params=1e9 + i, tokens=1e11, hardware="h100-sxm5-80gb", n_gpus=8)
    rate = loop / (time.perf_counter() - start)
    print(f"Python loop over estimate_training: {rate:,.0f} rows/s "
          f"(llm-analysis, the fastest peer, about 6,000 configurations/s at 0.16 ms each)")


if __name__ == "__main__":
    main()
