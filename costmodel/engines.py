"""Serving runtimes: the catalogue (``data/engines.toml``), defaults, and their fitted overheads.

A runtime changes what a forward step costs beyond its roofline: a fixed cost per step
(scheduling, sampling, host synchronisation) and a cost per kernel launch, times the kernels the
step launches. How many a layer launches depends on the layer and on the runtime's class
(:func:`kernels_per_pass`): a compiled engine or captured graphs fuse a transformer block into
about 7 kernels and a convolution with its norm and activation into one, while eager PyTorch
dispatches some 30 operators per transformer block and 3 per convolution from Python. An eager
runtime's host dispatches while the device works through its queue, so its step takes the longer
of the two (:class:`costmodel.inference.ServingHardware` ``overlap``). The two constants, and a
share of the achievable compute and bandwidth, are fitted per engine on its own measured points
(``inference_calibration.toml``, ``[inference.engines.<id>]``); an engine without enough points
borrows the constants of the engine its ``like`` names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from functools import cache
from typing import TYPE_CHECKING, Any

from .datafiles import lookup, name_index, read_toml
from .errors import ProfileError

if TYPE_CHECKING:
    from .calibration import ServingCalibration
    from .hardware import HardwareProfile

__all__ = ["Engine", "EngineConstants", "class_of", "engines", "get_engine", "default_engine", "engine_constants",
           "kernels_per_pass", "model_class", "token_budget"]

SERVES = ("generative", "single-pass")


@dataclass(frozen=True, slots=True)
class Engine:
    """A serving runtime: what it serves, whether it replays captured graphs, the requests it
    keeps in flight by default (0: no limit of its own), whether it batches in flight (else every
    batch is static), whether its scheduler runs waiting prompts' prefill tokens in the same
    forward step as the running requests' decode tokens (``mixed_prefill``; else each prefill is a
    step of its own that pauses decoding), and where that comes from."""

    id: str
    name: str
    aliases: tuple[str, ...]
    serves: tuple[str, ...]
    graphs: bool
    like: str | None
    max_in_flight: int
    in_flight_batching: bool
    source: str
    mixed_prefill: bool = False  # waiting prompts' prefill tokens run inside the running decode step
    measured: tuple[float, float] | None = None  # (fixed_s, launch_s) measured, for an engine the fit has no points for
    token_budget: tuple[tuple[float, float], ...] = ()  # (below GiB per device, tokens per step); () none
    token_budget_except: tuple[str, ...] = ()  # device ids naming one of these take the first tier


@dataclass(frozen=True, slots=True)
class EngineConstants:
    """Fitted per engine: seconds per forward step and per kernel it launches, a multiplier of
    the achievable compute and bandwidth fractions, and the points they were fitted on (0:
    borrowed from ``borrowed_from``)."""

    fixed_s: float
    launch_s: float
    efficiency: float = 1.0
    points: int = 0
    borrowed_from: str | None = None


def _build(entry: dict[str, Any]) -> Engine:
    serves = tuple(entry.get("serves", ()))
    if not serves or any(s not in SERVES for s in serves):
        raise ProfileError(f"engines.toml: engine {entry.get('id')!r}: serves must be among {SERVES}")
    if "mixed_prefill" in entry and not entry.get("mixed_prefill_source"):
        raise ProfileError(f"engines.toml: engine {entry.get('id')!r}: mixed_prefill needs a mixed_prefill_source")
    if "token_budget" in entry and not entry.get("token_budget_source"):
        raise ProfileError(f"engines.toml: engine {entry.get('id')!r}: token_budget needs a token_budget_source")
    tiers = tuple((float(below), float(tokens)) for below, tokens in entry.get("token_budget", ()))
    if any(tokens < 1 for _, tokens in tiers):
        raise ProfileError(f"engines.toml: engine {entry.get('id')!r}: token_budget tiers need at least 1 token")
    return Engine(id=entry["id"], name=entry["name"], aliases=tuple(entry.get("aliases", ())), serves=serves,
                  graphs=bool(entry.get("graphs", False)), like=entry.get("like"),
                  max_in_flight=int(entry.get("max_in_flight", 0)),
                  in_flight_batching=bool(entry.get("in_flight_batching", True)), source=entry["source"],
                  mixed_prefill=bool(entry.get("mixed_prefill", False)),
                  measured=(float(entry["fixed_s"]), float(entry.get("launch_s", 0.0))) if "fixed_s" in entry else None,
                  token_budget=tiers, token_budget_except=tuple(entry.get("token_budget_except", ())))


@cache
def _catalogue() -> tuple[dict[str, Engine], dict[str, Engine], dict[str, dict[str, str]], dict[str, dict[str, Any]]]:
    data = read_toml(Path(__file__).resolve().parent / "data" / "engines.toml", cache=True)
    items = {e.id: e for e in (_build(entry) for entry in data["engine"])}
    return items, name_index(list(items.values())), data["defaults"], data["kernels"]


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
    ``graphs`` (captured graphs or a compiled engine: few fused kernels per layer) or ``eager``
    (every operator dispatched from the host)."""
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
        return EngineConstants(c.fixed_s, c.launch_s, c.efficiency, 0, pooled)
    seen, current = [], engine
    while True:
        if current.id in fitted:
            c = fitted[current.id]
            return c if current is engine else EngineConstants(c.fixed_s, c.launch_s, c.efficiency, 0, current.id)
        seen.append(current.id)
        if current.like is None or current.like in seen:
            break
        current = get_engine(current.like)
    return EngineConstants(cal.step_overhead_s, 0.0, 1.0, 0, "default")


def kernels_per_pass(engine: Engine, *, blocks: float = 0.0, bottlenecks: float = 0.0, stages: float = 0.0) -> float:
    """Kernels (graphs) or host-dispatched operators (eager) one forward pass launches: its
    transformer ``blocks``, a ResNet's ``bottlenecks`` in ``stages`` (a projection shortcut each),
    and the stem and head, at the counts per layer of the engine's class (``[kernels]`` of
    engines.toml, each with the op graph it was counted from). A model with neither counts as
    one transformer block.

    >>> kernels_per_pass(get_engine("tensorrt"), blocks=12)
    88.0
    """
    k = _catalogue()[3]["graphs" if engine.graphs else "eager"]
    if not blocks and not bottlenecks:
        blocks = 1.0
    return float(blocks * k["transformer_block"] + bottlenecks * k["bottleneck_block"] + stages * k["projection"]
                 + k["ends"])


def token_budget(engine: Engine, device_id: str, memory_bytes: float) -> float:
    """The most tokens one forward step of ``engine`` processes by default on a device with
    ``memory_bytes`` per device (``token_budget`` of engines.toml: vLLM's
    ``max_num_batched_tokens``, TensorRT-LLM's ``max_num_tokens``, SGLang's
    ``chunked_prefill_size``); inf for an engine without a sourced one.

    >>> token_budget(get_engine("vllm"), "h100", 80 * 2**30), token_budget(get_engine("vllm"), "l4", 24 * 2**30)
    (8192.0, 2048.0)
    """
    if not engine.token_budget:
        return math.inf
    if any(name in device_id.lower() for name in engine.token_budget_except):
        return engine.token_budget[0][1]
    gib = memory_bytes / 2**30
    for below, tokens in engine.token_budget:
        if gib < below:
            return tokens
    return engine.token_budget[-1][1]
