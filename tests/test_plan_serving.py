"""plan_serving and `costmodel plan-serving`: the cheapest deployment that serves a rate within
p99 targets, checked against estimate_inference (the estimator it runs over arrays)."""

import json
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as hs

import costmodel
from costmodel.cli import main
from costmodel.planning.serving import INTERACTIVE_SLA, replica_counts

REQUEST = {"prompt_tokens": 512, "output_tokens": 256}
SLA = {"ttft_p99": "1 s", "tpot_p99": "50 ms"}


def _ms(q):
    return q.to("ms").magnitude


@pytest.fixture(scope="module")
def plan70():
    return costmodel.plan_serving("llama-2-70b", hardware="h100", rate="12/s", **REQUEST, **SLA)


def _direct(model, option, rate, **kw):
    return costmodel.estimate_inference(model, hardware=option.hardware, n_gpus=option.devices_per_replica,
                                        pp=option.pipeline, tp=option.tensor_parallel, ep=option.expert_parallel,
                                        batch_size=option.batch_limit, dtype=option.dtype,
                                        engine=option.engine, rate=rate / option.replicas, **REQUEST, **kw)


def test_the_plan_estimated_directly_meets_its_targets(plan70):
    for option in (plan70.best, *plan70.runners_up):  # every one a single-node layout here
        est = _direct("llama-2-70b", option, 12.0)
        assert _ms(est.ttft_p99) <= 1000.0 and _ms(est.tpot_p99) <= 50.0
        # the vectorised search and the estimator are one pipeline: the same figures to rounding
        assert _ms(est.ttft_p99) == pytest.approx(_ms(option.ttft_p99), rel=1e-9)
        assert _ms(est.tpot_p99) == pytest.approx(_ms(option.tpot_p99), rel=1e-9)
        assert est.cost_per_million_output_tokens.magnitude == pytest.approx(
            option.cost_per_million_output_tokens.magnitude, rel=1e-9)
        assert est.cost_per_million_input_tokens.magnitude == pytest.approx(
            option.cost_per_million_input_tokens.magnitude, rel=1e-9)


def test_the_sustainable_rate_is_the_edge_of_the_targets(plan70):
    b = plan70.best
    rate = b.sustainable_rate.to("1/s").magnitude
    over = _direct("llama-2-70b", b, 1.05 * rate * b.replicas)  # 5% past it, one replica misses
    assert _ms(over.ttft_p99) > 1000.0 or _ms(over.tpot_p99) > 50.0 or over.max_rate.magnitude <= 1.05 * rate
    # replicas = ceil(rate / sustainable) and headroom = replicas x sustainable / rate - 1
    assert b.replicas == -(-12.0 // rate)
    assert b.headroom == pytest.approx(b.replicas * rate / 12.0 - 1.0, rel=1e-12)
    assert b.headroom >= 0.0


def test_the_cost_per_hour_is_the_devices_at_their_price(plan70):
    b = plan70.best
    h100 = costmodel.get_hardware("h100").price_per_hour("on_demand")
    assert b.cost_per_hour.to("USD/h").magnitude == pytest.approx(b.devices * h100, rel=1e-9)
    assert plan70.estimate.ttft_p99.to("ms").magnitude == pytest.approx(_ms(b.ttft_p99), rel=1e-9)


def test_runners_up_are_other_layouts_or_precisions_no_cheaper(plan70):
    keys = [(o.hardware, o.dtype, o.devices_per_replica) for o in (plan70.best, *plan70.runners_up)]
    assert len(set(keys)) == len(keys) and len(plan70.runners_up) == 4
    costs = [o.cost_per_hour.magnitude for o in (plan70.best, *plan70.runners_up)]
    assert costs == sorted(costs)


def test_a_70b_model_at_bf16_needs_two_80gb_devices_per_replica():
    plan = costmodel.plan_serving("llama-2-70b", hardware="h100", rate="2/s", dtype="bf16", **REQUEST, **SLA)
    # 69B x 2 bytes = 138 GB of weights against 85.9 GB per device
    assert plan.best.dtype == "bf16"
    assert plan.best.devices_per_replica >= 2


def test_gpt4_scale_moe_gets_a_multi_node_replica():
    plan = costmodel.plan_serving("gpt4", hardware="h100", rate="1/s", dtype="bf16", **REQUEST,
                                  ttft_p99="5 s", tpot_p99="200 ms")
    # ~1.83T x 2 bytes = 3.7 TB: 43 devices of 85.9 GB at least, so 8 nodes of 8 (whole nodes)
    best = plan.best
    assert best.devices_per_replica == 64 and best.nodes == 8
    assert "pipeline stage" in plan.assumptions["layout"]
    est = _direct("gpt4", best, 1.0)
    assert _ms(plan.estimate.tpot_p99) == pytest.approx(_ms(best.tpot_p99), rel=1e-9)
    assert _ms(est.tpot_p99) == pytest.approx(_ms(best.tpot_p99), rel=1e-9)
    assert _ms(est.ttft_p99) <= 5000 and _ms(est.tpot_p99) <= 200
    # 16 experts, 2 per token: the experts over 16 groups of the 64 devices, attention inside a node (its
    # all-reduces on NVLink), the two all-to-alls of 2/16 of the hidden states on the network
    assert best.expert_parallel == 16 and best.tensor_parallel <= 8 and best.pipeline == 1
    # the layouts without expert parallelism, estimated directly, cost no less per request
    for pp in (1, 8):
        alt = costmodel.estimate_inference("gpt4", hardware="h100", n_gpus=64, pp=pp, batch_size=best.batch_limit,
                                           dtype="bf16", rate=1.0 / best.replicas, **REQUEST)
        if _ms(alt.ttft_p99) <= 5000 and _ms(alt.tpot_p99) <= 200:
            assert alt.cost.magnitude >= est.cost.magnitude * (1 - 1e-9)


def test_pipeline_stages_split_the_weights_and_pass_tokens_in_turn():
    kw = dict(hardware="h100", n_gpus=16, prompt_tokens=512, output_tokens=256, batch_size=64, dtype="fp8")
    tp16 = costmodel.estimate_inference("llama-3.1-405b", **kw)
    pp2 = costmodel.estimate_inference("llama-3.1-405b", pp=2, **kw)
    assert pp2.n_gpus == 16 and pp2.pp == 2
    assert pp2.memory.weights == tp16.memory.weights  # the same weights over the same 16 devices
    # tensor parallelism over 2 nodes all-reduces every layer on the network; 2 stages of 8 send once
    assert pp2.tpot.magnitude < tp16.tpot.magnitude
    with pytest.raises(costmodel.InputError, match="multiple of pp"):
        costmodel.estimate_inference("llama-3.1-405b", pp=3, **kw)


def test_a_list_of_hardware_picks_the_cheapest_single_device_plan():
    devices = ["h100", "l40s", "a100-80gb"]
    kw = {"rate": "12/s", **REQUEST, **INTERACTIVE_SLA}
    alone = {d: costmodel.plan_serving("llama-3.1-8b", hardware=d, **kw).best for d in devices}
    plan = costmodel.plan_serving("llama-3.1-8b", hardware=devices, **kw)
    cheapest = min(alone.values(), key=lambda o: o.cost_per_hour.magnitude)
    assert plan.best.hardware == cheapest.hardware
    assert plan.best.cost_per_hour.magnitude == pytest.approx(cheapest.cost_per_hour.magnitude, rel=1e-12)
    assert {o.hardware for o in plan.by_hardware} == {o.hardware for o in alone.values()}


def test_the_interactive_sla_is_one_second_and_fifty_ms():
    assert dict(INTERACTIVE_SLA) == {"ttft_p99": 1.0, "tpot_p99": 0.05}


def test_replica_counts_fill_a_node_then_take_whole_nodes():
    assert replica_counts(8, 64) == [1, 2, 4, 8, 16, 32, 64]
    assert replica_counts(4, 10) == [1, 2, 4, 8]


def test_units_of_rate_and_targets_agree():
    a = costmodel.plan_serving("llama-3.1-8b", hardware="h100", rate="720/min", **REQUEST, ttft_p99=1.0, tpot_p99=0.05)
    b = costmodel.plan_serving("llama-3.1-8b", hardware="h100", rate=12.0, **REQUEST, **SLA)
    assert a.to_dict() == b.to_dict()


@settings(max_examples=8, deadline=None)
@given(tpot=hs.floats(30.0, 150.0), looser=hs.floats(1.0, 3.0))
def test_loosening_a_target_never_raises_the_cost(tpot, looser):
    kw = {"hardware": "h100", "rate": "20/s", **REQUEST, "ttft_p99": "2 s"}
    tight = costmodel.plan_serving("llama-3.1-8b", tpot_p99=tpot / 1e3, **kw)
    loose = costmodel.plan_serving("llama-3.1-8b", tpot_p99=tpot * looser / 1e3, **kw)
    assert loose.best.cost_per_hour.magnitude <= tight.best.cost_per_hour.magnitude * (1 + 1e-12)


@settings(max_examples=8, deadline=None)
@given(rate=hs.floats(0.5, 60.0), more=hs.floats(1.0, 4.0))
def test_a_higher_rate_never_needs_fewer_devices(rate, more):
    kw = {"hardware": "h100", **REQUEST, **SLA}
    try:
        low = costmodel.plan_serving("llama-2-70b", rate=rate, **kw)
        high = costmodel.plan_serving("llama-2-70b", rate=rate * more, **kw)
    except costmodel.InputError:
        assume(False)
    assert high.best.devices >= low.best.devices


def test_an_impossible_sla_says_the_best_achievable_in_one_line():
    with pytest.raises(costmodel.InputError, match=r"best achievable is p99 TTFT [\d.]+ ms \(\d+ x h100") as info:
        costmodel.plan_serving("llama-2-70b", hardware="h100", rate="12/s", **REQUEST, ttft_p99="1 s",
                               tpot_p99="1 ms")
    assert info.value.argument == "tpot_p99"
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("kw", "argument"), [
    ({"rate": "12 GB"}, "rate"), ({"rate": -3}, "rate"), ({"rate": "0/s"}, "rate"),
    ({"rate": "12/s", "ttft_p99": "5 GB"}, "ttft_p99"), ({"rate": "12/s", "tpot_p99": -1}, "tpot_p99"),
    ({"rate": "12/s", "max_devices": 0}, "max_devices"), ({"rate": "12/s", "dtype": "fp9"}, "dtype"),
])
def test_bad_inputs_are_one_line_errors_naming_the_argument(kw, argument):
    with pytest.raises(costmodel.CostModelError) as info:
        costmodel.plan_serving("llama-2-7b", hardware="h100", **REQUEST, **kw)
    assert info.value.argument == argument
    assert "\n" not in str(info.value)


def test_an_unknown_model_or_device_suggests_a_name():
    with pytest.raises(costmodel.UnknownProfileError, match="did you mean 'llama-2-7b'"):
        costmodel.plan_serving("llama-2-7c", hardware="h100", rate="1/s", **REQUEST)
    with pytest.raises(costmodel.UnknownProfileError, match="h100"):
        costmodel.plan_serving("llama-2-7b", hardware="h10", rate="1/s", **REQUEST)


# --- CLI -----------------------------------------------------------------------------------------

CLI = ["plan-serving", "llama-2-70b", "--hardware", "h100", "--rate", "12/s", "--ttft-p99", "1s", "--tpot-p99", "50ms"]


def test_cli_summary_names_the_deployment_and_its_runners_up(runner, plan70):
    result = runner.invoke(main, CLI)
    assert result.exit_code == 0, result.output
    b = plan70.best
    assert f"{b.replicas} replica(s) x {b.devices_per_replica} h100-sxm5-80gb ({b.layout}), {b.dtype}" in result.stdout
    assert "(target 1 s)" in result.stdout and "(target 50 ms)" in result.stdout
    assert "Runners-up:" in result.stdout and "per M output tokens" in result.stdout


def test_cli_json_is_the_plan(runner, plan70):
    result = runner.invoke(main, [*CLI, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["best"] == plan70.to_dict()["best"]
    assert data["tpot_p99_target_ms"] == pytest.approx(50.0)
    assert len(data["runners_up"]) == 4


def test_cli_hardware_repeats_and_commas_compare_devices(runner):
    result = runner.invoke(main, ["plan-serving", "llama-3.1-8b", "--hardware", "h100", "--hardware", "l40s,a100-80gb",
                                  "--rate", "12", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["by_hardware"]) == 3


@pytest.mark.parametrize(("args", "code", "flag"), [
    (["--rate", "12 GB"], 2, "--rate"), (["--rate", "12/s", "--tpot-p99", "1ms"], 2, "--tpot-p99"),
])
def test_cli_bad_input_is_one_line_on_stderr(runner, args, code, flag):
    result = runner.invoke(main, ["plan-serving", "llama-2-70b", "--hardware", "h100", *args])
    assert result.exit_code == code
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"Error: {flag}: ")


def test_cli_unknown_model_exits_1(runner):
    result = runner.invoke(main, ["plan-serving", "llama-2-7c", "--hardware", "h100", "--rate", "1/s"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "did you mean" in result.stderr


def test_a_moe_larger_than_a_node_gets_an_expert_layout_that_meets_its_targets():
    # DeepSeek-V3 at bf16: 1.34 TB of weights against 8 x 85.9 GB in an H100 node
    plan = costmodel.plan_serving("deepseek-v3", hardware="h100", rate="2/s", dtype="bf16", **REQUEST,
                                  ttft_p99="3 s", tpot_p99="100 ms")
    best = plan.best
    assert best.nodes >= 2 and best.devices_per_replica >= 16
    assert best.devices_per_replica == best.pipeline * best.tensor_parallel * best.attention_groups
    est = _direct("deepseek-v3", best, 2.0)
    assert (est.tp, est.ep, est.pp) == (best.tensor_parallel, best.expert_parallel, best.pipeline)
    assert _ms(est.ttft_p99) <= 3000.0 and _ms(est.tpot_p99) <= 100.0
    assert _ms(est.tpot_p99) == pytest.approx(_ms(best.tpot_p99), rel=1e-9)
    assert _ms(plan.estimate.ttft_p99) == pytest.approx(_ms(best.ttft_p99), rel=1e-9)
    assert best.to_dict()["expert_parallel"] == best.expert_parallel


@settings(max_examples=6, deadline=None)
@given(rate=hs.floats(0.5, 40.0), tpot=hs.floats(25.0, 120.0), model=hs.sampled_from(["mixtral-8x7b", "llama-2-70b"]))
def test_a_returned_deployment_meets_its_targets_when_estimated_directly(rate, tpot, model):
    try:
        plan = costmodel.plan_serving(model, hardware="h100", rate=rate, **REQUEST, ttft_p99="1 s", tpot_p99=tpot / 1e3)
    except costmodel.InputError:
        assume(False)
    est = _direct(model, plan.best, rate)
    assert _ms(est.ttft_p99) <= 1000.0 * (1 + 1e-9) and _ms(est.tpot_p99) <= tpot * (1 + 1e-9)


LONG = {"prompt_tokens": 8000, "output_tokens": 100}


@pytest.fixture(scope="module")
def split70():
    return costmodel.plan_serving("llama-2-70b", hardware="h100", rate="20/s", **LONG, ttft_p99="3 s",
                                  tpot_p99="40 ms", disaggregate=True)


def test_long_prompts_are_cheaper_disaggregated_and_the_plan_says_so(split70):
    b = split70.best
    colocated = costmodel.plan_serving("llama-2-70b", hardware="h100", rate="20/s", **LONG, ttft_p99="3 s",
                                       tpot_p99="40 ms")
    assert b.deployment == "disaggregated" and b.prefill is not None
    assert b.cost_per_hour.magnitude < colocated.best.cost_per_hour.magnitude
    assert b.devices == b.replicas * b.devices_per_replica + b.prefill.replicas * b.prefill.devices_per_replica
    h100 = costmodel.get_hardware("h100").price_per_hour("on_demand")
    assert b.cost_per_hour.to("USD/h").magnitude == pytest.approx(b.devices * h100, rel=1e-9)
    assert any(n.startswith("disaggregated prefill/decode chosen") for n in split70.notes)
    assert split70.to_dict()["best"]["deployment"] == "disaggregated"
    assert _ms(b.ttft_p99) <= 3000.0 and _ms(b.tpot_p99) <= 40.0


def test_the_disaggregated_ttft_includes_the_kv_cache_transfer(split70):
    b, spec = split70.best, costmodel.get_model("llama-2-70b")
    from costmodel.inference import BYTES

    # 8000 tokens x 80 layers x K and V x 8 KV heads x 128 dims, over each sending device's network share
    kv = 8000 * spec.layers * 2 * spec.kv_heads * (spec.d_model // spec.heads) * BYTES[split70.estimate.kv_dtype]
    links = min(b.prefill.tensor_parallel * b.prefill.pipeline, b.tensor_parallel * b.pipeline)
    network = costmodel.get_hardware("h100").number("scale_out_bandwidth")
    assert _ms(b.kv_transfer) == pytest.approx(kv / (links * network) * 1e3, rel=1e-12)
    assert _ms(b.ttft_p99) >= _ms(b.prefill.ttft_p99) + _ms(b.kv_transfer)


def test_the_prefill_pool_serves_one_prompt_at_a_time(split70):
    p = split70.best.prefill
    alone = costmodel.estimate_inference("llama-2-70b", hardware="h100", n_gpus=p.devices_per_replica, pp=p.pipeline,
                                         tp=p.tensor_parallel, ep=p.expert_parallel, dtype=p.dtype, engine=p.engine,
                                         prompt_tokens=8000, output_tokens=0)
    service = 1.0 / p.sustainable_rate.to("1/s").magnitude
    assert alone.latency.to("s").magnitude == pytest.approx(service, rel=1e-9)
    assert p.replicas >= 20.0 * service  # enough of them to keep up
    assert p.headroom == pytest.approx(p.replicas / (20.0 * service) - 1.0, rel=1e-9)


def test_the_prefill_queue_is_erlang_c_and_pollaczek_khinchine():
    import numpy as np

    from costmodel.planning.disaggregated import erlang_c, prefill_pool_p99

    assert float(erlang_c(np.array(2.0), np.array(1.0))) == pytest.approx(1 / 3, rel=1e-12)  # M/M/2 at a = 1
    # one server of a fixed 0.1 s at 6/s: waits with chance 0.6, mean wait rho S / (2 (1 - rho)) (M/D/1)
    mean = 0.6 * 0.1 / (2 * 0.4)
    p99 = mean / 0.6 * math.log(0.6 / 0.01) + 0.1
    assert float(prefill_pool_p99(np.array(0.1), np.array(1.0), 6.0)) == pytest.approx(p99, rel=1e-12)
    assert float(prefill_pool_p99(np.array(0.1), np.array(1.0), 12.0)) == math.inf


def test_disaggregation_is_not_chosen_where_it_costs_no_less(plan70):
    split = costmodel.plan_serving("llama-2-70b", hardware="h100", rate="12/s", **REQUEST, **SLA, disaggregate=True)
    assert split.best.cost_per_hour.magnitude <= plan70.best.cost_per_hour.magnitude * (1 + 1e-12)
    if split.best.deployment == "colocated":
        assert split.best.to_dict() == plan70.best.to_dict()
        assert any(n.startswith("colocated chosen") for n in split.notes)


@pytest.mark.parametrize("disaggregate", [False, True])
def test_a_plan_without_output_tokens_has_no_per_output_figures_and_strict_json(disaggregate):
    # found by fuzzing the API: energy per million output tokens was NaN in to_dict() (0 / 0)
    import json

    plan = costmodel.plan_serving("llama-2-7b", hardware="h100", rate="1/s", prompt_tokens=512, output_tokens=0,
                                  disaggregate=disaggregate)
    best = plan.to_dict()["best"]
    assert best["energy_per_million_output_tokens_kWh"] is None and best["cost_per_million_output_tokens_USD"] is None
    assert plan.best.energy_per_output_token is None
    assert best["cost_per_million_input_tokens_USD"] == pytest.approx(6.88 / (512 * 3600 / 1e6), rel=1e-9)
    json.dumps(plan.to_dict(), allow_nan=False)


def test_the_best_achievable_p99s_are_found_when_candidates_tie():
    # found by fuzzing the report: two candidates with the same light-load p99 were compared by
    # their records ("'<' not supported between instances of 'CandidateRows'")
    with pytest.raises(costmodel.InputError) as info:
        costmodel.plan_serving("gpt2-xl", hardware="jetson-orin-nano-super-8gb", rate="1e4/s", prompt_tokens=32000,
                               output_tokens=256, ttft_p99="1 s", tpot_p99="50 ms")
    assert str(info.value) == (
        "ttft_p99: no deployment of gpt2-xl meets p99 TTFT 1000 ms and p99 TPOT 50 ms with up to 64 devices per "
        "replica; the best achievable is p99 TTFT 1777 ms (64 x jetson-orin-nano-super-8gb at w4a16, batch limit 1) "
        "and p99 TPOT 17.25 ms (32 x jetson-orin-nano-super-8gb at w4a16, batch limit 1)")


def test_a_split_without_prompt_tokens_prices_no_input_tokens():
    # found by scripts/fuzz_cli.py (--prompt 0 --disaggregate): the split divided its prefill pool's
    # price by zero input tokens an hour
    request = dict(hardware="h100", rate="1/s", prompt_tokens=0, output_tokens=256)
    plan = costmodel.plan_serving("llama-2-7b", **request, disaggregate=True)
    assert plan.best.cost_per_million_input_tokens is None
    assert plan.best.to_dict() == costmodel.plan_serving("llama-2-7b", **request).best.to_dict()
    assert any(n.startswith("colocated chosen: disaggregated ") for n in plan.notes)  # the split was priced


def test_cli_disaggregate_shows_both_pools(runner):
    result = runner.invoke(main, ["plan-serving", "llama-2-70b", "--hardware", "h100", "--rate", "20/s", "--prompt",
                                  "8000", "--output", "100", "--ttft-p99", "3s", "--tpot-p99", "40ms", "--disaggregate"])
    assert result.exit_code == 0, result.output
    assert "decode replica(s)" in result.output and "prefill pool" in result.output and "KV cache" in result.output
