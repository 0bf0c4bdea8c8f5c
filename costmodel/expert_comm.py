"""Expert parallelism in the training step-time model: where a mixture of experts' tokens travel.

A token's ``top_k`` routed copies go to the devices holding its experts, over the link inside
the node and over the network to other nodes (:func:`all_to_all`, four all-to-alls a layer);
under group-limited routing a token crosses the network once per node it reaches
(:func:`remote_nodes`). The routed experts' share of the parameters (:func:`routed_parameters`)
sets what their gradients move. :mod:`costmodel.steptime` composes these into a step.

References
----------
[1] DeepSeek-AI 2024, "DeepSeek-V3 Technical Report", arXiv:2412.19437, Sec. 2.1.2 (node-limited
    routing: each token sent to at most M = 4 nodes) and Sec. 3.2.2 (a token crosses
    InfiniBand once to each target node, to the device of the same in-node index, and is
    forwarded over NVLink to the devices holding its experts; the two overlap).
[2] deepseek-ai/DeepEP README (github.com/deepseek-ai/DeepEP, retrieved 2026-12-02): kernels
    "aligned with the group-limited gating algorithm" of [1], forwarding between the NVLink
    and RDMA domains; NVIDIA Megatron-Core ``TransformerConfig.moe_router_num_groups``
    (megatron/core/transformer/transformer_config.py): equal groups of consecutive experts,
    "node-limited routing" when there are as many groups as nodes in the expert-parallel group.
"""

from __future__ import annotations

import math

import numpy as np

from .elementwise import any_true, maximum, minimum, where
from .units import FloatArray

__all__ = ["remote_nodes", "group_limited", "routed_parameters", "all_to_all"]


def _miss(population: FloatArray, own: FloatArray, draws: FloatArray) -> FloatArray:
    """The chance that ``draws`` items drawn without replacement from ``population`` miss all of
    its ``own`` ones: the hypergeometric distribution's zero term, the product over the draws of
    ``1 - own / (population - i)``."""
    out: FloatArray = 1.0
    top = draws if isinstance(draws, (int, float)) else float(np.max(draws))
    for i in range(int(math.ceil(top))):
        factor = maximum(1.0 - own / maximum(population - i, 1.0), 0.0)
        out = out * where(draws > i, factor, 1.0)
    return out


def group_limited(groups: FloatArray, group_top_k: FloatArray) -> FloatArray:
    """1 where a routing's groups limit it (more than one group, fewer of them chosen per token), else 0."""
    return where((groups > 1) & (group_top_k >= 1) & (group_top_k < groups), 1.0, 0.0)


def remote_nodes(*, top_k: FloatArray, experts: FloatArray, nodes: FloatArray, groups: FloatArray = 0.0,
                 group_top_k: FloatArray = 0.0) -> FloatArray:
    """Expected number of nodes, besides its own, that hold at least one of a token's ``top_k``
    routed experts, for ``experts`` spread evenly over an expert-parallel group of ``nodes``.

    The experts are taken as equally likely (balanced routing, the aim of every load-balancing
    scheme). Under group-limited routing [1, 2] the experts split into ``groups`` equal groups of
    consecutive experts, so onto consecutive nodes, and a token chooses its experts from
    ``group_top_k`` of the groups: where there are at least as many groups as nodes (``groups /
    nodes`` a node) the chosen groups cover ``nodes (1 - P0)`` nodes, ``P0`` the chance that the
    draw of ``group_top_k`` groups misses a given node's; with fewer groups than nodes each group
    spans ``nodes / groups`` nodes. The ``top_k`` experts, drawn without replacement from the
    covered nodes' experts, reach ``C (1 - P0')`` of those ``C`` nodes, and the token's own node is
    one of them with chance ``1 / nodes``.

    >>> round(remote_nodes(top_k=8, experts=256, nodes=8, groups=8, group_top_k=4), 3)
    3.175
    """
    e = maximum(nodes, 1.0)
    x = maximum(experts, maximum(top_k, 1.0))
    g = maximum(groups, 1.0)
    m = minimum(maximum(group_top_k, 1.0), g)
    covered = where(g >= e, e * (1.0 - _miss(g, g / e, m)), e * m / g)
    covered = where(group_limited(groups, group_top_k) > 0, minimum(maximum(covered, 1.0), e), e)
    reached = covered * (1.0 - _miss(x * covered / e, x / e, minimum(top_k, x)))
    return reached * (e - 1.0) / e


def routed_parameters(params: FloatArray, active_params: FloatArray, experts: FloatArray,
                      top_k: FloatArray) -> FloatArray:
    """The routed experts' share of a mixture of experts' parameters, from its total and active
    counts: a token uses ``top_k / experts`` of the routed experts and all the rest (attention,
    embeddings, dense layers, shared experts), so the routed experts hold ``(params - active)
    experts / (experts - top_k)`` (0 where that is not defined, at most ``params``).

    >>> round(routed_parameters(671e9, 37e9, 256, 8) / 1e9, 1)  # DeepSeek-V3
    654.5
    """
    spare = maximum(experts - top_k, 0.0)
    out = maximum(params - active_params, 0.0) * experts / maximum(spare, 1e-9)
    return where((spare > 0) & (experts > 0), minimum(out, params), 0.0)


def all_to_all(layer_tokens: FloatArray, d_model: FloatArray, tp: FloatArray, node: FloatArray, link: FloatArray,
               scale_out: FloatArray, top_k: FloatArray, moe: FloatArray, ep: FloatArray, experts: FloatArray,
               expert_groups: FloatArray, group_top_k: FloatArray, *, element_bytes: FloatArray,
               efficiency: FloatArray) -> FloatArray:
    """The expert all-to-alls' seconds of :func:`costmodel.steptime.step_terms` (``ep`` at least 1),
    for activations of ``element_bytes`` over links at ``efficiency`` of their rate: each routed
    copy of a token goes to the device holding its expert, over the link inside the node and
    over the network to other nodes, the two at once. Where the routing is group-limited (the
    dispatch it was designed for [1, 2]), a token crosses the network once per node it reaches
    and is forwarded over the link inside that node. 0 (a number) where no row has expert
    parallelism: the figure ``where`` would discard is not computed."""
    spread = (moe > 0) & (ep > 1)
    if not any_true(spread):
        return 0.0
    ep_nodes = maximum(ep * tp / maximum(node, 1.0), 1.0)  # nodes one expert-parallel group spans
    per_node = ep / ep_nodes  # expert-parallel ranks sharing a node
    grouped = group_limited(expert_groups, group_top_k) > 0
    remote = where(grouped, remote_nodes(top_k=top_k, experts=experts, nodes=ep_nodes, groups=expert_groups,
                                         group_top_k=group_top_k), top_k * (ep_nodes - 1.0) / ep_nodes)
    local = top_k * maximum(per_node - 1.0, 0.0) / where(grouped, maximum(per_node, 1.0), maximum(ep, 1.0))
    return where(spread, layer_tokens * 4.0 * d_model / tp * element_bytes / efficiency
                 * maximum(remote / scale_out, local / link), 0.0)
