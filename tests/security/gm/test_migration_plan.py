"""The plan of moving a hub to ``gm`` (``exchange.crypto_migration.plan``), on a migrated
database of each backend: what blocks it (a database not recorded ``intl``, a target other than
``gm``, signs of a live worker within two minutes or an unfinished job run within the hour),
and what it lists (active non-SM2 client keys, not retired or suspended ones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from catalogue.models import Department, System, SystemKey
from catalogue.vocabulary import SystemStatus
from exchange.audit.models import AuditHead
from exchange.crypto_migration.plan import QUIET, plan_migration
from exchange.db import unit_of_work
from exchange.jobs.models import JobRun, RunOutcome, Trigger
from exchange.security.gm.models import HubCryptoProfile

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(hours=3)


@pytest.fixture
def intl_hub(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """A database recorded ``intl``, its audit head and job runs quiet for three hours."""
    with unit_of_work(sessions, write=True) as session:
        session.merge(HubCryptoProfile(id=1, profile="intl", recorded_at=LONG_AGO))
        session.execute(update(AuditHead).values(updated_at=LONG_AGO))
    return sessions


def _run(started: datetime, finished: datetime | None) -> JobRun:
    outcome = RunOutcome.OK if finished else RunOutcome.RUNNING
    return JobRun(
        job_id="audit.checkpoint", scheduled_for=started, trigger=Trigger.SCHEDULED, attempt=1,
        worker="w1", started_at=started, finished_at=finished, outcome=outcome, final=True,
    )  # fmt: skip


def test_a_quiet_intl_hub_may_move(intl_hub: sessionmaker[Session]) -> None:
    with unit_of_work(intl_hub) as session:
        plan = plan_migration(session, NOW)
    assert (plan.ready, plan.recorded, plan.blockers) == (True, "intl", [])


def test_a_job_run_within_two_minutes_blocks(intl_hub: sessionmaker[Session]) -> None:
    with unit_of_work(intl_hub, write=True) as session:
        session.add(_run(NOW - QUIET + timedelta(seconds=5), NOW - QUIET + timedelta(seconds=6)))
    with unit_of_work(intl_hub) as session:
        (blocker,) = plan_migration(session, NOW).blockers
        assert "a scheduled job ran at 2026-12-06 17:58:05 (China time)" in blocker
        assert plan_migration(session, NOW + timedelta(seconds=10)).ready


def test_an_unfinished_run_within_the_hour_blocks(intl_hub: sessionmaker[Session]) -> None:
    with unit_of_work(intl_hub, write=True) as session:
        session.add(_run(NOW - timedelta(minutes=30), None))
    with unit_of_work(intl_hub) as session:
        (blocker,) = plan_migration(session, NOW).blockers
        assert "have not finished" in blocker
        assert plan_migration(session, NOW + timedelta(hours=1)).ready


def test_an_audit_append_within_two_minutes_blocks(intl_hub: sessionmaker[Session]) -> None:
    with unit_of_work(intl_hub, write=True) as session:
        session.execute(update(AuditHead).values(updated_at=NOW - timedelta(seconds=30)))
    with unit_of_work(intl_hub) as session:
        (blocker,) = plan_migration(session, NOW).blockers
    assert "a worker is serving queries" in blocker


def test_a_gm_database_or_another_target_is_refused(intl_hub: sessionmaker[Session]) -> None:
    with unit_of_work(intl_hub) as session:
        (blocker,) = plan_migration(session, NOW, target="intl").blockers
        assert "from intl to gm only" in blocker
    with unit_of_work(intl_hub, write=True) as session:
        session.merge(HubCryptoProfile(id=1, profile="gm", recorded_at=LONG_AGO))
    with unit_of_work(intl_hub) as session:
        (blocker,) = plan_migration(session, NOW).blockers
    assert "nothing to move" in blocker


def test_the_active_non_sm2_keys_are_listed(intl_hub: sessionmaker[Session]) -> None:
    with unit_of_work(intl_hub, write=True) as session:
        session.merge(
            Department(code="EDU", name="教育局", digest="0" * 64, created_at=LONG_AGO,
                       updated_at=LONG_AGO)
        )  # fmt: skip
        for system, status in (("edu-a", SystemStatus.ACTIVE), ("edu-b", SystemStatus.SUSPENDED)):
            session.add(
                System(id=system, department_code="EDU", name=system, status=status,
                       purposes=[], created_at=LONG_AGO, updated_at=LONG_AGO)
            )  # fmt: skip
        session.flush()
        for system, kid, alg, retired in (
            ("edu-a", "a-1", "EdDSA", None),
            ("edu-a", "a-0", "ES256", LONG_AGO),
            ("edu-a", "a-2", "SM2SM3", None),
            ("edu-b", "b-1", "EdDSA", None),
        ):
            session.add(
                SystemKey(system_id=system, kid=kid, alg=alg, jwk={}, added_at=LONG_AGO,
                          retired_at=retired)
            )  # fmt: skip
    with unit_of_work(intl_hub) as session:
        plan = plan_migration(session, NOW)
    assert [(k.system, k.department, k.kid, k.alg) for k in plan.refused_keys] == [
        ("edu-a", "EDU", "a-1", "EdDSA")
    ]
    assert plan.ready  # the department must act; the move is not blocked by it
