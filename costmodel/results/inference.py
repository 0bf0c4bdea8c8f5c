""":class:`InferenceEstimate`, what :func:`costmodel.estimate_inference` returns, and its output table."""

from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Any

import numpy as np
import pint

from ..elementwise import isnan, maximum, where
from ..energy import describe_footprint
from ..precision import resolve_precision
from ..units import quantity
from .base import Output, RangedEstimate

__all__ = ["InferenceEstimate", "InferenceMemory", "itl_of", "OUTPUTS", "META", "COLUMNS", "BOUNDS", "bound_codes", "MAY_BE_MISSING",
           "CULPRITS"]

GIB = float(2**30)


def _cost_per_million(v):
    """Dollars per million output tokens: the decode's share of a request's device time."""
    return where(v.output > 0, v.output_cost * 1e6 / maximum(v.output, 1.0), np.nan)


def _per_million_input(c, v, what):
    """Dollars (or joules) per million new input tokens: the prefill's share of a request's
    device time, over the prompt tokens that are not cached."""
    new = v.prompt * (1.0 - c.request.cached)
    part = v.input_cost if what == "cost" else v.input_energy_j
    if type(new) is float and type(part) is float:  # one estimate: plain arithmetic, the same figure
        return part * 1e6 / new if new > 0 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return where(new > 0, part * 1e6 / where(new > 0, new, 1.0), np.nan)


def _cached_per_million(c, v):
    """Dollars per million cached input tokens: reading one cached token's KV once, on the
    devices' memory bandwidth, at their price (0 for a model without a KV cache)."""
    fraction = float(np.ravel(c.decode.bandwidth_fraction)[0])  # the typical scenario's
    seconds = c.model.kv_per_token / (c.hardware.bandwidth * fraction)
    return where(c.request.cached > 0, seconds * v.footprint.price / 3600.0 * 1e6, np.nan)


def _traffic(field, scale=1e3):
    return lambda c, v: np.nan if v.traffic is None else getattr(v.traffic, field) * scale


def itl_of(v):
    """Seconds between two tokens of a request when no other request's prefill runs in between:
    one decode step of the running batch (under traffic, its mean over the batch's occupancy)."""
    if v.traffic is not None:
        return v.traffic.itl_mean
    return where(v.timings.generating, v.timings.step_s, 0.0)


PERCENTILES = tuple(f"{m}_p{p}" for m in ("ttft", "tpot", "latency", "itl") for p in (50, 90, 99))


# The figures of a serving estimate: to_dict() keys and sweep columns, from one scenario's values.
OUTPUTS = (
    Output("params", "", lambda c, v: c.model.params, False),
    Output("active_params", "", lambda c, v: c.model.active_params, False),
    Output("ttft_ms", "ms", lambda c, v: v.timings.ttft * 1e3),
    Output("tpot_ms", "ms", lambda c, v: v.timings.tpot * 1e3),
    Output("itl_ms", "ms", lambda c, v: itl_of(v) * 1e3),
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
    Output("cost_per_million_input_tokens_USD", "USD", lambda c, v: _per_million_input(c, v, "cost")),
    Output("cost_per_million_cached_tokens_USD", "USD", lambda c, v: _cached_per_million(c, v)),
    Output("energy_per_million_output_tokens_kWh", "kWh",
           lambda c, v: where(v.output > 0, v.output_energy_j / 3.6e6 * 1e6 / maximum(v.output, 1.0), np.nan)),
    Output("energy_per_million_input_tokens_kWh", "kWh", lambda c, v: _per_million_input(c, v, "energy") / 3.6e6),
    *(Output(f"{key}_ms", "ms", _traffic(key)) for key in PERCENTILES),
    Output("queue_ms", "ms", lambda c, v: v.timings.wait_s * 1e3),
    Output("max_rate_per_s", "1/s", _traffic("max_rate", 1.0)),
    Output("in_flight", "", lambda c, v: v.in_flight, False),
    Output("co2e_g", "g", lambda c, v: v.footprint.co2e_g),
    Output("energy_mWh", "mWh", lambda c, v: v.footprint.energy_j / 3.6),
    Output("battery_share", "", lambda c, v: v.footprint.energy_j / c.hardware.battery),
    Output("power_per_gpu_W", "W", lambda c, v: v.footprint.device_w),
)
# Figures that are NaN (None in to_dict) when no price is known or nothing is generated
MAY_BE_MISSING = frozenset({"cost_USD", "cost_per_million_tokens_USD", "battery_share", "throughput_tok_s",
                            "cost_per_million_input_tokens_USD", "cost_per_million_cached_tokens_USD",
                            "energy_per_million_output_tokens_kWh", "energy_per_million_input_tokens_kWh",
                            "max_rate_per_s", *(f"{key}_ms" for key in PERCENTILES)})
CULPRITS = {"memory_per_gpu_GiB": "batch_size", "memory_kv_cache_GiB": "batch_size"}
META = ("model", "hardware", "n_gpus", "pp", "dtype", "kv_dtype", "engine", "batching", "batch_size", "prompt_tokens", "output_tokens", "fits",
        "max_batch_size", "min_gpus", "fitting_dtype", "bound_prefill", "bound_decode")
# The META entries a sweep computes per row: (key, function of case and values, column dtype)
COLUMNS = (("n_gpus", lambda c, v: c.request.n * c.request.pp, np.int64), ("pp", lambda c, v: c.request.pp, np.int64), ("batch_size", lambda c, v: c.request.batch, np.int64),
           ("prompt_tokens", lambda c, v: v.prompt, np.int64), ("output_tokens", lambda c, v: v.output, np.int64),
           ("fits", lambda c, v: v.capacity.fits, bool), ("max_batch_size", lambda c, v: v.capacity.max_batch, np.int64),
           ("min_gpus", lambda c, v: v.capacity.min_gpus, np.int64))


BOUNDS = ("compute", "memory", "none")  # what binds a phase; "none": nothing is decoded


def bound_codes(t) -> tuple:
    """Which resource binds prefill and decode, as indices into :data:`BOUNDS`, from one
    scenario's timings (floats or arrays)."""
    prefill = where(t.compute_bound_prefill, 0, 1)
    decode = where(t.generating, where(t.compute_bound_decode, 0, 1), 2)
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
    pp: int
    dtype: str
    kv_dtype: str
    engine: str
    batching: str
    batch_size: int
    prompt_tokens: int
    output_tokens: int
    fitting_dtype: str | None
    warnings: tuple[str, ...] = ()
    tp: int = 0  # attention's tensor-parallel degree per pipeline stage
    ep: int = 1  # expert-parallel degree per pipeline stage

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
    def itl(self) -> pint.Quantity:
        """Inter-token latency [ms]: the gap between two tokens of a request when no other
        request's prefill runs in between, one decode step of the running batch (under traffic,
        its mean over the batch's occupancy; ``itl_p50``... are percentiles over every gap,
        stalled ones included).

        ``tpot`` is per request, ``(latency - TTFT) / (output - 1)``: under continuous batching
        it also carries the steps stalled by the other requests' prefills, so ``itl <= tpot``
        (equal under static batching, where no prefill interrupts a decode). A benchmark's
        "median ITL" is ``itl_p50`` (about ``itl`` while fewer than half the gaps are stalled);
        its "mean ITL", the mean over every gap, is TPOT's token-weighted mean, ``tpot``."""
        return self._maybe("itl_ms", "ms")  # type: ignore[return-value]  # never NaN (0 without output)

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
        return None if isnan(share) else share

    def _maybe(self, key: str, unit: str) -> pint.Quantity | None:
        """An output of :data:`OUTPUTS` by key as a Quantity, None where it is not known."""
        if key not in self._cache:
            out = next(o for o in OUTPUTS if o.key == key)
            x = float(np.ravel(out.value(self._case, self._values))[0])
            self._cache[key] = None if isnan(x) else quantity(x, unit)
        return self._cache[key]

    @property
    def cost_per_million_input_tokens(self) -> pint.Quantity | None:
        """Dollars per million (uncached) input tokens: the prefill's share of the device time."""
        return self._maybe("cost_per_million_input_tokens_USD", "usd")

    @property
    def cost_per_million_output_tokens(self) -> pint.Quantity | None:
        """Dollars per million output tokens: the decode's share of the device time."""
        return self.cost_per_million_tokens

    @property
    def cost_per_million_cached_tokens(self) -> pint.Quantity | None:
        """Dollars per million cached input tokens (with ``prefix_cache``): reading their KV."""
        return self._maybe("cost_per_million_cached_tokens_USD", "usd")

    @property
    def energy_per_million_output_tokens(self) -> pint.Quantity | None:
        """Energy per million output tokens [kWh] (the decode's share)."""
        return self._maybe("energy_per_million_output_tokens_kWh", "kWh")

    @property
    def energy_per_million_input_tokens(self) -> pint.Quantity | None:
        """Energy per million input tokens [kWh] (the prefill's share)."""
        return self._maybe("energy_per_million_input_tokens_kWh", "kWh")

    @property
    def queue(self) -> pint.Quantity:
        """Mean wait before a request's prefill starts: for a free slot and for the prefills
        ahead of it [ms]."""
        return self._q("timings.wait_s", "ms", 1e3)

    @property
    def max_rate(self) -> pint.Quantity | None:
        """The largest Poisson rate the replica sustains (under traffic only) [1/s]."""
        return self._maybe("max_rate_per_s", "1/s")

    @property
    def percentiles(self) -> dict[str, pint.Quantity] | None:
        """TTFT, TPOT, end-to-end latency and ITL at p50, p90 and p99 under traffic (``rate`` or
        ``concurrency``) [ms]; None for a fixed batch."""
        if self._values.traffic is None:
            return None
        return {key: self._maybe(f"{key}_ms", "ms") for key in PERCENTILES}  # type: ignore[misc]

    def __getattr__(self, name: str) -> Any:  # ttft_p50 ... latency_p99, itl_p50 ... itl_p99
        if name in PERCENTILES:
            return None if self._values.traffic is None else self._maybe(f"{name}_ms", "ms")
        raise AttributeError(name)

    @property
    def cost_per_million_tokens(self) -> pint.Quantity | None:
        """Dollars per million output tokens (None without a price or output)."""
        if "per_million" not in self._cache:
            x = float(_cost_per_million(self._values))
            self._cache["per_million"] = None if isnan(x) else quantity(x, "usd")
        return self._cache["per_million"]

    def _engine_text(self) -> str:
        from ..engines import engine_constants, get_engine

        e = get_engine(self.engine)
        k = engine_constants(self._calibration.serving, e)
        fitted = (f"fitted on {k.points} measured points" if k.points else "measured, see the source"
                  if k.borrowed_from == "measured" else
                  f"constants borrowed from {k.borrowed_from} (too few points of its own)")
        return (f"{e.name}: {k.fixed_s * 1e3:.3g} ms per forward step + {k.launch_s * 1e6:.3g} us per kernel launch, "
                f"x{k.efficiency:.2f} achievable compute and bandwidth ({fitted}; "
                f"data/inference_calibration.toml); source: {e.source}")

    def _flat(self) -> dict[str, Any]:
        out = RangedEstimate._flat(self)
        out["warnings"] = list(self.warnings)
        return out

    def _budget_text(self) -> str:
        """The tokens one forward step processes, and where the figure comes from."""
        b = float(self._case.hardware.token_budget)
        if not math.isfinite(b):
            return "none (the engine has no sourced per-step token budget: a step takes any number of tokens)"
        chunks = math.ceil(self.prompt_tokens / b) if self.prompt_tokens > b else 1
        return (f"{b:,.0f} tokens per forward step (decode tokens plus prefill chunks; "
                f"the engine's default on this device, data/engines.toml, unless max_batched_tokens was given); "
                f"a {self.prompt_tokens:,}-token prompt is prefilled in {chunks} step{'s' if chunks > 1 else ''}")

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
                "engine": self._engine_text(),
                "batching": self.batching + (" (in-flight batching; batch_size = requests in flight)"
                                             if self.batching == "continuous" else ""),
                "token budget": self._budget_text(),
                **({"traffic": "Poisson arrivals or a closed loop on one replica; percentiles from the "
                               "analytic queue model of costmodel.traffic"} if self._values.traffic is not None else {}),
                "fractions": "fitted on measured points (data/inference_calibration.toml); ranges from the "
                             "leave-one-source-out errors, each kind's tail chosen for 80% nested "
                             "out-of-sample coverage (costmodel.serving_ranges)",
                **describe_footprint(self._profile, self._case.footprint, self._labels)}
        return self._cache["assumptions"]
