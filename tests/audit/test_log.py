"""The Merkle log's storage: group-committed appends from many threads (and two "workers"
with their own engines) give one gap-free, duplicate-free tree whose stored nodes, head root
and proofs agree with a tree rebuilt from the entries."""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, sessionmaker

from exchange.audit import merkle
from exchange.audit.canonical import canonical_json
from exchange.audit.errors import AuditUnavailable
from exchange.audit.log import AuditLog
from exchange.audit.models import AuditHead, AuditNode, AuditRecord
from exchange.audit.proofs import consistency_proof, head, inclusion_proof, root_at
from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work


def entry(n: int = 0) -> dict[str, Any]:
    """Entry number *n*: unique, and shaped as audit-entry.schema.json says."""
    return {
        "v": 1,
        "kind": "query",
        "request_id": str(uuid.uuid4()),
        "at": "2026-11-22T00:00:00.000000Z",
        "system": "edu-enrolment",
        "department": "EDU",
        "officer": None,
        "subject": hashlib.sha256(str(n).encode()).hexdigest(),
        "purpose": "school-enrolment",
        "service_item": None,
        "consent": None,
        "outcome": "released",
        "attributes": {
            "household.name": {
                "outcome": "released",
                "resource": "PSB-HJ-0001",
                "version": n + 1,
                "rules": ["sharing.unconditional"],
                "release": "clear",
            }
        },
    }


def work_of(n: int) -> Callable[[Session], dict[str, Any]]:
    return lambda _session: entry(n)


def _stored(sessions: sessionmaker[Session]) -> tuple[list[AuditRecord], AuditHead]:
    with unit_of_work(sessions) as session:
        records = list(session.scalars(select(AuditRecord).order_by(AuditRecord.index)))
        row = session.get(AuditHead, 1)
        assert row is not None
        session.expunge_all()
        return records, row


def _check_tree(sessions: sessionmaker[Session], appended: int) -> None:
    records, row = _stored(sessions)
    assert [r.index for r in records] == list(range(appended))  # no gap, no duplicate
    leaves = [merkle.leaf_hash(r.entry.encode()) for r in records]
    assert [r.leaf_hash for r in records] == leaves
    assert row.size == appended
    assert row.root == merkle.root(leaves)
    with unit_of_work(sessions) as session:
        for node in session.scalars(select(AuditNode)):
            start, end = node.index << node.level, (node.index + 1) << node.level
            assert node.hash == merkle.root(leaves[start:end]), (node.level, node.index)
        for index in random.Random(7).sample(  # noqa: S311 - which entries to prove, not a secret
            range(appended), min(appended, 20)
        ):
            proof = inclusion_proof(session, index, appended)
            assert merkle.verify_inclusion(leaves[index], index, appended, proof, row.root)


def test_concurrent_appends_make_one_gap_free_tree(sessions: sessionmaker[Session]) -> None:
    log = AuditLog(sessions)
    with ThreadPoolExecutor(16) as pool:
        receipts = list(pool.map(lambda n: log.append(work_of(n))[0], range(300)))
    assert sorted(r.index for r in receipts) == list(range(300))
    _check_tree(sessions, 300)


def test_appends_are_batched_into_fewer_commits(
    sessions: sessionmaker[Session], engine: Any
) -> None:
    commits = 0

    def counted(_connection: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(engine, "commit", counted)
    try:
        log = AuditLog(sessions)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: log.append(work_of(n)), range(200)))
    finally:
        event.remove(engine, "commit", counted)
    assert commits < 200, "every append committed on its own: no group commit"
    _check_tree(sessions, 200)


def test_a_failing_request_does_not_undo_its_neighbours(sessions: sessionmaker[Session]) -> None:
    log = AuditLog(sessions)
    barrier = threading.Barrier(8)

    def one(n: int) -> int | str:
        def work(session: Session) -> dict[str, Any]:
            session.execute(text("SELECT 1"))
            if n % 4 == 0:
                raise ValueError("this request's own failure")
            return entry(n)

        barrier.wait()
        try:
            return log.append(work)[0].index
        except ValueError:
            return "failed"

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert answers.count("failed") == 2
    assert sorted(a for a in answers if isinstance(a, int)) == list(range(6))
    _check_tree(sessions, 6)


def test_a_request_alone_in_its_batch_that_fails_leaves_nothing_it_wrote(
    sessions: sessionmaker[Session],
) -> None:
    """A request alone in its batch runs its work without a savepoint: when the work raises
    after writing, the batch's transaction is rolled back, so what it wrote is gone, it gets its
    own error (not a 503), no index is taken, and the next append carries on."""
    log = AuditLog(sessions)
    log.append(work_of(0))
    with unit_of_work(sessions) as session:
        before = session.execute(text("SELECT domain, stamp FROM hub_changes")).all()

    def work(session: Session) -> dict[str, Any]:
        session.execute(text("UPDATE hub_changes SET stamp = 'written-then-failed'"))
        raise ValueError("this request's own failure")

    with pytest.raises(ValueError, match="own failure"):
        log.append(work)
    with unit_of_work(sessions) as session:
        after = session.execute(text("SELECT domain, stamp FROM hub_changes")).all()
    assert sorted(after) == sorted(before)
    assert log.append(work_of(1))[0].index == 1
    _check_tree(sessions, 2)


def test_when_the_batch_cannot_commit_every_waiter_gets_503(
    sessions: sessionmaker[Session],
) -> None:
    log = AuditLog(sessions)
    duplicate = entry(1)
    log.append(lambda _s: duplicate)
    with pytest.raises(AuditUnavailable):
        log.append(lambda _s: duplicate)  # same request_id: the insert fails, nothing lands
    _check_tree(sessions, 1)


def test_two_workers_with_their_own_engines_share_one_tree(database_url: str) -> None:
    """Two hub workers: separate engines, separate logs, one database."""
    engines = [make_engine(database_url) for _ in range(2)]
    logs = [AuditLog(make_sessionmaker(e)) for e in engines]
    try:
        with ThreadPoolExecutor(12) as pool:
            list(pool.map(lambda n: logs[n % 2].append(work_of(n)), range(240)))
        _check_tree(make_sessionmaker(engines[0]), 240)
    finally:
        for e in engines:
            e.dispose()


def test_proofs_and_roots_at_every_size(sessions: sessionmaker[Session]) -> None:
    log = AuditLog(sessions)
    leaves = []
    for n in range(40):
        receipt, _ = log.append(work_of(n))
        leaves.append(receipt.leaf_hash)
    with unit_of_work(sessions) as session:
        assert head(session).size == 40
        for size in range(1, 41):
            root = root_at(session, size)
            assert root == merkle.root(leaves[:size])
            for old in (1, size // 2 or 1, size):
                proof = consistency_proof(session, old, size)
                assert merkle.verify_consistency(old, size, proof, merkle.root(leaves[:old]), root)


def test_the_migration_numbers_old_entries_from_zero_and_builds_their_tree(
    tmp_path: Any,
) -> None:
    merkle.use_profile("intl")  # a database from before 0005 predates profiles: it is intl's
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    migrate(engine, "0004")
    leaves = []
    with engine.begin() as connection:
        for n in range(1, 6):  # 0004's sink numbered entries from 1
            data = entry(n)
            body = canonical_json(data)
            leaves.append(merkle.leaf_hash(body))
            connection.execute(
                text(
                    "INSERT INTO audit_entries (idx, request_id, recorded_at, kind, system_id,"
                    " department, subject, purpose, outcome, entry, leaf_hash) VALUES (:i, :r,"
                    " '2026-11-22 00:00:00', 'query', 's', 'D', 'x', 'p', 'released', :e, :h)"
                ),
                {"i": n, "r": data["request_id"], "e": body.decode(), "h": leaves[-1]},
            )
    migrate(engine)
    sessions = make_sessionmaker(engine)
    _check_tree(sessions, 5)
    AuditLog(sessions).append(work_of(99))
    _check_tree(sessions, 6)
    engine.dispose()


def test_a_proof_reads_its_nodes_and_the_head_in_one_statement(
    sessions: sessionmaker[Session], engine: Any
) -> None:
    log = AuditLog(sessions)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: log.append(work_of(n)), range(300)))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with unit_of_work(sessions) as session:
            inclusion_proof(session, 137, 300)
            consistency_proof(session, 100, 300)
            root_at(session, 299)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 3  # one a proof, not one a node, nor one more for the head
    assert all("audit_head" in s and "audit_nodes" in s for s in statements)
