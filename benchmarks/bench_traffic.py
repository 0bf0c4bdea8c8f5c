"""Speed of the traffic model: calls/s on floats (one scenario per call) and rows/s on arrays.

    python benchmarks/bench_traffic.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from costmodel.traffic import Service, closed_loop, max_rate_within, open_loop

ROWS = 100_000


def per_second(fn, count: float, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def main() -> None:
    one = Service(prefill_s=0.05, prefill_s2=0.003, step_fixed_s=0.02, step_per_seq_s=0.0005, output=200.0,
                  output2=60000.0, batch_limit=32.0)
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.5, ROWS)
    o = rng.uniform(16.0, 1024.0, ROWS)
    many = Service(prefill_s=p, prefill_s2=p * p * 1.3, step_fixed_s=rng.uniform(0.005, 0.05, ROWS),
                   step_per_seq_s=rng.uniform(1e-5, 1e-3, ROWS), output=o, output2=o * o * 1.5,
                   batch_limit=np.floor(rng.uniform(1.0, 512.0, ROWS)))
    rates = rng.uniform(0.0, 1.2, ROWS) * open_loop(many, 0.0).max_rate
    clients = np.floor(rng.uniform(1.0, 1000.0, ROWS))
    calls = 5000

    def scalar(fn):
        return lambda: [fn() for _ in range(calls)]

    cases = [
        ("open_loop", scalar(lambda: open_loop(one, 3.0)), lambda: open_loop(many, rates)),
        ("closed_loop", scalar(lambda: closed_loop(one, 16.0)), lambda: closed_loop(many, clients)),
        ("max_rate_within", lambda: [max_rate_within(one, ttft_p99=0.5, tpot_p99=0.04) for _ in range(50)],
         lambda: max_rate_within(many, ttft_p99=1.0, tpot_p99=0.1)),
    ]
    for name, single, vector in cases:
        n_single = 50 if name == "max_rate_within" else calls
        print(f"{name:16s} {per_second(single, n_single):>12,.0f} calls/s scalar   "
              f"{per_second(vector, ROWS, repeats=3):>14,.0f} rows/s at {ROWS:,} rows")


if __name__ == "__main__":
    main()
