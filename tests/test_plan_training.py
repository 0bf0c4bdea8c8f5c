"""plan_training and `costmodel plan-training`: the cheapest (or fastest within a budget) device
type, count and layout that meets a deadline, checked against the estimator it calls."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import costmodel
from costmodel.cli import main
from costmodel.planning.training import default_training_hardware, device_counts

MODEL = {"model": "llama-2-7b", "tokens": "1T"}
HARDWARE = ["h100", "a100-80gb"]
NODE = 8  # both are 8-GPU HGX nodes: above one node the planner takes whole nodes


def _searched(max_devices=65_536):
    """The device counts the planner tries on an 8-GPU-node device."""
    return [n for n in device_counts(max_devices) if n <= NODE or n % NODE == 0]


def _days(q):
    return q.to("day").magnitude


@pytest.fixture(scope="module")
def plan20():
    return costmodel.plan_training(**MODEL, hardware=HARDWARE, deadline="20 day")


def test_device_counts_are_powers_of_two_and_one_and_a_half_times_them():
    assert device_counts(100, at_least=7) == [8, 12, 16, 24, 32, 48, 64, 96]
    assert device_counts(65_536)[-3:] == [32768, 49152, 65536]


def test_the_default_hardware_is_datacenter_training_devices_with_a_price():
    ids = default_training_hardware()
    assert {"h100-sxm5-80gb", "a100-sxm4-80gb", "b200", "tpu-v5p"} <= set(ids)
    # PCIe and inference cards, and devices with no on-demand price, are left out
    assert not {"h100-pcie-80gb", "l4", "t4", "a10g", "h800-sxm5-80gb", "gb200"} & set(ids)


def test_the_plan_meets_the_deadline_and_is_what_the_estimator_says(plan20):
    best = plan20.best
    assert best is not None and plan20.objective == "cost"
    assert _days(best.wall_time) <= 20.0
    again = costmodel.estimate_training(**MODEL, hardware=best.hardware, n_gpus=best.n_gpus)
    assert _days(again.wall_time) == pytest.approx(_days(best.wall_time), rel=1e-12)
    assert again.layout == best.layout
    # cloud cost is device-hours x the profile's on-demand price (H100 $6.88/h, A100 80GB $3.43/h)
    price = {"h100-sxm5-80gb": 6.88, "a100-sxm4-80gb": 3.43}[best.hardware]
    assert best.cost.to("USD").magnitude == pytest.approx(best.gpu_hours.to("hour").magnitude * price, rel=1e-9)


def test_no_searched_alternative_meeting_the_deadline_is_cheaper(plan20):
    best_cost = plan20.best.cost.to("USD").magnitude
    checked = 0
    for hw in HARDWARE:
        for n in _searched():
            est = costmodel.estimate_training(**MODEL, hardware=hw, n_gpus=n)
            if est.fits and _days(est.wall_time) <= 20.0:
                checked += 1
                assert est.cost.to("USD").magnitude >= best_cost * (1 - 1e-12), (hw, n)
    assert checked >= 10  # the claim was tested against many real alternatives


def test_runners_up_hold_each_other_device_type_sorted_by_cost(plan20):
    ru = plan20.runners_up
    assert list(ru.hardware) == [h for h in ("h100-sxm5-80gb", "a100-sxm4-80gb") if h != plan20.best.hardware]
    row = ru.iloc[0]
    assert row.feasible and row.wall_time_days <= 20.0
    assert row.cost_USD >= plan20.best.cost.to("USD").magnitude
    assert row.wall_time_days_low < row.wall_time_days < row.wall_time_days_high
    assert ru.attrs["units"]["cost_USD"] == "USD"


def test_to_dict_is_strict_json(plan20):
    data = json.loads(json.dumps(plan20.to_dict(), allow_nan=False))
    assert data["best"]["hardware"] == plan20.best.hardware
    assert data["best"]["layout"]["tp"] == plan20.best.layout["tp"]
    assert data["deadline_days"] == pytest.approx(20.0)
    assert data["budget_USD"] is None and len(data["runners_up"]) == 1


@settings(max_examples=15)
@given(hs.floats(min_value=0.5, max_value=400.0), hs.floats(min_value=0.05, max_value=0.95))
def test_a_tighter_deadline_never_gives_a_cheaper_plan(days, shrink):
    loose = costmodel.plan_training(**MODEL, hardware=HARDWARE, deadline=f"{days} day", max_devices=4096)
    tight = costmodel.plan_training(**MODEL, hardware=HARDWARE, deadline=f"{days * shrink} day", max_devices=4096)
    if tight.best is None:
        return
    assert loose.best is not None  # whatever meets the tight deadline meets the loose one
    assert tight.best.cost.to("USD").magnitude >= loose.best.cost.to("USD").magnitude * (1 - 1e-12)
    assert _days(tight.best.wall_time) <= days * shrink


def test_a_budget_gives_the_fastest_run_within_it():
    budget = 400_000.0
    plan = costmodel.plan_training(**MODEL, hardware=HARDWARE, budget=f"${budget:.0f}", objective="time")
    assert plan.objective == "time"
    assert costmodel.plan_training(**MODEL, hardware=HARDWARE, budget=f"${budget:.0f}").best.n_gpus == plan.best.n_gpus
    best = plan.best
    assert best.cost.to("USD").magnitude <= budget
    df = costmodel.sweep_training(**MODEL, hardware=HARDWARE, n_gpus=_searched())
    within = df[df.fits & (df.cost_USD <= budget)]
    assert len(within) >= 5
    assert _days(best.wall_time) == pytest.approx(within.wall_time_days.min(), rel=1e-9)
    # and the cheapest plan under the same budget is slower (it spends less)
    cheap = costmodel.plan_training(**MODEL, hardware=HARDWARE, budget=f"${budget:.0f}", objective="cost").best
    assert cheap.cost <= best.cost and cheap.wall_time > best.wall_time


def test_an_impossible_deadline_gives_no_plan_and_says_how_close_it_came():
    plan = costmodel.plan_training(**MODEL, hardware=HARDWARE, deadline="1 hour", max_devices=1024)
    assert plan.best is None
    assert plan.reason.startswith("no candidate meets the deadline of 0.0417 days")
    assert "h100-sxm5-80gb misses the deadline: the fastest, on 1,024 devices, takes" in plan.reason
    assert set(plan.runners_up.hardware) == {"h100-sxm5-80gb", "a100-sxm4-80gb"} and not plan.runners_up.feasible.any()


def test_a_budget_too_small_gives_no_plan_and_names_the_cheapest():
    plan = costmodel.plan_training(**MODEL, hardware=["h100"], deadline="30 day", budget="$1000")
    assert plan.best is None
    assert "over the budget: the cheapest that meets the deadline costs $" in plan.reason
    cheapest = plan.runners_up.iloc[0].cost_USD
    assert cheapest > 1000 and f"${cheapest / 1e3:.3g}k" in plan.reason


def test_a_model_too_large_for_the_devices_gives_no_plan():
    plan = costmodel.plan_training("llama-2-70b", tokens="2T", hardware=["h100"], max_devices=8)
    assert plan.best is None
    assert plan.reason == ("no device type can run it: h100-sxm5-80gb: the model does not fit in the memory of up to "
                           "8 devices")


def test_devices_without_a_price_are_skipped_for_cost_and_kept_with_one():
    plan = costmodel.plan_training(**MODEL, hardware=["h100", "h800"], deadline="30 day")
    assert "h800-sxm5-80gb skipped: no price; pass price_per_gpu_hour= to include it" in plan.notes
    assert plan.best.hardware == "h100-sxm5-80gb" and plan.hardware == ("h100-sxm5-80gb", "h800-sxm5-80gb")
    priced = costmodel.plan_training(**MODEL, hardware=["h100", "h800"], deadline="30 day", price_per_gpu_hour="$2/h")
    assert not priced.notes or all("skipped" not in n for n in priced.notes)
    assert priced.best.cost.to("USD").magnitude == pytest.approx(priced.best.gpu_hours.to("hour").magnitude * 2.0)


def test_estimator_keywords_pass_through():
    plan = costmodel.plan_training(**MODEL, hardware=["h100", "a100-80gb"], deadline="30 day", dtype="fp8",
                                   tuning="tuned", global_batch="4M token")
    assert plan.best.dtype == "fp8" and plan.best.layout["tuning"] == "tuned"
    assert plan.best.layout["global_batch_tokens"] == pytest.approx(4e6)
    assert any(n.startswith("a100-sxm4-80gb skipped: a100-sxm4-80gb does not support fp8") for n in plan.notes)


def test_a_fixed_batch_is_never_spread_over_devices_it_cannot_feed():
    # 4M tokens at llama-2-7b's 4,096-token context are 976 sequences: at most 976 data-parallel ranks
    plan = costmodel.plan_training(**MODEL, hardware=["b200"], budget="$300k", global_batch="4M token")
    lay = plan.best.layout
    ranks = plan.best.n_gpus / (lay["tp"] * lay["pp"] * lay["cp"])
    assert ranks * 4096 <= 4e6  # the estimator's layout search keeps every rank fed (more tp or pp)
    assert plan.best.layout["global_batch_tokens"] == 4e6
    assert not any("below one micro-batch" in w for w in plan.best.warnings)


def test_the_default_batch_stays_gpt3s_where_a_layout_feeds_every_rank():
    from costmodel.steptime import default_global_batch

    plan = costmodel.plan_training(**MODEL, hardware=["b200"], budget="$300k")
    batch = plan.best.layout["global_batch_tokens"]
    ranks = plan.best.n_gpus / (plan.best.layout["tp"] * plan.best.layout["pp"])
    assert batch == pytest.approx(default_global_batch(plan.best.active_params.magnitude))
    assert ranks * 4096 <= batch
    assert not any(n.startswith("the global batch grows") for n in plan.notes)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"deadline": "-3 day"}, costmodel.UnitError, "deadline: expected a value more than zero"),
    ({"deadline": "30"}, costmodel.InputError, "deadline: give the deadline with its unit, such as '30 day'"),
    ({"hardware": ["h10"]}, costmodel.UnknownProfileError, "'h10' is not a known hardware profile; did you mean "
                                                           "'h100-sxm5-80gb'"),
    ({"budget": "500 GPU*h"}, costmodel.UnitError, "budget: expected an amount of money such as"),
    ({"objective": "speed"}, costmodel.InputError, "objective: expected 'cost' or 'time', got 'speed'"),
    ({"n_gpus": 8}, costmodel.InputError, r"n_gpus: plan_training searches the device count; give max_devices="),
    ({"tuning": ["typical", "tuned"]}, costmodel.InputError, "tuning: expected one value"),
    ({"hardware": []}, costmodel.InputError, "hardware: no hardware given"),
])
def test_bad_input_is_one_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        costmodel.plan_training(**MODEL, **({"hardware": HARDWARE} | kwargs))
    assert "\n" not in str(info.value)


# --- the command line -------------------------------------------------------------------------

CLI = ["plan-training", "llama-2-7b", "--tokens", "1T", "--hardware", "h100,a100-80gb", "--deadline", "20 day"]


def test_cli_json_is_the_plan(runner, plan20):
    result = runner.invoke(main, [*CLI, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    assert data["best"]["hardware"] == plan20.best.hardware and data["best"]["n_gpus"] == plan20.best.n_gpus
    assert data["best"]["wall_time_days"] <= 20.0
    assert data["costmodel"]["version"] == costmodel.__version__


def test_cli_human_output_shows_the_choice_and_the_runners_up(runner, plan20):
    result = runner.invoke(main, CLI)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Training plan (cheapest, deadline 20 days; up to 65,536 devices)"
    best = plan20.best
    assert lines[1].startswith(f"  choice       {best.n_gpus:,} x {best.hardware} (bf16), ")
    assert lines[2].startswith("  wall time    ") and "(" in lines[2]  # with its range
    assert "Runners-up" in result.stdout
    other = plan20.runners_up.hardware.iloc[0]
    assert any(line.startswith(other) for line in lines)


def test_cli_bare_deadline_is_days(runner, plan20):
    result = runner.invoke(main, [*CLI[:-2], "--deadline", "20", "--json"])
    assert json.loads(result.stdout)["deadline_days"] == pytest.approx(20.0)


@pytest.mark.parametrize("args, code, message", [
    (["--deadline", "-3 day"], 2, "Error: --deadline: expected a value more than zero, got '-3 day'"),
    (["--budget", "5 kg"], 2, "Error: --budget: expected an amount of money such as '$1000', got '5 kg'"),
    (["--hardware", "h10"], 1, "Error: --hardware: 'h10' is not a known hardware profile; did you mean "
                               "'h100-sxm5-80gb'"),
    (["--objective", "speed"], 2, "Error: --objective: 'speed' is not one of 'cost', 'time'."),
])
def test_cli_bad_input_is_one_line(runner, args, code, message):
    result = runner.invoke(main, [*CLI, *args])
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_infeasible_cli_plan_exits_zero_and_says_why(runner):
    result = runner.invoke(main, [*CLI[:-2], "--deadline", "1 hour", "--max-devices", "64"])
    assert result.exit_code == 0
    assert "  choice       none" in result.stdout and "misses the deadline" in result.stdout
    assert "nan" not in result.stdout.lower()
