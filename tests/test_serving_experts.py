"""Expert parallelism and data-parallel attention in serving (costmodel.inference, estimate_inference's
``tp`` and ``ep``): memory from the model spec, the all-to-all's formula, bad layouts."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import costmodel
from costmodel.cli import main
from costmodel.inference import ServingHardware, ServingModel, alltoall_seconds, layer_comm_seconds

KW = {"hardware": "h100", "prompt_tokens": 512, "output_tokens": 128, "batch_size": 8, "dtype": "bf16"}


def _mixtral_bytes():
    """Mixtral 8x7B's routed-expert and other weights at 2 bytes, from its catalog entry: every layer
    holds 8 SwiGLU experts of three d_model x ffn_dim matrices (Jiang et al. 2024, Table 1)."""
    spec = costmodel.get_model("mixtral-8x7b")
    experts = spec.layers * spec.experts * 3 * spec.d_model * spec.ffn_dim
    return 2.0 * experts, 2.0 * (spec.params.magnitude - experts)


def test_experts_over_twice_the_devices_halve_their_bytes_per_device():
    experts, dense = _mixtral_bytes()  # 90.2 GB of experts, 3.2 GB of attention and embeddings
    tp4 = costmodel.estimate_inference("mixtral-8x7b", n_gpus=4, **KW)
    # two attention groups of tp4, each with its copy of the dense weights; the experts over all 8
    ep8 = costmodel.estimate_inference("mixtral-8x7b", n_gpus=8, tp=4, ep=8, **KW)
    assert tp4.memory.weights.to("B").magnitude == pytest.approx(dense / 4 + experts / 4, rel=1e-12)
    assert ep8.memory.weights.to("B").magnitude == pytest.approx(dense / 4 + experts / 8, rel=1e-12)
    expert_share = lambda est: est.memory.weights.to("B").magnitude - dense / 4  # noqa: E731
    assert expert_share(ep8) == pytest.approx(expert_share(tp4) / 2, rel=1e-12)
    assert (ep8.tp, ep8.ep, ep8.n_gpus) == (4, 8, 8)


def test_data_parallel_attention_holds_the_dense_weights_on_every_device():
    experts, dense = _mixtral_bytes()
    one = costmodel.estimate_inference("mixtral-8x7b", n_gpus=8, tp=1, ep=8, **KW)
    assert one.memory.weights.to("B").magnitude == pytest.approx(dense + experts / 8, rel=1e-12)
    # the KV cache of the requests in flight is spread over the 8 devices either way
    tp8 = costmodel.estimate_inference("mixtral-8x7b", n_gpus=8, **KW)
    assert one.memory.kv_cache.magnitude == pytest.approx(tp8.memory.kv_cache.magnitude, rel=1e-12)


def test_the_all_to_all_is_bruck_latency_and_pairwise_bandwidth():
    # 8 devices in a node: log2(8) hops, 7/8 of the message over NVLink
    assert alltoall_seconds(1e6, 8.0, 450e9, 50e9, 8.0, 5e-6) == pytest.approx(3 * 5e-6 + 7 / 8 * 1e6 / 450e9, rel=1e-12)
    # 32 over 4 nodes: 5 hops; 7/32 of it on NVLink, 24/32 on the network, at once: the network's share binds
    assert alltoall_seconds(1e6, 32.0, 450e9, 50e9, 8.0, 5e-6) == pytest.approx(5 * 5e-6 + 24 / 32 * 1e6 / 50e9,
                                                                               rel=1e-12)
    assert alltoall_seconds(1e6, 1.0, 450e9, 50e9, 8.0, 5e-6) == 0.0
    import numpy as np  # the array path gives the same
    arr = alltoall_seconds(np.array([1e6, 1e6]), np.array([8.0, 32.0]), 450e9, 50e9, 8.0, 5e-6)
    assert arr == pytest.approx([3 * 5e-6 + 7 / 8 * 1e6 / 450e9, 5 * 5e-6 + 24 / 32 * 1e6 / 50e9], rel=1e-12)


def test_expert_layers_dispatch_top_k_hidden_states_when_that_is_faster():
    m = ServingModel(params=46.7e9, active_params=12.9e9, weight_bytes=93.4e9, expert_bytes=90.2e9, experts=8.0,
                     experts_per_token=2.0, d_model=4096.0, layers=32.0, expert_layers=32.0)
    hw = ServingHardware(peak=1e15, bandwidth=3e12, capacity=80e9, tdp=700.0, link=450e9, network=50e9, node=8.0)
    lat = 5e-6
    for tokens in (64.0, 4096.0):
        # one attention group per device (tp 1): no attention all-reduce; the expert block either reduces
        # every token's output over the 8 devices of the node (one shot between two barriers) ...
        reduce = 2 * lat + 2 * 7 / 8 * tokens * 8192 / 450e9
        # ... or sends each device's tokens / 8 to their 2 experts' devices and back (Bruck: log2(8) steps each way)
        a2a = 2 * (3 * lat + 7 / 8 * tokens * 2 / 8 * 8192 / 450e9)
        # a few tokens: the all-to-all's six latencies cost more than the reduce's two; many: its bytes are fewer
        assert (a2a < reduce) == (tokens > 64)
        assert layer_comm_seconds(m, hw, 8.0, 1.0, 8.0, tokens, lat) == pytest.approx(32 * min(a2a, reduce), rel=1e-12)
        assert layer_comm_seconds(m, hw, 8.0, 1.0, 1.0, tokens, lat) == pytest.approx(32 * reduce, rel=1e-12)
        # attention over all 8 (tp 8), no expert parallelism: two all-reduces per layer, as before
        assert layer_comm_seconds(m, hw, 8.0, 8.0, 1.0, tokens, lat) == pytest.approx(2 * 32 * reduce, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(tokens=hs.floats(1.0, 1e5), ep=hs.sampled_from([2.0, 4.0, 8.0, 16.0, 32.0]))
def test_expert_parallelism_never_slows_the_collectives(tokens, ep):
    # the runtime takes the faster of reducing and dispatching: never slower than without ep
    m = ServingModel(params=1.8e12, active_params=2.8e11, weight_bytes=3.6e12, expert_bytes=3.4e12, experts=32.0,
                     experts_per_token=2.0, d_model=10752.0, layers=120.0, expert_layers=120.0)
    hw = ServingHardware(peak=1e15, bandwidth=3e12, capacity=80e9, tdp=700.0, link=450e9, network=50e9, node=8.0)
    for tp in (1.0, 8.0, 32.0):
        with_ep = layer_comm_seconds(m, hw, 32.0, tp, ep, tokens, 5e-6)
        without = layer_comm_seconds(m, hw, 32.0, tp, 1.0, tokens, 5e-6)
        assert with_ep <= without * (1 + 1e-12) and math.isfinite(with_ep)


@pytest.mark.parametrize("batch", [1, 4, 64])
def test_a_decode_step_reads_the_experts_its_batch_touches(batch):
    # B tokens routed to k of E experts touch E (1 - (1 - k/E)^B) of them: the step's weight bytes
    from costmodel.inference import decode_step

    experts, dense = _mixtral_bytes()
    m = ServingModel(params=46.7e9, active_params=12.9e9, weight_bytes=dense + experts, expert_bytes=experts,
                     experts=8.0, experts_per_token=2.0, kv_per_token=131072.0)
    _, moved = decode_step(m, float(batch), 1000.0)
    touched = 1 - (1 - 2 / 8) ** batch  # 0.25, 0.68, all but 1e-8
    assert moved == pytest.approx(dense + experts * touched + batch * 1000 * 131072, rel=1e-12)
    # spread over the stage's devices either way: at one sequence the step time does not change with ep
    a = costmodel.estimate_inference("mixtral-8x7b", n_gpus=8, ep=8, **{**KW, "batch_size": 1})
    b = costmodel.estimate_inference("mixtral-8x7b", n_gpus=8, **{**KW, "batch_size": 1})
    assert a.tpot.magnitude == pytest.approx(b.tpot.magnitude, rel=1e-9)


def test_ep_on_a_dense_model_warns_as_training_does():
    est = costmodel.estimate_inference("llama-2-7b", n_gpus=2, ep=2, **KW)
    assert any("ep=2 has no effect: the model has no experts" in w for w in est.warnings)
    train = costmodel.estimate_training("llama-2-7b", hardware="h100", n_gpus=8, ep=2, tokens="1B")
    assert any("ep=2 has no effect" in w for w in train.warnings)


@pytest.mark.parametrize("kw, argument, message", [
    ({"model": "mixtral-8x7b", "n_gpus": 8, "ep": 3}, "ep", "must divide the devices of a pipeline stage"),
    ({"model": "mixtral-8x7b", "n_gpus": 16, "ep": 16}, "ep", "ep=16 does not divide the model's 8 experts"),
    ({"model": "mixtral-8x7b", "n_gpus": 8, "tp": 3}, "tp", "must divide the devices of a pipeline stage"),
    ({"model": "mixtral-8x7b", "n_gpus": 8, "pp": 2, "ep": 8}, "ep", "must divide the devices of a pipeline stage"),
    ({"model": "llama-2-7b", "n_gpus": 4, "tp": 2}, "tp", "data-parallel attention, for a mixture of experts"),
])
def test_a_bad_layout_is_a_one_line_error(kw, argument, message):
    with pytest.raises(costmodel.InputError, match=message) as info:
        costmodel.estimate_inference(**{**KW, **kw})
    assert info.value.argument == argument and "\n" not in str(info.value)


def test_cli_ep_and_tp(runner):
    result = runner.invoke(main, ["infer", "mixtral-8x7b", "--hardware", "h100", "--gpus", "8", "--tp", "4", "--ep", "8"])
    assert result.exit_code == 0, result.output
    assert "8 x h100-sxm5-80gb (tp4 x ep8)" in result.output
    bad = runner.invoke(main, ["infer", "mixtral-8x7b", "--hardware", "h100", "--gpus", "16", "--ep", "16"])
    assert bad.exit_code == 2 and "--ep" in bad.output and len(bad.output.strip().splitlines()) == 1
