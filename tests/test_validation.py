"""Estimates against published runs: one table per metric, with sources, in tests/data/."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import costmodel

from costmodel.validation import (
    energy_validation,
    inference_validation,
    read_cases,
    source_group,
    summary,
    training_validation,
)

DATA = Path(__file__).parent / "data"
TRAINING = training_validation(DATA / "training_runs.csv")
JUDGED = TRAINING[TRAINING.judged]
FIT = Path(__file__).parent.parent / "scripts" / "fit_calibration.py"


def _fit_script():
    spec = importlib.util.spec_from_file_location("fit_calibration", FIT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def loso():
    """Leave-one-source-out residuals ln(estimate / published), as scripts/fit_calibration.py
    computes them, with the constants fitted on all sources."""
    fit = _fit_script()
    items = fit.cases()
    constants, resid, _, judged, tuned = fit.evaluate(items)
    return constants, resid[judged], tuned[judged]


def test_training_table_is_broad():
    assert len(JUDGED) >= 50
    assert JUDGED.source.str[:25].nunique() >= 25
    assert {"V100", "A100", "H100/H800", "H200", "B200", "MI250X/MI300X", "TPU"} <= set(JUDGED.generation)
    assert {"typical", "tuned"} <= set(JUDGED.tier)
    assert JUDGED.params.min() <= 1.5e8 and JUDGED.params.max() >= 1e12
    rows = read_cases(DATA / "training_runs.csv")
    assert {"bf16", "fp8"} <= {r["dtype"] for r in rows}
    assert any(r["experts"] for r in rows) and all(r["source"] for r in rows)


def test_leave_one_source_out_errors(loso):
    """Each source's runs predicted by constants fitted without it. The targets of the
    project's issue are 15% median, 90% within 1.5x and all within 2x; these thresholds are
    what the model reaches today (the README's table prints the figures). All are met since
    the data-parallel traffic counts fp32 gradients for bf16 runs (Megatron-LM's and
    torchtitan's default reduction): the refit hides more of it (dp_overlap 0.1 -> 0.3), GPT-3's
    fp16 run on 10,000 V100s comes inside 1.5x (+52% -> +22%), and the typical tier's median
    falls from 15.1% to 14.6%."""
    _, resid, tuned = loso
    ratio = np.exp(np.abs(resid))
    assert np.median(np.abs(np.exp(resid) - 1)) <= 0.12  # today 10.6%
    assert np.mean(ratio <= 1.5) >= 0.93 and np.all(ratio <= 2.0)  # today 94% and all
    assert np.median(np.abs(np.exp(resid[tuned]) - 1)) <= 0.10  # today 9.0%
    assert np.mean(ratio[tuned] <= 1.5) >= 0.95  # today 96%
    assert np.median(np.abs(np.exp(resid[~tuned]) - 1)) <= 0.15  # today 14.6% (target 15%)
    assert np.mean(ratio[~tuned] <= 1.5) >= 0.90  # today 91.7% (target 90%)


def test_shipped_constants_are_the_fit(loso):
    constants, resid, _ = loso
    shipped = costmodel.default_calibration().training
    for key, value in constants.items():
        assert getattr(shipped, key) == pytest.approx(value, abs=1e-6), key
    q10, q90 = np.quantile(resid, [0.1, 0.9])
    assert (shipped.resid_q10, shipped.resid_q90) == pytest.approx((q10, q90), abs=1e-5)


def test_flops_agree_with_papers_within_10_percent():
    reported = TRAINING[np.isfinite(TRAINING.published_flops) & ~TRAINING.estimate]
    assert len(reported) >= 3
    ratio = reported.estimated_flops / reported.published_flops
    assert ratio.between(0.9, 1.1).all(), reported[["run", "published_flops", "estimated_flops"]]


def _megatron_2021(flash_attention=False):
    from costmodel.models import ModelSpec

    for r in read_cases(DATA / "megatron_2021_table1.csv"):
        spec = ModelSpec.from_mapping({
            "id": r["case"], "name": r["case"], "family": "megatron-2021", "kind": "dense-decoder",
            "params": float(r["params"]), "source": r["source"], "retrieved": "2026-12-01",
            "layers": int(r["layers"]), "d_model": int(r["d_model"]), "heads": int(r["heads"]), "vocab": 51200,
            "context": int(r["seq_len"])})
        est = costmodel.estimate_training(
            spec, tokens="100B", hardware="a100-sxm4-80gb", n_gpus=int(r["n_gpus"]), tp=int(r["tp"]),
            pp=int(r["pp"]), global_batch=f"{r['global_batch_sequences']} sequence", recompute="full",
            tuning="tuned", micro_batch=int(r["micro_batch"]), vpp=int(r["vpp"]) if r["vpp"] else None,
            flash_attention=flash_attention)
        achieved = est.hardware_flops.to("FLOP").magnitude / (est.wall_time.to("s").magnitude * est.n_gpus)
        yield r["case"], achieved / 1e12 / float(r["achieved_tflops_per_gpu"]) - 1.0


def test_megatron_2021_table_1_step_times_from_the_full_layout():
    """Narayanan et al. 2021, Table 1 (1.7B to 1T on up to 3,072 A100s), given each row's
    tensor and pipeline degrees, batch, micro-batch and interleaving (the last two from the
    authors' examples/sc21/run_table_1.sh): achieved TFLOP/s per GPU (hardware FLOPs, full
    recomputation). The issue's target is 15% on every row. 2021's Megatron-LM had no fused
    attention (FlashAttention came in 2022), so the rows run with ``flash_attention=False``:
    the attention scores' memory traffic (counted, not fitted) and the causal mask's computed
    half. With a fused kernel every row came out 10-23% fast; without one they are -13% to
    +14% (the small, narrow-headed rows gain most, as the score bytes per FLOP go as
    s / (head_dim h))."""
    errors = dict(_megatron_2021())
    fused = dict(_megatron_2021(flash_attention=True))
    assert len(errors) == 10
    assert all(abs(e) <= 0.15 for e in errors.values()), errors
    assert all(fused[case] > errors[case] + 0.02 for case in errors)  # the unfused path costs time on every row
    assert np.median(list(fused.values())) >= 0.10  # and without it the common gap is back


def test_llama_65b_energy_formula_reproduces_touvron_table_15():
    # Touvron et al. 2023, Table 15: 1,022,362 A100-hours x 400 W x PUE 1.1 = 449 MWh; x 0.385
    # kgCO2e/kWh = 173 tCO2e. Feed their GPU-hours through mfu and their assumptions.
    from costmodel import estimate_training

    probe = estimate_training(params=65.2e9, tokens=1.4e12, hardware="a100-sxm4-80gb", n_gpus=2048, mfu=1.0)
    mfu = probe.gpu_hours.to("hour").magnitude / 1_022_362
    est = estimate_training(params=65.2e9, tokens=1.4e12, hardware="a100-sxm4-80gb", n_gpus=2048, mfu=mfu,
                            power_per_gpu="400 W", host_power_per_gpu=0, pue=1.1,
                            grid_intensity="0.385 kg/kWh")
    assert est.gpu_hours.to("hour").magnitude == pytest.approx(1_022_362, rel=1e-9)
    assert est.energy.to("MWh").magnitude == pytest.approx(449, rel=0.01)
    assert est.co2e.to("tonne").magnitude == pytest.approx(173, rel=0.01)


ENERGY = energy_validation(DATA / "energy_runs.csv")


def test_energy_table_has_measured_and_formula_rows():
    assert len(ENERGY) >= 8
    assert set(ENERGY.kind) == {"measured", "formula"}


def test_energy_of_measured_rows_from_defaults():
    """Shipped constants (in sample for the power fit; leave-one-source-out figures are in
    tests/test_energy.py), measured/metered rows: given the published hours, and end to end."""
    measured = ENERGY[ENERGY.kind == "measured"]
    hours = summary(measured[measured["mode"] == "hours"].error)
    assert hours["n"] >= 14 and hours["median_abs_error"] <= 0.20
    assert hours["worst_factor"] <= 2.0  # the worst: BERT fine-tuning on 4 V100s draws 0.43 of TDP
    e2e = summary(measured[measured["mode"] == "e2e"].error)
    assert e2e["n"] >= 8 and e2e["median_abs_error"] <= 0.30 and e2e["worst_factor"] <= 2.1


def test_formula_rows_are_within_a_factor_of_the_model():
    """TDP x hours figures assume the device at TDP and no server; given their hours the model
    (fitted share of the server's nameplate) lands within a factor of 3.6 of them. The worst is
    OPT-175B's 75 t CO2e, whose authors state neither energy, PUE nor grid factor: 3.3x below the
    model with a draw fraction of 0.70, 3.55x since the fit rose to 0.77 with the GPU-only H100
    (Olmo 3) and TPU v4 (PaLM) measurements."""
    formula = summary(ENERGY[(ENERGY.kind == "formula") & (ENERGY["mode"] == "hours")].error)
    assert formula["n"] >= 8 and formula["worst_factor"] <= 3.6


INFERENCE = inference_validation(DATA / "inference_points.csv")


def test_inference_table_covers_sizes_devices_and_batches():
    rows = read_cases(DATA / "inference_points.csv")
    assert len(rows) >= 60 and all(r["measured"] == "true" and r["source"] for r in rows)
    assert len({source_group(r["source"]) for r in rows}) >= 10
    assert {"llama-2-7b", "llama-2-13b", "llama-2-70b", "falcon-180b", "bert-base", "resnet-50",
            "vit-b-16"} <= set(INFERENCE.model)
    assert {"a100-sxm4-80gb", "h100-sxm5-80gb", "t4", "l4", "jetson-agx-orin-64gb",
            "xeon-platinum-8480-plus"} <= set(INFERENCE.hardware)
    assert {"tensorrt-llm", "vllm", "eager", "tensorrt", "lmdeploy", "llama.cpp", "mlc"} <= set(INFERENCE.engine)
    batches = [int(b) for b in INFERENCE.batch if b]
    assert min(batches) == 1 and max(batches) >= 1024
    assert {"ttft", "tpot", "itl", "latency", "samples_per_s", "throughput_tok_s"} == set(INFERENCE.metric)


@pytest.mark.parametrize("metric, bound", [("tpot", 0.12), ("itl", 0.12), ("ttft", 0.20), ("latency", 0.25),
                                           ("throughput_tok_s", 0.20)])
def test_inference_median_error(metric, bound):
    """In sample: the leave-one-source-out scores are in the README (scripts/fit_inference.py).
    ITL (median inter-token latency: LMDeploy's per-token percentiles, SGLang's bench_serving)
    is held to TPOT's target: it is the same decode step, less the other requests' prefills."""
    stats = summary(INFERENCE.error[INFERENCE.metric == metric])
    assert stats["n"] >= 15
    assert stats["median_abs_error"] <= bound


def test_measured_points_within_a_factor_of_two():
    """Every LLM figure the constants are fitted on lands within a factor of two but the ones
    named here. TensorRT-LLM's offline Llama-3.1-8B FP8 run on an H100 (P79, 28,312 tokens/s)
    was 0.48x while each 128-token prompt was charged a step of its own; with its prompts run
    inside the running batch's step (engines.toml mixed_prefill) it is 1.17x. vLLM's offline
    DeepSeek-R1 run of 1000 prompts of 127 tokens with 4 outputs on 8 H200s (S30, 181 tokens/s)
    matched only while each prompt paid a step and a read of the 84 GB of weights per device of
    its own; vLLM V1 mixes them in, and the 22 s the run took for 127k prompt tokens is 6.8x
    what the steps give (the other GPUStack runs, S27-S29, are 2.2-3.5x fast too).
    Of the single-pass figures the ones beyond it are named: an eager ResNet-50 at
    batch 256 on a T4 (the README does not say what its timing covers) and at batch 1 in fp16
    (N10, 0.49x: the source's fp16 run is slower than its fp32 one, 12.96 against 10.70 ms, the
    cost of mixed-precision casts per layer, which the model does not represent), and Intel's
    2-socket Xeon BERT-large offline throughput (0.45x, scored at the 384 tokens it is padded to: whether
    Intel's harness drops the padding is not known; NVIDIA's does, and its MLPerf BERT rows are
    scored at the 177-token mean). FasterTransformer's ViT-B/16 at batch 32 on a T4 (N13) was 0.40x
    until the T4's matmuls were capped at its measured FP16 GEMM rate (24 TFLOP/s under its 70 W
    power cap, 37% of the nominal peak): 0.85x now, and TensorRT's FP16 BERT on it 0.89-0.99x
    (from 0.6-0.9x; its INT8 run, N07, has no measured INT8 rate to cap it and stays 0.60x).

    Of the S rows (added without refitting) these are beyond it: DeepSeek-R1 (DeepSeek-V3) on
    8 H200s from GPUStack's lab, offline under SGLang with data-parallel attention (S15-S18)
    and vLLM (S27-S29) 2.1-4x faster than measured on prefill-heavy random prompts, and
    0.27x on 1000 prompts of 128 tokens with 4 outputs (S18); vLLM's ShareGPT run at
    concurrency 4 on the same node (S31) 0.35x on TTFT and 0.60x on TPOT; SGLang's offline
    Llama-3.3-70B run with 4096/2048 random lengths (S11) 2.1x fast: 800 requests whose uniform
    lengths drain the batch at the end, which a saturation estimate does not see. DistilBERT on
    an A10G in eager fp32 (S32, S33), 2.9-3.1x slow under a cost per layer, is 1.5-1.6x slow
    with a cost per dispatched operator (187 for DistilBERT, 367 for BERT-base) overlapping the
    device's work: the script times each call without a synchronize or no_grad, so what it
    measures is the host's dispatch, flat in the input length."""
    fitted = INFERENCE[~INFERENCE.holdout]
    ratio = fitted.estimated_ms / fitted.published_ms
    far = set(fitted.point[~ratio.between(0.5, 2.0)])
    assert far <= {"N10", "N11", "N24", "P79", "S11", "S15", "S16", "S17", "S18", "S27", "S28", "S29",
                   "S30", "S31"}, \
        fitted[["point", "metric", "published_ms", "estimated_ms"]]
    llm = fitted.point.str.startswith("P") & (fitted.point != "P79")
    assert ratio[llm].between(0.5, 2.0).all()
    single = ratio[fitted.point.isin(["S32", "S33", "S34", "S35"])]
    assert single.between(0.9, 1.8).all()  # host dispatch of 187 and 367 operators: DistilBERT about half BERT-base


def test_held_out_edge_points_where_the_model_stands():
    """Edge and laptop points, kept out of the fit. Decode is bandwidth-bound and lands 0.87-0.90x
    on the Orin Nano (MLC) and 0.90x on the M4 (llama.cpp, whose Q4_K_M reads more bytes than
    w4a16; its engine constants are eager ones fitted on GPUs, a host dispatch per operator that
    overlaps the decode's weight reads); the M4's 512-token prefill 1.6x slow (compute-bound at
    the shared compute fraction, 0.59 of the dense peak, which the datacenter GPUs' points set;
    it was 0.80 before the ITL figures left the TPOT set). The bandwidth fraction the GPUs' points
    set fell from 0.89 to 0.83 when a small all-reduce inside a node stopped growing with log2 of
    the devices (gpt-fast's 8-GPU decoding had pulled the fixed costs up): the M4 decode moved
    from 0.84x to 0.90x. A batch-1 ResNet-50 under TensorRT on a Jetson comes out
    0.81-0.89x: 56 fused kernels at the 2 us per launch a graph replay is bounded by (it was
    3-5x slow with one per-step overhead fitted on LLM servers)."""
    held = INFERENCE[INFERENCE.holdout].set_index(["point", "metric"])
    ratio = held.estimated_ms / held.published_ms
    assert set(held.hardware) == {"jetson-orin-nano-super-8gb", "jetson-agx-orin-64gb", "jetson-orin-nx-16gb",
                                  "apple-m4-gpu"}
    assert ratio[("P33", "tpot")] == pytest.approx(0.87, abs=0.05)
    assert ratio[("P34", "tpot")] == pytest.approx(0.90, abs=0.05)
    assert ratio[("P35", "latency")] == pytest.approx(0.89, abs=0.1)
    assert ratio[("P36", "latency")] == pytest.approx(0.80, abs=0.1)
    assert ratio[("P37", "tpot")] == pytest.approx(0.90, abs=0.05)
    assert ratio[("P38", "ttft")] == pytest.approx(1.64, abs=0.1)


def test_non_generative_points_are_scored_on_latency_and_samples():
    """N01...: encoders, CNNs and ViTs (one forward pass, output_tokens 0), fitted with their
    runtimes (TensorRT, eager, FasterTransformer): scored on the batch's latency and on samples
    per second (MLPerf Offline rows: throughput at saturation)."""
    rows = [r for r in read_cases(DATA / "inference_points.csv") if r["point"].startswith("N")]
    assert len(rows) >= 20 and all(not r["holdout"] and r["output_tokens"] == "0" for r in rows)
    assert {r["batching"] for r in rows} == {"static", "offline"}
    scored = INFERENCE[INFERENCE.point.str.startswith("N")]
    assert set(scored.metric) == {"latency", "samples_per_s"} and not scored.holdout.any()
    assert set(scored.point[scored.metric == "latency"]) == {r["point"] for r in rows if r["latency_ms"]}


def test_itl_figures_are_scored_as_itl_at_their_statistic():
    """Median ITL figures (SGLang's bench_serving under a Poisson rate, LMDeploy's per-token
    percentiles of a fixed batch) are scored against the estimate's ITL at that statistic, not
    its TPOT; where a source gives both (SGLang's v0.3.0 table), both are scored."""
    from costmodel import estimate_inference
    from costmodel.validation import inference_kwargs, statistic_of

    itl = INFERENCE[INFERENCE.metric == "itl"].set_index("point")
    assert {"P01", "P07", "P17", "P18", "S01", "S08"} <= set(itl.index)
    assert set(INFERENCE.metric[INFERENCE.point == "P17"]) == {"ttft", "tpot", "itl"}
    row = next(r for r in read_cases(DATA / "inference_points.csv") if r["point"] == "S04")
    est = estimate_inference(**inference_kwargs(row))
    assert float(itl.at["S04", "estimated_ms"]) == pytest.approx(est.itl_p50.to("ms").magnitude, rel=1e-12)
    assert est.itl_p50 < est.tpot_p50  # at 4 req/s the median gap holds no prefill; TPOT averages the stalls in
    assert float(itl.at["P01", "published_ms"]) == 10.0  # a fixed batch: its decode step
    assert (statistic_of("ttft=mean; itl=p50 per-token", "itl"), statistic_of("ttft=mean; itl=p50", "ttft"),
            statistic_of("median", "tpot"), statistic_of("mean ITL", "tpot")) == ("p50", "mean", "p50", "mean")


def test_single_pass_latency_is_scored_against_the_estimates_latency():
    """A model that runs one forward pass is scored on ``latency_ms`` (not TTFT/TPOT)."""
    from costmodel import estimate_inference

    row = INFERENCE[(INFERENCE.point == "P35")]
    assert list(row.metric) == ["latency"] and float(row.published_ms.iloc[0]) == 0.636
    est = estimate_inference("resnet-50", hardware="jetson-agx-orin-64gb", prompt_tokens=1, output_tokens=0,
                             dtype="w8a8")
    assert float(row.estimated_ms.iloc[0]) == pytest.approx(est.latency.to("ms").magnitude, rel=1e-12)
    assert set(inference_validation(DATA / "inference_points.csv", metrics=("ttft", "tpot")).metric) == {"ttft", "tpot"}
