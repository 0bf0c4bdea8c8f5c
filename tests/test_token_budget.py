"""The runtime's token budget per forward step: engine defaults, chunked prefill, the cap on
requests in flight, and malformed input."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from costmodel import estimate_inference
from costmodel.engines import get_engine, token_budget
from costmodel.errors import InputError, UnitError
from costmodel.hardware import get_hardware
from costmodel.serving_timings import prefill_chunks

GIB = 2**30


def ms(q):
    return q.to("ms").magnitude


@pytest.mark.parametrize("engine, device, tokens", [
    ("vllm", "h100", 8192.0),  # at least 70 GiB, not an A100: the OpenAI server's larger default
    ("vllm", "h200-sxm-141gb", 8192.0),
    ("vllm", "a100-sxm4-80gb", 2048.0),  # excluded by name (vLLM PR #17885)
    ("vllm", "l4", 2048.0),
    ("tensorrt-llm", "h100", 8192.0),
    ("sglang", "l4", 2048.0),  # below 35 GiB
    ("sglang", "h200-sxm-141gb", 8192.0),  # below 160 GiB
    ("sglang", "b200", 16384.0),
    ("eager", "h100", math.inf),  # no sourced budget: none
    ("llama.cpp", "h100", math.inf),
])
def test_each_engine_has_its_documented_default_budget(engine, device, tokens):
    hw = get_hardware(device)
    assert token_budget(get_engine(engine), hw.id, hw.number("memory")) == tokens


@given(hs.integers(1, 10**7), hs.integers(1, 10**6))
def test_a_prompt_of_p_tokens_takes_ceil_p_over_b_prefill_steps(p, b):
    assert prefill_chunks(float(p), float(b)) == math.ceil(p / b)
    assert prefill_chunks(float(p), math.inf) == 1.0


@settings(max_examples=30, deadline=None)
@given(hs.integers(9000, 60000), hs.integers(64, 8192), hs.integers(1, 8))
def test_a_larger_budget_never_makes_a_lone_long_prompt_slower(prompt, budget, factor):
    kw = dict(model="llama-3.1-8b", hardware="h100", prompt_tokens=prompt, output_tokens=16)
    small = estimate_inference(**kw, max_batched_tokens=budget)
    large = estimate_inference(**kw, max_batched_tokens=budget * factor)
    assert ms(large.ttft) <= ms(small.ttft) * (1 + 1e-12)
    chunks = math.ceil(prompt / budget)
    assert f"prefilled in {chunks} step" in small.assumptions["token budget"]
    if chunks > 1:  # each chunk re-reads the weights and pays the step's overheads
        assert ms(small.ttft) > ms(estimate_inference(**kw, max_batched_tokens=10**8).ttft)


def test_chunks_add_a_step_overhead_and_a_weight_read_each():
    kw = dict(model="llama-3.1-8b", hardware="h100", prompt_tokens=32768, output_tokens=1)
    one = estimate_inference(**kw, max_batched_tokens=32768)
    many = estimate_inference(**kw, max_batched_tokens=512)  # 64 chunks
    h = one._case.hardware
    # 63 more steps, each at least the runtime's fixed cost and a read of the weights at the device's bandwidth
    floor_s = 63 * (h.step_fixed_s + 16e9 / h.bandwidth)
    assert (many.ttft - one.ttft).to("s").magnitude >= 0.5 * floor_s


@settings(max_examples=20, deadline=None)
@given(hs.integers(2, 64), hs.integers(2, 6))
def test_requests_in_flight_are_capped_by_the_budget_and_the_rest_wait(budget, times):
    kw = dict(model="llama-3.1-8b", hardware="h100", prompt_tokens=1, output_tokens=64, engine="sglang")
    capped = estimate_inference(**kw, batch_size=budget * times, max_batched_tokens=budget)
    free = estimate_inference(**kw, batch_size=budget * times)
    assert capped.to_dict()["in_flight"] == budget
    assert free.to_dict()["in_flight"] == budget * times
    assert any(f"token budget of {budget:,}" in w and "wait for a free slot" in w for w in capped.warnings)
    assert ms(capped.queue) > 0.0 and ms(free.queue) == 0.0
    assert ms(capped.ttft) > ms(free.ttft)


def test_prompts_arriving_together_queue_across_steps_of_the_budget():
    kw = dict(model="llama-3.1-8b", hardware="h100", prompt_tokens=4000, output_tokens=64, batch_size=32)
    roomy = estimate_inference(**kw, max_batched_tokens=10**6)
    tight = estimate_inference(**kw, max_batched_tokens=1024)  # 4 chunks a prompt
    assert ms(tight.ttft) > ms(roomy.ttft)


def test_the_budget_used_is_in_the_assumptions():
    est = estimate_inference("llama-3.1-8b", hardware="h100", prompt_tokens=20000, output_tokens=8)
    assert est.assumptions["token budget"].startswith("8,192 tokens per forward step")
    assert "prefilled in 3 steps" in est.assumptions["token budget"]
    eager = estimate_inference("llama-3.1-8b", hardware="h100", prompt_tokens=20000, output_tokens=8, engine="eager")
    assert eager.assumptions["token budget"].startswith("none")


def test_a_count_string_is_accepted():
    kw = dict(model="llama-3.1-8b", hardware="h100", prompt_tokens=20000, output_tokens=8)
    assert ms(estimate_inference(**kw, max_batched_tokens="2048 token").ttft) == \
        ms(estimate_inference(**kw, max_batched_tokens=2048).ttft)


@pytest.mark.parametrize("value", [0, -1, 2.5, "abc", "80 GB", math.nan, math.inf, 1e12, True, "", None.__class__])
def test_a_malformed_budget_is_refused_in_one_line(value):
    with pytest.raises((InputError, UnitError)) as err:
        estimate_inference("llama-3.1-8b", hardware="h100", prompt_tokens=8, output_tokens=8, max_batched_tokens=value)
    assert err.value.argument == "max_batched_tokens"
    assert "\n" not in str(err.value)


@settings(max_examples=60, deadline=None)
@given(hs.one_of(hs.text(max_size=12), hs.floats(allow_nan=True, allow_infinity=True), hs.integers(-10**12, 10**12),
                 hs.booleans(), hs.lists(hs.integers(), max_size=2)))
def test_hostile_budgets_give_a_result_or_a_clear_error(value):
    try:
        est = estimate_inference("llama-3.1-8b", hardware="h100", prompt_tokens=8, output_tokens=8,
                                 max_batched_tokens=value)
    except (InputError, UnitError) as err:
        assert err.argument == "max_batched_tokens" and "\n" not in str(err)
    else:
        assert 1 <= est._case.hardware.token_budget <= 1e9
        assert math.isfinite(ms(est.ttft))


def test_the_cli_takes_the_budget_and_refuses_a_bad_one():
    from click.testing import CliRunner

    from costmodel.cli import main

    ok = CliRunner().invoke(main, ["infer", "llama-3.1-8b", "--hardware", "h100", "--prompt", "20000", "--output", "8",
                                   "--max-batched-tokens", "512", "--json"])
    assert ok.exit_code == 0, ok.output
    import json
    assert "512 tokens per forward step" in json.loads(ok.output)["assumptions"]["token budget"]
    bad = CliRunner().invoke(main, ["infer", "llama-3.1-8b", "--hardware", "h100", "--max-batched-tokens", "0"])
    assert bad.exit_code != 0 and "--max-batched-tokens" in bad.output and bad.output.count("\n") <= 2
