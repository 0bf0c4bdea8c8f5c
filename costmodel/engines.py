"""Serving runtimes: the catalogue (``data/engines.toml``), defaults, and their fitted overheads.

A runtime changes what a forward step costs beyond its roofline: a fixed cost per step
(scheduling, sampling, host synchronisation) and a cost per layer (kernel launches; small with
captured CUDA graphs or a compiled engine, large when every operator is dispatched from Python).
Those two constants, and a share of the achievable compute and bandwidth, are fitted per engine
on its own measured points (``inference_calibration.toml``, ``[inference.engines.<id>]``); an
engine without enough points borrows the constants of the engine its ``like`` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from functools import cache
from typing import TYPE_CHECKING, Any

from .datafiles import lookup, name_index, read_toml
from .errors import ProfileError

if TYPE_CHECKING:
    from .calibration import ServingCalibration
    from .hardware import HardwareProfile

__all__ = ["Engine", "EngineConstants", "class_of", "engines", "get_engine", "default_engine", "engine_constants", "model_class"]

SERVES = ("generative", "single-pass")


@dataclass(frozen=True, slots=True)
class Engine:
    """A serving runtime: what it serves, whether it replays captured graphs, the requests it
    keeps in flight by default (0: no limit of its own), whether it batches in flight (else every
    batch is static), and where that comes from."""

    id: str
    name: str
    aliases: tuple[str, ...]
    serves: tuple[str, ...]
    graphs: bool
    like: str | None
    max_in_flight: int
    in_flight_batching: bool
    source: str
    measured: tuple[float, float] | None = None  # (fixed_s, layer_s) measured, for an engine the fit has no points for


@dataclass(frozen=True, slots=True)
class EngineConstants:
    """Fitted per engine: seconds per forward step and per layer of a step, a multiplier of the
    achievable compute and bandwidth fractions, and the points they were fitted on (0: borrowed
    from ``borrowed_from``)."""

    fixed_s: float
    layer_s: float
    efficiency: float = 1.0
    points: int = 0
    borrowed_from: str | None = None


def _build(entry: dict[str, Any]) -> Engine:
    serves = tuple(entry.get("serves", ()))
    if not serves or any(s not in SERVES for s in serves):
        raise ProfileError(f"engines.toml: engine {entry.get('id')!r}: serves must be among {SERVES}")
    return Engine(id=entry["id"], name=entry["name"], aliases=tuple(entry.get("aliases", ())), serves=serves,
                  graphs=bool(entry.get("graphs", False)), like=entry.get("like"),
                  max_in_flight=int(entry.get("max_in_flight", 0)),
                  in_flight_batching=bool(entry.get("in_flight_batching", True)), source=entry["source"],
                  measured=(float(entry["fixed_s"]), float(entry.get("layer_s", 0.0))) if "fixed_s" in entry else None)


@cache
def _catalogue() -> tuple[dict[str, Engine], dict[str, Engine], dict[str, dict[str, str]]]:
    data = read_toml(Path(__file__).resolve().parent / "data" / "engines.toml")
    items = {e.id: e for e in (_build(entry) for entry in data["engine"])}
    return items, name_index(list(items.values())), data["defaults"]


def engines() -> dict[str, Engine]:
    """Every runtime by id."""
    return dict(_catalogue()[0])


def get_engine(name: str | Engine) -> Engine:
    """A runtime by id or alias (case and separators folded), with did-you-mean otherwise."""
    if isinstance(name, Engine):
        return name
    return lookup(name, _catalogue()[1], what="serving engine", command="costmodel engines", argument="engine")


def model_class(kind: str) -> str:
    """``generative``, ``single-pass`` or ``linear`` for a catalogue model kind."""
    if kind in ("dense-decoder", "moe-decoder", "encoder-decoder"):
        return "generative"
    return "linear" if kind == "linear" else "single-pass"


def default_engine(hw: HardwareProfile, kind: str) -> Engine:
    """The runtime a device of this class runs a model of this kind with (see engines.toml)."""
    chosen = _catalogue()[2][model_class(kind)][hw.kind]
    vendor = hw.vendor.lower()
    if chosen == "coreml" and vendor != "apple":  # Core ML is Apple's; other phones run LiteRT
        chosen = "tflite"
    if chosen in ("tensorrt", "tensorrt-llm") and vendor != "nvidia":  # NVIDIA's; others run ONNX Runtime
        chosen = "onnxruntime" if chosen == "tensorrt" else "vllm"
    if chosen == "mlc" and vendor != "nvidia":  # the Jetson benchmarks' runtime; other boards run llama.cpp
        chosen = "llama.cpp"
    if chosen == "llama.cpp" and hw.engine == "npu":  # llama.cpp runs on CPUs and GPUs; an NPU runs a
        chosen = "tflite"  # vendor delegate (LiteRT with Qualcomm's QNN, as AI Hub runs it)
    return get_engine(chosen)


def class_of(engine: Engine) -> str:
    """The class an engine's constants are pooled with when it has too few sources of its own:
    ``graphs`` (captured graphs or a compiled engine: a small cost per layer) or ``eager`` (one
    kernel launched at a time from the host)."""
    return "class:graphs" if engine.graphs else "class:eager"


def engine_constants(cal: ServingCalibration, engine: Engine) -> EngineConstants:
    """The engine's fitted constants; for an engine with too few independent sources of its own,
    its class's (:func:`class_of`), else those of the engine it is ``like`` (followed until one
    has its own), else the calibration's fallback."""
    fitted = dict(cal.engines)
    if engine.id not in fitted and engine.measured is not None:
        return EngineConstants(*engine.measured, 1.0, 0, "measured")
    pooled = class_of(engine)
    if engine.id not in fitted and pooled in fitted:  # the constants of its class, fitted on its kin
        c = fitted[pooled]
        return EngineConstants(c.fixed_s, c.layer_s, c.efficiency, 0, pooled)
    seen, current = [], engine
    while True:
        if current.id in fitted:
            c = fitted[current.id]
            return c if current is engine else EngineConstants(c.fixed_s, c.layer_s, c.efficiency, 0, current.id)
        seen.append(current.id)
        if current.like is None or current.like in seen:
            break
        current = get_engine(current.like)
    return EngineConstants(cal.step_overhead_s, 0.0, 1.0, 0, "default")
