"""Scaling-law planning against the papers' own figures, and its physics as properties."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

import costmodel
from costmodel import compare_sizes, compute_optimal, estimate_training, predict_loss
from costmodel.scaling import get_law

CHINCHILLA_FLOPS = 5.76e23  # Hoffmann et al. 2022, Table 3: Chinchilla's budget (70B, 1.4T tokens)


def test_default_law_reproduces_chinchilla_within_15_percent():
    r = compute_optimal(f"{CHINCHILLA_FLOPS} FLOP")
    assert r.params.magnitude == pytest.approx(70e9, rel=0.15)
    assert r.tokens.magnitude == pytest.approx(1.4e12, rel=0.15)
    # the ~20 tokens per parameter rule comes out of the law, it is not coded anywhere
    assert 15 <= r.tokens.magnitude / r.params.magnitude <= 25


def test_hoffmann_as_published_gives_a_markedly_smaller_model():
    # Besiroglu et al. 2024: the published approach-3 constants imply about 30B at this budget
    r = compute_optimal(f"{CHINCHILLA_FLOPS} FLOP", law="hoffmann2022")
    assert r.params.magnitude == pytest.approx(32e9, rel=0.15)
    assert r.params.magnitude < 0.6 * compute_optimal(f"{CHINCHILLA_FLOPS} FLOP").params.magnitude


def test_predicted_loss_and_the_training_estimate():
    law = get_law("besiroglu2024")
    assert predict_loss(70e9, 1.4e12) == pytest.approx(1.82 + 482.01 / 70e9 ** 0.3478 + 2085.43 / 1.4e12 ** 0.3658)
    r = compute_optimal("1e24 FLOP")
    assert r.flops.to("FLOP").magnitude == pytest.approx(1e24)
    assert r.training.flops.to("FLOP").magnitude == pytest.approx(6 * r.params.magnitude * r.tokens.magnitude, rel=1e-9)
    assert r.loss == pytest.approx(float(law.loss(r.params.magnitude, r.tokens.magnitude)))


@pytest.mark.parametrize("budget, field, unit", [("$10M", "cost", "USD"), ("500000 GPU*h", "gpu_hours", "hour"),
                                                 ("5 GWh", "energy", "GWh")])
def test_money_hours_and_energy_budgets_are_spent_exactly(budget, field, unit):
    r = compute_optimal(budget, hardware="h100", n_gpus=1024)
    spent = getattr(r.training, field).to(unit).magnitude
    expected = costmodel.ureg.Quantity(budget.replace("$", "").replace("M", "e6") + (" USD" if "$" in budget else ""))
    expected_unit = "GPU*hour" if field == "gpu_hours" else unit
    assert spent == pytest.approx(expected.to(expected_unit).magnitude, rel=1e-6)


def test_data_constrained_scaling_follows_muennighoff():
    # up to about 4 epochs repeated data is nearly as good as fresh (Muennighoff et al. 2023, Fig. 1)
    from costmodel.scaling import effective_data

    assert effective_data(4e11, 1e11, 15.39) / 4e11 > 0.9
    assert effective_data(4e12, 1e11, 15.39) / 4e12 < 0.4  # 40 epochs: most of the value is gone
    free = compute_optimal("1e24 FLOP")
    limited = compute_optimal("1e24 FLOP", unique_tokens="100B")
    assert limited.epochs == pytest.approx(limited.tokens.magnitude / 1e11)
    assert limited.loss > free.loss
    assert limited.effective_tokens.magnitude < limited.tokens.magnitude
    # past a threshold more compute stops paying: effective data saturates at U (1 + R*_D)
    big = compute_optimal("1e27 FLOP", unique_tokens="100B")
    assert big.effective_tokens.magnitude <= 1e11 * (1 + 15.39) * 1.0001
    gain_small = compute_optimal("1e23 FLOP", unique_tokens="100B").loss - limited.loss
    gain_big = limited.loss - big.loss
    assert gain_big < gain_small * 10  # 1000x more compute buys little more than the first 10x


def test_lifetime_optimal_is_smaller_and_trained_longer():
    r = compute_optimal("1e24 FLOP", inference_tokens="10T")
    life = r.lifetime
    assert life.params.magnitude < r.params.magnitude and life.tokens.magnitude > r.tokens.magnitude
    assert life.loss == pytest.approx(r.loss, abs=1e-6)
    assert life.lifetime_flops.magnitude <= r.lifetime_flops.magnitude


def test_compare_sizes_shows_where_parameters_stop_paying():
    df = compare_sizes("1e24 FLOP", sizes=["1B", "10B", "100B", "1T"])
    assert list(df.params) == [1e9, 1e10, 1e11, 1e12]
    assert np.allclose(df.tokens * df.params * 6, 1e24)
    best = df.loss.idxmin()
    assert df.params[best] == 1e11  # the compute-optimal size at 1e24 is about 96B
    assert df.usd_per_million_tokens.is_monotonic_increasing


def test_lora_costs_less_than_full_fine_tuning():
    full = estimate_training("llama-2-70b", tokens="1B", hardware="h100", n_gpus=8)
    lora = estimate_training("llama-2-70b", tokens="1B", hardware="h100", n_gpus=8, method="lora", lora_rank=16)
    qlora = estimate_training("llama-2-70b", tokens="1B", hardware="h100", n_gpus=8, method="qlora", lora_rank=16)
    # Hu et al. 2021: rank-r adapters on W_q and W_v: 80 layers x 16 x (2 x 8192 + 8192 + 1024)
    assert lora.trainable_params.magnitude == 80 * 16 * (2 * 8192 + 8192 + 1024)
    assert lora.flops.magnitude == pytest.approx(1e9 * (4 * (70e9 + 80 * 4096 * 8192) + 6 * 80 * 16 * 25600))
    assert lora.memory.optimizer.magnitude < full.memory.optimizer.magnitude / 1000
    assert qlora.memory.weights.magnitude == pytest.approx(lora.memory.weights.magnitude * 4.127 / 16, rel=0.01)


def test_distillation_adds_the_teachers_forward_passes():
    student = estimate_training("llama-2-7b", tokens="10B", hardware="h100", n_gpus=64)
    distilled = estimate_training("llama-2-7b", tokens="10B", hardware="h100", n_gpus=64, teacher="llama-2-70b")
    teacher = 2 * (70e9 + 80 * 4096 * 8192) * 1e10
    assert distilled.teacher_flops.magnitude == pytest.approx(teacher)
    assert distilled.flops.magnitude == pytest.approx(student.flops.magnitude + teacher)


@pytest.mark.parametrize("kwargs, message", [
    (dict(budget="80 GB"), "budget: expected compute, money, device-hours or energy"),
    (dict(budget="1e24 FLOP", law="moore1965"), "'moore1965' is not a known scaling law"),
    (dict(budget="1e24 FLOP", unique_tokens=-1), "unique_tokens: expected a value more than zero"),
    (dict(budget="1e24 FLOP", unique_tokens="1T", inference_tokens="1T"), "inference_tokens: the lifetime optimum"),
])
def test_bad_planning_input(kwargs, message):
    with pytest.raises(costmodel.CostModelError, match=message):
        compute_optimal(**kwargs)


budgets = hs.floats(min_value=1e18, max_value=1e27)


@given(budgets, hs.floats(min_value=1.5, max_value=100))
def test_optimal_size_and_data_grow_and_loss_falls_with_budget(c, k):
    a, b = compute_optimal(c), compute_optimal(c * k)
    assert b.params.magnitude > a.params.magnitude and b.tokens.magnitude > a.tokens.magnitude
    assert b.loss < a.loss
    assert b.loss > get_law("besiroglu2024").irreducible


@given(budgets, hs.floats(min_value=0, max_value=1e15))
def test_lifetime_optimal_never_larger_than_compute_optimal(c, t):
    r = compute_optimal(c, inference_tokens=t)
    assert r.lifetime.params.magnitude <= r.params.magnitude * (1 + 1e-9)


@given(hs.sampled_from(["llama-2-7b", "llama-2-70b", "mixtral-8x7b", "gpt3-175b"]), hs.integers(1, 256),
       hs.sampled_from(["lora", "qlora"]))
def test_lora_never_costs_more_flops_or_memory_than_full(model, rank, method):
    full = estimate_training(model, tokens="1B", hardware="h100", n_gpus=8)
    peft = estimate_training(model, tokens="1B", hardware="h100", n_gpus=8, method=method, lora_rank=rank)
    assert peft.flops.magnitude <= full.flops.magnitude
    assert peft.memory_per_gpu.magnitude <= full.memory_per_gpu.magnitude


def test_lifetime_choice_reports_serving_cost_side_by_side():
    r = compute_optimal("1e24 FLOP", inference_tokens="20T")
    assert r.serving_cost is not None and r.lifetime.serving_cost is not None
    # a smaller model is cheaper to serve the same tokens
    assert r.lifetime.serving_cost.magnitude <= r.serving_cost.magnitude


def test_distillation_reports_the_student_and_holds_the_teacher_in_memory():
    student = estimate_training("llama-2-7b", tokens="10B", hardware="h100", n_gpus=64)
    distilled = estimate_training("llama-2-7b", tokens="10B", hardware="h100", n_gpus=64, teacher="llama-2-70b")
    assert distilled.params == student.params  # the result describes the student
    extra = 70e9 * 2 / 64 / 2**30  # bf16 teacher weights, sharded like the student's
    assert distilled.memory.weights.to("GiB").magnitude == pytest.approx(
        student.memory.weights.to("GiB").magnitude + extra, rel=1e-9)
