"""Serving precisions and sparsity: what a format stores, moves and computes with.

A serving ``dtype`` names both the bytes of each weight and the precision the matrix units
compute in:

===========  ================  ====================================================
name         bytes per weight  compute
===========  ================  ====================================================
``fp32``     4                 fp32 (``tf32`` where the device lists it as a peak)
``bf16``     2                 bf16
``fp16``     2                 fp16
``fp8``      1                 fp8 (weights and activations; Hopper, Ada, Blackwell, MI300)
``fp4``      0.5               fp4 (Blackwell's NVFP4/MXFP4; refused elsewhere)
``w8a16``    1                 the device's 16-bit format: weight-only int8 (decode reads
                               8-bit weights, dequantised to 16-bit; GPTQ/bitsandbytes-style)
``w4a16``    0.5               the device's 16-bit format: weight-only 4-bit (GPTQ, AWQ)
``w8a8``     1                 int8 weights and activations (SmoothQuant-style); the int8 peak
===========  ================  ====================================================

``int8`` and ``int4`` are aliases of ``w8a16`` and ``w4a16``. A format whose compute
precision the device lacks is refused, naming what it has. The KV cache has its own dtype.

Sparsity (``prune=``): ``"2:4"`` structured sparsity keeps two weights in four, so weights
take half their bytes plus 2 bits of position per kept weight, and matrix units run at the
device's sparse peak where it lists one (refused where it does not); an unstructured ratio
(``0.5``) changes neither time nor memory on dense kernels, which is said in the result's
warnings rather than assumed away.

References
----------
Frantar et al. 2023, "GPTQ"; Lin et al. 2024, "AWQ"; Xiao et al. 2023, "SmoothQuant";
Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks" (2:4 sparsity, 2-bit
metadata per kept element).
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

from .datafiles import normalise
from .errors import InputError

if TYPE_CHECKING:
    from .hardware import HardwareProfile

# The precisions a device's throughput is listed at (a profile's dense and sparse tables).
PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8", "int4")
_DTYPE_ALIASES = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32", "single": "fp32",
    "tf32": "tf32", "tensorfloat32": "tf32",
    "bf16": "bf16", "bfloat16": "bf16",
    "fp16": "fp16", "float16": "fp16", "half": "fp16",
    "fp8": "fp8", "float8": "fp8", "fp8-e4m3": "fp8", "e4m3": "fp8",
    "int8": "int8", "i8": "int8", "int4": "int4", "i4": "int4",
    "fp4": "fp4", "float4": "fp4", "nvfp4": "fp4", "mxfp4": "fp4", "e2m1": "fp4",
}


def canonical_dtype(dtype: str, name: str = "dtype") -> str:
    """Map a precision name (``"bfloat16"``, ``"FP8"``) to its canonical short name."""
    key = normalise(dtype) if isinstance(dtype, str) else None
    if key not in _DTYPE_ALIASES:
        raise InputError(f"expected one of {', '.join(PRECISIONS)}, got {dtype!r}", argument=name)
    return _DTYPE_ALIASES[key]



__all__ = ["PRECISIONS", "canonical_dtype", "Precision", "SERVING_DTYPES", "serving_name", "resolve_precision", "resolve_kv", "Sparsity", "resolve_sparsity"]


@dataclass(frozen=True, slots=True)
class Precision:
    """A serving format: its name, bytes per weight and the device precision it computes in."""

    name: str
    weight_bytes: float
    compute: str  # a key of HardwareProfile.dense, or "16-bit": the device's usual 16-bit format


SERVING_DTYPES = {p.name: p for p in (
    Precision("fp32", 4.0, "fp32"), Precision("tf32", 4.0, "tf32"), Precision("bf16", 2.0, "bf16"),
    Precision("fp16", 2.0, "fp16"), Precision("fp8", 1.0, "fp8"), Precision("fp4", 0.5, "fp4"),
    Precision("w8a16", 1.0, "16-bit"), Precision("w4a16", 0.5, "16-bit"), Precision("w8a8", 1.0, "int8"),
)}
_ALIASES = {"int8": "w8a16", "int4": "w4a16", "w8a8-int8": "w8a8", "awq": "w4a16", "gptq": "w4a16"}
_KV_BYTES = {"fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0}


def serving_name(dtype: str) -> str | None:
    """The serving format a name means (``"int4"`` -> ``"w4a16"``), or None if it names none."""
    key = normalise(dtype) if isinstance(dtype, str) else ""
    key = _ALIASES.get(key, key)
    return key if key in SERVING_DTYPES else None


def _sixteen_bit(hw: HardwareProfile) -> str:
    return next((d for d in ("bf16", "fp16") if d in hw.dense), hw.default_dtype)


_INTEGER_BYTES = {"int8": 1.0, "int4": 0.5}  # bytes per weight of a device's integer-only default


def resolve_precision(dtype: str | None, hw: HardwareProfile) -> tuple[Precision, str]:
    """The serving format and the device precision it computes in (default: the device's
    usual mixed-precision format)."""
    if dtype is None:
        default = hw.default_dtype
        if default in SERVING_DTYPES:
            return SERVING_DTYPES[default], default
        if default == "int8":  # a device with integer units only (a phone NPU, an Orin Nano's DLA figures)
            return SERVING_DTYPES["w8a8"], "int8"
        return Precision(default, _INTEGER_BYTES.get(default, 2.0), default), default
    key = normalise(dtype) if isinstance(dtype, str) else ""
    key = _ALIASES.get(key, key)
    if key not in SERVING_DTYPES:
        try:
            key = canonical_dtype(dtype)
        except InputError:
            raise InputError(f"expected one of {', '.join(SERVING_DTYPES)} (int8 = w8a16, int4 = w4a16), "
                             f"got {dtype!r}", argument="dtype") from None
        key = _ALIASES.get(key, key)
    p = SERVING_DTYPES[key]
    compute = _sixteen_bit(hw) if p.compute == "16-bit" else p.compute
    if compute not in hw.dense:
        have = [d for d in SERVING_DTYPES if d in hw.dense or SERVING_DTYPES[d].compute == "16-bit"
                or SERVING_DTYPES[d].compute in hw.dense]
        raise InputError(f"{hw.id} does not support {p.name}: it has no {compute} units (it runs: {', '.join(have)})",
                         argument="dtype")
    return p, compute


def resolve_kv(kv_dtype: str | None, p: Precision, compute: str, hw: HardwareProfile) -> tuple[str, float]:
    """The KV cache's precision and bytes per value: given, else the compute precision's
    (16-bit for integer formats, fp16 where the device lists no 16-bit peak; fp8 for fp4
    weights)."""
    if kv_dtype is None:
        name = compute if compute in _KV_BYTES else "fp8" if compute == "fp4" else _sixteen_bit(hw)
        if name not in _KV_BYTES:  # a device that lists only integer peaks (a Jetson Orin Nano): fp16
            name = "fp16"
    else:
        name = canonical_dtype(kv_dtype, "kv_dtype")
        if name not in _KV_BYTES:
            raise InputError(f"expected one of {', '.join(_KV_BYTES)} for the cache, got {kv_dtype!r}",
                             argument="kv_dtype")
    return name, _KV_BYTES[name]


@dataclass(frozen=True, slots=True)
class Sparsity:
    """What pruning does to serving: the share of weight bytes kept, whether the sparse peak
    applies, and what the result should say."""

    label: str
    weight_share: float = 1.0
    sparse_peak: bool = False
    note: str = ""


def resolve_sparsity(prune, p: Precision, compute: str, hw: HardwareProfile) -> Sparsity:
    """``prune=None``, ``"2:4"`` or an unstructured ratio in (0, 1)."""
    if prune is None:
        return Sparsity("dense")
    if isinstance(prune, str) and prune.strip() == "2:4":
        if compute not in hw.sparse:
            listed = ", ".join(hw.sparse) or "none"
            raise InputError(f"{hw.id} lists no 2:4 sparse peak at {compute} (sparse peaks: {listed})",
                             argument="prune")
        bits = 8.0 * p.weight_bytes
        return Sparsity("2:4", (bits / 2.0 + 1.0) / bits, True,
                        "2:4 sparsity: half the weights, 2 bits of position per kept weight, sparse peak")
    try:
        ratio = float(prune)
    except (TypeError, ValueError):
        raise InputError(f"expected '2:4' or a share of weights pruned in (0, 1) such as 0.5, got {prune!r}",
                         argument="prune") from None
    if not 0.0 < ratio < 1.0:
        raise InputError(f"expected '2:4' or a share of weights pruned in (0, 1) such as 0.5, got {prune!r}",
                         argument="prune")
    return Sparsity(f"unstructured {ratio:g}", 1.0, False,
                    f"unstructured sparsity ({ratio:.0%} of weights zero): dense kernels run no faster and store "
                    "every weight; time and memory shrink only with a sparse format and kernels, not assumed here")
