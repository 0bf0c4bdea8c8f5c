"""Time single estimates, and llm-analysis (the fastest peer) on the same configurations in turn.

    python benchmarks/bench_estimate.py [--repeats 7] [--peer-python /tmp/peer/bin/python] [--write]

CPU time (``time.process_time``) per call, in ``--repeats`` rounds of many calls each: the
median round and the spread (lowest-highest round). CPU time is what a call costs on a machine
that other jobs share; wall time counts their turns too.

Three figures per case: the call alone; the call and reading its headline figures (training:
FLOPs, device-hours, energy; inference: TTFT, TPOT, cost), as the speed target counts it; and
that plus the same figures of ``.low`` and ``.high``.

Repeated calls with the same arguments are served mostly from the per-argument caches; the cases
marked "new ..." change one argument on every call (a value never seen before), which is what a
loop over a design space costs when it does not use the sweeps: a new token count reuses the
layout chosen for the same other arguments, a new global batch reuses the search kept for them
(each candidate's memory and step terms less the batch's), and a new model searches the layout
afresh.

The peer runs in its own interpreter (``benchmarks/peer_llm_analysis.py``: llm-analysis brings
transformers, so it is kept out of the project's environment), one round after each round of
costmodel's, so that the machine's drift hits both alike; without ``--peer-python`` (or an
interpreter on ``$COSTMODEL_PEER_PYTHON``) the peer is not timed. ``--write`` keeps the figures
in ``benchmarks/results/bench_estimate.json`` for the README (``scripts/speed_report.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import costmodel  # noqa: E402
from _common import peer_python, peer_us, row, spread, spread_text, write  # noqa: E402

COMMAND = "python benchmarks/bench_estimate.py"


def per_call_us(fn, calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls * 1e6


def _fresh(make):
    """A case whose every call passes a value not seen before (defeats the per-argument caches)."""
    count = iter(range(10**12))
    return lambda: make(next(count))


# name -> (call, kind, peer case or None)
CASES = {
    "estimate_training(gpt3-175b, v100 x 10000)":
        (lambda: costmodel.estimate_training("gpt3-175b", hardware="v100-sxm2-32gb", n_gpus=10_000), "training",
         "training"),
    "estimate_inference(llama-2-70b, h100 x 4, 512/256, batch 8)":
        (lambda: costmodel.estimate_inference("llama-2-70b", hardware="h100", n_gpus=4, prompt_tokens=512,
                                              output_tokens=256, batch_size=8), "inference", "inference"),
    "estimate_training(params='7B', tokens='2T', h100 x 512)":
        (lambda: costmodel.estimate_training(params="7B", tokens="2T", hardware="h100", n_gpus=512), "training", None),
    "estimate_training(deepseek-v3, h800 x 2048, fp8)":
        (lambda: costmodel.estimate_training("deepseek-v3", hardware="h800-sxm5-80gb", n_gpus=2048, dtype="fp8"),
         "training", None),
    "estimate_inference(mixtral-8x7b, a100 x 2, continuous batch 32)":
        (lambda: costmodel.estimate_inference("mixtral-8x7b", hardware="a100", n_gpus=2, prompt_tokens=1024,
                                              output_tokens=128, batch_size=32, batching="continuous"),
         "inference", None),
    "estimate_training(params='7B', h100 x 512), new token count each call":
        (_fresh(lambda i: costmodel.estimate_training(params="7B", tokens=2e12 + i * 1e6, hardware="h100",
                                                      n_gpus=512)), "training", None),
    "estimate_training(params='7B', h100 x 512), new global batch each call (the search kept)":
        (_fresh(lambda i: costmodel.estimate_training(params="7B", tokens="2T", hardware="h100", n_gpus=512,
                                                      global_batch=4e6 + i * 1024)), "training", None),
    "estimate_training(params new each call, tokens='2T', h100 x 512), new model each call (layout searched)":
        (_fresh(lambda i: costmodel.estimate_training(params=7e9 + i * 1e6, tokens="2T", hardware="h100",
                                                      n_gpus=512)), "training", None),
    "estimate_inference(llama-2-70b, h100 x 4), new prompt length each call":
        (_fresh(lambda i: costmodel.estimate_inference("llama-2-70b", hardware="h100", n_gpus=4,
                                                       prompt_tokens=512 + i % 100_000, output_tokens=256,
                                                       batch_size=8)), "inference", None),
}

HEADLINE = {"training": ("flops", "gpu_hours", "energy"), "inference": ("ttft", "tpot", "cost")}


def reading(fn, fields: tuple[str, ...], ranges: bool):
    """``fn`` followed by reading ``fields`` (and, with ``ranges``, those of ``.low`` and ``.high``)."""
    def run():
        est = fn()
        for f in fields:
            getattr(est, f)
        if ranges:
            for end in (est.low, est.high):
                for f in fields:
                    getattr(end, f)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--peer-python", default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    python = peer_python(args.peer_python)

    rounds: dict[tuple[str, str], list[float]] = {}
    peer: dict[str, list[float]] = {}
    runs = {}
    for name, (fn, kind, _) in CASES.items():
        fields = HEADLINE[kind]
        runs[name] = {"call": (fn, 2000), "fields": (reading(fn, fields, False), 2000),
                      "ranges": (reading(fn, fields, True), 500)}
        for run, _calls in runs[name].values():
            run()  # warm the caches (profile and catalog loading happen once per process)
    for _ in range(args.repeats):
        for name, (_, _, peer_case) in CASES.items():
            for what, (run, calls) in runs[name].items():
                rounds.setdefault((name, what), []).append(per_call_us(run, calls))
            if peer_case and python:
                peer.setdefault(peer_case, []).append(peer_us(python, peer_case, 300))

    print(f"CPU us per call, median (lowest-highest) of {args.repeats} rounds")
    print(f"{'call':>20s} {'+fields':>20s} {'+low/high':>20s}")
    for name in CASES:
        print(" ".join(f"{spread_text(rounds[(name, w)]):>20s}" for w in ("call", "fields", "ranges")), f" {name}")
    for case, times in peer.items():
        print(f"llm-analysis {case}: {spread_text(times)} us per call")

    rows = []
    for name, (_, kind, peer_case) in CASES.items():
        fields, ranged = rounds[(name, "fields")], rounds[(name, "ranges")]
        if peer_case:  # the catalog cases the speed targets name
            ratio = None
            if peer_case in peer:
                ratio = spread(peer[peer_case])[0] / spread(fields)[0]
            peer_text = (f"llm-analysis {spread_text(peer[peer_case])} us: costmodel {ratio:.1f}x faster"
                         if ratio else None)
            rows.append(row(f"one `{name}`, headline fields read", COMMAND, f"{spread_text(fields)} us",
                            "<= 20 us, >= 8x faster than llm-analysis",
                            spread(fields)[0] <= 20 and (ratio is None or ratio >= 8), peer_text))
            rows.append(row(f"the same, `.low` and `.high` read too", COMMAND, f"{spread_text(ranged)} us", "<= 40 us",
                            spread(ranged)[0] <= 40))
        elif "each call" in name:
            target = "< 100 us" if kind == "training" else None
            rows.append(row(f"`{name}`, headline fields read", COMMAND, f"{spread_text(fields)} us", target,
                            spread(fields)[0] < 100 if target else None))
    if args.write:
        write("bench_estimate", rows)


if __name__ == "__main__":
    main()
