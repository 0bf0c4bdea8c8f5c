"""Serving formats and sparsity (costmodel.precision): bytes moved, the peak used, refusals."""

import pytest

import costmodel
from costmodel import estimate_inference

LLAMA = dict(model="llama-2-7b", hardware="h100", prompt_tokens=512, output_tokens=256)
WEIGHTS = 6.74e9  # llama-2-7b parameters (catalog)


@pytest.mark.parametrize("dtype, bytes_per_weight", [("bf16", 2.0), ("fp8", 1.0), ("w8a16", 1.0), ("w4a16", 0.5),
                                                     ("w8a8", 1.0), ("int8", 1.0), ("int4", 0.5)])
def test_weights_take_the_format_s_bytes(dtype, bytes_per_weight):
    est = estimate_inference(**LLAMA, dtype=dtype)
    expected = costmodel.get_model("llama-2-7b").params.magnitude * bytes_per_weight
    assert est.memory.weights.to("byte").magnitude == pytest.approx(expected, rel=1e-12)


def test_int8_and_int4_are_aliases_of_the_weight_only_formats():
    assert estimate_inference(**LLAMA, dtype="int8").to_dict() == estimate_inference(**LLAMA, dtype="w8a16").to_dict()
    assert estimate_inference(**LLAMA, dtype="int4").dtype == "w4a16"


def test_weight_only_formats_compute_in_16_bit_and_w8a8_at_the_int8_peak():
    h100 = costmodel.get_hardware("h100")
    assert estimate_inference(**LLAMA, dtype="w4a16").assumptions["compute"].startswith(
        f"{h100.peak_flops('bf16') / 1e12:.4g} TFLOP/s dense bf16")
    assert estimate_inference(**LLAMA, dtype="w8a8").assumptions["compute"].startswith(
        f"{h100.peak_flops('int8') / 1e12:.4g} TFLOP/s dense int8")
    # prefill is compute-bound: int8 compute halves it against bf16, weight-only does not (its TTFT
    # gains only on the first decode step, which reads half the weight bytes)
    bf16, w8a8, w8a16 = (estimate_inference(**LLAMA, dtype=d).ttft.magnitude for d in ("bf16", "w8a8", "w8a16"))
    assert w8a8 < 0.75 * bf16 < w8a16


def test_fewer_weight_bytes_decode_faster():
    """Fewer weight bytes decode faster while the step is bound by reading them. A weight-only
    format computes at the 16-bit peak, and a batch-1 step's matmuls run at a small share of it
    (the fitted fill term: rows / (rows + fill_rows x peak)), so once the weights are small
    enough the step is bound by its matmuls and 4-bit weights gain nothing over 8-bit ones (with
    the constants fitted on the phone points too, fill_rows near 200 rows per PFLOP/s)."""
    tpot = {d: estimate_inference(**LLAMA, dtype=d).tpot.magnitude for d in ("bf16", "w8a16", "w4a16")}
    assert tpot["w4a16"] <= tpot["w8a16"] < tpot["bf16"]


@pytest.mark.parametrize("hardware, dtype, message", [
    ("a100", "fp8", r"dtype: a100-sxm4-\d+gb does not support fp8: it has no fp8 units \(it runs: fp32, tf32, bf16, fp16"),
    ("h100", "fp4", r"dtype: h100-sxm5-80gb does not support fp4: it has no fp4 units"),
    ("v100", "w8a8", r"dtype: v100-sxm2-32gb does not support w8a8: it has no int8 units"),
    ("h100", "fp6", r"dtype: expected one of fp32, tf32, bf16, fp16, fp8, fp4, w8a16, w4a16, w8a8"),
])
def test_a_format_the_device_cannot_compute_in_is_refused(hardware, dtype, message):
    with pytest.raises(costmodel.InputError, match=message):
        estimate_inference(**{**LLAMA, "hardware": hardware}, dtype=dtype)


def test_2_4_sparsity_halves_the_weights_plus_metadata_and_uses_the_sparse_peak():
    dense = estimate_inference(**LLAMA)
    sparse = estimate_inference(**LLAMA, prune="2:4")
    # 16-bit weights: 8 bits per weight kept half the time, plus 2 bits of position per kept weight
    assert sparse.memory.weights.magnitude == pytest.approx(dense.memory.weights.magnitude * 9 / 16, rel=1e-12)
    h100 = costmodel.get_hardware("h100")
    assert sparse.assumptions["compute"].startswith(f"{h100.sparse['bf16'].to('TFLOP/s').magnitude:.4g} TFLOP/s")
    assert sparse.tpot < dense.tpot and sparse.ttft < dense.ttft


def test_2_4_sparsity_on_a_device_without_sparse_units_is_refused():
    with pytest.raises(costmodel.InputError, match=r"prune: t4 lists no 2:4 sparse peak at fp16 \(sparse peaks: none\)"):
        estimate_inference(**{**LLAMA, "model": "bert-base", "hardware": "t4"}, prune="2:4")


def test_unstructured_sparsity_changes_nothing_on_dense_kernels_and_says_so():
    dense, pruned = estimate_inference(**LLAMA), estimate_inference(**LLAMA, prune=0.5)
    assert pruned.ttft == dense.ttft and pruned.memory.weights == dense.memory.weights
    assert pruned.warnings[-1].startswith("unstructured sparsity (50% of weights zero): dense kernels run no faster")


@pytest.mark.parametrize("prune", [0, 1, 1.5, "half", "4:8"])
def test_a_bad_prune_names_the_option(prune):
    with pytest.raises(costmodel.InputError, match=r"prune: expected '2:4' or a share of weights pruned in \(0, 1\)"):
        estimate_inference(**LLAMA, prune=prune)


def test_sweeps_take_formats_and_sparsity_and_match_the_estimates():
    df = costmodel.sweep_inference(model="llama-2-7b", hardware="h100", prompt_tokens=512, output_tokens=256,
                                   dtype=["bf16", "w4a16", "w8a8"], prune=[None, "2:4"])
    assert len(df) == 6
    for row in df.itertuples():
        est = estimate_inference(**LLAMA, dtype=row.dtype, prune=None if row.prune == "None" else row.prune)
        assert row.tpot_ms == pytest.approx(est.tpot.to("ms").magnitude, rel=1e-12)


@pytest.mark.parametrize("hardware", ["jetson-orin-nano-super-8gb", "jetson-orin-nx-16gb"])
def test_a_device_with_only_an_int8_peak_keeps_a_16_bit_cache(hardware):
    """The Orin Nano/NX profiles list only int8 peaks; a weight-only or w8a8 model's KV cache
    defaults to fp16 (2 bytes) instead of failing on an 'int8' cache."""
    for dtype in ("w4a16", "w8a8"):
        est = estimate_inference("llama-3.2-1b", hardware=hardware, prompt_tokens=128, output_tokens=64, dtype=dtype)
        assert est.kv_dtype == "fp16"
        shape = costmodel.get_model("llama-3.2-1b").shape
        per_token = 2 * shape.layers * shape.kv_heads * shape.head_dim * 2.0
        assert est.memory.kv_cache.to("byte").magnitude == pytest.approx(per_token * (128 + 64), rel=1e-12)


def test_a_device_with_integer_units_only_defaults_to_int8_weights_at_one_byte():
    """A phone NPU lists int8 alone: the default is w8a8, so a weight is one byte, not two."""
    default = costmodel.estimate_inference("resnet-50", hardware="galaxy-s24", prompt_tokens=1, output_tokens=0)
    given = costmodel.estimate_inference("resnet-50", hardware="galaxy-s24", prompt_tokens=1, output_tokens=0,
                                         dtype="w8a8")
    assert default.memory.weights.to("B").magnitude == given.memory.weights.to("B").magnitude
    spec = costmodel.get_model("resnet-50")
    assert default.memory.weights.to("B").magnitude == pytest.approx(spec.params.to("").magnitude, rel=1e-9)
    assert default.latency.to("s").magnitude == given.latency.to("s").magnitude
