"""The subject map's storage: versioned nodes in the hub database, batch updates, proofs at
any version (the tree and its byte layouts: :mod:`exchange.audit.vmap`).

**Versions.** The map's version is the log's size: the map at version V commits to exactly the
entries [0, V). :func:`apply` takes one batch of the log, the entries [previous version, new
version), and writes every node the batch changed as a row of ``audit_map_nodes`` keyed by
(depth, prefix, version), never updating one. The node at version V is its position's newest
row with version ≤ V (one seek on the primary key); a position without one was empty then
(positions only fill: keys are never removed, so below a leaf no row is older than it). Every
batch rewrites the root, so the versions the map has are exactly the versions of the root's
rows, and :func:`root_at` and :func:`prove` refuse any other (``LookupError``): a checkpoint's
size is always a batch's end. A batch of entries about no one (an agreement's) writes the root
row again unchanged; while the map is empty that row holds ``EMPTY`` and nothing else.
``audit_map_values`` holds each subject's current value (count, chain, last index), which the
next batch extends.

**Reads.** A change or a proof needs the nodes on a key's path (an inner node's row holds its
children's hashes, so the siblings come with it). They are read a band of levels at a time,
every position of the band for every key whose path is still going, in one statement (a
``UNION ALL`` of one-row seeks): :data:`FIRST_LEVELS`, then :data:`MORE_LEVELS` at a time. A map
of a million subjects is about 21 levels deep, so a proof is nearly always one statement.

**Kept upper nodes.** Every batch reads and rewrites the top of the tree, so :func:`apply`
keeps, per process and database, the current map's nodes above :data:`UPPER_LEVELS` (with the
root they belong to) and reads only the parts of the paths below them. They are used only if
the root row the batch reads (always, in its first statement) has the hash they were kept
for: a root hash commits to every node under it, so a batch of another worker, a batch rolled
back after its map update or a rebuilt map shows as another root, and the batch then reads
every path from the database.

**Order inside a batch** (:func:`apply`), in the caller's transaction, which must hold the
audit log's head lock (the batch's own transaction, so the map and the log commit together):

1. read the current values of the batch's subjects, the root row, and the paths of their keys
   below the kept upper nodes (all of each path if those are not the current root's);
2. check the batch is exactly the log entries [previous version, new version), in order;
3. extend each subject's value once, with all its entries of the batch;
4. recompute the changed nodes in memory (each once, children first) and insert them, then
   insert or update the values.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit import driver, vmap
from exchange.audit.models import AuditCheckpoint, AuditRecord

__all__ = [
    "FIRST_LEVELS",
    "MORE_LEVELS",
    "UPPER_LEVELS",
    "Update",
    "apply",
    "catch_up",
    "current_value",
    "latest",
    "prove",
    "root_at",
]

Update = tuple[str | None, int, bytes]
"""One log entry for the map: (subject pseudonym, index in the log, RFC 9162 leaf hash). An
entry about no one (an agreement's, subject ``-``) is ``None``: it takes its index, so the
versions stay the log's sizes, and adds nothing to the map (:func:`mapped_subject`)."""

FIRST_LEVELS = 24
"""Levels of a path read by the first statement (2^24 is some 16 million subjects)."""
MORE_LEVELS = 8
"""Levels read by each further statement, for the paths that go deeper."""
UPPER_LEVELS = 14
"""Levels of the current map a process keeps between batches (at most 2^15 − 1 positions,
a few MB): a map of 16,000 subjects is about that deep, one of a million about 21."""

_TERMS_PER_STATEMENT = 200  # SQLite allows 500 SELECTs in one compound statement
_NEWEST = 2**63 - 1  # a version bound above every version: the current map
_ROOT = (0, b"")


def apply(
    session: Session, *, version: int, updates: Sequence[Update], backfill: bool = False
) -> bytes:
    """Add one batch of the log to the map (the steps in the module docstring): *updates* are
    the entries [previous version, *version*), in any order; returns the new root.
    ``ValueError``, and nothing written, if they are not exactly those entries. With
    *backfill*, a map behind the batch's first entry first catches up from the stored log
    (:func:`catch_up`): the log's own batches pass it, so a hub upgraded with a log and no
    map builds it on its first append."""
    ordered = sorted(updates, key=itemgetter(1))
    entries: dict[bytes, list[tuple[int, bytes]]] = {}
    for pseudonym, index, leaf in ordered:
        if pseudonym is not None:
            entries.setdefault(vmap.subject_key(pseudonym), []).append((index, leaf))
    values = _values(session, list(entries))
    upper = _upper_of(session)
    loaded = _load_current(session, list(entries), upper)
    previous = loaded.versions.get(_ROOT, 0)
    if backfill and ordered and previous < ordered[0][1]:
        catch_up(session, ordered[0][1])  # nothing read so far is current: start again
        return apply(session, version=version, updates=updates)
    if version < previous or [index for _, index, _ in ordered] != list(range(previous, version)):
        raise ValueError(f"a batch is the log entries [{previous}, {version}), each once")
    if not ordered:
        return _hash(loaded.get(*_ROOT))
    if not entries:  # only entries about no one: the map is unchanged at its new version
        return _same_root(session, version, loaded.get(*_ROOT))
    changed = {}
    for key, mine in entries.items():
        value = values.get(key, vmap.Value())
        for index, leaf in mine:
            value = value.extend(index, leaf)
        changed[key] = value
    written: dict[tuple[int, bytes], vmap.Node] = {}

    def put(depth: int, prefix: bytes, node: vmap.Node) -> None:
        written[(depth, prefix)] = node

    root = vmap.update(loaded.get, {key: value.hash for key, value in changed.items()}, put)
    rows = [_row(depth, prefix, version, node) for (depth, prefix), node in written.items()]
    driver.insert(session, "audit_map_nodes", _NODE_COLUMNS, rows)
    _write_values(session, version, changed, values)
    upper.keep(root, loaded.nodes, written)
    return root


def catch_up(session: Session, size: int, *, page: int = 10_000) -> bytes:
    """Bring the map up to log size *size* from the stored entries (a hub whose log is older
    than its map, or a map rebuilt), *page* entries per version and a version at every stored
    checkpoint's size (so a proof against it can be read), under the caller's head lock; the
    root at *size*."""
    version, root = latest(session)
    stops = set(
        session.scalars(
            select(AuditCheckpoint.size).where(
                AuditCheckpoint.size > version, AuditCheckpoint.size < size
            )
        )
    )
    while version < size:
        end = min([version + page, size, *(s for s in stops if s > version)])
        rows = session.execute(
            select(AuditRecord.subject, AuditRecord.index, AuditRecord.leaf_hash)
            .where(AuditRecord.index >= version, AuditRecord.index < end)
            .order_by(AuditRecord.index)
        )
        updates = [(vmap.mapped_subject(s), i, bytes(leaf)) for s, i, leaf in rows]
        root, version = apply(session, version=end, updates=updates), end
    return root


def root_at(session: Session, version: int) -> bytes:
    """The map's root at *version* (a log size that ended a batch, or 0)."""
    loaded = _Loaded()
    _read(session, [_ROOT], version, loaded)
    _check_version(loaded, version)
    return _hash(loaded.get(*_ROOT))


def prove(session: Session, pseudonym: str, version: int) -> vmap.Proof:
    """The proof, against the root at *version*, of what the map holds for *pseudonym*:
    inclusion of its value, or non-inclusion when the subject had no entry by then."""
    key = vmap.subject_key(pseudonym)
    loaded = _Loaded()
    _load_paths(session, [key], version, loaded)
    _check_version(loaded, version)
    return vmap.prove(loaded.get, key)


def latest(session: Session) -> tuple[int, bytes]:
    """The map's newest version and its root ((0, EMPTY) before the first batch)."""
    loaded = _Loaded()
    _read(session, [_ROOT], _NEWEST, loaded)
    return loaded.versions.get(_ROOT, 0), _hash(loaded.get(*_ROOT))


def current_value(session: Session, pseudonym: str) -> vmap.Value:
    """What the map holds now of *pseudonym* (the empty value if it has no entry)."""
    key = vmap.subject_key(pseudonym)
    return _values(session, [key]).get(key, vmap.Value())


class _Upper:
    """The current map's nodes above :data:`UPPER_LEVELS`, kept by this process between
    batches (every batch reads and rewrites the top of the tree). They are kept with the root
    they are part of and used only while the stored root is still that one: a root hash
    commits to every node under it, so a batch of another worker, a rolled-back batch or a
    rebuilt map is seen at the next batch's root read, and the kept nodes are dropped. A batch
    reads them in place (no copy) and, once it has written its nodes, updates them in place:
    batches are serialised by the log's head lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: bytes | None = None
        self._nodes: dict[tuple[int, bytes], vmap.Node | None] = {}

    def view(self) -> tuple[bytes | None, Mapping[tuple[int, bytes], vmap.Node | None]]:
        """The root the kept nodes belong to, and the nodes (read-only to the caller)."""
        with self._lock:
            return self._root, self._nodes

    def keep(
        self,
        root: bytes,
        read: Mapping[tuple[int, bytes], vmap.Node | None],
        written: Mapping[tuple[int, bytes], vmap.Node | None],
    ) -> None:
        """After a batch: the tree of *root* is the kept nodes with what was *read* and then
        *written* over them (positions only fill, so nothing read and not rewritten changed)."""
        with self._lock:
            nodes = self._nodes
            for found in (read, written):
                nodes.update((p, n) for p, n in found.items() if p[0] < UPPER_LEVELS)
            self._root = root

    def clear(self) -> None:
        with self._lock:
            self._root, self._nodes = None, {}


_UPPERS: weakref.WeakKeyDictionary[object, _Upper] = weakref.WeakKeyDictionary()
_UPPERS_LOCK = threading.Lock()


def _upper_of(session: Session) -> _Upper:
    """The kept upper nodes of the database the session is bound to (one per engine)."""
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    with _UPPERS_LOCK:
        found = _UPPERS.get(engine)
        if found is None:
            found = _UPPERS[engine] = _Upper()
        return found


class _Loaded:
    """The nodes read so far at one version, over *kept* ones (the upper nodes a process kept:
    a node read now stands before a kept one). Asking for one that was not read is a bug in
    the reading, never an empty subtree."""

    def __init__(self, kept: Mapping[tuple[int, bytes], vmap.Node | None] | None = None) -> None:
        self.nodes: dict[tuple[int, bytes], vmap.Node | None] = {}
        self.versions: dict[tuple[int, bytes], int] = {}
        self._kept = kept or {}

    def has(self, position: tuple[int, bytes]) -> bool:
        return position in self.nodes or position in self._kept

    def get(self, depth: int, prefix: bytes) -> vmap.Node | None:
        position = (depth, prefix)
        try:
            return self.nodes[position]
        except KeyError:
            pass
        try:
            return self._kept[position]
        except KeyError:
            raise LookupError(f"the map node at depth {depth} was not read") from None


def _load_current(session: Session, keys: Sequence[bytes], upper: _Upper) -> _Loaded:
    """The current map's nodes on every key's path and its root row (always read: its version
    is the map's), over the nodes *upper* kept: they are used only if the root read now is the
    root they were kept for (the same hash, the same tree), else every path is read again."""
    kept_root, kept = upper.view()
    loaded = _Loaded(kept)
    _load_paths(session, keys, _NEWEST, loaded, always=[_ROOT])
    if kept_root is not None and _hash(loaded.get(*_ROOT)) != kept_root:  # changed elsewhere
        upper.clear()
        loaded = _Loaded()
        _load_paths(session, keys, _NEWEST, loaded, always=[_ROOT])
    return loaded


def _load_paths(
    session: Session,
    keys: Iterable[bytes],
    version: int,
    loaded: _Loaded,
    *,
    always: Sequence[tuple[int, bytes]] = (),
) -> None:
    """Read the nodes on every key's path at *version*, a band of levels per statement, until
    each path ends (in a leaf or an empty subtree); a path already in *loaded* is read from
    where it leaves it. The positions *always* are read in the first statement in any case."""
    pending = {key: start for key in keys if (start := _unread_from(loaded, key)) is not None}
    band, first = FIRST_LEVELS, list(always)
    while pending or first:
        wanted = {
            p
            for key, start in pending.items()
            for p in vmap.path_positions(key, start, start + band)
        }
        unread = sorted(p for p in wanted if not loaded.has(p) and p not in first)
        _read(session, first + unread, version, loaded)
        pending = {
            key: start + band
            for key, start in pending.items()
            if start + band <= vmap.KEY_BITS and _goes_on(loaded, key, start + band)
        }
        band, first = MORE_LEVELS, []


def _unread_from(loaded: _Loaded, key: bytes) -> int | None:
    """The first depth of *key*'s path not in *loaded*, or ``None`` if its path ends (in a
    leaf or an empty subtree) among the nodes loaded."""
    for depth in range(vmap.KEY_BITS + 1):
        prefix = vmap.prefix_of(key, depth)
        if not loaded.has((depth, prefix)):
            return depth
        node = loaded.get(depth, prefix)
        if node is None or node.leaf is not None:
            return None
    return None


def _goes_on(loaded: _Loaded, key: bytes, depth: int) -> bool:
    """Whether *key*'s path has an inner node at *depth* − 1 (so it continues at *depth*)."""
    node = loaded.get(depth - 1, vmap.prefix_of(key, depth - 1))
    return node is not None and node.leaf is None


def _read(
    session: Session, positions: Sequence[tuple[int, bytes]], version: int, loaded: _Loaded
) -> None:
    """Each position's newest row with version ≤ *version* (``None`` where there is none)."""
    for position in positions:
        loaded.nodes[position] = None
    for rows in _newest_rows(session, positions, version):
        for depth, prefix, row_version, hash_, key, value, left, right in rows:
            loaded.versions[(depth, bytes(prefix))] = row_version
            if bytes(hash_) == vmap.EMPTY:  # the empty map's root row
                continue
            leaf = None if key is None else vmap.Leaf(bytes(key), bytes(value))
            children = None if left is None else (bytes(left), bytes(right))
            loaded.nodes[(depth, bytes(prefix))] = vmap.Node(bytes(hash_), leaf, children)


def _newest_rows(
    session: Session, positions: Sequence[tuple[int, bytes]], version: int
) -> Iterator[Sequence[Sequence[Any]]]:
    """The rows of :func:`_read`: on PostgreSQL one statement of a fixed text (the positions as
    two arrays, each joined to its newest row), which the driver parses once and the server
    can prepare; elsewhere :data:`_TERMS_PER_STATEMENT` seeks a statement."""
    if session.get_bind().dialect.name == "postgresql":
        depths, prefixes = [d for d, _ in positions], [p for _, p in positions]
        yield driver.run(session, _NEWEST_UNNEST, (depths, prefixes, version))
        return
    for start in range(0, len(positions), _TERMS_PER_STATEMENT):
        chunk = positions[start : start + _TERMS_PER_STATEMENT]
        params = tuple(v for depth, prefix in chunk for v in (depth, prefix, version))
        yield driver.run(session, _newest_sql(len(chunk)), params)


_NEWEST_UNNEST = (
    "SELECT n.depth, n.prefix, n.version, n.hash, n.leaf_key, n.leaf_value, n.left_hash,"
    " n.right_hash FROM unnest(CAST(%b AS smallint[]), CAST(%b AS bytea[])) AS w(depth, prefix)"
    " CROSS JOIN LATERAL (SELECT * FROM audit_map_nodes m WHERE m.depth = w.depth"
    " AND m.prefix = w.prefix AND m.version <= %s ORDER BY m.version DESC LIMIT 1) AS n"
)  # psycopg's own placeholders (%b: the arrays sent binary, not escaped element by element)


@cache
def _newest_sql(terms: int) -> str:
    """``terms`` one-row seeks (the newest row of a position at or below a version) in one
    statement; each is wrapped in a subquery, as SQLite wants for a LIMIT in a UNION."""
    one = (
        "SELECT * FROM (SELECT depth, prefix, version, hash, leaf_key, leaf_value,"
        " left_hash, right_hash FROM audit_map_nodes WHERE depth = ? AND prefix = ?"
        " AND version <= ? ORDER BY version DESC LIMIT 1) AS n{i}"
    )
    return " UNION ALL ".join(one.format(i=i) for i in range(terms))


_NODE_COLUMNS = (
    ("depth", "smallint"),
    ("prefix", "bytea"),
    ("version", "bigint"),
    ("hash", "bytea"),
    ("leaf_key", "bytea"),
    ("leaf_value", "bytea"),
    ("left_hash", "bytea"),
    ("right_hash", "bytea"),
)
"""The columns of an ``audit_map_nodes`` row (:func:`_row`), with their PostgreSQL types."""


def _check_version(loaded: _Loaded, version: int) -> None:
    found = loaded.versions.get(_ROOT)
    if found != version and not (found is None and version == 0):
        raise LookupError(f"the subject map has no state at log size {version}")


def _values(session: Session, keys: Sequence[bytes]) -> dict[bytes, vmap.Value]:
    """The stored current values of *keys* (those that have one)."""
    found: dict[bytes, vmap.Value] = {}
    if session.get_bind().dialect.name == "postgresql":
        chunks = [driver.run(session, _VALUES_ANY, (list(keys),))] if keys else []
    else:
        chunks = [
            driver.run(session, _values_in(len(chunk)), tuple(chunk))
            for chunk in (
                keys[start : start + _TERMS_PER_STATEMENT]
                for start in range(0, len(keys), _TERMS_PER_STATEMENT)
            )
        ]
    for rows in chunks:
        for key, count, chain, last in rows:
            found[bytes(key)] = vmap.Value(count, bytes(chain), last)
    return found


_VALUES_ANY = (
    "SELECT map_key, entry_count, chain, last_index FROM audit_map_values"
    " WHERE map_key = ANY(CAST(%b AS bytea[]))"
)  # psycopg's own placeholder, as _NEWEST_UNNEST


@cache
def _values_in(terms: int) -> str:
    marks = ", ".join("?" * terms)
    return (
        "SELECT map_key, entry_count, chain, last_index FROM audit_map_values"  # noqa: S608
        f" WHERE map_key IN ({marks})"
    )


_VALUE_COLUMNS = (
    ("map_key", "bytea"),
    ("entry_count", "bigint"),
    ("chain", "bytea"),
    ("last_index", "bigint"),
    ("version", "bigint"),
)
_UPDATE_VALUE = (
    "UPDATE audit_map_values SET entry_count = ?, chain = ?, last_index = ?, version = ?"
    " WHERE map_key = ?"
)
_UPDATE_VALUES_UNNEST = (
    "UPDATE audit_map_values AS v SET entry_count = u.entry_count, chain = u.chain,"
    " last_index = u.last_index, version = u.version FROM unnest(CAST(%b AS bytea[]),"
    " CAST(%b AS bigint[]), CAST(%b AS bytea[]), CAST(%b AS bigint[]), CAST(%b AS bigint[]))"
    " AS u(map_key, entry_count, chain, last_index, version) WHERE v.map_key = u.map_key"
)


def _write_values(
    session: Session,
    version: int,
    changed: dict[bytes, vmap.Value],
    before: dict[bytes, vmap.Value],
) -> None:
    """Insert the new subjects' values and update the others', one statement each."""
    rows = [
        (key, value.count, value.chain, value.last_index, version) for key, value in changed.items()
    ]
    driver.insert(
        session, "audit_map_values", _VALUE_COLUMNS, [r for r in rows if r[0] not in before]
    )
    old = [r for r in rows if r[0] in before]
    if not old:
        return
    if session.get_bind().dialect.name == "postgresql":
        driver.run(session, _UPDATE_VALUES_UNNEST, tuple(list(c) for c in zip(*old, strict=True)))
    else:
        driver.run(session, _UPDATE_VALUE, [(*r[1:], r[0]) for r in old])


def _row(depth: int, prefix: bytes, version: int, node: vmap.Node) -> tuple[object, ...]:
    key, value = (None, None) if node.leaf is None else node.leaf
    left, right = (None, None) if node.children is None else node.children
    return (depth, prefix, version, node.hash, key, value, left, right)


def _same_root(session: Session, version: int, node: vmap.Node | None) -> bytes:
    """Write the root again at *version* (every version has its root row); the empty map's
    root row is its hash, ``EMPTY``, with neither leaf nor children."""
    node = node or vmap.Node(vmap.EMPTY)
    driver.insert(session, "audit_map_nodes", _NODE_COLUMNS, [_row(0, b"", version, node)])
    return node.hash


def _hash(node: vmap.Node | None) -> bytes:
    return vmap.EMPTY if node is None else node.hash
