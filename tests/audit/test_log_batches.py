"""The log's batch as the database sees it: one insert per table, and the subject map's upper
nodes kept between batches never standing in for a tree another worker or an undone batch
changed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from exchange.audit import vmap, vmap_store
from exchange.audit.errors import AuditUnavailable
from exchange.audit.log import AuditLog
from exchange.audit.models import AuditRecord
from exchange.db import make_engine, make_sessionmaker, unit_of_work
from tests.audit.test_log import entry


def about(subject: int) -> Callable[[Session], dict[str, Any]]:
    """The work of a request whose entry is about subject number *subject*."""
    mine = entry(0) | {"subject": hashlib.sha256(b"subject %d" % subject).hexdigest()}
    return lambda _session: dict(mine)


def assert_map_is_the_logs(sessions: sessionmaker[Session]) -> None:
    """The stored map's newest root and version are those of a map built from scratch from the
    stored entries: every subject's value the chain of its entries, in log order."""
    with unit_of_work(sessions) as session:
        rows = session.execute(
            select(AuditRecord.subject, AuditRecord.index, AuditRecord.leaf_hash).order_by(
                AuditRecord.index
            )
        ).all()
        version, root = vmap_store.latest(session)
    entries: dict[bytes, list[tuple[int, bytes]]] = {}
    for subject, index, leaf in rows:
        entries.setdefault(vmap.subject_key(subject), []).append((index, bytes(leaf)))
    leaves = [vmap.Leaf(key, vmap.value_of(mine).hash) for key, mine in entries.items()]
    assert (version, root) == (len(rows), vmap.root(leaves))


def test_a_batch_inserts_its_entries_and_its_nodes_in_one_statement_each(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    log = AuditLog(sessions)
    inserts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement.split("(")[0].split()[-1])

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with ThreadPoolExecutor(8) as pool:
            receipts = list(pool.map(lambda n: log.append(about(n))[0], range(64)))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    batches = len({r.size for r in receipts})
    assert batches < 64, "no batch held more than one entry"
    assert inserts.count("audit_entries") == batches
    assert inserts.count("audit_nodes") == batches
    assert_map_is_the_logs(sessions)


def test_two_workers_taking_turns_keep_the_map_the_logs(database_url: str) -> None:
    """Each worker keeps the map's upper nodes of its own last batch; the other's batches in
    between change them, which it must notice (a stale node would give a wrong root)."""
    engines = [make_engine(database_url) for _ in range(2)]
    try:
        logs = [AuditLog(make_sessionmaker(e)) for e in engines]
        for n in range(40):  # subjects come back, so old paths are rewritten by either worker
            logs[(n // 3) % 2].append(about(n % 11))
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: logs[n % 2].append(about(n % 13)), range(40, 120)))
        assert_map_is_the_logs(make_sessionmaker(engines[0]))
    finally:
        for e in engines:
            e.dispose()


class _Refusing:
    """A checkpoint signer that fails on its *fail_at*-th batch, after the batch's map update
    and before its commit: the batch is rolled back with the map's upper nodes of its new root
    kept."""

    def __init__(self, fail_at: int) -> None:
        self.batches, self.fail_at = 0, fail_at

    def sign_head(self, size: int, root: bytes, map_root: bytes) -> str:
        self.batches += 1
        if self.batches == self.fail_at:
            raise RuntimeError("the signer is unavailable")
        return f"note of {size}"


def test_a_batch_undone_after_its_map_update_leaves_the_next_batch_right(
    sessions: sessionmaker[Session],
) -> None:
    log = AuditLog(sessions, signer=_Refusing(fail_at=7))
    for n in range(6):
        log.append(about(n))
    with pytest.raises(RuntimeError):  # rolled back after the map was updated in its transaction
        log.append(about(6))
    for n in range(7, 40):  # new subjects, some on the paths the undone batch rewrote
        log.append(about(n))
    assert_map_is_the_logs(sessions)


def test_a_batch_whose_insert_fails_answers_every_request_and_keeps_the_map_the_logs(
    sessions: sessionmaker[Session],
) -> None:
    log = AuditLog(sessions)
    first = entry(1)
    log.append(lambda _s: first)
    with pytest.raises(AuditUnavailable):
        log.append(lambda _s: dict(first))  # the same request_id: the batch's insert fails
    log.append(about(2))
    assert_map_is_the_logs(sessions)


def test_with_small_batches_every_waiter_is_answered_and_leads_in_turn(
    sessions: sessionmaker[Session],
) -> None:
    """More requests wait than a batch takes: the leader hands the next batch to the queue's
    head and wakes each request of its own once; none is left waiting or answered twice."""
    log = AuditLog(sessions, max_batch=3)
    with ThreadPoolExecutor(16) as pool:
        receipts = list(pool.map(lambda n: log.append(about(n))[0], range(90)))
    assert sorted(r.index for r in receipts) == list(range(90))
    sizes = [r.size for r in receipts]
    assert all(sizes.count(size) <= 3 for size in set(sizes))
    assert len(set(sizes)) < 90, "no batch held more than one entry"
    assert_map_is_the_logs(sessions)
