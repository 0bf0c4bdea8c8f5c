"""Hardware profiles: one TOML file per device, validated on load, looked up by id or alias.

Built-in profiles ship in ``hardware_profiles/``. Users add their own from a directory given
as ``profile_path=`` or in the ``COSTMODEL_PROFILE_PATH`` environment variable (several
directories separated by ``os.pathsep``); a user profile with a built-in's id replaces it.

This module is the public face of two: :mod:`costmodel.hardware_profile` (the
:class:`HardwareProfile` record and its validation) and :mod:`costmodel.hardware_registry`
(the search path, the files, the caches and the lookups).
"""

from __future__ import annotations

from .hardware_profile import ENGINES, KINDS, PERSONAL_KINDS, PRICE_KINDS, HardwareProfile, Price, RequiredFigure
from .hardware_registry import ProfilePath, builtin_dir, get_hardware, list_hardware, load_profile, reload_profiles
from .precision import PRECISIONS, canonical_dtype

__all__ = ["HardwareProfile", "Price", "get_hardware", "list_hardware", "load_profile", "reload_profiles", "PRECISIONS",
           "canonical_dtype"]
