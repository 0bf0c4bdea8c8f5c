"""The core's plain-number stand-ins for numpy (costmodel/elementwise.py) give numpy's answers,
and one estimate (plain floats) equals the same configuration run as a one-row sweep (arrays)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import costmodel
from costmodel import elementwise as el
import strategies as st

numbers = hs.one_of(hs.floats(allow_nan=True, allow_infinity=True), hs.integers(-10**6, 10**6),
                    hs.sampled_from([0.0, -0.0, 1.0, math.nan, math.inf, -math.inf]))


def _same(got, want) -> bool:
    """Equal as numpy values (NaN equals NaN), and a number where numpy gives a 0-d result."""
    assert np.ndim(got) == 0
    return bool(np.array_equal(np.asarray(got, dtype=float), np.asarray(want, dtype=float), equal_nan=True))


@given(numbers, numbers, hs.booleans())
def test_scalar_functions_equal_numpy(x, y, flag):
    assert _same(el.maximum(x, y), np.maximum(x, y))
    assert _same(el.minimum(x, y), np.minimum(x, y))
    assert _same(el.where(flag, x, y), np.where(flag, x, y))
    assert _same(el.where(x, 1.0, 2.0), np.where(x, 1.0, 2.0))  # NaN is true, as in numpy
    assert bool(el.isnan(x)) == bool(np.isnan(x)) and bool(~el.isnan(x)) == bool(~np.isnan(x))
    assert el.ndim(x) == 0 and el.any_true(x) == bool(np.any(x))
    with np.errstate(invalid="ignore", divide="ignore"):
        assert _same(el.floor(x), np.floor(x))
        assert _same(el.fmod(x, y), np.fmod(x, y))


def test_arrays_go_to_numpy():
    a, b = np.array([1.0, math.nan, 3.0]), np.array([2.0, 0.0, -1.0])
    assert np.array_equal(el.maximum(a, b), np.maximum(a, b), equal_nan=True)
    assert np.array_equal(el.minimum(a, 0.5), np.minimum(a, 0.5), equal_nan=True)
    assert np.array_equal(el.where(a > 1, a, b), np.where(a > 1, a, b))
    assert np.array_equal(el.isnan(a), np.isnan(a)) and el.ndim(a) == 1 and el.any_true(b) is True
    assert np.array_equal(el.floor(a), np.floor(a), equal_nan=True) and el.ndim(np.float64(1.0)) == 0


@pytest.mark.parametrize("condition", [True, False, np.True_, np.array(False), np.array([[True]]), np.array([0.0])])
@pytest.mark.parametrize("x, y", [
    (np.arange(6.0).reshape(2, 3), 0.0),  # the side picked may be returned as it is
    (np.arange(6.0).reshape(2, 3), np.full((2, 3), np.nan)),
    (np.arange(3.0), np.ones((2, 3))),  # a side smaller than the result: numpy broadcasts it
    (np.array([True, False]), 2.0),  # a side of another type: numpy casts it
    (np.arange(3, dtype=np.float32), np.float64(1.0)),
    (1.5, np.arange(4.0)),
])
def test_where_with_one_condition_gives_numpys_values_shape_and_type(condition, x, y):
    got, want = el.where(condition, x, y), np.where(condition, x, y)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.array_equal(got, want, equal_nan=True)


@pytest.mark.parametrize("condition", [True, np.False_, np.array([[True]]), np.ones((4, 1), bool), np.zeros((4, 1), bool),
                                       np.array([[1.0], [0.0], [1.0], [1.0]]), np.ones((4, 100), bool)])
@pytest.mark.parametrize("x, y", [(np.arange(400.0).reshape(4, 100), np.nan),
                                  (np.arange(400.0).reshape(4, 100), -np.arange(400.0).reshape(4, 100)),
                                  (np.arange(100.0), np.ones((4, 100))), (np.ones((4, 100), bool), 0.0)])
def test_where_with_a_condition_smaller_than_its_result_gives_numpys_answer(condition, x, y):
    # arrays of 400: large enough for where() to look at the condition (small ones go to numpy)
    got, want = el.where(condition, x, y), np.where(condition, x, y)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.array_equal(got, want, equal_nan=True)


def _equal(one: dict, row) -> None:
    for key, value in one.items():
        if isinstance(value, float) and key in row.index:
            other = float(row[key])
            assert (math.isnan(value) and math.isnan(other)) or value == other, key


@settings(max_examples=25, deadline=None)
@given(st.params, st.tokens, st.gpu_hardware, hs.sampled_from([1, 8, 64, 512, 4096]),
       hs.sampled_from([None, 0.4]), hs.sampled_from(["selective", "full"]), hs.sampled_from(["typical", "tuned"]))
def test_one_training_estimate_equals_its_sweep_row(params, tokens, hardware, n_gpus, mfu, recompute, tuning):
    kwargs = dict(params=params, tokens=tokens, hardware=hardware, n_gpus=n_gpus, mfu=mfu, recompute=recompute,
                  tuning=tuning)
    try:
        est = costmodel.estimate_training(**kwargs)
    except costmodel.CostModelError as exc:  # refused alone, refused in a sweep too
        with pytest.raises(type(exc)):
            costmodel.sweep_training(**{k: [v] for k, v in kwargs.items()}, ranges=True)
        return
    row = costmodel.sweep_training(**{k: [v] for k, v in kwargs.items()}, ranges=True).iloc[0]
    _equal(est.to_dict(ranges=True), row)


@settings(max_examples=25, deadline=None)
@given(st.deployments, st.prompt_lengths, st.output_lengths, hs.sampled_from([1, 8, 64]),
       hs.sampled_from(["static", "continuous"]))
def test_one_inference_estimate_equals_its_sweep_row(deployment, prompt, output, batch, batching):
    model, hardware, n_gpus = deployment
    kwargs = dict(model=model, hardware=hardware, n_gpus=n_gpus, prompt_tokens=prompt, output_tokens=output,
                  batch_size=batch, batching=batching)
    est = costmodel.estimate_inference(**kwargs)
    row = costmodel.sweep_inference(**{k: [v] for k, v in kwargs.items()}, ranges=True).iloc[0]
    _equal(est.to_dict(ranges=True), row)
