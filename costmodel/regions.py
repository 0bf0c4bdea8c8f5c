"""Grid regions: carbon intensity of electricity and typical data-centre PUE, with sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pint

from .datafiles import FieldReader, load_table_file, lookup, name_index, retrieved_date
from .units import quantity

__all__ = ["Region", "get_region", "list_regions"]

_KEYS = {"id", "name", "aliases", "grid_intensity", "grid_year", "grid_source", "intensity_low",
         "intensity_high", "pue", "pue_source", "retrieved", "note"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """One electricity grid / data-centre location."""

    id: str
    name: str
    grid_intensity: pint.Quantity
    intensity_low: pint.Quantity
    intensity_high: pint.Quantity
    grid_year: int
    grid_source: str
    pue: float
    pue_source: str
    retrieved: str
    note: str = field(default="", repr=False)
    aliases: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], path: Path | str = "<mapping>") -> Region:
        r = FieldReader(path, data, prefix=f"region[{data.get('id', '?')}].")
        r.check_keys(_KEYS, required=("id", "name", "grid_intensity", "grid_year", "grid_source",
                                      "pue", "pue_source", "retrieved"))
        intensity = _intensity(r, "grid_intensity")
        pue = _pue(r)
        return cls(id=r.get("id", str), name=r.get("name", str), grid_intensity=intensity,
                   intensity_low=_intensity(r, "intensity_low") if "intensity_low" in data else intensity,
                   intensity_high=_intensity(r, "intensity_high") if "intensity_high" in data else intensity,
                   grid_year=r.get("grid_year", int), grid_source=r.get("grid_source", str), pue=pue,
                   pue_source=r.get("pue_source", str), retrieved=retrieved_date(r),
                   note=r.get("note", str, ""), aliases=tuple(r.get("aliases", list, [])))


def _intensity(r: FieldReader, key: str) -> pint.Quantity:
    return quantity(r.quantity(key, "intensity", required=True).magnitude, "intensity")


def _pue(r: FieldReader) -> float:
    text = r.get("pue", str, required=True)
    try:
        value = float(text)
    except ValueError:
        raise r.error("pue", f"expected a number such as '1.10', got {text!r}") from None
    if not 1.0 <= value <= 5.0:
        raise r.error("pue", f"must be between 1 and 5, got {value}")
    return value


@cache
def _regions() -> tuple[dict[str, Region], dict[str, Region]]:
    path = Path(__file__).resolve().parent / "data" / "regions.toml"
    regions = load_table_file(path, "region", Region.from_mapping, cache=True)
    return regions, name_index(regions.values())


def get_region(name: str | Region) -> Region:
    """Look up a region by id or alias, e.g. ``"france"`` or ``"us-east-1"``."""
    if isinstance(name, Region):
        return name
    return lookup(name, _regions()[1], what="region", command="costmodel regions list", argument="region")


def list_regions() -> list[Region]:
    """Every region, in file order."""
    return list(_regions()[0].values())
