"""The report's sections on training, serving and carbon, each from the library's estimators.

Each function takes the report's :class:`~.content.Options` and returns a
:class:`~.content.Section`: tables written with the CLI's helpers and panels of raw figures.
"""

from __future__ import annotations

from ..cli import format as fmt
from ..errors import CostModelError
from .content import (Figure, Options, Panel, Section, Table, data_text, point, serving_rows,
                      training_data, training_rows)

__all__ = ["training_section", "serving_section", "carbon_section", "TRAINING_HEADER", "SERVING_HEADER"]

TRAINING_HEADER = ("model", "params", "training data", "compute", "device-hours", "wall time", "energy", "CO2e",
                   "cost")
SERVING_HEADER = ("model", "devices", "format", "fits", "latency per request", "TTFT", "TPOT",
                  "$ per million output tokens", "energy per request", "battery share per request")
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


def _edge(o: Options, specs) -> tuple[list, list[str], list[str]]:
    """Serving on each edge device, one device per request; the models that do not fit, named."""
    from ..inference_estimate import estimate_inference

    served, kinds, left_out = [], [], []
    for hw in o.edge_hardware:
        for spec in specs:
            try:
                est = estimate_inference(spec, hardware=hw, n_gpus=1, prompt_tokens=o.prompt_tokens,
                                         output_tokens=o.output_tokens, batch_size=o.edge_batch_size)
            except CostModelError as exc:
                left_out.append(f"{spec.id} on {hw}: {exc}")
                continue
            if not est.fits:
                left_out.append(f"{spec.id} does not fit on one {hw}")
                continue
            served.append((est, 1))
            kinds.append(spec.kind)
    return served, kinds, left_out


def serving_section(o: Options) -> Section:
    """Latency, price per million tokens and energy per request, in the datacenter and at the edge."""
    from ..models import get_model
    from ..planning import serve

    specs = [get_model(m, argument="models") for m in o.models]
    datacenter = [serve(s, hardware=o.serve_hardware, prompt_tokens=o.prompt_tokens, output_tokens=o.output_tokens,
                        batch_size=o.batch_size, region=o.region) for s in specs]
    kinds = [s.kind for s in specs]
    edge, edge_kinds, left_out = _edge(o, specs)
    point_of = "a request of {p} prompt and {t} output tokens for language models, one input for the others"
    tables = [Table(caption=f"Datacenter: {o.serve_hardware}, batch {o.batch_size}, the fewest power-of-two devices "
                            "that hold the model", header=SERVING_HEADER, rows=serving_rows(datacenter, kinds),
                    key="serving-table")]
    if o.edge_hardware:
        tables.append(Table(caption=f"Edge: one {' / one '.join(o.edge_hardware)}, batch {o.edge_batch_size}",
                            header=SERVING_HEADER, rows=serving_rows(edge, edge_kinds), key="edge-table",
                            notes=tuple(left_out)))
    everything = [*datacenter, *edge]
    panels = tuple(Panel(title=title, xlabel="model", ylabel=label, xscale="linear",
                         points=tuple(point(e, attr, unit, e.model, e.model, series=e.hardware)
                                      for e, _ in everything))
                   for attr, unit, title, label in (("latency", "s", "Latency per request", "latency [s]"),
                                                    ("energy", "Wh", "Energy per request", "energy [Wh]")))
    figure = Figure(title="Serving: latency and energy per request", key="serving-figure", panels=panels,
                    caption="Two panels, one marker per model and device (log scale): the time one request takes "
                            "and the energy it uses, datacenter and edge devices side by side; bars span the "
                            "low-high range. Models that do not fit on an edge device are left out.")
    intro = ("Operating point: " + point_of.format(p=o.prompt_tokens, t=o.output_tokens) + f"; batch {o.batch_size} "
             f"in the datacenter, {o.edge_batch_size} at the edge. Latency is the whole request (prefill and "
             "decoding); the price per million output tokens is at the on-demand price; energy per request "
             "includes the server and PUE in the datacenter and the device's own power budget at the edge.",)
    return Section(key="serving", title="Serving", intro=intro, tables=tuple(tables), figures=(figure,))


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

