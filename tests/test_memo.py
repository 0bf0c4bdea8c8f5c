"""The resolvers' cache (costmodel/memo.py) keys on exact values and never hides an error."""

import numpy as np
import pytest

import costmodel
from costmodel.memo import memoise


def test_keys_are_exact_values_and_types_and_errors_are_not_cached():
    calls = []

    @memoise
    def f(x, *, y=None):
        calls.append((x, y))
        if isinstance(x, str) and x == "bad":  # an array compared to a string warns on numpy 1.23
            raise ValueError(x)
        return (type(x), x, y)

    assert f(1) == f(1) and len(calls) == 1
    assert f(True) == (bool, True, None) and f(1.0) == (float, 1.0, None) and len(calls) == 3  # 1, True, 1.0 differ
    assert str(f(-0.0)[1]) == "-0.0" and str(f(0.0)[1]) == "0.0" and len(calls) == 5
    for _ in range(2):
        with pytest.raises(ValueError):
            f("bad")
    assert len(calls) == 7
    array = np.array([1.0])
    f(array), f(array), f([1.0]), f([1.0])  # mutable arguments are never cached
    assert len(calls) == 11
    f(1, y="a"), f(1, y="a"), f(1, y="b")
    assert len(calls) == 13
    f.cache_clear()
    f(1)
    assert len(calls) == 14


def test_a_frozen_record_is_keyed_by_identity():
    hw = costmodel.get_hardware("h100")
    calls = []

    @memoise
    def g(profile):
        calls.append(profile)
        return profile.id

    assert g(hw) == g(hw) == "h100-sxm5-80gb" and len(calls) == 1


def test_repeated_estimates_share_resolved_inputs_and_give_the_same_figures():
    a = costmodel.estimate_training(params="7B", tokens="2T", hardware="h100", n_gpus=512)
    b = costmodel.estimate_training(params="7B", tokens="2T", hardware="h100", n_gpus=512)
    assert a._case.model is b._case.model and a._case.layout is b._case.layout
    assert a.to_dict(ranges=True) == b.to_dict(ranges=True)
    c = costmodel.estimate_training(params="7B", tokens="2T", hardware="h100", n_gpus=512, recompute="full")
    assert c._case.layout is not a._case.layout and c.layout["recompute"] == "full"


def test_replaced_gives_the_record_dataclasses_replace_gives():
    import dataclasses

    from costmodel.memo import replaced
    from costmodel.workload import TrainingModel

    m = TrainingModel(params=7e9, active_params=7e9, trainable=7e9, tokens=1e12, heads=32.0)
    new = replaced(m, tokens=2e12, layers=32.0)
    assert new == dataclasses.replace(m, tokens=2e12, layers=32.0) and type(new) is TrainingModel
    assert m.tokens == 1e12 and replaced(m) == m and replaced(m) is not m
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.tokens = 3.0  # still frozen
    with pytest.raises(TypeError, match="no field 'token'"):
        replaced(m, token=2e12)
    with pytest.raises(TypeError, match="needs dataclasses.replace"):  # its __post_init__ checks the fields
        replaced(costmodel.get_hardware("h100"), id="x")
