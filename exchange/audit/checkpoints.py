"""Signing checkpoints of the log (C2SP tlog-checkpoint, Ed25519 signed notes).

The hub signs a checkpoint of its committed head on demand (``tongban audit checkpoint``,
``POST /audit/checkpoint``), when ``GET /audit/checkpoint`` finds the newest one older than
the interval while the log has grown, and on schedule (the ``audit.checkpoint`` job in
``exchange.jobs.sweeps``). Before signing it proves, from the stored tree, that the
new tree extends the newest checkpoint's (RFC 9162 consistency), under the head's lock: the hub
never signs two inconsistent checkpoints. Every signed checkpoint is kept.

Besides these, the audit log signs the head every batch commits, with the same key and origin
(:meth:`CheckpointSigner.sign_head`), for the receipts of that batch's requests; those notes are
handed out, not stored (:mod:`exchange.audit.log`).

Every checkpoint and every batch's note commits to the subject map at its size with one
extension line, ``tongban/vmap/v1 <base64 root>`` (:mod:`exchange.audit.vmap`): the hub signs,
with the tree, the index by which a citizen proves their list of accesses complete.

The key is derived from the hub secret (HKDF over the profile's hash, its own label), so every
worker signs with the same key; its name is the log's origin. Under the ``intl`` profile it is
Ed25519 (the 32 bytes are its seed); under ``gm`` it is SM2 (the 32 bytes reduced to a private
scalar, :meth:`~exchange.security.gm.sm2.SoftwareSm2Signer.from_seed`) and the notes carry the
SM2 signature type (docs/gm.md). With a certified module (``TONGBAN_SM2_MODULE``) the ``gm`` key
is instead the module's key of the configured label (:mod:`exchange.security.gm.module`),
which every worker reaches alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange import clock
from exchange.audit import merkle, vmap, vmap_store
from exchange.audit.checkpoint import Checkpoint, NoteSigner, NoteVerifier, parse_vkey
from exchange.audit.errors import InconsistentLog
from exchange.audit.log import TreeReader
from exchange.audit.models import AuditCheckpoint, AuditHead
from exchange.db import unit_of_work
from exchange.security.gm.module import Sm2Module, module_signer
from exchange.security.gm.sm2 import Sm2Signer, SoftwareSm2Signer
from exchange.security.secrets import KeySchedule, KeyUse, schedule_of

__all__ = [
    "CheckpointSigner",
    "SignedCheckpoint",
    "sign_if_stale",
]


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str
    signed_at: datetime


class CheckpointSigner:
    """Signs and serves the log's checkpoints."""

    def __init__(
        self,
        secret: str | KeySchedule,
        origin: str,
        *,
        interval: timedelta,
        module: tuple[Sm2Module, str] | None = None,
    ) -> None:
        """*module*: under ``gm``, the certified module and the label of its checkpoint key."""
        schedule = schedule_of(secret)
        seed = schedule.key(KeyUse.CHECKPOINT_SIGNING)
        key: Ed25519PrivateKey | Sm2Signer
        if schedule.profile.name == "gm" and module is not None:
            key = module_signer(*module)
        elif schedule.profile.name == "gm":
            key = SoftwareSm2Signer.from_seed(seed)
        else:
            key = Ed25519PrivateKey.from_private_bytes(seed)
        self.origin = origin
        self._signer = NoteSigner(origin, key)
        self._interval = interval

    def vkey(self) -> str:
        """The verifier key in C2SP vkey form."""
        return self._signer.vkey()

    def verifier(self) -> NoteVerifier:
        return parse_vkey(self.vkey())

    def sign_head(self, size: int, root: bytes, map_root: bytes) -> str:
        """The signed note of the tree head (*size*, *root*) and the subject map's *map_root*
        at that size, neither checked nor stored: the audit log signs the head each batch
        commits, which extends the head it locked, and hands the note to the batch's requests
        (:mod:`exchange.audit.log`)."""
        return self._signer.sign(Checkpoint(self.origin, size, root, (vmap.map_line(map_root),)))

    def latest(self, session: Session) -> SignedCheckpoint | None:
        row = session.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)
        ).first()
        return None if row is None else _view(row)

    def is_stale(self, session: Session, now: datetime) -> bool:
        """Whether the log has grown past the newest checkpoint and that one is old enough."""
        latest = self.latest(session)
        head = session.get(AuditHead, 1)
        size = 0 if head is None else head.size
        if latest is None:
            return True
        return size > latest.size and now - latest.signed_at >= self._interval

    def sign(self, session: Session, now: datetime | None = None) -> SignedCheckpoint:
        """A checkpoint of the committed head (the newest one again if the log has not grown);
        caller commits. :class:`InconsistentLog` if the tree does not extend the last one."""
        now = now or clock.now()
        head = session.get(AuditHead, 1, with_for_update=True)
        if head is None:
            raise InconsistentLog("the audit log has no head row")
        latest = self.latest(session)
        if latest is not None and latest.size == head.size:
            return latest
        tree = TreeReader(session)
        if merkle.root_from(head.size, tree.get) != head.root:
            raise InconsistentLog("the stored tree does not give the head's root")
        if latest is not None and latest.size > 0:
            proof = merkle.consistency_proof(latest.size, head.size, tree.get)
            if latest.size > head.size or not merkle.verify_consistency(
                latest.size, head.size, proof, latest.root, head.root
            ):
                raise InconsistentLog(f"the log does not extend checkpoint {latest.size}")
        map_root = vmap_store.catch_up(session, head.size)  # built already, but on an upgrade
        line = vmap.map_line(map_root)
        note = self._signer.sign(Checkpoint(self.origin, head.size, head.root, (line,)))
        row = AuditCheckpoint(size=head.size, root=head.root, note=note, signed_at=now)
        session.add(row)
        session.flush()
        return _view(row)


def _view(row: AuditCheckpoint) -> SignedCheckpoint:
    return SignedCheckpoint(row.size, row.root, row.note, row.signed_at)


def sign_if_stale(signer: CheckpointSigner, sessions: sessionmaker[Session]) -> bool:
    """Sign a checkpoint when the log grew and the newest is older than the interval."""
    with unit_of_work(sessions) as session:
        if not signer.is_stale(session, clock.now()):
            return False
    with unit_of_work(sessions, write=True) as session:
        signer.sign(session)
    return True
