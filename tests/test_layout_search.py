"""The layout search evaluates every candidate layout at once, on a leading axis; these tests
check it against the plain rule it implements, one candidate at a time."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from costmodel import estimate_training
from costmodel.calibration import default_calibration
from costmodel.layout_search import CANDIDATES, choose_layout, search_layout


def _one_at_a_time(m, h, lay, cal) -> tuple[float, float, float]:
    """The layout the search's rule picks, each candidate timed and sized on its own (plain
    floats, :func:`search_layout` with that ``choice``): among the valid layouts that fit in
    memory, those whose data-parallel degree the batch asked for can feed (all that fit where
    none can); at each (tp, ZeRO stage) the fewest pipeline stages; the fastest of those (the
    first in candidate order on a tie); the least-memory valid layout where none fits."""
    n, cp = float(lay.n_gpus), float(lay.cp)
    heads = 0.0 if float(m.shape_derived) > 0 else float(m.heads)
    asked = float(search_layout(m, h, lay, cal, np.array([1.0, 1.0, 1.0]))["wanted"]) * (1.0 + 1e-9)
    rows = []
    for tp0, pp0, z0 in zip(*CANDIDATES):
        tp = tp0 if math.isnan(lay.tp) else float(lay.tp)
        pp = pp0 if math.isnan(lay.pp) else float(lay.pp)
        zero = z0 if math.isnan(lay.zero_stage) else float(lay.zero_stage)
        s = search_layout(m, h, lay, cal, np.array([tp, pp, zero]))
        total = float(s["cw"] + s["cg"] + s["co"] + s["ca"])
        valid = ((tp <= max(float(h.node), 1.0) or not math.isnan(lay.tp)) and tp * pp * cp <= n
                 and math.fmod(n, tp * pp * cp) == 0 and (heads <= 0 or math.fmod(heads, tp) == 0)
                 and (pp <= max(float(m.layers), 1.0) or not math.isnan(lay.pp)))
        fits = valid and total <= float(h.capacity)
        feeds = max(n / (tp * pp * cp), 1.0) * float(lay.micro_batch) * max(float(m.seq_len), 1.0)
        rows.append(dict(layout=(tp, pp, zero), key=(tp0, z0), total=total, valid=valid, fits=fits,
                         roomy=fits and feeds <= asked, time=float(s["modelled"])))
    kept = [r for r in rows if r["roomy"]] or [r for r in rows if r["fits"]]
    if not kept:
        valid = [r for r in rows if r["valid"]]
        return min(valid, key=lambda r: r["total"])["layout"] if valid else rows[0]["layout"]
    fewest: dict[tuple, dict] = {}
    for r in kept:  # candidates run tp-major, then pipeline stages, then the ZeRO stage
        fewest.setdefault(r["key"], r)
    order = sorted(fewest, key=lambda k: (CANDIDATES[0].tolist().index(k[0]), k[1]))
    best = min((fewest[k] for k in order), key=lambda r: r["time"])  # min keeps the first of equals
    return best["layout"]


@given(params=st.sampled_from(["125M", "1.3B", "7B", "13B", "70B", "175B", "530B"]),
       hardware=st.sampled_from(["a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm5-80gb", "v100-sxm2-32gb"]),
       n_gpus=st.sampled_from([1, 8, 16, 64, 96, 256, 512, 1024, 3072]),
       batch=st.one_of(st.none(), st.sampled_from([2.5e5, 1e6, 4e6, 1.6e7])))
def test_the_search_picks_the_layout_each_candidate_alone_would(params, hardware, n_gpus, batch):
    est = estimate_training(params=params, tokens="1T", hardware=hardware, n_gpus=n_gpus, global_batch=batch)
    case, cal = est._case, default_calibration().training
    searched = tuple(float(x) for x in choose_layout(case.model, case.hardware, case.layout, cal))
    assert searched == _one_at_a_time(case.model, case.hardware, case.layout, cal)
    assert (float(est._values.tp), float(est._values.pp), float(est._values.zero_stage)) == searched


def test_the_search_on_a_catalog_model_with_experts_and_given_degrees():
    for kwargs in (dict(model="mixtral-8x7b", hardware="h100", n_gpus=64),
                   dict(model="deepseek-v3", hardware="h800-sxm5-80gb", n_gpus=2048, dtype="fp8"),
                   dict(model="llama-2-70b", hardware="a100", n_gpus=1024, tp=8),
                   dict(model="gpt3-175b", hardware="v100-sxm2-32gb", n_gpus=10_000)):
        case = estimate_training(tokens="1T", **kwargs)._case
        cal = default_calibration().training
        searched = tuple(float(x) for x in choose_layout(case.model, case.hardware, case.layout, cal))
        assert searched == _one_at_a_time(case.model, case.hardware, case.layout, cal), kwargs
