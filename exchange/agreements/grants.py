"""What the exchange asks of the agreements: the grants in force for a system, and a per-day
use counter for daily quotas. The caller commits.

The use count in a :class:`~policies.model.Grant` is a snapshot taken when the request is
decided; many requests can be decided on the same snapshot. The quota is enforced by
:func:`take_use`, inside the audit transaction: it counts a use only while the quota allows,
in one atomic statement, so no concurrency (threads, workers, hubs on one database) lets more
uses through than the quota.

An approved agreement counts only if :class:`~exchange.agreements.lifecycle.AgreementCheck`
finds nothing wrong with it (its signed terms verify and equal the row, and its newest
lifecycle entry in the audit log is about those terms and leaves it approved); signatures are
checked once per process. :func:`checked_grants` says why each one that does not count was
left out."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from exchange.agreements.errors import AgreementError
from exchange.agreements.lifecycle import AgreementCheck
from exchange.agreements.models import Agreement, AgreementStatus, AgreementUsage
from exchange.agreements.workdays import china_day
from exchange.changes import Cached, Domain, HubChange
from exchange.db import upsert_insert
from policies.model import Grant, Release, RowCondition

__all__ = [
    "UnreliedAgreement",
    "active_grants",
    "checked_grants",
    "count_use",
    "grant_of",
    "in_force_at",
    "in_force_locked",
    "relied_locked",
    "take_use",
    "take_use_within",
    "unchanged_since",
]

_CHECK = AgreementCheck()
"""The process's check of agreement rows (its signature cache is shared by every request)."""


@dataclass(frozen=True)
class UnreliedAgreement:
    """An agreement in force by its row that the hub may not rely on, what it would have
    granted (per its row), and why."""

    agreement_id: str
    reason: str
    resource: str
    fields: frozenset[str]
    purposes: frozenset[str]


def _in_force(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """An agreement is in force when approved and ``now`` lies in its validity."""
    return (
        Agreement.status == AgreementStatus.APPROVED,
        Agreement.valid_from <= now,
        Agreement.valid_until.is_(None) | (Agreement.valid_until > now),
    )


def active_grants(session: Session, *, system: str, now: datetime) -> list[Grant]:
    """The approved agreements of ``system`` in force at ``now`` that the hub may rely on,
    with today's use count."""
    return checked_grants(session, system=system, now=now)[0]


def checked_grants(
    session: Session, *, system: str, now: datetime, resources: Iterable[str] | None = None
) -> tuple[list[Grant], list[UnreliedAgreement]]:
    """:func:`active_grants`, and each agreement in force by its row that the hub may not rely
    on (forged, edited, or not approved according to the audit log), with why.

    A system's approved agreements are read and checked once per change of the agreements
    (:mod:`exchange.changes`: a decision, a revocation, an expiry, an edit at the SQL prompt, an
    agreement entry appended to the log); what is in force is then decided on ``now``, and only
    the day's use count of an agreement with a quota is read on every call. Given the
    *resources* a request asks of, only the agreements over those are returned (and counted)."""
    asked = None if resources is None else frozenset(resources)
    standing = [
        s
        for s in _STANDING.get(session, system)
        if s.in_force(now) and (asked is None or s.resource in asked)
    ]
    quota_bound = sorted(
        s.agreement_id for s in standing if s.grant is not None and s.grant.daily_quota is not None
    )
    used = _used_on(session, quota_bound, china_day(now)) if quota_bound else {}
    grants = [
        replace(s.grant, used_today=used.get(s.agreement_id, 0))
        for s in standing
        if s.grant is not None
    ]
    unrelied = [s.unrelied for s in standing if s.unrelied is not None]
    return grants, unrelied


@dataclass(frozen=True)
class _Standing:
    """An approved agreement of a system as last read and checked: its grant, or why the hub
    may not rely on it."""

    agreement_id: str
    resource: str
    valid_from: datetime
    valid_until: datetime | None
    grant: Grant | None
    unrelied: UnreliedAgreement | None

    def in_force(self, now: datetime) -> bool:
        return in_force_at(self.valid_from, self.valid_until, now)


def in_force_at(valid_from: datetime, valid_until: datetime | None, now: datetime) -> bool:
    """Whether a validity from *valid_from* until *valid_until* (open-ended when None) holds at
    *now*, as :func:`_in_force` says it in SQL."""
    return valid_from <= now and (valid_until is None or now < valid_until)


def _read_standing(session: Session, system: str) -> tuple[_Standing, ...]:
    """Every approved agreement of *system* with a validity, checked (:class:`AgreementCheck`)."""
    rows = session.scalars(
        select(Agreement)
        .where(
            Agreement.system_id == system,
            Agreement.status == AgreementStatus.APPROVED,
            Agreement.valid_from.is_not(None),
        )
        .order_by(Agreement.id)
    ).all()
    problems = _CHECK.problems(session, rows)
    standing = []
    for row in rows:
        valid_from = row.valid_from
        if valid_from is None:  # excluded by the statement; for the type checker
            continue
        problem = problems.get(row.id)
        unrelied = None
        if problem is not None:
            unrelied = UnreliedAgreement(
                row.id,
                problem,
                row.resource_code,
                frozenset(row.granted or ()),
                frozenset(row.purposes),
            )
        grant = grant_of(row) if problem is None else None
        standing.append(
            _Standing(row.id, row.resource_code, valid_from, row.valid_until, grant, unrelied)
        )
    return tuple(standing)


_STANDING: Cached[str, tuple[_Standing, ...]] = Cached(Domain.AGREEMENTS, _read_standing)
"""Each system's approved agreements, read and checked once per change of the agreements."""


def _used_on(session: Session, ids: Sequence[str], day: date) -> dict[str, int]:
    """The use counts of *ids* on *day* (one statement)."""
    rows = session.connection().execute(_USED_ON, {"day": day, "ids": list(ids)})
    return {agreement_id: count for agreement_id, count in rows}


_USAGE = cast(Table, AgreementUsage.__table__)
_USED_ON = select(_USAGE.c.agreement_id, _USAGE.c.count).where(
    _USAGE.c.day == bindparam("day"), _USAGE.c.agreement_id.in_(bindparam("ids", expanding=True))
)
"""Built once, on the table: building a statement per call costs more than running it."""


_CHANGES = cast(Table, HubChange.__table__)
_LOCKED_STAMP = (
    select(_CHANGES.c.stamp)
    .where(_CHANGES.c.domain == Domain.AGREEMENTS.value)
    .with_for_update(read=True)
)


def unchanged_since(session: Session, stamp: str | None) -> bool:
    """Whether no agreement changed (no row, no agreement entry in the log) since the
    agreements' *stamp* was read (:mod:`exchange.changes`). The stamp row is read locked for
    share until the caller's commit: on PostgreSQL a change in progress (which replaces the
    stamp under its own lock) commits first and is seen, or waits for the caller's commit, as
    with :func:`relied_locked`'s row locks; SQLite has one writer at a time."""
    if stamp is None:
        return False
    now_stamp = session.connection().execute(_LOCKED_STAMP).scalar()
    return now_stamp == stamp


def in_force_locked(session: Session, ids: Iterable[str], now: datetime) -> set[str]:
    """Which of *ids* are still in force and may be relied on (:func:`relied_locked`)."""
    return relied_locked(session, ids, now)[0]


def relied_locked(
    session: Session, ids: Iterable[str], now: datetime
) -> tuple[set[str], dict[str, str]]:
    """Which of *ids* are still in force and may be relied on, their rows locked for share
    until the caller's commit (a revocation either committed before, or waits); and why each
    one in force by its row may not be relied on."""
    rows = session.scalars(
        select(Agreement)
        .where(Agreement.id.in_(sorted(ids)), *_in_force(now))
        .with_for_update(read=True)
    ).all()
    problems = _CHECK.problems(session, rows)
    return {row.id for row in rows if row.id not in problems}, problems


def grant_of(agreement: Agreement, used_today: int = 0) -> Grant:
    """The policy engine's view of an approved agreement."""
    if agreement.valid_from is None or agreement.granted is None:
        raise AgreementError(f"agreement {agreement.id} is not approved")
    condition = agreement.row_condition
    return Grant(
        agreement_id=agreement.id,
        system=agreement.system_id,
        consumer_department=agreement.consumer_department,
        resource=agreement.resource_code,
        purposes=frozenset(agreement.purposes),
        legal_basis=agreement.legal_basis,
        fields=MappingProxyType(
            {f: None if r is None else Release(r) for f, r in agreement.granted.items()}
        ),
        valid_from=agreement.valid_from,
        valid_until=agreement.valid_until,
        row_condition=RowCondition(condition["field"], condition["prefix"]) if condition else None,
        daily_quota=agreement.daily_quota,
        used_today=used_today,
        requires_consent=agreement.requires_consent,
    )


def count_use(session: Session, agreement_id: str, now: datetime) -> int:
    """Count one use of an agreement on ``now``'s China day; return that day's count.

    One atomic upsert (``INSERT … ON CONFLICT DO UPDATE``), so concurrent workers never lose a
    count on PostgreSQL or SQLite. No quota is checked here: see :func:`take_use`. The caller
    commits.
    """
    statement = (
        _insert(session, agreement_id, china_day(now), count=1)
        .on_conflict_do_update(
            index_elements=[AgreementUsage.agreement_id, AgreementUsage.day],
            set_={"count": AgreementUsage.count + 1},
        )
        .returning(AgreementUsage.count)
    )
    count: int = session.execute(statement).scalar_one()
    return count


def take_use(session: Session, agreement_id: str, now: datetime) -> bool:
    """Count one use of an agreement on ``now``'s China day if its daily quota has room;
    whether it had (an agreement without a quota always has).

    The decisive quota check: make sure the day's row exists, then one conditional
    ``UPDATE … SET count = count + 1 WHERE count < quota`` against the quota as stored now; it
    counted if it changed the row. On PostgreSQL the update locks the row until the commit and a
    concurrent one waits, then re-checks its condition on the committed count; SQLite has one
    writer at a time. The caller commits.
    """
    day = china_day(now)
    session.execute(_insert(session, agreement_id, day, count=0).on_conflict_do_nothing())
    quota = select(Agreement.daily_quota).where(Agreement.id == agreement_id).scalar_subquery()
    counted = session.scalar(
        update(AgreementUsage)
        .where(
            AgreementUsage.agreement_id == agreement_id,
            AgreementUsage.day == day,
            quota.is_(None) | (AgreementUsage.count < quota),
        )
        .values(count=AgreementUsage.count + 1)
        .returning(AgreementUsage.count)
        .execution_options(synchronize_session=False)
    )
    return counted is not None


def take_use_within(session: Session, agreement_id: str, now: datetime, quota: int | None) -> bool:
    """:func:`take_use` against the *quota* of the agreement's checked terms (a grant read
    under a stamp :func:`unchanged_since` has just confirmed), in one statement: ``INSERT …
    ON CONFLICT DO UPDATE SET count = count + 1 WHERE count < quota RETURNING count``, which
    returns nothing when the day's quota is used up. The conflicting row is locked until the
    commit on PostgreSQL; SQLite has one writer at a time. The caller commits."""
    if quota is not None and quota < 1:
        return False
    connection = session.connection()
    statement = _use_within(connection.dialect.name, bounded=quota is not None)
    values = {"agreement": agreement_id, "day": china_day(now), "quota": quota}
    return connection.execute(statement, values).first() is not None


@functools.cache
def _use_within(dialect: str, *, bounded: bool) -> Any:
    """The statement of :func:`take_use_within`, built once per dialect (on the table, not
    the mapped class: the ORM's insert machinery costs ten times the statement)."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        make(_USAGE)
        .values(agreement_id=bindparam("agreement"), day=bindparam("day"), count=1)
        .on_conflict_do_update(
            index_elements=[_USAGE.c.agreement_id, _USAGE.c.day],
            set_={"count": _USAGE.c.count + 1},
            where=(_USAGE.c.count < bindparam("quota")) if bounded else None,
        )
        .returning(_USAGE.c.count)
    )


def _insert(
    session: Session, agreement_id: str, day: date, *, count: int
) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` the day's row, in the dialect that knows ``ON CONFLICT``."""
    return upsert_insert(session, AgreementUsage).values(
        agreement_id=agreement_id, day=day, count=count
    )
