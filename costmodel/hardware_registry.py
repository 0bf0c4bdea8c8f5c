"""Where hardware profiles come from: the search path, the profile files in it, and lookup by id
or alias, each cached until a file changes or :func:`reload_profiles` is called.

Built-in profiles ship in ``hardware_profiles/``. Users add their own from a directory given
as ``profile_path=`` or in the ``COSTMODEL_PROFILE_PATH`` environment variable (several
directories separated by ``os.pathsep``); a user profile with a built-in's id replaces it.

A lookup by exact id or by alias reads only the file it names (aliases come from the files'
top-level keys); a shipped profile is validated once and kept in the disk cache
(:mod:`costmodel.datacache`); a user's file or directory is read again when its modification
time changes.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Iterable, TypeAlias

from .datacache import cached
from .datafiles import lookup, name_index, normalise, read_toml, toml_parser
from .errors import InputError, ProfileError, UnknownProfileError
from .hardware_profile import HardwareProfile

__all__ = ["ProfilePath", "builtin_dir", "get_hardware", "list_hardware", "load_profile", "reload_profiles"]

# Extra directories of hardware profiles: one directory, or several.
ProfilePath: TypeAlias = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


@cache
def builtin_dir() -> Path:
    """The directory of shipped profiles (inside the wheel, or at the repository root)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "hardware_profiles", here.parent / "hardware_profiles"):
        if candidate.is_dir():
            return candidate
    return here / "hardware_profiles"


def _search_path(profile_path: ProfilePath | None) -> tuple[str, ...]:
    env = os.environ.get("COSTMODEL_PROFILE_PATH", "")
    if profile_path is None and not env:
        return (_builtin_root(),)
    dirs = [_builtin_root()] + [p for p in env.split(os.pathsep) if p]
    if profile_path is not None:
        extra: list[object] = [profile_path]  # a number or a flag: refused below
        if isinstance(profile_path, Iterable) and not isinstance(profile_path, (str, os.PathLike, bytes, dict)):
            try:
                extra = list(profile_path)
            except TypeError:  # a Quantity of one value or a 0-d array: not a list of folders
                pass
        paths = [p for p in extra if isinstance(p, (str, os.PathLike))]
        if len(paths) < len(extra):  # a number, a flag, or a list holding one
            raise InputError(f"expected a folder of profiles or a list of folders, got {profile_path!r}",
                             argument="profile_path")
        dirs += [os.fspath(p) for p in paths]
    return tuple(dirs)


def _stamp(path: Path) -> int:
    """When a user's file or directory last changed (0 for shipped ones, which do not)."""
    if _is_builtin(str(path)):
        return 0
    try:
        return path.stat().st_mtime_ns
    except (OSError, ValueError):
        return -1


def _is_builtin(path: str) -> bool:
    root = _builtin_root()
    return path == root or path.startswith(root + os.sep)


@cache
def _builtin_root() -> str:
    return str(builtin_dir())


def _files(dirs: tuple[str, ...]) -> dict[str, Path]:
    """Profile id -> file; a later directory's file replaces an earlier one's. Re-read when a
    user directory changes (a file added or removed)."""
    return _files_at(dirs, tuple(0 if _is_builtin(d) else _stamp(Path(d)) for d in dirs))


@cache
def _files_at(dirs: tuple[str, ...], stamps: tuple[int, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for directory in map(Path, dirs):
        try:
            if not directory.is_dir():
                raise ProfileError(f"{directory}: profile directory does not exist")
            paths = sorted(directory.glob("*.toml"))
        except (OSError, ValueError) as exc:  # a name too long or with a NUL, no permission, ...
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ProfileError(f"{str(directory)[:200]!r}: cannot read the profile directory ({why})") from None
        for path in paths:
            files[path.stem] = path
    return files


def _load(path: Path) -> HardwareProfile:
    """The profile of one file, validated; re-read when a user's file changes."""
    return _load_at(path, _stamp(path))


@cache
def _load_at(path: Path, stamp: int) -> HardwareProfile:
    if _is_builtin(str(path)):  # a shipped profile is validated once and kept on disk (datacache)
        return cached(f"hardware profile:{path}", [path], lambda: _validated(path), code=True)
    return _validated(path)


def _validated(path: Path) -> HardwareProfile:
    profile = HardwareProfile.from_mapping(read_toml(path), path)
    if profile.id != path.stem:
        raise ProfileError(f"{path}: field id: {profile.id!r} must match the file name {path.stem!r}")
    return profile


def load_profile(path: str | os.PathLike[str]) -> HardwareProfile:
    """The profile in one TOML file (validated; cached per path and modification time)."""
    return _load(Path(path))


def reload_profiles() -> None:
    """Forget every profile read so far: the next lookup reads the files again. (Lookups already
    notice a user's profile file or directory that changed; this also covers edits that keep a
    file's modification time.)"""
    for cached in (_files_at, _load_at, _registry_at, _alias_files_at):
        cached.cache_clear()
    _shipped_lookups.clear()


def _registry(dirs: tuple[str, ...]) -> tuple[dict[str, HardwareProfile], dict[str, HardwareProfile],
                                              tuple[ProfileError, ...]]:
    files = _files(dirs)
    if all(_is_builtin(d) for d in dirs):  # shipped profiles only: they do not change
        return _registry_at(dirs, ())
    return _registry_at(dirs, tuple((stem, _stamp(path)) for stem, path in files.items()))


@cache
def _registry_at(dirs: tuple[str, ...], stamps: tuple[tuple[str, int], ...]
                 ) -> tuple[dict[str, HardwareProfile], dict[str, HardwareProfile], tuple[ProfileError, ...]]:
    """Every valid profile, an index of normalised ids and aliases, and the errors of the files
    that failed to load."""
    profiles, broken = {}, []
    for stem, path in _files(dirs).items():
        try:
            profiles[stem] = _load(path)
        except ProfileError as exc:
            broken.append(exc)
    return profiles, name_index(profiles.values()), tuple(broken)


def _head_aliases(path: Path) -> tuple[str, ...] | None:
    """The aliases of a profile file read from its top-level keys alone (the lines before the
    first table), without validating the rest; None when that part does not parse, so the caller
    falls back to loading the file."""
    tomllib = toml_parser()
    try:
        text = path.read_text(encoding="utf-8")
        table = re.search(r"^\[", text, re.MULTILINE)
        head = tomllib.loads(text[:table.start()] if table else text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    aliases = head.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        return None
    return tuple(aliases)


def _alias_files(dirs: tuple[str, ...]) -> dict[str, Path] | None:
    """Normalised id or alias -> the file that defines it, as :func:`name_index` orders them (an
    id wins over another profile's alias), read from each file's top-level keys in a few
    milliseconds instead of loading and validating every profile; None when some file's head
    cannot be read that way."""
    files = _files(dirs)
    if all(_is_builtin(d) for d in dirs):
        return _alias_files_at(dirs, ())
    return _alias_files_at(dirs, tuple((stem, _stamp(path)) for stem, path in files.items()))


@cache
def _alias_files_at(dirs: tuple[str, ...], stamps: tuple[tuple[str, int], ...]) -> dict[str, Path] | None:
    files = _files(dirs)
    if stamps:  # a user's directory: read the heads again
        index = _alias_index(files)
    else:  # the shipped files: the index is kept on disk while none of them changes
        index = cached(f"hardware aliases:{dirs}", files.values(), lambda: _alias_index(files))
    return None if index is None else {alias: Path(path) for alias, path in index.items()}


def _alias_index(files: dict[str, Path]) -> dict[str, str] | None:
    index: dict[str, str] = {}
    for path in files.values():
        aliases = _head_aliases(path)
        if aliases is None:
            return None
        for alias in aliases:
            index.setdefault(normalise(alias), str(path))
    for stem, path in files.items():
        index[normalise(stem)] = str(path)
    return index


def get_hardware(name: str | HardwareProfile, *, profile_path: ProfilePath | None = None) -> HardwareProfile:
    """Look up a hardware profile by id or alias (case-insensitive), e.g. ``"H100"``.

    An exact id or an alias loads only its own file (aliases are read from the files' top-level
    keys); a near miss reads them all, for suggestions. A file that fails to load breaks only the
    lookups it could answer: one of a valid profile (by id or by alias) succeeds, one of a name no
    valid profile has raises that file's error.

    >>> get_hardware("h100").id
    'h100-sxm5-80gb'
    """
    if isinstance(name, HardwareProfile):
        return name
    dirs = _search_path(profile_path)
    shipped = len(dirs) == 1 and isinstance(name, str)  # the shipped profiles only: they do not change
    if shipped and (found := _shipped_lookups.get(name)) is not None:
        return found
    profile = _find(name, dirs)
    if shipped:
        if len(_shipped_lookups) >= 1024:
            _shipped_lookups.clear()
        _shipped_lookups[name] = profile
    return profile


_shipped_lookups: dict[str, HardwareProfile] = {}  # name -> shipped profile, until reload_profiles()


def _find(name: str | HardwareProfile, dirs: tuple[str, ...]) -> HardwareProfile:
    if isinstance(name, str):
        files = _files(dirs)
        path = files.get(name) or files.get(normalise(name))
        if path is not None:
            return _load(path)
        aliases = _alias_files(dirs)  # an alias: load only the file that names it
        path = aliases.get(normalise(name)) if aliases is not None else None
        if path is not None:
            return _load(path)
    _, index, broken = _registry(dirs)
    try:
        return lookup(name, index, what="hardware profile", command="costmodel hardware list", argument="hardware")
    except UnknownProfileError:
        if broken:  # the name may be in the file that failed: say why it could not be read
            raise broken[0] from None
        raise


def list_hardware(*, profile_path: ProfilePath | None = None) -> list[HardwareProfile]:
    """All known hardware profiles, sorted by id."""
    profiles, _, broken = _registry(_search_path(profile_path))
    if broken:
        raise broken[0]
    return [profiles[k] for k in sorted(profiles)]
