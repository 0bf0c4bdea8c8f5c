"""Pieces the command modules share: decorators, common options and output helpers."""

from __future__ import annotations

import json

import click

from . import CONTEXT, Command, Group
from .types import PUE, Quantity

__all__ = ["command", "group", "json_option", "csv_option", "profile_option", "hardware_option",
           "footprint_options", "emit_json", "emit_json_frame", "emit_table"]


def command(name: str | None = None):
    """A top-level command: ``-h``/``--help`` and library errors mapped to its options."""
    return click.command(name, cls=Command, context_settings=CONTEXT)


def group():
    """A group whose subcommands map library errors to their options."""
    return click.group(cls=Group, context_settings=CONTEXT)


json_option = click.option("--json", "as_json", is_flag=True, help="Write only JSON to stdout.")
csv_option = click.option("--csv", "as_csv", is_flag=True, help="Write the table as CSV to stdout.")
profile_option = click.option("--profile-path", type=click.Path(file_okay=False), default=None,
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
        click.option("--calibration", type=click.Path(exists=True, dir_okay=False),
                     help="Calibration TOML replacing the shipped fitted constants (also: "
                          "COSTMODEL_CALIBRATION). Example: --calibration my_fit.toml"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _provenance() -> dict:
    import costmodel

    return {"costmodel": costmodel.provenance()}


def emit_json(data) -> None:
    """Only JSON on stdout, stating the costmodel version and calibration dates: an object
    gains the key ``costmodel``; a list becomes ``{"costmodel": ..., "rows": [...]}``."""
    body = {**_provenance(), **data} if isinstance(data, dict) else {**_provenance(), "rows": list(data)}
    click.echo(json.dumps(body, indent=2, default=str))


def emit_json_frame(df) -> None:
    """A DataFrame as :func:`emit_json` writes a list, one object per row (pandas writes the
    rows, so a million-row sweep is not turned into Python dicts first)."""
    head = json.dumps(_provenance())[:-1]  # '{"costmodel": {...}' without the closing brace
    click.echo(f'{head}, "rows": {df.to_json(orient="records")}}}')


def emit_table(rows: list, header: list, as_csv: bool) -> None:
    """A table for people, or CSV when asked."""
    if as_csv:
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
    else:
        from . import format as fmt

        click.echo(fmt.table(rows, header))
