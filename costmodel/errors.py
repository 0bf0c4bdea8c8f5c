"""The error tree, and the one did-you-mean every lookup uses.

Every error the library raises on bad input is a :class:`CostModelError`; each subclass also
inherits the builtin a caller would expect, so ``except ValueError`` and ``except KeyError``
keep working. An error knows what it is about: ``argument`` is the keyword of the public API
that was wrong (``"n_gpus"``), so a surface can name its own spelling of it (the CLI's
``--gpus``) without parsing the message; ``message`` is the text without that name.

>>> err = InputError("expected a whole number, got 1.5", argument="n_gpus")
>>> str(err), err.argument, err.message
('n_gpus: expected a whole number, got 1.5', 'n_gpus', 'expected a whole number, got 1.5')

A message that names another keyword writes it as ``{name=}`` or ``{name}``; the library
shows it as ``name=`` or ``name``, and a surface shows its own spelling with
:meth:`CostModelError.render`:

>>> err = InputError("give {tokens=} for language models", argument="samples")
>>> str(err)
'samples: give tokens= for language models'
>>> err.render(lambda name: "--" + name)
'--samples: give --tokens for language models'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

__all__ = [
    "CostModelError",
    "UnitError",
    "InputError",
    "ProfileError",
    "UnknownProfileError",
    "WriteError",
    "suggest",
    "unknown",
]


class CostModelError(Exception):
    """Base class of every error raised by costmodel on bad input or data.

    Parameters
    ----------
    message : str
        What was wrong and what was expected, without the argument's name.
    argument : str, optional
        The public keyword the error is about; ``str(error)`` starts with it.
    """

    def __init__(self, message: str = "", *, argument: str | None = None):
        self.template = message
        self.message = _MENTION.sub(lambda m: m[1] + m[2], message)
        self.argument = argument
        super().__init__(f"{argument}: {self.message}" if argument else self.message)

    def render(self, spell: Callable[[str], str]) -> str:
        """The message with every keyword (the argument and the ones it mentions) spelled by
        ``spell``, e.g. as a command-line flag."""
        text = _MENTION.sub(lambda m: spell(m[1]), self.template)
        return f"{spell(self.argument)}: {text}" if self.argument else text

    def __str__(self) -> str:  # KeyError (a base of UnknownProfileError) would add quotes
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):  # keep the keyword-only argument through pickling and copying
        return _rebuild, (type(self), self.template, self.argument)


def _rebuild(cls, message, argument):
    return cls(message, argument=argument)


# A keyword named in a message: {tokens=} reads "tokens=" in the library, {n_gpus} reads
# "n_gpus"; a surface spells both its own way (render).
_MENTION = re.compile(r"\{([a-z][a-z_]*)(=?)\}")


class UnitError(CostModelError, ValueError):
    """A value has the wrong dimension, cannot be read, or is out of range."""


class InputError(CostModelError, ValueError):
    """An argument is invalid (out of range, unsupported by the device, inconsistent)."""


class ProfileError(CostModelError, ValueError):
    """A profile or data file is malformed; the message names the file and the field."""


class UnknownProfileError(CostModelError, KeyError):
    """A hardware, model or region id (or a keyword) is not known; the message suggests close
    matches. The message names the unknown value itself, so ``str()`` does not repeat the
    argument."""

    def __init__(self, message: str = "", *, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


class WriteError(CostModelError, OSError):
    """A file could not be written (no room left, no permission); nothing was left half-written.
    The message names the file and the operating system's reason."""


def suggest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates close to ``name``, best first (case-insensitive).

    Close spellings first (difflib's ratio of at least 0.5), then candidates that contain
    ``name``.

    >>> suggest("h10", ["h100-sxm5-80gb", "a100-sxm4-80gb", "h200-sxm-141gb"])
    ['h100-sxm5-80gb']
    """
    import difflib

    pool = list(dict.fromkeys(candidates))
    folded = {c.lower(): c for c in pool}
    key = name.lower().strip()
    close = difflib.get_close_matches(key, list(folded), n=n, cutoff=0.5)
    close += [c for c in folded if key and key in c and c not in close]
    return [folded[c] for c in close][:n]


def unknown(name, candidates: Iterable[str], *, what: str, command: str, argument: str | None = None,
            ranked: bool = False) -> UnknownProfileError:
    """The error for an unknown ``name`` of kind ``what``, with up to three suggestions.

    ``ranked=True`` means ``candidates`` already are the suggestions, best first; ``command``
    says where to see every valid name.

    >>> str(unknown("a10", ["a100", "a10g"], what="hardware profile", command="costmodel hardware list"))
    "'a10' is not a known hardware profile; did you mean 'a10g', 'a100'? (see: costmodel hardware list)"
    """
    close = list(candidates)[:3] if ranked else suggest(str(name), candidates)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = name if isinstance(name, str) else str(name)
    return UnknownProfileError(f"{shown!r} is not a known {what}{hint} (see: {command})", argument=argument)
