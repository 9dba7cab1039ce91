"""Subject map benchmark: what the verifiable map of the audit log by subject costs at 10^6
subjects on SQLite, per append, per proof and per verification, with floors from the same run.

Run: ``./dev bench subject_map [--subjects 1000000] [--rounds 400] [--history 200]
[--proofs 500] [--levels N] [--quick]`` (or ``.venv/bin/python -m bench.subject_map ...``).

1. **Load.** A fresh migrated hub database (a SQLite file, WAL, as :func:`exchange.db.make_engine`
   sets it). Subject *i* (pseudonym: hex SHA-256 of ``bench-subject-<i>``) has one entry, index
   *i*, so the map is at version ``--subjects``. The values and the tree are computed in memory
   (:func:`exchange.audit.vmap.build` over the sorted leaves, streaming each node as it is made)
   and written with the bare driver in one transaction: ``executemany`` in chunks of 100,000
   rows, a 1 GiB page cache for the load. The stored root and a sample of proofs are checked
   against the root built in memory before anything is timed.
2. **Appends.** Batches of 1 and of 64 new entries (indexes from the map's version on; each
   entry's subject an existing one, uniformly, 9 times in 10, else a new one). Each round, on
   the same map (every timed operation runs in a transaction that is rolled back), taking
   turns:

   * **map**: ``vmap_store.apply`` inside an open transaction, as the log's batch would call it
     (the commit is the log batch's, shared, and not timed);
   * **floor, database**: the same SQL statements ``apply`` ran (captured from an untimed run on
     the same state) with the bare ``sqlite3`` driver;
   * **floor, hashing**: as many SHA-256 calls as the batch makes (one per node written, one per
     entry for its chain and one for its key, one per subject for its value);
   * **audit row**: inserting the batch's ``audit_entries`` rows (1.7 kB synthetic entries, as
     ``bench.audit_log`` makes them) with the bare driver: what the log's own row costs;
   * **log append** (batches of 1 only, for scale): ``AuditLog.append`` of one such entry into
     the same database, committed (``synchronous=FULL``): what a whole audited append costs
     today, without the map.

3. **Proofs.** ``--history`` batches of 64 entries are committed first, so the map has newer
   versions than the loaded one. Then, interleaved: ``vmap_store.prove`` (encoded) in a fresh
   read ``unit_of_work``, as a route would call it, for existing subjects at the newest version,
   the same subjects at the loaded (older) version, and never-seen subjects (non-inclusion);
   the floor, the same statements with the bare driver; ``vmap.verify_complete`` of a subject's
   list and of an absent subject; and its floor, the SHA-256 calls the verification makes (one
   per level of the path, the leaf, the value, one per entry of the chain). Proof sizes are the
   encoded bytes.

Prints tables and writes ``bench/results/subject_map.json`` (``subject_map-quick.json``). Stays
on this machine; the data is synthetic.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from bench._audit_store import record_row, synthetic_entry
from bench._common import (
    Budget,
    Stats,
    format_table,
    git_revision,
    machine_note,
    measure_interleaved,
    write_result,
)
from exchange.audit import merkle, vmap, vmap_store
from exchange.audit.log import AuditLog
from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work

SEED = 20261206
CHUNK = 100_000
NEW_SUBJECT_SHARE = 0.1
INSERT_ENTRY = (
    "INSERT INTO audit_entries (idx, request_id, recorded_at, kind, system_id, department,"
    " subject, purpose, outcome, entry, leaf_hash, object_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def pseudonym(n: int) -> str:
    return hashlib.sha256(b"bench-subject-%d" % n).hexdigest()


def entry_leaf(index: int) -> bytes:
    return merkle.leaf_hash(b"bench-entry-%d" % index)


def _progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


# --- 1. load ------------------------------------------------------------------------------------


def load(path: Path, subjects: int) -> dict[str, Any]:
    """The map of *subjects* subjects, one entry each, written straight into the database."""
    started = time.perf_counter()
    leaves, values = [], []
    for i in range(subjects):
        key = vmap.subject_key(pseudonym(i))
        value = vmap.Value().extend(i, entry_leaf(i))
        leaves.append(vmap.Leaf(key, value.hash))
        values.append((key, 1, value.chain, i, subjects))
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA cache_size = -1048576")  # 1 GiB, for this load only
    connection.execute("BEGIN IMMEDIATE")
    rows: list[tuple[Any, ...]] = []
    count = [0]

    def put(depth: int, prefix: bytes, node: vmap.Node) -> None:
        key, value = (None, None) if node.leaf is None else node.leaf
        left, right = (None, None) if node.children is None else node.children
        rows.append((depth, prefix, subjects, node.hash, key, value, left, right))
        if len(rows) >= CHUNK:
            flush()

    def flush() -> None:
        connection.executemany(
            "INSERT INTO audit_map_nodes (depth, prefix, version, hash, leaf_key, leaf_value,"
            " left_hash, right_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        count[0] += len(rows)
        rows.clear()

    computed = time.perf_counter() - started
    root = vmap.build(leaves, put)
    flush()
    connection.executemany(
        "INSERT INTO audit_map_values (map_key, entry_count, chain, last_index, version)"
        " VALUES (?, ?, ?, ?, ?)",
        values,
    )
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return {
        "subjects": subjects,
        "node_rows": count[0],
        "root": root.hex(),
        "seconds": round(time.perf_counter() - started, 1),
        "values_seconds": round(computed, 1),
        "database_bytes": path.stat().st_size,
    }


def check_load(sessions: sessionmaker[Session], loaded: dict[str, Any]) -> None:
    version, root = loaded["subjects"], bytes.fromhex(loaded["root"])
    with unit_of_work(sessions) as session:
        assert vmap_store.latest(session) == (version, root)
        for i in random.Random(SEED).sample(range(version), 20):
            proof = vmap_store.prove(session, pseudonym(i), version)
            key = vmap.subject_key(pseudonym(i))
            assert vmap.verify_complete(root, key, [(i, entry_leaf(i))], proof, size=version)


# --- statements, captured and replayed ---------------------------------------------------------

Captured = list[tuple[str, Any, bool]]


@contextmanager
def captured(engine: Engine) -> Iterator[Captured]:
    """The SQL statements (and parameters) *engine* runs in the block, transaction control
    left out."""
    seen: Captured = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLL")):
            seen.append((statement, params, many))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def replay(connection: sqlite3.Connection, statements: Captured) -> None:
    for statement, params, many in statements:
        if many:
            connection.executemany(statement, params)
        else:
            connection.execute(statement, params).fetchall()


def hashes(count: int) -> None:
    data = bytes(65)
    for _ in range(count):
        hashlib.sha256(data).digest()


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection)
        session.connection()  # BEGIN now, not inside the timed call
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


# --- 2. appends ---------------------------------------------------------------------------------


def batch_of(rng: random.Random, version: int, size: int, fresh: Iterator[int]) -> list[Any]:
    subjects = [
        next(fresh) if rng.random() < NEW_SUBJECT_SHARE else rng.randrange(version)
        for _ in range(size)
    ]
    return [(pseudonym(s), version + k, entry_leaf(version + k)) for k, s in enumerate(subjects)]


@dataclass
class AppendRound:
    """One round's batch, the statements ``apply`` ran for it, and the floors' inputs."""

    updates: list[Any]
    statements: Captured
    hash_calls: int
    audit_rows: list[tuple[Any, ...]]
    log_entry: dict[str, Any]


class Appends:
    """The timed operations of the append phase, each on the map as loaded."""

    def __init__(self, engine: Engine, path: Path, version: int, batch: int) -> None:
        self.engine, self.version, self.batch = engine, version, batch
        self.bare = sqlite3.connect(path, isolation_level=None)
        self.log = AuditLog(make_sessionmaker(engine))
        self.samples: dict[str, list[float]] = {
            "map": [],
            "database": [],
            "hashing": [],
            "audit row": [],
        }
        if batch == 1:
            self.samples["log append"] = []

    def prepare(self, updates: list[Any], entry_number: int) -> AppendRound:
        with rolled_back(self.engine) as session, captured(self.engine) as statements:
            vmap_store.apply(session, version=self.version + self.batch, updates=updates)
        nodes = sum(len(p) for sql, p, many in statements if many and "audit_map_nodes" in sql)
        now = datetime.now(UTC)
        rows = [tuple(record_row(u[1], synthetic_entry(u[1]), now).values()) for u in updates]
        return AppendRound(
            updates,
            statements,
            nodes + 2 * len(updates) + len({u[0] for u in updates}),
            [(*row[:2], row[2].isoformat(" "), *row[3:]) for row in rows],
            synthetic_entry(entry_number),
        )

    def operations(self, one: AppendRound) -> list[Callable[[], None]]:
        operations = [
            lambda: self.map(one),
            lambda: self.database(one),
            lambda: self.hashing(one),
            lambda: self.audit_row(one),
        ]
        if self.batch == 1:
            operations.append(lambda: self.log_append(one))
        return operations

    def map(self, one: AppendRound) -> None:
        with rolled_back(self.engine) as session:
            start = time.perf_counter()
            vmap_store.apply(session, version=self.version + self.batch, updates=one.updates)
            self.samples["map"].append(time.perf_counter() - start)

    def database(self, one: AppendRound) -> None:
        self.bare.execute("BEGIN")
        start = time.perf_counter()
        replay(self.bare, one.statements)
        self.samples["database"].append(time.perf_counter() - start)
        self.bare.execute("ROLLBACK")

    def hashing(self, one: AppendRound) -> None:
        start = time.perf_counter()
        hashes(one.hash_calls)
        self.samples["hashing"].append(time.perf_counter() - start)

    def audit_row(self, one: AppendRound) -> None:
        self.bare.execute("BEGIN")
        start = time.perf_counter()
        self.bare.executemany(INSERT_ENTRY, one.audit_rows)
        self.samples["audit row"].append(time.perf_counter() - start)
        self.bare.execute("ROLLBACK")

    def log_append(self, one: AppendRound) -> None:
        entry = one.log_entry
        start = time.perf_counter()
        self.log.append(lambda _session: entry)  # type: ignore[arg-type,return-value]
        self.samples["log append"].append(time.perf_counter() - start)


def measure_appends(
    engine: Engine, path: Path, version: int, batch: int, rounds: int
) -> dict[str, Any]:
    rng, fresh = random.Random(SEED + batch), iter(range(10**9, 2 * 10**9))
    appends = Appends(engine, path, version, batch)
    written = []
    for r in range(rounds):
        one = appends.prepare(batch_of(rng, version, batch, fresh), 10**8 * batch + r)
        written.append(sum(len(p) for sql, p, many in one.statements if many))
        operations = appends.operations(one)
        shift = r % len(operations)
        for operation in operations[shift:] + operations[:shift]:
            operation()
    appends.bare.close()
    stats = {name: Stats.of_seconds(values) for name, values in appends.samples.items()}
    return {
        "batch": batch,
        "rounds": rounds,
        "rows_written_per_batch_p50": statistics.median(written),
        "per_batch": {name: s.as_dict() for name, s in stats.items()},
        "per_entry_p50_ms": {name: round(s.p50_ms / batch, 4) for name, s in stats.items()},
    }


def commit_history(sessions: sessionmaker[Session], version: int, batches: int) -> Any:
    """*batches* committed batches of 64; the entries of each subject they touched."""
    rng, fresh = random.Random(SEED - 1), iter(range(2 * 10**9, 3 * 10**9))
    added: dict[str, list[tuple[int, bytes]]] = {}
    for _ in range(batches):
        updates = batch_of(rng, version, 64, fresh)
        with unit_of_work(sessions, write=True) as session:
            vmap_store.apply(session, version=version + 64, updates=updates)
        for p, index, leaf in updates:
            added.setdefault(p, []).append((index, leaf))
        version += 64
    return version, added


# --- 3. proofs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proved:
    """One subject's proof at one version, made (and checked) before the timing."""

    pseudonym: str
    key: bytes
    version: int
    entries: list[tuple[int, bytes]]
    data: bytes
    depth: int
    statements: Captured


def measure_proofs(
    engine: Engine, path: Path, loaded: int, count: int, history: int, budget: Budget
) -> dict[str, Any]:
    sessions = make_sessionmaker(engine)
    latest, added = commit_history(sessions, loaded, history)
    with unit_of_work(sessions) as session:
        roots = {v: vmap_store.root_at(session, v) for v in (loaded, latest)}

    def listed(n: int, version: int) -> list[tuple[int, bytes]]:
        mine = [(n, entry_leaf(n))] if n < loaded else []
        return mine + [e for e in added.get(pseudonym(n), []) if e[0] < version]

    chosen = random.Random(SEED + 2).sample(range(loaded), count)
    cases = {
        "present, newest": [(n, latest) for n in chosen],
        "present, loaded": [(n, loaded) for n in chosen],
        "absent, newest": [(n, latest) for n in range(3 * 10**9, 3 * 10**9 + count)],
    }
    proved: dict[str, list[Proved]] = {}
    for name, items in cases.items():
        proved[name] = []
        for n, version in items:
            with captured(engine) as statements, unit_of_work(sessions) as session:
                proof = vmap_store.prove(session, pseudonym(n), version)
            one = Proved(
                pseudonym(n),
                vmap.subject_key(pseudonym(n)),
                version,
                listed(n, version),
                proof.encode(),
                proof.depth,
                statements,
            )
            assert vmap.verify_complete(
                roots[version], one.key, one.entries, one.data, size=version
            )
            other = roots[loaded + latest - version]
            assert not vmap.verify_complete(other, one.key, one.entries, one.data)
            proved[name].append(one)
    bare = sqlite3.connect(path, isolation_level=None)

    def prove(one: Proved) -> None:
        with unit_of_work(sessions) as session:
            vmap_store.prove(session, one.pseudonym, one.version).encode()

    def verify(one: Proved) -> None:
        root = roots[one.version]
        assert vmap.verify_complete(root, one.key, one.entries, one.data, size=one.version)

    operations: dict[str, Callable[[], object]] = {
        f"prove {name}": cycling(items, prove) for name, items in proved.items()
    }
    newest = proved["present, newest"]
    operations["floor: statements, bare driver"] = cycling(
        newest, lambda one: replay(bare, one.statements)
    )
    operations["verify present, newest"] = cycling(newest, verify)
    operations["verify absent, newest"] = cycling(proved["absent, newest"], verify)
    # the verification's SHA-256 calls: one per level, the leaf, the value, one per entry
    operations["floor: hashing"] = cycling(
        newest, lambda one: hashes(one.depth + 2 + len(one.entries))
    )
    stats = measure_interleaved(operations, budget)
    bare.close()
    return {
        "loaded_version": loaded,
        "newest_version": latest,
        "timings": {name: s.as_dict() for name, s in stats.items()},
        "proofs": {name: proof_sizes(items) for name, items in proved.items()},
    }


def proof_sizes(items: Sequence[Proved]) -> dict[str, Any]:
    return {
        "bytes_p50": statistics.median(len(one.data) for one in items),
        "bytes_max": max(len(one.data) for one in items),
        "depth_p50": statistics.median(one.depth for one in items),
        "depth_max": max(one.depth for one in items),
        "statements_max": max(len(one.statements) for one in items),
    }


def cycling(items: Sequence[Any], action: Callable[[Any], None]) -> Callable[[], None]:
    position = [0]

    def run() -> None:
        action(items[position[0] % len(items)])
        position[0] += 1

    return run


# --- running and reporting ----------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    load = result["load"]
    lines = [
        f"load: {load['subjects']:,} subjects, {load['node_rows']:,} node rows, "
        f"{load['seconds']} s ({load['values_seconds']} s of it the values), "
        f"{load['database_bytes'] / 2**20:,.0f} MiB",
        "",
        "appends: p50 per batch / per entry (ms), and the map over each floor",
    ]
    rows = []
    for a in result["appends"]:
        batch, per = a["batch"], a["per_batch"]
        for name, s in per.items():
            ratio = "" if name == "map" else f"{per['map']['p50_ms'] / s['p50_ms']:.2f}×"
            rows.append(
                [
                    str(batch),
                    name,
                    str(s["runs"]),
                    f"{s['p50_ms']:.3f}",
                    f"{s['p50_ms'] / batch:.3f}",
                    f"{s['p99_ms']:.3f}",
                    ratio,
                ]
            )
    headers = ["batch", "operation", "runs", "batch p50", "entry p50", "batch p99", "map/this"]
    lines.append(format_table(headers, rows))
    proofs = result["proofs"]
    lines += [
        "",
        f"proofs (versions {proofs['loaded_version']:,} and {proofs['newest_version']:,})",
    ]
    rows = [
        [name, str(s["runs"]), f"{s['p50_ms']:.3f}", f"{s['p99_ms']:.3f}"]
        for name, s in proofs["timings"].items()
    ]
    lines.append(format_table(["operation", "runs", "p50 ms", "p99 ms"], rows))
    rows = [
        [
            name,
            f"{s['bytes_p50']:g} / {s['bytes_max']}",
            f"{s['depth_p50']:g} / {s['depth_max']}",
            str(s["statements_max"]),
        ]
        for name, s in proofs["proofs"].items()
    ]
    lines.append(format_table(["proof", "bytes p50 / max", "depth p50 / max", "statements"], rows))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev bench subject_map",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--subjects", type=int, help="subjects in the map (default 1000000)")
    parser.add_argument("--rounds", type=int, help="append rounds per batch size (default 400)")
    parser.add_argument("--history", type=int, help="committed batches of 64 (default 200)")
    parser.add_argument("--proofs", type=int, help="subjects proved per kind (default 500)")
    parser.add_argument(
        "--levels",
        type=int,
        default=vmap_store.FIRST_LEVELS,
        help="levels of a path the first read takes",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 10000 subjects, 60 rounds, 20 batches of history, 100 proofs",
    )
    args = parser.parse_args(argv)
    defaults = (
        {"subjects": 10_000, "rounds": 60, "history": 20, "proofs": 100}
        if args.quick
        else {"subjects": 1_000_000, "rounds": 400, "history": 200, "proofs": 500}
    )
    for name, default in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.subjects < 1000 or args.rounds < 5 or args.proofs < 5 or args.levels < 1:
        parser.error("need --subjects >= 1000, --rounds >= 5, --proofs >= 5, --levels >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    vmap_store.FIRST_LEVELS = args.levels
    revision, load_before, started = git_revision(), os.getloadavg(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tongban-bench-") as workdir:
        path = Path(workdir) / "hub.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        _progress(f"loading {args.subjects:,} subjects")
        loaded = load(path, args.subjects)
        check_load(make_sessionmaker(engine), loaded)
        appends = []
        for batch in (1, 64):
            _progress(f"appends in batches of {batch}")
            appends.append(measure_appends(engine, path, args.subjects, batch, args.rounds))
        _progress("proofs")
        budget = Budget(runs=args.proofs, seconds=60.0)
        proofs = measure_proofs(engine, path, args.subjects, args.proofs, args.history, budget)
        engine.dispose()
    result = {
        "benchmark": "subject_map",
        "revision": revision,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["./dev bench subject_map", *sys.argv[1:]]),
        "seconds": round(time.perf_counter() - started),
        "settings": {
            "subjects": args.subjects,
            "rounds": args.rounds,
            "history_batches": args.history,
            "proofs": args.proofs,
            "levels_per_read": args.levels,
            "new_subject_share": NEW_SUBJECT_SHARE,
            "sqlite": sqlite3.sqlite_version,
        },
        "machine": machine_note(),
        "load_average_1_5_15_min": {"start": load_before, "end": os.getloadavg()},
        "load": loaded,
        "appends": appends,
        "proofs": proofs,
    }
    out = write_result("subject_map-quick" if args.quick else "subject_map", result)
    print(render(result))
    print(f"written to {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
