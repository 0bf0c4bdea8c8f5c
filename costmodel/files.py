"""Files the library and the command line write: whole, or not at all.

:func:`write_whole` has ``write`` fill a temporary file beside the target and moves it onto the
target only once it is complete, so a reader sees the old file or the new one, and a failure (a
full disk, a folder made read-only meanwhile, a name the file system refuses) leaves neither a
half-written file nor the temporary one, and raises :class:`~costmodel.errors.WriteError`
naming the file and the reason.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from .errors import WriteError

__all__ = ["cannot_write", "write_whole"]


def write_whole(path: str | os.PathLike[str], write: Callable[[str], object], *,
                argument: str | None = None) -> str:
    """``write(scratch)`` into a new file beside ``path`` (the same suffix, so a writer that
    picks its format by the name picks the same one), then moved onto ``path``; the file gets
    the permissions a new file would (the umask's), not the scratch file's private ones.
    Returns ``path``; ``argument`` is the keyword the error names."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    scratch = None
    try:
        handle, scratch = tempfile.mkstemp(dir=folder, prefix=".costmodel-", suffix=os.path.splitext(target)[1])
        os.close(handle)
        write(scratch)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(scratch, 0o666 & ~mask)
        os.replace(scratch, target)
        scratch = None
    except OSError as exc:
        raise cannot_write(target, exc, argument) from None
    finally:
        if scratch is not None and os.path.exists(scratch):
            os.unlink(scratch)
    return target


def cannot_write(path: str | os.PathLike[str], exc: OSError, argument: str | None = None) -> WriteError:
    """The error for ``path`` that the operating system would not write (``exc``): one line
    with its reason, ``cannot write 'x.csv': No space left on device``."""
    return WriteError(f"cannot write {os.fspath(path)!r}: {exc.strerror or exc}", argument=argument)
