"""Shared machinery for data files: TOML reading, sourced figures, name lookup.

Data files are parsed as data only (TOML); nothing in them is executed or imported.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Mapping, Protocol, TypeVar

from .datacache import cached
from .errors import ProfileError, UnitError, suggest, unknown
from .units import Quantity, parse_quantity, quantity

# Units a figure read from a data file is shown in (the core uses canonical floats).
DISPLAY_UNITS = {"byte": "GiB", "bandwidth": "GB/s", "flop_rate": "TFLOP/s", "usd_rate": "USD/hour"}
DISPLAY_FACTORS = {"byte": 2.0**30, "bandwidth": 1e9, "flop_rate": 1e12, "usd_rate": 1.0}

MAX_FILE_BYTES = 1_000_000
# The range a figure of each kind can take on one device (canonical units), and how it reads.
PLAUSIBLE = {
    "byte": (2.0**20, 100 * 2.0**40, "device memory (1 MiB to 100 TiB)"),
    "bandwidth": (1e6, 1e15, "a bandwidth (1 MB/s to 1 PB/s)"),
    "flop_rate": (1e9, 1e18, "one device's throughput (1 GFLOP/s to 1 EFLOP/s)"),
    "power": (0.1, 1e5, "one device's power (0.1 W to 100 kW)"),
    "usd_rate": (1e-3, 1e4, "a price per device-hour ($0.001 to $10,000)"),
    "usd": (1.0, 1e7, "a device's price ($1 to $10M)"),
    "energy": (3.6e3, 3.6e6, "a battery's capacity (1 Wh to 1 kWh)"),
}
_CANONICAL_EXAMPLE = {"byte": "80 GiB", "bandwidth": "3.35 TB/s", "flop_rate": "989 TFLOP/s", "power": "700 W",
                      "usd_rate": "$2.10/h", "usd": "$25000", "flop": "4.1e9 FLOP", "energy": "17.3 Wh"}


def has_unit(text: str) -> bool:
    """Whether a figure's text carries a unit (or a currency sign), not a bare number."""
    return bool(re.search(r"[A-Za-z$°µμ%]", re.sub(r"(?<=\d)[eE][+-]?\d", "", text)))


class Named(Protocol):
    """What :func:`name_index` and :func:`lookup` find: an entry with an id and aliases."""

    @property
    def id(self) -> str: ...
    @property
    def aliases(self) -> tuple[str, ...]: ...


NamedT = TypeVar("NamedT", bound=Named)


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where a figure comes from: a URL or document and table, and when it was read."""

    source: str
    retrieved: str
    note: str = ""
    estimate: bool = False

    def __str__(self) -> str:
        flag = " (estimate)" if self.estimate else ""
        return f"{self.source}, retrieved {self.retrieved}{flag}"


def read_text(path: Path, what: str = "profile", shown: str | None = None) -> str:
    """A data file's text: at most :data:`MAX_FILE_BYTES`, UTF-8; every failure is a
    ProfileError naming the file (``shown``, default the path)."""
    shown = str(path) if shown is None else shown
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ProfileError(f"{shown}: file is {size:,} bytes; {what} files are limited to "
                               f"{MAX_FILE_BYTES:,} bytes")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{shown}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    except OSError as exc:
        raise ProfileError(f"{shown}: cannot read the file ({exc.strerror or exc})") from None
    except ValueError as exc:  # a path the OS cannot take (an embedded NUL byte)
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(f"{shown}: cannot read the file ({exc})") from None


def toml_parser() -> Any:
    """The TOML parser (:mod:`tomllib`, or ``tomli`` before Python 3.11), imported when a file is
    first parsed: a start whose files come from the cache never needs it."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def read_toml(path: Path, *, cache: bool = False) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a ProfileError naming the file.

    ``cache=True`` (for the files the package ships) keeps the parsed table on disk
    (:mod:`costmodel.datacache`) while the file keeps its size and modification time.
    """
    if cache:
        return cached(f"toml:{path}", [path], lambda: read_toml(path))
    text = read_text(path)
    tomllib = toml_parser()
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML ({exc})") from None


class FieldReader:
    """Reads fields out of one parsed data-file table, naming the file and field on error."""

    def __init__(self, path: Path | str, data: dict[str, Any], prefix: str = ""):
        self.path, self.data, self.prefix = path, data, prefix

    def error(self, field: str, message: str) -> ProfileError:
        return ProfileError(f"{self.path}: field {self.prefix}{field!s}: {message}")

    def check_keys(self, allowed: Collection[str], required: Iterable[str] = ()) -> None:
        for key in self.data:
            if key not in allowed:
                raise did_you_mean_field(self, key, allowed)
        for key in required:
            if key not in self.data:
                raise self.error(key, "is required but missing")

    def get(self, key: str, kind: type, default: Any = None, *, required: bool = False) -> Any:
        if key not in self.data:
            if required:
                raise self.error(key, "is required but missing")
            return default
        value = self.data[key]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise self.error(key, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        if kind is str and not value.strip():
            raise self.error(key, "must not be empty")
        if kind in (int, float) and value <= 0:
            raise self.error(key, f"must be positive, got {value!r}")
        return value

    def table(self, key: str, *, required: bool = False) -> FieldReader | None:
        value = self.get(key, dict, required=required)
        return None if value is None else FieldReader(self.path, value, f"{self.prefix}{key}.")

    def quantity(self, key: str, kind: str, *, required: bool = False) -> Any:
        """A figure written with its unit (``"80 GiB"``), within the plausible range of its kind."""
        text = self.get(key, str, required=required)
        if text is None:
            return None
        if not has_unit(text):
            example = _CANONICAL_EXAMPLE.get(kind, "a number and a unit")
            raise self.error(key, f"{text!r} has no unit; a data file writes every figure with its unit, e.g. {example!r}")
        try:
            value = parse_quantity(text, kind, key)
        except UnitError as exc:  # re-raised naming the file
            raise self.error(key, exc.message) from None
        low, high, what = PLAUSIBLE.get(kind, (0.0, math.inf, ""))
        if not low <= value <= high:
            raise self.error(key, f"{text!r} is outside the plausible range of {what}")
        unit = DISPLAY_UNITS.get(kind)
        if unit is None:
            return quantity(value, kind)
        # divide by the exact factor so "1307.4 TFLOP/s" reads back as 1307.4
        return Quantity(value / DISPLAY_FACTORS[kind], unit)


def did_you_mean_field(reader: FieldReader, key: str, allowed: Collection[str]) -> ProfileError:
    close = suggest(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return reader.error(key, f"unknown key{hint} (allowed: {', '.join(sorted(allowed))})")


FIGURE_KEYS = frozenset({"value", "source", "retrieved", "note", "direction", "name",
                         "provider", "date", "estimate"})


def read_figure(reader: FieldReader, key: str, kind: str, *, required: bool = False,
                extra_keys: Collection[str] = ()) -> tuple[Any, Source, FieldReader] | None:
    """Read a sourced figure table ``{value, source, retrieved, ...}``.

    ``extra_keys`` are further keys this one table may have (read by the caller from the
    returned reader). Returns ``(Quantity, Source, table_reader)`` or ``None`` when absent
    and optional.
    """
    table = reader.table(key, required=required)
    if table is None:
        return None
    table.check_keys(FIGURE_KEYS | set(extra_keys), required=("value", "source", "retrieved"))
    value = table.quantity("value", kind, required=True)
    source = Source(source=table.get("source", str), retrieved=retrieved_date(table),
                    note=table.get("note", str, ""), estimate=table.get("estimate", bool, False))
    return value, source, table


def retrieved_date(reader: FieldReader, key: str = "retrieved") -> str:
    """A retrieval date: an ISO date string ("2026-11-23") or a TOML date."""
    import datetime

    value = reader.data.get(key)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            datetime.date.fromisoformat(value.strip())
            return value.strip()
        except ValueError:
            pass
    raise reader.error(key, f"expected a date such as '2026-11-23', got {value!r}")


def normalise(name: str) -> str:
    """Fold case and separators so "NVIDIA H100_SXM" and "nvidia-h100-sxm" match."""
    return "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def name_index(items: Collection[NamedT]) -> dict[str, NamedT]:
    """Normalised id and alias -> item; an id wins over another item's alias."""
    index: dict[str, NamedT] = {}
    for item in items:
        for alias in item.aliases:
            index.setdefault(normalise(alias), item)
    for item in items:
        index[normalise(item.id)] = item
    return index


def load_table_file(path: Path, key: str, build: Callable[[dict[str, Any], Path], NamedT], *,
                    cache: bool = False) -> dict[str, NamedT]:
    """id -> ``build(entry, path)`` for every ``[[key]]`` table of a TOML data file (``cache``:
    as :func:`read_toml`)."""
    items: dict[str, NamedT] = {}
    for entry in read_toml(path, cache=cache).get(key, []):
        item = build(entry, path)
        items[item.id] = item
    return items


def lookup(name: object, index: Mapping[str, NamedT], *, what: str, command: str,
           argument: str | None = None) -> NamedT:
    """Find ``name`` in an index of normalised ids and aliases, or raise with suggestions.

    Suggestions are the ids of the entries whose id or alias is closest to ``name``.
    """
    if not isinstance(name, str):
        raise unknown(repr(name), [], what=what, command=command, argument=argument)
    found = index.get(name)  # the common case: an exact id
    if found is not None:
        return found
    key = normalise(name)
    if key in index:
        return index[key]
    ids = list(dict.fromkeys(index[k].id for k in suggest(key, index, n=10)))
    raise unknown(name, ids, what=what, command=command, argument=argument, ranked=True)
