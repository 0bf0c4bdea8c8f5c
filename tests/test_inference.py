"""Inference estimates: roofline bounds, memory fit, batching, bad input, properties."""

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as hs

import costmodel
from costmodel import estimate_inference
from costmodel.calibration import default_calibration
from costmodel.engines import engine_constants, get_engine, kernels_per_pass

LLAMA7 = dict(model="llama-2-7b", hardware="a100-sxm4-80gb")


def test_decode_of_a_7b_model_is_bound_by_reading_the_weights():
    est = estimate_inference(**LLAMA7, prompt_tokens=128, output_tokens=128)
    cal = default_calibration().serving
    k = engine_constants(cal, get_engine(est.engine))
    weights = 6.74e9 * 2
    kv = 32 * 2 * 32 * 128 * 2 * (128 + 64)  # layers x K,V x heads x head_dim x bytes x avg context
    bandwidth = 2.039e12 * min(1.0, cal.bandwidth_fraction * k.efficiency)
    kernels = kernels_per_pass(get_engine(est.engine), blocks=32)  # a fused graph: 7 kernels per block, stem and head
    expected = (weights + kv) / bandwidth + k.fixed_s + kernels * k.launch_s  # the engine's per-step and per-launch cost
    assert est.tpot.to("s").magnitude == pytest.approx(expected, rel=0.02)
    assert est.bound == {"prefill": "compute", "decode": "memory"}
    assert est.latency.to("s").magnitude == pytest.approx(
        est.ttft.to("s").magnitude + 127 * est.tpot.to("s").magnitude, rel=1e-9)
    assert est.throughput.to("token/s").magnitude == pytest.approx(128 / est.latency.to("s").magnitude)


def test_gqa_shrinks_the_kv_cache():
    # Llama-2-70B has 8 KV heads for 64 query heads: 8x less cache than full attention
    est = estimate_inference("llama-2-70b", hardware="h100", n_gpus=4, prompt_tokens=1000, output_tokens=1000,
                             batch_size=10)
    per_token = 80 * 2 * 8 * 128 * 2
    assert est.memory.kv_cache.to("byte").magnitude == pytest.approx(10 * 2000 * per_token / 4)


def test_mla_caches_the_latent_only():
    est = estimate_inference("deepseek-v3", hardware="h200", n_gpus=8, prompt_tokens=1000, output_tokens=0,
                             dtype="fp8")
    per_token = 61 * (512 + 64) * 1  # kv_lora_rank + rope dim, fp8
    assert est.memory.kv_cache.to("byte").magnitude == pytest.approx(1000 * per_token / 8)


def test_moe_decode_reads_only_the_experts_it_hits():
    one = estimate_inference("mixtral-8x7b", hardware="h100", n_gpus=2, prompt_tokens=100, output_tokens=100)
    dense_like = estimate_inference(params="46.7B", hardware="h100", n_gpus=2, prompt_tokens=100,
                                    output_tokens=100)
    # at batch 1, 2 of 8 experts per layer are read: far less than all 46.7B parameters
    assert one.tpot.magnitude < 0.6 * dense_like.tpot.magnitude


def test_model_that_does_not_fit_says_what_would():
    est = estimate_inference("llama-2-70b", hardware="a100-sxm4-40gb", prompt_tokens=512, output_tokens=128)
    assert not est.fits
    assert est.min_gpus == 4  # 138 GB of bf16 weights over 40 GiB devices
    # A100 has no fp8 and 8-bit weights (69 GB) are still too big; 4-bit weight-only (34.5 GB) fits
    assert est.fitting_dtype == "w4a16"
    est8 = estimate_inference("llama-2-13b", hardware="l4", prompt_tokens=512, output_tokens=128)
    assert not est8.fits and est8.fitting_dtype in ("fp8", "w8a16")
    with pytest.raises(costmodel.InputError, match="batch_size: 1 requests need .* GiB per device"):
        estimate_inference("llama-2-70b", hardware="a100-sxm4-40gb", prompt_tokens=512, output_tokens=128,
                           strict=True)


def test_max_batch_size_is_the_largest_that_fits():
    static = dict(LLAMA7, prompt_tokens=1024, output_tokens=1024, batching="static")
    est = estimate_inference(**static, batch_size=8)
    at_max = estimate_inference(**static, batch_size=est.max_batch_size)
    over = estimate_inference(**static, batch_size=est.max_batch_size + 1)
    assert at_max.fits and not over.fits


def test_continuous_batching_queues_what_does_not_fit():
    kw = dict(LLAMA7, prompt_tokens=1024, output_tokens=1024)
    limit = estimate_inference(**kw, batch_size=8).max_batch_size
    at_max = estimate_inference(**kw, batch_size=limit)
    twice = estimate_inference(**kw, batch_size=2 * limit)
    assert at_max.fits and twice.fits and at_max.queue.magnitude == 0
    # the second half waits one whole request for a slot: half of the requests wait one latency
    assert twice.queue.to("s").magnitude == pytest.approx(at_max.latency.to("s").magnitude / 2, rel=1e-9)
    assert twice.ttft.to("s").magnitude == pytest.approx(
        at_max.ttft.to("s").magnitude + at_max.latency.to("s").magnitude / 2, rel=1e-9)
    assert twice.tpot == at_max.tpot and twice.to_dict()["in_flight"] == limit
    assert any("wait for a free slot" in w for w in twice.warnings)


def test_encoders_vision_and_linear_are_one_forward_pass():
    bert = estimate_inference("bert-base", hardware="t4", prompt_tokens=128, output_tokens=0, batch_size=8)
    assert bert.tpot.magnitude == 0  # one pass: the latency is the TTFT (to a unit conversion's last bit)
    assert bert.latency.to("s").magnitude == pytest.approx(bert.ttft.to("s").magnitude, rel=1e-12)
    resnet = estimate_inference("resnet-50", hardware="jetson-agx-orin-64gb", prompt_tokens=1, output_tokens=0)
    assert resnet.output_tokens == 0 and resnet.cost_per_million_tokens is None
    lin = estimate_inference("linear-regression", hardware="epyc-9654", prompt_tokens=1, output_tokens=0)
    seconds = lin.latency.to("s").magnitude
    assert 0 < seconds < 0.01 and math.isfinite(seconds)


def test_context_longer_than_the_model_warns_or_raises():
    est = estimate_inference(**LLAMA7, prompt_tokens=4000, output_tokens=500)
    assert est.warnings and "exceeds the model's context of 4096" in est.warnings[0]
    with pytest.raises(costmodel.InputError, match="exceeds the model's context"):
        estimate_inference(**LLAMA7, prompt_tokens=4000, output_tokens=500, strict=True)


def test_continuous_batching_interleaves_prefills():
    static = estimate_inference("llama-3.1-70b", hardware="h100", n_gpus=2, dtype="fp8", prompt_tokens=5000,
                                output_tokens=500, batch_size=50, batching="static")
    cont = estimate_inference("llama-3.1-70b", hardware="h100", n_gpus=2, dtype="fp8", prompt_tokens=5000,
                              output_tokens=500, batch_size=50, batching="continuous")
    assert cont.ttft.magnitude < static.ttft.magnitude / 10  # one prompt at a time, not 50
    assert cont.tpot.magnitude > static.tpot.magnitude  # decode steps share time with prefills


def test_energy_and_cost_per_request():
    est = estimate_inference(**LLAMA7, prompt_tokens=128, output_tokens=128, batch_size=16,
                             price_per_gpu_hour="$2/h", power_per_gpu="300 W", host_power_per_gpu=0, pue=1.0)
    seconds = est.latency.to("s").magnitude
    assert est.energy.to("J").magnitude == pytest.approx(300 * seconds / 16, rel=1e-9)
    assert est.cost.to("USD").magnitude == pytest.approx(2 * seconds / 3600 / 16, rel=1e-9)
    # a request's cost splits between its input (its prefill) and its output (its share of the decode steps)
    per_in = est.cost_per_million_input_tokens.to("USD").magnitude
    per_out = est.cost_per_million_tokens.to("USD").magnitude
    assert per_in * 128 / 1e6 + per_out * 128 / 1e6 == pytest.approx(est.cost.to("USD").magnitude, rel=1e-9)
    assert per_in < per_out  # a compute-bound prefill of 128 tokens costs less than 128 memory-bound steps


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(prompt_tokens=0, output_tokens=0), costmodel.InputError, "at least one token"),
    (dict(prompt_tokens=-1, output_tokens=10), costmodel.UnitError, "prompt_tokens: .*zero or more"),
    (dict(prompt_tokens=10, output_tokens=10, batch_size=0), costmodel.UnitError, "batch_size: .*more than zero"),
    (dict(prompt_tokens=10, output_tokens=10, dtype="fp8"), costmodel.InputError, "does not support fp8"),
    (dict(prompt_tokens=10, output_tokens=10, dtype="fp12"), costmodel.InputError, "dtype: expected one of"),
    (dict(prompt_tokens=10, output_tokens=10, batching="eager"), costmodel.InputError, "batching: expected"),
    (dict(prompt_tokens="10 GB", output_tokens=10), costmodel.UnitError, "prompt_tokens: expected a count"),
])
def test_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        estimate_inference(**LLAMA7, **kwargs)


# ---- properties -------------------------------------------------------------------------

models = hs.sampled_from(["llama-2-7b", "llama-2-70b", "llama-3.1-405b", "mixtral-8x7b", "gpt-j-6b", "falcon-180b"])
devices = hs.sampled_from(["a100-sxm4-80gb", "h100-sxm5-80gb", "h200-sxm-141gb", "mi300x", "l40s"])
tp = hs.sampled_from([1, 2, 4, 8])
tokens = hs.integers(min_value=1, max_value=4000)
batches = hs.integers(min_value=1, max_value=512)


@given(models, devices, tp, tokens, tokens, batches)
def test_tpot_never_beats_reading_the_bytes(model, hw, n, prompt, output, batch):
    est = estimate_inference(model, hardware=hw, n_gpus=n, prompt_tokens=prompt, output_tokens=output + 1,
                             batch_size=batch, batching="static")
    spec, prof = costmodel.get_model(model), costmodel.get_hardware(hw)
    from costmodel.architecture import expert_parameters
    experts_hit = 0 if not spec.experts else 1 - (1 - spec.experts_per_token / spec.experts) ** batch
    weight_bytes = 2 * (spec.params.magnitude - expert_parameters(spec) * (1 - experts_hit))
    floor = weight_bytes / (n * prof.number("memory_bandwidth"))
    assert est.tpot.to("s").magnitude >= floor * (1 - 1e-9)
    prefill_flops = 2 * spec.active_params.magnitude * prompt * batch
    assert est.ttft.to("s").magnitude >= prefill_flops / (n * prof.peak_flops()) * (1 - 1e-9)


@given(models, devices, tokens, tokens, hs.integers(min_value=1, max_value=1000))
def test_latency_grows_with_output_tokens(model, hw, prompt, output, more):
    a = estimate_inference(model, hardware=hw, n_gpus=8, prompt_tokens=prompt, output_tokens=output)
    b = estimate_inference(model, hardware=hw, n_gpus=8, prompt_tokens=prompt, output_tokens=output + more)
    assert b.latency.magnitude > a.latency.magnitude


@given(models, devices, tokens, hs.integers(min_value=1, max_value=256))
def test_throughput_does_not_fall_with_batch_while_memory_bound(model, hw, prompt, batch):
    a = estimate_inference(model, hardware=hw, n_gpus=8, prompt_tokens=prompt, output_tokens=256, batch_size=batch)
    b = estimate_inference(model, hardware=hw, n_gpus=8, prompt_tokens=prompt, output_tokens=256,
                           batch_size=batch + 1)
    if a.bound["decode"] == "memory" and b.bound["decode"] == "memory" and a.fits and b.fits:
        assert b.throughput.magnitude >= a.throughput.magnitude * (1 - 1e-9)


@given(models, devices, tokens, batches)
def test_more_bytes_per_weight_never_decodes_faster(model, hw, prompt, batch):
    fp8_ok = "fp8" in costmodel.get_hardware(hw).dense
    # static: under continuous batching smaller weights fit more requests in flight, and each step grows
    small = estimate_inference(model, hardware=hw, n_gpus=8, prompt_tokens=prompt, output_tokens=64,
                               batch_size=batch, dtype="fp8" if fp8_ok else "int8", kv_dtype="bf16", batching="static")
    big = estimate_inference(model, hardware=hw, n_gpus=8, prompt_tokens=prompt, output_tokens=64,
                             batch_size=batch, dtype="bf16", kv_dtype="bf16", batching="static")
    assert big.tpot.magnitude >= small.tpot.magnitude * (1 - 1e-9)


@given(hs.sampled_from([1, 2, 4, 8, 16, 64]), hs.floats(1e3, 1e9), hs.floats(1e-7, 1e-4))
def test_allreduce_scalar_and_array_forms_agree(tp, message, latency):
    import numpy as np

    from costmodel.inference import allreduce_seconds

    scalar = allreduce_seconds(message, tp, 450e9, latency, 8.0)
    array = allreduce_seconds(message, np.array([float(tp)]), 450e9, latency, 8.0)
    assert float(scalar) == pytest.approx(float(array[0]), rel=1e-12, abs=1e-18)
    # a ring moves 2 (tp - 1) / tp of the message; inside a node (8 devices) one shot between two
    # barriers pays 2 latencies whatever tp is, across nodes a tree 2 log2(tp)
    if tp > 1:
        steps = 2.0 if tp <= 8 else 2 * np.log2(tp)
        expected = steps * latency + 2 * (tp - 1) / tp * message / 450e9
        assert float(scalar) == pytest.approx(expected, rel=1e-12)


def test_a_measured_gemm_ceiling_caps_the_matmuls_of_a_power_capped_device():
    """A T4 sustains 24 TFLOP/s of FP16 matmuls under its 70 W power cap (its profile's measured
    GEMM rate), below the fitted fraction of its 65 TFLOP/s peak: a compute-bound forward pass
    then takes its roofline at the ceiling, the runtime's overheads unchanged. Devices whose
    measured rate sits above the fitted fraction (an A100's 271 of 312) are not capped."""
    import dataclasses

    from costmodel.serving_pipeline import evaluate, typical

    est = estimate_inference("bert-large", hardware="t4", prompt_tokens=384, output_tokens=0, batch_size=64,
                             dtype="fp16", engine="tensorrt")
    assert est.bound["prefill"] == "compute"
    case = typical(est._case)
    h = case.hardware
    assert (h.peak, h.ceiling) == (65e12, 24e12)
    share = min(case.prefill.compute_fraction * h.efficiency, 1.0)
    assert share * h.peak > h.ceiling  # the cap binds
    free = evaluate(dataclasses.replace(case, hardware=dataclasses.replace(h, ceiling=math.inf))).timings.latency
    capped = evaluate(case).timings.latency
    overheads = h.step_fixed_s + case.model.kernels * h.launch_s  # a compiled engine's launches add to the roofline
    assert (capped - overheads) / (free - overheads) == pytest.approx(share * h.peak / h.ceiling, rel=1e-9)
    a100 = typical(estimate_inference("bert-large", hardware="a100-sxm4-80gb", prompt_tokens=384, output_tokens=0,
                                       batch_size=64, dtype="bf16", engine="tensorrt")._case).hardware
    assert a100.ceiling == pytest.approx(271.2e12) and share * a100.peak < a100.ceiling


def test_a_runtime_that_mixes_prefills_into_the_decode_step_pays_no_step_of_their_own():
    """A toy 1B-parameter model (2 GB of weights, 0.1 MB of KV cache per token) on a device of
    1 PFLOP/s and 2 TB/s with a 1 ms cost per step, 3 requests in flight, 100 tokens in and 10
    out: every step is bound by reading the weights. Without mixing, each request's 10 steps
    hold the other 2 requests' prefills, each a step of its own (its weights read, 1.005 ms, plus
    the 1 ms step): 2.01575 ms (the step at 105 tokens of context: 2.0315 GB read, plus 1 ms) +
    2 x 2.005 ms / 10 = 2.41675 ms per token. Mixed in, 0.2 prompts ride on each step and add only
    their 20 tokens' KV writes (2 MB, 1 us) and FLOPs (hidden under the matmuls' weight reads): 2.01675 ms. The
    difference is 0.2 x (a weight read + a step) = 0.4 ms; TTFT is the same either way."""
    from costmodel import inference as core
    from costmodel.serving_timings import timings

    m = core.ServingModel(params=1e9, active_params=1e9, weight_bytes=2e9, kv_per_token=1e5)
    cal = core.PhaseConstants(compute_fraction=1.0, bandwidth_fraction=1.0, overhead_scale=1.0,
                              allreduce_latency_s=0.0)
    r = core.Request(n=1.0, batch=3.0, prompt=100.0, output=10.0)
    h = core.ServingHardware(peak=1e15, bandwidth=2e12, capacity=80e9, tdp=700.0, link=450e9, step_fixed_s=1e-3)
    apart = timings(m, h, r, cal, cal)
    mixed = timings(m, dataclasses.replace(h, mixed=1.0), r, cal, cal)
    assert float(apart.tpot) == pytest.approx(2.41675e-3, rel=1e-12)
    assert float(mixed.tpot) == pytest.approx(2.01675e-3, rel=1e-12)
    assert float(mixed.ttft) == float(apart.ttft)
    # 1000-token prompts on a 100 TFLOP/s device, 1 MB of KV cache per token: the prompts' 200
    # tokens a step take 4 ms of matmuls (4e11 FLOPs), 3.06 ms beyond the weights' 1 ms read; the
    # decode's attention reads 3.015 GB of KV cache (1.5075 ms) in kernels of its own, which hide
    # none of it. Mixed: 3.5075 ms (the decode step) + 3.06 ms + 0.1 ms of KV writes = 6.6675 ms;
    # apart: 3.5075 ms + 2 x 21 ms / 10 (a 1000-token prefill: 20 ms of FLOPs + the 1 ms step).
    h2, r2 = dataclasses.replace(h, peak=1e14), dataclasses.replace(r, prompt=1000.0)
    m2 = dataclasses.replace(m, kv_per_token=1e6)
    assert float(timings(m2, dataclasses.replace(h2, mixed=1.0), r2, cal, cal).tpot) == \
        pytest.approx(6.6675e-3, rel=1e-12)
    assert float(timings(m2, h2, r2, cal, cal).tpot) == pytest.approx(7.7075e-3, rel=1e-12)
    static = dataclasses.replace(r, continuous=0.0)  # a static batch has no prefills to mix in
    assert float(timings(m, dataclasses.replace(h, mixed=1.0), static, cal, cal).tpot) == \
        float(timings(m, h, static, cal, cal).tpot)


def test_which_engines_mix_prefills_in_follows_their_schedulers():
    """TensorRT-LLM's in-flight batching and vLLM V1's token budget put prompts and decodes in
    one step; SGLang only with --enable-mixed-chunk (off by default); an engine without a source
    keeps a step per prefill. The estimate carries the flag to its step model."""
    assert [get_engine(e).mixed_prefill for e in ("tensorrt-llm", "vllm", "sglang", "tgi")] == [True, True, False, False]
    from costmodel.serving_pipeline import typical

    kw = dict(model="llama-3.1-8b", hardware="h100", prompt_tokens=128, output_tokens=128, batch_size=64)
    assert typical(estimate_inference(**kw, engine="tensorrt-llm")._case).hardware.mixed == 1.0
    assert typical(estimate_inference(**kw, engine="sglang")._case).hardware.mixed == 0.0
