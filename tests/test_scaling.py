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
    # within 1%: a compute-optimal size known by its parameters gets a shape in whole layers, and
    # the step time moves in small steps (0.4% here at 5 GWh) when the layer count does
    assert spent == pytest.approx(expected.to(expected_unit).magnitude, rel=0.01)


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
    assert df.cost_per_million_tokens_USD.is_monotonic_increasing
    assert list(df.best) == [False, False, True, False]


def test_lora_costs_less_than_full_fine_tuning():
    kw = dict(tokens="1B", hardware="h100", n_gpus=8, zero_stage=3, pp=1)  # one layout, to compare memory
    full = estimate_training("llama-2-70b", **kw)
    lora = estimate_training("llama-2-70b", **kw, method="lora", lora_rank=16)
    qlora = estimate_training("llama-2-70b", **kw, method="qlora", lora_rank=16)
    # Hu et al. 2021: rank-r adapters on W_q and W_v: 80 layers x 16 x (2 x 8192 + 8192 + 1024)
    assert lora.trainable_params.magnitude == 80 * 16 * (2 * 8192 + 8192 + 1024)
    assert lora.flops.magnitude == pytest.approx(1e9 * (4 * (70e9 + 80 * 4096 * 8192) + 6 * 80 * 16 * 25600))
    assert lora.memory.optimizer.magnitude < full.memory.optimizer.magnitude / 1000
    assert qlora.memory.weights.magnitude == pytest.approx(lora.memory.weights.magnitude * 4.127 / 16, rel=0.01)


def test_distillation_adds_the_teachers_forward_passes():
    kw = dict(tokens="10B", hardware="h100", n_gpus=64, tp=1, pp=1, zero_stage=3)  # one layout, to compare memory
    student = estimate_training("llama-2-7b", **kw)
    distilled = estimate_training("llama-2-7b", **kw, teacher="llama-2-70b")
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
    kw = dict(tokens="10B", hardware="h100", n_gpus=64, tp=1, pp=1, zero_stage=3)  # one layout, to compare memory
    student = estimate_training("llama-2-7b", **kw)
    distilled = estimate_training("llama-2-7b", **kw, teacher="llama-2-70b")
    assert distilled.params == student.params  # the result describes the student
    extra = 70e9 * 2 / 64 / 2**30  # bf16 teacher weights, sharded like the student's
    assert distilled.memory.weights.to("GiB").magnitude == pytest.approx(
        student.memory.weights.to("GiB").magnitude + extra, rel=1e-9)


# --- edges of the planning API ------------------------------------------------------------------

def test_one_device_count_only():
    with pytest.raises(costmodel.InputError, match="^n_gpus: expected one device count, got 2 values") as err:
        compute_optimal("1e22 FLOP", n_gpus=np.array([8, 16]))
    assert err.value.argument == "n_gpus"
    with pytest.raises(costmodel.InputError, match="^n_gpus: "):
        compare_sizes("1e22 FLOP", sizes=["1B"], n_gpus=[8, 16])


@pytest.mark.parametrize("budget, options, argument", [
    ("$1M", dict(price_per_gpu_hour=0), "price_per_gpu_hour"),
    ("5 GWh", dict(power_per_gpu=0, host_power_per_gpu=0), "power_per_gpu"),
])
def test_a_budget_that_costs_nothing_to_spend_is_refused(budget, options, argument):
    for plan in (lambda: compute_optimal(budget, **options), lambda: compare_sizes(budget, sizes=["1B"], **options)):
        with pytest.raises(costmodel.InputError, match="so the budget buys unlimited compute") as err:
            plan()
        assert err.value.argument == argument


@pytest.mark.parametrize("sizes", ["", " , ", [], ()])
def test_compare_sizes_needs_sizes(sizes):
    with pytest.raises(costmodel.InputError, match="^sizes: no sizes given") as err:
        compare_sizes("1e22 FLOP", sizes=sizes)
    assert err.value.argument == "sizes"


def test_compare_sizes_reads_a_comma_separated_string_and_refuses_a_bad_budget_first():
    assert list(compare_sizes("1e22 FLOP", sizes="1B,7B").params) == [1e9, 7e9]  # not the characters '1', 'B', ...
    with pytest.raises(costmodel.InputError, match="^budget: expected compute"):
        compare_sizes("", sizes=["1B"])


def test_compare_sizes_marks_ties_and_sizes_that_do_not_fit():
    from costmodel.planning import LOSS_PRECISION

    df = compare_sizes(tokens="1T", sizes=["70B", "70.0001B", "1T"], n_gpus=8)
    assert abs(df.loss[0] - df.loss[1]) < LOSS_PRECISION
    assert list(df.best) == [False, False, True]  # 1T on 1T tokens: the lowest loss
    tie = compare_sizes(tokens="1T", sizes=["70B", "70.0001B"])
    assert list(tie.best) == [True, True]
    assert list(df.fits) == [False, False, False]  # 70B with Adam states needs more than 8 x 80 GiB
    assert list(compare_sizes(tokens="1T", sizes=["1B"], n_gpus=8).fits) == [True]
    assert df.min_gpus[2] == int(costmodel.estimate_training(params="1T", tokens="1T", hardware="h100",
                                                             n_gpus=8).min_gpus.magnitude)


def test_lifetime_optimum_reports_the_share_of_the_budget_it_spends():
    r = compute_optimal("$1M", inference_tokens="10T")
    assert r.budget_used == pytest.approx(1.0, rel=1e-6)
    assert r.lifetime.budget_used == pytest.approx(r.lifetime.training.cost.to("USD").magnitude / 1e6, rel=1e-12)
    assert r.lifetime.budget_used > 1.1  # a smaller model trained longer: more than the training budget
    flops = compute_optimal("1e24 FLOP", inference_tokens="10T")
    assert flops.lifetime.budget_used == pytest.approx(flops.lifetime.flops.magnitude / 1e24, rel=1e-12)


@pytest.mark.parametrize("model, rule", [("gpt2", "20 tokens per parameter (Hoffmann et al. 2022)"),
                                         ("gpt3-175b", "catalog tokens"), ("resnet-50", "catalog samples"),
                                         ("vit-b-16", "catalog samples"), ("bert-base", "catalog tokens")])
def test_compare_models_trains_each_model_by_the_estimators_rule(model, rule):
    from costmodel.planning import default_workload

    row, = costmodel.compare_models([model])
    data, named = default_workload(model)
    assert row["workload"] == named == rule
    est = estimate_training(model, hardware="h100", n_gpus=1024, **data)
    assert row["flops_FLOP"] == pytest.approx(est.flops.to("FLOP").magnitude, rel=1e-12)
