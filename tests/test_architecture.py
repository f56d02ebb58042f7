"""Imports flow in one direction (docs/design.md), and the sandbox stays an independent oracle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fragment_bulk"

# A module may import only modules of its own layer or below.
LAYERS = [
    {"_version", "errors", "ahead", "interrupts"},
    {"config", "formats", "encoding", "dates", "tables", "workbooks", "excel"},
    {"identity", "claims", "readers", "mapping", "ratelimit", "retry", "checkpoint", "progress"},
    {"client"},
    {"engine"},
    {"importer", "exporter", "updater", "commenter", "creator"},
    {"sandbox", "connection"},
    {"api"},
    {"cli", "__init__", "__main__"},
]
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _imports(path: Path) -> set[str]:
    """The fragment_bulk modules ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                package = path.relative_to(PACKAGE.parent).parent.parts
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "fragment_bulk"}


def _top_module(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_has_a_layer():
    modules = {path.stem for path in PACKAGE.glob("*.py")} | {"sandbox"}
    assert modules - set(LAYER_OF) == set(), "place new modules in LAYERS"


def test_imports_only_go_down_the_layers():
    wrong = []
    for path in PACKAGE.glob("*.py"):
        rank = LAYER_OF[path.stem]
        for imported in _imports(path):
            target = _top_module(imported)
            if target in LAYER_OF and LAYER_OF[target] > rank:
                wrong.append(f"{path.stem} imports {imported}")
    assert wrong == []


def test_the_sandbox_imports_nothing_from_the_client_side():
    wrong = []
    for path in (PACKAGE / "sandbox").glob("*.py"):
        for imported in _imports(path):
            if not imported.startswith("fragment_bulk.sandbox"):
                wrong.append(f"sandbox/{path.name} imports {imported}")
    assert wrong == []
    # And it never imports the libraries only the client side uses.
    for path in (PACKAGE / "sandbox").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import pandas" not in text and "import tenacity" not in text, path.name
