"""Subscriptions across hubs (回流, 《政务数据共享条例》 art. 24): a local subscription over
attributes another hub holds is held there too, and that hub's events come back in order.

**Subscribing** (:class:`PeerSubscriptions`, the subscriptions service's ``PeerSources``): once
this hub's own checks passed (the same as for local attributes), for each origin hub of the
subscription's remote resources this hub makes a subscription there as the system it is
registered as there, for the caller's purpose and subjects, for the attributes its own decision
lets through as the caller asked them (a predicate as the predicate: no base value is subscribed
to at the origin), with ``delivery`` ``pull`` and ``on_behalf_of`` naming this hub, the caller
and the local subscription. The origin decides under its own rules; its refusal
(``relay_refused``, 502, with its problem in ``origin``) or silence (``peer_unreachable``, 502)
refuses the local subscription, and nothing is stored. Cancelling locally cancels there
(retried by the feed job while the origin cannot be reached).

**The feed** (:class:`PeerFeed`, the ``federation.events`` job): for each subscription held at a
peer, in this order:

1. until the peer says it is watching, ask it (``GET /subscriptions/{id}``); then the local
   subscription is watching those resources too;
2. pull the peer's events after the highest sequence number accepted
   (``GET /subscriptions/{id}/events?after=N``), oldest first;
3. an event numbered at or below it is a duplicate: dropped, never released again;
4. check the event with the pinned keys (:func:`~exchange.federation.evidence.
   check_origin_event`): one that fails stops the feed of that subscription there, nothing of it
   released, and is recorded once (a ``peer`` entry, ``event_refused``); it is tried again on the
   next run (a peer that repinned its keys is then read on);
5. accept it, in one transaction: the subject must be one of the local subscription's, this
   hub's policy engine decides again (a revoked agreement releases nothing more), the origin's
   released attributes are passed on as the origin shaped them (never more revealing than
   decided here, :func:`~exchange.query.sourcing.settle_relayed`), an audit entry (``kind``
   ``event``, ``relayed`` naming the origin's event and log index) and the local event (carrying the
   origin's signed event in ``origins``) are appended, and the accepted number moves on;
6. acknowledge at the peer up to the accepted number.

The local event is then delivered like any other (webhook, broker or pull): in order, at least
once. A crash between 5 and 6 pulls the same events again, and 3 drops them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalogue.models import System
from exchange import clock
from exchange.audit.lifecycle import hold_log
from exchange.db import unit_of_work
from exchange.federation.audit import log_peer_event
from exchange.federation.errors import PeerUnreachable, RelayRefused
from exchange.federation.evidence import ExpectedEvent, OriginUnverifiable, check_origin_event
from exchange.federation.models import FederationPeer, PeerSubscription
from exchange.federation.relay import HubRelay, PeerClient, Refused
from exchange.query.release import Outcome, shape_release
from exchange.query.resolve import ResolvedQuery
from exchange.query.sourcing import Fetched, settle_relayed
from exchange.security.errors import InvalidSubjectId
from exchange.security.subjects import Pseudonyms
from exchange.subscriptions.models import (
    Subscription,
    SubscriptionStatus,
    SubscriptionSubject,
    SubscriptionWatermark,
)
from exchange.subscriptions.outbox import Released, record_event
from exchange.subscriptions.sealing import OutboxSeal
from exchange.subscriptions.service import subscription_decision
from policies.model import CheckRowCondition, Decision
from policies.transforms import HashKey

__all__ = ["FeedResult", "PeerFeed", "PeerSubscriptions"]

log = logging.getLogger("tongban.federation")

PAGE = 100
"""Events pulled from a peer per subscription and run."""
WATCHING = "peer"
"""The watermark a remote resource gets once its origin hub watches its stream."""


class PeerSubscriptions:
    """The subscriptions service's ``PeerSources``: other hubs, over :class:`HubRelay`."""

    def __init__(self, relay: HubRelay, hub: str | None) -> None:
        self._relay = relay
        self._hub = hub

    def origins(self, session: Session, codes: Iterable[str]) -> dict[str, str]:
        return self._relay.origins(session, codes)

    def admit(self, session: Session, system: str, on_behalf_of: Mapping[str, Any]) -> None:
        self._relay.admit(session, system, on_behalf_of)

    def subscribe(
        self,
        session: Session,
        made: Subscription,
        subjects: Sequence[str],
        wanted: Mapping[str, set[str]],
        resolved: ResolvedQuery,
        remote: Mapping[str, str],
    ) -> None:
        held: list[tuple[PeerClient, str]] = []
        try:
            for peer_id in sorted(set(remote.values())):
                codes = sorted(c for c, p in remote.items() if p == peer_id)
                client = self._client(session, peer_id)
                names = list(  # as the caller asked them: a predicate as the predicate
                    dict.fromkeys(
                        r.attribute
                        for r in resolved.requests
                        if r.field.resource in codes
                        and r.field.name in wanted.get(r.field.resource, ())
                    )
                )
                remote_id = self._subscribe_at(client, made, subjects, names)
                held.append((client, remote_id))
                session.add(
                    PeerSubscription(
                        subscription_id=made.id,
                        peer_id=peer_id,
                        remote_id=remote_id,
                        resources=codes,
                        accepted_seq=0,
                        refused_seq=None,
                        status="active",
                    )
                )
        except BaseException:
            for client, remote_id in held:  # what was made at other peers is taken back
                _cancel_at(client, remote_id)
            raise

    def cancel(self, session: Session, sub: Subscription) -> None:
        rows = session.scalars(
            select(PeerSubscription)
            .where(PeerSubscription.subscription_id == sub.id)
            .where(PeerSubscription.status != "cancelled")
        )
        for row in rows:
            peer = session.get(FederationPeer, row.peer_id)
            client = self._relay.client(peer) if peer is not None else None
            cancelled = client is not None and _cancel_at(client, row.remote_id)
            row.status = "cancelled" if cancelled else "cancelling"

    def _client(self, session: Session, peer_id: str) -> PeerClient:
        peer = session.get(FederationPeer, peer_id)
        client = self._relay.client(peer) if peer is not None else None
        if client is None or not self._hub:
            raise PeerUnreachable(
                f"the origin hub {peer_id} cannot be subscribed at (suspended, not a source, "
                "or this hub has no TONGBAN_PUBLIC_URL to name itself)"
            )
        return client

    def _subscribe_at(
        self, client: PeerClient, made: Subscription, subjects: Sequence[str], names: list[str]
    ) -> str:
        body = {
            "purpose": made.purpose,
            "attributes": names,
            "subjects": list(subjects),
            "delivery": "pull",
            "on_behalf_of": {
                "hub": self._hub,
                "system": made.system,
                "department": made.department,
                "subscription": made.id,
            },
        }
        try:
            response = client.call("POST", "/subscriptions", json=body)
            if response.status_code != 201:
                raise Refused(response)
            remote_id = response.json().get("id")
        except Refused as refused:
            raise _relay_refused(client, refused.response) from None
        except (httpx.HTTPError, ValueError, AttributeError):
            raise PeerUnreachable(f"the origin hub {client.peer_id} did not answer") from None
        if not isinstance(remote_id, str) or not remote_id.startswith("sub-"):
            raise PeerUnreachable(f"the origin hub {client.peer_id} answered no subscription")
        return remote_id


def _relay_refused(client: PeerClient, response: httpx.Response) -> RelayRefused:
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    shown = {
        "hub": client.url,
        "status": response.status_code,
        **{k: str(problem[k]) for k in ("code", "title", "detail") if k in problem},
    }
    return RelayRefused(
        f"the origin hub {client.peer_id} refused the subscription "
        f"({shown.get('code', response.status_code)})",
        extensions={"origin": shown},
    )


def _cancel_at(client: PeerClient, remote_id: str) -> bool:
    """Cancel a subscription held at a peer: True once it is cancelled there (or unknown)."""
    try:
        response = client.call("DELETE", f"/subscriptions/{remote_id}")
    except (httpx.HTTPError, Refused):
        return False
    return response.status_code in (200, 404)


@dataclass
class FeedResult:
    pulled: int = 0
    events: int = 0
    duplicates: int = 0
    refused: int = 0
    failures: int = 0


@dataclass(frozen=True)
class _Held:
    """One subscription held at a peer, as the feed reads it."""

    subscription: str
    peer: str
    remote: str
    resources: tuple[str, ...]
    accepted: int
    refused: int | None
    status: str
    local_active: bool
    system: str


class PeerFeed:
    """The ``federation.events`` job: peers' events into the local outbox (module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        relay: HubRelay,
        pseudonyms: Pseudonyms,
        seal: OutboxSeal,
        release_hash_key: HashKey,
        hub: str | None,
    ) -> None:
        self._sessions = sessions
        self._relay = relay
        self._pseudonyms = pseudonyms
        self._seal = seal
        self._hash_key = release_hash_key
        self._hub = hub

    def run(self) -> FeedResult:
        result = FeedResult()
        if not self._hub:
            return result
        with unit_of_work(self._sessions) as session:
            rows = session.execute(
                select(PeerSubscription, Subscription)
                .join(Subscription, Subscription.id == PeerSubscription.subscription_id)
                .where(PeerSubscription.status != "cancelled")
                .order_by(Subscription.created_at, Subscription.id)
            ).all()
            held = [
                _Held(
                    p.subscription_id,
                    p.peer_id,
                    p.remote_id,
                    tuple(p.resources),
                    p.accepted_seq,
                    p.refused_seq,
                    p.status,
                    s.status == SubscriptionStatus.ACTIVE,
                    s.system,
                )
                for p, s in rows
            ]
            peers = {p.id: p for p in session.scalars(select(FederationPeer))}
        for one in held:
            peer = peers.get(one.peer)
            client = self._relay.client(peer) if peer is not None else None
            if client is None:
                continue  # suspended, or no longer a source: nothing is read from it
            try:
                if one.status == "cancelling" or not one.local_active:
                    self._cancel(client, one)
                else:
                    self._pull(client, one, result)
            except (httpx.HTTPError, Refused, ValueError) as exc:
                log.warning("peer %s events not read: %s", one.peer, type(exc).__name__)
                result.failures += 1
        return result

    def _cancel(self, client: PeerClient, one: _Held) -> None:
        if _cancel_at(client, one.remote):
            with unit_of_work(self._sessions, write=True) as session:
                row = session.get(PeerSubscription, (one.subscription, one.peer))
                if row is not None:
                    row.status = "cancelled"

    def _pull(self, client: PeerClient, one: _Held, result: FeedResult) -> None:
        self._watch(client, one)
        response = client.call(
            "GET",
            f"/subscriptions/{one.remote}/events",
            params={"after": one.accepted, "limit": PAGE},
        )
        if response.status_code != 200:
            raise Refused(response)
        events = response.json().get("events") or []
        accepted = one.accepted
        expected = ExpectedEvent(
            client.client_id, one.remote, str(self._hub), one.system, one.subscription
        )
        for view in sorted(events, key=lambda e: int(e.get("seq", 0))):
            result.pulled += 1
            seq = int(view.get("seq", 0))
            if seq <= accepted:
                result.duplicates += 1
                continue
            try:
                claims = check_origin_event(view, client.keys, expected)
                made = self._accept(client, one, view, claims)
            except OriginUnverifiable as exc:
                result.refused += 1
                self._refuse(one, seq, str(exc))
                break
            if made is None:
                result.duplicates += 1
                continue
            result.events += int(made)
            accepted = seq
        if accepted > one.accepted:
            client.call("POST", f"/subscriptions/{one.remote}/ack", json={"seq": accepted})

    def _watch(self, client: PeerClient, one: _Held) -> None:
        with unit_of_work(self._sessions) as session:
            marked = set(
                session.scalars(
                    select(SubscriptionWatermark.resource).where(
                        SubscriptionWatermark.subscription_id == one.subscription
                    )
                )
            )
        if set(one.resources) <= marked:
            return
        response = client.call("GET", f"/subscriptions/{one.remote}")
        if response.status_code != 200 or response.json().get("watching") is not True:
            return
        with unit_of_work(self._sessions, write=True) as session:
            for code in one.resources:
                session.merge(
                    SubscriptionWatermark(
                        subscription_id=one.subscription, resource=code, watermark=WATCHING
                    )
                )

    def _accept(
        self, client: PeerClient, one: _Held, view: Mapping[str, Any], claims: Mapping[str, Any]
    ) -> bool | None:
        """Step 5 of the module docstring: True when an event was appended, False when this
        hub's decision released nothing of it, None when it was accepted already."""
        now = clock.now()
        seq = int(view["seq"])
        named = claims.get("subject")
        subject = str(named.get("id", "")) if isinstance(named, dict) else ""
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)
            sub = session.get(Subscription, one.subscription, with_for_update=True)
            row = session.get(PeerSubscription, (one.subscription, one.peer), with_for_update=True)
            if sub is None or row is None or row.accepted_seq >= seq:
                return None
            made = False
            if sub.status == SubscriptionStatus.ACTIVE:
                made = self._release(session, client, sub, row, subject, view, claims, now)
            row.accepted_seq = seq
            return made

    def _release(
        self,
        session: Session,
        client: PeerClient,
        sub: Subscription,
        row: PeerSubscription,
        subject: str,
        view: Mapping[str, Any],
        claims: Mapping[str, Any],
        now: datetime,
    ) -> bool:
        try:
            pseudonym = self._pseudonyms.of(subject)
        except InvalidSubjectId:
            raise OriginUnverifiable("the event's subject is not a resident ID") from None
        held = session.scalar(
            select(SubscriptionSubject.subject)
            .where(SubscriptionSubject.subscription_id == sub.id)
            .where(SubscriptionSubject.subject == pseudonym)
        )
        code = str(claims.get("resource"))
        if held is None or code not in row.resources:
            raise OriginUnverifiable("the event is about a subject or resource not subscribed")
        system = session.get(System, sub.system)
        if system is None:
            return False
        resolved, decision, _ = subscription_decision(
            session,
            system=sub.system,
            department=sub.department,
            purposes=list(system.purposes),
            purpose=sub.purpose,
            agreement=sub.agreement,
            attributes=sub.attributes,
            now=now,
        )
        info = resolved.resources.get(code)
        if info is None:
            return False
        mine = Decision(
            fields=tuple(d for d in decision.fields if d.field.resource == code),
            obligations=tuple(
                o
                for o in decision.obligations
                if isinstance(o, CheckRowCondition) and o.resource == code
            ),
        )
        origin = {
            "hub": client.url,
            "peer": client.peer_id,
            "request_id": str(claims["jti"]).removeprefix("evt-"),
            "index": claims["audit"]["index"],
            "outcome": "verified",
        }
        fetched = {code: _fetched(code, info.namespace, mine, claims, origin, now)}
        outcome = shape_release(
            mine,
            fetched,
            {code: info},
            {code: False},
            hash_key=self._hash_key.for_consumer(sub.system),
            now=now,
        )
        settle_relayed(outcome, mine, fetched)
        _carry_disputed(outcome, mine, claims.get("attributes") or {}, info.namespace)
        released = Released(sub.system, sub.department, sub.purpose, mine, code, subject)
        return record_event(
            session,
            self._seal,
            sub,
            released,
            pseudonym,
            outcome,
            now,
            relayed=[origin],
            origins=[{"hub": client.url, "evidence": str(view["evidence"])}],
        )

    def _refuse(self, one: _Held, seq: int, reason: str) -> None:
        log.warning("peer %s event %s of %s refused: %s", one.peer, seq, one.remote, reason)
        with unit_of_work(self._sessions, write=True) as session:
            hold_log(session)
            row = session.get(PeerSubscription, (one.subscription, one.peer), with_for_update=True)
            peer = session.get(FederationPeer, one.peer)
            if row is None or peer is None or row.refused_seq == seq:
                return  # recorded once
            row.refused_seq = seq
            log_peer_event(
                session,
                peer,
                "event_refused",
                by="federation.events",
                refused_event={
                    "subscription": one.subscription,
                    "remote_subscription": one.remote,
                    "seq": seq,
                    "reason": reason[:200],
                },
            )


def _carry_disputed(
    outcome: Outcome, decision: Decision, theirs: Mapping[str, Any], namespace: str
) -> None:
    """The origin's disputed mark (异议标注), signed in its event, on each attribute released
    here from that field (a predicate over it too), as a local event carries this hub's own:
    the consumer sees it in ``data.attributes``, covered by this hub's signature."""
    for choice in decision.fields:
        released = outcome.attributes.get(choice.attribute)
        origin = theirs.get(f"{namespace}.{choice.field.name}")
        mark = origin.get("disputed") if isinstance(origin, Mapping) else None
        if released is not None and isinstance(mark, Mapping):
            released["disputed"] = {
                "correction": str(mark.get("correction")),
                "since": str(mark.get("since")),
            }


def _fetched(
    code: str,
    namespace: str,
    decision: Decision,
    claims: Mapping[str, Any],
    origin: Mapping[str, Any],
    now: datetime,
) -> Fetched:
    """The origin's verified event for *code*: each attribute as the origin released it (shaped
    there, a predicate as the predicate), and what it refused, by attribute as asked."""
    released = claims.get("attributes") or {}
    denied = claims.get("denied") or {}
    unavailable = claims.get("unavailable") or {}
    shaped: dict[str, Mapping[str, Any]] = {}
    refused: dict[str, tuple[str, str]] = {}
    for attribute in sorted({d.attribute for d in decision.fields}):
        if isinstance(released.get(attribute), Mapping):
            shaped[attribute] = released[attribute]
        elif attribute in denied:
            refused[attribute] = ("denied", str(denied[attribute]))
        elif attribute in unavailable:
            refused[attribute] = ("unavailable", str(unavailable[attribute]))
    return Fetched(code, fetched_at=now, origin=origin, refused=refused, shaped=shaped)
