"""One code, one status, one class: the error tree has no homonyms, and docs/errors.md lists it.

Every deliberate error is a :class:`schemas.TongbanError` subclass whose ``code`` is part of the
HTTP contract (CONTRACT.md, ADR 0003). A client branches on the code, so a code means one thing:
it always comes with the same HTTP status, and one class answers with it. A class name, too,
names one class; with two of them an ``import`` picks one without a word (two
``PurposeNotRegistered`` once answered 403 and 422 under the same code).

The tree is found by importing every module of the five packages (``exchange.migrations`` aside:
Alembic scripts, no errors) and walking the subclasses recursively; classes defined outside the
packages (in tests) do not count. The web framework's own answers (``exchange.api.problems``:
``not_found``, ``method_not_allowed``, ..., ``internal_error``) take part in the code → status
check, since a client meets them in the same ``code`` member.

docs/errors.md is written from the same walk, and the last test fails when it is out of date.
Regenerate it with either of::

    TONGBAN_WRITE_ERRORS_DOC=1 ./dev test tests/test_error_codes.py
    .venv/bin/python -m tests.test_error_codes
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from schemas import TongbanError

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "errors.md"
PACKAGES = ("schemas", "catalogue", "policies", "adapters", "exchange")
SKIPPED = frozenset({"exchange.migrations"})
WRITE = "TONGBAN_WRITE_ERRORS_DOC"
REGENERATE = (
    f"{WRITE}=1 ./dev test tests/test_error_codes.py "
    "(or .venv/bin/python -m tests.test_error_codes)"
)
FRAMEWORK = "exchange.api.problems"
_SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


# -- the tree ---------------------------------------------------------------------------------


def _walk(package: ModuleType) -> Iterator[str]:
    """The dotted names of *package*'s modules, recursively, each imported on the way."""
    for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        if info.name in SKIPPED:
            continue
        module = importlib.import_module(info.name)
        yield info.name
        if info.ispkg:
            yield from _walk(module)


@cache
def project_modules() -> tuple[str, ...]:
    """Every module of the five packages, imported, so that every error class is defined."""
    names: list[str] = []
    for name in PACKAGES:
        names.append(name)
        names.extend(_walk(importlib.import_module(name)))
    return tuple(names)


@cache
def error_classes() -> tuple[type[TongbanError], ...]:
    """Every subclass of :class:`TongbanError` the packages define, by module and name."""
    project_modules()
    found: set[type[TongbanError]] = set()
    pending: list[type[TongbanError]] = [TongbanError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            if subclass not in found:
                found.add(subclass)
                pending.append(subclass)
    ours = [c for c in found if c.__module__.partition(".")[0] in PACKAGES]
    return tuple(sorted(ours, key=lambda c: (c.__module__, c.__qualname__)))


@cache
def framework_codes() -> dict[str, tuple[int, str, str]]:
    """The codes ``exchange.api.problems`` answers framework errors with: code → (status,
    title, detail)."""
    from exchange.api import problems

    codes = {code: (status, title, detail) for status, (code, title, detail) in _http_codes()}
    internal = problems._INTERNAL
    codes[internal["code"]] = (internal["status"], internal["title"], internal["detail"])
    return codes


def _http_codes() -> list[tuple[int, tuple[str, str, str]]]:
    from exchange.api import problems

    return sorted(problems._HTTP_CODES.items())


def qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# -- no homonyms ------------------------------------------------------------------------------


def test_the_tree_is_found() -> None:
    names = {cls.__name__ for cls in error_classes()}
    assert {"InvalidDescriptor", "AdapterError", "MalformedRequest", "InvalidSubjectId"} <= names
    assert "exchange.api.problems" in project_modules()


def test_every_error_sets_a_snake_case_code_of_its_own() -> None:
    """A class without its own ``code`` answers with its parent's, which makes two classes of
    one code (or, right under the root, claims the framework's ``internal_error``)."""
    inheriting = [
        f"{qualified(cls)} answers with {cls.code!r} of {_code_owner(cls)}"
        for cls in error_classes()
        if "code" not in vars(cls)
    ]
    _refuse("errors that set no code of their own", inheriting)
    codes = [*(cls.code for cls in error_classes()), *framework_codes()]
    _refuse("codes that are not snake_case", [c for c in codes if not _SNAKE.fullmatch(c)])


def test_one_code_has_one_status() -> None:
    answers: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for cls in error_classes():
        answers[cls.code][cls.status].append(qualified(cls))
    for code, (status, _, _) in framework_codes().items():
        answers[code][status].append(f"{FRAMEWORK} (framework answer)")
    clashes = [
        f"{code!r}: "
        + "; ".join(f"{status} from {', '.join(owners)}" for status, owners in sorted(by.items()))
        for code, by in sorted(answers.items())
        if len(by) > 1
    ]
    _refuse("codes answered with more than one HTTP status", clashes)


def test_one_code_belongs_to_one_class() -> None:
    owners: dict[str, list[str]] = defaultdict(list)
    for cls in error_classes():
        owners[cls.code].append(f"{qualified(cls)} ({cls.status})")
    clashes = [f"{code!r}: {', '.join(by)}" for code, by in sorted(owners.items()) if len(by) > 1]
    _refuse("codes owned by more than one class", clashes)


def test_no_two_errors_share_a_name() -> None:
    named: dict[str, list[str]] = defaultdict(list)
    for cls in error_classes():
        named[cls.__name__].append(f"{cls.__module__} (code {cls.code!r}, {cls.status})")
    clashes = [f"{name}: {', '.join(by)}" for name, by in sorted(named.items()) if len(by) > 1]
    _refuse("error classes that share a name", clashes)


def _refuse(problem: str, lines: list[str]) -> None:
    if lines:
        pytest.fail(f"{problem}:\n  " + "\n  ".join(lines), pytrace=False)


def _code_owner(cls: type[TongbanError]) -> str:
    for base in cls.__mro__[1:]:
        if "code" in vars(base):
            return qualified(base)
    return "?"  # pragma: no cover - TongbanError itself sets one


# -- docs/errors.md ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One code as docs/errors.md shows it."""

    code: str
    status: int
    title: str
    meaning: str
    defined_in: str


_INTRO = """\
# Error codes

<!-- Written by tests/test_error_codes.py from the error classes; do not edit by hand.
     Regenerate: {regenerate} -->

Every error the hub answers on purpose is an RFC 9457 problem document,
`Content-Type: application/problem+json`:

```json
{{"type": "https://tongban.example/problems/purpose-not-registered",
 "title": "Purpose not registered for this system",
 "status": 403,
 "detail": "this system has not registered the purpose 'minimum-living-allowance'",
 "code": "purpose_not_registered",
 "request_id": "5f0c7a52-8a0e-4d0e-9a52-6f1d2b1c8e07"}}
```

- **`code` is the stable part.** It is part of the contract: branch on it, not on `title` or
  `detail`. One code always comes with the same `status` and means the same thing, and one error
  class answers with it. `type` is derived from it (`_` becomes `-`) and does not resolve yet.
- **`detail` is written to be shown to a person**, and it never holds personal data (no ID
  number, name or value read from a source), SQL, a file path or a stack trace. It names
  catalogue metadata (resources, fields, systems, purposes) where that helps. Its wording may
  change; do not parse it.
- `errors`, when present, lists `{{"pointer", "detail"}}` pairs: an RFC 6901 JSON pointer into
  the request body (or the query parameter) and what is wrong there.
- `request_id` (also the `X-Request-Id` header) is what to quote to the hub's operator.
- Some answers carry more: a 401 has its `WWW-Authenticate` challenge; a 429, and a 503
  `overloaded` (refused before any work), have `Retry-After` and `retry_after`; on
  `/oauth/token` every 4xx also carries the RFC 6749 5.2 `error` and `error_description`.
- The `tongban` command line prints the same `detail` on one line and exits non-zero. Some codes
  are only ever seen there (keys, settings, the audit check); their status is the one the HTTP
  layer would use.

The codes below are grouped by the package that defines them and sorted; "meaning" is the first
sentence of the class's docstring (else its title). A code that is the base of a family (such as
`source_error`) is what the family shares; the hub answers with one of the family's own codes.
"""

_FRAMEWORK_INTRO = """\
Errors of the web framework itself, before any route runs: `exchange.api.problems` answers them
with these codes (anything else unexpected is a bare `internal_error` that says nothing of its
cause, and is logged with the `request_id`). A framework status not listed here would be answered
with the code `http_error`; the hub is not known to give one.
"""


def class_rows() -> dict[str, list[Row]]:
    """The rows of each package's table, by package."""
    rows: dict[str, list[Row]] = defaultdict(list)
    for cls in error_classes():
        row = Row(cls.code, cls.status, cls.title, _meaning(cls), f"`{qualified(cls)}`")
        rows[_package(cls.__module__)].append(row)
    return {package: sorted(rows[package], key=lambda r: r.code) for package in sorted(rows)}


def framework_rows() -> list[Row]:
    classes = {cls.code: cls for cls in error_classes()}
    rows = []
    for code, (status, title, detail) in sorted(framework_codes().items()):
        meaning = _sentence(detail)
        if code in classes:
            meaning += f" The same code as `{qualified(classes[code])}`."
        rows.append(Row(code, status, title, meaning, f"`{FRAMEWORK}`"))
    return rows


def errors_doc() -> str:
    parts = [_INTRO.format(regenerate=REGENERATE)]
    for package, rows in class_rows().items():
        parts.append(f"## `{package}`\n\n{_table(rows)}")
    parts.append(f"## The web framework\n\n{_FRAMEWORK_INTRO}\n{_table(framework_rows())}")
    return "\n".join(parts)


def _table(rows: list[Row]) -> str:
    lines = ["| code | status | title | meaning | defined in |", "|---|---|---|---|---|"]
    lines += [
        f"| `{r.code}` | {r.status} | {_cell(r.title)} | {_cell(r.meaning)} | {r.defined_in} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def _package(module: str) -> str:
    return module if hasattr(sys.modules[module], "__path__") else module.rpartition(".")[0]


def _meaning(cls: type[TongbanError]) -> str:
    doc = vars(cls).get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return _sentence(cls.title)
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    first = re.match(r"(.+?[.!?])(?=\s|$)", paragraph)
    return _sentence(first.group(1) if first else paragraph)


def _sentence(text: str) -> str:
    text = re.sub(r":\w+:`~?([^`]+)`", r"``\1``", text.strip())  # Sphinx roles
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def test_docs_errors_md_lists_every_code() -> None:
    expected = errors_doc()
    if os.environ.get(WRITE):
        DOC.write_text(expected, encoding="utf-8")
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    diff = list(
        difflib.unified_diff(
            actual.splitlines(), expected.splitlines(), "docs/errors.md", "expected", lineterm=""
        )
    )
    shown = "\n".join(diff[:60]) + ("\n..." if len(diff) > 60 else "")
    if diff:
        pytest.fail(
            f"docs/errors.md is out of date; regenerate it: {REGENERATE}\n{shown}", pytrace=False
        )


if __name__ == "__main__":
    DOC.write_text(errors_doc(), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
