"""The Merkle audit log's storage: group-committed appends and the stored tree.

**Appends.** A request hands :meth:`AuditLog.append` a *work* function; the log runs it inside a
batch transaction together with the work of every other request waiting at that moment (group
commit: one durable commit, one fsync, for the whole batch), and returns the entry's
:class:`Receipt` only once that transaction has committed. The work function does what must be
atomic with the entry (re-check agreements, count quota uses) and returns the entry; it runs in
a savepoint, so one request's failure does not undo its neighbours'. Inside a process one
request at a time leads a batch (leader/follower, no background thread), taking every request
queued by then, up to *max_batch* (1,024: under load a batch is as large as the queue); when it
is done it wakes the queue's head to lead the next batch and each request of its own batch,
once each (a lock per request, not a condition that wakes every waiter at every batch); across
processes the head row's lock (``SELECT … FOR UPDATE`` on PostgreSQL, SQLite's write lock)
orders batches, so indexes have no gaps and no duplicates, and there is one tree.

**The tree** (RFC 9162): ``audit_nodes`` keeps every *complete* subtree's hash, addressed by
(level, index) — the node at level L, index i covers leaves [i·2^L, (i+1)·2^L). Appending leaf
n writes the leaf and every subtree it completes (at most log2 n + 1 rows); a proof or a root
for any size reads O(log n) stored nodes (:mod:`exchange.audit.merkle`), never the leaves.
``audit_head`` holds the committed size and root.

**Signed receipts** (no unsigned tail). Once a batch's entries are in, the log signs *one*
checkpoint note (C2SP tlog-checkpoint, the hub's checkpoint key, through a :class:`HeadSigner`)
of the new head, and gives every entry of the batch its :class:`Receipt`: index, leaf hash, the
new size, that note and the entry's RFC 9162 inclusion proof at that size. Every answer is
then backed by a signature of a tree that holds it, so an answered entry cannot be removed
without contradicting a note its recipient holds. In order, inside the batch transaction:

1. lock the head (one statement to the driver); read, in one statement, the complete
   subtrees that cover the tree before the batch (its right edge: every older node the batch,
   the new root and the proofs read);
2. check that they give the head's root (else nothing is written and every request of the
   batch gets :class:`AuditUnavailable`: the log never signs a tree that does not extend its
   committed head);
3. run each request's work, in queue order, each in its own savepoint; a request whose work
   raised takes no index (a request alone in its batch needs no savepoint: its failure rolls
   the batch's own transaction back);
4. give the entries that came back consecutive indexes from the head's size, their canonical
   JSON and leaf hashes, and the subtrees each completes (computed in memory from the right
   edge), then insert them with **one** statement per table (:func:`exchange.audit.driver.insert`:
   an ``executemany`` of value tuples, on PostgreSQL one ``INSERT … SELECT FROM unnest`` of
   binary arrays; no ORM object and no bind processing per row, no flush per entry) and set
   the head to the new size and root;
5. add the batch to the subject map (:mod:`exchange.audit.vmap_store`, same transaction: the
   map at every size is the log's), sign the new head with the map's root as an extension
   line, and read each entry's proof from the nodes now in memory (no statement per entry).

A batch is therefore a fixed dozen statements or so whatever its size (the head, the right
edge, two inserts, the map's reads and writes, the head's update), and its cost per entry is
Python's: canonical JSON (its fast path, :mod:`exchange.audit.canonical`), the hashes, the rows,
the map. The right edge is read from the database in every batch, not kept between batches: it
is one statement of some 20 keys, under 2% of a batch of 64 in a profile, and reading it is what
checks the stored tree against the head before anything is appended to it
(``tests/audit/test_receipts.py``: a forged right-edge node makes the next append refuse). A
copy kept in the process and trusted while the head's size and root are unchanged would miss
exactly that. The entry's bytes are encoded by the leader, not by the request before it
queues: the entry is what *work* returns inside the batch (an outcome withheld or a budget
refused there changes it), and in one process the GIL runs the encoding on the same core
wherever it is called.

The per-batch note is not stored: the periodic, witnessed checkpoints
(:mod:`exchange.audit.checkpoints`) stay as they are, and any later one is consistent with
it (``GET /audit/proof/consistency``).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Table, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from exchange import clock
from exchange.audit import driver, merkle, vmap, vmap_store
from exchange.audit.canonical import canonical_json
from exchange.audit.errors import AuditUnavailable
from exchange.audit.models import AuditHead, AuditNode, AuditRecord
from exchange.audit.sink import Receipt
from exchange.db import unit_of_work
from schemas import AuditEntry

__all__ = ["AuditLog", "EntryWork", "HeadSigner", "TreeReader", "append_in", "entry_row"]

log = logging.getLogger("tongban.audit")

_ENTRIES = cast(Table, AuditRecord.__table__)

EntryWork = Callable[[Session], AuditEntry]
"""Runs inside the batch transaction; returns the entry (or raises: that request fails)."""


class HeadSigner(Protocol):
    """Signs a tree head as a checkpoint note without storing it
    (:meth:`exchange.audit.checkpoints.CheckpointSigner.sign_head`)."""

    def sign_head(self, size: int, root: bytes, map_root: bytes) -> str: ...


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class _Pending:
    work: EntryWork
    receipt: Receipt | None = None
    error: BaseException | None = None
    done: bool = False
    entry: AuditEntry | None = None
    # released once, by the leader: when the request's batch is done, or to make it lead
    wake: threading.Lock = field(default_factory=_held_lock)


class AuditLog:
    """Group-committed appends to the Merkle log of one hub database, each receipt signed by
    *signer* (the hub's checkpoint key). Without a signer the receipts carry no note: only
    for tools and tests that hand receipts to nobody."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        signer: HeadSigner | None = None,
        max_batch: int = 1024,
    ) -> None:
        self._sessions = sessions
        self._signer = signer
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._leading = False  # never False while the queue holds a request
        self._lock = threading.Lock()

    def append(self, work: EntryWork) -> tuple[Receipt, AuditEntry]:
        """Run *work* and append the entry it returns; the receipt and the entry, once the
        batch has committed durably. :class:`AuditUnavailable` if the batch cannot commit;
        whatever *work* raised, if it raised."""
        mine = _Pending(work)
        with self._lock:
            self._queue.append(mine)
            follows, self._leading = self._leading, True
        if follows:
            mine.wake.acquire()  # its batch is done, or it is the queue's head and leads
        if not mine.done:
            self._lead(mine)
        if mine.error is not None:
            raise mine.error
        assert mine.receipt is not None  # noqa: S101 - done without error means a receipt
        assert mine.entry is not None  # noqa: S101 - and the entry it was for
        return mine.receipt, mine.entry

    def _lead(self, mine: _Pending) -> None:
        """Commit the batch of everything queued (*mine* first, up to *max_batch*), then wake
        the queue's new head to lead the next batch and every request of this one: each
        waiter is woken once, for its own answer or its turn to lead."""
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        try:
            self._commit(batch)
        finally:
            with self._lock:
                following = self._queue[0] if self._queue else None
                self._leading = following is not None
            if following is not None:
                following.wake.release()
            for pending in batch:
                if pending is not mine:
                    pending.wake.release()

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            with unit_of_work(self._sessions, write=True) as session:
                _append_batch(session, batch, self._signer, alone_undone_by_rollback=True)
        except SQLAlchemyError as exc:
            log.error("audit batch of %d failed: %s", len(batch), type(exc).__name__)
            failure = AuditUnavailable("the audit entry could not be written")
            for pending in batch:
                pending.receipt, pending.error = None, pending.error or failure
        except BaseException as exc:  # noqa: BLE001 - every waiter must be woken with an answer
            for pending in batch:
                pending.receipt, pending.error = None, pending.error or exc
        finally:
            for pending in batch:
                pending.done = True


def append_in(session: Session, entry: AuditEntry) -> Receipt:
    """Append *entry* inside the caller's own transaction (committed, or rolled back, with the
    caller's other changes): a batch of one, under the head's row lock, which the caller holds
    from here until its commit. For what must be atomic with a row change that is not a
    request's (a consent's lifecycle event, :mod:`exchange.audit.lifecycle`); its receipt is
    not signed (nobody is handed one)."""
    pending = _Pending(lambda _session: entry)
    _append_batch(session, [pending], None)
    if pending.error is not None:
        raise pending.error
    assert pending.receipt is not None  # noqa: S101 - no error means a receipt
    return pending.receipt


def _append_batch(
    session: Session,
    batch: list[_Pending],
    signer: HeadSigner | None,
    *,
    alone_undone_by_rollback: bool = False,
) -> None:
    """The steps in the module docstring, for one batch. *Alone undone by rollback*: the
    batch's transaction is its own, so the work of a request alone in it needs no savepoint
    (its failure rolls the whole transaction back, :class:`_WorkRaised`)."""
    size, old_root = _locked_head(session)
    tree = _right_edge(session, size, old_root)
    if alone_undone_by_rollback and len(batch) == 1:
        entries = _run_alone(session, batch[0])
    else:
        entries = _run_work(session, batch)
    if not entries:
        return
    now = clock.now()
    stored_now = driver.stored_time(session, _ENTRIES, "recorded_at", now)
    records: list[tuple[object, ...]] = []
    nodes: list[tuple[int, int, bytes]] = []
    appended: list[tuple[_Pending, int, bytes]] = []
    updates: list[vmap_store.Update] = []
    remember, combine = tree.remember, tree.combine
    for pending, entry in entries:
        data = canonical_json(entry)
        leaf = merkle.leaf_hash(data)
        records.append(_entry_values(size, entry, data, leaf, stored_now))
        remember(0, size, leaf)
        nodes.append((0, size, leaf))
        level, index = 0, size
        while index & 1:  # every larger subtree this leaf completes (merkle.completed_nodes)
            level, index = level + 1, index >> 1
            value = combine(level, index)
            remember(level, index, value)
            nodes.append((level, index, value))
        appended.append((pending, size, leaf))
        updates.append((vmap.mapped_subject(entry["subject"]), size, leaf))
        size += 1
    driver.insert(session, "audit_entries", _ENTRY_COLUMNS, records)  # one statement a table
    driver.insert(session, "audit_nodes", _NODE_COLUMNS, nodes)
    root = merkle.root_from(size, tree.get)
    driver.run(session, _UPDATE_HEAD, (size, root, stored_now))
    _written(session, size, root, now)
    map_root = vmap_store.apply(session, version=size, updates=updates, backfill=True)
    note = None if signer is None else signer.sign_head(size, root, map_root)
    proofs = _Proofs(tree, size)
    for pending, index, leaf in appended:
        pending.receipt = Receipt(index, leaf, size, note, proofs.inclusion(index))


class _Proofs:
    """The inclusion proofs of a batch's entries in the tree of *size*: the right edge's spans
    that several proofs share (the hash of the leaves [a, size), from complete subtrees) are
    hashed once for the batch, not once per proof."""

    def __init__(self, tree: TreeReader, size: int) -> None:
        self._get, self._size = tree.get, size
        self._spans: dict[merkle.Span, bytes] = {}

    def inclusion(self, index: int) -> tuple[bytes, ...]:
        return tuple(self._hash(node) for node in merkle.inclusion_path(index, self._size))

    def _hash(self, node: merkle.Node) -> bytes:
        if isinstance(node, merkle.Subtree):
            return self._get(node.level, node.index)
        found = self._spans.get(node)
        if found is None:
            parts = merkle.span_subtrees(node.start, node.end)
            found = self._spans[node] = merkle.combine([self._get(*part) for part in parts])
        return found


def _run_work(session: Session, batch: list[_Pending]) -> list[tuple[_Pending, AuditEntry]]:
    """Each request's work in its own savepoint, in queue order; the entries of those that
    returned one (a request whose work raised gets its error and takes no index)."""
    entries: list[tuple[_Pending, AuditEntry]] = []
    for pending in batch:
        try:
            with session.begin_nested():
                entry = pending.work(session)
        except Exception as exc:  # noqa: BLE001 - the request's own failure, handed back to it
            pending.error = exc
            continue
        pending.entry = entry
        entries.append((pending, entry))
    return entries


class _WorkRaised(Exception):
    """The work of a request alone in its batch raised (the request has its error): the
    batch's transaction is rolled back, undoing whatever the work wrote before it raised."""


def _run_alone(session: Session, pending: _Pending) -> list[tuple[_Pending, AuditEntry]]:
    """The work of the one request of a batch, without a savepoint: ``SAVEPOINT`` and
    ``RELEASE`` (and SQLAlchemy's nested transaction around them) cost some 0.07 ms, and with
    no neighbour to keep, rolling the batch's own transaction back undoes the same."""
    try:
        entry = pending.work(session)
    except Exception as exc:
        pending.error = exc
        raise _WorkRaised from exc
    pending.entry = entry
    return [(pending, entry)]


def _right_edge(session: Session, size: int, root: bytes) -> TreeReader:
    """A reader holding the complete subtrees that cover the committed tree of *size* (one
    statement), once they are checked to give the head's *root*. A batch reads no other old
    node: a subtree it completes, the new root and every proof of a new leaf need, of the old
    tree, only subtrees that no larger old subtree contains."""
    tree = TreeReader(session)
    if size:
        tree.preload([merkle.Span(0, size)])
        if merkle.root_from(size, tree.get) != root:
            log.error("the stored tree does not give the head's root; nothing is appended")
            raise AuditUnavailable("the audit log's stored tree does not match its head")
    return tree


def _locked_head(session: Session) -> tuple[int, bytes]:
    """The head's size and root, its row locked until the transaction ends (on SQLite the
    write unit's ``BEGIN IMMEDIATE`` holds the database's write lock already). One statement
    to the driver: loading the row as an ORM object cost some 0.1 ms a batch."""
    dialect = session.get_bind().dialect.name
    rows = driver.run(session, _LOCK_HEAD_SQLITE if dialect == "sqlite" else _LOCK_HEAD)
    if not rows:
        raise AuditUnavailable("the audit log has no head row; run the migrations")
    size, root = rows[0]
    return int(size), bytes(root)


def _written(session: Session, size: int, root: bytes, now: datetime) -> None:
    """An ``AuditHead`` this session loaded earlier (a caller of :func:`append_in` that locked
    the head through the ORM) is the row as the batch wrote it."""
    for held in session.identity_map.values():
        if isinstance(held, AuditHead):
            set_committed_value(held, "size", size)
            set_committed_value(held, "root", root)
            set_committed_value(held, "updated_at", now)


def entry_row(
    index: int, entry: AuditEntry, data: bytes, leaf: bytes, now: datetime
) -> dict[str, object]:
    """The ``audit_entries`` row of *entry* at *index*: its canonical bytes, their leaf hash and
    the columns auditors search by, all copied from the entry."""
    values = _entry_values(index, entry, data, leaf, now)
    return {name: value for (name, _), value in zip(_ENTRY_COLUMNS, values, strict=True)}


_ENTRY_COLUMNS = (
    ("idx", "bigint"),
    ("request_id", "text"),
    ("recorded_at", "timestamptz"),
    ("kind", "text"),
    ("system_id", "text"),
    ("department", "text"),
    ("subject", "text"),
    ("purpose", "text"),
    ("outcome", "text"),
    ("entry", "text"),
    ("leaf_hash", "bytea"),
    ("object_id", "text"),
)
"""The columns of an ``audit_entries`` row, in :func:`_entry_values`'s order, with their type
on PostgreSQL (:func:`exchange.audit.driver.insert`)."""
_NODE_COLUMNS = (("level", "smallint"), ("idx", "bigint"), ("hash", "bytea"))
_UPDATE_HEAD = "UPDATE audit_head SET size = ?, root = ?, updated_at = ? WHERE id = 1"
_LOCK_HEAD_SQLITE = "SELECT size, root FROM audit_head WHERE id = 1"
_LOCK_HEAD = _LOCK_HEAD_SQLITE + " FOR UPDATE"


def _entry_values(
    index: int, entry: AuditEntry, data: bytes, leaf: bytes, now: object
) -> tuple[object, ...]:
    """The values of :data:`_ENTRY_COLUMNS`, in order (*now* as the driver takes it)."""
    return (
        index,
        entry["request_id"],
        now,
        entry["kind"],
        entry["system"],
        entry["department"],
        entry["subject"],
        entry["purpose"],
        entry["outcome"],
        data.decode("utf-8"),
        leaf,
        _object_id(entry),
    )


def _object_id(entry: AuditEntry) -> str | None:
    """The ``object.id`` of a lifecycle entry (the consent or agreement it is about), else
    ``None``: what the model's column default would find in the entry's JSON, read from the
    entry itself."""
    member = cast(Mapping[str, object], entry).get("object")
    found = member.get("id") if isinstance(member, dict) else None
    return found if isinstance(found, str) else None


@functools.cache
def _nodes_sql(terms: int, with_head: bool) -> str:
    """``SELECT`` of *terms* nodes by key, ``(level = ? AND idx = ?) OR …``: each term uses the
    primary key on SQLite and PostgreSQL (a row-value ``IN`` list made SQLite scan the whole
    table). Sent as text to the driver: building it as an SQLAlchemy expression, two
    comparisons a node, cost more than the database's answer (most of a proof's time). *With
    head*, the head's size and root come first in the same answer, as a row of level -1."""
    parts = ["SELECT -1, size, root FROM audit_head WHERE id = 1"] if with_head else []
    if terms:
        where = " OR ".join(["(level = ? AND idx = ?)"] * terms)
        parts.append(f"SELECT level, idx, hash FROM audit_nodes WHERE {where}")  # noqa: S608
    return " UNION ALL ".join(parts)


class TreeReader:
    """Stored complete-subtree hashes, read on demand (with what this batch just made)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._known: dict[tuple[int, int], bytes] = {}
        self.reads = 0

    def get(self, level: int, index: int) -> bytes:
        found = self._known.get((level, index))
        if found is None:
            self.reads += 1
            found = self._session.scalar(
                select(AuditNode.hash).where(AuditNode.level == level, AuditNode.index == index)
            )
            if found is None:
                raise LookupError(f"the audit tree has no node at level {level}, index {index}")
            self._known[(level, index)] = found
        return found

    def preload(
        self, nodes: Iterable[merkle.Node], *, with_head: bool = False
    ) -> tuple[int, bytes] | None:
        """Read every complete subtree the *nodes* need in one statement (a proof's ~2 log2 n
        hashes), instead of one query each; *with_head*, the head's (size, root) in the same
        statement, returned (``None`` if there is no head row)."""
        wanted: set[tuple[int, int]] = set()
        for node in nodes:
            parts = [node] if isinstance(node, merkle.Subtree) else merkle.span_subtrees(*node)
            wanted.update((part.level, part.index) for part in parts)
        missing = sorted(wanted - self._known.keys())
        if not missing and not with_head:
            return None
        self.reads += 1
        params = tuple(v for pair in missing for v in pair)
        head = None
        for level, index, value in driver.run(
            self._session, _nodes_sql(len(missing), with_head), params
        ):
            if level < 0:
                head = (index, bytes(value))
            else:
                self._known[(level, index)] = bytes(value)
        return head

    def remember(self, level: int, index: int, value: bytes) -> None:
        self._known[(level, index)] = value

    def combine(self, level: int, index: int) -> bytes:
        """The hash of a just-completed subtree from its two children."""
        return merkle.node_hash(self.get(level - 1, 2 * index), self.get(level - 1, 2 * index + 1))
