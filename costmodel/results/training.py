""":class:`TrainingEstimate`, what :func:`costmodel.estimate_training` returns, and its output table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pint

from ..energy import describe_footprint
from ..memory import SHAPE_FIT
from ..training import RECOMPUTE
from .base import Output, RangedEstimate

__all__ = ["TrainingEstimate", "MemoryBreakdown", "OUTPUTS", "META", "COLUMNS", "MAY_BE_MISSING", "CULPRITS"]

GIB = float(2**30)
_MWH = 3.6e9


def _memory(v) -> Any:
    return (v.weights + v.gradients + v.optimizer + v.activations) / GIB


# The figures of a training estimate: to_dict() keys and sweep columns, computed from the
# resolved case and one scenario's values. Keys carry their unit and are part of the public API.
OUTPUTS = (
    Output("params", "", lambda c, v: c.model.params, False),
    Output("active_params", "", lambda c, v: c.model.active_params, False),
    Output("tokens", "token", lambda c, v: np.where(np.isnan(c.model.forward_flops), c.model.tokens, np.nan), False),
    Output("flops_FLOP", "FLOP", lambda c, v: v.flops, False),
    Output("hardware_flops_FLOP", "FLOP", lambda c, v: v.hardware_flops, False),
    Output("mfu", "", lambda c, v: v.mfu),
    Output("wall_time_days", "day", lambda c, v: v.seconds / 86400.0),
    Output("gpu_hours_h", "hour", lambda c, v: v.gpu_hours),
    Output("memory_per_gpu_GiB", "GiB", lambda c, v: _memory(v), False),
    Output("memory_weights_GiB", "GiB", lambda c, v: v.weights / GIB, False),
    Output("memory_gradients_GiB", "GiB", lambda c, v: v.gradients / GIB, False),
    Output("memory_optimizer_GiB", "GiB", lambda c, v: v.optimizer / GIB, False),
    Output("memory_activations_GiB", "GiB", lambda c, v: v.activations / GIB, False),
    Output("min_gpus", "", lambda c, v: v.min_gpus, False),
    Output("pp", "", lambda c, v: v.pp, False),
    Output("zero_stage", "", lambda c, v: v.zero_stage, False),
    Output("global_batch_tokens", "token", lambda c, v: v.global_batch, False),
    Output("trainable_params", "", lambda c, v: c.model.trainable, False),
    Output("teacher_flops_FLOP", "FLOP", lambda c, v: np.where(v.teacher_flops > 0, v.teacher_flops, np.nan), False),
    Output("energy_MWh", "MWh", lambda c, v: v.footprint.energy_j / _MWH),
    Output("it_energy_MWh", "MWh", lambda c, v: v.footprint.it_j / _MWH),
    Output("device_energy_MWh", "MWh", lambda c, v: v.footprint.device_j / _MWH),
    Output("host_energy_MWh", "MWh", lambda c, v: v.footprint.host_j / _MWH),
    Output("co2e_t", "tonne", lambda c, v: v.footprint.co2e_g / 1e6),
    Output("embodied_co2e_t", "tonne", lambda c, v: v.footprint.embodied_g / 1e6),
    Output("cost_USD", "USD", lambda c, v: v.footprint.cost),
    Output("power_per_gpu_W", "W", lambda c, v: v.footprint.device_w),
)
META = ("model", "hardware", "n_gpus", "dtype", "tp", "fits", "method")
# Figures that are NaN (None in to_dict) when they do not apply or are not known
MAY_BE_MISSING = frozenset({"tokens", "teacher_flops_FLOP", "embodied_co2e_t", "cost_USD", "min_gpus"})
# The input that drives each figure most, named when a figure is not finite
CULPRITS = {"memory_per_gpu_GiB": "seq_len", "memory_activations_GiB": "seq_len", "mfu": "mfu"}
# The META entries a sweep computes per row: (key, function of case and values, column dtype)
COLUMNS = (("n_gpus", lambda c, v: c.layout.n_gpus, np.int64), ("tp", lambda c, v: v.tp, np.int64),
           ("fits", lambda c, v: v.fits, bool))


def _sequence_parallel(flag: float, tp: int) -> str:
    if tp == 1:
        return "not used (tp = 1)"
    if np.isnan(flag):
        return "on (Megatron-LM's default with tensor parallelism; sequence_parallel=False to turn off)"
    return "on (given)" if flag else "off (given): layer norms and dropouts held whole on every tensor-parallel device"


def _shape(m, model: str | None) -> str:
    """Where the activations' shape comes from."""
    if float(m.shape_derived):
        f = SHAPE_FIT
        return (f"derived from params (aspect ratio fitted on the catalog's dense decoders: d_model = "
                f"{f['d_coef']} N^{f['d_exp']}, layers = {f['layers_coef']} N^{f['layers_exp']}, heads of "
                f"{f['head_dim']:.0f}): {float(m.layers):.0f} layers, d_model {float(m.d_model):.0f}, "
                f"{float(m.heads):.0f} heads; activations only, the FLOPs stay 6 N D")
    if float(m.feature_elements):
        return f"{model}'s bottleneck stages ({float(m.feature_elements) / 1e6:.4g}M feature-map elements per sample)"
    if float(m.layers):
        return f"{model}'s layers, d_model and heads"
    return "unknown: no activations counted"


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryBreakdown:
    """Bytes held on each device, by kind; ``total`` is their sum."""

    weights: pint.Quantity
    gradients: pint.Quantity
    optimizer: pint.Quantity
    activations: pint.Quantity

    @property
    def total(self) -> pint.Quantity:
        return self.weights + self.gradients + self.optimizer + self.activations


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class TrainingEstimate(RangedEstimate):
    """What one training run takes. Every figure is a Quantity, built when first read;
    ``assumptions`` says where each input came from; ``low``/``high`` bound the figures."""

    model: str | None
    hardware: str
    n_gpus: int
    dtype: str
    method: str
    warnings: tuple[str, ...] = ()

    OUTPUTS = OUTPUTS
    META = META
    HEADLINE = (("flops", "FLOP", "compute"), ("gpu_hours", "hour", "device-hours"), ("wall_time", "day", "wall time"),
                ("memory_per_gpu", "GiB", "memory per device"), ("energy", "MWh", "energy"),
                ("co2e", "tonne", "CO2e"), ("cost", "USD", "cost"))

    def _title(self) -> str:
        return f"{self.model or 'model'} on {self.n_gpus:,} x {self.hardware}, {self.dtype}"

    @property
    def params(self) -> pint.Quantity:
        """Total parameters."""
        return self._q("params", "count", of="model")

    @property
    def active_params(self) -> pint.Quantity:
        """Parameters per token."""
        return self._q("active_params", "count", of="model")

    @property
    def trainable_params(self) -> pint.Quantity:
        """Parameters that train."""
        return self._q("trainable", "count", of="model")

    @property
    def flops(self) -> pint.Quantity:
        """Model FLOPs [FLOP]."""
        return self._q("flops", "flop")

    @property
    def hardware_flops(self) -> pint.Quantity:
        """FLOPs executed, recomputation included."""
        return self._q("hardware_flops", "flop")

    @property
    def mfu(self) -> pint.Quantity:
        """Model FLOPs utilisation."""
        return self._q("mfu", "count")

    @property
    def wall_time(self) -> pint.Quantity:
        """Wall-clock time [day]."""
        return self._q("seconds", "day", 1 / 86400.0)

    @property
    def gpu_hours(self) -> pint.Quantity:
        """Accelerator-hours [hour]."""
        return self._q("gpu_hours", "hour")

    @property
    def min_gpus(self) -> pint.Quantity | None:
        """Fewest devices the run fits on (None when no layout holds one micro-batch)."""
        return self._q("min_gpus", "count")

    @property
    def tokens(self) -> pint.Quantity | None:
        """Training tokens (None for models counted in samples)."""
        return None if np.isfinite(self._case.model.forward_flops) else self._q("tokens", "token", of="model")

    @property
    def teacher_flops(self) -> pint.Quantity | None:
        """A distillation teacher's forward FLOPs (None without a teacher)."""
        return self._q("teacher_flops", "flop") if float(self._values.teacher_flops) > 0 else None

    @property
    def tp(self) -> int:
        """Tensor-parallel degree used."""
        return int(self._values.tp)

    @property
    def layout(self) -> dict[str, Any]:
        """The parallel layout used, given or chosen: degrees (tp, pp, cp, ep, vpp), ZeRO stage,
        micro-batch [sequence], global batch [token], recomputation and engineering tier."""
        from ..steptime import TIERS

        lay, v = self._case.layout, self._values
        return {"tp": int(v.tp), "pp": int(v.pp), "cp": int(lay.cp), "ep": int(v.ep), "vpp": int(v.vpp),
                "zero_stage": int(v.zero_stage), "micro_batch": int(lay.micro_batch),
                "global_batch_tokens": float(v.global_batch), "recompute": RECOMPUTE[int(lay.recompute)],
                "tuning": TIERS[int(lay.tuning)]}

    @property
    def fits(self) -> bool:
        """Whether the layout fits in each device's memory."""
        return bool(self._values.fits)

    @property
    def memory(self) -> MemoryBreakdown:
        """Bytes per device by kind [GiB]."""
        if "memory" not in self._cache:
            q = lambda key: self._q(key, "GiB", 1 / GIB)  # noqa: E731
            self._cache["memory"] = MemoryBreakdown(weights=q("weights"), gradients=q("gradients"),
                                                    optimizer=q("optimizer"), activations=q("activations"))
        return self._cache["memory"]




    @property
    def it_energy(self) -> pint.Quantity:
        """Energy of devices and servers."""
        return self.footprint.it_energy

    @property
    def co2e(self) -> pint.Quantity:
        """Operational emissions."""
        return self.footprint.co2e


    @property
    def assumptions(self) -> dict[str, Any]:
        """What was assumed and where it comes from: the time model and its tier, the layout
        (given or chosen), the figures of the device it uses, and the footprint's inputs."""
        if "assumptions" not in self._cache:
            lay, hw, dt, v = self._case.layout, self._profile, self.dtype, self._values
            h = self._case.hardware
            given = {k: bool(np.isfinite(getattr(lay, k))) for k in ("tp", "pp", "zero_stage", "ep", "vpp", "global_batch")}
            moot = {"ep"} if not float(self._case.model.experts) else set()  # no experts to place
            moot |= {"vpp"} if int(v.pp) == 1 else set()  # no pipeline to interleave
            chosen = [k for k, g in given.items() if not g and k not in moot]
            share = lambda x: f"{float(x):.0%}"  # noqa: E731
            self._cache["assumptions"] = {
                "mfu": ("given" if np.isfinite(lay.mfu) else
                        f"from the step-time model (costmodel/steptime.py, constants in data/calibration.toml), "
                        f"against the dense {dt} peak"),
                "time": (f"{share(v.compute_share)} device-local work (matmuls, memory-bound work, optimizer), "
                         f"{share(v.comm_share)} exposed communication, {share(v.stretch_share)} pipeline bubble "
                         f"and failures"),
                "tuning": self.layout["tuning"],
                "layout": ("given" if not chosen else
                           f"{', '.join(chosen)} chosen: the fastest layout that fits, with tensor parallelism inside "
                           "a node and the fewest pipeline stages"),
                **{k: self.layout[k] for k in ("tp", "pp", "cp", "ep", "vpp", "zero_stage", "micro_batch")},
                "global_batch": (f"{float(v.global_batch):.4g} tokens"
                                 + ("" if given["global_batch"] else
                                    " (GPT-3's batch for the model's size, at least one micro-batch per "
                                    "data-parallel rank)")),
                "recompute": RECOMPUTE[int(lay.recompute)], "seq_len": float(self._case.model.seq_len),
                "sequence_parallel": _sequence_parallel(float(lay.sequence_parallel), self.tp),
                "shape": _shape(self._case.model, self.model),
                "peak_flops": f"{hw.peak_flops(dt) / 1e12:.4g} TFLOP/s dense {dt} ({hw.sources[f'dense.{dt}']})",
                "gemm_ceiling": _figure(hw, f"gemm.{dt}", float(h.gemm), "TFLOP/s", 1e12,
                                        f"no measurement: {float(h.gemm) / float(h.peak):.0%} of the peak, the "
                                        f"median of the shipped profiles' measured GEMM ceilings"),
                "link": _figure(hw, "interconnect", float(h.link), "GB/s per direction", 1e9,
                                "no link figure: PCIe Gen4 x16 assumed"),
                "scale_out": _figure(hw, "scale_out", float(h.scale_out), "GB/s per direction per device", 1e9,
                                     "no network figure: 100 Gb/s per device assumed"),
                "devices_per_node": int(h.node),
                **describe_footprint(hw, self._case.footprint, self._labels)}
        return self._cache["assumptions"]


def _figure(hw, key: str, value: float, unit: str, scale: float, missing: str) -> str:
    """A figure the time model uses, with its source or what was assumed instead."""
    src = hw.sources.get(key)
    if src is None:
        return f"{value / scale:.4g} {unit} ({missing})"
    return f"{value / scale:.4g} {unit} ({src.source})"
