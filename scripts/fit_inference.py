"""Fit the serving efficiency constants on measured points; write data/inference_calibration.toml.

    python scripts/fit_inference.py            # print the fit and its leave-one-point-out errors
    python scripts/fit_inference.py --write    # also rewrite the data file

Four constants: the achievable fractions of dense peak compute and of memory bandwidth, a
fixed overhead per forward step, and the latency of one all-reduce step. The objective is the
mean absolute log error of TTFT and TPOT over the fixed-batch measured points of
tests/data/inference_points.csv (robust to single bad points, like a median), less the points
marked ``holdout`` (device classes kept out of the fit to test it out of sample).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from costmodel.calibration import default_calibration  # noqa: E402
from costmodel.validation import inference_validation  # noqa: E402

TABLE = ROOT / "tests" / "data" / "inference_points.csv"
OUT = ROOT / "costmodel" / "data" / "inference_calibration.toml"
NAMES = ("compute_fraction", "bandwidth_fraction", "step_overhead_s", "allreduce_latency_s")
FITTED = ("ttft", "tpot")  # single-pass latencies are scored in the report, not fitted
BOUNDS = ((0.2, 1.0), (0.3, 1.0), (1e-5, 0.05), (1e-7, 1e-4))


def constants(x) -> dict:
    return {n: float(np.clip(np.exp(v), lo, hi)) for n, v, (lo, hi) in zip(NAMES, x, BOUNDS)}


def errors(x, keep=None) -> np.ndarray:
    base = default_calibration()
    cal = dataclasses.replace(base, serving=dataclasses.replace(base.serving, **constants(x)))
    frame = inference_validation(TABLE, calibration=cal, metrics=FITTED)
    frame = frame[~frame.holdout]  # held-out points (new device classes) are scored, not fitted
    if keep is not None:
        frame = frame[frame.point.isin(keep)]
    return np.log(frame.estimated_ms / frame.published_ms).to_numpy()


def nelder_mead(f, x0, steps=0.3, iterations=300):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    x0 = np.log([0.6, 0.75, 3e-3, 1e-5])
    objective = lambda x, keep=None: float(np.mean(np.abs(errors(x, keep))))  # noqa: E731
    best = nelder_mead(objective, x0)
    cal = constants(best)
    frame = inference_validation(TABLE, metrics=FITTED)
    frame = frame[~frame.holdout]
    points = sorted(set(frame.point))
    loo, loo_metric = [], []
    for p in points:  # refit without each point, predict it
        x = nelder_mead(functools.partial(objective, keep=[q for q in points if q != p]), best, iterations=80)
        loo += list(errors(x, keep=[p]))
        loo_metric += list(frame[frame.point == p].metric)
    loo, loo_metric = np.array(loo), np.array(loo_metric)
    errs = errors(best)
    frame = inference_validation(TABLE, metrics=FITTED)
    frame = frame[~frame.holdout]
    for metric in ("ttft", "tpot"):
        e = np.exp(errs[frame.metric.to_numpy() == metric]) - 1
        print(f"{metric}: median |err| {np.median(np.abs(e)):.1%}, worst {np.max(np.abs(e)):.1%}")
    print(f"leave-one-point-out median |err| {np.median(np.abs(np.exp(loo) - 1)):.1%}")
    print({k: f"{v:.4g}" for k, v in cal.items()})
    if args.write:
        OUT.write_text(f'''# Serving efficiency constants. Written by scripts/fit_inference.py; do not edit by hand.
# Fitted on the fixed-batch measured points of tests/data/inference_points.csv (TTFT and TPOT,
# each with its source), minimising the mean absolute log error.

[inference]
compute_fraction = {cal["compute_fraction"]:.4f}  # of the dense peak at the compute dtype
bandwidth_fraction = {cal["bandwidth_fraction"]:.4f}  # of the memory bandwidth
step_overhead_s = {cal["step_overhead_s"]:.6g}  # per forward step: launches, scheduling, sampling
allreduce_latency_s = {cal["allreduce_latency_s"]:.6g}  # per ring step of an all-reduce
loo_median_abs_error = {np.median(np.abs(np.exp(loo) - 1)):.4f}
# leave-one-point-out spread of ln(estimate / measured) per phase, 5th and 95th percentiles (with
# 16 TTFT and 10 TPOT points the 10th/90th are too noisy to cover 80% of new points): TTFT's
# spread ranges the prefill's constants, TPOT's the decode steps'
ttft_low = {np.quantile(loo[loo_metric == "ttft"], 0.05):.6f}
ttft_high = {np.quantile(loo[loo_metric == "ttft"], 0.95):.6f}
tpot_low = {np.quantile(loo[loo_metric == "tpot"], 0.05):.6f}
tpot_high = {np.quantile(loo[loo_metric == "tpot"], 0.95):.6f}
points = {len(points)}
fitted = "{datetime.date.today().isoformat()}"
''')
        print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
