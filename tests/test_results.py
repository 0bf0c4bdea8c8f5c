"""Result objects: pickling and copying through their float records, short representations, ranges
computed once, and calibration passed as a value."""

import copy
import dataclasses
import pickle
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

import costmodel
from costmodel.results.base import pick

TRAIN = dict(model="llama-2-7b", hardware="h100", n_gpus=64)
INFER = dict(model="llama-2-70b", hardware="h100", n_gpus=4, prompt_tokens=512, output_tokens=256, batch_size=8)


@pytest.fixture(params=["training", "inference"])
def estimate(request):
    if request.param == "training":
        return costmodel.estimate_training(**TRAIN)
    return costmodel.estimate_inference(**INFER)


@pytest.mark.parametrize("clone", [lambda e: pickle.loads(pickle.dumps(e)), copy.copy, copy.deepcopy])
def test_results_round_trip_through_pickle_and_copy(estimate, clone):
    estimate.low  # a filled cache must not travel: it holds Quantities
    other = clone(estimate)
    assert other.to_dict(ranges=True) == estimate.to_dict(ranges=True)
    assert other.assumptions == estimate.assumptions
    assert type(other) is type(estimate)


def test_an_unpickled_result_works_in_a_fresh_process(tmp_path):
    blob = tmp_path / "est.pickle"
    blob.write_bytes(pickle.dumps(costmodel.estimate_training(**TRAIN)))
    code = ("import pickle, sys; e = pickle.loads(open(sys.argv[1], 'rb').read()); "
            "print(round(e.gpu_hours.to('hour').magnitude), e.low.gpu_hours.units)")
    out = subprocess.run([sys.executable, "-c", code, str(blob)], capture_output=True, text=True, timeout=60)
    expected = round(costmodel.estimate_training(**TRAIN).gpu_hours.to("hour").magnitude)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(expected), "h"]  # the registry prints short units


def test_repr_is_one_line_per_headline_figure(estimate):
    text = repr(estimate)
    lines = text.splitlines()
    assert len(lines) == 1 + len([h for h in estimate.HEADLINE if getattr(estimate, h[0]) is not None])
    assert len(text) < 500
    assert lines[0].startswith(type(estimate).__name__ + "(")


def test_html_table_has_ranges_and_units():
    est = costmodel.estimate_training(**TRAIN)
    page = est._repr_html_()
    low, high = est.low.gpu_hours.to("hour").magnitude, est.high.gpu_hours.to("hour").magnitude
    assert page.startswith("<table>") and page.endswith("</table>")
    assert f"{low:.4g} – {high:.4g}" in page and "<td>hour</td>" in page


def test_low_and_high_are_computed_once(estimate):
    assert estimate.low is estimate.low and estimate.high is estimate.high
    assert estimate.low.low is None and estimate.high.high is None


def test_results_are_frozen(estimate):
    with pytest.raises(dataclasses.FrozenInstanceError):
        estimate.hardware = "a100"


def test_calibration_is_an_argument_not_module_state():
    base = costmodel.default_calibration()
    slower = dataclasses.replace(base, training=dataclasses.replace(
        base.training, typical_efficiency=base.training.typical_efficiency / 2))
    a = costmodel.estimate_training(**TRAIN, tp=1, pp=1, zero_stage=1)
    b = costmodel.estimate_training(**TRAIN, tp=1, pp=1, zero_stage=1, calibration=slower)
    # the typical tier's efficiency divides the matmul time: halving it doubles that part
    from costmodel.training_estimate import step_terms_of
    t = step_terms_of(a)
    assert b.gpu_hours.magnitude > 1.5 * a.gpu_hours.magnitude
    assert (b.wall_time - a.wall_time).to("s").magnitude == pytest.approx(
        float(t.matmul + t.optimizer) / base.training.typical_efficiency * float(t.stretch), rel=0.05)
    assert costmodel.estimate_training(**TRAIN).to_dict() == a.to_dict()  # nothing stuck


def test_a_calibration_file_replaces_the_tables_it_holds(tmp_path):
    path = tmp_path / "cal.toml"
    path.write_text('[inference]\ncompute_fraction = 0.3\nfitted = "2026-12-01"\n')
    cal = costmodel.load_calibration(path)
    assert cal.serving.compute_fraction == 0.3 and cal.serving.fitted == "2026-12-01"
    assert cal.training == costmodel.default_calibration().training
    est = costmodel.estimate_inference(**INFER, calibration=str(path))
    assert est.ttft > costmodel.estimate_inference(**INFER).ttft  # prefill is compute-bound here
    assert costmodel.provenance(cal)["calibration"]["serving"] == "2026-12-01"


def test_a_bad_calibration_names_the_argument(tmp_path):
    path = tmp_path / "cal.toml"
    path.write_text("[something]\nx = 1\n")
    with pytest.raises(costmodel.InputError, match=r"calibration: .*expected a \[training\] or \[inference\] table") as info:
        costmodel.estimate_training(**TRAIN, calibration=path)
    assert info.value.argument == "calibration"


@pytest.mark.parametrize("table, line, message", [
    ("training", "typical_efficiency = 0", "typical_efficiency: expected a number above 0 and at most 1, got 0"),
    ("training", "dp_overlap = 1.5", "dp_overlap: expected a number from 0 to 1, got 1.5"),
    ("training", "memory_passes = nan", "memory_passes: expected a number from 0 to 1000, got nan"),
    ("training", 'memory_passes = "x"', "memory_passes: expected a number from 0 to 1000, got 'x'"),
    ("training", "memory_passes = [1, 2]", "memory_passes: expected a number from 0 to 1000, got [1, 2]"),
    ("training", "resid_q10 = 0.5", "resid_q10 (0.5) is above resid_q90 (0.17924)"),
    ("inference", "bandwidth_fraction = 0", "bandwidth_fraction: expected a number above 0 and at most 1, got 0"),
    ("inference", "step_overhead_s = 1e308", "step_overhead_s: expected a number from 0 to 3600, got 1e+308"),
    ("inference", "ttft_tail = true", "ttft_tail: expected a number above 0 and at most 0.5, got True"),
    ('inference.engines."vllm"', "fixed_s = -1", 'engines.vllm.fixed_s: expected a number from 0 to 3600, got -1'),
    ('inference.engines."vllm"', "efficiency = inf", 'engines.vllm.efficiency: expected a number above 0 and at '
                                                     'most 10, got inf'),
])
def test_a_constant_outside_its_meaning_is_refused_when_the_file_is_read(tmp_path, table, line, message):
    # found by fuzzing calibration files: such values reached the estimate as a division by zero,
    # an overflow or "can't multiply sequence by non-int of type 'float'"
    path = tmp_path / "cal.toml"
    path.write_text(f"[{table}]\n{line}\n")
    with pytest.raises(costmodel.InputError) as info:
        costmodel.load_calibration(path)
    assert info.value.argument == "calibration"
    assert str(info.value).startswith(f"calibration: {path}: ")
    assert str(info.value).endswith(message)


def test_the_shipped_constants_lie_in_their_domains():
    cal = costmodel.default_calibration()
    assert 0 < cal.training.typical_efficiency <= 1 and 0 <= cal.training.dp_overlap <= 1
    assert cal.training.resid_q10 < 0 < cal.training.resid_q90
    assert all(0 < c.efficiency <= 10 for _, c in cal.serving.engines)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4)
                  .map(lambda shape: (3, *shape[1:])), elements=hs.floats(allow_infinity=True, allow_nan=True)))
def test_the_ends_of_a_scenario_axis_are_its_minimum_and_maximum(x):
    # NaN in any scenario gives NaN, as numpy's reductions do
    for which, reduce in (("low", np.min), ("high", np.max)):
        got, want = pick(x, which, row_ndim=x.ndim - 1), reduce(x, axis=0)
        assert got.shape == want.shape and np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(pick(x, "typical", row_ndim=x.ndim - 1), x[0], equal_nan=True)
