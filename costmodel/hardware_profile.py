"""The hardware profile record: one accelerator, CPU socket or personal device with the source
of every figure, built and validated from a parsed TOML table (:meth:`HardwareProfile.from_mapping`).

Finding and caching profile files is :mod:`costmodel.hardware_registry`; :mod:`costmodel.hardware`
is the public face of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Mapping, TypeAlias, overload

import pint

from .datafiles import FieldReader, Source, read_figure
from .errors import InputError
from .precision import PRECISIONS, canonical_dtype

__all__ = ["ENGINES", "KINDS", "PERSONAL_KINDS", "PRICE_KINDS", "HardwareProfile", "Price", "RequiredFigure"]

KINDS = ("gpu", "tpu", "cpu", "edge", "phone", "laptop")
# Devices that run on their own power budget: no data-centre PUE and no separate server.
PERSONAL_KINDS = ("edge", "phone", "laptop")
# The compute engine a profile's throughput figures are for; a chip with several (a phone's
# NPU, GPU and CPU) has one profile per engine, never one with the figures mixed.
ENGINES = ("gpu", "npu", "cpu", "tpu", "dla")
PRICE_KINDS = ("on_demand", "spot", "reserved", "purchase")
# The figures every profile has (from_mapping requires them) and those it may leave out.
RequiredFigure: TypeAlias = Literal["memory", "memory_bandwidth", "tdp"]
_OPTIONAL_FIGURES = ("idle_power", "interconnect_bandwidth", "pcie_bandwidth", "scale_out_bandwidth", "battery")
_TOP_KEYS = {"id", "name", "vendor", "kind", "engine", "launch_year", "device", "aliases", "memory",
             "memory_bandwidth", "tdp", "idle_power", "battery", "interconnect", "pcie", "scale_out", "dense",
             "sparse", "gemm", "price"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """A price per device-hour (or a purchase price) with who charged it and when."""

    value: pint.Quantity
    provider: str
    date: str
    source: Source


@dataclass(frozen=True, slots=True, kw_only=True)
class HardwareProfile:
    """One accelerator or CPU socket, with every figure's source.

    Throughput figures are DENSE peaks per precision; 2:4 structured-sparsity figures live
    in ``sparse`` and are never used for estimates; ``gemm`` holds the MEASURED throughput of
    large dense matrix multiplications, where one is published (never above ``dense``). Link
    bandwidths are per direction: ``interconnect`` inside the scale-up domain of
    ``devices_per_node`` devices (NVLink, xGMI, ICI), ``scale_out`` each device's share of the
    network between such domains (InfiniBand, RoCE, DCN).
    """

    id: str
    name: str
    vendor: str
    kind: str
    launch_year: int
    engine: str = "gpu"
    device: str = field(repr=False)
    aliases: tuple[str, ...] = field(repr=False)
    memory: pint.Quantity
    memory_bandwidth: pint.Quantity
    tdp: pint.Quantity
    idle_power: pint.Quantity | None = None
    battery: pint.Quantity | None = None  # a phone's or laptop's battery capacity (energy)
    interconnect_bandwidth: pint.Quantity | None = None
    interconnect: str = ""
    pcie_bandwidth: pint.Quantity | None = None
    scale_out_bandwidth: pint.Quantity | None = None
    scale_out: str = ""
    devices_per_node: int | None = None
    dense: Mapping[str, pint.Quantity] = field(default_factory=dict, repr=False)
    sparse: Mapping[str, pint.Quantity] = field(default_factory=dict, repr=False)
    gemm: Mapping[str, pint.Quantity] = field(default_factory=dict, repr=False)
    prices: Mapping[str, Price] = field(default_factory=dict, repr=False)
    sources: Mapping[str, Source] = field(default_factory=dict, repr=False)
    path: str = field(default="", repr=False)
    _floats: Mapping[str, float] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Canonical floats for the vectorised core, recomputed by dataclasses.replace(): every
        # dense precision and every figure the profile has (an optional one it lacks is absent).
        floats = {k: float(v.to("FLOP/s").magnitude) for k, v in self.dense.items()}
        floats.update({f"gemm.{k}": float(v.to("FLOP/s").magnitude) for k, v in self.gemm.items()})
        figures = (("memory", self.memory, "byte"), ("memory_bandwidth", self.memory_bandwidth, "byte/s"),
                   ("tdp", self.tdp, "W"), ("idle_power", self.idle_power, "W"), ("battery", self.battery, "J"),
                   ("interconnect_bandwidth", self.interconnect_bandwidth, "byte/s"),
                   ("pcie_bandwidth", self.pcie_bandwidth, "byte/s"),
                   ("scale_out_bandwidth", self.scale_out_bandwidth, "byte/s"))
        for key, value, unit in figures:
            if value is not None:
                floats[key] = float(value.to(unit).magnitude)
        object.__setattr__(self, "_floats", MappingProxyType(floats))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], path: Path | str = "<mapping>") -> HardwareProfile:
        """Validate a parsed profile table and build the profile (ProfileError on any problem)."""
        r = FieldReader(path, data)
        r.check_keys(_TOP_KEYS, required=("id", "name", "vendor", "kind", "launch_year", "device",
                                          "memory", "memory_bandwidth", "tdp", "dense"))
        kind = r.get("kind", str, required=True)
        if kind not in KINDS:
            raise r.error("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        engine = r.get("engine", str, "tpu" if kind == "tpu" else "cpu" if kind == "cpu" else "gpu")
        if engine not in ENGINES:
            raise r.error("engine", f"expected one of {', '.join(ENGINES)}, got {engine!r}")
        aliases = r.get("aliases", list, [])
        if not all(isinstance(a, str) and a.strip() for a in aliases):
            raise r.error("aliases", "expected a list of non-empty strings")
        sources: dict[str, Source] = {}
        figures = {}
        for key, unit in (("memory", "byte"), ("memory_bandwidth", "bandwidth"), ("tdp", "power"),
                          ("idle_power", "power"), ("battery", "energy")):
            got = read_figure(r, key, unit, required=key not in ("idle_power", "battery"))
            if got:
                figures[key], sources[key] = got[0], got[1]
        links = {k: _read_link(r, k, sources) for k in ("interconnect", "pcie", "scale_out")}
        dense = _read_precisions(r, "dense", sources, required=True)
        sparse = _read_precisions(r, "sparse", sources)
        gemm = _read_precisions(r, "gemm", sources)
        _check_measured_below_peak(r, gemm, dense)
        return cls(
            id=r.get("id", str, required=True), name=r.get("name", str), vendor=r.get("vendor", str),
            kind=kind, engine=engine, launch_year=r.get("launch_year", int), device=r.get("device", str),
            aliases=tuple(aliases), dense=MappingProxyType(dense), sparse=MappingProxyType(sparse),
            gemm=MappingProxyType(gemm),
            interconnect_bandwidth=links["interconnect"][0], interconnect=links["interconnect"][1],
            pcie_bandwidth=links["pcie"][0], scale_out_bandwidth=links["scale_out"][0],
            scale_out=links["scale_out"][1], devices_per_node=_devices_per_node(r, links),
            prices=MappingProxyType(_read_prices(r, sources)),
            sources=MappingProxyType(sources), path=str(path), **figures,
        )

    @property
    def default_dtype(self) -> str:
        """The usual mixed-precision format: bf16, else fp16, else fp32."""
        return next((d for d in ("bf16", "fp16", "fp32") if d in self.dense), next(iter(self.dense)))

    def peak_flops(self, dtype: str | None = None) -> float:
        """Dense peak throughput at ``dtype`` in FLOP/s (a float, for the core)."""
        return self._floats[self.resolve_dtype(dtype)]

    def gemm_flops(self, dtype: str | None = None) -> float | None:
        """MEASURED large-GEMM throughput at ``dtype`` in FLOP/s, or None where none is published.

        ``dtype`` is resolved as for :meth:`peak_flops` (an InputError if the device lacks it).
        The step-time model falls back to a documented per-class fraction of the dense peak when
        this is None.
        """
        return self._floats.get(f"gemm.{self.resolve_dtype(dtype)}")

    @overload
    def number(self, name: RequiredFigure) -> float: ...
    @overload
    def number(self, name: str) -> float | None: ...
    def number(self, name: str) -> float | None:
        """A figure as a canonical float (bytes, bytes/s, W) for the vectorised core.

        ``memory``, ``memory_bandwidth`` and ``tdp`` are always there (a float); ``idle_power``,
        ``interconnect_bandwidth``, ``pcie_bandwidth``, ``scale_out_bandwidth`` (per direction)
        and ``battery`` are None where the profile has none.
        """
        if name in _OPTIONAL_FIGURES:
            return self._floats.get(name)
        return self._floats[name]

    def resolve_dtype(self, dtype: str | None) -> str:
        """Canonical dtype name, checked against what this device supports."""
        if dtype is None:
            return self.default_dtype
        name = canonical_dtype(dtype)
        if name not in self.dense:
            raise InputError(f"{self.id} does not support {name} (supported: "
                             f"{', '.join(d for d in PRECISIONS if d in self.dense)})", argument="dtype")
        return name

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: every figure as ``{value, unit, source, retrieved, note}``."""
        def fig(key: str, q: pint.Quantity) -> dict[str, Any]:
            src = self.sources.get(key)
            out: dict[str, Any] = {"value": float(q.magnitude), "unit": f"{q.units:~P}"}
            if src is not None:
                out.update(source=src.source, retrieved=src.retrieved, estimate=src.estimate)
                if src.note:
                    out["note"] = src.note
            return out

        data: dict[str, Any] = {k: getattr(self, k) for k in ("id", "name", "vendor", "kind", "launch_year", "device")}
        data["aliases"] = list(self.aliases)
        for key, src_key in (("memory", "memory"), ("memory_bandwidth", "memory_bandwidth"),
                             ("tdp", "tdp"), ("idle_power", "idle_power"),
                             ("interconnect_bandwidth", "interconnect"), ("pcie_bandwidth", "pcie"),
                             ("scale_out_bandwidth", "scale_out")):
            q = getattr(self, key)
            if q is not None:
                data[key] = fig(src_key, q)
                if key.endswith("_bandwidth") and key != "memory_bandwidth":
                    data[key]["direction"] = "per-direction"
        data["interconnect"] = self.interconnect
        data["scale_out"] = self.scale_out
        data["devices_per_node"] = self.devices_per_node
        data["dense"] = {k: fig(f"dense.{k}", q) for k, q in self.dense.items()}
        data["sparse"] = {k: fig(f"sparse.{k}", q) for k, q in self.sparse.items()}
        data["gemm"] = {k: fig(f"gemm.{k}", q) for k, q in self.gemm.items()}
        data["prices"] = {k: {**fig(f"price.{k}", p.value), "provider": p.provider, "date": p.date}
                          for k, p in self.prices.items()}
        return data

    def price_per_hour(self, kind: str = "on_demand") -> float | None:
        """Price of one device-hour in USD/h (a float), or None when no price is recorded."""
        price = self.prices.get(kind)
        return None if price is None else float(price.value.magnitude)


_Link: TypeAlias = tuple[pint.Quantity | None, str, FieldReader | None]


def _read_link(r: FieldReader, key: str, sources: dict[str, Source]) -> _Link:
    """A link's per-direction bandwidth, its name and its table (for ``devices_per_node``)."""
    extra = ("devices_per_node",) if key in ("interconnect", "scale_out") else ()
    got = read_figure(r, key, "bandwidth", extra_keys=extra)
    if got is None:
        return None, "", None
    value, source, table = got
    direction = table.get("direction", str, required=True)
    if direction not in ("per-direction", "bidirectional"):
        raise table.error("direction", f"expected 'per-direction' or 'bidirectional', got {direction!r}")
    sources[key] = source
    # Vendors often add both directions; estimates use what one direction carries.
    return (value / 2 if direction == "bidirectional" else value), table.get("name", str, ""), table


def _devices_per_node(r: FieldReader, links: Mapping[str, _Link]) -> int | None:
    """How many devices share one scale-up domain (8 on HGX, 72 on NVL72, a TPU slice on ICI).

    Written in ``[scale_out]`` (the domain the network joins) or, for a device whose network is
    not published (a TPU's DCN), in ``[interconnect]``; where both say it they must agree.
    """
    counts = {k: t.get("devices_per_node", int) for k in ("scale_out", "interconnect")
              if (t := links[k][2]) is not None and "devices_per_node" in t.data}
    if len(set(counts.values())) > 1:
        raise r.error("scale_out.devices_per_node", f"{counts['scale_out']} disagrees with "
                      f"interconnect.devices_per_node = {counts['interconnect']}; the scale-up domain is one size")
    return next(iter(counts.values()), None)


def _check_measured_below_peak(r: FieldReader, gemm: Mapping[str, pint.Quantity],
                               dense: Mapping[str, pint.Quantity]) -> None:
    """A measured GEMM rate is at most the dense peak of its precision (else a figure is wrong:
    a sparse peak taken for dense, a per-package figure on a per-die profile, a typo)."""
    for precision, measured in gemm.items():
        if precision not in dense:
            raise r.error(f"gemm.{precision}", f"has no dense.{precision} peak to compare with; "
                          "add the dense figure or drop the measurement")
        if measured > dense[precision]:
            raise r.error(f"gemm.{precision}", f"measured {measured:~P} is above the dense peak "
                          f"{dense[precision]:~P}; a measurement cannot beat the peak (is it a sparse "
                          "or a different-device figure?)")


def _read_precisions(r: FieldReader, key: str, sources: dict[str, Source], *,
                     required: bool = False) -> dict[str, pint.Quantity]:
    table = r.table(key, required=required)
    if table is None:
        return {}
    table.check_keys(PRECISIONS)
    if required and not table.data:
        raise r.error(key, "must list at least one precision")
    out = {}
    for precision in PRECISIONS:
        got = read_figure(table, precision, "flop_rate")
        if got:
            out[precision], sources[f"{key}.{precision}"] = got[0], got[1]
    return out


def _read_prices(r: FieldReader, sources: dict[str, Source]) -> dict[str, Price]:
    table = r.table("price")
    if table is None:
        return {}
    table.check_keys(PRICE_KINDS)
    out = {}
    for kind in PRICE_KINDS:
        got = read_figure(table, kind, "usd" if kind == "purchase" else "usd_rate")
        if got:
            value, source, sub = got
            out[kind] = Price(value=value, provider=sub.get("provider", str, required=True),
                              date=str(sub.get("date", str, required=True)), source=source)
            sources[f"price.{kind}"] = source
    return out
