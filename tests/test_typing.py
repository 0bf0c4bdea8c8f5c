"""Types: mypy passes on the package with the configuration in pyproject.toml, and every public
name carries annotations (py.typed tells type checkers to read them)."""

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import costmodel

ROOT = Path(__file__).resolve().parent.parent


def _unannotated(where: str, function, *, bound: bool) -> list[str]:
    """The parameters (and the return) of ``function`` that have no annotation."""
    signature = inspect.signature(function)
    params = list(signature.parameters.values())[1 if bound else 0:]
    missing = [f"{where}({p.name})" for p in params if p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append(f"{where} -> ?")
    return missing


def _public_members(cls) -> list[tuple[str, object, bool]]:
    """(name, function, takes self or cls) of the public methods and properties that ``cls``
    (or a costmodel base) defines."""
    out = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, property):
            function, bound = raw.fget, True
        elif isinstance(raw, (classmethod, staticmethod)):
            function, bound = raw.__func__, isinstance(raw, classmethod)
        elif inspect.isfunction(raw):
            function, bound = raw, True
        else:
            continue
        if function.__module__.startswith("costmodel"):
            out.append((f"{cls.__name__}.{name}", function, bound))
    return out


def test_every_public_name_is_annotated():
    missing = []
    for name in costmodel.__all__:
        obj = getattr(costmodel, name)
        if not getattr(obj, "__module__", "").startswith("costmodel"):
            continue  # __version__, ureg and Quantity (pint's own class)
        if inspect.isclass(obj):
            for where, function, bound in _public_members(obj):
                missing += _unannotated(where, function, bound=bound)
        elif callable(obj):
            missing += _unannotated(name, inspect.unwrap(obj), bound=False)
    assert missing == []


def test_the_check_sees_unannotated_code():
    # guards the test above against a walk that finds nothing to check
    def f(x, y: int = 0):
        return x

    assert _unannotated("f", f, bound=False) == ["f(x)", "f -> ?"]
    assert ("TrainingEstimate.low", costmodel.TrainingEstimate.low.fget, True) in _public_members(
        costmodel.TrainingEstimate)


@pytest.mark.slow
def test_mypy_passes_on_the_package(tmp_path):
    pytest.importorskip("mypy", reason="mypy checks the types (pip install -e '.[test]' installs it)")
    # a fresh cache: the result does not depend on an earlier run, and the tree is not written to
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                             "--cache-dir", str(tmp_path / "mypy_cache")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
