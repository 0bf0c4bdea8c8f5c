"""Write the README's validation tables from the published-run tables in tests/data/.

    python scripts/validation_report.py           # print the markdown
    python scripts/validation_report.py --write   # replace the marked sections of README.md

tests/test_readme.py fails when README.md differs from what this script writes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from costmodel.calibration import default_calibration  # noqa: E402
from costmodel.validation import energy_validation, summary, training_validation  # noqa: E402

DATA = ROOT / "tests" / "data"


def _n(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def training_section() -> str:
    t = training_validation(DATA / "training_runs.csv")
    scored = t[~t.estimate]
    exact = t[~t.estimate & ~t.approximate]
    s, se = summary(scored.error), summary(exact.error)
    loo = default_calibration().training.loo_median_abs_error
    lines = [
        f"Accelerator-hours of {len(t)} published training runs, estimated with the default MFU "
        "(no per-run overrides) from parameters, tokens, hardware and device count "
        "(`tests/data/training_runs.csv`; every row has its source).",
        "",
        f"- median absolute error: **{s['median_abs_error']:.1%}** over {s['n']} runs "
        f"(leave-one-out, i.e. each run predicted by a fit without it: **{loo:.1%}**)",
        f"- worst run with an exactly published figure: **x{se['worst_factor']:.2f}** "
        f"({se['n']} runs); rows marked *approx.* publish only a rough duration "
        "(\"about two weeks\", an access window) and rows marked *estimate* are themselves "
        "estimates (GPT-4, OPT's assumed 34 days); neither is fitted, both are shown",
        "",
        "| run | hardware | devices | published h | estimated h | error | MFU used | note |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in t.itertuples():
        note = "estimate" if r.estimate else "approx." if r.approximate else ""
        lines.append(f"| {r.run} | {r.hardware} | {r.n_gpus:,} | {_n(r.published_hours)} | "
                     f"{_n(r.estimated_hours)} | {r.error:+.0%} | {r.mfu:.2f} | {note} |")
    return "\n".join(lines)


def energy_section() -> str:
    e = energy_validation(DATA / "energy_runs.csv")
    lines = [
        f"Published energy (or CO2e where no energy is published) of {e.run.nunique()} training runs and "
        "power measurements (`tests/data/energy_runs.csv`), every input not named at its default. *hours*: the "
        "published accelerator-hours given, so only the power model (draw, host, PUE) is tested; *e2e*: "
        "estimated from parameters, tokens, hardware and device count. *measured*: the authors metered "
        "power; *formula*: the authors multiplied GPU-hours by an assumed power (often TDP) and PUE, which "
        "tests that formula, not the power (not used in the fit; `scripts/fit_energy.py` prints the "
        "leave-one-source-out figures).",
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
    lines += ["", "| run | mode | hardware | metric | kind | published | estimated | low | high | error |",
              "|---|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in e.itertuples():
        lines.append(f"| {r.run} | {r.mode} | {r.hardware} | {r.metric} | {r.kind} | {_n(r.published)} | "
                     f"{_n(r.estimated)} | {_n(r.low)} | {_n(r.high)} | {r.error:+.0%} |")
    return "\n".join(lines)


def inference_section() -> str:
    from costmodel.validation import inference_validation

    v = inference_validation(DATA / "inference_points.csv")
    lines = [
        f"Measured time to first token (TTFT) and time per output token (TPOT) of {v.point.nunique()} "
        "fixed-batch serving benchmarks (`tests/data/inference_points.csv`: engine, statistic and "
        "source per point), estimated with the fitted serving constants "
        "(`costmodel/data/inference_calibration.toml`, `scripts/fit_inference.py`). Points measured "
        "under a request rate instead of a fixed batch are kept in the table but not scored.",
        "",
    ]
    for metric in ("ttft", "tpot"):
        s = summary(v.error[v.metric == metric])
        lines.append(f"- {metric.upper()}: median absolute error **{s['median_abs_error']:.1%}** over "
                     f"{s['n']} points, worst **x{s['worst_factor']:.2f}**")
    lines += ["", "| point | model | hardware x n | dtype | batch | in/out | metric | measured ms | estimated ms | error |",
              "|---|---|---|---|---:|---|---|---:|---:|---:|"]
    for r in v.itertuples():
        lines.append(f"| {r.point} | {r.model} | {r.hardware} x {r.n_gpus} | {r.dtype} | {r.batch} "
                     f"({r.batching}) | {r.prompt}/{r.output} | {r.metric.upper()} | {_n(r.published_ms)} | "
                     f"{_n(r.estimated_ms)} | {r.error:+.0%} |")
    return "\n".join(lines)


def ranges_section() -> str:
    from costmodel.validation import energy_coverage, inference_coverage, training_coverage

    rows = [("training accelerator-hours", training_coverage(DATA / "training_runs.csv")),
            ("inference TTFT", inference_coverage(DATA / "inference_points.csv", "ttft")),
            ("inference TPOT", inference_coverage(DATA / "inference_points.csv", "tpot")),
            ("training energy / CO2e, measured, hours given", energy_coverage(DATA / "energy_runs.csv", "hours")),
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
        pattern = re.compile(rf"(<!-- validation:{name} -->\n).*?(<!-- /validation:{name} -->)", re.S)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no <!-- validation:{name} --> section")
        readme = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), readme)
    return readme


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the sections of README.md")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    new = render(readme.read_text())
    if args.write:
        readme.write_text(new)
    else:
        print(new)


if __name__ == "__main__":
    main()
