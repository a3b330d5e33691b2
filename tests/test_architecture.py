"""The package's layering, as docs/architecture.md draws it: imports point down the layers, the CLI imports only
what each layer offers it, and no import cycles.

A checker that fed nothing but the real graph would pass by accident, so each rule is also shown catching a
synthetic graph that breaks it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "seedprints"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _without_type_checking(tree: ast.Module) -> ast.Module:
    """``tree`` with the bodies of ``if TYPE_CHECKING:`` blocks emptied."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = [ast.Pass()]
    return tree


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its body, at run time (imports under ``if
    TYPE_CHECKING:`` are for annotations only and left out; ``from pkg import mod`` counts as ``pkg.mod``;
    ``from seedprints import __version__`` reads a constant, not the public face, and counts as nothing)."""
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(_without_type_checking(ast.parse(path.read_text()))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    stem = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*stem, *([base] if base else [])])
                if base == "seedprints" and all(alias.name == "__version__" for alias in node.names):
                    continue
                submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in files]
                targets = submodules if len(submodules) == len(node.names) else [base, *submodules]
            else:
                continue
            graph[name].update(t for t in targets if t in files and t != name)
    return graph


# The layers, top to bottom (docs/architecture.md, "The layers"). A module may import modules of its own layer
# and of the layers below; never of a layer above. Groups that share a layer are siblings and do not import each
# other. A name matches a module and everything under it; "seedprints" alone is the package's own __init__.
LAYERS: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("cli", (("seedprints.cli", "seedprints.__main__"),)),
    ("demo", (("seedprints.demo",),)),  # a leaf above the zoo: trains zoo models, runs every test on them
    ("zoo", (("seedprints.zoo",),)),  # the harness: reaches the library through the face and the names below
    ("face", (("seedprints", "seedprints.api"),)),
    ("workflows", (("seedprints.claims", "seedprints.fleet", "seedprints.seeds", "seedprints.audit",
                    "seedprints.bundle", "seedprints.registering"),)),
    ("search", (("seedprints.search",),)),
    ("pipeline", (("seedprints.pipeline", "seedprints.rounds", "seedprints.fingerprint_run"),)),
    ("storage | model", (("seedprints.registry",), ("seedprints.model",))),
    ("core", (("seedprints.fingerprint", "seedprints.probes", "seedprints.probe_files", "seedprints.encoding",
               "seedprints.options",
               "seedprints.inputs", "seedprints.output_paths",
               "seedprints.tempfiles", "seedprints.progress", "seedprints.machine", "seedprints.lazy_names",
               "seedprints.resume", "seedprints.hub", "seedprints.signing", "seedprints.reports"),)),
    ("stats", (("seedprints.stats",),)),
    ("base", (("seedprints.errors", "seedprints.naming"),)),  # what every message needs: the errors, a setting's name
)

# What the CLI may import of the layers below it: the faces and entry points each layer offers. Everything else
# (encoding, resume, model/, a registry backend, the search's planning and screen, stats/ but its defaults) is
# internal: a verb reaches it through one of these.
CLI_MAY_IMPORT = (
    "seedprints.cli", "seedprints", "seedprints.api",
    "seedprints.demo",
    "seedprints.zoo.build", "seedprints.zoo.evaluate", "seedprints.zoo.identify_eval", "seedprints.zoo.seedcurve",
    "seedprints.zoo.summary",
    "seedprints.claims.running", "seedprints.claims.outcomes", "seedprints.claims.bundles", "seedprints.claims.fleet",
    "seedprints.fleet.driver", "seedprints.fleet.manifest", "seedprints.fleet.task", "seedprints.seeds",
    "seedprints.audit", "seedprints.bundle.layout", "seedprints.bundle.write", "seedprints.bundle.verify",
    "seedprints.bundle.extract", "seedprints.bundle.evidence", "seedprints.registering",
    "seedprints.search.identification", "seedprints.search.index", "seedprints.search.matrix",
    "seedprints.pipeline", "seedprints.fingerprint_run",
    "seedprints.registry",  # the package's face only: Registry, RegistryLocation, the input checks
    "seedprints.fingerprint", "seedprints.probes", "seedprints.options", "seedprints.naming", "seedprints.errors",
    "seedprints.output_paths", "seedprints.progress", "seedprints.hub", "seedprints.signing", "seedprints.reports",
    "seedprints.stats.defaults",
)
_CLI_FACES = ("seedprints", "seedprints.registry")  # in CLI_MAY_IMPORT a package's __init__ alone, not its modules


def _matches(module: str, name: str, faces: tuple[str, ...] = ("seedprints",)) -> bool:
    """Whether ``name`` covers ``module``: the module itself or one under it (``faces``: only itself)."""
    if name in faces:
        return module == name
    return module == name or module.startswith(name + ".")


def layer_of(module: str) -> tuple[int, int]:
    """(layer index from the top, sibling group within it) of ``module``; KeyError for a module the list lacks."""
    for index, (_, groups) in enumerate(LAYERS):
        for group, names in enumerate(groups):
            if any(_matches(module, name) for name in names):
                return index, group
    raise KeyError(f"{module} is in no layer; add it to LAYERS and to docs/architecture.md")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that points up a layer or across to a sibling group, as 'importer -> imported (why)'."""
    found = []
    for module in sorted(graph):
        here = layer_of(module)
        for target in sorted(graph[module]):
            there = layer_of(target)
            if there[0] < here[0]:
                found.append(f"{module} -> {target} (up from {LAYERS[here[0]][0]} to {LAYERS[there[0]][0]})")
            elif there[0] == here[0] and there[1] != here[1]:
                found.append(f"{module} -> {target} (across siblings in {LAYERS[here[0]][0]})")
    return found


def cli_internal_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(CLI module, internal module) for every import of the CLI outside :data:`CLI_MAY_IMPORT`."""
    return {(module, target) for module in graph if _matches(module, "seedprints.cli")
            for target in graph[module] if not any(_matches(target, name, _CLI_FACES) for name in CLI_MAY_IMPORT)}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_every_module_has_a_layer():
    for module in import_graph():
        layer_of(module)


def test_imports_point_down_the_layers():
    assert upward_imports(import_graph()) == []


def test_the_cli_imports_no_internal_module():
    assert cli_internal_imports(import_graph()) == set()


def test_the_layer_check_catches_an_upward_import():
    graph = {"seedprints.pipeline": {"seedprints.model.load"}, "seedprints.model.load": {"seedprints.api"},
             "seedprints.api": set()}
    assert upward_imports(graph) == ["seedprints.model.load -> seedprints.api (up from storage | model to face)"]


def test_the_layer_check_catches_an_import_between_siblings():
    graph = {"seedprints.registry.store": {"seedprints.model.fit"}, "seedprints.model.fit": set()}
    assert upward_imports(graph) == ["seedprints.registry.store -> seedprints.model.fit (across siblings in storage | model)"]


def test_the_cli_check_catches_an_internal_import():
    graph = {"seedprints.cli.compare": {"seedprints.pipeline", "seedprints.registry", "seedprints.registry.sqlite_db",
                                        "seedprints.stats.lineage"}}
    assert cli_internal_imports(graph) == {("seedprints.cli.compare", "seedprints.registry.sqlite_db"),
                                           ("seedprints.cli.compare", "seedprints.stats.lineage")}


def test_the_root_package_is_its_init_alone():
    assert layer_of("seedprints") == layer_of("seedprints.api") != layer_of("seedprints.errors")


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_type_only_imports_do_not_count():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\nimport y\n")
    imported = [alias.name for node in ast.walk(_without_type_checking(tree)) if isinstance(node, ast.Import)
                for alias in node.names]
    assert imported == ["y"]


VERB_STATEMENTS = 25  # a verb parses its options, calls the library and prints; more is workflow to move down


def _verbs(app, path: str = "seedprints") -> dict[str, object]:
    """Every verb of the typer ``app`` (sub-apps included) by its command line, as the function the verb runs."""
    verbs = {f"{path} {command.name or command.callback.__name__}": inspect.unwrap(command.callback)
             for command in app.registered_commands}
    for group in app.registered_groups:
        verbs.update(_verbs(group.typer_instance, f"{path} {group.name}"))
    return verbs


def statements(function) -> int:
    """The statements inside ``function``'s body, nested ones included (its own ``def`` not counted)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return sum(isinstance(node, ast.stmt) for node in ast.walk(tree)) - 1


def test_every_verb_is_parse_call_print():
    from seedprints.cli import app

    verbs = _verbs(app)
    assert len(verbs) > 20
    assert {name: n for name, function in verbs.items() if (n := statements(function)) > VERB_STATEMENTS} == {}


def test_the_statement_count_counts_nested_statements():
    def verb(x):
        if x:
            for _ in range(2):
                x += 1
        return x

    assert statements(verb) == 4
