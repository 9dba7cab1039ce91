"""Batch extracts (批量交换): an agreement's fields for the people a consumer names, decided,
fetched and audited person by person exactly as queries, then signed and encrypted.

Making an extract, in this order (nothing is extracted unless every check passes):

1. the hub is not under the gm profile (``batch_gm_unsupported``);
2. the agreement is the calling system's, approved and in force, and in the 2025 form with the
   ``batch`` channel among its 共享方式 (``batch_not_agreed``, 403);
3. the purpose is one of the agreement's (``batch_population_refused``);
4. the population: a list of resident IDs, none twice, at most ``batch_max_subjects``, each a
   valid GB 11643 number (``invalid_subject_id`` pointing at its place); a division prefix is
   refused: the sources are read person by person and the hub keeps no register to list a
   division's people from;
5. the encryption key is one the system registered (``batch_key_unknown``);
6. each person is one query through the exchange pipeline (the same policy engine, consent,
   quota and budget; only permitted fields fetched; one audit entry each, in that citizen's
   access list); each answer is one JSON line (the attributes, what was denied or unavailable,
   the audit receipt and the query's own evidence);
7. the lines, ``batch_chunk_subjects`` at a time, become chunks, each a compact JWE (ECDH-ES,
   A256GCM) to the consumer's key; the manifest (agreement, fields, purpose, count, each chunk's
   size and SHA-256, the audit indices, the expiry) is signed with the hub's evidence key (JWS
   ``tongban-batch-manifest+jwt``);
8. the extract and an ``extract_made`` lifecycle entry of the agreement are stored in one
   transaction.

Chunks are read one by one (``GET /batch/extracts/{id}/chunks/{n}``: a chunk cursor, so a
download resumes at the first chunk it lacks; within a chunk, an HTTP byte range resumes it,
see :mod:`exchange.api.batch`) until the extract expires; the ``sweep.batch_extracts`` job then
deletes its chunks and logs ``extract_deleted``. The first chunk served under an agreement,
whole or in part, is its data delivered through the batch channel: it stops the delivery clock
(:func:`exchange.agreements.replies.record_delivery`, 20 working days after approval), not the
extract made, which the consumer may never download.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalogue.models import Resource
from exchange.agreements.lifecycle import log_agreement_event
from exchange.agreements.models import Agreement, AgreementStatus
from exchange.agreements.reading import current_status
from exchange.agreements.replies import record_delivery
from exchange.agreements.service import Actor, record_event
from exchange.audit.lifecycle import hold_log
from exchange.batch.errors import (
    BatchChunkNotFound,
    BatchExtractExpired,
    BatchExtractNotFound,
    BatchGmUnsupported,
    BatchKeyExists,
    BatchKeyUnknown,
    BatchNotAgreed,
    BatchPopulationRefused,
    InvalidBatchKey,
)
from exchange.batch.jwe import ALG, ENC, encrypt_to, public_encryption_key
from exchange.batch.models import BatchChunk, BatchExtract, BatchKey
from exchange.db import unit_of_work
from exchange.query.pipeline import ExchangePipeline, QueryInput
from exchange.security.clientauth import SystemPrincipal
from exchange.security.keys import HubKeys
from exchange.security.subjects import ID_TYPE, checked_resident_id
from schemas import ProblemDetail

__all__ = ["MANIFEST_TYP", "BatchDesk", "BatchLimits", "ExtractAsk", "delete_expired"]

MANIFEST_TYP = "tongban-batch-manifest+jwt"
CHUNK_TYPE = "application/jsonl"
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class BatchLimits:
    """Settings ``batch_extract_ttl_h``, ``batch_max_subjects``, ``batch_chunk_subjects``."""

    ttl: timedelta = timedelta(hours=72)
    max_subjects: int = 1000
    chunk_subjects: int = 100


@dataclass(frozen=True)
class ExtractAsk:
    """What a consumer asks for: the agreement, the purpose, the people, the key."""

    agreement: str
    purpose: str
    subjects: Sequence[str] = ()
    division: str | None = None
    key: str = ""
    officer: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class BatchDesk:
    """Extracts made, read and listed for case systems."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        pipeline: ExchangePipeline,
        keys: HubKeys,
        limits: BatchLimits,
        *,
        gm: bool,
    ) -> None:
        self._sessions = sessions
        self._pipeline = pipeline
        self._keys = keys
        self._limits = limits
        self._gm = gm

    # -- keys --------------------------------------------------------------------------------

    def register_key(
        self, caller: SystemPrincipal, jwk: Mapping[str, Any], *, now: datetime
    ) -> BatchKey:
        """The system's public encryption key, kept under its ``kid``; registering the same key
        again changes nothing, another key under the same ``kid`` is refused."""
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not 1 <= len(kid) <= 128:
            raise InvalidBatchKey(
                "the key needs a kid of 1 to 128 characters",
                errors=[ProblemDetail(pointer="/kid", detail="required")],
            )
        if jwk.get("use", "enc") != "enc":
            raise InvalidBatchKey(
                "an encryption key has use enc",
                errors=[ProblemDetail(pointer="/use", detail="not enc")],
            )
        try:
            public_encryption_key(jwk)
        except ValueError as exc:
            raise InvalidBatchKey(str(exc)) from None
        public = {k: jwk[k] for k in ("kty", "crv", "x", "y", "kid", "use") if k in jwk}
        with unit_of_work(self._sessions, write=True) as session:
            found = session.scalar(
                select(BatchKey).where(BatchKey.system_id == caller.system_id, BatchKey.kid == kid)
            )
            if found is not None:
                if found.jwk != public:
                    raise BatchKeyExists(f"system {caller.system_id} has another key {kid!r}")
                return found
            key = BatchKey(system_id=caller.system_id, kid=kid, jwk=public, registered_at=now)
            session.add(key)
            session.flush()
            return key

    # -- making an extract -------------------------------------------------------------------

    def make_extract(
        self, caller: SystemPrincipal, ask: ExtractAsk, *, issuer: str, now: datetime
    ) -> BatchExtract:
        """An extract, made in the order of the module docstring."""
        if self._gm:
            raise BatchGmUnsupported("batch extracts are not offered under the gm profile")
        with unit_of_work(self._sessions) as session:
            agreement = self._agreement(session, caller, ask, now)
            subjects = self._population(ask)
            jwk = self._key(session, caller, ask.key)
            resource = session.get(Resource, agreement.resource_code)
            namespace = resource.namespace if resource is not None else ""
            fields = sorted((agreement.granted or {}).keys())
        attributes = [f"{namespace}.{name}" for name in fields]
        lines = [self._line(caller, ask, subject, attributes, issuer) for subject in subjects]
        return self._store(caller, ask, agreement.id, fields, lines, jwk, issuer, now)

    def _agreement(
        self, session: Session, caller: SystemPrincipal, ask: ExtractAsk, now: datetime
    ) -> Agreement:
        agreement = session.get(Agreement, ask.agreement)
        refused = BatchNotAgreed(
            f"system {caller.system_id} has no agreement {ask.agreement!r} in force for the "
            "batch channel"
        )
        if agreement is None or agreement.system_id != caller.system_id:
            raise refused
        modes = (agreement.use or {}).get("sharing_modes") or []
        in_force = current_status(agreement, now) is AgreementStatus.APPROVED
        if not in_force or "batch" not in modes:
            raise refused
        if ask.purpose not in agreement.purposes:
            raise BatchPopulationRefused(
                f"agreement {agreement.id} is not for the purpose {ask.purpose!r}",
                errors=[ProblemDetail(pointer="/purpose", detail="not the agreement's")],
            )
        return agreement

    def _population(self, ask: ExtractAsk) -> list[str]:
        if ask.division is not None:
            raise BatchPopulationRefused(
                "an extract by division is not offered: the sources are read person by person "
                "and the hub keeps no register to list a division's people from; name them",
                errors=[ProblemDetail(pointer="/division", detail="not offered")],
            )
        if not ask.subjects or len(ask.subjects) > self._limits.max_subjects:
            raise BatchPopulationRefused(
                f"an extract names 1 to {self._limits.max_subjects} people",
                errors=[ProblemDetail(pointer="/subjects", detail="count")],
            )
        seen: set[str] = set()
        numbers = []
        for i, subject in enumerate(ask.subjects):
            number = checked_resident_id(subject, pointer=f"/subjects/{i}/id")
            if number in seen:
                raise BatchPopulationRefused(
                    "a person is named twice",
                    errors=[ProblemDetail(pointer=f"/subjects/{i}/id", detail="repeated")],
                )
            seen.add(number)
            numbers.append(number)
        return numbers

    def _key(self, session: Session, caller: SystemPrincipal, kid: str) -> dict[str, Any]:
        key = session.scalar(
            select(BatchKey).where(BatchKey.system_id == caller.system_id, BatchKey.kid == kid)
        )
        if key is None:
            raise BatchKeyUnknown(
                f"system {caller.system_id} registered no encryption key {kid!r}",
                errors=[ProblemDetail(pointer="/key", detail="not registered")],
            )
        return dict(key.jwk)

    def _line(
        self,
        caller: SystemPrincipal,
        ask: ExtractAsk,
        subject: str,
        attributes: list[str],
        issuer: str,
    ) -> dict[str, Any]:
        query = QueryInput(
            id_type=ID_TYPE,
            subject=subject,
            purpose=ask.purpose,
            attributes=attributes,
            service_item=None,
            officer=ask.officer,
        )
        answer = self._pipeline.query(caller, query, issuer=issuer)
        return {"subject": {"id_type": ID_TYPE, "id": subject}, **answer}

    def _store(
        self,
        caller: SystemPrincipal,
        ask: ExtractAsk,
        agreement_id: str,
        fields: list[str],
        lines: list[dict[str, Any]],
        jwk: Mapping[str, Any],
        issuer: str,
        now: datetime,
    ) -> BatchExtract:
        size = self._limits.chunk_subjects
        chunks = [
            encrypt_to(jwk, _jsonl(lines[start : start + size]), cty=CHUNK_TYPE)
            for start in range(0, len(lines), size)
        ]
        extract_id = "BX-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
        expires = now + self._limits.ttl
        manifest = {
            "iss": issuer,
            "aud": caller.system_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": extract_id,
            "extract": {
                "id": extract_id,
                "agreement": agreement_id,
                "fields": fields,
                "purpose": ask.purpose,
                "subjects": len(lines),
                "content_type": CHUNK_TYPE,
                "encryption": {"alg": ALG, "enc": ENC, "kid": ask.key},
                "chunks": [
                    {"seq": n, "bytes": len(jwe), "sha256": _b64(_sha256(jwe))}
                    for n, jwe in enumerate(chunks)
                ],
                "audit": [line["audit"]["index"] for line in lines if line.get("audit")],
                "expires_at": expires.isoformat(),
            },
        }
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)  # the log's head lock before the agreement's row lock
            agreement = session.get(Agreement, agreement_id, with_for_update=True)
            if agreement is None:  # not reachable: agreements are never deleted
                raise BatchNotAgreed(f"no agreement {agreement_id!r}")
            extract = BatchExtract(
                id=extract_id,
                agreement_id=agreement_id,
                system_id=caller.system_id,
                purpose=ask.purpose,
                kid=ask.key,
                subjects=len(lines),
                chunks=len(chunks),
                manifest=self._keys.sign(session, manifest, typ=MANIFEST_TYP),
                created_at=now,
                expires_at=expires,
            )
            session.add(extract)
            session.flush()  # the extract before its chunks (no relationship orders them)
            session.add_all(
                BatchChunk(extract_id=extract_id, seq=n, jwe=jwe) for n, jwe in enumerate(chunks)
            )
            actor = Actor(caller.system_id, "system", caller.department)
            detail = {"extract": extract_id, "subjects": len(lines), "chunks": len(chunks)}
            record_event(session, agreement, actor, "extract_made", now, detail)
            log_agreement_event(session, agreement, "extract_made")
            session.flush()
            return extract

    # -- reading -----------------------------------------------------------------------------

    def extract(self, caller: SystemPrincipal, extract_id: str, *, now: datetime) -> BatchExtract:
        with unit_of_work(self._sessions) as session:
            return _readable(session, caller, extract_id, now)

    def chunk(self, caller: SystemPrincipal, extract_id: str, seq: int, *, now: datetime) -> str:
        """Chunk *seq* (from 0) of the caller's extract, a compact JWE."""
        with unit_of_work(self._sessions) as session:
            _readable(session, caller, extract_id, now)
            chunk = session.get(BatchChunk, (extract_id, seq))
            if chunk is None:
                raise BatchChunkNotFound(f"extract {extract_id} has no chunk {seq}")
            return chunk.jwe

    def downloaded(self, caller: SystemPrincipal, extract_id: str, *, now: datetime) -> bool:
        """A chunk of the caller's extract was served: on the first one under its agreement
        (a 2025-form agreement on its delivery clock, the batch channel agreed, not delivered
        yet), record the delivery, which stops the clock. True if it was recorded now."""
        with unit_of_work(self._sessions) as session:
            extract = _readable(session, caller, extract_id, now)
            if not _awaits_batch_delivery(session.get(Agreement, extract.agreement_id), now):
                return False
            agreement_id = extract.agreement_id
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)  # the log's head lock before the agreement's row lock
            agreement = session.get(Agreement, agreement_id, with_for_update=True)
            if not _awaits_batch_delivery(agreement, now) or agreement is None:
                return False  # another download recorded it first
            actor = Actor(caller.system_id, "system", caller.department)
            record_delivery(session, None, agreement, "batch", now=now, by=actor)
            return True


def _awaits_batch_delivery(agreement: Agreement | None, now: datetime) -> bool:
    return (
        agreement is not None
        and agreement.delivery is None
        and agreement.delivery_due_by is not None
        and "batch" in ((agreement.use or {}).get("sharing_modes") or [])
        and current_status(agreement, now) is AgreementStatus.APPROVED
    )


def _readable(
    session: Session, caller: SystemPrincipal, extract_id: str, now: datetime
) -> BatchExtract:
    extract = session.get(BatchExtract, extract_id)
    if extract is None or extract.system_id != caller.system_id:
        raise BatchExtractNotFound(f"no extract {extract_id!r}")
    if extract.deleted_at is not None or extract.expires_at <= now:
        raise BatchExtractExpired(f"extract {extract_id} expired at {extract.expires_at}")
    return extract


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    text = "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines)
    return text.encode("utf-8")


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("ascii")).digest()


def delete_expired(session: Session, now: datetime) -> int:
    """Delete the chunks of every extract past its expiry, mark it deleted and log
    ``extract_deleted`` on its agreement; how many were deleted. The caller commits."""
    hold_log(session)
    rows = session.scalars(
        select(BatchExtract)
        .where(BatchExtract.deleted_at.is_(None), BatchExtract.expires_at <= now)
        .order_by(BatchExtract.id)
        .with_for_update()
    ).all()
    for extract in rows:
        for chunk in session.scalars(select(BatchChunk).where(BatchChunk.extract_id == extract.id)):
            session.delete(chunk)
        extract.deleted_at = now
        agreement = session.get(Agreement, extract.agreement_id)
        if agreement is not None:
            actor = Actor("tongban-scheduler", "system", None)
            detail = {"extract": extract.id}
            record_event(session, agreement, actor, "extract_deleted", now, detail)
            log_agreement_event(session, agreement, "extract_deleted")
    session.flush()
    return len(rows)
