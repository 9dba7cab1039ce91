"""The hub database: SQLite settings, and migrations that match the models on each backend."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, Enum, String, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from catalogue.models import Base, Department, System
from catalogue.vocabulary import SystemStatus
from exchange.agreements.models import AgreementStatus, Origin
from exchange.consent.models import ConsentMode, ConsentStatus, RequestStatus
from exchange.corrections.models import CorrectionStatus, FiledBy, NoticeStatus
from exchange.db import alembic_config, make_engine, unit_of_work
from exchange.disputes.models import DisputeLevel, DisputeStatus, MatterKind
from exchange.feedback.models import Rater
from exchange.jobs.models import RunOutcome, Trigger
from exchange.notice.models import DeferralStatus, EndedBy, ReasonKind
from exchange.sources.cache.models import SyncStatus
from exchange.stewardship.models import SuspensionStatus
from exchange.subscriptions.models import DeliveryChannel, EventStatus, SubscriptionStatus

ENUM_COLUMNS: dict[tuple[str, str], type[StrEnum]] = {
    ("systems", "status"): SystemStatus,
    ("agreements", "origin"): Origin,
    ("agreements", "status"): AgreementStatus,
    ("consent_requests", "mode"): ConsentMode,
    ("consent_requests", "status"): RequestStatus,
    ("consents", "mode"): ConsentMode,
    ("consents", "status"): ConsentStatus,
    ("job_runs", "outcome"): RunOutcome,
    ("job_runs", "trigger"): Trigger,
    ("job_totals", "last_outcome"): RunOutcome,
    ("cache_sync_state", "status"): SyncStatus,
    ("corrections", "filed_by"): FiledBy,
    ("corrections", "status"): CorrectionStatus,
    ("correction_notices", "status"): NoticeStatus,
    ("ratings", "rater"): Rater,
    ("subscriptions", "status"): SubscriptionStatus,
    ("subscriptions", "delivery"): DeliveryChannel,
    ("subscription_events", "status"): EventStatus,
    ("notice_deferrals", "reason_kind"): ReasonKind,
    ("notice_deferrals", "status"): DeferralStatus,
    ("notice_deferrals", "ended_by"): EndedBy,
    ("notice_standing_deferrals", "reason_kind"): ReasonKind,
    ("notice_standing_deferrals", "status"): DeferralStatus,
    ("notice_standing_deferrals", "ended_by"): EndedBy,
    ("disputes", "matter_kind"): MatterKind,
    ("disputes", "level"): DisputeLevel,
    ("disputes", "status"): DisputeStatus,
    ("dispute_steps", "level"): DisputeLevel,
    ("agreement_suspensions", "status"): SuspensionStatus,
}
"""The status columns typed as their enums (``catalogue.models.str_enum``)."""


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/nested/dir/hub.db")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
    assert (tmp_path / "nested/dir/hub.db").exists()


def _not_search_index(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
    return not (name or "").startswith("resource_search")


def test_the_migrations_build_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": _not_search_index, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_status_columns_are_their_enums_stored_as_the_strings_they_were(engine: Engine) -> None:
    """Each status column reads as its enum but keeps the plain VARCHAR the migrations made
    and the enum's values in it (no ENUM type, no CHECK constraint): nothing to migrate."""
    typed = {
        (table.name, column.name): column.type
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Enum)
    }
    assert {key: kind.enum_class for key, kind in typed.items()} == ENUM_COLUMNS
    inspector = inspect(engine)
    for (table, name), kind in typed.items():
        stored = next(c["type"] for c in inspector.get_columns(table) if c["name"] == name)
        assert isinstance(stored, String), (table, name)
        assert not isinstance(stored, Enum), (table, name)
        assert stored.length == kind.length, (table, name)
        assert not kind.native_enum
        assert not kind.create_constraint
        to_db = kind.bind_processor(engine.dialect)
        from_db = kind.result_processor(engine.dialect, None)
        assert to_db is not None
        assert from_db is not None
        for member in ENUM_COLUMNS[(table, name)]:
            assert to_db(member) == to_db(member.value) == member.value
            assert from_db(member.value) is member


def test_a_status_stored_as_a_string_reads_back_as_its_enum(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    with unit_of_work(sessions, write=True) as session:
        session.add(
            Department(code="EDU", name="教育局", digest="0" * 64, created_at=now, updated_at=now)
        )
        session.add(
            System(
                id="edu-enrolment",
                department_code="EDU",
                status=SystemStatus.ACTIVE,
                purposes=[],
                created_at=now,
                updated_at=now,
            )
        )
    with unit_of_work(sessions, write=True) as session:
        stored = "SELECT status FROM systems WHERE id = 'edu-enrolment'"
        assert session.execute(text(stored)).scalar_one() == "active"
        session.execute(text("UPDATE systems SET status = 'suspended'"))
    with unit_of_work(sessions) as session:
        system = session.get(System, "edu-enrolment")
        assert system is not None
        assert system.status is SystemStatus.SUSPENDED


def test_migrations_go_down_and_up_again(engine: Engine) -> None:
    config = alembic_config(engine)
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert {"resources", "resource_versions", "resource_search"} <= set(
        inspect(engine).get_table_names()
    )
