"""What the report shows: each section's tables, written with the CLI's number style, and the
raw figures its pictures plot, all from the library's own estimators.

The records here are plain frozen dataclasses; :mod:`.figures` draws them and
:mod:`.render` puts them in the template. Nothing is computed here beyond choosing the
inputs and converting Quantities to the unit a column shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..cli import format as fmt

__all__ = ["Table", "Options", "Point", "Panel", "Figure", "Section", "point", "hours", "DEFAULT_MODELS", "DEFAULT_REGIONS", "DEFAULT_EDGE", "DEFAULT_SIZES",
           "STATED_SAMPLES", "GENERATIVE", "training_data", "data_text", "training_rows"]

DEFAULT_MODELS = ("linear-regression", "resnet-50", "vit-b-16", "distilbert-base", "gpt2-xl", "gpt3-175b", "gpt4")
DEFAULT_REGIONS = ("world", "us", "india", "germany", "france", "quebec")
DEFAULT_EDGE = ("jetson-orin-nano-super-8gb", "apple-a17-pro-gpu")
DEFAULT_SIZES = ("1B", "3B", "10B", "30B", "70B", "200B", "500B", "1T")
# A model whose catalog entry reports no training data (the linear regression) trains on this
# many samples; the page says so.
STATED_SAMPLES = 1e6
GENERATIVE = ("dense-decoder", "moe-decoder", "encoder-decoder")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The inputs of one report, every one stated on the page."""

    models: tuple[str, ...] = DEFAULT_MODELS
    hardware: str = "h100-sxm5-80gb"
    n_gpus: int = 1024
    serve_hardware: str = "h100-sxm5-80gb"
    edge_hardware: tuple[str, ...] = DEFAULT_EDGE
    prompt_tokens: int = 512
    output_tokens: int = 256
    batch_size: int = 8
    edge_batch_size: int = 1
    rate: float | None = None  # requests/s: serve language models by the SLA planner at this rate
    region: str | None = None
    regions: tuple[str, ...] = DEFAULT_REGIONS
    carbon_model: str = "gpt3-175b"
    variant_model: str = "gpt2-xl"
    variants: tuple[str, ...] | None = None
    budget: str = "$10M"
    sizes: tuple[str, ...] = DEFAULT_SIZES
    inference_tokens: str = "5T"


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """A table as the page shows it: cells already written with their units and ranges."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()
    key: str = ""  # the HTML id


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One plotted figure with its range (low/high None where the library gives none)."""

    label: str
    x: float | str
    y: float | None
    low: float | None = None
    high: float | None = None
    series: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Panel:
    """One axes of a figure: points and the axis labels, units in brackets."""

    title: str
    xlabel: str
    ylabel: str
    points: tuple[Point, ...]
    xscale: str = "log"
    yscale: str = "log"
    marks: tuple[tuple[float, str], ...] = field(default=())  # vertical lines: (x, label)


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """A picture: its title, a text alternative saying what it shows, and its panels."""

    title: str
    caption: str
    panels: tuple[Panel, ...]
    key: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """A part of the page: a heading, what it shows and under which inputs, tables and figures."""

    key: str
    title: str
    intro: tuple[str, ...]
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()


def point(est, path: str, unit: str, label: str, x: float | str, series: str = "", ranged: bool = True) -> Point:
    """A figure of an estimate and its range (``ranged=False``: the typical figure alone), in
    ``unit``, for a plot."""
    def get(obj):
        for part in path.split("."):
            obj = getattr(obj, part)
        return None if obj is None else float(obj.to(unit).magnitude)

    low = None if est.low is None or not ranged else get(est.low)
    high = None if est.high is None or not ranged else get(est.high)
    return Point(label=label, x=x, y=get(est), low=low, high=high, series=series)


def training_data(spec) -> tuple[dict[str, Any], str]:
    """The data a model trains on in the report: :func:`costmodel.planning.default_workload`,
    or :data:`STATED_SAMPLES` samples for a model whose catalog entry reports none."""
    from ..errors import InputError
    from ..planning import default_workload

    try:
        return default_workload(spec)
    except InputError:
        return {"samples": STATED_SAMPLES}, "none in the catalog: stated for this report"


def _ranged(est, path: str, unit: str, style=fmt.plain) -> str:
    return fmt.ranged(est, path, unit, style)


def hours(*values) -> str:
    """Device-hours as the CLI writes them: ``'248k h (190k-323k)'``."""
    return fmt.plain(*values, unit="h", how=fmt.count)


def data_text(est, spec, data: dict[str, Any], rule: str) -> str:
    """The training data of a run as the page states it: ``'300B tokens (catalog tokens)'``."""
    if est.tokens is not None:
        return f"{fmt.count(est.tokens.magnitude)} tokens ({rule})"
    samples = data.get("samples", None if spec.training_samples is None else spec.training_samples.magnitude)
    return f"{fmt.count(samples)} samples ({rule})"


def training_rows(estimates: list, data: list[str]) -> tuple[tuple[str, ...], ...]:
    """One row per training estimate, figures with their ranges as ``costmodel train`` shows them."""
    rows = []
    for est, text in zip(estimates, data):
        rows.append((est.model, fmt.count(est.params.magnitude), text,
                     f"{fmt.number(est.flops.magnitude)} FLOP", _ranged(est, "gpu_hours", "hour", hours),
                     _ranged(est, "wall_time", "s", fmt.duration), _ranged(est, "energy", "J", fmt.energy),
                     _ranged(est, "co2e", "g", fmt.mass),
                     "-" if est.cost is None else _ranged(est, "cost", "USD", fmt.money)))
    return tuple(rows)
