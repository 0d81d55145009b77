"""Imports flow down the layers of ARCHITECTURE.md, with no cycle among modules.

Read from the source (every import, also those inside functions), so a lazy import that
hides a cycle or an upward dependency is caught too. The layers are read from the table in
ARCHITECTURE.md, so the document and the check cannot drift apart.
"""

import ast
import re
from pathlib import Path

SOURCE = Path(__file__).parents[2] / "src" / "vemrestore"
ARCHITECTURE = SOURCE.parents[1] / "ARCHITECTURE.md"


def _layers() -> list[set[str]]:
    """Bottom to top: the units (in backticks) of each ``| N | units | ... |`` table row.

    A unit imports only units of lower layers (and itself). A unit is a top-level module or
    package of ``vemrestore`` (``<root>``: the package's ``__init__.py``), or one of its parts
    where the table names it (``model_io.checkpoint``).
    """
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", ARCHITECTURE.read_text(), re.MULTILINE)
    assert [int(number) for number, _ in rows] == list(range(len(rows))), "layers 0, 1, 2, ..."
    return [set(re.findall(r"`([^`]+)`", units)) for _, units in rows]


LAYERS = _layers()
LEVEL = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "<root>"
    part = ".".join(parts[1:3])
    return part if part in LEVEL else parts[1]


def _imports() -> dict[str, set[str]]:
    """Module → vemrestore modules it imports (``from vemrestore import api`` names the
    submodule; a name defined in the package root names the root)."""
    modules = {_module_name(p): p for p in SOURCE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.split(".")[0] == "vemrestore"}
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import; the rules read absolute ones"
                base = node.module or ""
                if base.split(".")[0] != "vemrestore":
                    continue
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    targets.add(child if child in modules else base)
        graph[module] = targets - {module}
    return graph


def _upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``module -> target`` for every import of a unit on the same or a higher layer."""
    upward = []
    for module, targets in sorted(graph.items()):
        source = _unit(module)
        assert source in LEVEL, f"{module}: its unit {source!r} has no layer in ARCHITECTURE.md"
        for target in sorted(targets):
            unit = _unit(target)
            if unit != source and LEVEL[unit] >= LEVEL[source]:
                upward.append(f"{module} -> {target}")
    return upward


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_module_imports_the_package_root() -> None:
    offenders = {m for m, targets in _imports().items() if "vemrestore" in targets}
    assert offenders == set(), "take __version__ from vemrestore.version, the API from .api"


def test_imports_flow_down_the_layers() -> None:
    assert _upward_imports(_imports()) == []


def test_no_import_cycle_among_modules() -> None:
    assert _cycles(_imports()) == []


def test_the_checks_catch_upward_imports_and_cycles() -> None:
    """The rules bite: a checkpoint importing the loader above it, one command importing
    another, and the cycle the model_io layers exist to prevent."""
    graph = {
        "vemrestore.model_io.checkpoint": {"vemrestore.model_io.files"},
        "vemrestore.model_io.files": {"vemrestore.model_io.checkpoint"},
        "vemrestore.cli.restore": {"vemrestore.cli.train", "vemrestore.cli.errors"},
        "vemrestore.io.tiff": {"vemrestore.io.base"},
    }
    assert _upward_imports(graph) == [
        "vemrestore.cli.restore -> vemrestore.cli.train",
        "vemrestore.model_io.checkpoint -> vemrestore.model_io.files",
    ]
    assert _cycles(graph) == [
        [
            "vemrestore.model_io.checkpoint",
            "vemrestore.model_io.files",
            "vemrestore.model_io.checkpoint",
        ]
    ]


def test_every_layer_of_the_document_names_units_that_exist() -> None:
    units = {_unit(module) for module in _imports()}
    assert set(LEVEL) - units == set(), "ARCHITECTURE.md names a unit the source lacks"
    assert {"model_io.checkpoint", "api.restoration", "cli.root", "<root>"} <= set(LEVEL)
