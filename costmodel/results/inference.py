""":class:`InferenceEstimate`, what :func:`costmodel.estimate_inference` returns, and its output table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pint

from ..energy import describe_footprint
from ..precision import resolve_precision
from ..units import quantity
from .base import Output, RangedEstimate

__all__ = ["InferenceEstimate", "InferenceMemory", "OUTPUTS", "META", "COLUMNS", "BOUNDS", "bound_codes", "MAY_BE_MISSING",
           "CULPRITS"]

GIB = float(2**30)


def _cost_per_million(v):
    return np.where(v.output > 0, v.footprint.cost * 1e6 / np.maximum(v.output, 1.0), np.nan)


# The figures of a serving estimate: to_dict() keys and sweep columns, from one scenario's values.
OUTPUTS = (
    Output("params", "", lambda c, v: c.model.params, False),
    Output("active_params", "", lambda c, v: c.model.active_params, False),
    Output("ttft_ms", "ms", lambda c, v: v.timings.ttft * 1e3),
    Output("tpot_ms", "ms", lambda c, v: v.timings.tpot * 1e3),
    Output("latency_s", "s", lambda c, v: v.timings.latency),
    Output("throughput_tok_s", "token/s", lambda c, v: v.throughput),
    Output("samples_per_s", "1/s", lambda c, v: v.samples_per_s),
    Output("memory_per_gpu_GiB", "GiB",
           lambda c, v: (v.capacity.weights + v.capacity.kv_cache + v.capacity.activations) / GIB, False),
    Output("memory_weights_GiB", "GiB", lambda c, v: v.capacity.weights / GIB, False),
    Output("memory_kv_cache_GiB", "GiB", lambda c, v: v.capacity.kv_cache / GIB, False),
    Output("memory_activations_GiB", "GiB", lambda c, v: v.capacity.activations / GIB, False),
    Output("energy_Wh", "Wh", lambda c, v: v.footprint.energy_j / 3600.0),
    Output("cost_USD", "USD", lambda c, v: v.footprint.cost),
    Output("cost_per_million_tokens_USD", "USD", lambda c, v: _cost_per_million(v)),
    Output("co2e_g", "g", lambda c, v: v.footprint.co2e_g),
    Output("energy_mWh", "mWh", lambda c, v: v.footprint.energy_j / 3.6),
    Output("battery_share", "", lambda c, v: v.footprint.energy_j / c.hardware.battery),
    Output("power_per_gpu_W", "W", lambda c, v: v.footprint.device_w),
)
# Figures that are NaN (None in to_dict) when no price is known or nothing is generated
MAY_BE_MISSING = frozenset({"cost_USD", "cost_per_million_tokens_USD", "battery_share", "throughput_tok_s"})
CULPRITS = {"memory_per_gpu_GiB": "batch_size", "memory_kv_cache_GiB": "batch_size"}
META = ("model", "hardware", "n_gpus", "dtype", "kv_dtype", "batch_size", "prompt_tokens", "output_tokens", "fits",
        "max_batch_size", "min_gpus", "fitting_dtype", "bound_prefill", "bound_decode")
# The META entries a sweep computes per row: (key, function of case and values, column dtype)
COLUMNS = (("n_gpus", lambda c, v: c.request.n, np.int64), ("batch_size", lambda c, v: c.request.batch, np.int64),
           ("prompt_tokens", lambda c, v: v.prompt, np.int64), ("output_tokens", lambda c, v: v.output, np.int64),
           ("fits", lambda c, v: v.capacity.fits, bool), ("max_batch_size", lambda c, v: v.capacity.max_batch, np.int64),
           ("min_gpus", lambda c, v: v.capacity.min_gpus, np.int64))


BOUNDS = ("compute", "memory", "none")  # what binds a phase; "none": nothing is decoded


def bound_codes(t) -> tuple:
    """Which resource binds prefill and decode, as indices into :data:`BOUNDS`, from one
    scenario's timings (floats or arrays)."""
    prefill = np.where(t.compute_bound_prefill, 0, 1)
    decode = np.where(t.generating, np.where(t.compute_bound_decode, 0, 1), 2)
    return prefill, decode


@dataclass(frozen=True, slots=True, kw_only=True)
class InferenceMemory:
    """Bytes per device while serving; ``total`` is their sum."""

    weights: pint.Quantity
    kv_cache: pint.Quantity
    activations: pint.Quantity

    @property
    def total(self) -> pint.Quantity:
        return self.weights + self.kv_cache + self.activations


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class InferenceEstimate(RangedEstimate):
    """One request of a batch: latency, throughput, memory, energy and cost, with reasons.
    Figures are Quantities built when first read; ``low``/``high`` bound them."""

    model: str | None
    hardware: str
    n_gpus: int
    dtype: str
    kv_dtype: str
    batch_size: int
    prompt_tokens: int
    output_tokens: int
    fitting_dtype: str | None
    warnings: tuple[str, ...] = ()

    OUTPUTS = OUTPUTS
    META = META
    ENERGY_UNIT = "Wh"  # per request
    HEADLINE = (("ttft", "ms", "TTFT"), ("tpot", "ms", "TPOT"), ("latency", "s", "latency"),
                ("throughput", "token/s", "throughput"), ("memory_per_gpu", "GiB", "memory per device"),
                ("energy", "Wh", "energy per request"), ("cost_per_million_tokens", "USD", "USD per million tokens"))

    def _title(self) -> str:
        return (f"{self.model or 'model'} on {self.n_gpus} x {self.hardware}, batch {self.batch_size}, "
                f"{self.prompt_tokens} in / {self.output_tokens} out")

    @property
    def ttft(self) -> pint.Quantity:
        """Time to first token [ms]."""
        return self._q("timings.ttft", "ms", 1e3)

    @property
    def tpot(self) -> pint.Quantity:
        """Time per output token [ms]."""
        return self._q("timings.tpot", "ms", 1e3)

    @property
    def latency(self) -> pint.Quantity:
        """End-to-end latency [s]."""
        return self._q("timings.latency", "time")

    @property
    def throughput(self) -> pint.Quantity | None:
        """Output tokens per second of the batch (None for a model that does not generate)."""
        return self._q("throughput", "token/s")

    @property
    def samples_per_second(self) -> pint.Quantity:
        """Requests (images, sequences, rows) the batch completes per second."""
        return self._q("samples_per_s", "1/s")

    @property
    def fits(self) -> bool:
        """Whether weights, KV cache and workspace fit in the devices' memory."""
        return bool(self._values.capacity.fits)

    @property
    def max_batch_size(self) -> int:
        """Largest batch that fits."""
        return int(self._values.capacity.max_batch)

    @property
    def min_gpus(self) -> int:
        """Devices the request needs."""
        return int(self._values.capacity.min_gpus)

    @property
    def bound(self) -> dict[str, str]:
        """Which resource binds each phase: "compute", "memory" (or "none" for decode)."""
        prefill, decode = bound_codes(self._values.timings)
        return {"prefill": BOUNDS[int(prefill)], "decode": BOUNDS[int(decode)]}

    @property
    def bound_prefill(self) -> str:
        """``bound["prefill"]``."""
        return self.bound["prefill"]

    @property
    def bound_decode(self) -> str:
        """``bound["decode"]``."""
        return self.bound["decode"]

    @property
    def memory(self) -> InferenceMemory:
        """Bytes per device by kind [GiB]."""
        if "memory" not in self._cache:
            q = lambda key: self._q(f"capacity.{key}", "GiB", 1 / GIB)  # noqa: E731
            self._cache["memory"] = InferenceMemory(weights=q("weights"), kv_cache=q("kv_cache"),
                                                    activations=q("activations"))
        return self._cache["memory"]





    @property
    def battery_share(self) -> float | None:
        """The share of the device's battery one request drains (None without a battery)."""
        share = float(np.ravel(self._values.footprint.energy_j)[0] / self._case.hardware.battery)
        return None if np.isnan(share) else share

    @property
    def cost_per_million_tokens(self) -> pint.Quantity | None:
        """Dollars per million output tokens (None without a price or output)."""
        if "per_million" not in self._cache:
            x = float(_cost_per_million(self._values))
            self._cache["per_million"] = None if np.isnan(x) else quantity(x, "usd")
        return self._cache["per_million"]

    def _flat(self) -> dict[str, Any]:
        out = RangedEstimate._flat(self)
        out["warnings"] = list(self.warnings)
        return out

    @property
    def assumptions(self) -> dict[str, Any]:
        """What was assumed and where it comes from."""
        if "assumptions" not in self._cache:
            cal, h, hw = self._calibration.serving, self._case.hardware, self._profile
            compute = resolve_precision(self.dtype, hw)[1]
            kind = "dense" if h.peak == hw.peak_flops(compute) else "2:4 sparse"
            self._cache["assumptions"] = {
                "compute": f"{h.peak / 1e12:.4g} TFLOP/s {kind} {compute} x {cal.compute_fraction:.2f}",
                "bandwidth": f"{h.bandwidth / 1e12:.4g} TB/s x {cal.bandwidth_fraction:.2f}",
                "step_overhead": f"{cal.step_overhead_s * 1e3:.3g} ms per forward step",
                "fractions": "fitted on measured points (data/inference_calibration.toml); ranges from the "
                             "5th-95th percentile of the fit's errors",
                **describe_footprint(self._profile, self._case.footprint, self._labels)}
        return self._cache["assumptions"]
