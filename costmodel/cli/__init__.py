"""The ``costmodel`` command line: parse, call the library, render.

Exit codes: 0 success, 1 a costmodel error (unknown id, bad data), 2 a usage error
(unknown option, a value with the wrong unit). Errors are one line on stderr; ``--debug``
shows the traceback.
"""

from __future__ import annotations

import sys
import textwrap

import click

from . import format as fmt
from .options import _json, csv_option, emit_table, json_option
from ..errors import CostModelError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# Subcommands defined in other modules, imported only when used (so `costmodel train`
# does not pay for the sweep, plot or planning commands).
_LAZY = {"compare": "compare:compare", "compare-sizes": "planning:compare_sizes_cmd",
         "infer": "infer:infer", "optimal": "planning:optimal", "plot": "plot:plot",
         "regions": "infer:regions", "sweep": "sweep:sweep", "train": "train:train"}


class _Root(click.Group):
    """Turns library errors into one line on stderr and the documented exit codes, and
    imports the modules of subcommands on demand."""

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *_LAZY])

    def get_command(self, ctx, name):
        if name in _LAZY:
            import importlib

            module, attr = _LAZY[name].split(":")
            return getattr(importlib.import_module(f".{module}", __package__), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:  # output piped into `head` and closed: stop quietly
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except CostModelError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except Exception as exc:  # an internal bug: say so in one line
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Internal error: {type(exc).__name__}: {exc}. Please report it "
                       "(run again with --debug for the traceback).", err=True)
            ctx.exit(1)


@click.group(cls=_Root, context_settings=CONTEXT, invoke_without_command=True)
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
@click.version_option(package_name="costmodel", message="costmodel %(version)s")
@click.pass_context
def main(ctx, debug):
    """Estimate what training or serving a model costs, with units and sources.

    Example: costmodel train gpt3-175b --hardware v100-sxm2-32gb --gpus 10000
    """
    ctx.ensure_object(dict)["debug"] = debug
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


profile_option = click.option("--profile-path", type=click.Path(file_okay=False), default=None,
                              help="Extra directory of hardware profile TOML files "
                                   "(also: COSTMODEL_PROFILE_PATH). Example: --profile-path ./my_hw")


@main.group(context_settings=CONTEXT)
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
    from ..hardware import list_hardware

    profiles = list_hardware(profile_path=profile_path)
    if as_json:
        return _json([p.to_dict() for p in profiles])
    rows = []
    for p in profiles:
        dt = p.default_dtype
        price = p.prices.get("on_demand")
        rows.append([p.id, p.kind, str(p.launch_year), fmt.number(p.memory.to("GiB").magnitude),
                     fmt.number(p.memory_bandwidth.to("TB/s").magnitude),
                     f"{fmt.number(p.dense[dt].to('TFLOP/s').magnitude)} {dt}",
                     fmt.number(p.tdp.to("W").magnitude),
                     fmt.number(price.value.magnitude) if price else "-"])
    emit_table(rows, ["id", "kind", "year", "memory GiB", "bandwidth TB/s", "dense TFLOP/s", "TDP W", "USD/h"], as_csv)


@hardware.command("show")
@click.argument("hardware_id")
@json_option
@profile_option
def hardware_show(hardware_id, as_json, profile_path):
    """Show every figure of one profile with its source.

    HARDWARE_ID is an id or alias, e.g. h100, a100-sxm4-80gb, tpu-v4.

    Example: costmodel hardware show h100-sxm5-80gb
    """
    from ..hardware import get_hardware

    p = get_hardware(hardware_id, profile_path=profile_path)
    if as_json:
        return _json(p.to_dict())
    click.echo(f"{p.name} ({p.id}) - {p.vendor} {p.kind}, {p.launch_year}")
    click.echo(f"device: {p.device}")
    rows = []
    for key, q, unit in (("memory", p.memory, "GiB"), ("memory_bandwidth", p.memory_bandwidth, "TB/s"),
                         ("tdp", p.tdp, "W"), ("idle_power", p.idle_power, "W"),
                         ("interconnect", p.interconnect_bandwidth, "GB/s"),
                         ("pcie", p.pcie_bandwidth, "GB/s")):
        if q is not None:
            label = key + (" (per direction)" if key in ("interconnect", "pcie") else "")
            rows.append((label, fmt.qty(q, unit, 4), p.sources[key]))
    for group, table in (("dense", p.dense), ("sparse", p.sparse)):
        for dt, q in table.items():
            value = fmt.number(q.to("TFLOP/s").magnitude, 5) + (" TOP/s" if dt.startswith("int") else " TFLOP/s")
            rows.append((f"{group} {dt}", value, p.sources[f"{group}.{dt}"]))
    for kind, price in p.prices.items():
        rows.append((f"price {kind}", f"{fmt.qty(price.value, None, 4)} ({price.provider}, {price.date})",
                     price.source))
    width = max(len(r[0]) for r in rows)
    for label, value, source in rows:
        click.echo(f"{label.ljust(width)}  {value}")
        click.echo(textwrap.fill(f"source: {source}", width=100, initial_indent=" " * 4,
                                 subsequent_indent=" " * 6))


@main.group(context_settings=CONTEXT)
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
    from ..models import list_models

    specs = list_models()
    if as_json:
        return _json([m.to_dict() for m in specs])
    rows = [[m.id, m.kind, fmt.count(m.params.magnitude),
             fmt.count(m.active_params.magnitude) if m.kind == "moe-decoder" else "",
             fmt.count(m.training_tokens.magnitude) if m.training_tokens is not None else "-",
             "estimate" if m.estimate else ""] for m in specs]
    emit_table(rows, ["id", "kind", "params", "active", "training tokens", "note"], as_csv)


@models.command("show")
@click.argument("model_id")
@json_option
def models_show(model_id, as_json):
    """Show one catalogued model's shape, counts and source.

    Example: costmodel models show gpt3-175b
    """
    from ..models import get_model

    data = get_model(model_id).to_dict()
    if as_json:
        return _json(data)
    width = max(len(k) for k in data)
    for key, value in data.items():
        shown = fmt.count(value) if key in ("params", "active_params", "training_tokens",
                                             "training_samples") else value
        click.echo(f"{key.ljust(width)}  {shown}")





def run() -> None:  # pragma: no cover
    main(prog_name="costmodel")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
