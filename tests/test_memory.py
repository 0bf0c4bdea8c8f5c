"""Training memory: activations against published figures, sequence parallelism, CNN feature
maps, shapes derived from a parameter count, and the layout functions on floats and arrays."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

import costmodel
from costmodel import memory as mem
from costmodel.architecture import bottleneck_parameters
from costmodel.models import ModelSpec, get_model, list_models
from costmodel.training_estimate import estimate_training

import strategies as st

GIB = 2**30
with (Path(__file__).parent / "data" / "activation_memory.csv").open(newline="") as _f:
    ROWS = list(csv.DictReader(_f))


def _paper_model(layers: int, d_model: int, heads: int, vocab: int) -> ModelSpec:
    """A GPT of the paper's Table 3 given by its shape (12 L h^2 parameters)."""
    return ModelSpec.from_mapping({
        "id": f"gpt-{layers}x{d_model}", "name": "GPT (Korthikanti et al. 2022, Table 3)", "family": "gpt",
        "kind": "dense-decoder", "params": float(12 * layers * d_model**2), "layers": layers, "d_model": d_model,
        "heads": heads, "vocab": vocab, "context": 2048, "source": "Korthikanti et al. 2022, Table 3",
        "retrieved": "2026-11-23"})


@pytest.mark.parametrize("row", ROWS, ids=[r["case"] for r in ROWS])
def test_activations_per_gpu_reproduce_korthikanti(row):
    # the first pipeline stage's activations per GPU, as the paper counts them (see the source
    # column: its totals are derived from its own formulas, the figures being bar charts)
    n = {k: int(row[k]) for k in ("layers", "d_model", "heads", "vocab", "seq_len", "micro_batch", "tp", "pp")}
    # (Megatron-LM of 2022, without a fused attention kernel: its scores are kept)
    est = estimate_training(_paper_model(n["layers"], n["d_model"], n["heads"], n["vocab"]), tokens="1B",
                            hardware="a100-sxm4-80gb", n_gpus=n["tp"] * n["pp"], tp=n["tp"], pp=n["pp"],
                            seq_len=n["seq_len"], micro_batch=n["micro_batch"], recompute=row["recompute"],
                            sequence_parallel=row["sequence_parallel"] == "true", flash_attention=False)
    assert est.memory.activations.to("GiB").magnitude == pytest.approx(float(row["activations_GiB"]), rel=0.05)


@pytest.mark.parametrize("layers, d_model, heads, tp, pp, saving", [
    (96, 12288, 96, 8, 8, 0.70),     # GPT-3 175B: "70%" (Sec. 5)
    (105, 20480, 128, 8, 35, 0.65),  # MT-NLG 530B: "65%" (Sec. 5)
])
def test_selective_recomputation_saves_what_the_paper_states(layers, d_model, heads, tp, pp, saving):
    # Korthikanti et al. 2022, Sec. 5: selective recomputation cuts activation memory by 70%
    # for GPT-3 and 65% for MT-NLG (5as/h = 80 and 64 against the other 34); the text rounds
    # to whole per cent
    model = _paper_model(layers, d_model, heads, 51200)
    kw = dict(tokens="1B", hardware="a100-sxm4-80gb", n_gpus=tp * pp, tp=tp, pp=pp, sequence_parallel=True,
              flash_attention=False)
    none = estimate_training(model, recompute="none", **kw).memory.activations
    selective = estimate_training(model, recompute="selective", **kw).memory.activations
    assert 1 - selective / none == pytest.approx(saving, abs=0.01)


@pytest.mark.parametrize("layers, d_model, heads, pp", [(96, 12288, 96, 8), (105, 20480, 128, 35),
                                                        (128, 25600, 160, 64)])
def test_both_techniques_cut_activations_fivefold(layers, d_model, heads, pp):
    # the paper's abstract: sequence parallelism with selective recomputation "reduces activation
    # memory by 5x" against tensor parallelism alone (t = 8); 4.97x to 5.42x across Table 3
    kw = dict(tokens="1B", hardware="a100-sxm4-80gb", n_gpus=8 * pp, tp=8, pp=pp, flash_attention=False)
    model = _paper_model(layers, d_model, heads, 51200)
    baseline = estimate_training(model, recompute="none", sequence_parallel=False, **kw).memory.activations
    both = estimate_training(model, recompute="selective", sequence_parallel=True, **kw).memory.activations
    assert baseline / both == pytest.approx(5.0, rel=0.1)


def test_sequence_parallelism_is_on_by_default_with_tensor_parallelism():
    kw = dict(tokens="1B", hardware="a100-sxm4-80gb", n_gpus=64, tp=8, pp=1)
    default = estimate_training("gpt3-175b", **kw)
    assert default.memory.activations == estimate_training("gpt3-175b", sequence_parallel=True, **kw).memory.activations
    assert default.assumptions["sequence_parallel"].startswith("on (Megatron-LM's default")
    off = estimate_training("gpt3-175b", sequence_parallel=False, **kw)
    assert off.assumptions["sequence_parallel"].startswith("off (given)")
    # without it the 10 s b h of norms and dropouts per layer stays whole on each of the 8
    # devices, and so do the embedding dropout and output-layer input (5 s b h) outside them;
    # the fp32 logits (4 s b v) are split by vocabulary either way
    logits = 4 * 50257 / 12288
    on, off_ = (96 * 34 + 5 + logits) / 8, (96 * 24 + logits) / 8 + 96 * 10 + 5
    assert (off.memory.activations / default.memory.activations).magnitude == pytest.approx(off_ / on, rel=1e-9)
    one = dict(tokens="1B", hardware="a100-sxm4-80gb", n_gpus=8, tp=1)
    assert (estimate_training("gpt2", sequence_parallel=False, **one).memory.activations
            == estimate_training("gpt2", **one).memory.activations)


def test_a_sweep_takes_sequence_parallelism():
    df = costmodel.sweep_training(model="gpt3-175b", tokens="1B", hardware="a100-sxm4-80gb", n_gpus=64, tp=8,
                                  sequence_parallel=[None, True, False])
    for value, got in zip([None, True, False], df["memory_activations_GiB"]):
        est = estimate_training("gpt3-175b", tokens="1B", hardware="a100-sxm4-80gb", n_gpus=64, tp=8,
                                sequence_parallel=value)
        assert got == pytest.approx(est.memory.activations.to("GiB").magnitude, rel=1e-12)


def test_sequence_parallel_must_be_a_flag():
    with pytest.raises(costmodel.InputError, match="sequence_parallel: expected True, False or None"):
        estimate_training("gpt2", tokens="1B", hardware="a100", n_gpus=8, sequence_parallel="yes")


# ---- vision ----------------------------------------------------------------------------------

def test_resnet_50_stages_reproduce_its_parameters():
    # torchvision's resnet50 has 25,557,032 weights: the catalog's stages are the model's
    assert bottleneck_parameters(get_model("resnet-50")) == 25_557_032


def test_resnet_50_feature_maps_match_convnet_burden():
    # albanie/convnet-burden, reports/resnet50.md (torchvision's model): "Memory required for
    # features: 107 MB" for one 224 x 224 image, 4-byte floats, every layer's output once,
    # ReLUs in place, MB = 2^20 bytes, printed to the whole MB (so within 0.5%)
    fp32 = estimate_training("resnet-50", hardware="v100-sxm2-32gb", n_gpus=1, dtype="fp32")
    assert fp32.memory.activations.to("MiB").magnitude == pytest.approx(107, rel=0.01)
    # 16-bit training stores them at 2 bytes; a micro-batch of 32 holds 32 images' worth
    bf16 = estimate_training("resnet-50", hardware="a100", n_gpus=1, micro_batch=32)
    assert bf16.memory.activations.to("MiB").magnitude == pytest.approx(32 * 107 / 2, rel=0.01)
    assert bf16.assumptions["shape"].startswith("resnet-50's bottleneck stages")


def test_vit_activations_use_its_patches_and_class_token():
    # ViT-B/16 at 224 x 224: 196 patches + 1 class token; 12 layers, h 768, 12 heads
    sbh = 197 * 768
    sel = estimate_training("vit-b-16", hardware="a100-sxm4-80gb", n_gpus=1)
    assert sel.memory.activations.to("byte").magnitude == pytest.approx(sbh * (12 * 34 + 1 + 4))
    none = estimate_training("vit-b-16", hardware="a100-sxm4-80gb", n_gpus=1, recompute="none", flash_attention=False)
    assert none.memory.activations.to("byte").magnitude == pytest.approx(sbh * (12 * (34 + 5 * 12 * 197 / 768) + 5))


@pytest.mark.parametrize("sequence_parallel", [True, False])
def test_a_fused_attention_kernel_keeps_no_scores(sequence_parallel):
    # FlashAttention (Dao et al. 2022) recomputes the scores in its backward pass: without
    # recomputation a layer holds what selective recomputation holds, 34 s b h with sequence
    # parallelism (Korthikanti et al. 2022, Table 2), and the 5 a s / h of scores come back
    # without the fused kernel (GPT-3 175B at t = 8: 5 a s / h = 80)
    kw = dict(tokens="1B", hardware="a100-sxm4-80gb", n_gpus=64, tp=8, pp=8, sequence_parallel=sequence_parallel)
    model = _paper_model(96, 12288, 96, 51200)
    none, selective, unfused = (estimate_training(model, recompute=r, flash_attention=f, **kw).memory.activations
                                for r, f in (("none", True), ("selective", True), ("none", False)))
    assert none == selective
    sbh = 2048 * 12288
    assert (unfused - none).to("byte").magnitude == pytest.approx(96 * sbh * 80 / 8)


def test_a_fused_attention_kernel_lets_a_small_model_train_without_tensor_parallelism():
    # TinyLlama 1.1B (22 x 2048, 32 heads) on 16 A100-40GB: micro-batches of 8 x 2048 tokens
    # without recomputation under ZeRO-3, as its authors trained it (tp 1; jzhang38/TinyLlama);
    # with the 5 a s / h of scores kept the activations would be 133 GiB a device
    model = ModelSpec.from_mapping({
        "id": "tinyllama-like", "name": "TinyLlama-shaped", "family": "llama", "kind": "dense-decoder",
        "params": 1.1e9, "layers": 22, "d_model": 2048, "heads": 32, "vocab": 32000, "context": 2048,
        "source": "jzhang38/TinyLlama README", "retrieved": "2026-12-04"})
    kw = dict(tokens="300B", hardware="a100-sxm4-40gb", n_gpus=16, seq_len=2048, micro_batch=8, recompute="none",
              zero_stage=3, global_batch="2097152 token")
    fused = estimate_training(model, **kw)
    assert fused.assumptions["tp"] == 1 and fused.memory_per_gpu.to("GiB").magnitude < 40
    unfused = estimate_training(model, flash_attention=False, tp=1, **kw)
    assert unfused.memory.activations.to("GiB").magnitude == pytest.approx(133.4, rel=0.01)


# ---- a shape from the parameter count ----------------------------------------------------------

@pytest.mark.parametrize("recompute", ["selective", "none"])
def test_a_parameter_count_gets_the_activations_of_a_model_that_size(recompute):
    # a 13B model given only by params, against the catalogued llama-2-13b (40 x 5120, 40 heads)
    kw = dict(tokens="1T", hardware="h100", n_gpus=8, tp=1, seq_len=4096, micro_batch=1, recompute=recompute)
    derived = estimate_training(params="13B", **kw)
    llama = estimate_training("llama-2-13b", **kw)
    assert derived.memory.activations.magnitude == pytest.approx(llama.memory.activations.magnitude, rel=0.25)
    assert derived.assumptions["shape"].startswith("derived from params (aspect ratio fitted on the catalog's")
    assert derived.flops.to("FLOP").magnitude == pytest.approx(6 * 13e9 * 1e12, rel=1e-12)  # FLOPs stay 6 N D
    assert estimate_training(params="13B", tokens="1T", hardware="h100", n_gpus=8).assumptions["seq_len"] == 2048


def test_the_shape_fit_matches_the_catalog():
    # refitting on today's catalog gives the documented exponents (a guard against drift)
    decoders = [m for m in list_models() if m.kind == "dense-decoder"]
    n = np.log([m.params.magnitude for m in decoders])
    d_exp = np.polyfit(n, np.log([m.d_model for m in decoders]), 1)[0]
    layers_exp = np.polyfit(n, np.log([m.layers for m in decoders]), 1)[0]
    assert d_exp == pytest.approx(mem.SHAPE_FIT["d_exp"], abs=0.03)
    assert layers_exp == pytest.approx(mem.SHAPE_FIT["layers_exp"], abs=0.03)
    assert mem.shape_from_params(175e9) == (87.0, 12800.0, 100.0)  # GPT-3: 96 layers, 12288, 96 heads


def test_a_derived_shape_does_not_constrain_tensor_parallelism():
    # 13B derives 36 heads, which 8 does not divide; a guess must not refuse a layout
    est = estimate_training(params="13B", tokens="1T", hardware="h100", n_gpus=8, tp=8)
    assert est.tp == 8


# ---- the layout functions --------------------------------------------------------------------

def test_layout_functions_broadcast_over_arrays():
    n = np.array([1e9, 7e9, 70e9])
    tp, w, g, o, a = mem.plan_memory(*mem.state_bytes(n), 8.0, 80 * 2**30, np.array([1e9, 1e10, 1e12]), np.nan, 1.0,
                                     3.0)
    assert tp.shape == (3,) and list(tp) == [1.0, 1.0, 8.0]
    split, whole = mem.activation_bytes(np.array([32.0, 80.0]), 4096.0, 1.0, 4096.0, 32.0, 1.0, np.array([0.0, 1.0]))
    assert split.shape == whole.shape == (2,) and whole[1] == 0.0


@given(st.params, st.devices, hs.sampled_from([np.nan, 1.0, 2.0, 8.0]), hs.sampled_from([0.0, 1.0, 2.0, 3.0]),
       hs.sampled_from([0.0, 2e9]))
def test_memory_layout_scalar_and_array_paths_agree(n, gpus, tp, zero, whole):
    # the one-configuration shortcut in plan_memory must match the vectorised path exactly
    if not np.isnan(tp) and tp > gpus:
        tp = np.nan
    states = mem.state_bytes(n)
    scalar = mem.plan_memory(*states, float(gpus), 80 * 2**30, 3e10, tp, 1.0, zero, whole)
    arrays = mem.plan_memory(*(np.array([s]) for s in states), np.array([float(gpus)]), 80 * 2**30, np.array([3e10]),
                             np.array([tp]), 1.0, zero, np.array([whole]))
    for a, b in zip(scalar, arrays):
        assert float(a) == pytest.approx(float(b[0]), rel=1e-12)


@given(hs.integers(1, 200), hs.sampled_from([512.0, 2048.0, 8192.0]), hs.integers(1, 16), hs.integers(6, 15),
       hs.sampled_from([0.0, 1.0, 2.0]), hs.sampled_from([1.0, 2.0, 8.0, 64.0]), hs.sampled_from([1.0, 8.0]))
def test_sequence_parallelism_never_costs_memory(layers, seq, batch, log_d, recompute, tp, pp):
    d = 2.0**log_d
    heads = max(d / 128, 1.0)
    on = mem.activation_bytes(layers, seq, batch, d, heads, recompute, 1.0, pp, 32000.0)
    off = mem.activation_bytes(layers, seq, batch, d, heads, recompute, 0.0, pp, 32000.0)
    assert on[0] / tp + on[1] <= off[0] / tp + off[1] * (1 + 1e-12)
    assert on[0] + on[1] == pytest.approx(off[0] + off[1], rel=1e-12)  # the same bytes at tp = 1
    twice = mem.activation_bytes(layers, seq, 2 * batch, d, heads, recompute, 0.0, pp, 32000.0)
    assert twice[0] + twice[1] == pytest.approx(2 * (off[0] + off[1]), rel=1e-12)  # linear in micro-batch


def test_min_devices_counts_the_part_tensor_parallelism_leaves_whole():
    # 1 TB of states on 80 GiB devices: 10 GiB that no degree divides leaves 70 GiB of room each
    states, cap = 1e12, 80 * GIB
    assert mem.min_devices(states, cap, 0.0, 0.0, 10 * GIB, 10 * GIB) == np.ceil(states / (70 * GIB))
    # more than a device holds, whole: only full recomputation's 8 GiB fits, best split 8 ways
    # (79 GiB of room on each of 12 devices)
    assert mem.min_devices(states, cap, 0.0, 8 * GIB, 90 * GIB, 0.0) == 12
    assert np.isnan(mem.min_devices(states, cap, 0.0, 0.0, 90 * GIB, 90 * GIB))


_BYTES = hs.one_of(hs.floats(min_value=0.0, max_value=1e16), hs.sampled_from([0.0, 1e-300, 1e300, math.inf, math.nan]))


@given(_BYTES, _BYTES, _BYTES, _BYTES, _BYTES, _BYTES)
def test_min_devices_of_one_configuration_equals_its_array_row(states, capacity, act, act_full, whole, full_whole):
    # one configuration runs on plain floats; it must give the array path's figure, NaN and all
    one = mem.min_devices(states, capacity, act, act_full, whole, full_whole)
    with np.errstate(all="ignore"):
        row = mem.min_devices(*(np.array([x]) for x in (states, capacity, act, act_full, whole, full_whole)))[0]
    assert (math.isnan(one) and math.isnan(row)) or one == row
