"""A cache on disk of what the package derives from its shipped data files.

Every command of the CLI is a new process, and reading the same data again took a third of
its start: the unit definitions (pint's parser, ~10 ms), the model catalogue and the other
TOML files (~15 ms for ``costmodel train``). :func:`cached` keeps the result of such a build
in a file of the user's cache directory and hands it back while nothing it came from changed.

An entry is keyed by its name and holds the *stamps* of its source files (path, modification
time, change time and size, in nanoseconds and bytes) and of what read them (the package's
version, Python's and pint's): one that differs, or a file that cannot be read, unpickled or
checked, is built again, and a cache that cannot be written is left unwritten. Every failure is
silent and costs only the time of the build; the cache never changes an answer.

Entries are pickles read back by an unpickler that builds plain data (numbers, strings,
containers) and the classes of costmodel, pint and :mod:`datetime`, nothing else.

Where: ``$COSTMODEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/costmodel``, else the platform's user
cache directory (``~/.cache/costmodel``, ``~/Library/Caches/costmodel`` on macOS,
``%LOCALAPPDATA%\\costmodel\\cache`` on Windows). ``COSTMODEL_CACHE_DIR=""`` turns it off.
Entries are a few kilobytes each, one per shipped file (and per package version); deleting the
directory is always safe.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
import tempfile
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, TypeVar

__all__ = ["cached", "cache_dir", "stamps"]

T = TypeVar("T")

FORMAT = 1  # raise when the layout of an entry changes
_MISS = object()
Stamp = tuple[str, int, int, int]


def cache_dir() -> Path | None:
    """The directory entries live in, or None when the cache is turned off."""
    chosen = os.environ.get("COSTMODEL_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) if chosen else None
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "costmodel"
    if sys.platform == "win32":  # pragma: no cover
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) / "costmodel" / "cache" if local else None
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no home directory: no cache
        return None
    if sys.platform == "darwin":  # pragma: no cover
        return home / "Library" / "Caches" / "costmodel"
    return home / ".cache" / "costmodel"


def stamps(sources: Iterable[Path | str]) -> tuple[Stamp, ...] | None:
    """Path, modification and change time (ns) and size of each source; None when one cannot
    be read (the build then reports it)."""
    out = []
    for source in sources:
        try:
            st = os.stat(source)
        except (OSError, ValueError):
            return None
        out.append((os.fspath(source), st.st_mtime_ns, st.st_ctime_ns, st.st_size))
    return tuple(out)


def _salt() -> str:
    import pint

    from . import __version__

    return f"{FORMAT}/costmodel {__version__}/python {sys.version_info[0]}.{sys.version_info[1]}/pint {pint.__version__}"


@cache
def code_stamps() -> tuple[Stamp, ...] | None:
    """The stamps of the package's own modules and definitions file, taken once a process: an
    entry built by costmodel's code (a validated profile) is keyed by them too, so an edited
    checkout never reads what older code built."""
    files: list[str] = []

    def walk(directory: str) -> None:
        for entry in os.scandir(directory):
            if entry.name.endswith(".py") or entry.name == "units.txt":
                files.append(entry.path)
            elif entry.is_dir() and entry.name != "__pycache__":
                walk(entry.path)

    try:
        walk(os.path.dirname(__file__))
    except OSError:
        return None
    return stamps(sorted(files))


def cached(key: str, sources: Iterable[Path | str], build: Callable[[], T], *, code: bool = False) -> T:
    """``build()``, or what an earlier ``build()`` under ``key`` returned while none of
    ``sources`` has changed since.

    ``build`` must depend on nothing but the sources, the versions in the salt and, with
    ``code=True``, the package's modules (:func:`code_stamps`); what it raises is raised, and
    nothing is cached. The value comes back as a fresh copy.
    """
    directory = cache_dir()
    marks = stamps(sources)
    if code and marks is not None:
        own = code_stamps()
        marks = None if own is None else marks + own
    if directory is None or marks is None:
        return build()
    salt = _salt()
    path = directory / (hashlib.sha1(f"{salt}\0{key}".encode()).hexdigest() + ".pickle")
    value = _read(path, salt, key, marks)
    if value is _MISS:
        value = build()
        _write(path, (salt, key, marks, value))
    return value  # type: ignore[return-value]


def _read(path: Path, salt: str, key: str, marks: tuple[Stamp, ...]) -> object:
    try:
        with open(path, "rb") as f:
            entry = _Unpickler(f).load()
        if type(entry) is tuple and len(entry) == 4 and entry[:3] == (salt, key, marks):
            return entry[3]
    except Exception:  # missing, unreadable, truncated, corrupt, or from another version
        pass
    return _MISS


def _write(path: Path, entry: tuple) -> None:
    """Write an entry atomically (a reader sees the old file or the new one); any failure (an
    unwritable directory, a full disk, a value that cannot be pickled) leaves it unwritten."""
    tmp = None
    try:
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(entry)
        data = buffer.getvalue()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pickle")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        tmp = None
    except Exception:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


# What an entry may hold beyond plain data: classes of pint and datetime, classes and the
# unpickling helpers of costmodel, a few builtin types; anything else makes the entry a miss.
_BUILTINS = frozenset({"bool", "bytes", "complex", "dict", "float", "frozenset", "int", "list", "set", "slice", "str",
                       "tuple"})


class _Pickler(pickle.Pickler):
    """Pickles read-only mappings (a profile's tables) as the dicts they wrap."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is MappingProxyType:
            return _read_only, (dict(obj),)
        return NotImplemented


def _read_only(mapping: dict) -> MappingProxyType:
    return MappingProxyType(mapping)


class _Unpickler(pickle.Unpickler):
    """Builds only plain data and the classes an entry holds."""

    def find_class(self, module: str, name: str):
        package = module.partition(".")[0]
        if (module == "builtins" and name in _BUILTINS) or package in ("costmodel", "pint", "datetime"):
            found = super().find_class(module, name)
            if isinstance(found, type) or package == "costmodel":
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not something a costmodel cache holds")


def _loads(data: bytes) -> object:
    """Unpickle with the restricted unpickler (for tests)."""
    return _Unpickler(io.BytesIO(data)).load()
