"""What :func:`costmodel.plan_serving` returns: one deployment (:class:`ServingOption`) and the plan
(:class:`ServingPlan`: the cheapest deployment, one replica of it estimated, the runners-up)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pint

from ..results.inference import InferenceEstimate

__all__ = ["ServingOption", "ServingPlan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingOption:
    """One deployment: ``replicas`` copies of a replica of ``devices_per_replica`` devices
    (``pipeline`` stages over ``nodes``; in a stage, attention tensor parallel over
    ``tensor_parallel`` devices, ``attention_groups`` of them side by side, and the experts of a
    mixture split over ``expert_parallel``), at most ``batch_limit`` requests in flight each; its p99s
    and prices at the operating point (every replica at ``rate / replicas``), the rate one
    replica sustains within the targets, and ``headroom`` (sustainable / offered - 1)."""

    hardware: str
    dtype: str
    engine: str
    devices_per_replica: int
    tensor_parallel: int
    nodes: int
    replicas: int
    pipeline: int = 1
    expert_parallel: int = 1
    batch_limit: int
    sustainable_rate: pint.Quantity  # [1/s] per replica
    headroom: float
    ttft_p99: pint.Quantity  # [ms]
    tpot_p99: pint.Quantity
    latency_p99: pint.Quantity
    cost_per_hour: pint.Quantity | None  # [USD/h], all replicas
    cost_per_million_input_tokens: pint.Quantity | None
    cost_per_million_output_tokens: pint.Quantity | None
    energy_per_million_output_tokens: pint.Quantity | None  # [kWh]; None without output tokens
    prefill: ServingOption | None = None  # disaggregated: the prefill pool (this option's replicas only decode)
    kv_transfer: pint.Quantity | None = None  # [ms] a prompt's KV cache from the prefill pool to the decode pool

    @property
    def devices(self) -> int:
        """Devices of every replica together (both pools when disaggregated)."""
        return self.replicas * self.devices_per_replica + (0 if self.prefill is None else self.prefill.devices)

    @property
    def deployment(self) -> str:
        """``colocated`` (each replica prefills and decodes) or ``disaggregated`` (prefill and
        decode pools)."""
        return "colocated" if self.prefill is None else "disaggregated"

    @property
    def energy_per_output_token(self) -> pint.Quantity | None:
        """Energy per output token [J] (the decode's share of the devices' energy); None
        without output tokens."""
        e = self.energy_per_million_output_tokens
        return None if e is None else (e / 1e6).to("J")

    @property
    def attention_groups(self) -> int:
        """Data-parallel attention groups in a pipeline stage (1: attention over all its devices)."""
        return self.devices_per_replica // (self.pipeline * self.tensor_parallel)

    @property
    def layout(self) -> str:
        """``tp4``, ``tp16 x 2 nodes``, ``tp8 x pp4 x 4 nodes`` for a replica over the network, or
        ``tp1 x dp8 x ep8`` (8 attention groups of one device, experts over all 8)."""
        return (f"tp{self.tensor_parallel}" + (f" x dp{self.attention_groups}" if self.attention_groups > 1 else "")
                + (f" x pp{self.pipeline}" if self.pipeline > 1 else "")
                + (f" x ep{self.expert_parallel}" if self.expert_parallel > 1 else "")
                + (f" x {self.nodes} nodes" if self.nodes > 1 else ""))

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (units in the keys; a missing price, or a figure with nothing
        to measure, is None: never NaN or infinity)."""
        finite = lambda x: x if math.isfinite(x) else None  # noqa: E731
        m = lambda q, unit: None if q is None else finite(float(q.to(unit).magnitude))  # noqa: E731
        return {"hardware": self.hardware, "dtype": self.dtype, "engine": self.engine,
                "devices_per_replica": self.devices_per_replica, "tensor_parallel": self.tensor_parallel,
                "pipeline": self.pipeline, "expert_parallel": self.expert_parallel,
                "attention_groups": self.attention_groups, "nodes": self.nodes, "replicas": self.replicas, "devices": self.devices,
                "batch_limit": self.batch_limit, "sustainable_rate_per_s": m(self.sustainable_rate, "1/s"),
                "headroom": finite(self.headroom), "ttft_p99_ms": m(self.ttft_p99, "ms"), "tpot_p99_ms": m(self.tpot_p99, "ms"),
                "latency_p99_ms": m(self.latency_p99, "ms"), "cost_per_hour_USD": m(self.cost_per_hour, "USD/h"),
                "cost_per_million_input_tokens_USD": m(self.cost_per_million_input_tokens, "usd"),
                "cost_per_million_output_tokens_USD": m(self.cost_per_million_output_tokens, "usd"),
                "energy_per_million_output_tokens_kWh": m(self.energy_per_million_output_tokens, "kWh"),
                "deployment": self.deployment, "kv_transfer_ms": m(self.kv_transfer, "ms"),
                "prefill": None if self.prefill is None else self.prefill.to_dict()}


@dataclass(frozen=True, kw_only=True, eq=False)
class ServingPlan:
    """The cheapest deployment that meets the targets (``best``), one replica of it estimated at
    its operating point (``estimate``), the next cheapest few (``runners_up``, each a different
    device, layout or precision) and each device type's best (``by_hardware``, cheapest first)."""

    model: str | None
    best: ServingOption
    estimate: InferenceEstimate
    runners_up: tuple[ServingOption, ...]
    by_hardware: tuple[ServingOption, ...]
    rate: pint.Quantity
    ttft_p99: pint.Quantity | None
    tpot_p99: pint.Quantity | None
    prompt_tokens: int
    output_tokens: int
    candidates: int
    notes: tuple[str, ...] = ()
    assumptions: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        target = lambda q: None if q is None else float(q.to("ms").magnitude)
        return {"model": self.model, "rate_per_s": float(self.rate.to("1/s").magnitude),
                "ttft_p99_target_ms": target(self.ttft_p99), "tpot_p99_target_ms": target(self.tpot_p99),
                "prompt_tokens": self.prompt_tokens, "output_tokens": self.output_tokens,
                "best": self.best.to_dict(), "runners_up": [o.to_dict() for o in self.runners_up],
                "by_hardware": [o.to_dict() for o in self.by_hardware], "candidates": self.candidates,
                "notes": list(self.notes), "assumptions": dict(self.assumptions)}
