"""Lifecycle entries: a consent's or an agreement's events as entries of the Merkle log.

A lifecycle entry (``kind`` ``consent`` or ``agreement``, ``audit-entry.schema.json``) names
its object (type, id, version), the event, the status the event leaves it in and the digest of
the object's signed artefact: base64 SHA-256 of the RFC 8785 bytes of what the hub signed (a
consent receipt's ``consent`` claim; an agreement's signed terms). It is appended in the
caller's own transaction (:func:`append_lifecycle`), so the row change and its entry commit
together or not at all. The caller takes the log's head lock first (:func:`hold_log`), before
any row lock, in the order the exchange's audit batch takes them (head, then consents), so the
two never wait on each other in a cycle.

``audit_entries.object_id`` indexes the entries by object (filled from the entry as it is
inserted); :func:`latest_events` reads the newest entry of every object a request relies on in
one statement, from the entry's own bytes (never from a copied column).

The exchange trusts a consent or agreement only when its signed artefact verifies with a hub
key (:class:`SignedArtefacts`, each signature checked once per process) and its newest
lifecycle entry carries that artefact's digest and leaves it in force.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import jwt
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from exchange import clock
from exchange.audit import merkle
from exchange.audit.canonical import canonical_json
from exchange.audit.errors import AuditUnavailable
from exchange.audit.log import append_in
from exchange.audit.models import AuditHead, AuditRecord
from exchange.audit.sink import Receipt
from exchange.security.gm.profile import profile_named
from exchange.security.keys import verifying_key
from exchange.security.models import HubSigningKey
from schemas import AuditEntry, LifecycleEntry

__all__ = [
    "NO_SUBJECT",
    "PAGE_SIZE",
    "LoggedEvent",
    "SignedArtefacts",
    "append_lifecycle",
    "artefact_digest",
    "audited_rows",
    "digest_problem",
    "event_view",
    "hold_log",
    "latest_events",
    "logged_at",
    "logged_events",
    "unlogged_rows",
]

PAGE_SIZE = 1000
"""Rows read at once by :func:`audited_rows`, and recorded at most by one record run."""

NO_SUBJECT = "-"
"""The ``subject`` and ``purpose`` of an agreement's entries: an agreement is about no one."""


def artefact_digest(artefact: Mapping[str, Any]) -> str:
    """Base64 H(RFC 8785 bytes) of a signed artefact, H the audit log's hash: SHA-256, or SM3
    under the ``gm`` profile (bound with the log's tree, ``merkle.use_profile``; docs/gm.md)."""
    digest = profile_named(merkle.bound_profile).hash(canonical_json(artefact))
    return base64.b64encode(digest).decode("ascii")


def hold_log(session: Session) -> None:
    """Take the log's head lock now, before any consent or agreement row lock."""
    if session.get(AuditHead, 1, with_for_update=True) is None:
        raise AuditUnavailable("the audit log has no head row; run the migrations")


def append_lifecycle(session: Session, entry: LifecycleEntry) -> Receipt:
    """Append *entry* to the log in the caller's transaction (committed with it)."""
    hold_log(session)
    return append_in(session, cast("AuditEntry", entry))


@dataclass(frozen=True)
class LoggedEvent:
    """A lifecycle entry as the log holds it."""

    index: int
    leaf_hash: bytes
    at: str
    event: str
    status_after: str
    digest: str
    version: int

    @property
    def leaf_hash_b64(self) -> str:
        return base64.b64encode(self.leaf_hash).decode("ascii")


def _logged(index: int, leaf: bytes, text: str) -> LoggedEvent | None:
    try:
        entry = json.loads(text)
        member = entry["object"]
        return LoggedEvent(
            index,
            leaf,
            str(entry["at"]),
            str(member["event"]),
            str(member["status_after"]),
            str(member["digest"]),
            int(member["version"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def latest_events(session: Session, ids: Iterable[str]) -> dict[str, LoggedEvent]:
    """The newest lifecycle entry of each of *ids* that has one (one statement, indexed)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    newer = aliased(AuditRecord)
    newest = (
        select(func.max(newer.index)).where(newer.object_id == AuditRecord.object_id)
    ).scalar_subquery()
    rows = session.execute(
        select(
            AuditRecord.object_id, AuditRecord.index, AuditRecord.leaf_hash, AuditRecord.entry
        ).where(AuditRecord.object_id.in_(wanted), AuditRecord.index == newest)
    )
    found: dict[str, LoggedEvent] = {}
    for object_id, index, leaf, text in rows:
        event = _logged(index, leaf, text)
        if object_id is not None and event is not None:
            found[object_id] = event
    return found


def logged_events(session: Session, ids: Iterable[str]) -> dict[str, list[LoggedEvent]]:
    """Every lifecycle entry of each of *ids*, oldest first (one statement)."""
    found: dict[str, list[LoggedEvent]] = {object_id: [] for object_id in ids}
    if not found:
        return found
    rows = session.execute(
        select(AuditRecord.object_id, AuditRecord.index, AuditRecord.leaf_hash, AuditRecord.entry)
        .where(AuditRecord.object_id.in_(sorted(found)))
        .order_by(AuditRecord.index)
    )
    for object_id, index, leaf, text in rows:
        event = _logged(index, leaf, text)
        if object_id in found and event is not None:
            found[object_id].append(event)
    return found


def event_view(event: LoggedEvent) -> dict[str, Any]:
    """A lifecycle entry as a history shows it: enough to fetch its inclusion proof
    (``GET /audit/proof/inclusion?index=…&size=…``) and check it against the leaf hash."""
    return {
        "index": event.index,
        "leaf_hash": event.leaf_hash_b64,
        "at": event.at,
        "event": event.event,
        "status_after": event.status_after,
        "version": event.version,
        "digest": event.digest,
    }


class SignedArtefacts:
    """The claims of JWS the hub signed, each signature verified once per process (an LRU keyed
    by the token's SHA-256): any hub key ever made (keys are never deleted), the expected
    ``typ``. ``None`` for a token that does not verify."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._seen: OrderedDict[bytes, dict[str, Any] | None] = OrderedDict()
        self._lock = threading.Lock()

    def claims(self, session: Session, token: str, *, typ: str) -> dict[str, Any] | None:
        key = hashlib.sha256(f"{typ}\n{token}".encode()).digest()
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return self._seen[key]
        found = _verified(session, token, typ)
        with self._lock:
            self._seen[key] = found
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return found

    def signed_member(
        self,
        session: Session,
        token: str,
        *,
        typ: str,
        member: str,
        expected: Mapping[str, Any],
        noun: str,
        object_id: str,
        what: str,
    ) -> dict[str, Any] | str:
        """Checks 1 and 2 of a consent or an agreement: the claim *member* of *token* (a JWS the
        hub signed, of *typ*) if it is exactly *expected* (the row as an artefact); else why
        not, naming the *noun* *object_id* and *what* it should have (a receipt, terms)."""
        claims = self.claims(session, token, typ=typ)
        signed = None if claims is None else claims.get(member)
        if not isinstance(signed, dict):
            return f"the {noun} {object_id} has no {what} signed by the hub"
        if signed != expected:
            return f"the {noun} {object_id} does not match its signed {what}"
        return signed


def _verified(session: Session, token: str, typ: str) -> dict[str, Any] | None:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    if str(header.get("typ", "")).lower() != typ.lower():
        return None
    row = session.get(HubSigningKey, str(header.get("kid")))
    if row is None or header.get("alg") != row.alg:
        return None
    members: dict[str, Any] = {
        k: row.public_jwk[k] for k in ("kty", "crv", "x", "y") if k in row.public_jwk
    }
    try:
        key = verifying_key(row.alg, {**members, "kid": row.kid, "alg": row.alg})
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[row.alg],
            options={"verify_aud": False, "verify_exp": False, "require": ["iat"]},
        )
    except jwt.PyJWTError:
        return None
    return claims


class LoggedObject(Protocol):
    """A consent or agreement row: what the shared helpers below need of it."""

    @property
    def id(self) -> str: ...


Row = TypeVar("Row", bound=LoggedObject)


def logged_at() -> str:
    """A lifecycle entry's ``at``: when it is logged, by the hub's clock (as a query entry's is
    when the query was decided), not the time the caller acts for (a sweep's, a demo's), so
    that ``tongban audit verify`` finds it next to the batch's ``recorded_at``."""
    moment = clock.now()
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def digest_problem(
    noun: str, object_id: str, event: LoggedEvent | None, signed: Mapping[str, Any], other: str
) -> str | None:
    """Check 3 of a consent or an agreement: its newest lifecycle entry exists and carries the
    digest of *signed*; else why not (*other* names what the entry is about instead, e.g.
    "another receipt")."""
    if event is None:
        return f"the {noun} {object_id} has no lifecycle entry in the audit log"
    if event.digest != artefact_digest(signed):
        return (
            f"the {noun} {object_id}'s latest event in the audit log (entry {event.index}) "
            f"is about {other}"
        )
    return None


def audited_rows(
    session: Session,
    model: type[Row],
    problem: Callable[[Session, Row, LoggedEvent | None], str | None],
) -> Iterator[tuple[int | None, str]]:
    """Every row of *model*, in pages of :data:`PAGE_SIZE` by id, with the newest lifecycle
    entries of a page read in one statement; for each row *problem* finds fault with, its newest
    entry's index and why (a kind of ``tongban audit verify``)."""
    identity = _id_column(model)
    after: str | None = None
    while True:
        query = select(model).order_by(identity).limit(PAGE_SIZE)
        if after is not None:
            query = query.where(identity > after)
        rows = list(session.scalars(query))
        latest = latest_events(session, [row.id for row in rows])
        for row in rows:
            event = latest.get(row.id)
            found = problem(session, row, event)
            if found is not None:
                yield (None if event is None else event.index), found
        if len(rows) < PAGE_SIZE:
            return
        after = rows[-1].id


def unlogged_rows(session: Session, model: type[Row], limit: int) -> Sequence[Row]:
    """Up to *limit* rows of *model* with no lifecycle entry yet, by id, locked (for
    ``tongban audit record-lifecycles``); the log's head lock is taken first."""
    hold_log(session)
    identity = _id_column(model)
    logged = select(AuditRecord.object_id).where(AuditRecord.object_id.is_not(None))
    query = select(model).where(identity.not_in(logged)).order_by(identity).limit(limit)
    return session.scalars(query.with_for_update()).all()


def _id_column(model: type[LoggedObject]) -> InstrumentedAttribute[str]:
    column: InstrumentedAttribute[str] = getattr(model, "id")  # noqa: B009 - the mapped column
    return column
