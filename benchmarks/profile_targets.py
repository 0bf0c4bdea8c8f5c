"""Where the time goes in the figures whose speed targets are not met: cProfile shares by stage.

    python benchmarks/profile_targets.py [training | training-ranges | inference | inference-ranges | estimate]

Each case runs once to warm the caches, then once under cProfile; the stages are the
cumulative times of the functions named below as a share of the whole call (a stage inside
another is counted in both). The sweeps are bench_sweep.py's 1e6-row grids; ``estimate`` is
bench_estimate.py's new-model case (2,000 calls, a layout searched in each).
"""

from __future__ import annotations

import cProfile
import itertools
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import costmodel  # noqa: E402
from bench_sweep import inference_grid, training_grid  # noqa: E402

STAGES = {
    "training": {
        "choosing the layouts (sweep/training.py:_choice)": ("sweep/training.py", "_choice"),
        "  of which the step-time terms of the shortlist (layout_search.py:_fastest)": ("layout_search.py", "_fastest"),
        "  of which memory and the shortlist (layout_search.py:shortlist_layouts)": ("layout_search.py", "shortlist_layouts"),
        "the pipeline of every row (training_pipeline.py:evaluate)": ("training_pipeline.py", "evaluate"),
        "writing the DataFrame's columns (sweep/columns.py:fill_columns)": ("sweep/columns.py", "fill_columns"),
        "resolving the grid (sweep/training.py:plan)": ("sweep/training.py", "plan"),
    },
    "inference": {
        "the request's timings (serving_timings.py:timings)": ("serving_timings.py", "timings"),
        "  of which the forward steps and their collectives (serving_timings.py:_step_parts)":
            ("serving_timings.py", "_step_parts"),
        "  of which the steps' rooflines (serving_timings.py:_roofline)": ("serving_timings.py", "_roofline"),
        "the rest of the pipeline (serving_pipeline.py:evaluate, less the timings)": ("serving_pipeline.py", "evaluate"),
        "writing the DataFrame's columns (sweep/columns.py:fill_columns)": ("sweep/columns.py", "fill_columns"),
        "  of which copying values into them (sweep/columns.py:put)": ("sweep/columns.py", "put"),
        "resolving the grid (sweep/inference.py:plan)": ("sweep/inference.py", "plan"),
    },
    "estimate": {
        "the layout search (layout_search.py:search_layout)": ("layout_search.py", "search_layout"),
        "  of which timing the shortlist on floats (layout_search.py:_one_layout)": ("layout_search.py", "_one_layout"),
        "  of which memory and the shortlist (layout_search.py:shortlist_layouts)": ("layout_search.py", "shortlist_layouts"),
        "the model, layout and footprint inputs parsed (memo.py:cached)": ("memo.py", "cached"),
        "the estimate's checks (results/base.py:first_not_finite)": ("results/base.py", "first_not_finite"),
    },
}


def _cumulative(stats: pstats.Stats, path: str, name: str) -> float:
    return sum(v[3] for (file, _, func), v in stats.stats.items()  # type: ignore[attr-defined]
               if file.endswith(path) and func == name)


def main() -> None:
    case = sys.argv[1] if len(sys.argv) > 1 else "training"
    if case.split("-")[0] in ("training", "inference"):
        kind = case.split("-")[0]
        grid = (training_grid if kind == "training" else inference_grid)(1_000_000)
        fn, stages = getattr(costmodel, f"sweep_{kind}"), STAGES[kind]
        kw = dict(grid, ranges=case.endswith("ranges"))
        run = lambda: fn(**kw)  # noqa: E731
        fn(**{k: (v[:1] if isinstance(v, list) else v) for k, v in grid.items()})
    else:
        count, stages = itertools.count(), STAGES["estimate"]

        def run():
            for _ in range(2000):
                costmodel.estimate_training(params=7e9 + next(count) * 1e6, tokens="2T", hardware="h100",
                                            n_gpus=512).gpu_hours
    run()
    profile = cProfile.Profile()
    profile.runcall(run)
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{case}: {total:.3f} s under cProfile")
    for label, (path, name) in stages.items():
        share = _cumulative(stats, path, name)
        if name == "evaluate" and path == "serving_pipeline.py":
            share -= _cumulative(stats, "serving_timings.py", "timings")
        print(f"{share / total:6.0%}  {label}")


if __name__ == "__main__":
    main()
