"""Pieces the command modules share: decorators, common options and output helpers."""

from __future__ import annotations

import json
from typing import Any

import click

from . import CONTEXT, Command, Group
from .types import PUE, Quantity, SafePath

__all__ = ["command", "group", "json_option", "csv_option", "profile_option", "hardware_option",
           "footprint_options", "plain", "emit_json", "emit_json_frame", "emit_csv", "emit_table"]


def command(name: str | None = None):
    """A top-level command: ``-h``/``--help`` and library errors mapped to its options."""
    return click.command(name, cls=Command, context_settings=CONTEXT)


def group():
    """A group whose subcommands map library errors to their options."""
    return click.group(cls=Group, context_settings=CONTEXT)


json_option = click.option("--json", "as_json", is_flag=True, help="Write only JSON to stdout.")
csv_option = click.option("--csv", "as_csv", is_flag=True, help="Write the table as CSV to stdout.")
profile_option = click.option("--profile-path", type=SafePath(file_okay=False), default=None,
                              help="Extra directory of hardware profile TOML files "
                                   "(also: COSTMODEL_PROFILE_PATH). Example: --profile-path ./my_hw")


def hardware_option(text: str, **kwargs):
    """``--hardware``, feeding the library's ``hardware`` keyword."""
    return click.option("--hardware", "hardware", metavar="ID", help=text, **kwargs)


POWER = Quantity("power", "W", allow_zero=True)
INTENSITY = Quantity("intensity", "g/kWh", allow_zero=True)
PRICE = Quantity("usd_rate", "USD/h", allow_zero=True)
MONEY = Quantity("usd", "USD", allow_zero=True)
ELECTRICITY = Quantity("usd_per_energy", "USD/kWh", allow_zero=True)
LIFE = Quantity("time", "year", bare=True)
# costmodel.energy.PRICE_KINDS and COST_BASES (a test checks they agree), written out so that
# building the commands imports no library module
PRICE_KINDS = ("on_demand", "spot", "reserved")
COST_BASES = ("cloud", "owned")


def footprint_options(command):
    """The energy, carbon and price options shared by `train` and `infer`, and --calibration."""
    options = [
        click.option("--region", metavar="ID", help="Grid region for carbon intensity and PUE (see `costmodel "
                                                    "regions list`). Example: --region france"),
        click.option("--pue", type=PUE, help="Facility PUE (default: the region's; 1.10 cloud, 1.56 owned)."),
        click.option("--power", "power_per_gpu", type=POWER,
                     help="Average device draw replacing the power model (default unit W). Example: --power '400 W'"),
        click.option("--host-power", "host_power_per_gpu", type=POWER,
                     help="Server overhead per device (default unit W; 0 turns it off). Example: --host-power 0"),
        click.option("--grid-intensity", type=INTENSITY, help="CO2e per energy replacing the region's (default "
                                                              "unit g/kWh). Example: --grid-intensity '0.385 kg/kWh'"),
        click.option("--embodied", is_flag=True,
                     help="Also report manufacturing emissions amortised per device-hour."),
        click.option("--price", "price_per_gpu_hour", type=PRICE,
                     help="Price per device-hour (default unit USD/h). Example: --price '$2.50/h'"),
        click.option("--price-kind", type=click.Choice(PRICE_KINDS), default="on_demand", show_default=True,
                     help="Which of the profile's published prices --cost-basis cloud uses."),
        click.option("--cost-basis", type=click.Choice(COST_BASES), default="cloud", show_default=True,
                     help="cloud: device-hours x price; owned: purchase price amortised + electricity."),
        click.option("--purchase-price", type=MONEY,
                     help="Price of one owned device, for --cost-basis owned (default unit USD). "
                          "Example: --purchase-price '$30000'"),
        click.option("--electricity-price", type=ELECTRICITY,
                     help="Electricity for --cost-basis owned (default unit USD/kWh; default: sourced "
                          "average). Example: --electricity-price 0.08"),
        click.option("--service-life", type=LIFE,
                     help="Years an owned device is amortised over (default 5). Example: --service-life 4"),
        click.option("--calibration", type=SafePath(exists=True, dir_okay=False),
                     help="Calibration TOML replacing the shipped fitted constants (also: "
                          "COSTMODEL_CALIBRATION). Example: --calibration my_fit.toml"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _provenance() -> dict:
    import costmodel

    return {"costmodel": costmodel.provenance()}


def plain(value):
    """``value`` as strict JSON's types (RFC 8259): NaN and infinities become None, numpy
    scalars and arrays Python numbers and lists, dates ISO strings. Anything else is a bug
    (never written as its ``str()``, which would print ``"None"`` or a Quantity's text)."""
    import datetime
    import math

    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if hasattr(value, "tolist") and not hasattr(value, "magnitude"):  # numpy scalar or array
        return plain(value.tolist())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def emit_json(data) -> None:
    """Only JSON on stdout, stating the costmodel version and calibration dates: an object
    gains the key ``costmodel``; a list becomes ``{"costmodel": ..., "rows": [...]}``. Strict
    RFC 8259: NaN and infinities are written as null."""
    body = {**_provenance(), **data} if isinstance(data, dict) else {**_provenance(), "rows": list(data)}
    click.echo(json.dumps(plain(body), indent=2, allow_nan=False))


def emit_json_frame(df, rows_per_write: int = 50_000) -> None:
    """A DataFrame as :func:`emit_json` writes a list, one object per row, a block of rows at a
    time (one write of a multi-GB text is cut short by the OS). Floats keep every digit (pandas'
    own writer rounds to 10 decimals: 1e-12 became 0.0); NaN, infinities and missing labels are
    null."""
    head = json.dumps(_provenance())[:-1]  # '{"costmodel": {...}' without the closing brace
    click.echo(f'{head}, "rows": [', nl=False)
    names = [str(c) for c in df.columns]
    for start in range(0, len(df), rows_per_write):
        block = df.iloc[start:start + rows_per_write]
        rows = [dict(zip(names, r)) for r in zip(*(_json_column(block[c]) for c in df.columns))]
        click.echo(("," if start else "") + json.dumps(rows, allow_nan=False)[1:-1], nl=False)
    click.echo("]}")


def _json_column(column) -> list:
    """One column's values as JSON's types: floats (None where not finite), ints, bools, strings
    (None where missing)."""
    import math

    if column.dtype.kind == "f":
        values = column.to_numpy()
        out = values.tolist()
        return out if math.isfinite(values.sum()) else [v if math.isfinite(v) else None for v in out]
    if column.dtype.kind in "iub":
        return column.tolist()
    return [plain(v) for v in column.astype(object).where(column.notna(), None).tolist()]


def _cell(value) -> str:
    """A CSV cell: the raw number (never a rendering such as '25.6M'); empty for a missing value."""
    import math

    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return str(value)


def emit_csv(records: list[dict]) -> None:
    """Rows of plain values as CSV on stdout, the keys of the first row as the header."""
    emit_table([list(r.values()) for r in records], list(records[0]) if records else [], as_csv=True)


def emit_table(rows: list[list], header: list[str], as_csv: bool, styles=None) -> None:
    """A table for people, or CSV when asked. ``rows`` hold raw values; CSV writes them as they
    are (a missing value as an empty cell), the table writes column ``i`` with ``styles[i]``
    (a function of the value; ``str`` where ``styles`` is None or holds None)."""
    if as_csv:
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([_cell(v) for v in row] for row in rows)
        click.echo(out.getvalue(), nl=False)
    else:
        from . import format as fmt

        styles = styles or [None] * len(header)
        shown = [["-" if v is None else (style or str)(v) for v, style in zip(row, styles)] for row in rows]
        click.echo(fmt.table(shown, header))


config_option = click.option(
    "--config", "config", type=SafePath(exists=True, dir_okay=False), default=None,
    help="A Hugging Face config.json describing the model, instead of MODEL (read from disk, never fetched). "
         "Example: --config ./llama/config.json")


def model_from(model: str | None, config: str | None, params) -> Any:
    """The model a command describes: a catalog id, a config file, or neither (then --params)."""
    import costmodel

    if config is not None:
        if model is not None:
            raise costmodel.InputError("give MODEL or --config, not both", argument="config")
        return costmodel.model_from_config(config)
    if model is None and params is None:
        raise costmodel.InputError("give MODEL (a catalog id, see `costmodel models list`), --config or --params",
                                   argument="params")
    return model
