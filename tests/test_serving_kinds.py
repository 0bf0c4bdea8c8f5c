"""Models that do not generate: one pass, no KV cache, throughput in samples per second, and a
ViT's sequence from its patches."""

from dataclasses import replace

import pytest

import costmodel
from costmodel import estimate_inference


@pytest.mark.parametrize("model", ["bert-base", "distilbert-base", "vit-b-16", "resnet-50"])
def test_models_that_do_not_generate_keep_no_kv_cache_and_count_samples(model):
    est = estimate_inference(model, hardware="l4", prompt_tokens=128, output_tokens=64, batch_size=4)
    assert est.output_tokens == 0 and est.memory.kv_cache.magnitude == 0
    assert est.throughput is None and est.to_dict()["throughput_tok_s"] is None
    assert est.samples_per_second.to("1/s").magnitude == pytest.approx(4 / est.latency.to("s").magnitude)


def test_a_vit_sees_its_patches_whatever_the_prompt_says():
    a = estimate_inference("vit-b-16", hardware="l4", prompt_tokens=512, output_tokens=0)
    b = estimate_inference("vit-b-16", hardware="l4", prompt_tokens=1, output_tokens=0)
    assert a.prompt_tokens == b.prompt_tokens == (224 // 16) ** 2 + 1
    assert a.latency == b.latency


def test_an_encoder_s_sequence_is_its_input_length():
    short, long = (estimate_inference("bert-base", hardware="l4", prompt_tokens=p, output_tokens=0) for p in (64, 512))
    assert short.prompt_tokens == 64 and long.latency > short.latency


def test_generating_models_count_both():
    est = estimate_inference("llama-2-7b", hardware="h100", prompt_tokens=128, output_tokens=128, batch_size=8)
    latency = est.latency.to("s").magnitude
    assert est.throughput.to("token/s").magnitude == pytest.approx(8 * 128 / latency)
    assert est.samples_per_second.magnitude == pytest.approx(8 / latency)


def test_sweeps_report_the_same_samples_per_second():
    df = costmodel.sweep_inference(model=["bert-base", "vit-b-16"], hardware="l4", prompt_tokens=[64, 256],
                                   output_tokens=0, batch_size=[1, 8])
    for row in df.itertuples():
        est = estimate_inference(row.model, hardware="l4", prompt_tokens=64 if row.model == "vit-b-16" else
                                 row.prompt_tokens, output_tokens=0, batch_size=row.batch_size)
        assert row.samples_per_s == pytest.approx(est.samples_per_second.magnitude, rel=1e-12)
    assert set(df[df.model == "vit-b-16"].prompt_tokens) == {197}


@pytest.mark.parametrize("engine, model, expected", [
    # a fused graph: 7 kernels per transformer block, 3 per bottleneck and 1 per stage's projection, 4 at the ends
    ("tensorrt", "bert-base", 12 * 7 + 4), ("tensorrt", "resnet-50", 16 * 3 + 4 * 1 + 4),
    # eager: 30 operators per BertLayer, 10 per torchvision Bottleneck and 2 per downsample branch, 7 at the ends
    ("eager", "bert-base", 12 * 30 + 7), ("eager", "distilbert-base", 6 * 30 + 7), ("eager", "resnet-50", 16 * 10 + 4 * 2 + 7),
])
def test_a_pass_launches_the_kernels_of_its_layers_at_the_engine_s_fusion(engine, model, expected):
    est = estimate_inference(model, hardware="a10g", engine=engine, prompt_tokens=128, output_tokens=0)
    assert est._case.model.kernels == expected


def test_a_fused_resnet_launches_fewer_kernels_than_a_fused_bert():
    """ResNet-50 has 50 layers to BERT-base's 12, but a fused convolution is one kernel and a
    transformer block seven: at batch 1 under TensorRT, where launches dominate, the ResNet is the faster."""
    resnet, bert = (estimate_inference(m, hardware="l4", engine="tensorrt", prompt_tokens=128, output_tokens=0,
                                       dtype="w8a8") for m in ("resnet-50", "bert-base"))
    assert resnet._case.model.kernels < bert._case.model.kernels
    assert resnet.latency < bert.latency


def test_an_eager_step_takes_the_longer_of_host_dispatch_and_device_work():
    """PyTorch eager dispatches from the host while the device runs: while the host is the
    slower, a longer input costs nothing (the flat latencies of eager encoders at short inputs);
    a compiled engine's launches sit between its kernels and add to the device time."""
    from costmodel.calibration import default_calibration, serving_scenarios
    from costmodel.serving_timings import timings
    from costmodel.inference_estimate import typical_scenario

    eager = [estimate_inference("bert-base", hardware="a10g", engine="eager", prompt_tokens=p, output_tokens=0)
             for p in (8, 16)]
    assert eager[0]._case.hardware.overlap == 1.0
    assert eager[0].latency == eager[1].latency  # host-bound: the device's share hides behind the dispatch
    fused = [estimate_inference("bert-base", hardware="a10g", engine="tensorrt", prompt_tokens=p, output_tokens=0)
             for p in (128, 256)]  # past the weights' read: compute-bound
    assert fused[0]._case.hardware.overlap == 0.0 and fused[1].latency > fused[0].latency
    # the same pass with the overlap switched off is the sum of the two
    case = eager[0]._case
    pre = typical_scenario(serving_scenarios(default_calibration().serving)["prefill"])
    dec = typical_scenario(serving_scenarios(default_calibration().serving)["decode"])
    r = replace(case.request, prompt=8.0, output=0.0)
    overlapped = timings(case.model, case.hardware, r, pre, dec).latency
    summed = timings(case.model, replace(case.hardware, overlap=0.0), r, pre, dec).latency
    launches = case.model.kernels * case.hardware.launch_s
    assert overlapped == pytest.approx(case.hardware.step_fixed_s + launches, rel=1e-9)
    assert summed > overlapped and summed - overlapped < launches


def test_cpu_runtimes_do_not_overlap_dispatch_with_compute():
    """On a CPU the thread that dispatches an operator also runs it."""
    est = estimate_inference("resnet-50", hardware="xeon-platinum-8480-plus", engine="eager", prompt_tokens=1,
                             output_tokens=0)
    assert est._case.hardware.overlap == 0.0
