"""Events of a subscription held by a consumer peer hub, signed for that hub (回流).

A city hub that subscribes here on behalf of one of its systems (``on_behalf_of``) pulls the
events (``GET /subscriptions/{id}/events``) and must be able to tell, with nothing but the keys
it pinned when it registered this hub, that each event is this hub's release to it: the pull
API adds to each such event ``evidence``, a JWS (``typ`` ``tongban-event+jwt``) signed with the
hub's evidence key (the JWKS key a relayed query's evidence is signed with) whose payload is

- ``iss`` this hub, ``aud`` the peer hub's system here, ``iat``, ``jti`` the event id;
- ``purpose``, ``subject``, ``subscription``, ``seq``, ``resource``, and exactly the event's
  ``attributes``, ``denied`` and ``unavailable``;
- ``relay``: the peer hub, its system and department and its own subscription (as held);
- ``audit``: the event's audit receipt here (index, leaf hash, tree size, a signed checkpoint
  of that tree and the inclusion proof), so the peer checks the release is in this hub's log.

The checkpoint is the newest signed one when it holds the event's entry, else one signed now.
Signing happens when an event is read, not when it is made: the event in the outbox stays as
it was, and a key rotation since it was made signs it with the current key.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy.orm import Session, sessionmaker

from exchange.audit import proofs
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.log import TreeReader
from exchange.db import unit_of_work
from exchange.security.keys import HubKeys
from exchange.subscriptions.models import Subscription

__all__ = ["EVENT_TYP", "EventSigner"]

EVENT_TYP: Final = "tongban-event+jwt"


class EventSigner:
    """Adds ``evidence`` to the pulled events of a subscription a peer hub holds."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        keys: HubKeys,
        checkpoints: CheckpointSigner,
        issuer: str | None,
    ) -> None:
        self._sessions = sessions
        self._keys = keys
        self._checkpoints = checkpoints
        self._issuer = issuer

    def sign(self, sub: Subscription, events: Sequence[dict[str, Any]]) -> None:
        """Each event of *events* (views of the pull API) gets its ``evidence``; nothing for a
        subscription no peer hub holds, or when this hub has no public URL to sign as."""
        if not sub.on_behalf_of or not events or not self._issuer:
            return
        last = max(int(e["payload"]["data"]["audit"]["index"]) for e in events)
        with unit_of_work(self._sessions) as session:
            latest = self._checkpoints.latest(session)
        if latest is None or latest.size <= last:
            with unit_of_work(self._sessions, write=True) as session:
                latest = self._checkpoints.sign(session)
        with unit_of_work(self._sessions, write=not self._keys.initialised) as session:
            for event in events:
                data = event["payload"]["data"]
                receipt = _receipt(session, int(data["audit"]["index"]), latest.size, latest.note)
                event["evidence"] = self._keys.sign(
                    session, self._claims(sub, data, receipt), typ=EVENT_TYP
                )

    def _claims(
        self, sub: Subscription, data: Mapping[str, Any], receipt: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "iss": self._issuer,
            "aud": sub.system,
            "iat": int(time.time()),
            "jti": data["id"],
            "purpose": sub.purpose,
            "subject": data["subject"],
            "subscription": sub.id,
            "seq": data["seq"],
            "resource": data["resource"],
            "attributes": data["attributes"],
            "denied": data["denied"],
            "unavailable": data["unavailable"],
            "relay": dict(sub.on_behalf_of or {}),
            "audit": receipt,
        }


def _receipt(session: Session, index: int, size: int, note: str) -> dict[str, Any]:
    leaf = TreeReader(session).get(0, index)
    return {
        "index": index,
        "leaf_hash": _b64(leaf),
        "tree_size": size,
        "checkpoint": note,
        "inclusion_proof": [_b64(p) for p in proofs.inclusion_proof(session, index, size)],
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
