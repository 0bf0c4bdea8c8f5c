"""Pieces shared by the CLI's command modules."""

from __future__ import annotations

import functools
import json

import click

from .errors import InputError, UnitError

# API argument names that the CLI spells differently.
_OPTION_NAMES = {"n_gpus": "--gpus", "hardware": "--hardware"}


def _as_option(message: str) -> str:
    """'tokens: expected ...' -> '--tokens: expected ...' so the user sees the option."""
    name, sep, rest = message.partition(": ")
    if sep and name.replace("_", "").isalnum():
        return f"{_OPTION_NAMES.get(name, '--' + name.replace('_', '-'))}: {rest}"
    return message


def usage_errors(command):
    """Report a bad option value as a usage error of the command it was given to (exit 2)."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (UnitError, InputError) as exc:
            raise click.UsageError(_as_option(str(exc)), click.get_current_context()) from None

    return wrapper


def _json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


json_option = click.option("--json", "as_json", is_flag=True, help="Write only JSON to stdout.")
