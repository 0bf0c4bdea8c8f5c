"""Fit the serving constants on measured points; score them leave-one-source-out; write
data/inference_calibration.toml.

    python scripts/fit_inference.py            # print the fit and its leave-one-source-out errors
    python scripts/fit_inference.py --write    # also rewrite the data file

Constants: four shared by every runtime (the achievable fractions of dense peak compute and of
memory bandwidth, the latency of one all-reduce step, and the rows per PFLOP/s of peak at which a
step's matmuls reach half of that fraction: small steps leave a big device idle) and, per serving engine with at least
``MIN_POINTS`` points from at least ``MIN_SOURCES`` independent sources, its cost per forward
step, per kernel the step launches (:func:`costmodel.engines.kernels_per_pass`), and a multiplier
of the achievable fractions (kept near 1 by a small penalty). Engines with fewer share the constants of their class (captured graphs or eager,
:func:`costmodel.engines.class_of`), fitted on their points together.

The objective is the mean absolute log error over every measured figure of
tests/data/inference_points.csv the estimator produces: TTFT, TPOT, ITL, single-pass latency,
samples per second and throughput at saturation, and under a request rate the TTFT, TPOT and
ITL at the published statistic (less the points marked ``holdout``). TPOT (per request) and ITL
(per gap between two tokens; a median leaves out the gaps stalled by other requests' prefills)
are separate metrics; TPOT's errors set the decode's range, which ITL shares (the same step without
the stalls, its errors about half TPOT's: with both setting it, the range held 63% of the TPOTs). A
batch's output tokens per second (at saturation or a fixed batch) sets its own range: its errors are
not TPOT's (a saturated step is bound by compute and the batch's KV reads, not one request's weight
reads and the runtime's fixed costs), and shared with TPOT's the range held 72% of the throughputs.
Each source (a benchmark, a
vendor's page, a paper) is left out in turn, the constants refitted without it and its points
predicted: those errors are the scores in the README and set the width of the ranges. Each
range's tail (its quantile of those errors) is the narrowest whose nested coverage reaches 80%:
every figure's own leave-one-source-out estimate inside the range built from the other sources'
errors (:func:`costmodel.serving_ranges.choose_tails`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from costmodel.calibration import default_calibration  # noqa: E402
from costmodel.engines import EngineConstants, class_of, get_engine  # noqa: E402
from costmodel.serving_ranges import FAMILIES, choose_tails, range_ends, range_residuals  # noqa: E402
from costmodel.validation import serving_points  # noqa: E402

TABLE = ROOT / "tests" / "data" / "inference_points.csv"
OUT = ROOT / "costmodel" / "data" / "inference_calibration.toml"
LOSO = ROOT / "tests" / "data" / "inference_loso.csv"  # each figure predicted with its source left out
GLOBAL = ("compute_fraction", "bandwidth_fraction", "allreduce_latency_s", "fill_rows")
# fill_rows at most 128 rows per PFLOP/s of peak: a Hopper tensor-core instruction is 64 rows
# tall (warpgroup MMA, M = 64: NVIDIA CUTLASS docs, cute.nvgpu.warpgroup, "Mma-M = 64",
# https://docs.nvidia.com/cutlass/4.6.0/media/docs/pythonDSL/cute_dsl_api/cute_nvgpu_warpgroup.html,
# retrieved 2026-12-02), so a step of two such tiles' rows is at least half full. Unbounded, the
# fit explained runtimes' fixed costs as a fill deficit (205 rows), which made batch-1 decode
# compute-bound: 4-bit weights no faster than 8-bit, against gpt-fast's measurements (P46, P47).
# The start (500) lies above the bound and is clipped to it.
GLOBAL_BOUNDS = ((0.2, 1.0), (0.3, 1.0), (1e-7, 1e-4), (1.0, 128.0))
ENGINE_BOUNDS = ((1e-6, 0.05), (1e-8, 2e-4), (0.2, 2.0))  # fixed_s, launch_s, efficiency
# A runtime that replays a captured graph or a compiled engine pays per kernel only the gap
# between kernels on the device, at most 2 us: 80 small kernels replayed as a CUDA graph take
# 70 us in all, execution included (CUDA.jl documentation, "Graphs",
# https://cuda.juliagpu.org/dev/usage/graphs/, retrieved 2026-12-02); an eager runtime's host
# launches are bounded as above. Unbounded, the fit gave vLLM 13 us per kernel, more than eager
# PyTorch's overlapped host launches cost, so eager decoding came out the faster.
GRAPH_BOUNDS = (ENGINE_BOUNDS[0], (1e-8, 2e-6), ENGINE_BOUNDS[2])
MIN_POINTS = 3
MIN_SOURCES = 2  # an engine gets constants of its own from two independent sources; else its class's
ORDER_PENALTY = 1.0  # per unit of log efficiency an eager runtime sits above a graph-capturing one (see _ordering)
PENALTY = 0.05  # per unit |ln efficiency|: an engine's efficiency moves only where its points ask
# starting points of an engine's constants (fixed_s, launch_s, efficiency): a coarse grid over the bounds
STARTS = [np.log([fixed, launch, eff]) for fixed in (1e-5, 3e-4, 3e-3) for launch in (1e-6, 5e-6, 2e-5)
          for eff in (0.6, 1.0)]


def _clip(x, bounds):
    return [float(np.clip(np.exp(v), lo, hi)) for v, (lo, hi) in zip(x, bounds)]


def calibration_of(globals_x, engines_x: dict):
    base = default_calibration()
    g = dict(zip(GLOBAL, _clip(globals_x, GLOBAL_BOUNDS)))
    fitted = tuple(sorted((e, EngineConstants(*_clip(x, _bounds(e)), points=n)) for e, (x, n) in engines_x.items()))
    return dataclasses.replace(base, serving=dataclasses.replace(base.serving, **g, engines=fitted))


def _eager(block: str) -> bool:
    return block == "class:eager" or (not block.startswith("class:") and not get_engine(block).graphs)


def _bounds(block: str):
    return ENGINE_BOUNDS if _eager(block) else GRAPH_BOUNDS


def _ordering(ex_: dict) -> float:
    """How far, in log efficiency, an eager runtime's block (kernels launched one at a time,
    unfused) sits above the least efficient runtime that captures graphs and fuses kernels: the
    same cuBLAS matmuls and more memory passes never make eager code the more efficient one.
    Without this prior the fit let eager's efficiency absorb its launch costs (1.2-1.3x vLLM's)."""
    eff = {e: np.log(_clip(x, ENGINE_BOUNDS)[2]) for e, (x, _) in ex_.items()}
    eager = [v for e, v in eff.items() if _eager(e)]
    graphs = [v for e, v in eff.items() if not _eager(e)]
    return max(0.0, max(eager) - min(graphs)) if eager and graphs else 0.0


def log_errors(points, cal) -> np.ndarray:
    return np.array([np.log(p.estimate(cal) / p.published) for p in points])


def nelder_mead(f, x0, steps=0.4, iterations=200):
    """A small Nelder-Mead minimiser (no SciPy dependency)."""
    simplex = [np.array(x0, float)] + [np.array(x0, float) + steps * e for e in np.eye(len(x0))]
    values = [f(s) for s in simplex]
    for _ in range(iterations):
        order = np.argsort(values)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        centroid = np.mean(simplex[:-1], axis=0)
        reflected = centroid + (centroid - simplex[-1])
        fr = f(reflected)
        if fr < values[0]:
            expanded = centroid + 2 * (centroid - simplex[-1])
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = centroid + 0.5 * (simplex[-1] - centroid)
            fc = f(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:
                simplex = [simplex[0] + 0.5 * (s - simplex[0]) for s in simplex]
                values = [f(s) for s in simplex]
    return simplex[int(np.argmin(values))]


def fit(points, rounds=3, iterations=120):
    """Block coordinate descent: the shared constants, then each engine's, ``rounds`` times."""
    sources: dict[str, set] = {}
    for p in points:
        sources.setdefault(p.engine, set()).add(p.group)
    own = {e for e in sources if len(sources[e]) >= MIN_SOURCES}
    member = {p.point + p.metric: (p.engine if p.engine in own else class_of(get_engine(p.engine))) for p in points}
    counts: dict[str, int] = {}
    for key in member.values():
        counts[key] = counts.get(key, 0) + 1
    blocks = sorted(k for k, n in counts.items() if n >= MIN_POINTS)
    g = np.log([0.6, 0.9, 1.5e-5, 500.0])
    ex = {e: (np.log([2e-3, 3e-6, 1.0]), counts[e]) for e in blocks}

    def objective(points_subset, g_, ex_):
        cal = calibration_of(g_, ex_)
        errs = log_errors(points_subset, cal)
        penalty = PENALTY * sum(abs(float(np.log(_clip(x, ENGINE_BOUNDS)[2]))) for x, _ in ex_.values())
        return float(np.mean(np.abs(errs))) + penalty / max(len(points_subset), 1) + ORDER_PENALTY * _ordering(ex_)

    for _ in range(rounds):
        g = nelder_mead(lambda x: objective(points, x, ex), g, iterations=iterations)
        for e in blocks:
            mine = [p for p in points if member[p.point + p.metric] == e]
            f = lambda x: objective(mine, g, {**ex, e: (x, counts[e])})  # noqa: E731
            start = min([ex[e][0], *STARTS], key=f)  # the simplex finds a local minimum: start it at the best of a grid
            ex[e] = (nelder_mead(f, start, iterations=iterations), counts[e])
    return g, ex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    rounds, iterations = (1, 30) if args.quick else (3, 120)
    refused: list = []
    every = serving_points(TABLE, refused=refused)
    for point, why in refused:
        print(f"refused {point}: {why}")
    points = [p for p in every if not p.holdout]
    g, ex = fit(points, rounds, iterations)
    cal = calibration_of(g, ex)
    errs = log_errors(points, cal)
    print(f"in-sample median |err| {np.median(np.abs(np.expm1(errs))):.1%} over {len(points)} figures")
    sources = sorted({p.group for p in points})
    loso = {}
    for s in sources:  # refit without each source, predict its points
        rest = [p for p in points if p.group != s]
        gs, exs = fit(rest, 1, iterations // 2)
        for p, e in zip([p for p in points if p.group == s], log_errors([p for p in points if p.group == s],
                                                                       calibration_of(gs, exs))):
            loso[(p.point, p.metric)] = e
    for p in every:
        if p.holdout:
            loso[(p.point, p.metric)] = float(np.log(p.estimate(cal) / p.published))
    e = np.array([loso[(p.point, p.metric)] for p in points])
    print(f"leave-one-source-out median |err| {np.median(np.abs(np.expm1(e))):.1%} ({len(sources)} sources)")
    for metric in sorted({p.metric for p in points}):
        m = np.array([loso[(p.point, p.metric)] for p in points if p.metric == metric])
        print(f"  {metric:>12}: n {len(m):3d}, median |err| {np.median(np.abs(np.expm1(m))):.1%}")
    one = np.array([loso[(p.point, p.metric)] for p in points if p.metric == "latency"
                    and p.row["output_tokens"] == "0" and p.row["batch_size"] == "1"])
    print(f"  batch-1 latency of single-pass models: n {len(one)}, median |err| {np.median(np.abs(np.expm1(one))):.1%}")
    print({k: f"{v:.4g}" for k, v in zip(GLOBAL, _clip(g, GLOBAL_BOUNDS))})
    for name, (x, n) in ex.items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.3g}" for k, v in zip(("fixed_s", "launch_s", "efficiency"),
                                                                        _clip(x, _bounds(name)))) + f" ({n} figures)")
    tails, share = choose_tails(every, loso, cal)
    ends = range_ends(range_residuals(points, loso), tails)
    for family in FAMILIES:
        print(f"  range of {family}: ln(estimate / measured) {ends[f'{family}_low']:+.3f} .. {ends[f'{family}_high']:+.3f}"
              f" at tail {tails[family]:g}: {share[family]:.0%} of its figures inside, nested out of sample")
    if args.write:
        gl = dict(zip(GLOBAL, _clip(g, GLOBAL_BOUNDS)))
        lines = [f"""# Serving constants. Written by scripts/fit_inference.py; do not edit by hand.
# Fitted on the measured points of tests/data/inference_points.csv (each with its source),
# minimising the mean absolute log error; scored leave-one-source-out.

[inference]
compute_fraction = {gl["compute_fraction"]:.4f}  # of the dense peak at the compute dtype
bandwidth_fraction = {gl["bandwidth_fraction"]:.4f}  # of the memory bandwidth
step_overhead_s = {default_calibration().serving.step_overhead_s:.6g}  # per step, for an engine with no constants at all
allreduce_latency_s = {gl["allreduce_latency_s"]:.6g}  # per step of an all-reduce: two inside a node, 2 log2(devices) across
fill_rows = {gl["fill_rows"]:.6g}  # rows per PFLOP/s of peak at which a step's matmuls run at half the ceiling
loo_median_abs_error = {np.median(np.abs(np.expm1(e))):.4f}  # leave-one-source-out
# leave-one-source-out spread of ln(estimate / measured) of TTFT, of TPOT (the decode's range,
# ITL's too), of single-pass models' latency and samples/s (as a time) and of the output tokens
# per second of a batch: each one's quantiles at its tail and one minus it are the ends of its
# range; each tail the narrowest whose nested out-of-sample coverage of its figures is at least
# 80% (costmodel/serving_ranges.py)
ttft_low = {ends["ttft_low"]:.6f}
ttft_high = {ends["ttft_high"]:.6f}
ttft_tail = {tails["ttft"]:g}  # {share["ttft"]:.0%} inside, nested
single_low = {ends["single_low"]:.6f}  # single-pass models' forward pass (latency, samples/s)
single_high = {ends["single_high"]:.6f}
single_tail = {tails["single"]:g}  # {share["single"]:.0%} inside, nested
tpot_low = {ends["tpot_low"]:.6f}
tpot_high = {ends["tpot_high"]:.6f}
tpot_tail = {tails["tpot"]:g}  # {share["tpot"]:.0%} inside, nested
throughput_low = {ends["throughput_low"]:.6f}  # of the tokens per second, not of a time
throughput_high = {ends["throughput_high"]:.6f}
throughput_tail = {tails["throughput"]:g}  # {share["throughput"]:.0%} inside, nested
points = {len(points)}
sources = {len(sources)}
fitted = "{datetime.date.today().isoformat()}"
"""]
        for name, (x, n) in sorted(ex.items()):
            fixed, launch, eff = _clip(x, _bounds(name))
            lines.append(f"""
[inference.engines."{name}"]  # {name if name.startswith("class:") else get_engine(name).name}
fixed_s = {fixed:.6g}
launch_s = {launch:.6g}
efficiency = {eff:.4f}
points = {n}
""")
        OUT.write_text("".join(lines))
        print(f"wrote {OUT.relative_to(ROOT)}")
        import csv

        from costmodel.hardware import get_hardware

        with open(LOSO, "w", newline="", encoding="utf-8") as handle:
            w = csv.writer(handle, lineterminator="\n")
            w.writerow(["point", "metric", "engine", "device_class", "source_group", "holdout", "published",
                        "loso_estimate"])
            for p in every:
                e = loso[(p.point, p.metric)]
                w.writerow([p.point, p.metric, p.engine, get_hardware(p.row["hardware"]).kind, p.group,
                            str(p.holdout).lower(), f"{p.published:.6g}", f"{p.published * np.exp(e):.6g}"])
        print(f"wrote {LOSO.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
