"""The error tree.

Every error the library raises on bad input is a :class:`CostModelError`; each
subclass also inherits the builtin a caller would expect, so ``except ValueError``
and ``except KeyError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "CostModelError",
    "UnitError",
    "InputError",
    "ProfileError",
    "UnknownProfileError",
    "did_you_mean",
]


class CostModelError(Exception):
    """Base class of every error raised by costmodel on bad input or data."""


class UnitError(CostModelError, ValueError):
    """A value has the wrong dimension, cannot be read, or is out of range."""


class InputError(CostModelError, ValueError):
    """An argument is invalid (out of range, unsupported by the device, inconsistent)."""


class ProfileError(CostModelError, ValueError):
    """A profile or data file is malformed; the message names the file and the field."""


class UnknownProfileError(CostModelError, KeyError):
    """A hardware, model or region id is not known; the message suggests close matches."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


def did_you_mean(name: str, candidates, *, what: str, command: str, ranked: bool = False) -> UnknownProfileError:
    """Build the error for an unknown ``name``, with up to three close matches.

    ``ranked=True`` means ``candidates`` already are the suggestions, best first.
    """
    import difflib

    if ranked:
        close = list(candidates)[:3]
    else:
        pool = sorted(set(candidates))
        close = difflib.get_close_matches(name.lower(), pool, n=3, cutoff=0.5)
        if not close:
            close = [c for c in pool if name.lower() and name.lower() in c][:3]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return UnknownProfileError(f"{name!r} is not a known {what}{hint} (see: {command})")
