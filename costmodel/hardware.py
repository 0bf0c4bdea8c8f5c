"""Hardware profiles: one TOML file per device, validated on load, looked up by id or alias.

Built-in profiles ship in ``hardware_profiles/``. Users add their own from a directory given
as ``profile_path=`` or in the ``COSTMODEL_PROFILE_PATH`` environment variable (several
directories separated by ``os.pathsep``); a user profile with a built-in's id replaces it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Literal, Mapping, TypeAlias, overload

import pint

from .datacache import cached
from .errors import InputError, ProfileError, UnknownProfileError
from .precision import PRECISIONS, canonical_dtype
from .datafiles import FieldReader, Source, lookup, name_index, normalise, read_figure, read_toml, toml_parser

__all__ = ["HardwareProfile", "Price", "get_hardware", "list_hardware", "load_profile", "reload_profiles", "PRECISIONS",
           "canonical_dtype"]

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
# Extra directories of hardware profiles: one directory, or several.
ProfilePath: TypeAlias = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
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


@cache
def builtin_dir() -> Path:
    """The directory of shipped profiles (inside the wheel, or at the repository root)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "hardware_profiles", here.parent / "hardware_profiles"):
        if candidate.is_dir():
            return candidate
    return here / "hardware_profiles"


def _search_path(profile_path: ProfilePath | None) -> tuple[str, ...]:
    env = os.environ.get("COSTMODEL_PROFILE_PATH", "")
    if profile_path is None and not env:
        return (_builtin_root(),)
    dirs = [_builtin_root()] + [p for p in env.split(os.pathsep) if p]
    if profile_path is not None:
        extra = [profile_path] if isinstance(profile_path, (str, os.PathLike)) else list(profile_path)
        dirs += [os.fspath(p) for p in extra]
    return tuple(dirs)


def _stamp(path: Path) -> int:
    """When a user's file or directory last changed (0 for shipped ones, which do not)."""
    if _is_builtin(str(path)):
        return 0
    try:
        return path.stat().st_mtime_ns
    except (OSError, ValueError):
        return -1


def _is_builtin(path: str) -> bool:
    root = _builtin_root()
    return path == root or path.startswith(root + os.sep)


@cache
def _builtin_root() -> str:
    return str(builtin_dir())


def _files(dirs: tuple[str, ...]) -> dict[str, Path]:
    """Profile id -> file; a later directory's file replaces an earlier one's. Re-read when a
    user directory changes (a file added or removed)."""
    return _files_at(dirs, tuple(0 if _is_builtin(d) else _stamp(Path(d)) for d in dirs))


@cache
def _files_at(dirs: tuple[str, ...], stamps: tuple[int, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for directory in map(Path, dirs):
        try:
            if not directory.is_dir():
                raise ProfileError(f"{directory}: profile directory does not exist")
            paths = sorted(directory.glob("*.toml"))
        except (OSError, ValueError) as exc:  # a name too long or with a NUL, no permission, ...
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ProfileError(f"{str(directory)[:200]!r}: cannot read the profile directory ({why})") from None
        for path in paths:
            files[path.stem] = path
    return files


def _load(path: Path) -> HardwareProfile:
    """The profile of one file, validated; re-read when a user's file changes."""
    return _load_at(path, _stamp(path))


@cache
def _load_at(path: Path, stamp: int) -> HardwareProfile:
    if _is_builtin(str(path)):  # a shipped profile is validated once and kept on disk (datacache)
        return cached(f"hardware profile:{path}", [path], lambda: _validated(path), code=True)
    return _validated(path)


def _validated(path: Path) -> HardwareProfile:
    profile = HardwareProfile.from_mapping(read_toml(path), path)
    if profile.id != path.stem:
        raise ProfileError(f"{path}: field id: {profile.id!r} must match the file name {path.stem!r}")
    return profile


def load_profile(path: str | os.PathLike[str]) -> HardwareProfile:
    """The profile in one TOML file (validated; cached per path and modification time)."""
    return _load(Path(path))


def reload_profiles() -> None:
    """Forget every profile read so far: the next lookup reads the files again. (Lookups already
    notice a user's profile file or directory that changed; this also covers edits that keep a
    file's modification time.)"""
    for cached in (_files_at, _load_at, _registry_at, _alias_files_at):
        cached.cache_clear()
    _shipped_lookups.clear()


def _registry(dirs: tuple[str, ...]) -> tuple[dict[str, HardwareProfile], dict[str, HardwareProfile],
                                              tuple[ProfileError, ...]]:
    files = _files(dirs)
    if all(_is_builtin(d) for d in dirs):  # shipped profiles only: they do not change
        return _registry_at(dirs, ())
    return _registry_at(dirs, tuple((stem, _stamp(path)) for stem, path in files.items()))


@cache
def _registry_at(dirs: tuple[str, ...], stamps: tuple[tuple[str, int], ...]
                 ) -> tuple[dict[str, HardwareProfile], dict[str, HardwareProfile], tuple[ProfileError, ...]]:
    """Every valid profile, an index of normalised ids and aliases, and the errors of the files
    that failed to load."""
    profiles, broken = {}, []
    for stem, path in _files(dirs).items():
        try:
            profiles[stem] = _load(path)
        except ProfileError as exc:
            broken.append(exc)
    return profiles, name_index(profiles.values()), tuple(broken)


def _head_aliases(path: Path) -> tuple[str, ...] | None:
    """The aliases of a profile file read from its top-level keys alone (the lines before the
    first table), without validating the rest; None when that part does not parse, so the caller
    falls back to loading the file."""
    tomllib = toml_parser()
    try:
        text = path.read_text(encoding="utf-8")
        table = re.search(r"^\[", text, re.MULTILINE)
        head = tomllib.loads(text[:table.start()] if table else text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    aliases = head.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        return None
    return tuple(aliases)


def _alias_files(dirs: tuple[str, ...]) -> dict[str, Path] | None:
    """Normalised id or alias -> the file that defines it, as :func:`name_index` orders them (an
    id wins over another profile's alias), read from each file's top-level keys in a few
    milliseconds instead of loading and validating every profile; None when some file's head
    cannot be read that way."""
    files = _files(dirs)
    if all(_is_builtin(d) for d in dirs):
        return _alias_files_at(dirs, ())
    return _alias_files_at(dirs, tuple((stem, _stamp(path)) for stem, path in files.items()))


@cache
def _alias_files_at(dirs: tuple[str, ...], stamps: tuple[tuple[str, int], ...]) -> dict[str, Path] | None:
    files = _files(dirs)
    if stamps:  # a user's directory: read the heads again
        index = _alias_index(files)
    else:  # the shipped files: the index is kept on disk while none of them changes
        index = cached(f"hardware aliases:{dirs}", files.values(), lambda: _alias_index(files))
    return None if index is None else {alias: Path(path) for alias, path in index.items()}


def _alias_index(files: dict[str, Path]) -> dict[str, str] | None:
    index: dict[str, str] = {}
    for path in files.values():
        aliases = _head_aliases(path)
        if aliases is None:
            return None
        for alias in aliases:
            index.setdefault(normalise(alias), str(path))
    for stem, path in files.items():
        index[normalise(stem)] = str(path)
    return index


def get_hardware(name: str | HardwareProfile, *, profile_path: ProfilePath | None = None) -> HardwareProfile:
    """Look up a hardware profile by id or alias (case-insensitive), e.g. ``"H100"``.

    An exact id or an alias loads only its own file (aliases are read from the files' top-level
    keys); a near miss reads them all, for suggestions. A file that fails to load breaks only the
    lookups it could answer: one of a valid profile (by id or by alias) succeeds, one of a name no
    valid profile has raises that file's error.

    >>> get_hardware("h100").id
    'h100-sxm5-80gb'
    """
    if isinstance(name, HardwareProfile):
        return name
    dirs = _search_path(profile_path)
    shipped = len(dirs) == 1 and isinstance(name, str)  # the shipped profiles only: they do not change
    if shipped and (found := _shipped_lookups.get(name)) is not None:
        return found
    profile = _find(name, dirs)
    if shipped:
        if len(_shipped_lookups) >= 1024:
            _shipped_lookups.clear()
        _shipped_lookups[name] = profile
    return profile


_shipped_lookups: dict[str, HardwareProfile] = {}  # name -> shipped profile, until reload_profiles()


def _find(name: str | HardwareProfile, dirs: tuple[str, ...]) -> HardwareProfile:
    if isinstance(name, str):
        files = _files(dirs)
        path = files.get(name) or files.get(normalise(name))
        if path is not None:
            return _load(path)
        aliases = _alias_files(dirs)  # an alias: load only the file that names it
        path = aliases.get(normalise(name)) if aliases is not None else None
        if path is not None:
            return _load(path)
    _, index, broken = _registry(dirs)
    try:
        return lookup(name, index, what="hardware profile", command="costmodel hardware list", argument="hardware")
    except UnknownProfileError:
        if broken:  # the name may be in the file that failed: say why it could not be read
            raise broken[0] from None
        raise


def list_hardware(*, profile_path: ProfilePath | None = None) -> list[HardwareProfile]:
    """All known hardware profiles, sorted by id."""
    profiles, _, broken = _registry(_search_path(profile_path))
    if broken:
        raise broken[0]
    return [profiles[k] for k in sorted(profiles)]
