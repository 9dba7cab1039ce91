"""A citizen's proof that their list of accesses is complete (``GET /citizen/accesses``).

Every checkpoint commits to the subject map at its size (:mod:`exchange.audit.vmap`). For one
pseudonym, :func:`completeness` picks the checkpoint to prove against — the newest one that
meets the hub's witness policy, else the newest one — and returns its note (with the witnesses'
cosignatures), every entry of that subject below its size (index, leaf hash and kind, in log
order: accesses, and the subject's consent events, which the map commits to as well) and the
map's proof for the subject at that size. A verifier then needs nothing from the hub's word:
the note's signatures (hub key, witness policy) fix the map root, the proof shows the map holds
exactly the chain of those (index, leaf hash) pairs, and each access's text hashes to its leaf
hash. Entries after the checkpoint are not covered yet; the next checkpoint covers them.

The map is checked against the log by ``tongban audit verify`` (kind ``map``), which anyone
holding the entries can run; a hub that left an entry out of the map signs a root the entries
contradict.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit import vmap, vmap_store
from exchange.audit.checkpoint import parse_checkpoint, split_note
from exchange.audit.checkpoints import SignedCheckpoint
from exchange.audit.models import AuditCheckpoint, AuditRecord
from exchange.audit.reading import ACCESS_KINDS
from exchange.audit.witnessing import Witnessing

__all__ = ["Completeness", "SubjectEntry", "completeness"]


@dataclass(frozen=True)
class SubjectEntry:
    """One entry about the subject: its index, leaf hash and kind, and, for an entry that is not
    an access (a consent's lifecycle event), its canonical text, so that a verifier can check
    it is what its kind says rather than an access passed off as one."""

    index: int
    leaf_hash: bytes
    kind: str
    text: str | None = None


@dataclass(frozen=True)
class Completeness:
    """What a citizen's list is proven complete against, and the proof."""

    note: str  # the checkpoint's signed note, witness cosignatures included
    size: int
    witnessed: bool  # whether it meets the hub's policy with at least one witness
    subject: str
    map_root: bytes
    proof: bytes  # the encoded map proof (vmap.Proof.encode)
    entries: tuple[SubjectEntry, ...]


def completeness(
    session: Session, witnessing: Witnessing, subject: str, *, at_most: int | None = None
) -> Completeness | None:
    """The proof for *subject* (a pseudonym) against the newest witnessed checkpoint that commits
    to the map, else the newest checkpoint that does; ``None`` when no checkpoint does yet.
    *at_most*: only checkpoints of at most that size (below an access whose notice is deferred,
    ``exchange.notice``, so that the list proven complete is the list shown)."""
    candidates = (
        _candidates(session, witnessing)
        if at_most is None
        else _candidates_at_most(session, witnessing, at_most)
    )
    for note, witnessed in candidates:
        checkpoint = parse_checkpoint(split_note(note)[0])
        try:
            map_root = vmap.map_root_in(checkpoint.extensions)
            if map_root is None:
                continue  # a checkpoint signed before the hub kept the map
            proof = vmap_store.prove(session, subject, checkpoint.size)
        except (ValueError, LookupError):
            continue  # a malformed line, or a map that lost that version: try the next one
        rows = session.execute(
            select(AuditRecord.index, AuditRecord.leaf_hash, AuditRecord.kind, AuditRecord.entry)
            .where(AuditRecord.subject == subject, AuditRecord.index < checkpoint.size)
            .order_by(AuditRecord.index)
        )
        entries = tuple(
            SubjectEntry(i, bytes(leaf), kind, None if kind in ACCESS_KINDS else text)
            for i, leaf, kind, text in rows
        )
        return Completeness(
            note, checkpoint.size, witnessed, subject, map_root, proof.encode(), entries
        )
    return None


def _candidates_at_most(
    session: Session, witnessing: Witnessing, size: int
) -> list[tuple[str, bool]]:
    """The newest checkpoint of at most *size* entries that meets the policy with witnesses,
    else the newest of at most *size* entries."""
    found: list[tuple[str, bool]] = []
    vouched = witnessing.policy.quorum != "none"
    rows = session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.size <= size)
        .order_by(AuditCheckpoint.size.desc())
        .limit(64)
    ).all()
    for row in rows:
        note = witnessing.note(
            session, SignedCheckpoint(row.size, row.root, row.note, row.signed_at)
        )
        if vouched and witnessing.verdict(note).met:
            found.append((note, True))
            break
    if rows:
        newest = rows[0]
        note = witnessing.note(
            session, SignedCheckpoint(newest.size, newest.root, newest.note, newest.signed_at)
        )
        found.append((note, vouched and witnessing.verdict(note).met))
    return found


def _candidates(session: Session, witnessing: Witnessing) -> list[tuple[str, bool]]:
    """Each note to try, and whether witnesses vouch for it (a policy of quorum ``none`` asks
    for none: its checkpoints are the hub's word alone)."""
    found: list[tuple[str, bool]] = []
    vouched = witnessing.policy.quorum != "none"
    if vouched:
        newest = witnessing.newest_witnessed(session)
        if newest is not None:
            found.append((newest[0], True))
    latest = witnessing.signer.latest(session)
    if latest is not None:
        note = witnessing.note(session, latest)
        found.append((note, vouched and witnessing.verdict(note).met))
    return found
