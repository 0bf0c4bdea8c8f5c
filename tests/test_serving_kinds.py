"""Models that do not generate: one pass, no KV cache, throughput in samples per second, and a
ViT's sequence from its patches."""

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
