"""Imports flow down the layers of ARCHITECTURE.md, with no cycle among modules.

Read from the source (every import, also those inside functions), so a lazy import that
hides a cycle or an upward dependency is caught too.
"""

import ast
from pathlib import Path

SOURCE = Path(__file__).parents[2] / "src" / "vemrestore"

LAYERS = [
    {"errors", "types", "version", "pretrained"},
    {"threads", "geometry", "models", "evaluation", "io"},
    {"simulate"},
    {"config"},
    {"tasks"},
    {"data"},
    {"model_io.checkpoint"},
    {"model_io.formats"},
    {"model_io.files", "model_io"},
    {"inference", "training"},
    {"api.restoration", "api.live"},
    {"api.analysis", "api"},
    {"cli", "napari_plugin"},
    {"__main__", "<root>"},
]
"""Bottom to top, as in ARCHITECTURE.md: a unit imports only units of lower layers (and
itself). A unit is a top-level module or package of ``vemrestore``, or one of its parts where
the layers name it (``model_io.checkpoint``)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "<root>"
    part = ".".join(parts[1:3])
    if any(part in layer for layer in LAYERS):
        return part
    return parts[1]


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


def test_no_module_imports_the_package_root() -> None:
    offenders = {m for m, targets in _imports().items() if "vemrestore" in targets}
    assert offenders == set(), "take __version__ from vemrestore.version, the API from .api"


def test_imports_flow_down_the_layers() -> None:
    level = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    upward = []
    for module, targets in _imports().items():
        source = _unit(module)
        assert source in level, f"{module}: its unit {source!r} has no layer in ARCHITECTURE.md"
        for target in targets:
            unit = _unit(target)
            if unit != source and level[unit] >= level[source]:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_cycle_among_modules() -> None:
    graph = _imports()
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
    assert cycles == []
