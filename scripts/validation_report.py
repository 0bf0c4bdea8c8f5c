"""Write the README's validation tables from the published-run tables in tests/data/.

    python scripts/validation_report.py           # print the markdown
    python scripts/validation_report.py --write   # replace the marked sections of README.md

tests/test_readme.py fails when README.md differs from what this script writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from costmodel.calibration import default_calibration  # noqa: E402
from readme_sections import main, replace_section  # noqa: E402
from costmodel.validation import energy_validation, generation, read_cases, summary  # noqa: E402

DATA = ROOT / "tests" / "data"


def _n(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _loso():
    """The leave-one-source-out residuals, as scripts/fit_calibration.py computes them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fit_calibration", ROOT / "scripts" / "fit_calibration.py")
    fit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit)
    items = fit.cases()
    _, resid, _, judged, tuned = fit.evaluate(items)
    return fit, items, resid, judged, tuned


def training_section() -> str:
    fit, items, resid, judged, tuned = _loso()
    import numpy as np

    gens = np.array([generation(c["row"]["hardware"]) for c in items])
    cal = default_calibration().training
    j = resid[judged]
    lo, hi = cal.resid_q10, cal.resid_q90
    inside = (j >= lo) & (j <= hi)
    groups = {"all": judged, "typical": judged & ~tuned, "tuned": judged & tuned}
    groups.update({g: judged & (gens == g) for g in sorted(set(gens[judged]))})
    lines = [
        f"Accelerator-hours of {len(items)} published training runs and benchmark measurements from "
        f"{len({c['group'] for c in items})} sources (`tests/data/training_runs.csv`; every row has its source), "
        "each predicted by the step-time model with constants fitted **without that run's source** "
        "(leave-one-source-out, `scripts/fit_calibration.py`), at the layout the source publishes "
        "(the rest chosen as for any estimate). Runs with a published time are scored on accelerator-hours; "
        "benchmark tables publish a throughput (tokens/s or TFLOP/s per device), scored as hours for the same "
        "work. Rows marked *approx.* or *estimate* are shown, not fitted nor judged.",
        "",
        "| runs | n | median error | within 1.5x | within 2x |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, sel in groups.items():
        r = resid[sel]
        ratio = np.exp(np.abs(r))
        lines.append(f"| {name} | {sel.sum()} | {np.median(np.abs(np.exp(r) - 1)):.0%} | "
                     f"{np.mean(ratio <= 1.5):.0%} | {np.mean(ratio <= 2.0):.0%} |")
    scored = {c["row"]["run"] for c in items}
    left = [r["run"] for r in read_cases(DATA / "training_runs.csv") if r["run"] not in scored]
    lines += [
        "",
        f"Left out ({len(left)}): runs whose source gives no device count, which the step-time model needs "
        f"even to score a per-device throughput (never invented): {', '.join(left)}.",
        "",
        f"The range `[low, high]` is the 10th to 90th percentile of these residuals: "
        f"{np.mean(inside):.0%} of the judged runs fall inside it, median width "
        f"**{np.exp(hi - lo):.2f}x**.",
        "",
        "![Estimated vs published accelerator-hours](docs/training_validation.svg)",
        "",
        "| run | hardware | devices | tier | scored on | layout | published h | estimated h | error | note |",
        "|---|---|---:|---|---|---|---:|---:|---:|---|",
    ]
    for c, r in zip(items, resid):
        row, est = c["row"], c["estimate"]
        lay = est.layout
        note = "estimate" if row.get("estimate") == "true" else "approx." if row.get("approximate") == "true" else ""
        layout = f"tp{lay['tp']} pp{lay['pp']}" + (f" cp{lay['cp']}" if lay["cp"] > 1 else "") + \
            (f" ep{lay['ep']}" if lay["ep"] > 1 else "") + f" z{lay['zero_stage']}"
        lines.append(f"| {row['run']} | {row['hardware']} | {est.n_gpus:,} | {row.get('tier') or 'typical'} | "
                     f"{c['basis']} | {layout} | {_n(c['hours'])} | {_n(c['hours'] * np.exp(r))} | "
                     f"{np.exp(r) - 1:+.0%} | {note} |")
    return "\n".join(lines)


def _energy_fitted() -> dict:
    """The [fitted] block of the energy defaults (scripts/fit_energy.py writes it)."""
    import tomllib

    with open(ROOT / "costmodel" / "data" / "energy_defaults.toml", "rb") as handle:
        return tomllib.load(handle)["fitted"]


def energy_section() -> str:
    e = energy_validation(DATA / "energy_runs.csv")
    lines = [
        f"Published energy (or CO2e where no energy is published) of {e.run.nunique()} training runs and "
        "power measurements (`tests/data/energy_runs.csv`), every input not named at its default. *hours*: the "
        "published accelerator-hours given, so only the power model (draw, host, PUE) is tested; *e2e*: "
        "estimated from parameters, tokens, hardware and device count. *measured*: the authors metered "
        "power; *formula*: the authors multiplied GPU-hours by an assumed power (often TDP) and PUE, which "
        "tests that formula, not the power (not used in the fit). The bullets just below score the shipped "
        "constants, fitted on every measured row.",
        "",
    ]
    for mode in ("hours", "e2e"):
        for kind in ("measured", "formula"):
            sel = e[(e["mode"] == mode) & (e["kind"] == kind)]
            if len(sel):
                s = summary(sel.error)
                lines.append(f"- {mode}, {kind} ({s['n']}): median absolute error **{s['median_abs_error']:.1%}**, "
                             f"worst **x{s['worst_factor']:.2f}**, inside [low, high] **{sel.inside.mean():.0%}**, "
                             f"median width **{sel.width.median():.2f}**")
    lines += ["", "Leave-one-source-out (the power constants fitted without each source's rows, as "
              "`scripts/fit_energy.py` scores them; target: median error at most 20%, at least 80% inside "
              "[low, high], median width at most 2.5x):", ""]
    fitted = _energy_fitted()
    for mode in ("hours", "e2e"):
        for kind in ("measured", "formula"):
            lines.append(f"- {mode}, {kind}: {fitted[f'loso_{mode}_{kind}']}")
    lines += ["", "| run | mode | hardware | metric | kind | published | estimated | low | high | error |",
              "|---|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in e.itertuples():
        lines.append(f"| {r.run} | {r.mode} | {r.hardware} | {r.metric} | {r.kind} | {_n(r.published)} | "
                     f"{_n(r.estimated)} | {_n(r.low)} | {_n(r.high)} | {r.error:+.0%} |")
    return "\n".join(lines)


def inference_section() -> str:
    import pandas as pd

    from costmodel.validation import SERVING_METRICS, inference_validation

    v = inference_validation(DATA / "inference_points.csv")
    loso = pd.read_csv(DATA / "inference_loso.csv")
    loso["error"] = loso.loso_estimate / loso.published - 1.0
    fitted = loso[~loso.holdout]
    targets = {"ttft": 0.20, "tpot": 0.12, "throughput_tok_s": 0.20, "latency": 0.25}  # the issue sets none for ITL
    lines = [
        f"{v.point.nunique()} measured serving points from {v.group.nunique()} independent sources "
        "(`tests/data/inference_points.csv`: engine, statistic and source per point): TTFT, TPOT (per request, "
        "(latency - TTFT) / (output - 1)) and ITL (per gap between two tokens: benchmarks' median ITL leaves out "
        "the gaps stalled by other requests' prefills), the "
        "latency of one forward pass of encoders, CNNs and ViTs, samples per second, output tokens per second "
        "at saturation, and TTFT/TPOT/ITL percentiles under a Poisson rate. `scripts/fit_inference.py` fits "
        "three shared constants and each engine's step and layer overheads, then leaves each source out in "
        "turn, refits and predicts its points (`tests/data/inference_loso.csv`). Points marked `holdout` "
        "(the Jetson and M4 LLM points) are never fitted.",
        "",
        "**Leave-one-source-out**, median absolute error by metric (target from the serving issue):",
        "",
        "| metric | figures | median error | target | within 2x |",
        "|---|---:|---:|---:|---:|",
    ]
    for metric in SERVING_METRICS:
        sel = fitted.error[fitted.metric == metric]
        if len(sel):
            target = f"{targets[metric]:.0%}" if metric in targets else "-"
            lines.append(f"| {metric} | {len(sel)} | {sel.abs().median():.1%} | {target} | "
                         f"{((sel > -0.5) & (sel < 1.0)).mean():.0%} |")
    table = pd.read_csv(DATA / "inference_points.csv", dtype=str).set_index("point")
    one = fitted[fitted.point.map(lambda p: table.at[p, "batch_size"] == "1" and table.at[p, "output_tokens"] == "0")
                 & (fitted.metric == "latency")]
    lines.append(f"| batch-1 latency of single-pass models | {len(one)} | {one.error.abs().median():.1%} | 25% | "
                 f"{((one.error > -0.5) & (one.error < 1.0)).mean():.0%} |")
    for key, title in (("engine", "runtime"), ("device_class", "device class")):
        lines += ["", f"By {title}:", "", f"| {title} | figures | median error |", "|---|---:|---:|"]
        for name, g in loso.groupby(key):
            lines.append(f"| {name} | {len(g)} | {g.error.abs().median():.1%} |")
    lines += ["", "In sample (the shipped constants), per figure:", ""]
    for metric in SERVING_METRICS:
        if not (v.metric == metric).any():
            continue
        s = summary(v.error[v.metric == metric])
        lines.append(f"- {metric.upper()}: median absolute error **{s['median_abs_error']:.1%}** over "
                     f"{s['n']} figures, worst **x{s['worst_factor']:.2f}**")
    lines += ["", "| point | model | hardware x n | engine | dtype | batch | in/out | metric | measured | estimated | error |",
              "|---|---|---|---|---|---:|---|---|---:|---:|---:|"]
    for r in v.itertuples():
        lines.append(f"| {r.point} | {r.model} | {r.hardware} x {r.n_gpus} | {r.engine} | {r.dtype} | {r.batch} "
                     f"({r.batching}) | {r.prompt}/{r.output} | {r.metric.upper()} | {_n(r.published_ms)} | "
                     f"{_n(r.estimated_ms)} | {r.error:+.0%} |")
    return "\n".join(lines)


def ranges_section() -> str:
    from costmodel.serving_ranges import nested_coverage
    from costmodel.validation import energy_coverage, inference_coverage, training_coverage

    points, loso = DATA / "inference_points.csv", DATA / "inference_loso.csv"
    serving = [("TTFT", "ttft"), ("TPOT", "tpot"), ("ITL", "itl"), ("latency (single-pass and end to end)", "latency"),
               ("samples/s", "samples_per_s"), ("tokens/s of a batch", "throughput_tok_s")]
    rows = [("training accelerator-hours", training_coverage(DATA / "training_runs.csv"))]
    rows += [(f"inference {name}, nested out of sample", nested_coverage(points, loso, metric)) for name, metric in serving]
    rows += [(f"inference {name}, in sample", inference_coverage(points, metric)) for name, metric in serving]
    rows += [("training energy / CO2e, measured, hours given", energy_coverage(DATA / "energy_runs.csv", "hours")),
             ("training energy / CO2e, measured, end to end", energy_coverage(DATA / "energy_runs.csv", "e2e")),
             ("training energy / CO2e, formula, end to end",
              energy_coverage(DATA / "energy_runs.csv", "e2e", kinds=("formula",)))]
    lines = ["| metric | published values | inside [low, high] | median width (high / low) |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {c['n']} | {c['coverage']:.0%} | {c['median_width']:.2f} |" for name, c in rows]
    return "\n".join(lines)


SECTIONS = {"training": training_section, "energy": energy_section, "inference": inference_section,
            "ranges": ranges_section}


def render(readme: str) -> str:
    for name, make in SECTIONS.items():
        readme = replace_section(readme, f"validation:{name}", make())
    return readme


if __name__ == "__main__":
    main(render, __doc__.splitlines()[0])
