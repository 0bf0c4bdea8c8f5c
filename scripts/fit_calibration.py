"""Fit the default-MFU model on the published training runs and write data/calibration.toml.

    python scripts/fit_calibration.py            # print the fit and its leave-one-out errors
    python scripts/fit_calibration.py --write    # also rewrite costmodel/data/calibration.toml

The model (see costmodel/calibration.py) is linear in ln(MFU) with three regressors: the
device's ridge point, the active parameter count and the device count. Rows whose published
figure is itself an estimate (GPT-4, OPT's assumed 34 days) or only approximate ("about two
weeks", an access window) are validated but not fitted.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from costmodel import estimate_training, get_hardware  # noqa: E402
from costmodel.calibration import mfu_features  # noqa: E402
from costmodel.validation import published_hours, read_cases, training_kwargs  # noqa: E402

TABLE = ROOT / "tests" / "data" / "training_runs.csv"
OUT = ROOT / "costmodel" / "data" / "calibration.toml"
RIDGE_PENALTY = 0.05  # shrinks the slopes a little towards zero; keeps the fit stable


def implied(rows):
    X, y, names, groups = [], [], [], []
    for row in rows:
        hours = published_hours(row)
        if hours is None or not row.get("n_gpus"):
            continue
        kwargs = training_kwargs(row)
        est = estimate_training(**kwargs, mfu=1.0)
        hw = get_hardware(row["hardware"])
        peak = hw.peak_flops(est.dtype)
        X.append(mfu_features(peak, hw.number("memory_bandwidth"), float(est.active_params.magnitude),
                              kwargs["n_gpus"]))
        y.append(np.log(float(est.gpu_hours.magnitude) / hours))
        names.append((row["run"], row.get("estimate") == "true" or row.get("approximate") == "true"))
        groups.append(row["source"][:25])
    return np.array(X, dtype=float), np.array(y), names, groups


def source_weights(groups, fitted):
    """One vote per source: a paper with eight runs (Pythia) weighs as much as one with one."""
    counts = Counter(g for g, f in zip(groups, fitted) if f)
    return np.array([1.0 / counts[g] if f else 0.0 for g, f in zip(groups, fitted)])


# Physical signs: a higher ridge point, and more devices, never raise MFU; larger matrices
# never lower it. A slope the data gives the wrong sign is fixed at zero and the rest refitted.
SIGNS = (-1, +1, -1)


def fit(X, y, weights):
    free = [0, 1, 2]
    while True:
        coef = np.zeros(4)
        coef[[0] + [i + 1 for i in free]] = _lad(X[:, free], y, weights)
        wrong = [i for i in free if coef[i + 1] * SIGNS[i] < 0]
        if not wrong:
            return coef
        free.remove(wrong[0])


def _lad(X, y, weights, iterations=50):
    """Median (least absolute deviation) regression by iteratively reweighted least squares.

    The validation criterion is the median absolute error, and published figures carry
    occasional gross errors (downtime, rounded durations); L1 is robust to both.
    """
    A = np.column_stack([np.ones(len(y)), X])
    penalty = weights.sum() * RIDGE_PENALTY * np.diag([0.0] + [1.0] * X.shape[1])
    w = np.ones(len(y))
    for _ in range(iterations):
        ww = w * weights
        coef = np.linalg.solve(A.T @ (A * ww[:, None]) + penalty, A.T @ (ww * y))
        w = 1.0 / np.maximum(np.abs(y - A @ coef), 0.02)
    return coef


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite costmodel/data/calibration.toml")
    args = parser.parse_args()
    X, y, names, groups = implied(read_cases(TABLE))
    fitted = np.array([not est for _, est in names])
    weights = source_weights(groups, fitted)
    coef = fit(X, y, weights)
    A = np.column_stack([np.ones(len(y)), X])
    # resid = ln(implied MFU / modelled MFU) = ln(estimated hours / published hours)
    resid = y - A @ coef
    loo = []
    for i in np.flatnonzero(fitted):
        held_out = weights.copy()
        held_out[i] = 0.0
        loo.append(y[i] - A[i] @ fit(X, y, held_out))
    loo = np.array(loo)
    print(f"{'run':24s} {'implied MFU':>11s} {'model MFU':>9s} {'hours err':>9s}")
    for (name, est), yi, ri in zip(names, y, resid):
        print(f"{name:24s} {np.exp(yi):11.3f} {np.exp(yi - ri):9.3f} {np.exp(ri) - 1:+9.1%}"
              f"{'  (not fitted)' if est else ''}")
    print("coefficients c0, c_ridge, c_size, c_cluster:", np.round(coef, 4))
    loo_err = np.median(np.abs(np.exp(loo) - 1))
    print(f"in-sample median |err| {np.median(np.abs(np.exp(resid[fitted]) - 1)):.1%}, "
          f"leave-one-out median |err| {loo_err:.1%}, LOO worst factor {np.exp(np.max(np.abs(loo))):.2f}")
    # ranges use the out-of-sample (leave-one-out) spread: a new run is predicted without itself
    q_lo, q_hi = np.quantile(loo, [0.1, 0.9])
    if args.write:
        cases = ", ".join(f'"{n}"' for n, est in names if not est)
        OUT.write_text(f'''# Fitted efficiency defaults. Written by scripts/fit_calibration.py; do not edit by hand.
# Source data: tests/data/training_runs.csv (published runs, each with its source).

[mfu]
form = "ln(mfu) = c0 + c_ridge ln(peak / bandwidth / 200 FLOP/B) + c_size log10(N_active / 1e9) + c_cluster log10(n_devices)"
c0 = {coef[0]:.6f}
c_ridge = {coef[1]:.6f}
c_size = {coef[2]:.6f}
c_cluster = {coef[3]:.6f}
min = 0.05
max = 0.70
# Spread of ln(estimated / published accelerator-hours), each run predicted by a fit without it
# (leave-one-out; 10th and 90th percentiles), used for the low/high range of the default MFU; and
# the leave-one-out median absolute error of accelerator-hours.
resid_q10 = {q_lo:.6f}
resid_q90 = {q_hi:.6f}
loo_median_abs_error = {loo_err:.4f}
fitted_on = "tests/data/training_runs.csv"
fitted = "{datetime.date.today().isoformat()}"
ridge_penalty = {RIDGE_PENALTY}
cases = [{cases}]
''')
        print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
