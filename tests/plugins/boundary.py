"""pytest plugin: every audit entry the suite appends is checked against its JSON Schema.

Register it with ``pytest_plugins = ["tests.plugins.boundary"]`` in ``tests/conftest.py`` (or
``-p tests.plugins.boundary`` on the command line). For the whole session it wraps
:meth:`exchange.audit.log.AuditLog.append`, the one method every producer of audit entries goes
through, so that the entry a request's work function returns is validated against
``audit-entry.schema.json`` inside the batch transaction, before the log encodes and appends it:

1. an entry that validates is counted and appended as usual (bytes unchanged);
2. an entry that does not is never appended: :class:`BoundaryViolation` is raised in place of
   the entry, so the log hands it back to that request alone, as any failed work function;
3. the violation is recorded, and the report of the test phase during which it happened (setup,
   call or teardown) is turned into a failure that names it, even if the hub swallowed the error
   into a 500;
4. the terminal summary says how many entries were validated and how many were refused (under
   pytest-xdist, the sum over the workers).

Only appends in this process are seen: a hub run as a subprocess (``tests/servers.py``) writes
its entries unchecked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any

import pytest

from exchange.audit.log import AuditLog, EntryWork
from exchange.audit.sink import Receipt
from schemas import AuditEntry, validator

__all__ = ["BoundaryViolation", "Ledger", "validating"]

SCHEMA = "audit-entry"

Append = Callable[[AuditLog, EntryWork], tuple[Receipt, AuditEntry]]


class BoundaryViolation(AssertionError):
    """An audit entry that does not match ``audit-entry.schema.json``; it was not appended."""


class Ledger:
    """What the wrapped appends saw: how many entries were validated, and the violations not
    yet reported against a test. Appends come from many threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.validated = 0
        self.refused = 0
        self._unreported: list[str] = []

    def check(self, entry: Any) -> None:
        """Count *entry*; :class:`BoundaryViolation` (recorded) if it breaks the schema."""
        problems = sorted(
            f"{error.json_path}: {error.message}" for error in validator(SCHEMA).iter_errors(entry)
        )
        with self._lock:
            self.validated += 1
            if not problems:
                return
            self.refused += 1
            request = entry.get("request_id") if isinstance(entry, dict) else None
            message = f"audit entry of request {request} breaks {SCHEMA}.schema.json:\n  " + (
                "\n  ".join(problems)
            )
            self._unreported.append(message)
        raise BoundaryViolation(message)

    def take_unreported(self) -> list[str]:
        with self._lock:
            taken, self._unreported = self._unreported, []
        return taken


def validating(append: Append, ledger: Ledger) -> Append:
    """*append*, with each entry checked by *ledger* before it is appended."""

    def checked_append(log: AuditLog, work: EntryWork) -> tuple[Receipt, AuditEntry]:
        def checked_work(session: Any) -> AuditEntry:
            entry = work(session)
            ledger.check(entry)
            return entry

        return append(log, checked_work)

    checked_append.__wrapped__ = append  # type: ignore[attr-defined]
    return checked_append


_KEY = pytest.StashKey[tuple[Ledger, Append]]()


def pytest_configure(config: pytest.Config) -> None:
    original: Append = AuditLog.append
    ledger = Ledger()
    config.stash[_KEY] = (ledger, original)
    AuditLog.append = validating(original, ledger)  # type: ignore[method-assign,assignment]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _KEY in config.stash:
        _, original = config.stash[_KEY]
        AuditLog.append = original  # type: ignore[method-assign,assignment]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    violations = item.config.stash[_KEY][0].take_unreported()
    if violations:
        text = "\n".join(violations)
        if report.failed:
            report.sections.append((f"audit entries refused ({report.when})", text))
        else:
            report.outcome = "failed"
            report.longrepr = f"refused during {report.when} (tests.plugins.boundary):\n{text}"
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its counts to the controller, which prints the summary."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        ledger = session.config.stash[_KEY][0]
        workeroutput["boundary"] = [ledger.validated, ledger.refused]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller: add a finished worker's counts to this process's."""
    counts = getattr(node, "workeroutput", {}).get("boundary")
    if counts:
        ledger = node.config.stash[_KEY][0]
        with ledger._lock:
            ledger.validated += counts[0]
            ledger.refused += counts[1]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    ledger = config.stash[_KEY][0]
    terminalreporter.write_sep("-", "audit entries (tests.plugins.boundary)")
    terminalreporter.write_line(
        f"{ledger.validated} audit entries validated against {SCHEMA}.schema.json, "
        f"{ledger.refused} refused"
    )
