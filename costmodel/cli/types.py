"""Click parameter types for the domain's values: counts, quantities, whole numbers, bounded
numbers, precisions, a global batch, a budget and lists for sweeps.

Each type converts once with the library's own parsers (``costmodel.units``) and hands the
library a plain float in canonical units; a bad value is click's usage error (exit 2) naming
the option, and ``--help`` shows a metavar that says what to write (``COUNT``,
``QUANTITY [USD/h]``) instead of ``TEXT``.
"""

from __future__ import annotations

import math
import re

import click

from costmodel import units
from costmodel.errors import CostModelError, UnitError

__all__ = ["SafePath", "DomainType", "Count", "Quantity", "Whole", "Parsed", "Precision", "GlobalBatch", "Budget",
           "OutputFile", "Values", "Stages", "COUNT", "WHOLE", "FRACTION", "PUE", "DTYPE", "SERVING_DTYPE",
           "GLOBAL_BATCH", "BUDGET"]


class DomainType(click.ParamType):
    """Base of the types below: a fixed metavar for --help."""

    metavar = "VALUE"

    def get_metavar(self, param, ctx=None):  # click 8.1 passes no ctx, 8.2+ does
        return self.metavar


class Count(DomainType):
    """A count of parameters, tokens or samples (``7B``, ``300e9``, ``1.7T``) -> float."""

    name = "count"
    metavar = "COUNT"

    def __init__(self, *, allow_zero: bool = False):
        self.allow_zero = allow_zero

    def convert(self, value, param, ctx):
        try:
            return units.parse_count(value, _name(param), allow_zero=self.allow_zero)
        except UnitError as exc:
            self.fail(exc.message, param, ctx)


class Quantity(DomainType):
    """A quantity of one kind of ``costmodel.units`` (``"$2.50/h"``, ``"400 W"``) -> a float
    in that kind's canonical unit. A bare number is taken to be in ``unit`` (the metavar shows
    it): the canonical unit, or with ``bare=True`` any unit of the kind (``--service-life 5``
    is 5 years)."""

    name = "quantity"

    def __init__(self, kind: str, unit: str, *, allow_zero: bool = False, bare: bool = False):
        self.kind, self.unit, self.allow_zero, self.bare = kind, unit, allow_zero, bare
        self.metavar = f"QUANTITY [{unit}]"

    def convert(self, value, param, ctx):
        bare = self.bare and isinstance(value, str) and _is_number(value)
        try:
            return units.parse_quantity(f"{value} {self.unit}" if bare else value, self.kind, _name(param),
                                        allow_zero=self.allow_zero)
        except UnitError as exc:
            message = exc.message
        if bare:  # say what was wrong with the value as written ('0', not '0 year')
            try:
                units.parse_quantity(value, self.kind, _name(param), allow_zero=self.allow_zero)
            except UnitError as exc:
                message = exc.message
        self.fail(message, param, ctx)


class Whole(DomainType):
    """A whole number from 1 (0 with ``allow_zero``) to ``limit``: devices, parallel degrees,
    batch sizes -> int. Count suffixes work (``--gpus 1k``)."""

    name = "whole"
    metavar = "N"

    def __init__(self, *, limit: float = 1e7, allow_zero: bool = False):
        self.limit, self.allow_zero = limit, allow_zero

    def convert(self, value, param, ctx):
        try:
            return units.parse_whole(value, _name(param), limit=self.limit, allow_zero=self.allow_zero)
        except CostModelError as exc:
            self.fail(exc.message, param, ctx)


class Parsed(DomainType):
    """A value one of the library's parsers reads (``"module:function"``, imported when used,
    called as ``function(value)``)."""

    name = "parsed"

    def __init__(self, parser: str, metavar: str):
        self.parser, self.metavar = parser, metavar

    def convert(self, value, param, ctx):
        import importlib

        module, function = self.parser.split(":")
        try:
            return getattr(importlib.import_module(module), function)(value)
        except CostModelError as exc:
            self.fail(exc.message, param, ctx)


class Precision(DomainType):
    """A precision name or alias (``bf16``, ``bfloat16``, ``FP8``) -> its canonical name; with
    ``serving=True`` also the serving formats (``w4a16``, ``w8a8``, ``int4``), which the
    library resolves against the device."""

    name = "precision"
    metavar = "DTYPE"

    def __init__(self, *, serving: bool = False):
        self.serving = serving

    def convert(self, value, param, ctx):
        from costmodel.errors import InputError
        from costmodel.hardware import PRECISIONS, canonical_dtype
        from costmodel.precision import serving_name

        if self.serving and serving_name(value) is not None:
            return serving_name(value)
        try:
            return canonical_dtype(value)
        except InputError:
            names = "bf16, fp16, fp32, fp8, fp4, w8a16, w4a16, w8a8 (int8, int4)" if self.serving else ", ".join(PRECISIONS)
            self.fail(f"expected one of {names}, got {value!r}", param, ctx)


class GlobalBatch(DomainType):
    """Tokens or sequences per optimizer step (``4M``, ``"4M token"``, ``"1024 sequence"``),
    checked with :func:`costmodel.layout.parse_global_batch` and handed to the library as
    written: only the library knows the sequence length that turns sequences into tokens."""

    name = "global batch"
    metavar = "COUNT [token|sequence]"
    EXAMPLE = "'4M', '4M token' or '1024 sequence'"

    def convert(self, value, param, ctx):
        from costmodel.layout import parse_global_batch

        try:
            parse_global_batch(value)
        except CostModelError as exc:
            message = exc.message
            if message.startswith("expected a count"):  # say what a batch looks like
                message = f"expected a global batch such as {self.EXAMPLE}, got {value!r}"
            self.fail(message, param, ctx)
        return value


class Budget(DomainType):
    """Compute, money, device-hours or energy (``'$10M'``, ``'1e24 FLOP'``, ``'500000 GPU*h'``,
    ``'5 GWh'``), read by :func:`costmodel.planning.parse_budget` -> a Quantity of that kind."""

    name = "budget"
    metavar = "BUDGET"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        from costmodel.planning import parse_budget

        try:
            kind, number = parse_budget(value)
        except CostModelError as exc:
            self.fail(exc.message, param, ctx)
        return units.quantity(number, kind)


class OutputFile(DomainType):
    """A file to write (``-`` for stdout where ``stdout`` is allowed), checked before any work:
    its folder exists and is writable, it is not a folder, and its name ends in one of
    ``suffixes`` when they are given."""

    name = "output file"
    metavar = "FILE"

    def __init__(self, suffixes: tuple[str, ...] = (), *, stdout: bool = False):
        self.suffixes, self.stdout = suffixes, stdout

    def convert(self, value, param, ctx):
        import os

        if value == "-" and self.stdout:
            return value
        if not value.strip():
            self.fail("expected a file name, got an empty one", param, ctx)
        if value == "-":
            self.fail("this output cannot go to stdout ('-'); give a file name", param, ctx)
        if value.startswith("-"):  # an option taken for the file name: "--csv --json"
            self.fail(f"expected a file name, got {value!r}, which reads as an option (a file whose name "
                      f"starts with '-' is written ./{value})", param, ctx)
        if "\x00" in value:
            self.fail("a file name cannot contain a NUL byte", param, ctx)
        if self.suffixes and not value.lower().endswith(self.suffixes):
            *rest, last = self.suffixes
            names = f"{', '.join(rest)} or {last}" if rest else last
            self.fail(f"expected a {names} file name, got {value!r}", param, ctx)
        folder = os.path.dirname(os.path.abspath(value))
        if os.path.isdir(value):
            self.fail(f"{value!r} is a folder; give a file name in it", param, ctx)
        if not os.path.isdir(folder):
            self.fail(f"the folder {os.path.dirname(value) or folder!r} does not exist", param, ctx)
        if not os.access(folder, os.W_OK):
            self.fail(f"the folder {os.path.dirname(value) or folder!r} is not writable", param, ctx)
        name = len(os.fsencode(os.path.basename(value)))
        longest = _limit(folder, "PC_NAME_MAX", 255)
        if name > longest:
            self.fail(f"the file name is {name:,} bytes long, more than the {longest:,} the file system allows",
                      param, ctx)
        return value


def _limit(folder: str, name: str, default: int) -> int:
    """A file system limit of ``folder`` (``os.pathconf``), or ``default`` where it is not told."""
    import os

    try:
        return int(os.pathconf(folder, name))
    except (OSError, ValueError, AttributeError):
        return default


_RANGE = re.compile(r"^\s*([^.]+?)\s*\.\.\s*([^x+]+?)\s*(?:([x+])\s*(.+?))?\s*$")
LIMIT = 5_000_000  # values one range may produce


class Values(DomainType):
    """A sweep's list: ``'8,64,512'`` -> ['8', '64', '512']; ranges ``'1..256x2'`` (1, 2, 4, ...,
    256) and ``'128..1024+128'`` (arithmetic) -> numbers. Entries stay as written; the library
    parses each one (and names the option's keyword when one is wrong)."""

    name = "values"

    def __init__(self, item: str = "VALUE", unit: str | None = None):
        self.metavar = f"{item}[,...]" + (f" [{unit}]" if unit else "")

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        out: list[str | int | float] = []
        for part in value.split(","):
            match = _RANGE.match(part)
            if match:
                out += self._range(part.strip(), match, param, ctx)
            elif part.strip():
                out.append(part.strip())
        if not out:
            self.fail("no values given", param, ctx)
        if len(out) > LIMIT:
            self.fail(f"{len(out):,} values, more than the {LIMIT:,} one option may have", param, ctx)
        return out

    def _range(self, part: str, match: re.Match[str], param: click.Parameter | None,
               ctx: click.Context | None) -> list[int | float]:
        start, stop, op, step = match.groups()
        try:
            a, b = (units.parse_count(x, _name(param), allow_zero=True) for x in (start, stop))
            s = units.parse_count(step, _name(param)) if step else 1.0
        except UnitError:
            self.fail(f"could not read the range {part!r}; use e.g. 1..256x2 or 128..1024+128", param, ctx)
        if (op == "x" and s <= 1) or (op != "x" and s <= 0) or b < a or (a <= 0 and op == "x"):
            self.fail(f"the range {part!r} never reaches its end; use e.g. 1..256x2", param, ctx)
        n = math.floor((math.log(b / a) / math.log(s) if op == "x" else (b - a) / s) + 1e-9) + 1
        if n > LIMIT:
            self.fail(f"the range {part!r} has {n:,} values, more than the {LIMIT:,} a range may have; "
                      "use a larger step, e.g. 1..1e15x2", param, ctx)
        out: list[int | float] = []
        v = a
        while v <= b * (1 + 1e-12):
            out.append(int(v) if float(v).is_integer() else v)
            v = v * s if op == "x" else v + s
        return out


class Stages(Values):
    """A sweep's list of ZeRO stages (``'1,3'``, ``'0..3'``) -> ints, each checked to be 0 to 3:
    the library takes a stage as a number, not as text."""

    def __init__(self):
        super().__init__("STAGE")

    def convert(self, value, param, ctx):
        out = []
        for entry in super().convert(value, param, ctx):
            try:
                stage = float(entry)
            except ValueError:
                stage = math.nan
            if stage not in (0, 1, 2, 3):
                self.fail(f"expected ZeRO stages 0, 1, 2 or 3, got {entry!r}", param, ctx)
            out.append(int(stage))
        return out


class Switches(Values):
    """A sweep's list of on/off settings (``'on,off'``, ``'true,false'``) -> bools: the library
    takes a switch as True or False, not as text."""

    _WORDS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}

    def __init__(self):
        super().__init__("on|off")

    def convert(self, value, param, ctx):
        out = []
        for entry in super().convert(value, param, ctx):
            word = str(entry).lower()
            if word not in self._WORDS:
                self.fail(f"expected on or off, got {entry!r}", param, ctx)
            out.append(self._WORDS[word])
        return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class SafePath(click.Path):
    """click's Path, refusing a name the operating system cannot take (a NUL byte, too long)
    as a usage error instead of letting ``os.stat`` raise."""

    def convert(self, value, param, ctx):
        text = value if isinstance(value, str) else str(value)
        if "\x00" in text:
            self.fail("a path cannot contain a NUL byte", param, ctx)
        try:
            return super().convert(value, param, ctx)
        except (OSError, ValueError) as exc:
            self.fail(f"cannot use this path ({getattr(exc, 'strerror', None) or exc})", param, ctx)


def _name(param) -> str:
    return param.name if param is not None else "value"


COUNT = Count()
WHOLE = Whole()
FRACTION = Parsed("costmodel.units:parse_fraction", "FRACTION")
PUE = Parsed("costmodel.energy:parse_pue", "PUE")
DTYPE = Precision()
SERVING_DTYPE = Precision(serving=True)
GLOBAL_BATCH = GlobalBatch()
BUDGET = Budget()
