"""The package's shape: one direction of flow, no import circles, no private imports across
modules, and a core that never reaches for a surface (ARCHITECTURE.md)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "costmodel"
# The core: inputs, profiles, the vectorised pipelines and the result types.
CORE = {"units", "unit_registry", "unit_parsing", "errors", "datafiles", "hardware", "hardware_profile", "hardware_registry", "models", "architecture",
        "configs", "config_families", "config_moe", "regions", "calibration", "training", "layout", "workload", "memory",
        "precision", "inference", "energy", "scaling", "training_estimate", "training_pipeline", "inference_estimate",
        "serving_inputs", "serving_records", "serving_timings", "serving_pipeline", "serving_case", "results", "results.base",
        "results.training", "results.inference"}
SURFACE_PACKAGES = ("click", "matplotlib", "jinja2", "costmodel.cli", "costmodel.plot", "costmodel.sweep")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__") or "__init__"


def _imports(path: Path):
    """(imported module, names, at module level?) for every import in a file, relative imports
    resolved to ``costmodel.<module>``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ["costmodel", *_module_name(path).split(".")]
    if path.name != "__init__.py":
        package = package[:-1]
    elif package[-1] == "__init__":
        package = package[:-1]
    top = {id(node) for node in tree.body}
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", getattr(block.test, "attr", None)) == "TYPE_CHECKING"
                   for n in ast.walk(block)}  # imports a type checker reads, never run
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, [a.name for a in node.names], id(node) in top
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], id(node) in top


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _graph() -> dict:
    graph = {}
    for name, path in MODULES.items():
        edges = set()
        for target, names, _ in _imports(path):
            if not target.startswith("costmodel"):
                continue
            inner = target[len("costmodel."):] if target != "costmodel" else ""
            submodules = [m for m in (f"{inner}.{n}" if inner else n for n in names) if m in MODULES]
            # `from . import training` imports the module training; `from .x import f`, module x
            edges.update(submodules or [inner or "__init__"])
        edges.discard(name)
        graph[name] = edges
    return graph


def test_no_import_circle_inside_the_package():
    graph, state, stack, cycles = _graph(), {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_graph_sees_real_edges():
    # guards the test above against a parser that finds no edges at all
    graph = _graph()
    assert "training" in graph["training_pipeline"] and "results.training" in graph["training_estimate"]
    assert "training_estimate" in graph["sweep.training"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_is_imported_from_another_module(name):
    private = [(target, n) for target, names, _ in _imports(MODULES[name]) if target.startswith("costmodel")
               for n in names if n.startswith("_") and not n.startswith("__")]
    assert private == []


@pytest.mark.parametrize("name", sorted(CORE & set(MODULES)))
def test_the_core_never_imports_a_surface_or_pandas_at_import_time(name):
    bad = [target for target, _, top in _imports(MODULES[name])
           if target.startswith(SURFACE_PACKAGES) or (top and target.split(".")[0] == "pandas")]
    assert bad == []
