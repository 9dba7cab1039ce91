"""A peer hub's registration, status, key pinning and harvests as entries of the audit log.

Which other hubs this hub trusts, and with which keys, decides whose answers it releases, so
every change of it is an entry of the Merkle log (kind ``peer``, ``audit-entry.schema.json``),
appended in the same transaction as the row change (:func:`log_peer_event`): the change and its
entry commit together or not at all. The entry commits to the pinned keys by their digest
(:func:`keys_digest`: base64 SHA-256 of the RFC 8785 bytes of ``{"jwks", "checkpoint_key"}``),
so an auditor who holds the log can check which keys the hub trusted from which entry on, and
a key swapped in the database without an entry shows as a digest no entry carries. An event
of a subscription this hub holds at the peer (回流) that fails its checks is an entry too
(``event_refused``: which subscription, which sequence number, the failed check's sentence).
A peer is about no one: ``subject`` and ``purpose`` are ``-`` and the entry stays out of every
citizen's subject map. The caller takes the log's head lock first
(:func:`exchange.audit.lifecycle.hold_log`), before the peer's row lock.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any, Literal, cast

from sqlalchemy.orm import Session

from exchange.audit.canonical import canonical_json
from exchange.audit.lifecycle import NO_SUBJECT, logged_at
from exchange.audit.log import append_in
from exchange.audit.sink import Receipt
from exchange.federation.models import FederationPeer, Harvest
from schemas import AuditEntry

__all__ = ["PeerEvent", "keys_digest", "log_peer_event"]

PeerEvent = Literal[
    "registered",
    "suspended",
    "resumed",
    "repinned",
    "harvested",
    "harvest_refused",
    "event_refused",
]


def keys_digest(jwks: Mapping[str, Any], checkpoint_key: str) -> str:
    """Base64 SHA-256 of the RFC 8785 bytes of the pinned keys."""
    pinned = {"jwks": dict(jwks), "checkpoint_key": checkpoint_key}
    return base64.b64encode(hashlib.sha256(canonical_json(pinned)).digest()).decode("ascii")


def log_peer_event(
    session: Session,
    peer: FederationPeer,
    event: PeerEvent,
    *,
    by: str,
    harvest: Harvest | None = None,
    refused_event: Mapping[str, Any] | None = None,
) -> Receipt:
    """Append the entry of *event* about *peer* (as its row now is) in the caller's
    transaction, which holds the log's head lock."""
    member: dict[str, Any] = {
        "type": "peer",
        "id": peer.id,
        "event": event,
        "status_after": peer.status,
        "url": peer.url,
        "source": bool(peer.source),
        "consumer_system": peer.consumer_system,
        "keys_digest": keys_digest(peer.jwks, peer.checkpoint_key),
        "by": by[:64],
    }
    if harvest is not None:
        member["harvest"] = {
            "number": harvest.number,
            "outcome": harvest.outcome,
            "version": harvest.version,
            "digest": harvest.digest,
            "resources": len(harvest.resources or []),
        }
    if refused_event is not None:  # {subscription, remote_subscription, seq, reason}
        member["refused_event"] = dict(refused_event)
    entry = {
        "v": 1,
        "kind": "peer",
        "request_id": str(uuid.uuid4()),
        "at": logged_at(),
        "system": NO_SUBJECT,
        "department": NO_SUBJECT,
        "subject": NO_SUBJECT,
        "purpose": NO_SUBJECT,
        "outcome": event,
        "object": member,
    }
    return append_in(session, cast("AuditEntry", entry))
