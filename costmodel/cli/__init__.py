"""The ``costmodel`` command line: parse, call the library, render.

Exit codes: 0 success, 1 a costmodel error (unknown id, bad data), 2 a usage error (unknown
option, a value with the wrong unit, an input the library refuses). Errors are one line on
stderr; ``--debug`` shows the traceback.

Each command lives in a module of its own (``train``, ``infer``, ``compare``, ``planning``,
``sweep``, ``plot``, ``catalog``, ``report``), imported only when the command runs, so ``costmodel
train`` does not pay for pandas, matplotlib or the other commands. Option destinations are
named after the library keyword they feed (``--gpus`` -> ``n_gpus``), so a library error's
``argument`` finds its option in the command's ``params``.
"""

from __future__ import annotations

import importlib
import sys

import click

from costmodel.errors import CostModelError, InputError, UnitError, UnknownProfileError

__all__ = ["main", "Command", "Group", "CONTEXT"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# command name -> "module:attribute" of this package, imported on first use.
_LAZY = {"compare": "compare:compare", "compare-sizes": "planning:compare_sizes", "hardware": "catalog:hardware",
         "infer": "infer:infer", "models": "catalog:models", "optimal": "planning:optimal", "plot": "plot:plot",
         "regions": "catalog:regions", "sweep": "sweep:sweep", "train": "train:train"}
_LAZY["plan-training"] = "plan_training:plan_training"
_LAZY["plan-serving"] = "plan_serving:plan_serving"
_LAZY["report"] = "report:report"
_LAZY["engines"] = "catalog:engines"
_LEAF = "costmodel.cli.leaf"  # ctx.meta key: the context of the command that is running


class Command(click.Command):
    """A command that leaves its context where the root group finds it when the library
    raises, to map the error's ``argument`` to one of this command's options."""

    def invoke(self, ctx):
        ctx.meta[_LEAF] = ctx
        return super().invoke(ctx)


class Group(click.Group):
    """A group of :class:`Command`s."""

    command_class = Command


class _Root(Group):
    """Imports subcommands on demand and turns errors into one line on stderr with the
    documented exit codes."""

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *_LAZY])

    def get_command(self, ctx, name):
        if name in _LAZY:
            _import_pint()
            module, attr = _LAZY[name].split(":")
            return getattr(importlib.import_module(f".{module}", __name__), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.MissingParameter:
            raise  # click's own message ("Missing option '--hardware'") with the usage line
        except click.BadParameter as exc:  # a value a ParamType or click refused
            name = _label(exc.param) or getattr(exc.param, "human_readable_name", None) or _hint(exc.param_hint)
            _report(exc.ctx or ctx, name, exc.message, usage=True)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:  # output piped into `head` and closed: stop quietly
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except CostModelError as exc:
            if _debug(ctx):
                raise
            _library_error(ctx.meta.get(_LEAF, ctx), exc)
        except Exception as exc:  # an internal bug: say so in one line
            if _debug(ctx):
                raise
            click.echo(f"Internal error: {type(exc).__name__}: {exc}. Please report it "
                       "(run again with --debug for the traceback).", err=True)
            ctx.exit(1)


def _import_pint() -> None:
    """Import pint as the commands use it: without its dask integration.

    Where dask is installed, ``import pint`` imports ``dask.base`` (and with it jinja2, yaml
    and toolz) for ``Quantity.compute``/``persist``/``visualize`` on dask-backed
    Quantities: about 120 ms of every start. No command makes such a Quantity (a sweep's
    columns are floats), so the command line hides dask while pint is first imported (an
    entry of None in ``sys.modules`` is what ``importlib.util.find_spec`` reads as "not
    installed") and shows it again at once: dask itself still imports normally afterwards.
    A process that imported pint already (the library, tests) keeps it as it is.
    """
    if "pint" in sys.modules or "dask" in sys.modules:
        return
    sys.modules["dask"] = None  # type: ignore[assignment]
    try:
        import pint  # noqa: F401
    finally:
        if sys.modules.get("dask", 0) is None:
            del sys.modules["dask"]


def _debug(ctx: click.Context) -> bool:
    """Whether --debug was given (read after `main` ran and stored it)."""
    return bool(ctx.obj and ctx.obj.get("debug"))


def _library_error(leaf: click.Context, exc: CostModelError) -> None:
    """``Error: --gpus: <message>`` with every keyword spelled as this command's flag; exit 2 for
    bad input (UnitError, InputError), 1 for anything else (unknown id, bad data)."""
    usage = isinstance(exc, (UnitError, InputError))
    param = next((p for p in leaf.command.params if exc.argument and p.name == exc.argument), None)
    if isinstance(param, click.Argument) or (param is None and isinstance(exc, UnknownProfileError)):
        exc = type(exc)(exc.template)  # the value says what it is: "'h10' is not a known ..."
    # a keyword the command does not expose keeps its API name, as the library writes it
    argument = exc.argument if param is None else None
    _report(leaf, None, exc.render(lambda name: name if name == argument else _spelling(leaf, name)), usage=usage)


def _spelling(leaf: click.Context, name: str | None) -> str:
    """How this command spells an API keyword: its option's flag (``--gpus`` for ``n_gpus``),
    the name of its positional argument (``MODEL``), else the keyword itself (``name=``)."""
    param = next((p for p in leaf.command.params if name and p.name == name), None)
    if isinstance(param, click.Option):
        return _label(param) or f"{name}="
    if isinstance(param, click.Argument):
        return param.human_readable_name
    return f"{name}="


def _report(ctx: click.Context, option: str | None, message: str, *, usage: bool) -> None:
    head = f"{option}: " if option else ""
    tail = f" (see '{ctx.command_path} --help')" if usage else ""
    click.echo(f"Error: {head}{message}{tail}", err=True)
    ctx.exit(2 if usage else 1)


def _label(param) -> str | None:
    """An option's long flag (``--gpus``); None for a positional argument or no parameter."""
    if not isinstance(param, click.Option):
        return None
    return next((o for o in param.opts if o.startswith("--")), param.opts[0])


def _hint(param_hint) -> str | None:
    return param_hint if isinstance(param_hint, str) else None


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
