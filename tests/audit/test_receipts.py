"""Signed receipts, no unsigned tail: every entry the log appends comes back with the hub's
signed checkpoint of the tree its batch committed and its inclusion proof in that tree; a batch
reads the old tree once; the log refuses to sign over a stored tree that does not give its
head; and an entry removed afterwards (the tail cut off, the tree recomputed) leaves its
receipt holder with a signed root that no later tree of the hub is consistent with."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from exchange.audit import merkle
from exchange.audit.checkpoint import Checkpoint, parse_vkey
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.errors import AuditUnavailable
from exchange.audit.log import AuditLog
from exchange.audit.models import AuditRecord
from exchange.audit.proofs import consistency_proof, head, inclusion_proof, root_at
from exchange.audit.sink import Receipt
from exchange.db import unit_of_work
from tests.audit.test_log import entry, work_of
from tests.profiles import key_schedule

SECRET = "a-test-secret-that-is-long-enough-for-prod-0123456789"
ORIGIN = "test.example/log"
TABLES = ("audit_entries", "audit_nodes", "audit_map_nodes")


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner(key_schedule(SECRET), ORIGIN, interval=timedelta(seconds=60))


@pytest.fixture
def operator(engine: Engine) -> Iterator[Engine]:
    """The database's administrator: the append-only triggers of the entries and nodes dropped,
    and put back afterwards (the next test on the worker's PostgreSQL database needs them)."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        for table in TABLES:
            if postgres:
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
            else:
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
    yield engine
    if postgres:
        with engine.begin() as connection:
            for table in TABLES:
                connection.execute(
                    text(
                        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                        " FOR EACH ROW EXECUTE FUNCTION tongban_audit_append_only()"
                    )
                )


@pytest.fixture
def log(sessions: sessionmaker[Session], signer: CheckpointSigner) -> AuditLog:
    return AuditLog(sessions, signer=signer)


def signed_head(signer: CheckpointSigner, receipt: Receipt) -> Checkpoint:
    """The checkpoint of *receipt*, once its note verifies with the hub's checkpoint key."""
    assert receipt.checkpoint is not None
    return parse_vkey(signer.vkey()).verify(receipt.checkpoint, origin=ORIGIN)


def assert_backed(signer: CheckpointSigner, receipt: Receipt) -> Checkpoint:
    checkpoint = signed_head(signer, receipt)
    assert checkpoint.size == receipt.size > receipt.index
    assert merkle.verify_inclusion(
        receipt.leaf_hash, receipt.index, receipt.size, receipt.inclusion, checkpoint.root
    ), f"entry {receipt.index}'s proof does not lead to the root of its signed tree"
    return checkpoint


def test_every_entry_of_a_concurrent_batch_is_in_the_one_tree_its_note_signs(
    log: AuditLog, signer: CheckpointSigner, sessions: sessionmaker[Session]
) -> None:
    started = threading.Barrier(11)

    def slow(_session: Session) -> dict[str, Any]:
        time.sleep(0.3)  # holds its batch open while the others queue up for the next one
        return entry(0)

    def one(n: int) -> Receipt:
        started.wait()
        if n:
            time.sleep(0.05)  # once the slow one has its batch
        return log.append(slow if n == 0 else work_of(n))[0]

    with ThreadPoolExecutor(11) as pool:
        receipts = list(pool.map(one, range(11)))
    assert sorted(r.index for r in receipts) == list(range(11))
    batches = Counter(r.size for r in receipts)
    assert max(batches.values()) > 1, f"every batch held one entry: {batches}"
    for size, count in batches.items():
        notes = {r.checkpoint for r in receipts if r.size == size}
        assert len(notes) == 1, f"the {count} entries of batch {size} got {len(notes)} notes"
    for receipt in receipts:
        assert_backed(signer, receipt)
    with unit_of_work(sessions) as session:
        assert signed_head(signer, max(receipts, key=lambda r: r.size)).root == head(session).root


def test_many_threads_many_batches_every_receipt_verifies(
    log: AuditLog, signer: CheckpointSigner, sessions: sessionmaker[Session]
) -> None:
    with ThreadPoolExecutor(16) as pool:
        receipts = list(pool.map(lambda n: log.append(work_of(n))[0], range(150)))
    sizes = {r.size for r in receipts}
    assert len(sizes) < len(receipts), "no batch held more than one entry"
    for receipt in receipts:
        checkpoint = assert_backed(signer, receipt)
        with unit_of_work(sessions) as session:  # the signed root is the stored tree's
            assert root_at(session, checkpoint.size) == checkpoint.root


def test_a_batch_reads_the_old_tree_in_one_statement_however_many_entries_it_proves(
    log: AuditLog, engine: Engine
) -> None:
    for n in range(37):
        log.append(work_of(n))
    reads: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "audit_nodes" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for n in range(37, 45):  # one batch each: sizes 38 to 45, every shape of right edge
            receipt, _ = log.append(work_of(n))
            assert len(receipt.inclusion) == len(merkle.inclusion_path(n, n + 1))
        with ThreadPoolExecutor(8) as pool:
            batched = list(pool.map(lambda n: log.append(work_of(n))[0], range(45, 85)))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(reads) == 8 + len({r.size for r in batched})


def test_an_unsigned_log_still_proves_its_entries(sessions: sessionmaker[Session]) -> None:
    receipt, _ = AuditLog(sessions).append(work_of(1))
    assert receipt.checkpoint is None
    with unit_of_work(sessions) as session:
        root = head(session).root
    assert merkle.verify_inclusion(receipt.leaf_hash, 0, receipt.size, receipt.inclusion, root)


def test_over_a_stored_tree_that_does_not_give_its_head_nothing_is_appended_or_signed(
    log: AuditLog,
    sessions: sessionmaker[Session],
    operator: Engine,
) -> None:
    for n in range(6):
        log.append(work_of(n))
    with operator.begin() as connection:
        connection.execute(
            text("UPDATE audit_nodes SET hash = :h WHERE level = 2 AND idx = 0"),
            {"h": b"\x00" * 32},
        )
    with pytest.raises(AuditUnavailable):
        log.append(work_of(6))
    with unit_of_work(sessions) as session:
        assert head(session).size == 6
        assert session.get(AuditRecord, 6) is None


def cut_the_tail(engine: Engine) -> None:
    """An operator with the database's admin rights removes the newest entry and recomputes
    what would betray it: its nodes, the head (size and root) and the subject map (wiped: the
    hub rebuilds it from the log on its next append)."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_map_nodes"))
        connection.execute(text("DELETE FROM audit_map_values"))
        size = connection.execute(text("SELECT size FROM audit_head WHERE id = 1")).scalar_one()
        last = size - 1
        connection.execute(text("DELETE FROM audit_entries WHERE idx = :i"), {"i": last})
        for level, index in merkle.completed_nodes(last):
            connection.execute(
                text("DELETE FROM audit_nodes WHERE level = :l AND idx = :i"),
                {"l": level, "i": index},
            )
        leaves = [
            row[0]
            for row in connection.execute(text("SELECT leaf_hash FROM audit_entries ORDER BY idx"))
        ]
        connection.execute(
            text("UPDATE audit_head SET size = :s, root = :r WHERE id = 1"),
            {"s": last, "r": merkle.root(leaves)},
        )


def test_an_entry_cut_off_the_tail_contradicts_the_note_its_receipt_holder_keeps(
    log: AuditLog,
    signer: CheckpointSigner,
    sessions: sessionmaker[Session],
    operator: Engine,
) -> None:
    earlier = [log.append(work_of(n))[0] for n in range(3)]
    with unit_of_work(sessions, write=True) as session:
        signer.sign(session)  # the last periodic checkpoint: 3 entries
    kept, _ = log.append(work_of(3))  # answered, then removed: the unsigned tail of old
    cut_the_tail(operator)
    for n in range(4, 8):  # the hub carries on; index 3 now holds another entry
        log.append(work_of(n))
    with unit_of_work(sessions, write=True) as session:
        periodic = signer.sign(session)  # the hub's own checks see nothing wrong
    assert (kept.index, periodic.size) == (3, 7)
    holder = assert_backed(signer, kept)  # the receipt still verifies on its own ...
    with unit_of_work(sessions) as session:
        assert root_at(session, holder.size) != holder.root
        cut_proof = consistency_proof(session, holder.size, periodic.size)
        now_at_3 = inclusion_proof(session, kept.index, periodic.size)
        honest_proof = consistency_proof(session, earlier[-1].size, periodic.size)
    # ... but no tree the hub shows now extends the one the holder's note signs,
    assert not merkle.verify_consistency(
        holder.size, periodic.size, cut_proof, holder.root, periodic.root
    )
    # the entry is not in it,
    assert not merkle.verify_inclusion(
        kept.leaf_hash, kept.index, periodic.size, now_at_3, periodic.root
    )
    # while a receipt of an entry left alone stays consistent with it.
    untouched = assert_backed(signer, earlier[-1])
    assert merkle.verify_consistency(
        untouched.size, periodic.size, honest_proof, untouched.root, periodic.root
    )
