"""Pieces shared by the CLI's command modules."""

from __future__ import annotations

import functools
import json

import click

from ..errors import InputError, UnitError

# API argument names that the CLI spells differently.
_OPTION_NAMES = {"n_gpus": "--gpus", "hardware": "--hardware", "power_per_gpu": "--power",
                 "host_power_per_gpu": "--host-power", "price_per_gpu_hour": "--price",
                 "prompt_tokens": "--prompt", "output_tokens": "--output", "batch_size": "--batch"}


def _as_option(message: str) -> str:
    """'tokens: expected ...' -> '--tokens: expected ...' so the user sees the option."""
    name, sep, rest = message.partition(": ")
    if sep and name.replace("_", "").isalnum():
        return f"{_OPTION_NAMES.get(name, '--' + name.replace('_', '-'))}: {rest}"
    return message


def usage_errors(command):
    """Report a bad option value in one line on stderr, naming the option, and exit 2."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (UnitError, InputError) as exc:
            ctx = click.get_current_context()
            click.echo(f"Error: {_as_option(str(exc))} (see '{ctx.command_path} --help')", err=True)
            ctx.exit(2)

    return wrapper


def _json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


json_option = click.option("--json", "as_json", is_flag=True, help="Write only JSON to stdout.")


def footprint_options(command):
    """The energy, carbon and price options shared by `train` and `infer`."""
    options = [
        click.option("--region", help="Grid region for carbon intensity and PUE (see `costmodel regions list`). "
                                      "Example: --region france"),
        click.option("--pue", type=float, help="Facility PUE (default: the region's; 1.10 cloud, 1.56 owned)."),
        click.option("--power", "power_per_gpu", help="Average device draw replacing the power model "
                                                      "(power; default unit W). Example: --power '400 W'"),
        click.option("--host-power", "host_power_per_gpu", help="Server overhead per device (power; default "
                                                                "unit W; 0 turns it off). Example: --host-power 0"),
        click.option("--grid-intensity", help="CO2e per energy replacing the region's (default unit g/kWh). "
                                              "Example: --grid-intensity '0.385 kg/kWh'"),
        click.option("--price", "price_per_gpu_hour", help="Price per device-hour (default unit USD/h). "
                                                           "Example: --price '$2.50/h'"),
        click.option("--cost-basis", type=click.Choice(["cloud", "owned"]), default="cloud", show_default=True,
                     help="cloud: device-hours x price; owned: purchase price amortised + electricity."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


csv_option = click.option("--csv", "as_csv", is_flag=True, help="Write the table as CSV to stdout.")


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
