"""Tampering with the stored log is detected: ``tongban audit verify`` recomputes everything
and names the first bad index; checkpoints are signed only over a consistent log."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from exchange.audit import verify_entries, vmap
from exchange.audit.checkpoint import parse_vkey
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.errors import InconsistentLog
from exchange.audit.log import AuditLog
from exchange.audit.verify import VerifyReport, verify_log
from exchange.cli.audit import audit_app
from exchange.db import unit_of_work
from tests.audit.test_log import entry
from tests.profiles import key_schedule

SECRET = "a-test-secret-that-is-long-enough-for-prod-0123456789"
ORIGIN = "test.example/log"


def work_of(n: int) -> Callable[[Session], dict[str, Any]]:
    """Entry *n*, decided now: verify holds ``recorded_at`` to the entry's ``at``."""
    at = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return lambda _session: {**entry(n), "at": at}


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner(key_schedule(SECRET), ORIGIN, interval=timedelta(seconds=60))


@pytest.fixture
def log_of_50(sessions: sessionmaker[Session], signer: CheckpointSigner) -> None:
    """50 entries with checkpoints at 20 and 50."""
    log = AuditLog(sessions)
    for n in range(50):
        log.append(work_of(n))
        if n + 1 in (20, 50):
            with unit_of_work(sessions, write=True) as session:
                signer.sign(session)


def verify_report(sessions: sessionmaker[Session], signer: CheckpointSigner) -> VerifyReport:
    with unit_of_work(sessions) as session:
        return verify_log(session, signer.verifier())


def _verify(sessions: sessionmaker[Session], signer: CheckpointSigner) -> tuple[int | None, str]:
    report = verify_report(sessions, signer)
    return report.first_bad_index, report.problem or ""


TABLES = ("audit_entries", "audit_nodes", "audit_checkpoints", "audit_map_nodes")


@pytest.fixture
def tamper(engine: Engine) -> Iterator[Engine]:
    """An attacker with the database's admin rights: the append-only triggers dropped (and put
    back afterwards, for the next test on the shared PostgreSQL database)."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        for table in TABLES:
            if postgres:
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
            else:
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
    yield engine
    with engine.begin() as connection:
        for table in TABLES:
            if postgres:
                connection.execute(
                    text(
                        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                        " FOR EACH ROW EXECUTE FUNCTION tongban_audit_append_only()"
                    )
                )


@pytest.mark.usefixtures("log_of_50")
def test_an_untouched_log_verifies(
    sessions: sessionmaker[Session], signer: CheckpointSigner
) -> None:
    with unit_of_work(sessions) as session:
        report = verify_log(session, signer.verifier())
    assert report.ok, report.problem
    assert (report.entries, report.checkpoints) == (50, 2)


@pytest.mark.usefixtures("log_of_50")
@pytest.mark.parametrize(
    ("statement", "first_bad", "kind", "says"),
    [
        (
            "UPDATE audit_entries SET entry = replace(entry, 'released', 'denied') WHERE idx = 17",
            17,
            "leaf",
            "leaf hash",
        ),
        ("DELETE FROM audit_entries WHERE idx = 23", 23, "sequence", "missing"),
        (
            "UPDATE audit_entries SET idx = -1 WHERE idx = 30;"
            " UPDATE audit_entries SET idx = 30 WHERE idx = 31;"
            " UPDATE audit_entries SET idx = 31 WHERE idx = -1",
            30,
            "node",
            "node",
        ),
        (
            "INSERT INTO audit_entries SELECT 50, 'x' || substr(request_id, 2), recorded_at,"
            " kind, system_id, department, subject, purpose, outcome, entry, leaf_hash, object_id"
            " FROM audit_entries"
            " WHERE idx = 3",
            50,
            "sequence",
            "beyond",
        ),
        (
            "UPDATE audit_nodes SET hash = (SELECT hash FROM audit_nodes WHERE level = 0 AND"
            " idx = 0) WHERE level = 2 AND idx = 3",
            15,
            "node",
            "node",
        ),
        # a node whose leaves lie in three pages ([16, 32) is pages 2 to 4)
        (
            "UPDATE audit_nodes SET hash = (SELECT hash FROM audit_nodes WHERE level = 0 AND"
            " idx = 0) WHERE level = 4 AND idx = 1",
            31,
            "node",
            "level 4, index 1",
        ),
        ("DELETE FROM audit_nodes WHERE level = 5 AND idx = 0", 31, "node", "is missing"),
        # the last entry of a page, and the first of the next
        ("UPDATE audit_entries SET kind = 'verify' WHERE idx = 20", 20, "column", "kind"),
        ("UPDATE audit_entries SET object_id = 'c-1' WHERE idx = 21", 21, "column", "object_id"),
        (
            "UPDATE audit_entries SET recorded_at = '2001-01-01 00:00:00' WHERE idx = 41",
            41,
            "column",
            "recorded_at",
        ),
        ("DELETE FROM audit_entries WHERE idx = 35", 35, "sequence", "missing"),
    ],
    ids=[
        "edit",
        "delete",
        "reorder",
        "insert",
        "forged-node",
        "forged-upper-node",
        "missing-upper-node",
        "kind",
        "object-id",
        "recorded-at",
        "gap",
    ],
)
@pytest.mark.parametrize("page", [verify_entries.PAGE, 7], ids=["one-page", "pages-of-7"])
def test_tampering_with_entries_names_the_first_bad_index(
    sessions: sessionmaker[Session],
    signer: CheckpointSigner,
    tamper: Engine,
    monkeypatch: pytest.MonkeyPatch,
    page: int,
    statement: str,
    first_bad: int,
    kind: str,
    says: str,
) -> None:
    """Pages of 7 entries: the log of 50 spans eight pages and its upper nodes span pages."""
    monkeypatch.setattr(verify_entries, "PAGE", page)
    with tamper.begin() as connection:
        for part in statement.split(";"):
            connection.execute(text(part))
    report = verify_report(sessions, signer)
    assert report.first_bad_index == first_bad, report.problems
    assert says in (report.problem or "")
    assert report.problems[kind].first_index == first_bad


@pytest.mark.usefixtures("log_of_50")
def test_a_consistent_rewrite_is_caught_by_the_signed_checkpoints(
    sessions: sessionmaker[Session], signer: CheckpointSigner, tamper: Engine
) -> None:
    """A forger who edits entry 35, its search column, and recomputes its leaf, every node and
    the head: only the signed checkpoint at 50 still remembers the old root."""
    from exchange.audit import merkle
    from exchange.audit.models import AuditHead, AuditNode, AuditRecord

    with unit_of_work(sessions) as session:
        records = sorted(session.query(AuditRecord).all(), key=lambda r: r.index)
        edited = records[35].entry.replace("released", "denied")
    leaves = [merkle.leaf_hash(r.entry.encode()) for r in records]
    leaves[35] = merkle.leaf_hash(edited.encode())
    with tamper.begin() as connection:
        connection.execute(
            text(
                "UPDATE audit_entries SET entry = :e, leaf_hash = :h, outcome = 'denied'"
                " WHERE idx = 35"
            ),
            {"e": edited, "h": leaves[35]},
        )
        connection.execute(text("DELETE FROM audit_nodes"))
    with unit_of_work(sessions, write=True) as session:
        for level in range(6):
            for index in range(len(leaves) >> level):
                start, end = index << level, (index + 1) << level
                session.add(
                    AuditNode(level=level, index=index, hash=merkle.root(leaves[start:end]))
                )
        head = session.get(AuditHead, 1)
        assert head is not None
        head.root = merkle.root(leaves)
    bad, problem = _verify(sessions, signer)
    assert "checkpoint at size 50" in problem
    assert bad is not None
    assert 20 <= bad <= 35  # the checkpoint at 20 still vouches for everything before


@pytest.mark.usefixtures("log_of_50")
@pytest.mark.parametrize(
    ("statement", "says"),
    [
        (
            "UPDATE audit_checkpoints SET note = replace(note, '\n20\n', '\n21\n') WHERE size = 20",
            "not validly signed",
        ),
        (
            "UPDATE audit_checkpoints SET root = (SELECT root FROM audit_checkpoints WHERE"
            " size = 50) WHERE size = 20",
            "differs from its note",
        ),
    ],
    ids=["note", "root"],
)
def test_an_altered_checkpoint_is_caught(
    sessions: sessionmaker[Session],
    signer: CheckpointSigner,
    tamper: Engine,
    statement: str,
    says: str,
) -> None:
    with tamper.begin() as connection:
        connection.execute(text(statement))
    _, problem = _verify(sessions, signer)
    assert says in problem


@pytest.mark.usefixtures("log_of_50")
def test_the_hub_will_not_sign_over_a_log_that_does_not_extend_its_checkpoint(
    sessions: sessionmaker[Session], signer: CheckpointSigner, tamper: Engine
) -> None:
    AuditLog(sessions).append(work_of(99))
    with tamper.begin() as connection:
        connection.execute(
            # the complete subtree of entries 0-31, which the new root is built from
            text("UPDATE audit_nodes SET hash = :h WHERE level = 5 AND idx = 0"),
            {"h": b"\x00" * 32},
        )
    with pytest.raises(InconsistentLog), unit_of_work(sessions, write=True) as session:
        signer.sign(session)
    with unit_of_work(sessions) as session:
        assert signer.latest(session).size == 50  # type: ignore[union-attr]


def test_checkpoints_are_c2sp_notes_verifiable_with_the_vkey(
    sessions: sessionmaker[Session], signer: CheckpointSigner
) -> None:
    log = AuditLog(sessions)
    receipt, entry = log.append(work_of(1))
    with unit_of_work(sessions, write=True) as session:
        signed = signer.sign(session, datetime.now(UTC))
        again = signer.sign(session)  # nothing new: the same checkpoint
    assert again == signed
    lines = signed.note.split("\n")
    assert lines[:2] == ["test.example/log", "1"]
    # the subject map of one entry: its subject's leaf, its value the chain of that one entry
    value = vmap.value_of([(0, receipt.leaf_hash)]).hash
    map_root = vmap.leaf_hash(vmap.subject_key(entry["subject"]), value)
    assert lines[3] == "tongban/vmap/v1 " + base64.b64encode(map_root).decode()
    assert lines[4] == ""
    assert lines[5].startswith("— test.example/log ")
    checkpoint = parse_vkey(signer.vkey()).verify(signed.note)
    assert (checkpoint.size, checkpoint.root) == (1, receipt.leaf_hash)  # a one-leaf tree


@pytest.mark.usefixtures("log_of_50")
def test_the_cli_exits_non_zero_naming_the_first_bad_index(
    database_url: str, tamper: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBAN_DATABASE_URL", database_url)
    monkeypatch.setenv("TONGBAN_SECRET_KEY", SECRET)
    monkeypatch.setenv("TONGBAN_AUDIT_ORIGIN", "test.example/log")
    runner = CliRunner()
    good = runner.invoke(audit_app, ["verify", "--json"])
    assert good.exit_code == 0, good.output
    with tamper.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE idx = 7"))
    bad = runner.invoke(audit_app, ["verify"])
    assert bad.exit_code != 0
    assert "first bad index 7" in str(bad.exception)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 7 entries, so a log of 50 spans eight pages and its upper nodes span pages."""
    monkeypatch.setattr(verify_entries, "PAGE", 7)


@pytest.mark.usefixtures("log_of_50", "small_pages")
def test_an_untouched_log_read_in_many_pages_verifies(
    sessions: sessionmaker[Session], signer: CheckpointSigner
) -> None:
    report = verify_report(sessions, signer)
    assert report.ok, report.problem
    assert (report.entries, report.nodes, report.checkpoints) == (50, 2 * 50 - 3, 2)
