"""The layering of ADR 0001 and the rooms of ``exchange/`` (ADR 0006), checked on the import graph.

The graph is read with :mod:`ast` from every ``.py`` file of the five packages, without importing
anything: ``import a.b``, ``from a import b`` (``a.b`` when it is a module, else ``a``), relative
imports resolved against the importing module, ``importlib.import_module("a.b")`` with a literal
name, and imports inside functions, which bind the module as surely as those at the top.

Imports under ``if TYPE_CHECKING:`` count like any other. A type-only import of a higher layer
is still a lower layer knowing about a higher one, which is what the rules forbid; the failure
message marks such an edge ``[TYPE_CHECKING]`` so it is easy to tell apart. (None exist today.)

Each rule is its own test, and each failure lists the offending ``module -> imported`` edges with
the file and line to look at.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "catalogue", "policies", "adapters", "exchange")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``imported`` (a project module, or a dotted name outside it)."""

    importer: str
    imported: str
    path: Path
    line: int
    type_only: bool

    def __str__(self) -> str:
        where = f"{self.path.relative_to(ROOT)}:{self.line}"
        tag = "  [TYPE_CHECKING]" if self.type_only else ""
        return f"{self.importer} -> {self.imported}  ({where}){tag}"


# -- reading the graph ---------------------------------------------------------------------------


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


@cache
def modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name, is_package = _module_name(path)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found[name] = Module(name, path, is_package, tree)
    return found


def in_project(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def _known_prefix(name: str) -> str:
    """The longest prefix of ``name`` that is a project module (``import a.b.c``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules():
            return candidate
    return name


def _resolve_relative(module: Module, level: int, target: str | None) -> str:
    base = module.package.split(".")
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(module: Module, node: ast.AST) -> Iterator[str]:
    """Every dotted name ``node`` imports; outside the project also ``a.b`` for ``from a import b``
    (so ``from urllib import request`` is seen as ``urllib.request``)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield _known_prefix(alias.name) if in_project(alias.name) else alias.name
    elif isinstance(node, ast.ImportFrom):
        base = (
            _resolve_relative(module, node.level, node.module) if node.level else node.module or ""
        )
        if not in_project(base):
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
            return
        attributes = False
        for alias in node.names:
            if f"{base}.{alias.name}" in modules():
                yield f"{base}.{alias.name}"
            else:
                attributes = True
        if attributes:
            yield _known_prefix(base)
    elif (
        isinstance(node, ast.Call)
        and _dotted(node.func) in {"importlib.import_module", "import_module", "__import__"}
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        name = node.args[0].value
        yield _known_prefix(name) if in_project(name) else name


def _walk(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, type_only
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.body:
                yield statement, True
                yield from _walk(statement, True)
            for statement in child.orelse:
                yield statement, type_only
                yield from _walk(statement, type_only)
        else:
            yield from _walk(child, type_only)


@cache
def edges() -> tuple[Edge, ...]:
    found: set[Edge] = set()
    for module in modules().values():
        for node, type_only in _walk(module.tree):
            for target in _targets(module, node):
                if target != module.name:
                    line = getattr(node, "lineno", 0)
                    found.add(Edge(module.name, target, module.path, line, type_only))
    return tuple(sorted(found, key=lambda e: (e.importer, e.imported, e.line)))


def project_edges() -> list[Edge]:
    return [edge for edge in edges() if in_project(edge.imported)]


def within(name: str, *packages: str) -> bool:
    """``name`` is one of ``packages`` or a module inside one of them."""
    return any(name == package or name.startswith(package + ".") for package in packages)


def one_per_statement(offending: Iterable[Edge]) -> list[Edge]:
    """``from fastapi import Depends, Request`` is one offence, not three (``fastapi``,
    ``fastapi.Depends``, ``fastapi.Request``): keep the shortest name per import statement."""
    kept: dict[tuple[str, int], Edge] = {}
    for edge in offending:
        key = (edge.importer, edge.line)
        if key not in kept or len(edge.imported) < len(kept[key].imported):
            kept[key] = edge
    return list(kept.values())


def report(rule: str, offending: Iterable[object]) -> str:
    lines = sorted({str(item) for item in offending})
    return f"{rule}; {len(lines)} offending:\n  " + "\n  ".join(lines)


# -- 1. ADR 0001: five packages, one direction ---------------------------------------------------

PURE_CATALOGUE = ("catalogue.vocabulary", "catalogue.identifiers")

PACKAGE_RULES = {
    "schemas": ("schemas imports nothing of the project", ("schemas",)),
    "catalogue": ("catalogue imports only schemas", ("catalogue", "schemas")),
    "policies": (
        "policies imports only schemas and catalogue's pure modules (vocabulary, identifiers)",
        ("policies", "schemas", *PURE_CATALOGUE),
    ),
    "adapters": (
        "adapters imports only schemas and catalogue, never policies",
        ("adapters", "schemas", "catalogue"),
    ),
}


@pytest.mark.parametrize("package", list(PACKAGE_RULES))
def test_each_package_imports_only_the_packages_below_it(package: str) -> None:
    rule, allowed = PACKAGE_RULES[package]
    offending = [
        edge
        for edge in project_edges()
        if within(edge.importer, package) and not within(edge.imported, *allowed)
    ]
    assert not offending, report(rule, offending)


def test_nothing_outside_exchange_imports_exchange() -> None:
    offending = [
        edge
        for edge in project_edges()
        if within(edge.imported, "exchange") and not within(edge.importer, "exchange")
    ]
    assert not offending, report("only exchange imports exchange", offending)


# -- 2. policies stay pure -----------------------------------------------------------------------

IO_LIBRARIES = (
    "sqlalchemy",
    "alembic",
    "sqlite3",
    "psycopg",
    "pymysql",
    "httpx",
    "requests",
    "urllib3",
    "fastapi",
    "starlette",
    "socket",
    "ssl",
    "urllib.request",
    "http.client",
    "subprocess",
    "adapters",
    "exchange",
)
CLOCKS = {
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.perf_counter",
}
ENVIRONMENT = {"os.environ", "os.environb", "os.getenv", "os.getenvb"}


def policy_closure() -> list[Module]:
    """``policies`` and every project module importing it runs, parent packages included: what
    a test that imports only ``policies`` loads."""
    seen: set[str] = set()
    todo = [name for name in modules() if within(name, "policies")]
    while todo:
        name = todo.pop()
        if name in seen or name not in modules():
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:end]) for end in range(1, len(parts)))
        todo.extend(edge.imported for edge in project_edges() if edge.importer == name)
    return [modules()[name] for name in sorted(seen)]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _aliases(module: Module) -> dict[str, str]:
    """Local name -> what it stands for: ``dt`` -> ``datetime``, ``now`` -> ``datetime.datetime``
    after ``from datetime import datetime as now``."""
    names: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


@dataclass(frozen=True)
class Use:
    module: str
    name: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.module} uses {self.name}  ({self.path.relative_to(ROOT)}:{self.line})"


def uses(module: Module, wanted: set[str]) -> Iterator[Use]:
    """Every reference (a call, or the function handed on uncalled, e.g. as a default) to one of
    ``wanted``, through whatever alias the module imported it under."""
    aliases = _aliases(module)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute | ast.Name) and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node)
            head, _, rest = dotted.partition(".")
            qualified = ".".join(filter(None, [aliases.get(head, head), rest]))
            if qualified in wanted:
                yield Use(module.name, qualified, module.path, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in wanted:
                    yield Use(module.name, f"{node.module}.{alias.name}", module.path, node.lineno)


def test_policies_reach_no_database_network_or_process() -> None:
    closure = {module.name for module in policy_closure()}
    offending = one_per_statement(
        edge
        for edge in edges()
        if edge.importer in closure and within(edge.imported, *IO_LIBRARIES)
    )
    assert not offending, report(
        "policies (and what they import) use no database, network or subprocess", offending
    )


def test_policies_read_no_environment() -> None:
    offending = [use for module in policy_closure() for use in uses(module, ENVIRONMENT)]
    assert not offending, report("policies read no environment variable", offending)


def test_policies_read_no_clock_they_are_not_handed() -> None:
    offending = [use for module in policy_closure() for use in uses(module, CLOCKS)]
    assert not offending, report("policies read no clock; they are handed the time", offending)


# -- 3. the rooms of exchange/ -------------------------------------------------------------------

INFRASTRUCTURE = (
    "exchange.settings",
    "exchange.db",
    "exchange.errors",
    "exchange.logs",
    "exchange.files",
    "exchange.clock",
    "exchange.changes",
)
"""The loose infrastructure below every room (``app`` and ``hub`` compose; they sit above)."""
HTTP_FRAMEWORKS = ("fastapi", "starlette")


def exchange_edges() -> list[Edge]:
    return [
        edge
        for edge in project_edges()
        if within(edge.importer, "exchange") and within(edge.imported, "exchange")
    ]


def test_the_job_machinery_imports_no_domain() -> None:
    allowed = ("exchange.jobs", *INFRASTRUCTURE)
    offending = [
        edge
        for edge in exchange_edges()
        if within(edge.importer, "exchange.jobs") and not within(edge.imported, *allowed)
    ]
    assert not offending, report(
        "exchange.jobs runs what it is handed and imports no domain", offending
    )


def test_only_the_http_layer_imports_the_web_framework() -> None:
    allowed = ("exchange.api", "exchange.app")
    offending = one_per_statement(
        edge
        for edge in edges()
        if within(edge.imported, *HTTP_FRAMEWORKS) and not within(edge.importer, *allowed)
    )
    assert not offending, report(
        "only exchange.api and exchange.app import fastapi or starlette", offending
    )


def test_only_the_app_and_the_cli_import_the_http_layer() -> None:
    allowed = ("exchange.api", "exchange.app", "exchange.cli")
    offending = [
        edge
        for edge in exchange_edges()
        if within(edge.imported, "exchange.api") and not within(edge.importer, *allowed)
    ]
    assert not offending, report(
        "exchange.api is imported only by exchange.app, exchange.cli and itself", offending
    )


def test_nothing_imports_the_cli() -> None:
    offending = [
        edge
        for edge in exchange_edges()
        if within(edge.imported, "exchange.cli") and not within(edge.importer, "exchange.cli")
    ]
    assert not offending, report("exchange.cli is imported by nothing but itself", offending)


def test_infrastructure_imports_no_domain() -> None:
    allowed = INFRASTRUCTURE
    offending = [
        edge
        for edge in exchange_edges()
        if edge.importer in INFRASTRUCTURE and not within(edge.imported, *allowed)
    ]
    assert not offending, report(
        "exchange's settings, db, errors, logs, files and clock import no room", offending
    )


def room(name: str) -> str:
    """``exchange.<first segment>``: ``exchange.security.keys`` is in ``exchange.security``."""
    return ".".join(name.split(".")[:2])


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; only components with more than one node (there are no self-loops)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_exchange_rooms_import_each_other_without_a_cycle() -> None:
    between = [
        edge
        for edge in exchange_edges()
        if edge.importer != "exchange" and room(edge.importer) != room(edge.imported)
    ]
    graph: dict[str, set[str]] = {}
    for edge in between:
        graph.setdefault(room(edge.importer), set()).add(room(edge.imported))
    cycles = strongly_connected(graph)
    offending = [
        f"cycle {' <-> '.join(component)}: {edge}"
        for component in cycles
        for edge in between
        if room(edge.importer) in component and room(edge.imported) in component
    ]
    assert not cycles, report("no import cycle between the rooms of exchange/", offending)


# -- 4. the client SDK stands alone --------------------------------------------------------------

# gmssl_pyx only for an SM2 private key (a case system of a gm hub signs SM2SM3 assertions;
# cryptography has no SM2, ADR 0008), imported where such a key is loaded.
SDK_THIRD_PARTY = ("httpx", "jwt", "cryptography", "gmssl_pyx")


def test_the_client_sdk_imports_nothing_of_the_project() -> None:
    offending = one_per_statement(
        edge
        for edge in edges()
        if edge.importer == "exchange.client.sdk"
        and edge.imported.split(".")[0] not in sys.stdlib_module_names
        and not within(edge.imported, *SDK_THIRD_PARTY)
    )
    assert not offending, report(
        "exchange/client/sdk.py imports only the standard library, httpx, jwt, cryptography "
        "and (for SM2 keys) gmssl_pyx",
        offending,
    )


# -- the graph itself ----------------------------------------------------------------------------


def test_the_graph_sees_the_whole_project() -> None:
    """Guards the rules above against passing on an empty or misread graph."""
    assert {package for package in PACKAGES if package in modules()} == set(PACKAGES)
    assert len(modules()) > 150
    seen = {(edge.importer, edge.imported) for edge in edges()}
    assert ("exchange.hub", "exchange.security.secrets") in seen  # from a.b import C
    assert ("exchange.hub", "exchange.audit.jobs") in seen  # from a import module
    assert ("policies.engine", "catalogue.vocabulary") in seen
    assert ("exchange.client", "exchange.client.sdk") in seen
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
