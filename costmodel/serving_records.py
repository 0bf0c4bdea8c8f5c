"""Serving records: a model at its weight and KV precisions, on a device run by a serving engine.

:func:`resolve_serving` turns a catalogue model (or a bare parameter count), a hardware profile,
the serving formats (:mod:`costmodel.precision`), sparsity and the engine (:mod:`costmodel.engines`,
with its fitted constants from :mod:`costmodel.calibration`) into the floats the rooflines read:
a :class:`~costmodel.inference.ServingModel` (parameters, weight and expert bytes, KV bytes per
token, layers and the kernels a forward pass launches) and a
:class:`~costmodel.inference.ServingHardware` (peak, bandwidth, memory, links, the runtime's
overheads and limits). Each figure comes from the profile or catalogue entry it names; the two
defaults below stand in where a profile gives none.

References
----------
Kaplan et al. 2020, Table 1 (attention FLOPs per token of context, ``n_layer d_attn``);
Pope et al. 2022, "Efficiently Scaling Transformer Inference" (the KV cache of a decoder).
"""

from __future__ import annotations

import math
from dataclasses import replace

from . import inference as core
from .architecture import expert_parameters
from .calibration import Calibration, resolve_calibration
from .engines import Engine, default_engine, engine_constants, engines, get_engine, kernels_per_pass, model_class, token_budget
from .errors import InputError, ProfileError
from .hardware import HardwareProfile, ProfilePath, get_hardware
from .inference import ServingHardware, ServingModel
from .memo import memoise
from .models import ModelSpec, get_model, resolve_counts
from .precision import resolve_kv, resolve_precision, resolve_sparsity
from .units import CountLike

__all__ = ["AUTOREGRESSIVE", "NODE_DEFAULT", "SCALE_OUT_DEFAULT", "resolve_serving", "resolve_engine"]

AUTOREGRESSIVE = ("dense-decoder", "moe-decoder", "encoder-decoder")


NODE_DEFAULT = 8  # devices per node where a profile gives none (an HGX/DGX-style 8-GPU server)
SCALE_OUT_DEFAULT = 12.5e9  # B/s per device between nodes where a profile gives none: a 100 Gb/s NIC each


def _serving_model(spec: ModelSpec | None, params: CountLike | None, active_params: CountLike | None,
                   weight_bytes: float, kv_bytes: float) -> ServingModel:
    n, active = resolve_counts(spec, params, active_params)
    kind = "dense-decoder" if spec is None else spec.kind
    fields: dict[str, float] = {"params": n, "active_params": active, "weight_bytes": n * weight_bytes,
                                "autoregressive": float(kind in AUTOREGRESSIVE)}
    if spec is None or params is not None:
        return ServingModel(**fields)
    if spec.forward_flops is not None and spec.kind in ("cnn", "vit", "linear"):
        fields["forward_flops"] = float(spec.forward_flops.magnitude)
    fields["layers"] = float(_layer_count(spec))
    if spec.kind in ("cnn", "linear"):  # one image or one row per request
        fields["sequence"] = 1.0
    if spec.kind == "cnn" and spec.image_size:
        # a convolution's rows are the output positions: stages at strides 4, 8, 16 and 32 doing
        # about equal FLOPs average (image / 7)^2 positions per image, weighted by FLOPs
        fields["rows_per_token"] = float((spec.image_size / 7.0) ** 2)
    shape = spec.shape
    if shape is not None:
        # only a model that generates keeps a KV cache; an encoder or a ViT runs one pass
        kv = (float(core.kv_bytes_per_token(shape.layers, shape.kv_heads, shape.head_dim, kv_bytes, shape.kv_latent))
              if fields["autoregressive"] else 0.0)
        fields.update(kv_per_token=kv,
                      attention_per_ctx=float(shape.layers * shape.attention_dim), d_model=float(shape.d_model),
                      layers=float(shape.layers + (spec.decoder_layers or 0)),
                      ffn=float(spec.expert_ffn_dim or spec.ffn_dim or 4 * shape.d_model),
                      context=float(spec.context or math.inf))
        if spec.kind == "vit" and spec.image_size and spec.patch_size:  # its sequence: the patches and a class token
            fields["sequence"] = float((spec.image_size // spec.patch_size) ** 2 + 1)
    if spec.experts:
        if spec.experts_per_token is None:
            raise ProfileError(f"model {spec.id!r}: a mixture of experts needs experts_per_token")
        fields.update(expert_bytes=expert_parameters(spec) * weight_bytes, experts=float(spec.experts),
                      experts_per_token=float(spec.experts_per_token),
                      expert_layers=float(fields["layers"] - (spec.dense_layers or 0)))
    return ServingModel(**fields)


def _layer_count(spec: ModelSpec) -> int:
    """Layers of a forward pass (a tensor-parallel step all-reduces after each): a transformer's
    blocks, a ResNet's convolutions (3 per bottleneck block, the stem and the classifier), a
    linear model's one; 1 where the catalogue gives no count."""
    if spec.layers:
        return spec.layers + (spec.decoder_layers or 0)
    if spec.bottleneck_blocks:
        return 3 * sum(spec.bottleneck_blocks) + 2
    return 1


def _kernels(spec: ModelSpec | None, runtime: Engine) -> float:
    """Kernels one forward pass of the model launches under the runtime (a linear model's
    predict: one call); see :func:`costmodel.engines.kernels_per_pass`."""
    if spec is not None and spec.kind == "linear":
        return 1.0
    blocks = float((spec.layers or 0) + (spec.decoder_layers or 0)) if spec is not None else 0.0
    stages = (spec.bottleneck_blocks or ()) if spec is not None else ()
    return kernels_per_pass(runtime, blocks=blocks, bottlenecks=float(sum(stages)), stages=float(len(stages)))


def resolve_serving(model: str | ModelSpec | None = None, *, params: CountLike | None = None,
                    active_params: CountLike | None = None, hardware: str | HardwareProfile, dtype: str | None = None,
                    kv_dtype: str | None = None, prune: str | float | None = None, engine: str | None = None,
                    profile_path: ProfilePath | None = None, calibration: Calibration | None = None
                    ) -> tuple[ModelSpec | None, HardwareProfile, tuple[str, str, str], ServingModel, ServingHardware]:
    """The model at its weight and KV precisions (and sparsity) on a device run by a serving
    engine: ``(spec, profile, (dtype, kv_dtype, engine id), model record, hardware record)``
    (see :mod:`costmodel.precision` and :mod:`costmodel.engines`)."""
    spec = get_model(model) if model is not None else None
    hw = get_hardware(hardware, profile_path=profile_path)
    names, m, h = _serving_records(spec, hw, params, active_params, dtype, kv_dtype, prune, engine, calibration)
    return spec, hw, names, m, h


@memoise
def _serving_records(spec: ModelSpec | None, hw: HardwareProfile, params: CountLike | None,
                     active_params: CountLike | None, dtype: str | None, kv_dtype: str | None,
                     prune: str | float | None, engine: str | None, calibration: Calibration | None
                     ) -> tuple[tuple[str, str, str], ServingModel, ServingHardware]:
    p, compute = resolve_precision(dtype, hw)
    kv, kv_bytes = resolve_kv(kv_dtype, p, compute, hw)
    sparsity = resolve_sparsity(prune, p, compute, hw)
    m = _serving_model(spec, params, active_params, p.weight_bytes * sparsity.weight_share, kv_bytes)
    kind = "dense-decoder" if spec is None else spec.kind
    runtime = resolve_engine(engine, hw, kind, spec.id if spec else "the model")
    m = replace(m, kernels=_kernels(spec, runtime))
    constants = engine_constants((calibration or resolve_calibration(None)).serving, runtime)
    link = hw.number("interconnect_bandwidth") or hw.number("pcie_bandwidth") or 16e9
    peak = float(hw.sparse[compute].to("FLOP/s").magnitude) if sparsity.sparse_peak else hw.peak_flops(compute)
    ceiling = None if sparsity.sparse_peak else hw.gemm_flops(compute)
    battery = hw.number("battery")
    h = ServingHardware(peak=peak, bandwidth=hw.number("memory_bandwidth"), capacity=hw.number("memory"),
                        tdp=hw.number("tdp"), link=link, battery=math.nan if battery is None else battery,
                        step_fixed_s=constants.fixed_s, launch_s=constants.launch_s, efficiency=constants.efficiency,
                        overlap=float(not runtime.graphs and hw.engine != "cpu"),
                        network=hw.number("scale_out_bandwidth") or SCALE_OUT_DEFAULT,
                        node=float(hw.devices_per_node or NODE_DEFAULT),
                        max_in_flight=float(runtime.max_in_flight or math.inf),
                        in_flight=float(runtime.in_flight_batching), mixed=float(runtime.mixed_prefill), ceiling=math.inf if ceiling is None else ceiling,
                        token_budget=token_budget(runtime, hw.id, hw.number("memory")))
    return (p.name, kv, runtime.id), m, h


def resolve_engine(engine: str | None, hw: HardwareProfile, kind: str, name: str) -> Engine:
    """The serving runtime asked for, or the device class's default for this kind of model;
    refused when it does not serve this kind of model."""
    if engine is None:
        return default_engine(hw, kind)
    runtime = get_engine(engine)
    needed = "generative" if model_class(kind) == "generative" else "single-pass"
    if needed not in runtime.serves:
        what = "generates tokens" if needed == "generative" else "runs one forward pass per request"
        able = [e.id for e in engines().values() if needed in e.serves]
        raise InputError(f"{runtime.name} does not serve a model that {what} ({name}); expected one of "
                         f"{', '.join(able)}", argument="engine")
    return runtime
