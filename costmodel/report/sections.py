"""The report's sections on training and carbon, each from the library's estimators (serving:
:mod:`.serving`).

Each function takes the report's :class:`~.content.Options` and returns a
:class:`~.content.Section`: tables written with the CLI's helpers and panels of raw figures.
"""

from __future__ import annotations

from ..cli import format as fmt
from .content import Figure, Options, Panel, Section, Table, data_text, point, training_data, training_rows
from .serving import serving_section

__all__ = ["training_section", "serving_section", "carbon_section", "TRAINING_HEADER"]

TRAINING_HEADER = ("model", "params", "training data", "compute", "device-hours", "wall time", "energy", "CO2e",
                   "cost")
# (estimate attribute, unit, panel title, axis label)
TRAINING_PANELS = (("flops", "FLOP", "Training compute", "training compute [FLOP]"),
                   ("gpu_hours", "hour", "Device-hours", "device-hours [h]"),
                   ("wall_time", "day", "Wall-clock time", "wall time [days]"),
                   ("energy", "MWh", "Energy", "facility energy [MWh]"),
                   ("co2e", "t", "Carbon", "CO2e [t]"),
                   ("cost", "USD", "Cost", "cost [USD, on-demand]"))


def _runs(o: Options, model: str, regions=(None,)):
    """Training estimates of ``model`` on the report's hardware, one per region, and its data."""
    from ..models import get_model
    from ..training_estimate import estimate_training

    spec = get_model(model, argument="models")
    data, rule = training_data(spec)
    runs = [estimate_training(spec, **data, hardware=o.hardware, n_gpus=o.n_gpus, region=r) for r in regions]
    return spec, runs, data_text(runs[0], spec, data, rule)


def training_section(o: Options) -> Section:
    """Training FLOPs, device-hours, days, energy, CO2e and dollars per model, with ranges."""
    results = [_runs(o, m, (o.region,)) for m in o.models]
    estimates = [runs[0] for _, runs, _ in results]
    table = Table(caption=f"Training on {o.n_gpus:,} x {o.hardware}; ranges in brackets (low-high)",
                  header=TRAINING_HEADER, rows=training_rows(estimates, [text for *_, text in results]),
                  key="training-table",
                  notes=("Compute is the model's FLOPs (6 N D plus attention for transformers, 3 x forward "
                         "FLOPs per sample for vision and tabular models).",))
    panels = tuple(Panel(title=title, xlabel="parameters [count]", ylabel=label,
                         points=tuple(point(e, attr, unit, e.model, e.params.magnitude) for e in estimates
                                      if getattr(e, attr) is not None))
                   for attr, unit, title, label in TRAINING_PANELS)
    figure = Figure(title="Training cost against model size", key="training-figure", panels=panels,
                    caption=f"Six log-log panels, one point per model ({', '.join(o.models)}) against its parameter "
                            "count: training compute, device-hours, wall time, energy, CO2e and dollars; vertical "
                            "bars span each estimate's low-high range. The table above gives the same figures.")
    intro = (f"Each model trains on {o.n_gpus:,} x {o.hardware} at the step-time model's utilisation (typical "
             "tuning, the fastest layout that fits), on the data named in the table: the catalog's tokens or "
             "samples, 20 tokens per parameter for a language model that reports none.",
             f"Grid: {o.region or 'world average'}; price: the device's on-demand cloud price.")
    return Section(key="training", title="Training", intro=intro, tables=(table,), figures=(figure,))


def carbon_section(o: Options) -> Section:
    """The same training run's energy and CO2e in a few grid regions."""
    from ..regions import get_region

    regions = [get_region(r) for r in o.regions]
    spec, runs, text = _runs(o, o.carbon_model, tuple(r.id for r in regions))
    rows = tuple((r.id, r.name, f"{fmt.number(r.grid_intensity.to('g/kWh').magnitude)} gCO2e/kWh ({r.grid_year})",
                  fmt.number(r.pue), fmt.ranged(est, "energy", "J", fmt.energy),
                  fmt.ranged(est, "co2e", "g", fmt.mass)) for r, est in zip(regions, runs))
    table = Table(caption=f"{spec.id} trained on {text}, {o.n_gpus:,} x {o.hardware}, by region",
                  header=("region", "grid", "grid intensity", "PUE", "energy", "CO2e"), rows=rows, key="carbon-table",
                  notes=("Location-based accounting: facility energy x the grid's average intensity; the region's "
                         "PUE replaces the cloud default.",))
    panel = Panel(title=f"CO2e of training {spec.id}", xlabel="region", ylabel="CO2e [t]", xscale="linear",
                  points=tuple(point(est, "co2e", "t", r.id, r.id) for r, est in zip(regions, runs)))
    figure = Figure(title=f"Carbon of one training run by region ({spec.id})", panels=(panel,), key="carbon-figure",
                    caption=f"One marker per region ({', '.join(r.id for r in regions)}): the CO2e of the same "
                            f"{spec.id} training run on a log scale, with its low-high range.")
    intro = (f"The same run of {spec.id} in {len(regions)} grids: the energy changes only with the PUE, the "
             "CO2e with the grid's carbon intensity.",)
    return Section(key="carbon", title="Carbon by region", intro=intro, tables=(table,), figures=(figure,))

