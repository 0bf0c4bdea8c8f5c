"""``costmodel hardware``, ``models`` and ``regions``: list the catalogs or show one entry
with its sources."""

from __future__ import annotations

import textwrap

import click

from . import format as fmt
from .options import (
    command,
    config_option,
    csv_option,
    emit_json,
    emit_table,
    group,
    json_option,
    model_from,
    profile_option,
)

COUNT_KEYS = ("params", "active_params", "training_tokens", "training_samples")


@group()
def hardware():
    """Hardware profiles: list them or show one with its sources.

    Example: costmodel hardware show h100
    """


@hardware.command("list")
@json_option
@csv_option
@profile_option
def hardware_list(as_json, as_csv, profile_path):
    """List every hardware profile with its headline figures.

    Example: costmodel hardware list --json
    """
    from costmodel.hardware import list_hardware

    profiles = list_hardware(profile_path=profile_path)
    if as_json:
        return emit_json([p.to_dict() for p in profiles])
    rows = []
    for p in profiles:
        price = p.prices.get("on_demand")
        rows.append([p.id, p.kind, p.launch_year, p.memory.to("GiB").magnitude,
                     p.memory_bandwidth.to("TB/s").magnitude, p.dense[p.default_dtype].to("TFLOP/s").magnitude,
                     p.default_dtype, p.tdp.to("W").magnitude, price.value.to("USD/hour").magnitude if price else None])
    n = fmt.number
    emit_table(rows, ["id", "kind", "year", "memory GiB", "bandwidth TB/s", "dense TFLOP/s", "dtype", "TDP W", "USD/h"],
               as_csv, [None, None, None, n, n, n, None, n, n])


@hardware.command("show")
@click.argument("hardware_id")
@json_option
@profile_option
def hardware_show(hardware_id, as_json, profile_path):
    """Show every figure of one profile with its source.

    HARDWARE_ID is an id or alias, e.g. h100, a100-sxm4-80gb, tpu-v4.

    Example: costmodel hardware show h100-sxm5-80gb
    """
    from costmodel.hardware import get_hardware

    p = get_hardware(hardware_id, profile_path=profile_path)
    if as_json:
        return emit_json(p.to_dict())
    click.echo(f"{p.name} ({p.id}) - {p.vendor} {p.kind}, {p.launch_year}")
    click.echo(f"device: {p.device}")
    rows = _figures(p)
    width = max(len(r[0]) for r in rows)
    for label, value, source in rows:
        click.echo(f"{label.ljust(width)}  {value}")
        click.echo(textwrap.fill(f"source: {source}", width=100, initial_indent=" " * 4,
                                 subsequent_indent=" " * 6))


def _figures(p) -> list[tuple[str, str, str]]:
    """(label, value, source) for every figure of a hardware profile."""
    rows = []
    for key, q, unit in (("memory", p.memory, "GiB"), ("memory_bandwidth", p.memory_bandwidth, "TB/s"),
                         ("tdp", p.tdp, "W"), ("idle_power", p.idle_power, "W"),
                         ("interconnect", p.interconnect_bandwidth, "GB/s"),
                         ("pcie", p.pcie_bandwidth, "GB/s"), ("scale_out", p.scale_out_bandwidth, "GB/s")):
        if q is not None:
            label = key + (" (per direction)" if key in ("interconnect", "pcie", "scale_out") else "")
            rows.append((label, fmt.qty(q, unit, 4), p.sources[key]))
    if p.devices_per_node is not None:
        where = "scale_out" if p.scale_out_bandwidth is not None else "interconnect"
        rows.append(("devices per node", str(p.devices_per_node), p.sources[where]))
    for group_name, table in (("dense", p.dense), ("sparse", p.sparse), ("gemm", p.gemm)):
        for dt, q in table.items():
            value = fmt.number(q.to("TFLOP/s").magnitude, 5) + (" TOP/s" if dt.startswith("int") else " TFLOP/s")
            rows.append((f"{group_name} {dt}", value, p.sources[f"{group_name}.{dt}"]))
    for kind, price in p.prices.items():
        rows.append((f"price {kind}", f"{fmt.qty(price.value, None, 4)} ({price.provider}, {price.date})",
                     price.source))
    return rows


@group()
def models():
    """The model catalog: list models or show one with its source.

    Example: costmodel models show llama-2-70b
    """


@models.command("list")
@json_option
@csv_option
def models_list(as_json, as_csv):
    """List every catalogued model.

    Example: costmodel models list
    """
    from costmodel.models import list_models

    specs = list_models()
    if as_json:
        return emit_json([m.to_dict() for m in specs])
    c = fmt.count
    rows = [[m.id, m.kind, m.params.magnitude, m.active_params.magnitude if m.kind == "moe-decoder" else None,
             None if m.training_tokens is None else m.training_tokens.magnitude,
             None if m.training_samples is None else m.training_samples.magnitude,
             "estimate" if m.estimate else ""] for m in specs]
    emit_table(rows, ["id", "kind", "params", "active", "training tokens", "training samples", "note"], as_csv,
               [None, None, c, c, c, c, None])


@models.command("show")
@click.argument("model_id", required=False)
@config_option
@json_option
def models_show(model_id, config, as_json):
    """Show one catalogued model's shape, counts and source, or those a config.json derives.

    Example: costmodel models show gpt3-175b (or: costmodel models show --config ./config.json)
    """
    from costmodel.models import get_model

    if model_id is None and config is None:
        raise click.UsageError("give MODEL_ID or --config")
    spec = model_from(model_id, config, None)
    data = (spec if not isinstance(spec, str) else get_model(spec)).to_dict()
    if as_json:
        return emit_json(data)
    width = max(len(k) for k in data)
    for key, value in data.items():
        shown = fmt.count(value) if key in COUNT_KEYS else value
        click.echo(f"{key.ljust(width)}  {shown}")


@group()
def regions():
    """Grid regions: carbon intensity and typical PUE, with sources.

    Example: costmodel regions list
    """


@regions.command("list")
@json_option
@csv_option
def regions_list(as_json, as_csv):
    """List every region with its grid intensity and PUE.

    Example: costmodel regions list --json
    """
    from costmodel.regions import list_regions

    items = list_regions()
    if as_json:
        return emit_json([{"id": r.id, "name": r.name, "grid_intensity_g_per_kWh": r.grid_intensity.magnitude,
                           "grid_year": r.grid_year, "grid_source": r.grid_source, "pue": r.pue,
                           "pue_source": r.pue_source} for r in items])
    rows = [[r.id, r.name, r.grid_intensity.to("g/kWh").magnitude, r.grid_year, r.pue] for r in items]
    emit_table(rows, ["id", "name", "gCO2e/kWh", "year", "PUE"], as_csv, [None, None, fmt.number, None, "{:.2f}".format])


@command()
@json_option
@csv_option
def engines(as_json, as_csv):
    """Serving runtimes (--engine): what each serves, its fitted overheads, its source.

    Example: costmodel engines --json
    """
    from costmodel.calibration import default_calibration
    from costmodel.engines import engine_constants, engines as catalogue

    cal = default_calibration().serving
    items = [(e, engine_constants(cal, e)) for e in catalogue().values()]
    if as_json:
        return emit_json([{"id": e.id, "name": e.name, "aliases": list(e.aliases), "serves": list(e.serves),
                           "in_flight_batching": e.in_flight_batching, "max_in_flight": e.max_in_flight or None,
                           "step_overhead_s": k.fixed_s, "launch_overhead_s": k.launch_s, "efficiency": k.efficiency,
                           "fitted_points": k.points, "borrowed_from": k.borrowed_from, "source": e.source}
                          for e, k in items])
    rows = [[e.id, e.name, "/".join(e.serves), k.fixed_s * 1e3, k.launch_s * 1e6, k.efficiency,
             k.points or ("measured" if k.borrowed_from == "measured" else f"like {k.borrowed_from}")] for e, k in items]
    emit_table(rows, ["id", "name", "serves", "ms/step", "us/launch", "efficiency", "fitted on"], as_csv,
               [None, None, None, "{:.3g}".format, "{:.3g}".format, "{:.2f}".format, None])
