"""Budgets on what repeated questions about one person can reveal (核验次数限制).

A verify answers only ``match`` / ``no_match``, and a predicate only ``true`` / ``false``; but a
system that may ask without limit turns either into an oracle: claimed birth dates one after the
other until one matches, ``age_at_least(N)`` for N = 75, 37, 56, … until the age is known. Two
budgets close that, each per (system, subject, field) over a sliding window
(:class:`VerifyBudget`):

- **no_match** — at most ``no_match`` ``no_match`` answers about one field of one subject to one
  system. Once spent, a verify that claims that field is refused as a whole: nothing is read or
  compared, HTTP 429 ``verify_budget_exhausted`` with ``Retry-After``.
- **arguments** — at most ``distinct_arguments`` distinct predicate arguments over one field
  (``age_at_least(6)`` and ``age_at_least(18)`` are two over ``household.birth_date``; asking one
  again is free), through query or verify. A request that would pass it is refused as a whole:
  HTTP 429 ``predicate_budget_exhausted``.

Every refusal is an audit entry (outcome ``budget_exhausted``), so auditors see it (an anomaly in
the audit statistics) and the citizen sees the attempt in their access list.

The counters live in the hub database (``verify_budget``), one row per (system, subject
pseudonym, field, counter) holding the times of the answers still in the window (and, for
arguments, a keyed digest of each argument): never an ID number, a claimed value or an
argument in clear. They are read and written inside the audit batch transaction, rows locked
(``SELECT … FOR UPDATE``), and every spend re-checks the limit, so concurrent requests on several
workers cannot spend one budget twice.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from exchange.db import upsert_insert
from exchange.query.errors import BudgetExhausted, PredicateBudgetExhausted, VerifyBudgetExhausted
from exchange.query.models import Counter, VerifyBudgetCounter
from policies.model import Derivation

__all__ = [
    "BUDGET_EXHAUSTED",
    "BudgetLedger",
    "Question",
    "Refusal",
    "VerifyBudget",
]


BUDGET_EXHAUSTED = "budget_exhausted"
"""The audit outcome of a request a budget refused (the audit statistics flag it)."""


@dataclass(frozen=True)
class VerifyBudget:
    """The limits (see the module docstring). One object, handed to ``ExchangePipeline``."""

    no_match: int = 5
    distinct_arguments: int = 4
    window: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.no_match < 1 or self.distinct_arguments < 1:
            raise ValueError("a budget allows at least one answer")
        if self.window <= timedelta(0):
            raise ValueError("the budget window must be positive")


@dataclass(frozen=True)
class Question:
    """One thing a request asks that a budget limits: a compared claim (no_match) or a
    predicate argument (arguments, ``tag`` its digest) about ``field``."""

    field: str
    counter: Counter
    tag: str = ""


@dataclass(frozen=True)
class Refusal:
    counter: Counter
    field: str
    retry_after: int  # seconds until the window frees an answer

    @property
    def reason(self) -> str:
        return _ERRORS[self.counter].code

    def error(self, extensions: dict[str, Any]) -> BudgetExhausted:
        what = "non-matching claims" if self.counter is Counter.NO_MATCH else "distinct arguments"
        return _ERRORS[self.counter](
            f"the {what} about {self.field} for this person are used up for now; "
            "ask again after Retry-After seconds",
            retry_after=self.retry_after,
            extensions=extensions,
        )


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


_ERRORS: dict[Counter, type[BudgetExhausted]] = {
    Counter.NO_MATCH: VerifyBudgetExhausted,
    Counter.ARGUMENTS: PredicateBudgetExhausted,
}


_Key = tuple[str, str, str, str]


class BudgetLedger:
    """Reads and spends the budgets of :class:`VerifyBudget` in the hub database. The caller
    owns the transaction (the audit batch), as everywhere."""

    def __init__(
        self, budget: VerifyBudget, key: bytes, mac: Callable[[bytes, bytes], bytes] | None = None
    ) -> None:
        self.budget = budget
        self._key = key
        self._mac = mac or _hmac_sha256  # the crypto profile's: HMAC-SM3 under gm

    def argument_tag(self, derivation: Derivation) -> str:
        """A keyed digest of a predicate and its argument (the row never holds the argument)."""
        text = f"{derivation.predicate}({derivation.argument})".encode()
        return self._mac(self._key, b"budget-argument:" + text).hex()[:32]

    def refusal(
        self,
        session: Session,
        system: str,
        subject: str,
        questions: Iterable[Question],
        now: datetime,
        *,
        lock: bool,
    ) -> Refusal | None:
        """The budget these questions would pass, if any (the first, in field order). With
        *lock*, the rows stay locked until the caller's commit."""
        asked = _grouped(questions)
        if not asked:
            return None
        rows = self._rows(session, system, subject, asked, lock=lock)
        for (field, counter), tags in sorted(asked.items()):
            marks = self._live(rows.get((system, subject, field, counter.value)), now)
            if counter is Counter.NO_MATCH and len(marks) >= self.budget.no_match:
                return self._refused(counter, field, marks, now)
            if counter is Counter.ARGUMENTS:
                known = {tag for _, tag in marks}
                if len(known | set(tags)) > self.budget.distinct_arguments:
                    return self._refused(counter, field, marks, now)
        return None

    def spend(
        self,
        session: Session,
        system: str,
        subject: str,
        spent: Iterable[Question],
        now: datetime,
    ) -> Refusal | None:
        """Count *spent* (each no_match answered, each argument answered); a :class:`Refusal`
        instead if that would pass a limit (the caller then answers nothing and rolls back)."""
        asked = _grouped(spent)
        if not asked:
            return None
        _ensure_rows(session, system, subject, asked, now)
        rows = self._rows(session, system, subject, asked, lock=True)
        for (field, counter), tags in sorted(asked.items()):
            row = rows[(system, subject, field, counter.value)]
            marks = self._live(row, now)
            stamp = now.timestamp()
            if counter is Counter.NO_MATCH:
                marks.extend([stamp, ""] for _ in tags)  # one mark per no_match answered
                limit = self.budget.no_match
            else:
                known = {tag for _, tag in marks}
                marks.extend([stamp, tag] for tag in sorted(set(tags) - known))
                limit = self.budget.distinct_arguments
            if len(marks) > limit:
                return self._refused(counter, field, marks[:limit], now)
            row.marks = marks
            row.updated_at = now
        return None

    def sweep(self, session: Session, now: datetime) -> int:
        """Delete the rows whose every mark has left the window; how many."""
        return sweep_counters(session, now, self.budget.window)

    # -- helpers ---------------------------------------------------------------------------

    def _rows(
        self,
        session: Session,
        system: str,
        subject: str,
        asked: Mapping[tuple[str, Counter], list[str]],
        *,
        lock: bool,
    ) -> dict[_Key, VerifyBudgetCounter]:
        statement = select(VerifyBudgetCounter).where(
            VerifyBudgetCounter.system_id == system,
            VerifyBudgetCounter.subject == subject,
            VerifyBudgetCounter.field.in_(sorted({field for field, _ in asked})),
            VerifyBudgetCounter.counter.in_(sorted({counter.value for _, counter in asked})),
        )
        if lock:
            statement = statement.with_for_update()
        found = session.scalars(statement.execution_options(populate_existing=True))
        return {(r.system_id, r.subject, r.field, r.counter): r for r in found}

    def _live(self, row: VerifyBudgetCounter | None, now: datetime) -> list[list[Any]]:
        if row is None:
            return []
        since = (now - self.budget.window).timestamp()
        return [[at, tag] for at, tag in row.marks if at > since]

    def _refused(
        self, counter: Counter, field: str, marks: list[list[Any]], now: datetime
    ) -> Refusal:
        window = self.budget.window.total_seconds()
        frees = min((at for at, _ in marks), default=now.timestamp()) + window
        return Refusal(counter, field, max(1, math.ceil(frees - now.timestamp())))


def _grouped(questions: Iterable[Question]) -> dict[tuple[str, Counter], list[str]]:
    """Questions by (field, counter), each with its tags (one per question)."""
    grouped: dict[tuple[str, Counter], list[str]] = {}
    for question in questions:
        grouped.setdefault((question.field, question.counter), []).append(question.tag)
    return grouped


def _ensure_rows(
    session: Session,
    system: str,
    subject: str,
    asked: Mapping[tuple[str, Counter], list[str]],
    now: datetime,
) -> None:
    """An empty row for each budget about to be spent (``INSERT … ON CONFLICT DO NOTHING``,
    so two workers creating it at once both go on to lock the one row)."""
    values: list[dict[str, Any]] = [
        {
            "system_id": system,
            "subject": subject,
            "field": field,
            "counter": counter.value,
            "marks": [],
            "updated_at": now,
        }
        for field, counter in sorted(asked)
    ]
    insert = upsert_insert(session, VerifyBudgetCounter)
    session.execute(insert.values(values).on_conflict_do_nothing())


def sweep_counters(session: Session, now: datetime, window: timedelta) -> int:
    """Delete the budget rows whose every mark has left ``window`` (the ``sweep.budgets`` job);
    how many."""
    result = session.execute(
        delete(VerifyBudgetCounter).where(VerifyBudgetCounter.updated_at <= now - window)
    )
    return int(getattr(result, "rowcount", 0) or 0)
