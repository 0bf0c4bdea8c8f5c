"""Serving pipeline on arrays: step times, TTFT/TPOT/latency, memory fit.

Built on the roofline pieces of :mod:`costmodel.inference`; floats or numpy arrays in, the
same out, so one code path serves a single estimate, its range and a sweep.
"""

from __future__ import annotations

import numpy as np

from . import inference as core

__all__ = ["timings", "bounds", "memory", "capacity_report"]


def _step(m, hw_f, n, tokens_in_step, flops, moved, cal, link):
    """Seconds of one forward step: roofline + fixed overhead + 2 all-reduces per layer."""
    t, compute_bound = core.phase_seconds(flops, moved, n, hw_f["peak"], hw_f["bandwidth"],
                                          cal["compute_fraction"], cal["bandwidth_fraction"])
    comm = 2.0 * m["layers"] * core.allreduce_seconds(tokens_in_step * m["d_model"] * 2.0, n, link,
                                                      cal["allreduce_latency_s"])
    return t + cal["step_overhead_s"] + comm, t, compute_bound


def timings(m, hw_f, n, batch, prompt, output, cal, link, continuous=False) -> dict:
    """TTFT, TPOT and end-to-end latency of a request; busy share of the devices.

    Works on floats or arrays (one row per configuration). Static batching: the batch's
    prompts are prefilled together, then decoded together. Continuous (in-flight) batching:
    ``batch`` requests are in flight at once and each finished one is replaced; a request is
    prefilled alone, the other ``batch - 1`` requests' prefills are interleaved with its
    decode steps, and it waits for the prefills ahead of it as in an M/D/1 queue
    (Pollaczek-Khinchine mean wait). Models that do not generate (encoders, CNNs, ViTs,
    linear models; ``m["autoregressive"] == 0``) and ``output == 0`` take one forward pass.
    """
    together = np.where(continuous, 1.0, batch)
    pre, dec = cal["prefill"], cal["decode"]
    t_prefill, roof_p, cb_p = _step(m, hw_f, n, together * prompt, *core.prefill(m, together, prompt), pre, link)
    t_first, roof_1, _ = _step(m, hw_f, n, batch, *core.decode_step(m, batch, prompt), dec, link)
    tpot, roof_d, cb_d = _step(m, hw_f, n, batch, *core.decode_step(m, batch, prompt + output / 2.0), dec, link)
    ttft = t_prefill + t_first
    if np.ndim(continuous) or continuous:  # static batching alone needs none of this
        others = np.where(continuous, batch - 1.0, 0.0)
        steps = np.maximum(output, 1.0)
        tpot = tpot + others * t_prefill / steps  # the others' prefills, spread over our steps
        load = np.minimum(0.95, others * t_prefill / (t_prefill + steps * tpot))
        ttft = ttft + load / (2.0 * (1.0 - load)) * t_prefill
    generating = (m["autoregressive"] > 0) & (output > 0)
    latency = np.where(generating, ttft + (output - 1.0) * tpot, t_prefill)
    roof = roof_p + np.where(generating, roof_1 + (output - 1.0) * roof_d, 0.0)
    ar = m["autoregressive"] > 0
    if np.ndim(ar) == 0 and ar:  # a single generating model: the one-pass branch is not needed
        one_pass, roof_one, cb_one = t_prefill, roof_p, cb_p
    else:
        one_pass, roof_one, cb_one = _single_pass(m, hw_f, n, batch, prompt, pre, link)
    return {"ttft": np.where(ar, np.where(generating, ttft, t_prefill), one_pass),
            "tpot": np.where(generating, tpot, 0.0),
            "latency": np.where(ar, latency, one_pass),
            "busy": np.minimum(1.0, np.where(ar, roof / latency, roof_one / one_pass)),
            "compute_bound_prefill": np.where(ar, cb_p, cb_one), "compute_bound_decode": cb_d,
            "generating": generating}


def _single_pass(m, hw_f, n, batch, prompt, cal, link):
    """One forward pass: encoders over the prompt, CNN/ViT/linear over one input each."""
    per_sample = np.isfinite(m["forward_flops"])
    flops = np.where(per_sample, np.nan_to_num(m["forward_flops"]) * batch,
                     2.0 * m["active_params"] * batch * prompt + 4.0 * m["attention_per_ctx"] * prompt * prompt * batch)
    return _step(m, hw_f, n, batch * np.maximum(prompt, 1.0), flops, m["weight_bytes"], cal, link)


def _b(compute_bound) -> str:
    """The binding resource of a phase in the typical scenario."""
    return "compute" if np.ravel(compute_bound)[0] else "memory"


def bounds(t: dict) -> dict:
    """Which resource binds each phase (typical scenario)."""
    decode = _b(t["compute_bound_decode"]) if np.ravel(t["generating"])[0] else "none"
    return {"prefill": _b(t["compute_bound_prefill"]), "decode": decode}


def memory(m, n, batch, prompt, output, act_bytes=2.0):
    """Per-device (weights, KV cache, activation workspace) bytes.

    Workspace: one layer's activations for the whole prefill, ``b s (2 d + d_ff)`` values.
    """
    kv = batch * (prompt + output) * m["kv_per_token"]
    acts = batch * prompt * (2.0 * m["d_model"] + m["ffn"]) * act_bytes
    return m["weight_bytes"] / n, kv / n, acts / n


def capacity_report(m, n, batch, prompt, output, capacity) -> dict:
    """Per-device memory, whether it fits, the largest batch that fits (at most 1e6) and the
    devices the request needs at this dtype; floats or arrays."""
    w, kv, a = memory(m, n, batch, prompt, output)
    per_seq = (kv + a) / batch
    room = capacity - w
    with np.errstate(divide="ignore", invalid="ignore"):
        max_batch = np.where(room <= 0, 0.0, np.where(per_seq <= 0, 1e6, np.minimum(np.floor(np.divide(room, per_seq)), 1e6)))
    return {"w": w, "kv": kv, "a": a, "fits": w + kv + a <= capacity, "max_batch": max_batch,
            "min_gpus": np.maximum(1.0, np.ceil((w + kv + a) * n / capacity))}
