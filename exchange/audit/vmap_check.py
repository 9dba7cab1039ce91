"""``tongban audit verify``'s check of the subject map (kind ``map``): the map recomputed from the
log's entries, against what the hub signed and what it serves proofs from.

The map is a function of the log: the subject map at size N holds, for every pseudonym among
the entries [0, N), the chain of that subject's (index, leaf hash) pairs
(:mod:`exchange.audit.vmap`). :class:`MapReplay` rebuilds it in memory while ``verify`` reads
the entries in index order, taking each entry's subject from the entry itself (whose bytes the
``leaf`` check binds to its leaf hash), never from a column or a stored node; it keeps the root
at every size asked about. :func:`check_map` then compares, naming the first bad one of each:

- every signed checkpoint that carries a map line (stored, or held outside the database):
  the root it commits to is the recomputed one at its size (a hub that signed a map leaving out,
  or inventing, a subject's entries);
- the stored map at each such size and at the head: its root there is the recomputed one (the
  rows a citizen's proof is read from);
- the stored current values, one per subject: each is the recomputed one, none is missing and
  none is extra.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit import vmap, vmap_store
from exchange.audit.models import AuditMapValue

__all__ = ["MapClaim", "MapReplay", "check_map"]

Report = Callable[[int | None, str], None]
"""How a problem is reported: the first bad index (or None) and the problem in plain words."""
_PAGE = 4096


class MapClaim(NamedTuple):
    """A signed checkpoint's map line: how the report names the note, its size, the root."""

    name: str
    size: int
    root: bytes


@dataclass
class MapReplay:
    """The subject map of the entries pushed so far, in memory, and its root at each of the
    *wanted* sizes. Once an entry is missing it stops: no later root can be recomputed."""

    wanted: set[int]
    size: int = 0
    broken: bool = False
    roots: dict[int, bytes] = field(default_factory=lambda: {0: vmap.EMPTY})
    values: dict[bytes, vmap.Value] = field(default_factory=dict)
    _nodes: dict[tuple[int, bytes], vmap.Node] = field(default_factory=dict)
    _pending: dict[bytes, bytes] = field(default_factory=dict)

    def push(self, subject: object, index: int, leaf: bytes) -> None:
        """Entry *index* (its ``subject`` member, its leaf hash), the next one of the log."""
        if self.broken:
            return
        pseudonym = vmap.mapped_subject(subject)
        if pseudonym is not None:
            key = vmap.subject_key(pseudonym)
            value = self.values.get(key, vmap.Value()).extend(index, leaf)
            self.values[key] = value
            self._pending[key] = value.hash
        self.size = index + 1
        if self.size in self.wanted:
            self.roots[self.size] = self._root()

    def stop(self) -> None:
        self.broken = True

    def _root(self) -> bytes:
        # past the last size asked about no root is computed again: its nodes need no keeping
        last = self.size >= max(self.wanted)
        root = vmap.update(self._get, self._pending, _discard if last else self._put)
        self._pending.clear()
        return root

    def _get(self, depth: int, prefix: bytes) -> vmap.Node | None:
        return self._nodes.get((depth, prefix))

    def _put(self, depth: int, prefix: bytes, node: vmap.Node) -> None:
        self._nodes[(depth, prefix)] = node


def _discard(_depth: int, _prefix: bytes, _node: vmap.Node) -> None:
    return None


def check_map(
    session: Session,
    replay: MapReplay,
    claims: Iterable[MapClaim],
    head_size: int | None,
    report: Report,
) -> int:
    """The checks of the module docstring; how many signed map roots held."""
    held = 0
    sizes = set()
    for claim in sorted(claims, key=lambda c: c.size):
        computed = replay.roots.get(claim.size)
        if computed is None:
            continue  # the entries below it are missing: reported as not checked already
        sizes.add(claim.size)
        if computed != claim.root:
            report(None, f"{claim.name} commits to a subject map its entries do not give")
        else:
            held += 1
    if head_size is not None and not replay.broken and replay.size == head_size:
        sizes.add(head_size)
        _check_values(session, replay, report)
    for size in sorted(sizes):
        try:
            stored = vmap_store.root_at(session, size)
        except LookupError:
            report(None, f"the stored subject map has no state at log size {size}")
            continue
        if stored != replay.roots.get(size):
            report(None, f"the stored subject map at log size {size} is not the entries' map")
    return held


def _check_values(session: Session, replay: MapReplay, report: Report) -> None:
    """Each subject's stored current value against the recomputed one, by map key."""
    present = 0
    bad: list[str] = []
    after = b""
    c = AuditMapValue.__table__.c
    while True:
        rows = session.execute(
            select(c.map_key, c.entry_count, c.chain, c.last_index)
            .where(c.map_key > after)
            .order_by(c.map_key)
            .limit(_PAGE)
        ).all()
        for key, count, chain, last in rows:
            key = bytes(key)
            want = replay.values.get(key)
            present += want is not None
            if want is None or (count, bytes(chain), last) != (
                want.count,
                want.chain,
                want.last_index,
            ):
                bad.append(key.hex()[:16])
        if len(rows) < _PAGE:
            break
        after = bytes(rows[-1][0])
    if bad:
        report(
            None,
            f"{len(bad)} stored subject map values are not their entries' (first key {bad[0]}…)",
        )
    missing = len(replay.values) - present
    if missing > 0:
        report(None, f"{missing} subjects of the log have no stored subject map value")
