"""Fit the training step-time model's constants leave-one-source-out; write data/calibration.toml.

    python scripts/fit_calibration.py             # the fit and its leave-one-source-out errors
    python scripts/fit_calibration.py --write     # also rewrite costmodel/data/calibration.toml
    python scripts/fit_calibration.py --markdown  # the README's validation table
    python scripts/fit_calibration.py --plot docs/training_validation.svg

The model (costmodel/steptime.py) has four fitted constants: the HBM passes over the stored
activations, the share of data- and expert-parallel traffic hidden behind the computation,
the typical tier's share of the measured matmul ceiling, and the share of tensor-parallel
collectives hidden behind the matmuls where the software overlaps them (flash_attention). Everything else
(peaks, measured GEMM ceilings, bandwidths, links, the layout, the bubble, failures) is a
sourced figure or the run's own published layout.

Each published run is predicted by constants fitted WITHOUT its source (leave-one-source-out):
those residuals are the reported errors and set the width of the estimates' ranges. A run
is scored on accelerator-hours (published, or days x devices), or where the source gives only a
throughput, on that throughput (tokens or TFLOP/s per device), as hours for the same work.
Rows whose figure is itself an estimate or approximate are predicted and reported, not fitted
nor judged.
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

from costmodel.calibration import default_calibration  # noqa: E402
from costmodel.steptime import StepTerms, combine  # noqa: E402
from costmodel.training_estimate import step_terms_of  # noqa: E402
from costmodel.validation import generation, training_cases  # noqa: E402

TABLES = [ROOT / "tests" / "data" / "training_runs.csv"]
OUT = ROOT / "costmodel" / "data" / "calibration.toml"
GRID = {"memory_passes": np.linspace(0.0, 40.0, 41),
        "dp_overlap": np.linspace(0.0, 1.0, 11),
        "typical_efficiency": np.linspace(0.3, 1.0, 71),
        "tp_overlap": np.linspace(0.0, 1.0, 11)}
NAMES = tuple(GRID)


# Where a run's source does not publish its whole layout, the estimator chooses the rest, and
# the choice depends a little on the constants; the fit resolves every run at these reference
# constants, so that it is deterministic and does not depend on the constants it replaces.
REFERENCE = {"memory_passes": 25.0, "dp_overlap": 0.5, "typical_efficiency": 0.7, "tp_overlap": 0.5}


def cases():
    """Every scorable run with its step terms at its layout (see costmodel.validation)."""
    import dataclasses

    base = default_calibration()
    calibration = dataclasses.replace(base, training=dataclasses.replace(base.training, **REFERENCE))
    out = []
    for table in TABLES:
        for c in training_cases(table, calibration):
            est = c["estimate"]
            out.append({**c, "terms": step_terms_of(est), "n": est.n_gpus, "tuned": c["row"].get("tier") == "tuned",
                        "layout": (est.tp, int(est.layout["pp"]), int(est.layout["zero_stage"]))})
    return out


def stack(items) -> StepTerms:
    return StepTerms(*(np.array([float(getattr(c["terms"], f)) for c in items]) for f in StepTerms.__slots__))


def predict(terms: StepTerms, tuned, n, constants) -> np.ndarray:
    """Accelerator-hours for constants given as arrays (broadcast on a leading axis)."""
    efficiency = np.where(tuned, 1.0, constants["typical_efficiency"])
    seconds = combine(terms, memory_passes=constants["memory_passes"], dp_overlap=constants["dp_overlap"],
                      efficiency=efficiency, tp_overlap=constants["tp_overlap"])
    return seconds * n / 3600.0


def fit(terms, tuned, n, hours, weights):
    """The grid point minimising the weighted mean |ln(estimate / published)|."""
    best, best_loss = None, np.inf
    log_hours = np.log(hours)
    for mp in GRID["memory_passes"]:
        ov, te, to = np.meshgrid(GRID["dp_overlap"], GRID["typical_efficiency"], GRID["tp_overlap"], indexing="ij")
        constants = {"memory_passes": mp, "dp_overlap": ov.reshape(-1, 1), "typical_efficiency": te.reshape(-1, 1),
                     "tp_overlap": to.reshape(-1, 1)}
        loss = (np.abs(np.log(predict(terms, tuned, n, constants)) - log_hours) * weights).sum(axis=1)
        i = int(np.argmin(loss))
        if loss[i] < best_loss:
            best_loss = loss[i]
            best = {"memory_passes": float(mp), "dp_overlap": float(ov.ravel()[i]),
                    "typical_efficiency": float(te.ravel()[i]), "tp_overlap": float(to.ravel()[i])}
    return best


def source_weights(groups, fitted):
    """A source with k fitted runs weighs sqrt(k): many runs count, one paper does not dominate."""
    counts = Counter(g for g, f in zip(groups, fitted) if f)
    return np.array([1.0 / np.sqrt(counts[g]) if f else 0.0 for g, f in zip(groups, fitted)])


def evaluate(items):
    terms, tuned = stack(items), np.array([c["tuned"] for c in items])
    n, hours = np.array([c["n"] for c in items], float), np.array([c["hours"] for c in items])
    groups, judged = [c["group"] for c in items], np.array([c["judged"] for c in items])
    weights = source_weights(groups, judged)
    constants = fit(terms, tuned, n, hours, weights)
    loso = np.full(len(items), np.nan)
    for g in sorted(set(groups)):
        held = np.array([x == g for x in groups])
        c = fit(terms, tuned, n, hours, np.where(held, 0.0, weights))
        loso[held] = np.log(predict(terms, tuned, n, c)[held] / hours[held])
    in_sample = np.log(predict(terms, tuned, n, constants) / hours)
    return constants, loso, in_sample, judged, tuned


def scores(resid) -> dict:
    ratio = np.exp(np.abs(resid))
    return {"n": int(resid.size), "median": float(np.median(np.abs(np.exp(resid) - 1))) if resid.size else np.nan,
            "within_1.5x": float(np.mean(ratio <= 1.5)) if resid.size else np.nan,
            "within_2x": float(np.mean(ratio <= 2.0)) if resid.size else np.nan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite costmodel/data/calibration.toml")
    parser.add_argument("--markdown", action="store_true", help="print the README's validation table")
    parser.add_argument("--plot", help="write predicted vs published accelerator-hours to this SVG")
    args = parser.parse_args()
    items = cases()
    constants, loso, in_sample, judged, tuned = evaluate(items)
    print(f"{'run':28s} {'hardware':16s} {'n':>6s} {'tier':7s} {'basis':8s} {'layout':12s} {'LOSO err':>9s}")
    for c, r in zip(items, loso):
        tp, pp, z = c["layout"]
        print(f"{c['row']['run']:28s} {c['row']['hardware']:16s} {c['n']:6d} {c['row'].get('tier') or 'typical':7s} "
              f"{c['basis']:8s} tp{tp} pp{pp} z{z}  {np.exp(r) - 1:+9.1%}{'' if c['judged'] else '  (not judged)'}")
    print("constants:", {k: round(v, 6) for k, v in constants.items()})
    j = loso[judged]
    q_lo, q_hi = np.quantile(j, [0.1, 0.9])
    inside = (j >= q_lo) & (j <= q_hi)
    report = {"all": scores(j), "typical": scores(loso[judged & ~tuned]), "tuned": scores(loso[judged & tuned])}
    gens = sorted({generation(c["row"]["hardware"]) for c in items})
    for gname in gens:
        report[gname] = scores(loso[judged & np.array([generation(c["row"]["hardware"]) == gname for c in items])])
    print(f"in-sample median |err| {np.median(np.abs(np.exp(in_sample[judged]) - 1)):.1%}")
    for key, s in report.items():
        print(f"LOSO {key:14s} n={s['n']:3d} median |err| {s['median']:6.1%}  within 1.5x {s['within_1.5x']:6.1%}  "
              f"within 2x {s['within_2x']:6.1%}")
    print(f"range: ln q10 {q_lo:+.3f}, q90 {q_hi:+.3f}, width {np.exp(q_hi - q_lo):.2f}x, LOSO coverage "
          f"{inside.mean():.0%}")
    sources = len({c["group"] for c in items})
    print(f"{len(items)} runs scored ({int(judged.sum())} judged) from {sources} sources")
    if args.markdown:
        print("\n| runs | n | median error | within 1.5x | within 2x |\n|---|---:|---:|---:|---:|")
        for key, s in report.items():
            print(f"| {key} | {s['n']} | {s['median']:.0%} | {s['within_1.5x']:.0%} | {s['within_2x']:.0%} |")
    if args.plot:
        _plot(items, loso, args.plot)
    if args.write:
        median = float(np.median(np.abs(np.exp(j) - 1)))
        cases_list = ", ".join(f'"{c["row"]["run"]}"' for c in items if c["judged"])
        OUT.write_text(f'''# Fitted constants of the training step-time model (costmodel/steptime.py). Written by
# scripts/fit_calibration.py; do not edit by hand.
# Source data: tests/data/training_runs.csv (published runs, each with its source).

[training]
form = "seconds = ((matmul + optimizer) / efficiency + memory_passes x memory + scores + tp - tp_overlap x hideable tp + exposed (dp + ep)) x bubble x failures"
memory_passes = {constants["memory_passes"]:.6g}
dp_overlap = {constants["dp_overlap"]:.6g}
typical_efficiency = {constants["typical_efficiency"]:.6g}
tp_overlap = {constants["tp_overlap"]:.6g}
# 10th and 90th percentiles of ln(estimated / published accelerator-hours), each run predicted
# by constants fitted without its source (leave-one-source-out): the width of the range; and
# the leave-one-source-out median absolute error of accelerator-hours.
resid_q10 = {q_lo:.6f}
resid_q90 = {q_hi:.6f}
loo_median_abs_error = {median:.4f}
fitted_on = "tests/data/training_runs.csv"
fitted = "{datetime.date.today().isoformat()}"
cases = [{cases_list}]
''', encoding="utf-8")
        print(f"wrote {OUT.relative_to(ROOT)}")


def _plot(items, loso, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    pub = np.array([c["hours"] for c in items])
    est = pub * np.exp(loso)
    for tier, marker in (("typical", "o"), ("tuned", "^")):
        sel = np.array([(c["row"].get("tier") or "typical") == tier for c in items])
        ax.scatter(pub[sel], est[sel], marker=marker, label=f"{tier} ({int(sel.sum())})", alpha=0.8)
    lo, hi = pub.min() / 2, pub.max() * 2
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    for f in (1.5, 1 / 1.5):
        ax.plot([lo, hi], [lo * f, hi * f], "k:", lw=0.6)
    ax.set(xscale="log", yscale="log", xlabel="published accelerator-hours [h]",
           ylabel="estimated accelerator-hours, leave-one-source-out [h]",
           title="Training time: estimate vs published (dotted: 1.5x)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
