"""``tongban audit verify`` checks what the hub reads back, not only the tree: every search
column against its entry, and every kind of damage with its own first bad index."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from tests.audit import test_verify as shared
from tests.audit.test_verify import verify_report

# test_verify's fixtures: its log of 50 entries, the checkpoint signer, the attacker's engine
log_of_50, signer, tamper = shared.log_of_50, shared.signer, shared.tamper

EDITS: dict[str, Any] = {
    "request_id": str(uuid.uuid4()),
    "kind": "verify",
    "system_id": "mca-dibao",
    "department": "MCA",
    "subject": "0" * 64,
    "purpose": "minimum-living",
    "outcome": "denied",
}


def _edit(engine: Engine, index: int, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(update(AuditRecord).where(AuditRecord.index == index).values(**values))


def _recorded_at(sessions: sessionmaker[Session], index: int) -> Any:
    with unit_of_work(sessions) as session:
        return session.scalar(select(AuditRecord.recorded_at).where(AuditRecord.index == index))


# -- search columns --------------------------------------------------------------------------


@pytest.mark.usefixtures("log_of_50")
@pytest.mark.parametrize("column", [*EDITS, "recorded_at"])
def test_a_search_column_edited_in_the_database_is_named_with_its_index(
    sessions: sessionmaker[Session], signer: CheckpointSigner, tamper: Engine, column: str
) -> None:
    """The entry, its leaf and the tree are untouched: an auditor's search, a citizen's list or
    the console's counts would show the entry where it never was."""
    value = EDITS.get(column) or _recorded_at(sessions, 12) + timedelta(hours=6)
    _edit(tamper, 12, **{column: value})
    report = verify_report(sessions, signer)
    assert list(report.problems) == ["column"], report.problems
    found = report.problems["column"]
    assert (found.first_index, found.count) == (12, 1)
    assert column in found.message
    assert report.first_bad_index == 12


@pytest.mark.usefixtures("log_of_50")
def test_recorded_at_may_trail_the_decision_by_a_little_but_not_precede_it(
    sessions: sessionmaker[Session], signer: CheckpointSigner, tamper: Engine
) -> None:
    _edit(tamper, 3, recorded_at=_recorded_at(sessions, 3) + timedelta(minutes=2))
    assert verify_report(sessions, signer).ok
    _edit(tamper, 3, recorded_at=_recorded_at(sessions, 3) - timedelta(hours=1))
    assert verify_report(sessions, signer).problems["column"].first_index == 3


# -- every kind, each with its first index ---------------------------------------------------


@pytest.mark.usefixtures("log_of_50")
def test_two_kinds_of_damage_are_both_reported_with_their_first_index(
    sessions: sessionmaker[Session], signer: CheckpointSigner, tamper: Engine
) -> None:
    _edit(tamper, 33, outcome="denied")
    _edit(tamper, 8, purpose="minimum-living")
    with tamper.begin() as connection:
        connection.execute(
            text("UPDATE audit_entries SET entry = replace(entry, 'EDU', 'MCA') WHERE idx = 21")
        )
    report = verify_report(sessions, signer)
    assert set(report.problems) == {"leaf", "column"}  # the tree is the leaf hashes': intact
    assert report.problems["column"].first_index == 8
    assert report.problems["column"].count == 2
    assert report.problems["leaf"].first_index == 21
    assert report.first_bad_index == 21  # the leaf check comes before the columns
    assert "leaf hash" in (report.problem or "")


@pytest.mark.usefixtures("log_of_50")
def test_after_a_missing_entry_the_roots_are_not_checked_but_the_columns_are(
    sessions: sessionmaker[Session], signer: CheckpointSigner, tamper: Engine
) -> None:
    with tamper.begin() as connection:
        connection.execute(delete(AuditRecord).where(AuditRecord.index == 25))
    _edit(tamper, 40, department="MCA")
    report = verify_report(sessions, signer)
    assert report.problems["sequence"].first_index == 25
    assert report.problems["column"].first_index == 40
    assert set(report.unchecked) == {"node", "head", "checkpoint"}
    assert "checkpoint" not in report.problems  # the one at 20 holds; 50 could not be checked
    assert report.checkpoints == 1
