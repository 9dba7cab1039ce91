"""Audit log benchmark: group-committed Merkle appends against plain inserts, proofs from trees
of up to 10^7 entries, and full verification, on SQLite and PostgreSQL, floors in the same run.

Run: ``./dev bench audit_log [--backend both|sqlite|postgresql] [--threads 1,4,16,64]
[--appends 2000] [--rounds 3] [--proof-sizes 10000,1000000,10000000] [--proofs 500]
[--verify-entries 1000000] [--verify-passes 3] [--postgres-url URL] [--quick]`` (or
``.venv/bin/python -m bench.audit_log ...``).

Each backend gets three fresh hub databases (migrated; a SQLite file in WAL mode with
``synchronous=FULL`` as :func:`exchange.db.make_engine` sets it, or a throwaway PostgreSQL
database next to ``--postgres-url``, dropped at the end):

1. **Appends.** For each thread count, ``--rounds`` rounds; in each round the same
   ``--appends`` fresh synthetic entries (the shape :mod:`exchange.query.pipeline` writes:
   system, department, subject pseudonym, purpose, 3–10 attributes with outcome, rules and
   grounds; about 1.7 kB of canonical JSON) are written twice, by that many threads, the two
   modes taking turns (which goes first alternates by round):

   * **audited**: ``AuditLog.append(work)`` on one :class:`~exchange.audit.log.AuditLog` for the
     process, signing with a :class:`~exchange.audit.checkpoints.CheckpointSigner` as the
     hub's does, *work* returning the prebuilt entry; the group commit batches whatever is
     waiting (at most ``max_batch``, 1,024), each batch one write transaction under the head
     row's lock with its entries, their complete-subtree nodes, the new head, one signed
     checkpoint note of it and every entry's inclusion proof (the signed receipt). *work* does
     not touch the session (the pipeline's re-checks and quota counts are not measured here),
     so SQLAlchemy emits no ``SAVEPOINT`` for it;
   * **plain** (the floor): the same rows (canonical JSON, leaf hash and search columns exactly
     as the log stores them, the index from a shared counter) into ``bench_plain_entries``, a
     copy of ``audit_entries`` with the same columns, key, unique constraint and indexes, one
     write ``unit_of_work`` and one Core ``INSERT`` per row: what a log without a tree or a head,
     committing each request's entry on its own, costs through the same engine.

   A round stops after ``--appends`` operations or ``ROUND_BUDGET_S``. Reported: the median rate
   of the rounds, audited/plain, each call's latency, commits and SQL statements per append
   (the engine's ``commit`` and ``before_cursor_execute`` events), and per batch its size, the
   time spent in ``exchange.audit.log._append_batch`` and in the write unit around it (both
   wrapped with timers in this process only; product code unchanged). Before timing anything
   else, the stored log is checked against what this benchmark's bulk loader would write for
   the same leaves (every ``audit_nodes`` row, the head, every search column).
2. **Proofs.** A nodes-only tree grown to each of ``--proof-sizes`` in turn: synthetic leaf
   hashes (``merkle.leaf_hash`` of ``bench-leaf-<n>``) and every complete subtree they make
   (``merkle.completed_nodes`` and ``merkle.node_hash``, a compact range in memory), bulk
   inserted (``executemany`` or ``COPY``, one transaction per ``LOAD_CHUNK`` leaves), then the
   head's size and root set. ``audit_entries`` stays empty: proofs read only the head and the
   nodes. The disk's free space is checked first. PostgreSQL gets ``VACUUM ANALYZE`` after each
   load (the local server runs without autovacuum), SQLite a WAL checkpoint. Then, interleaved
   (:func:`bench._common.measure_interleaved`), inclusion proofs of seeded random indexes at
   that size and consistency proofs between seeded random pairs of sizes, three ways each:

   * **hub**: ``proofs.inclusion_proof`` / ``consistency_proof`` in a fresh read
     ``unit_of_work``, as a route calls them (head read, then one ``SELECT`` per node through
     ``TreeReader``);
   * **floor**: the same statements with the bare driver on an open connection (``sqlite3``,
     ``psycopg`` in autocommit): the head row, then one point ``SELECT`` per node;
   * **one statement**: the head row, then every node the proof needs in a single ``SELECT``
     (a ``VALUES`` list cross-joined to the key on SQLite, ``unnest`` of two arrays on
     PostgreSQL): what batching the reads would give.

   Node reads per proof are counted with ``TreeReader.reads`` (untimed), against the bound
   2·⌈log2 n⌉ + 1 (inclusion) or + 2 (consistency). Before timing, the three agree and the
   proofs verify against the root computed in memory.
3. **Verification.** ``--verify-entries`` real entries bulk-inserted as the log stores them
   (the same rows as in step 1, with their nodes and head), one checkpoint signed by
   :class:`~exchange.audit.checkpoints.CheckpointSigner`; then ``verify_log`` over it,
   ``--verify-passes`` times, taking turns with the floor: the same statements (entry pages of
   4096, the per-level node ranges) with the bare driver and the same checks (leaf hashes, every
   node, head, checkpoint signature and root) without the ORM. Entries per second of the
   median pass; RSS growth sampled every 20 ms during each pass.
4. Prints tables, each with its ratio to its floor, then the ratios to issue 21's targets
   (:data:`TARGETS`: the best audited rate against 10,000 appends/s, the slowest proof p50 at
   the largest tree against 1 ms, ``verify_log`` against 200,000 entries/s), and writes
   ``bench/results/audit_log.json`` (``audit_log-quick.json``).

The entries, the tree builder, the databases, the bulk loader and the bare-driver reading are
in :mod:`bench._audit_store`.

Everything stays on loopback and the run ends by itself. Entries hold no personal data.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import itertools
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session, sessionmaker

import exchange.audit.log as log_module
from bench._audit_store import (
    AT,
    HEAD_SQL,
    SEED,
    BulkLoader,
    Database,
    Driver,
    TreeBuilder,
    hub_database,
    plain_table,
    record_row,
    synthetic_entry,
    synthetic_leaf,
    verify_floor,
)
from bench._common import (
    Budget,
    Stats,
    format_table,
    git_revision,
    machine_note,
    measure_interleaved,
    postgres_unavailable,
    timed,
    write_result,
)
from bench.adapter_stream import RssSampler
from exchange.audit import merkle, proofs
from exchange.audit.canonical import canonical_json
from exchange.audit.checkpoint import NoteVerifier
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.log import AuditLog, TreeReader
from exchange.audit.models import AuditRecord
from exchange.audit.verify import verify_log
from exchange.db import unit_of_work

ROUND_BUDGET_S = 20.0  # an append round stops taking operations after this
PROOF_BUDGET_S = 15.0  # timed rounds of one proof kind at one size
LOAD_CHUNK = 500_000  # leaves (or entries) per bulk-load transaction
BYTES_PER_NODE = {"sqlite": 90, "postgresql": 160}  # table + key index, measured, rounded up
DISK_MARGIN = 3  # want this many times the estimate free (WAL, checkpoints, the temp files)
ORIGIN = "bench.tongban.example/audit"
SECRET = "bench-only-secret-never-used-by-a-hub-0123456789abcdef"  # noqa: S105 - signs bench data

# --------------------------------------------------------------------------------------------
# 1. Appends: group commit against plain inserts
# --------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """One group commit: its entries, the time in ``_append_batch`` (head lock, entries,
    nodes, head, flush) and the whole write unit around it (with BEGIN and COMMIT)."""

    size: int
    work_s: float
    unit_s: float = 0.0


@dataclass
class Round:
    """One mode's share of one round: operations done, wall time, each call's latency, and
    what the engine saw meanwhile."""

    operations: int
    seconds: float
    latencies_s: list[float]
    commits: int = 0
    statements: int = 0
    batches: list[Batch] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds


def run_threads(threads: int, operations: int, operation: Callable[[int], None]) -> Round:
    """*operations* calls of ``operation(i)`` (i = 0, 1, …) shared by *threads* threads that
    start together; stops taking new ones after ``ROUND_BUDGET_S``."""
    counter = itertools.count()
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(mine: list[float]) -> None:
        barrier.wait()
        try:
            while True:
                i = next(counter)
                if i >= operations or time.perf_counter() > deadline[0]:
                    return
                started = time.perf_counter()
                operation(i)
                mine.append(time.perf_counter() - started)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(lat,), daemon=True) for lat in latencies]
    for thread in workers:
        thread.start()
    deadline[0] = time.perf_counter() + ROUND_BUDGET_S
    barrier.wait()
    started = time.perf_counter()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    done = [s for mine in latencies for s in mine]
    return Round(len(done), elapsed, done)


@contextmanager
def counted(engine: Engine) -> Iterator[dict[str, int]]:
    """Commits and SQL statements on *engine* while the block runs."""
    count = {"commits": 0, "statements": 0}

    def on_commit(_connection: Any) -> None:
        count["commits"] += 1

    def on_statement(*_args: Any) -> None:
        count["statements"] += 1

    event.listen(engine, "commit", on_commit)
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield count
    finally:
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "before_cursor_execute", on_statement)


@contextmanager
def recorded_batches() -> Iterator[list[Batch]]:
    """Every batch the group commit writes while the block runs: the module's
    ``_append_batch`` and its ``unit_of_work`` wrapped with timers in this process only (one
    leader at a time, so each unit holds exactly one batch)."""
    batches: list[Batch] = []
    module = vars(log_module)
    append_batch, unit = module["_append_batch"], module["unit_of_work"]

    def timed_batch(session: Session, batch: list[Any], *rest: Any) -> None:
        started = time.perf_counter()
        append_batch(session, batch, *rest)
        batches.append(Batch(len(batch), time.perf_counter() - started))

    @contextmanager
    def timed_unit(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
        started = time.perf_counter()
        with unit(factory, write=write) as session:
            yield session
        batches[-1].unit_s = time.perf_counter() - started

    module.update(_append_batch=timed_batch, unit_of_work=timed_unit)
    try:
        yield batches
    finally:
        module.update(_append_batch=append_batch, unit_of_work=unit)


class Appender:
    """The two ways of writing one round's entries, on one database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        signer = CheckpointSigner(SECRET, ORIGIN, interval=timedelta(seconds=60))
        self.log = AuditLog(database.sessions, signer=signer)
        self.table = plain_table()
        self.table.metadata.create_all(database.engine)
        self._plain_index = itertools.count()
        self.written: dict[str, dict[str, Any]] = {}  # request id -> entry, audited

    def audited(self, threads: int, entries: Sequence[dict[str, Any]]) -> Round:
        def one(i: int) -> None:
            entry = entries[i]
            self.log.append(lambda _session: entry)

        with counted(self.database.engine) as count, recorded_batches() as batches:
            done = run_threads(threads, len(entries), one)
        done.commits, done.statements, done.batches = count["commits"], count["statements"], batches
        for entry in entries[: done.operations]:
            self.written[entry["request_id"]] = entry
        return done

    def plain(self, threads: int, entries: Sequence[dict[str, Any]]) -> Round:
        statement = insert(self.table)

        def one(i: int) -> None:
            row = record_row(next(self._plain_index), entries[i], datetime.now(UTC))
            with unit_of_work(self.database.sessions, write=True) as session:
                session.execute(statement, row)

        with counted(self.database.engine) as count:
            done = run_threads(threads, len(entries), one)
        done.commits, done.statements = count["commits"], count["statements"]
        return done


def entry_costs(count: int = 500) -> dict[str, Any]:
    """What one entry costs before any database work: its canonical bytes (which the batch
    leader computes for every entry of a batch, inside the batch transaction)."""
    samples, sizes = [], []
    for n in range(count):
        entry = synthetic_entry(-1 - n)
        data, seconds = timed(functools.partial(canonical_json, entry))
        samples.append(seconds)
        sizes.append(len(data))
    return {
        "canonical_json": Stats.of_seconds(samples).as_dict(),
        "entry_bytes_mean": round(statistics.fmean(sizes)),
    }


def measure_appends(
    database: Database, thread_counts: Sequence[int], appends: int, rounds: int
) -> tuple[list[dict[str, Any]], Appender]:
    appender = Appender(database)
    serial = itertools.count()
    results = []
    for threads in thread_counts:
        runs: dict[str, list[Round]] = {"audited": [], "plain": []}
        for round_ in range(rounds):
            entries = [synthetic_entry(next(serial)) for _ in range(appends)]
            order = ("audited", "plain") if round_ % 2 == 0 else ("plain", "audited")
            for mode in order:
                write = appender.audited if mode == "audited" else appender.plain
                runs[mode].append(write(threads, entries))
            _progress(
                f"  {threads} threads, round {round_ + 1}: "
                f"audited {runs['audited'][-1].per_second:,.0f}/s, "
                f"plain {runs['plain'][-1].per_second:,.0f}/s"
            )
        results.append(summarise_appends(threads, runs))
    return results, appender


def summarise_appends(threads: int, runs: Mapping[str, list[Round]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"threads": threads}
    for mode, done in runs.items():
        operations = sum(r.operations for r in done)
        summary[mode] = {
            "per_second_median": round(statistics.median(r.per_second for r in done), 1),
            "per_second_rounds": [round(r.per_second, 1) for r in done],
            "operations": operations,
            "commits": sum(r.commits for r in done),
            "commits_per_operation": round(sum(r.commits for r in done) / operations, 4),
            "statements_per_operation": round(sum(r.statements for r in done) / operations, 2),
            "latency": Stats.of_seconds([s for r in done for s in r.latencies_s]).as_dict(),
        }
    batches = [batch for r in runs["audited"] for batch in r.batches]
    sizes = [b.size for b in batches]
    summary["audited"]["batches"] = {
        "count": len(batches),
        "mean": round(statistics.fmean(sizes), 2),
        "p50": statistics.median(sizes),
        "max": max(sizes),
        "work_ms_per_entry": round(1e3 * sum(b.work_s for b in batches) / sum(sizes), 4),
        "unit_ms_per_batch": Stats.of_seconds([b.unit_s for b in batches]).as_dict(),
        "begin_and_commit_ms_per_batch": Stats.of_seconds(
            [b.unit_s - b.work_s for b in batches]
        ).as_dict(),
    }
    summary["audited_over_plain"] = round(
        summary["audited"]["per_second_median"] / summary["plain"]["per_second_median"], 3
    )
    return summary


def check_loader_matches_log(appender: Appender) -> dict[str, Any]:
    """The bulk loader's rows are the log's: rebuild the tree of the stored leaves with
    :class:`TreeBuilder` and compare every node row and the head; rebuild every entry row
    with :func:`record_row` and compare every column but ``recorded_at``."""
    with unit_of_work(appender.database.sessions) as session:
        records = list(session.scalars(select(AuditRecord).order_by(AuditRecord.index)))
        stored = session.execute(text("SELECT level, idx, hash FROM audit_nodes")).all()
        head = proofs.head(session)
    if [r.index for r in records] != list(range(len(records))):
        raise AssertionError("the log's entries are not numbered 0, 1, 2, …")
    for record in records:
        expected = record_row(record.index, appender.written[record.request_id], AT)
        got = {c: getattr(record, a) for c, a in _ENTRY_ATTRIBUTES.items()}
        del expected["recorded_at"], got["recorded_at"]
        if got != expected:
            raise AssertionError(f"entry {record.index} is not the row record_row builds")
    builder, rows = TreeBuilder(), list[tuple[int, int, bytes]]()
    for record in records:
        builder.add(record.leaf_hash, rows)
    if sorted(rows) != sorted((int(a), int(b), bytes(c)) for a, b, c in stored):
        raise AssertionError("the bulk loader's nodes differ from the log's")
    if (head.size, head.root) != (builder.size, builder.root()):
        raise AssertionError("the bulk loader's head differs from the log's")
    return {"entries": len(records), "nodes": len(rows), "identical": True}


_ENTRY_ATTRIBUTES = {
    column.name: attribute.key
    for attribute in AuditRecord.__mapper__.column_attrs
    for column in attribute.columns
}

# --------------------------------------------------------------------------------------------
# 2. Proofs from big trees
# --------------------------------------------------------------------------------------------

NODE_SQL = "SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?"
NODES_SQL_PG = (
    "SELECT level, idx, hash FROM audit_nodes"
    " WHERE (level, idx) IN (SELECT * FROM unnest(?::smallint[], ?::bigint[]))"
)


def grow_tree(
    database: Database, builder: TreeBuilder, size: int, loader: BulkLoader
) -> dict[str, Any]:
    """Append synthetic leaves ``[builder.size, size)`` with their nodes, set the head."""
    check_disk(database, 2 * (size - builder.size))
    started = time.perf_counter()
    while builder.size < size:
        rows: list[tuple[int, int, bytes]] = []
        for n in range(builder.size, min(size, builder.size + LOAD_CHUNK)):
            builder.add(synthetic_leaf(n), rows)
        loader.nodes(rows)
        _progress(f"    {builder.size:,} leaves ({time.perf_counter() - started:.0f} s)")
    loader.head(size, builder.root())
    load_s = time.perf_counter() - started
    _, tidy_s = timed(lambda: database.tidy("audit_nodes"))
    with database.engine.connect() as connection:
        nodes = int(connection.scalar(text("SELECT count(*) FROM audit_nodes")))
    return {
        "load_seconds": round(load_s, 1),
        "tidy_seconds": round(tidy_s, 1),
        "node_rows": nodes,
        "database_bytes": database.size_bytes(),
    }


def check_disk(database: Database, new_rows: int) -> None:
    need = new_rows * BYTES_PER_NODE[database.backend] * DISK_MARGIN
    free = database.free_bytes()
    if free is None:
        _progress("    (free disk space unknown: PostgreSQL's data directory is not readable)")
        return
    if free < need:
        raise RuntimeError(
            f"{new_rows:,} node rows want about {need / 2**30:.1f} GiB free; "
            f"{free / 2**30:.1f} GiB is (lower --proof-sizes)"
        )


def needed_nodes(path: Sequence[merkle.Node]) -> list[merkle.Subtree]:
    """The stored subtrees a proof path reads, in the order ``merkle`` reads them."""
    found: list[merkle.Subtree] = []
    for node in path:
        if isinstance(node, merkle.Subtree):
            found.append(node)
        else:
            found.extend(merkle.span_subtrees(node.start, node.end))
    return found


class ProofReaders:
    """Proofs three ways: the hub's, the floor's point reads, and one statement."""

    def __init__(self, database: Database, driver: Driver) -> None:
        self.database = database
        self.driver = driver

    def hub_inclusion(self, index: int, size: int) -> list[bytes]:
        with unit_of_work(self.database.sessions) as session:
            return proofs.inclusion_proof(session, index, size)

    def hub_consistency(self, old: int, new: int) -> list[bytes]:
        with unit_of_work(self.database.sessions) as session:
            return proofs.consistency_proof(session, old, new)

    def floor_inclusion(self, index: int, size: int) -> list[bytes]:
        self.driver.all(HEAD_SQL, (1,))
        return merkle.inclusion_proof(index, size, self._point)

    def floor_consistency(self, old: int, new: int) -> list[bytes]:
        self.driver.all(HEAD_SQL, (1,))
        return merkle.consistency_proof(old, new, self._point)

    def one_statement_inclusion(self, index: int, size: int) -> list[bytes]:
        self.driver.all(HEAD_SQL, (1,))
        found = self._many(needed_nodes(merkle.inclusion_path(index, size)))
        return merkle.inclusion_proof(index, size, lambda level, i: found[(level, i)])

    def one_statement_consistency(self, old: int, new: int) -> list[bytes]:
        self.driver.all(HEAD_SQL, (1,))
        found = self._many(needed_nodes(merkle.consistency_path(old, new)))
        return merkle.consistency_proof(old, new, lambda level, i: found[(level, i)])

    def _point(self, level: int, index: int) -> bytes:
        ((value,),) = self.driver.all(NODE_SQL, (level, index))
        return bytes(value)

    def _many(self, nodes: Sequence[merkle.Subtree]) -> dict[tuple[int, int], bytes]:
        if not nodes:
            return {}
        if self.driver.backend == "sqlite":  # CROSS JOIN: the wanted list drives the key
            values = ", ".join(["(?, ?)"] * len(nodes))
            sql = (
                f"WITH wanted(level, idx) AS (VALUES {values})"  # noqa: S608 - placeholders only
                " SELECT n.level, n.idx, n.hash FROM wanted CROSS JOIN audit_nodes AS n"
                " ON n.level = wanted.level AND n.idx = wanted.idx"
            )
            rows = self.driver.all(sql, [v for node in nodes for v in node])
        else:
            levels, indexes = [n.level for n in nodes], [n.index for n in nodes]
            rows = self.driver.all(NODES_SQL_PG, (levels, indexes))
        return {(int(level), int(index)): bytes(value) for level, index, value in rows}


def proof_inputs(size: int, count: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Seeded random leaf indexes, and random pairs of sizes 1 <= old <= new <= size."""
    rng = random.Random(SEED + size)
    indexes = [rng.randrange(size) for _ in range(count)]
    pairs = []
    for _ in range(count):
        a, b = rng.randint(1, size), rng.randint(1, size)
        pairs.append((min(a, b), max(a, b)))
    return indexes, pairs


def count_reads(
    database: Database, indexes: Sequence[int], pairs: Sequence[tuple[int, int]], size: int
) -> dict[str, Any]:
    """``TreeReader.reads`` per proof, as ``exchange.audit.proofs`` makes them (one fresh
    reader per proof)."""
    inclusion, consistency = [], []
    with unit_of_work(database.sessions) as session:
        for index in indexes:
            reader = TreeReader(session)
            merkle.inclusion_proof(index, size, reader.get)
            inclusion.append(reader.reads)
        for old, new in pairs:
            reader = TreeReader(session)
            merkle.consistency_proof(old, new, reader.get)
            consistency.append(reader.reads)
    depth = math.ceil(math.log2(size)) if size > 1 else 0
    return {
        "inclusion": _read_summary(inclusion, 2 * depth + 1),
        "consistency": _read_summary(consistency, 2 * depth + 2),
    }


def _read_summary(reads: Sequence[int], bound: int) -> dict[str, Any]:
    return {
        "p50": statistics.median(reads),
        "mean": round(statistics.fmean(reads), 2),
        "max": max(reads),
        "bound": bound,
    }


def check_proofs(
    readers: ProofReaders,
    size: int,
    root: bytes,
    indexes: Sequence[int],
    pairs: Sequence[tuple[int, int]],
) -> None:
    """Before timing: the three ways agree, inclusion proofs verify against the root computed
    in memory, consistency proofs to the full tree verify too."""
    with unit_of_work(readers.database.sessions) as session:
        if proofs.head(session) != proofs.Head(size, root):
            raise AssertionError("the stored head is not the tree built in memory")
        for index in indexes[:20]:
            proof = readers.hub_inclusion(index, size)
            same = {
                tuple(proof),
                tuple(readers.floor_inclusion(index, size)),
                tuple(readers.one_statement_inclusion(index, size)),
            }
            if len(same) != 1:
                raise AssertionError(f"the inclusion proofs of {index} differ")
            if not merkle.verify_inclusion(synthetic_leaf(index), index, size, proof, root):
                raise AssertionError(f"the inclusion proof of {index} does not verify")
        for old, new in pairs[:20]:
            proof = readers.hub_consistency(old, new)
            same = {
                tuple(proof),
                tuple(readers.floor_consistency(old, new)),
                tuple(readers.one_statement_consistency(old, new)),
            }
            if len(same) != 1:
                raise AssertionError(f"the consistency proofs {old}->{new} differ")
            to_head = readers.hub_consistency(old, size)
            old_root = proofs.root_at(session, old)
            if not merkle.verify_consistency(old, size, to_head, old_root, root):
                raise AssertionError(f"the consistency proof {old}->{size} does not verify")


def cycling(values: Sequence[tuple[int, int]]) -> Callable[[], tuple[int, int]]:
    """Each call: the next value, from the start again after the last."""
    source = itertools.cycle(values)
    return lambda: next(source)


def proving(
    prove: Callable[[int, int], list[bytes]], inputs: Sequence[tuple[int, int]]
) -> Callable[[], object]:
    """An operation that proves the next of *inputs* each time it is called."""
    following = cycling(inputs)
    return lambda: prove(*following())


def time_proofs(
    database: Database, size: int, count: int, root: bytes, small: bool
) -> dict[str, Any]:
    """Check, count the reads of, and time inclusion and consistency proofs at *size*."""
    indexes, pairs = proof_inputs(size, count)
    driver = database.driver()
    try:
        readers = ProofReaders(database, driver)
        check_proofs(readers, size, root, indexes, pairs)
        if small:  # a small tree's roots, recomputed from every leaf
            leaves = [synthetic_leaf(n) for n in range(size)]
            with unit_of_work(database.sessions) as session:
                for old, _ in pairs[:20]:
                    if proofs.root_at(session, old) != merkle.root(leaves[:old]):
                        raise AssertionError(f"the stored tree's root at {old} is wrong")
        reads = count_reads(database, indexes, pairs, size)
        budget = Budget(runs=count, seconds=PROOF_BUDGET_S)
        inputs = {"inclusion": [(i, size) for i in indexes], "consistency": pairs}
        timings = {}
        for kind, asked in inputs.items():
            operations = {
                way: proving(getattr(readers, f"{way}_{kind}"), asked)
                for way in ("hub", "floor", "one_statement")
            }
            measured = measure_interleaved(operations, budget)
            timings[kind] = {way: stats.as_dict() for way, stats in measured.items()}
    finally:
        driver.close()
    return {"size": size, "reads": reads, "timings": timings}


def measure_proofs(database: Database, sizes: Sequence[int], count: int) -> list[dict[str, Any]]:
    builder, loader = TreeBuilder(), BulkLoader(database)
    results = []
    for size in sizes:
        _progress(f"  growing the tree to {size:,} leaves ...")
        load = grow_tree(database, builder, size, loader)
        _progress(
            f"    loaded in {load['load_seconds']} s (+{load['tidy_seconds']} s tidy), "
            f"{load['database_bytes'] / 2**20:,.0f} MiB; timing proofs ..."
        )
        timed_proofs = time_proofs(database, size, count, builder.root(), size <= 100_000)
        results.append({**timed_proofs, "load": load})
        hub = timed_proofs["timings"]["inclusion"]["hub"]
        _progress(f"    inclusion p50 {hub['p50_ms']:.2f} ms")
    return results


# --------------------------------------------------------------------------------------------
# 3. Full verification
# --------------------------------------------------------------------------------------------


def load_real_log(database: Database, entries: int) -> dict[str, Any]:
    """*entries* synthetic entries stored as the log stores them (entry rows, nodes, head), and
    one signed checkpoint of the head."""
    builder, loader = TreeBuilder(), BulkLoader(database)
    check_disk(database, 2 * entries)
    started = time.perf_counter()
    while builder.size < entries:
        rows = [  # recorded as the entry says it happened (verify_log checks the two agree)
            record_row(n, synthetic_entry(n), AT + timedelta(milliseconds=n))
            for n in range(builder.size, min(entries, builder.size + LOAD_CHUNK))
        ]
        nodes: list[tuple[int, int, bytes]] = []
        for row in rows:
            builder.add(row["leaf_hash"], nodes)
        loader.entries(rows)
        loader.nodes(nodes)
        _progress(f"    {builder.size:,} entries ({time.perf_counter() - started:.0f} s)")
    loader.head(builder.size, builder.root())
    signer = CheckpointSigner(SECRET, ORIGIN, interval=timedelta(seconds=60))
    with unit_of_work(database.sessions, write=True) as session:
        signed = signer.sign(session)
    if (signed.size, signed.root) != (entries, builder.root()):
        raise AssertionError("the checkpoint is not of the loaded head")
    load_s = time.perf_counter() - started
    _, tidy_s = timed(lambda: database.tidy("audit_entries", "audit_nodes"))
    return {
        "load_seconds": round(load_s, 1),
        "tidy_seconds": round(tidy_s, 1),
        "database_bytes": database.size_bytes(),
        "verifier": signer.verifier(),
    }


@dataclass(frozen=True)
class Pass:
    entries: int
    nodes: int
    seconds: float
    rss_growth_kib: int

    @property
    def per_second(self) -> float:
        return self.entries / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "nodes": self.nodes,
            "seconds": round(self.seconds, 2),
            "entries_per_second": round(self.per_second),
            "rss_growth_kib": self.rss_growth_kib,
        }


def hub_pass(database: Database, verifier: NoteVerifier) -> Pass:
    with RssSampler() as rss:
        started = time.perf_counter()
        with unit_of_work(database.sessions) as session:
            report = verify_log(session, verifier)
        elapsed = time.perf_counter() - started
    if not report.ok or report.checkpoints != 1:
        raise AssertionError(f"verify_log found a problem: {report.problem}")
    return Pass(report.entries, report.nodes, elapsed, rss.growth_kib)


def floor_pass(database: Database, verifier: NoteVerifier) -> Pass:
    driver = database.driver()
    try:
        with RssSampler() as rss:
            started = time.perf_counter()
            entries, nodes = verify_floor(driver, verifier)
            elapsed = time.perf_counter() - started
    finally:
        driver.close()
    return Pass(entries, nodes, elapsed, rss.growth_kib)


def measure_verification(database: Database, entries: int, passes: int) -> dict[str, Any]:
    _progress(f"  loading {entries:,} entries as the log stores them ...")
    load = load_real_log(database, entries)
    verifier: NoteVerifier = load.pop("verifier")
    _progress(f"    loaded in {load['load_seconds']} s; verifying ...")
    runs: dict[str, list[Pass]] = {"hub": [], "floor": []}
    for round_ in range(passes):
        order = ("hub", "floor") if round_ % 2 == 0 else ("floor", "hub")
        for way in order:
            measure = hub_pass if way == "hub" else floor_pass
            runs[way].append(measure(database, verifier))
        _progress(
            f"    pass {round_ + 1}: verify_log {runs['hub'][-1].per_second:,.0f} entries/s, "
            f"floor {runs['floor'][-1].per_second:,.0f}/s"
        )
    for done in runs["hub"] + runs["floor"]:
        if (done.entries, done.nodes) != (entries, runs["hub"][0].nodes):
            raise AssertionError("a pass checked another number of entries or nodes")
    median = {way: _median_pass(done) for way, done in runs.items()}
    return {
        "entries": entries,
        "load": load,
        "hub": median["hub"].as_dict(),
        "floor": median["floor"].as_dict(),
        "all_passes": {way: [p.as_dict() for p in done] for way, done in runs.items()},
        "max_rss_growth_kib": {
            way: max(p.rss_growth_kib for p in done) for way, done in runs.items()
        },
        "floor_over_hub": round(median["floor"].per_second / median["hub"].per_second, 2),
    }


def _median_pass(passes: Sequence[Pass]) -> Pass:
    return sorted(passes, key=lambda p: p.seconds)[len(passes) // 2]


# --------------------------------------------------------------------------------------------
# Output and entry point
# --------------------------------------------------------------------------------------------


def database_version(database: Database) -> str:
    if database.path is not None:
        return f"SQLite {sqlite3.sqlite_version}"
    with database.engine.connect() as connection:
        return f"PostgreSQL {connection.scalar(text('SHOW server_version'))}"


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    url = args.postgres_url
    _progress(f"{backend}: appends, {args.appends} per round, threads {args.thread_counts} ...")
    with hub_database(backend, "appends", url, workdir) as database:
        version = database_version(database)
        costs = entry_costs()
        appends, appender = measure_appends(database, args.thread_counts, args.appends, args.rounds)
        loader_check = check_loader_matches_log(appender)
    _progress(f"{backend}: proofs at {args.proof_size_list} entries ...")
    with hub_database(backend, "proofs", url, workdir) as database:
        proof_results = measure_proofs(database, args.proof_size_list, args.proofs)
    _progress(f"{backend}: verification of {args.verify_entries:,} entries ...")
    with hub_database(backend, "verify", url, workdir) as database:
        verification = measure_verification(database, args.verify_entries, args.verify_passes)
    return {
        "backend": backend,
        "database_version": version,
        "entry_costs": costs,
        "appends": appends,
        "loader_matches_log": loader_check,
        "proofs": proof_results,
        "verification": verification,
    }


TARGETS = {"appends_per_second": 10_000, "proof_p50_ms": 1.0, "verified_per_second": 200_000}
"""Issue 21, point 3: appends with group commit, a proof at 10^7 entries, full verification."""


def against_targets(backend: Mapping[str, Any]) -> dict[str, Any]:
    """One backend's figures against :data:`TARGETS`: the best audited rate (and its thread
    count and plain floor), the slowest proof kind's hub p50 at the largest tree, and the
    median verification pass; each with its ratio to the target (above 1 is met)."""
    best = max(backend["appends"], key=lambda row: row["audited"]["per_second_median"])
    largest = max(backend["proofs"], key=lambda row: row["size"])
    proof_ms = max(largest["timings"][kind]["hub"]["p50_ms"] for kind in largest["timings"])
    verified = backend["verification"]["hub"]["entries_per_second"]
    appends = best["audited"]["per_second_median"]
    return {
        "appends": {
            "per_second": round(appends),
            "threads": best["threads"],
            "plain_per_second": round(best["plain"]["per_second_median"]),
            "of_target": round(appends / TARGETS["appends_per_second"], 3),
        },
        "proof": {
            "entries": largest["size"],
            "p50_ms": proof_ms,
            "of_target": round(TARGETS["proof_p50_ms"] / proof_ms, 3),
        },
        "verification": {
            "per_second": verified,
            "floor_per_second": backend["verification"]["floor"]["entries_per_second"],
            "of_target": round(verified / TARGETS["verified_per_second"], 3),
        },
    }


def render_targets(targets: Mapping[str, Any]) -> str:
    appends, proof, verified = targets["appends"], targets["proof"], targets["verification"]

    def verdict(ratio: float) -> str:
        return f"{ratio:.2f}x of target, {'met' if ratio >= 1 else 'NOT met'}"

    return "\n".join(
        [
            "targets (issue 21, point 3):",
            f"  appends   {appends['per_second']:,}/s at {appends['threads']} threads against"
            f" {TARGETS['appends_per_second']:,}/s: {verdict(appends['of_target'])}"
            f" (plain inserts {appends['plain_per_second']:,}/s)",
            f"  proof     p50 {proof['p50_ms']:.3f} ms at {proof['entries']:,} entries against"
            f" {TARGETS['proof_p50_ms']:g} ms: {verdict(proof['of_target'])}",
            f"  verify    {verified['per_second']:,} entries/s against"
            f" {TARGETS['verified_per_second']:,}/s: {verdict(verified['of_target'])}"
            f" (floor {verified['floor_per_second']:,}/s)",
        ]
    )


def render(result: dict[str, Any]) -> str:
    load = result["load_average_1_5_15_min"]
    parts = [
        f"audit log at {result['revision']}, {result['recorded_at']}; times in ms; load average"
        f" {load['start'][0]:.2f} at the start, {load['end'][0]:.2f} at the end",
    ]
    for backend in result["backends"]:
        parts += ["", f"== {backend['database_version']} =="]
        costs = backend["entry_costs"]
        parts += [
            "",
            f"appends (median of rounds; entries of {costs['entry_bytes_mean']} bytes, "
            f"canonical_json p50 {costs['canonical_json']['p50_ms']:.3f} ms each):",
            render_appends(backend["appends"]),
        ]
        parts += ["", "proofs (hub / floor / one statement):", render_proofs(backend["proofs"])]
        parts += ["", render_verification(backend["verification"])]
        parts += ["", render_targets(backend["targets"])]
    if result["revision_at_end"] != result["revision"]:
        parts.append(
            f"warning: the checkout changed during the run, to {result['revision_at_end']}"
        )
    return "\n".join(parts)


def render_appends(rows: Sequence[Mapping[str, Any]]) -> str:
    table = []
    for row in rows:
        audited, plain = row["audited"], row["plain"]
        batches = audited["batches"]
        table.append(
            [
                str(row["threads"]),
                f"{audited['per_second_median']:,.0f}",
                f"{plain['per_second_median']:,.0f}",
                f"{row['audited_over_plain']:.2f}x",
                f"{1 / audited['commits_per_operation']:.1f}",
                f"{batches['p50']:g} / {batches['max']}",
                f"{batches['work_ms_per_entry']:.2f}",
                f"{batches['begin_and_commit_ms_per_batch']['p50_ms']:.2f}",
                f"{audited['statements_per_operation']:.1f}",
                f"{audited['latency']['p50_ms']:.2f} / {audited['latency']['p99_ms']:.2f}",
                f"{plain['latency']['p50_ms']:.2f} / {plain['latency']['p99_ms']:.2f}",
            ]
        )
    headers = [
        "threads",
        "audited/s",
        "plain/s",
        "audited/plain",
        "appends/commit",
        "batch p50/max",
        "ms/entry in batch",
        "begin+commit p50",
        "stmts/append",
        "audited p50/p99",
        "plain p50/p99",
    ]
    return format_table(headers, table)


def render_proofs(rows: Sequence[Mapping[str, Any]]) -> str:
    table = []
    for row in rows:
        for kind in ("inclusion", "consistency"):
            reads, timings = row["reads"][kind], row["timings"][kind]
            hub, floor, one = timings["hub"], timings["floor"], timings["one_statement"]
            table.append(
                [
                    f"{row['size']:,}",
                    kind,
                    f"{reads['p50']:g} / {reads['max']} ({reads['bound']})",
                    str(hub["runs"]),
                    f"{hub['p50_ms']:.3f} / {hub['p99_ms']:.3f}",
                    f"{floor['p50_ms']:.3f} / {floor['p99_ms']:.3f}",
                    f"{one['p50_ms']:.3f} / {one['p99_ms']:.3f}",
                    f"{hub['p50_ms'] / floor['p50_ms']:.2f}x",
                ]
            )
    headers = [
        "entries",
        "proof",
        "reads p50/max (bound)",
        "runs",
        "hub p50/p99",
        "floor p50/p99",
        "one stmt p50/p99",
        "hub/floor",
    ]
    loads = "; ".join(
        f"{r['size']:,}: {r['load']['node_rows']:,} nodes in {r['load']['load_seconds']} s, "
        f"{r['load']['database_bytes'] / 2**20:,.0f} MiB"
        for r in rows
    )
    return format_table(headers, table) + f"\nloads: {loads}"


def render_verification(verification: Mapping[str, Any]) -> str:
    hub, floor = verification["hub"], verification["floor"]
    rss = verification["max_rss_growth_kib"]
    return (
        f"verification of {verification['entries']:,} entries ({hub['nodes']:,} nodes, loaded "
        f"in {verification['load']['load_seconds']} s): verify_log "
        f"{hub['entries_per_second']:,}/s ({hub['seconds']} s), floor "
        f"{floor['entries_per_second']:,}/s ({floor['seconds']} s), floor/hub "
        f"{verification['floor_over_hub']:.2f}x; RSS growth up to {rss['hub']:,} KiB (hub), "
        f"{rss['floor']:,} KiB (floor)"
    )


def _progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _int_list(text_value: str) -> list[int]:
    return sorted({int(part) for part in text_value.split(",") if part.strip()})


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev bench audit_log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=["both", "sqlite", "postgresql"], default="both")
    parser.add_argument("--threads", help="thread counts for the appends (default 1,4,16,64)")
    parser.add_argument("--appends", type=int, help="entries per round and mode (default 2000)")
    parser.add_argument("--rounds", type=int, help="rounds per thread count (default 3)")
    parser.add_argument(
        "--proof-sizes", help="tree sizes for the proofs (default 10000,1000000,10000000)"
    )
    parser.add_argument("--proofs", type=int, help="timed proofs per kind and size (default 500)")
    parser.add_argument(
        "--verify-entries", type=int, help="entries in the verified log (default 1000000)"
    )
    parser.add_argument("--verify-passes", type=int, help="passes of each (default 3)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TONGBAN_TEST_POSTGRES_URL"),
        help="server for the throwaway databases (default: $TONGBAN_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: threads 1,4,16, 200 appends, 2 rounds, proofs at 1000,10000,100000 "
        "(100 each), 20000 entries verified twice (unless given)",
    )
    args = parser.parse_args(argv)
    quick = {
        "threads": "1,4,16",
        "appends": 200,
        "rounds": 2,
        "proof_sizes": "1000,10000,100000",
        "proofs": 100,
        "verify_entries": 20_000,
        "verify_passes": 2,
    }
    full = {
        "threads": "1,4,16,64",
        "appends": 2000,
        "rounds": 3,
        "proof_sizes": "10000,1000000,10000000",
        "proofs": 500,
        "verify_entries": 1_000_000,
        "verify_passes": 3,
    }
    for name, default in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.thread_counts = _int_list(args.threads)
    args.proof_size_list = _int_list(args.proof_sizes)
    if not args.thread_counts or args.thread_counts[0] < 1:
        parser.error("--threads lists positive thread counts")
    if not args.proof_size_list or args.proof_size_list[0] < 2:
        parser.error("--proof-sizes lists tree sizes of at least 2")
    if args.appends < 10 or args.rounds < 1 or args.proofs < 5:
        parser.error("need --appends >= 10, --rounds >= 1, --proofs >= 5")
    if args.verify_entries < 1 or args.verify_passes < 1:
        parser.error("need --verify-entries >= 1 and --verify-passes >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends:
        reason = postgres_unavailable(args.postgres_url)
        if reason is not None:
            print(f"note: skipping PostgreSQL: {reason}", flush=True)
            backends.remove("postgresql")
    if not backends:
        return 0
    revision, load_before = git_revision(), os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tongban-bench-") as workdir:
        results = [run_backend(b, args, Path(workdir)) for b in backends]
    for backend in results:
        backend["targets"] = against_targets(backend)
    result = {
        "benchmark": "audit_log",
        "revision": revision,
        "revision_at_end": git_revision(),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["./dev bench audit_log", *sys.argv[1:]]),
        "seconds": round(time.perf_counter() - started),
        "settings": {
            "threads": args.thread_counts,
            "appends_per_round": args.appends,
            "rounds": args.rounds,
            "round_budget_s": ROUND_BUDGET_S,
            "proof_sizes": args.proof_size_list,
            "proofs_per_kind": args.proofs,
            "proof_budget_s": PROOF_BUDGET_S,
            "verify_entries": args.verify_entries,
            "verify_passes": args.verify_passes,
            "max_batch": inspect.signature(AuditLog).parameters["max_batch"].default,
        },
        "machine": machine_note(),
        "load_average_1_5_15_min": {"start": load_before, "end": os.getloadavg()},
        "backends": results,
    }
    path = write_result("audit_log-quick" if args.quick else "audit_log", result)
    print(render(result))
    print(f"written to {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
