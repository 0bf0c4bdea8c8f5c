"""Time single estimates: median CPU time per call over many calls (``--wall``: wall time).

    python benchmarks/bench_estimate.py [--wall]

CPU time (``time.process_time``) is what the call costs on a machine that other jobs share;
wall time counts their turns too.

Three columns per case: the call alone; the call and reading its headline figures (training:
FLOPs, device-hours, energy; inference: TTFT, TPOT, cost), as the speed target counts it; and
that plus the same figures of ``.low`` and ``.high``.

Repeated calls with the same arguments are served mostly from the per-argument caches; the cases
marked "new arguments" change one argument on every call (a token count or prompt length never
seen before), which is what a loop over a design space costs when it does not use the sweeps: a
new token count reuses the layout chosen for the same other arguments, a new global batch makes
the estimate search the layout again.
"""

from __future__ import annotations

import statistics
import sys
import time

import costmodel


CLOCK = time.perf_counter if "--wall" in sys.argv[1:] else time.process_time


def median_call_us(fn, calls: int = 2000, repeats: int = 7) -> float:
    fn()  # warm the caches (profile and catalog loading happen once per process)
    per_call = []
    for _ in range(repeats):
        start = CLOCK()
        for _ in range(calls):
            fn()
        per_call.append((CLOCK() - start) / calls * 1e6)
    return statistics.median(per_call)


CASES = {
    "estimate_training(gpt3-175b, v100 x 10000)":
        lambda: costmodel.estimate_training("gpt3-175b", hardware="v100-sxm2-32gb", n_gpus=10_000),
    "estimate_training(params='7B', tokens='2T', h100 x 512)":
        lambda: costmodel.estimate_training(params="7B", tokens="2T", hardware="h100", n_gpus=512),
    "estimate_training(deepseek-v3, h800 x 2048, fp8)":
        lambda: costmodel.estimate_training("deepseek-v3", hardware="h800-sxm5-80gb", n_gpus=2048, dtype="fp8"),
    "estimate_inference(llama-2-70b, h100 x 4, 512/256, batch 8)":
        lambda: costmodel.estimate_inference("llama-2-70b", hardware="h100", n_gpus=4, prompt_tokens=512,
                                             output_tokens=256, batch_size=8),
    "estimate_inference(mixtral-8x7b, a100 x 2, continuous batch 32)":
        lambda: costmodel.estimate_inference("mixtral-8x7b", hardware="a100", n_gpus=2, prompt_tokens=1024,
                                             output_tokens=128, batch_size=32, batching="continuous"),
}


def _fresh(make):
    """A case whose every call passes a value not seen before (defeats the per-argument caches)."""
    count = iter(range(10**12))
    return lambda: make(next(count))


CASES.update({
    "estimate_training(params='7B', h100 x 512), new tokens each call":
        _fresh(lambda i: costmodel.estimate_training(params="7B", tokens=2e12 + i * 1e6, hardware="h100",
                                                     n_gpus=512)),
    "estimate_training(params='7B', h100 x 512), new global batch each call (layout searched)":
        _fresh(lambda i: costmodel.estimate_training(params="7B", tokens="2T", hardware="h100", n_gpus=512,
                                                     global_batch=4e6 + i * 1024)),
    "estimate_inference(llama-2-70b, h100 x 4), new prompt length each call":
        _fresh(lambda i: costmodel.estimate_inference("llama-2-70b", hardware="h100", n_gpus=4,
                                                      prompt_tokens=512 + i % 100_000, output_tokens=256,
                                                      batch_size=8)),
})


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
    print(f"{'call':>8s}    {'+fields':>8s}    {'+low/high':>9s}")
    for name, fn in CASES.items():
        fields = HEADLINE[name.split("(")[0].removeprefix("estimate_")]
        call, read = median_call_us(fn), median_call_us(reading(fn, fields, False))
        ranged = median_call_us(reading(fn, fields, True), calls=500)
        print(f"{call:8.1f} us {read:8.1f} us {ranged:9.1f} us  {name}")


if __name__ == "__main__":
    main()
