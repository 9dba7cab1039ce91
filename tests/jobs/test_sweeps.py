"""Each built-in sweep does its job, once, on SQLite and PostgreSQL: expired jti records go,
expired agreements and overdue applications get one history event each (derived reads keep
working), a grown audit log gets a checkpoint, old run history is purged."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange.agreements.jobs import sweep_agreements
from exchange.agreements.models import AgreementEvent
from exchange.agreements.reading import agreement_views
from exchange.agreements.service import Approval, apply_for_agreement, decide_application
from exchange.audit import jobs as audit_jobs
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.log import AuditLog
from exchange.audit.models import AuditCheckpoint
from exchange.audit.policy import Policy
from exchange.audit.witnessing import Witnessing
from exchange.db import unit_of_work
from exchange.hub import Hub
from exchange.jobs.models import JobRun
from exchange.jobs.spec import JobContext, JobOutcome, find_job
from exchange.jobs.sweeps import STALE_RUN, sweep_job_runs
from exchange.query.jobs import sweep_budgets
from exchange.query.models import VerifyBudgetCounter
from exchange.security.jobs import sweep_tokens
from exchange.security.keys import HubKeys
from exchange.security.models import ClientAssertionJti
from exchange.settings import Settings
from tests import factories
from tests.audit.test_log import work_of
from tests.exchange.test_agreements import (  # the agreement tests' world and people
    EDU_ADMIN,
    REG_ADMIN,
    application,
    systems,
)

__all__ = ["systems"]  # a fixture, used by name below


def context(settings: Settings, sessions: sessionmaker[Session], now: datetime) -> JobContext:
    return JobContext(settings, sessions, now)


def sweep_checkpoint(settings: Settings, job_context: JobContext) -> JobOutcome:
    signer = CheckpointSigner(
        settings.secret_key.get_secret_value(),
        settings.audit_origin,
        interval=timedelta(seconds=settings.checkpoint_interval_s),
    )
    witnessing = Witnessing(signer, Policy())  # no witness: signing only
    (job,) = audit_jobs.jobs(signer, witnessing, settings.checkpoint_interval_s)
    return job.run(job_context)


def test_sweep_tokens_deletes_only_expired_jti_records(
    settings: Settings, sessions: sessionmaker[Session], now: datetime, demo_catalogue: None
) -> None:
    with unit_of_work(sessions) as session:
        factories.system(session, "sys-1", "PSB", now=now, keys=[factories.public_jwk("k1")])
        for jti, minutes in (("old", -10), ("just-gone", -1), ("live", 5)):
            session.add(
                ClientAssertionJti(
                    system_id="sys-1", jti=jti, expires_at=now + timedelta(minutes=minutes)
                )
            )
    outcome = sweep_tokens(context(settings, sessions, now))
    assert outcome.rows == 2
    with unit_of_work(sessions) as session:
        assert session.scalars(select(ClientAssertionJti.jti)).all() == ["live"]
    assert sweep_tokens(context(settings, sessions, now)).rows == 0


def test_sweep_budgets_deletes_only_counters_outside_the_window(
    settings: Settings, sessions: sessionmaker[Session], now: datetime
) -> None:
    window = timedelta(hours=settings.budget_window_h)
    with unit_of_work(sessions) as session:
        for field, age in (
            ("household.birth_date", window + timedelta(minutes=1)),
            ("household.name", window - timedelta(minutes=1)),
        ):
            session.add(
                VerifyBudgetCounter(
                    system_id="sys-1",
                    subject="p" * 64,
                    field=field,
                    counter="no_match",
                    marks=[[int((now - age).timestamp()), ""]],
                    updated_at=now - age,
                )
            )
    assert sweep_budgets(context(settings, sessions, now)).rows == 1
    with unit_of_work(sessions) as session:
        assert session.scalars(select(VerifyBudgetCounter.field)).all() == ["household.name"]


def test_sweep_agreements_records_expiry_and_overdue_once(
    settings: Settings, sessions: sessionmaker[Session], now: datetime, systems: None
) -> None:
    with unit_of_work(sessions) as session:
        pending = apply_for_agreement(session, EDU_ADMIN, application(), now=now)
        body = application(valid_from="2026-12-01", valid_until="2027-06-30")
        approved = apply_for_agreement(session, EDU_ADMIN, body, now=now)
        decide_application(
            session,
            REG_ADMIN,
            approved.id,
            Approval(fields=("area",)),
            keys=HubKeys(settings),
            now=now,
        )
        fresh = apply_for_agreement(session, EDU_ADMIN, application(), now=now + timedelta(days=30))
    before = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # 23:00 in China on the due day
    assert sweep_agreements(context(settings, sessions, before)).rows == 0
    later = datetime(2027, 7, 1, tzinfo=UTC)
    outcome = sweep_agreements(context(settings, sessions, later))
    assert (outcome.rows, dict(outcome.detail)) == (3, {"expired": 1, "overdue": 2})
    again = sweep_agreements(context(settings, sessions, later + timedelta(hours=1)))
    assert again.rows == 0
    with unit_of_work(sessions) as session:
        events = session.execute(
            select(AgreementEvent.agreement_id, AgreementEvent.action, AgreementEvent.actor)
            .where(AgreementEvent.action.in_(["expired", "overdue"]))
            .order_by(AgreementEvent.id)
        ).all()
        assert sorted((a, b) for a, b, _ in events) == sorted(
            [(approved.id, "expired"), (pending.id, "overdue"), (fresh.id, "overdue")]
        )
        assert {actor for _, _, actor in events} == {"tongban-scheduler"}
        views = {
            v["id"]: v for v in agreement_views(session, [pending, approved, fresh], now=later)
        }
    assert views[approved.id]["status"] == "expired"
    assert views[pending.id]["overdue"] is True
    assert views[pending.id]["history"][-1]["action"] == "overdue"


def test_audit_checkpoint_signs_when_the_log_grew(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    settings = Settings(database_url=database_url, adapters_file=None, checkpoint_interval_s=1)
    log = AuditLog(sessions)
    assert (
        sweep_checkpoint(settings, context(settings, sessions, datetime.now(UTC))).rows == 1
    )  # empty log
    assert sweep_checkpoint(settings, context(settings, sessions, datetime.now(UTC))).rows == 0
    for n in range(4):
        log.append(work_of(n))
    time.sleep(1.1)
    assert sweep_checkpoint(settings, context(settings, sessions, datetime.now(UTC))).rows == 1
    with unit_of_work(sessions) as session:
        sizes = session.scalars(select(AuditCheckpoint.size).order_by(AuditCheckpoint.size)).all()
    assert sizes == [0, 4]


def test_sweep_job_runs_purges_old_history_and_fails_lost_runs(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    now = datetime.now(UTC)
    ages = {"ancient": timedelta(days=45), "lost": STALE_RUN + timedelta(hours=1)}
    ages |= {"recent": timedelta(hours=1), "busy": timedelta(minutes=5)}
    with unit_of_work(sessions) as session:
        for job_id, age in ages.items():
            running = job_id in {"lost", "busy"}
            session.add(
                JobRun(
                    job_id=f"test.{job_id}",
                    scheduled_for=now - age,
                    trigger="scheduled",
                    attempt=1,
                    worker="w",
                    started_at=now - age,
                    finished_at=None if running else now - age,
                    outcome="running" if running else "ok",
                    final=not running,
                    rows=0,
                )
            )
    outcome = sweep_job_runs(context(settings, sessions, now))
    assert dict(outcome.detail) == {"purged": 1, "abandoned": 1}
    with unit_of_work(sessions) as session:
        left = {
            job: outcome for job, outcome in session.execute(select(JobRun.job_id, JobRun.outcome))
        }
    assert left == {"test.lost": "failed", "test.recent": "ok", "test.busy": "running"}


def test_the_hub_has_every_domains_sweep_and_the_consent_sweep_runs(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with Hub.from_settings(settings) as hub:
        jobs = hub.jobs
    ids = [spec.id for spec in jobs]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {"sweep.tokens", "sweep.agreements", "audit.checkpoint", "sweep.job_runs"} <= set(ids)
    consents = find_job(jobs, "sweep.consents")
    assert consents is not None
    outcome = consents.run(context(settings, sessions, datetime.now(UTC)))
    assert outcome.rows == 0
