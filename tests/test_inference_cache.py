"""One estimate_inference's caches (costmodel/serving_case.py keeps each exact argument list
resolved and evaluated; costmodel/results/base.py keeps each case's range ends): an estimate
served from them gives what one resolved afresh gives, and the keys tell apart what the parsers do."""

from __future__ import annotations

import os
import pickle
import re

import pytest

import costmodel
from costmodel import estimate_inference
from costmodel import inference_estimate as ie
from costmodel import serving_case, serving_inputs, serving_pipeline, serving_records
from costmodel.results import base
from costmodel.results.base import pick_ends


def _forget() -> None:
    """Every cache a serving estimate fills."""
    serving_case._RESOLVED.clear()
    serving_case._BASES.clear()
    serving_inputs._PARSED.clear()
    serving_pipeline._TYPICAL.clear()
    base._ENDS.clear()
    for cached in (ie.resolve_request, serving_records._serving_records, ie.typical_scenario, costmodel.energy.resolve_footprint):
        cached.cache_clear()


def _everything(est) -> tuple:
    return (est.to_dict(ranges=True), est.assumptions, est.warnings, repr(est), repr(est.low), est.high.to_dict(),
            est.footprint, est.memory, est.bound, est.percentiles, est.cost, est.low.cost, est.fitting_dtype)


CASES = [
    dict(model="llama-2-70b", hardware="h100", n_gpus=4, prompt_tokens=512, output_tokens=256, batch_size=8),
    dict(model="mixtral-8x7b", hardware="a100", n_gpus=2, prompt_tokens=1024, output_tokens=128, batch_size=32),
    dict(model="deepseek-v3", hardware="h200-sxm-141gb", n_gpus=16, pp=2, ep=8, tp=2, prompt_tokens=2000,
         output_tokens=500, batch_size=64, region="france"),
    dict(model="llama-2-7b", hardware="h100", prompt_tokens=512, output_tokens=256, rate="2/s", prefix_cache="40%"),
    dict(model="llama-2-7b", hardware="h100", prompt_tokens=512, output_tokens=256, concurrency=16, batch_size=8,
         cost_basis="owned", embodied=True),
    dict(model="llama-2-70b", hardware="l4", prompt_tokens=512, output_tokens=256, batch_size=4),  # does not fit
    dict(model="llama-2-7b", hardware="h100", prompt_tokens=5000, output_tokens=256, prune=0.5),  # warnings
    dict(model="bert-base", hardware="h100", prompt_tokens=128, output_tokens=0, batch_size=32),
    dict(model="resnet-50", hardware="l4", prompt_tokens=1, output_tokens=0, batch_size=16, dtype="fp8"),
    dict(model="llama-3.2-1b", hardware="tensor-g4-cpu", prompt_tokens=128, output_tokens=64),
    dict(params="7B", hardware="h100", prompt_tokens=512.0, output_tokens=256, engine="eager", batch_size=4),
]


@pytest.mark.parametrize("kwargs", CASES)
def test_an_estimate_from_the_caches_equals_one_resolved_afresh(kwargs):
    first, again = estimate_inference(**kwargs), estimate_inference(**kwargs)
    assert again._case is first._case and again._values is first._values
    assert again is not first and again._cache is not first._cache  # each result builds its own figures
    _forget()
    fresh = estimate_inference(**kwargs)
    assert fresh._case is not first._case
    assert _everything(again) == _everything(fresh) == _everything(first)


@pytest.mark.parametrize("kwargs", CASES)
def test_the_kept_range_ends_are_those_of_the_scenarios(kwargs):
    est = estimate_inference(**kwargs)
    low, high = pick_ends(ie.scenarios(est._case, est._calibration))
    assert repr(est.low._values) == repr(low) and repr(est.high._values) == repr(high)  # NaN where NaN
    assert estimate_inference(**kwargs).low._values is est.low._values  # kept with the case


def test_cost_alone_is_the_footprints_cost():
    est = estimate_inference(**CASES[0])
    cost = est.cost
    assert cost is not None and cost == est.footprint.cost and est.cost == cost
    assert estimate_inference(model="llama-2-7b", hardware="apple-a17-pro-gpu", prompt_tokens=64,
                              output_tokens=64).cost is None  # no price for a phone


def test_the_cache_keys_on_exact_values_and_types():
    base = dict(model="llama-2-7b", hardware="h100", output_tokens=256)
    assert estimate_inference(**base, prompt_tokens=1).prompt_tokens == 1
    with pytest.raises(costmodel.UnitError, match="prompt_tokens"):  # True is not the count 1
        estimate_inference(**base, prompt_tokens=True)
    one = estimate_inference(**base, prompt_tokens=512, prefix_cache=0.5)
    assert estimate_inference(**base, prompt_tokens=512, prefix_cache="50%").ttft == one.ttft
    assert estimate_inference(**base, prompt_tokens=512, prefix_cache=0.25).ttft > one.ttft  # not the 0.5 kept
    # -0.0 and 0.0 are kept apart (both are no cached prefix)
    assert (estimate_inference(**base, prompt_tokens=512, prefix_cache=-0.0).to_dict()
            == estimate_inference(**base, prompt_tokens=512, prefix_cache=0.0).to_dict())


def test_arguments_that_are_not_plain_values_are_not_kept():
    kept = len(serving_case._RESOLVED)
    spec = costmodel.get_model("llama-2-7b")
    a = estimate_inference(spec, hardware="h100", prompt_tokens=512, output_tokens=256)
    b = estimate_inference(model="llama-2-7b", hardware="h100", prompt_tokens=[500, 524], output_tokens=256,
                           rate="1/s")
    assert len(serving_case._RESOLVED) == kept
    assert estimate_inference(spec, hardware="h100", prompt_tokens=512, output_tokens=256)._case is not a._case
    assert b.prompt_tokens == 512


def test_an_error_is_not_kept():
    kwargs = dict(model="llama-2-7b", hardware="h100", prompt_tokens=5000, output_tokens=256)
    for _ in range(2):
        with pytest.raises(costmodel.InputError, match="exceeds the model's context"):
            estimate_inference(**kwargs, strict=True)
    assert any("exceeds" in w for w in estimate_inference(**kwargs).warnings)


def test_a_kept_estimate_pickles():
    est = estimate_inference(**CASES[0])
    est = estimate_inference(**CASES[0])
    back = pickle.loads(pickle.dumps(est))
    assert back.to_dict(ranges=True) == est.to_dict(ranges=True)


def test_an_edited_profile_gives_a_new_estimate(write_profile):
    directory = write_profile()
    kwargs = dict(params="1B", hardware="toy", prompt_tokens=512, output_tokens=128,
                  profile_path=str(directory))  # a path as a string: a plain value, kept
    before = estimate_inference(**kwargs)
    assert estimate_inference(**kwargs)._case is before._case
    path = directory / "toy.toml"
    text = path.read_text(encoding="utf-8")
    assert "100 TFLOP/s" in text, "test bug: the toy profile's bf16 peak"
    path.write_text(text.replace("100 TFLOP/s", "200 TFLOP/s"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = estimate_inference(**kwargs)
    assert after._profile is not before._profile
    assert after._case.hardware.peak == 2 * before._case.hardware.peak


def test_the_argument_places_the_prompt_cache_reads_are_those_of_resolve():
    import inspect

    names = list(inspect.signature(serving_case._resolve).parameters)[2:]  # after the calibration and the device
    assert [names[i] for i in (serving_case._PROMPT, serving_case._RATE, serving_case._CONCURRENCY, serving_case._STRICT)] == [
        "prompt_tokens", "rate", "concurrency", "strict"]


@pytest.mark.parametrize("kwargs", [k for k in CASES if "rate" not in k and "concurrency" not in k])
@pytest.mark.parametrize("prompt", [1, 777, 3000, 200_000])
def test_an_estimate_with_a_new_prompt_length_equals_one_resolved_afresh(kwargs, prompt):
    # an argument list resolved before but for its prompt length reuses that one's records
    # (serving_case._reprompted); its every figure, warning and error is that of a first estimate
    costmodel.estimate_inference(**{**kwargs, "prompt_tokens": 999})
    try:
        new = costmodel.estimate_inference(**{**kwargs, "prompt_tokens": prompt})
    except costmodel.CostModelError as error:
        _forget()
        with pytest.raises(type(error), match=re.escape(str(error))):
            costmodel.estimate_inference(**{**kwargs, "prompt_tokens": prompt})
        return
    _forget()
    assert _everything(new) == _everything(costmodel.estimate_inference(**{**kwargs, "prompt_tokens": prompt}))


def test_a_new_prompt_length_is_refused_as_before():
    kwargs = dict(model="llama-2-7b", hardware="h100", prompt_tokens=512, output_tokens=0)
    costmodel.estimate_inference(**kwargs)
    with pytest.raises(costmodel.InputError, match="at least one token"):
        costmodel.estimate_inference(**{**kwargs, "prompt_tokens": 0})
    with pytest.raises(costmodel.UnitError, match="prompt_tokens"):
        costmodel.estimate_inference(**{**kwargs, "prompt_tokens": -3})
    with pytest.raises(costmodel.InputError, match="exceeds the model's context"):
        costmodel.estimate_inference(**{**kwargs, "prompt_tokens": 9000, "strict": True})
    assert any("exceeds" in w for w in costmodel.estimate_inference(**{**kwargs, "prompt_tokens": 9000}).warnings)
