"""What moving a hub from the ``intl`` crypto profile to ``gm`` would meet, read from its
database without changing anything (``tongban crypto plan --to gm``; docs/gm.md, "Moving an
`intl` hub to `gm`").

A plan is blocked, in this order, when:

1. the database is recorded under another profile than ``intl`` (the move is ``intl`` → ``gm``
   only, and a database already ``gm`` has nothing to move);
2. the hub looks alive: a scheduled job's run started within :data:`QUIET` of now, or a job run
   is still unfinished, or the audit log's head moved within :data:`QUIET` (a worker serving
   queries appends to it). Tongban keeps no lease of "the hub is serving"; these are what the
   database shows of a live worker, so the operator must stop every ``tongban serve`` and
   ``tongban worker`` first, and wait :data:`QUIET`.

And it lists, without blocking (the department must act, the hub cannot):

- the case systems with an active key that a ``gm`` hub will not take (Ed25519, P-256): each
  must register an SM2 key (``tongban system add --jwk`` with ``"crv": "SM2"``) before it can
  authenticate to the hub under ``gm``;
- how many rows name a citizen by an ``intl`` pseudonym (HMAC-SHA-256), per table: under ``gm``
  pseudonyms are HMAC-SM3, and an ID number is never stored, so these rows cannot be re-keyed
  from the database alone;
- how many rows are sealed under the ``intl`` key schedule (AES-256-GCM), per table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import column, func, inspect, select, table
from sqlalchemy.orm import Session

from catalogue.models import System, SystemKey
from catalogue.vocabulary import SystemStatus
from exchange.audit.models import AuditHead
from exchange.jobs.models import JobRun
from exchange.security.clientauth import client_algorithms_of
from exchange.security.gm.profile_check import recorded_profile

__all__ = ["QUIET", "SEALED", "MigrationPlan", "RefusedKey", "plan_migration", "signs_of_life"]

CHINA: Final = ZoneInfo("Asia/Shanghai")
QUIET: Final = timedelta(minutes=2)
"""How long the database must show no worker's activity: the hub's most frequent jobs run
every few seconds, so two minutes without a run means no scheduler is running."""

SEALED: Final = (
    ("hub_signing_keys", "private_key", "the hub's signing keys"),
    ("cache_data_keys", "wrapped_key", "the source cache's data keys"),
    ("cache_records", "sealed", "the source cache's records"),
    ("corrections", "subject_sealed", "correction requests' ID numbers"),
    ("subscriptions", "secret_sealed", "webhook secrets"),
    ("subscription_events", "sealed", "the subscription outbox's events"),
)
"""What is sealed under the key schedule's AEAD: (table, column, what it is)."""


@dataclass(frozen=True)
class RefusedKey:
    """An active case system's key that a ``gm`` hub does not take."""

    system: str
    department: str
    kid: str
    alg: str


@dataclass
class MigrationPlan:
    """What :func:`plan_migration` found; :attr:`blockers` empty means the move may start."""

    target: str
    recorded: str | None
    blockers: list[str] = field(default_factory=list)
    refused_keys: list[RefusedKey] = field(default_factory=list)
    pseudonymous: dict[str, int] = field(default_factory=dict)
    sealed: dict[str, int] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.blockers


def plan_migration(session: Session, now: datetime, *, target: str = "gm") -> MigrationPlan:
    """The plan of moving this hub's database to *target* (``gm``), as of *now*."""
    plan = MigrationPlan(target=target, recorded=recorded_profile(session))
    if target != "gm":
        plan.blockers.append(f"a hub moves from intl to gm only, not to {target!r}")
    elif plan.recorded != "intl":
        plan.blockers.append(
            f"this hub's data is recorded under {plan.recorded or 'no'} crypto profile, not "
            "intl: there is nothing to move"
        )
    plan.blockers.extend(signs_of_life(session, now))
    plan.refused_keys = _refused_keys(session, target)
    plan.pseudonymous = _pseudonymous_rows(session)
    plan.sealed = _sealed_rows(session)
    return plan


def signs_of_life(session: Session, now: datetime) -> list[str]:
    """What the database shows of a live worker within :data:`QUIET` of *now* (none: stopped)."""
    since = now - QUIET
    found = []
    started = session.scalar(select(func.max(JobRun.started_at)))
    if started is not None and _aware(started, now) > since:
        found.append(
            f"a scheduled job ran at {_china(_aware(started, now))}, within "
            f"{int(QUIET.total_seconds())} s: stop every tongban serve and tongban worker"
        )
    unfinished = session.scalar(
        select(func.count()).select_from(JobRun).where(JobRun.finished_at.is_(None))
    )
    if unfinished and started is not None and _aware(started, now) > now - timedelta(hours=1):
        found.append(f"{unfinished} job run(s) have not finished: a worker may still be running")
    head = session.get(AuditHead, 1)
    if head is not None and _aware(head.updated_at, now) > since:
        found.append(
            f"the audit log grew at {_china(_aware(head.updated_at, now))}, within "
            f"{int(QUIET.total_seconds())} s: a worker is serving queries"
        )
    return found


def _china(moment: datetime) -> str:
    """A moment as operators read it: China time (UTC+8)."""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S") + " (China time)"


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite hands back naive datetimes of UTC moments."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=like.tzinfo)


def _refused_keys(session: Session, target: str) -> list[RefusedKey]:
    taken = client_algorithms_of(target)
    rows = session.execute(
        select(System.id, System.department_code, SystemKey.kid, SystemKey.alg)
        .join(SystemKey, SystemKey.system_id == System.id)
        .where(
            System.status == SystemStatus.ACTIVE,
            SystemKey.retired_at.is_(None),
            SystemKey.alg.not_in(sorted(taken)),
        )
        .order_by(System.id, SystemKey.kid)
    ).all()
    return [RefusedKey(*row) for row in rows]


def _pseudonymous_rows(session: Session) -> dict[str, int]:
    """Rows per table whose ``subject`` column holds a keyed pseudonym (a string of 64), read
    from the database's own catalogue, so no room's models need be imported."""
    inspector = inspect(session.connection())
    counts = {}
    for name in sorted(inspector.get_table_names()):
        subject = [c for c in inspector.get_columns(name) if c["name"] == "subject"]
        if not subject or getattr(subject[0]["type"], "length", None) != 64:
            continue
        count = session.scalar(select(func.count()).select_from(table(name)))
        if count:
            counts[name] = int(count)
    return counts


def _sealed_rows(session: Session) -> dict[str, int]:
    present = set(inspect(session.connection()).get_table_names())
    counts = {}
    for name, sealed, _what in SEALED:
        if name not in present:
            continue
        count = session.scalar(
            select(func.count()).select_from(table(name)).where(column(sealed).is_not(None))
        )
        if count:
            counts[name] = int(count)
    return counts
