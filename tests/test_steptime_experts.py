"""A mixture of experts in the step-time model (costmodel/steptime.py): where its tokens travel
(group-limited routing, the nodes a token reaches) and how its expert gradients are reduced."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs

import costmodel
from costmodel.architecture import expert_parameters
from costmodel.steptime import COMM_EFFICIENCY, remote_nodes, routed_parameters, step_terms

# DeepSeek-V3's pre-training (arXiv:2412.19437 Sec. 3.1-3.2): 64-way EP over 8 nodes of 8 H800s,
# 50 GB/s of InfiniBand and 160 GB/s of NVLink per GPU (Sec. 3.2.2); 256 routed experts, 8 a
# token, from 4 of 8 groups (config.json n_group 8, topk_group 4)
DSV3 = dict(top_k=8.0, experts=256.0, nodes=8.0, groups=8.0, group_top_k=4.0)


def test_the_nodes_a_deepseek_v3_token_reaches_by_hand():
    """Four of eight groups, one a node: the token's experts lie on exactly 4 nodes. Its 8
    experts, drawn from those nodes' 128 (32 a node), miss a given one of them with chance
    C(96, 8) / C(128, 8), so reach 4 (1 - 0.0929) = 3.63 nodes, and its own node is one of
    them with chance 1/8: 3.18 nodes over InfiniBand, against 7.9 copies sent one per expert."""
    reached = 4 * (1 - math.comb(96, 8) / math.comb(128, 8))
    assert remote_nodes(**DSV3) == pytest.approx(reached * 7 / 8, rel=1e-12)
    assert remote_nodes(**DSV3) == pytest.approx(3.175, abs=5e-4)
    # without the groups: any 8 of 256 experts, a node's 32 missed with chance C(224, 8) / C(256, 8)
    free = 8 * (1 - math.comb(224, 8) / math.comb(256, 8)) * 7 / 8
    assert remote_nodes(top_k=8.0, experts=256.0, nodes=8.0) == pytest.approx(free, rel=1e-12)
    # one group chosen: one node, reached for certain, the token's own one time in eight
    assert remote_nodes(**{**DSV3, "group_top_k": 1.0}) == pytest.approx(7 / 8)
    # fewer groups than nodes: each group spans two nodes, so 2 groups cover 4 of 8 nodes
    spanning = 4 * (1 - math.comb(96, 8) / math.comb(128, 8)) * 7 / 8
    assert remote_nodes(**{**DSV3, "groups": 4.0, "group_top_k": 2.0}) == pytest.approx(spanning, rel=1e-12)
    assert remote_nodes(**{**DSV3, "nodes": 1.0}) == 0.0  # all within one node


def _ep_terms(**kw):
    base = dict(hardware_flops=2.5e23, tokens=1e12, params=671e9, active_params=37e9, layers=61.0, d_model=7168.0,
                seq_len=4096.0, top_k=8.0, moe=1.0, experts=256.0, expert_ffn=2048.0, gemm=1.3e15,
                bandwidth=3.35e12, link=160e9, scale_out=50e9, node=8.0, n=2048.0, tp=1.0, pp=16.0, cp=1.0,
                ep=64.0, vpp=1.0, micro_batch=1.0, global_batch=6.3e7, zero_stage=1.0, recompute=1.0,
                sequence_parallel=math.nan, optimizer_bytes=12.0)
    return step_terms(**{**base, **kw})


def test_expert_all_to_all_of_deepseek_v3_by_hand():
    """Four all-to-alls a layer of d_model 16-bit values a copy, at 80% of the link: group-limited,
    3.18 copies a token cross InfiniBand (50 GB/s) while the NVLink forwarding carries the 7 of 8
    copies bound for another GPU of the node (160 GB/s); the network is the slower, 6.4e-11 s a
    byte-copy against 4.4e-11. Unlimited, each of the 8 x 7/8 copies to another node crosses
    InfiniBand."""
    layer_tokens = 1e12 / (2048 / 16) * 61 / 16  # tokens a device sees per layer: tokens / dp x layers / pp
    width = layer_tokens * 4 * 7168 * 2 / COMM_EFFICIENCY
    grouped = _ep_terms(expert_groups=8.0, group_top_k=4.0)
    assert float(grouped.ep) == pytest.approx(width * remote_nodes(**DSV3) / 50e9, rel=1e-12)
    assert float(grouped.ep) == pytest.approx(width * 3.1754 / 50e9, rel=1e-4)
    plain = _ep_terms()
    assert float(plain.ep) == pytest.approx(width * 8 * 7 / 8 / 50e9, rel=1e-12)
    # inside one node (ep 8) only the link carries them, 8 x 7/8 copies, grouped or not
    for groups in ((0.0, 0.0), (8.0, 4.0)):
        one_node = _ep_terms(ep=8.0, expert_groups=groups[0], group_top_k=groups[1])
        assert float(one_node.ep) == pytest.approx(width * 8 * 7 / 8 / 160e9, rel=1e-12)


@given(top_k=hs.integers(1, 16), per_group=hs.integers(1, 64), groups=hs.sampled_from([2, 4, 8, 16, 32]),
       nodes=hs.sampled_from([1, 2, 4, 8, 16, 32]), per_node=hs.sampled_from([1, 2, 4, 8]),
       network=hs.floats(5e9, 2e11), link_over_network=hs.floats(2.0, 40.0), data=hs.data())
def test_expert_time_never_rises_when_fewer_groups_are_chosen(top_k, per_group, groups, nodes, per_node, network,
                                                              link_over_network, data):
    """Choosing a token's experts from fewer groups never sends more: from every group (no
    limit, one copy per expert) down to one, wherever the node's link is at least twice the
    network's rate a device (the shipped profiles, and DeepSeek's 3.2x)."""
    experts = float(groups * per_group)
    k = float(min(top_k, experts))
    chosen = data.draw(hs.integers(1, groups - 1))
    kw = dict(top_k=k, experts=experts, ep=float(nodes * per_node), node=float(per_node), n=float(nodes * per_node * 4),
              scale_out=network, link=network * link_over_network, expert_groups=float(groups))
    fewer = _ep_terms(group_top_k=float(chosen), **kw).ep
    more = _ep_terms(group_top_k=float(chosen + 1), **kw).ep
    assert float(fewer) <= float(more) * (1 + 1e-12)
    assert float(fewer) >= 0.0 and np.isfinite(float(fewer))


def test_the_routed_share_of_the_parameters_agrees_with_counting_them():
    """(params - active) experts / (experts - top_k): DeepSeek-V3 654.5B of its 671B (counting
    58 MoE layers x 256 experts x 3 x 7168 x 2048 gives 653.9B); gpt-oss-120b 115.5B of 117B
    (5.1B active, 128 experts, 4 a token; OpenAI's model page). Nothing for a dense model."""
    spec = costmodel.get_model("deepseek-v3")
    routed = routed_parameters(671e9, 37e9, 256.0, 8.0)
    assert routed == pytest.approx(expert_parameters(spec), rel=2e-3)
    assert routed_parameters(117e9, 5.1e9, 128.0, 4.0) == pytest.approx(115.5e9, rel=1e-3)
    assert routed_parameters(7e9, 7e9, 0.0, 0.0) == 0.0


def test_expert_gradients_reduce_over_their_replicas_by_hand():
    """gpt-oss-120b on 8 nodes of 8 GPUs, ep 8, dp 64 (Megatron-Bridge 25.11, DGX-B200): each node
    holds all 8 expert shards of the 115.5B routed parameters once, replicated over the 8
    nodes, so each GPU's network link carries its own shard, 1/8 of them, at (8 - 1) / 8; the
    1.5B dense parameters are spread over the node's 8 links at (64 - 1) / 64. Two passes
    (reduce-scatter, all-gather) of 2 bytes, at 80% of 50 GB/s, once a step."""
    kw = dict(params=117e9, active_params=5.1e9, experts=128.0, top_k=4.0, layers=36.0, d_model=2880.0,
              expert_ffn=2880.0, n=64.0, pp=1.0, ep=8.0, tokens=2.097152e6, global_batch=2.097152e6,
              link=900e9, scale_out=50e9)
    routed = routed_parameters(117e9, 5.1e9, 128.0, 4.0)
    per_link = routed / 8 * 7 / 8 + (117e9 - routed) / 8 * 63 / 64
    assert float(_ep_terms(**kw).dp) == pytest.approx(2 * 2 * per_link / (50e9 * COMM_EFFICIENCY), rel=1e-12)
    assert float(_ep_terms(**kw).dp) == pytest.approx(1.29, abs=0.01)  # seconds a step


def test_overlapped_all_to_alls_hide_whole_up_to_the_computation():
    """ep_overlap (DualPipe; Megatron-Core's batch-level overlap): the expert traffic hides whole,
    the data-parallel traffic by the fitted share, and what the hidden traffic exceeds of two
    thirds of the local work shows again; a dense model is unaffected."""
    import dataclasses

    from costmodel.steptime import combine, combine_parts

    constants = dict(memory_passes=27.0, dp_overlap=0.3, efficiency=0.75, tp_overlap=1.0)
    plain = _ep_terms(expert_groups=8.0, group_top_k=4.0)
    overlapped = _ep_terms(expert_groups=8.0, group_top_k=4.0, ep_overlap=1.0)
    assert float(overlapped.ep_overlapped) == float(overlapped.ep) == float(plain.ep)
    local, comm, _ = combine_parts(overlapped, **constants)
    assert float(comm) == pytest.approx(float(overlapped.tp) + 0.7 * float(overlapped.dp), rel=1e-12)
    assert float(combine(overlapped, **constants)) < float(combine(plain, **constants))
    # more traffic than the computation can hide: the excess over 2/3 of the local work shows
    heavy = dataclasses.replace(overlapped, ep=10 * float(local), ep_overlapped=10 * float(local))
    local, comm, _ = combine_parts(heavy, **constants)
    hidden = 0.3 * float(heavy.dp) + 10 * float(local)
    assert float(comm) == pytest.approx(float(heavy.tp) + 0.7 * float(heavy.dp) + hidden - 2 / 3 * float(local))
    dense = dict(model="llama-2-7b", hardware="h100", n_gpus=64, tokens="1B", tp=1, pp=1, zero_stage=1)
    assert costmodel.estimate_training(**dense, ep_overlap=True).wall_time == \
        costmodel.estimate_training(**dense).wall_time


def test_ep_overlap_is_a_switch_and_refuses_anything_else():
    kw = dict(hardware="h800", n_gpus=2048, tp=1, pp=16, ep=64, zero_stage=1, global_batch="15360 sequence")
    on = costmodel.estimate_training("deepseek-v3", ep_overlap=True, **kw)
    off = costmodel.estimate_training("deepseek-v3", **kw)
    assert on.wall_time < off.wall_time
    with pytest.raises(costmodel.InputError, match=r"^ep_overlap: expected True or False, got 'yes'$"):
        costmodel.estimate_training("deepseek-v3", ep_overlap="yes", **kw)
