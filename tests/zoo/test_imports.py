"""The zoo is a leaf: it imports from the core only the names its package lists, and no core module imports it."""

from __future__ import annotations

import ast
from pathlib import Path

from seedprints.zoo import CORE_NAMES

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "seedprints"
MAY_IMPORT_THE_ZOO = {PACKAGE / "demo.py", PACKAGE / "cli" / "zoo.py"}


def _module_name(path: Path) -> str:
    """The dotted name of a module file under ``src/``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_names(path: Path) -> set[str]:
    """Every seedprints name a module imports: ``a.b.name`` for ``from a.b import name``, ``a.b`` for ``import a.b``."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names |= {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if name.split(".")[0] == "seedprints"}


def _is_zoo(name: str) -> bool:
    return name == "seedprints.zoo" or name.startswith("seedprints.zoo.")


def test_the_zoo_imports_only_the_listed_core_names():
    imported = {name for path in sorted((PACKAGE / "zoo").glob("*.py")) for name in _imported_names(path)}
    assert {name for name in imported if not _is_zoo(name)} == set(CORE_NAMES)


def test_core_names_are_listed_once():
    assert len(CORE_NAMES) == len(set(CORE_NAMES))


def test_no_core_module_imports_the_zoo():
    core = [path for path in sorted(PACKAGE.rglob("*.py")) if (PACKAGE / "zoo") not in path.parents]
    importers = {str(path.relative_to(PACKAGE)) for path in core if path not in MAY_IMPORT_THE_ZOO
                 and any(_is_zoo(name) for name in _imported_names(path))}
    assert core
    assert importers == set()


def test_the_parser_finds_imports_at_any_depth():
    """Imports inside functions count too, so neither test above can pass by seeing nothing."""
    assert _imported_names(PACKAGE / "zoo" / "evaluate.py") >= {"seedprints.zoo.plots", "seedprints.api"}
    assert any(_is_zoo(name) for name in _imported_names(PACKAGE / "demo.py"))
