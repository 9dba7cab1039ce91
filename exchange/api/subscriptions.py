"""HTTP routes of subscriptions to attribute changes (docs/subscriptions.md).

A subscription over attributes another hub holds is also made there (502 ``relay_refused`` or
``peer_unreachable`` when it cannot be); a peer hub subscribing here for one of its systems
(``on_behalf_of``) pulls its events each signed for it (回流, docs/federation.md).

Case systems (hub access token): ``POST /subscriptions`` makes one (its webhook secret is in
this answer only), ``GET /subscriptions/{id}`` reads it, ``DELETE /subscriptions/{id}`` cancels
it; ``GET /subscriptions/{id}/events?after=N`` is the pull API (and shows dead-lettered events),
``POST /subscriptions/{id}/ack`` acknowledges up to a sequence number, ``POST
/subscriptions/{id}/replay`` sends dead-lettered (or named) events again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from exchange.api.deps import Hub, SystemBearer
from exchange.api.problems import problem_responses
from exchange.db import unit_of_work
from exchange.subscriptions.brokers import BrokerAddress
from exchange.subscriptions.models import DeliveryChannel, EventStatus, Subscription
from exchange.subscriptions.service import MAX_SUBJECTS, SubscriptionAsk

__all__ = ["router"]

router = APIRouter(tags=["subscriptions"])

_ATTRIBUTE = r"^[a-z][a-z0-9_]{0,39}\.[a-z][a-z0-9_]{0,62}(\([0-9]{0,12}\))?$"
_EVENT = r"^evt-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 503)
_MAKE_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 502, 503)
_READ_ERRORS = problem_responses(401, 403, 404, 422)

SubscriptionId = Annotated[str, Path(pattern=r"^sub-[0-9a-f-]{36}$", description="sub-… id")]


class SubscriptionBody(BaseModel):
    """A subscription: which attributes, for which population, under which purpose (and
    agreement), delivered where."""

    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(pattern=r"^[a-z][a-z0-9-]{1,63}$")
    attributes: list[Annotated[str, Field(pattern=_ATTRIBUTE)]] = Field(min_length=1, max_length=50)
    agreement: str | None = Field(
        default=None,
        pattern=r"^AG-[A-Z0-9][A-Z0-9-]{2,40}$",
        description="Needed for conditional fields and for a division population",
    )
    subjects: list[Annotated[str, Field(max_length=18)]] | None = Field(
        default=None,
        max_length=MAX_SUBJECTS,
        description="Resident ID numbers (GB 11643) the system already holds; kept only as the "
        "hub's keyed pseudonyms",
    )
    division: str | None = Field(
        default=None, description="A GB/T 2260 division prefix, where the agreement allows it"
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        description="HTTPS URL events are POSTed to; none: pull them from …/events",
    )
    delivery: DeliveryChannel | None = Field(
        default=None,
        description="webhook (needs webhook_url), broker (the hub's NATS JetStream or RabbitMQ) "
        "or pull; unnamed: webhook with a URL, else pull",
    )
    on_behalf_of: HeldFor | None = Field(
        default=None,
        description="Only from a registered peer hub subscribing for one of its own systems "
        "(else 403 `not_a_peer_hub`); its events are then signed for that hub",
    )


class HeldFor(BaseModel):
    """The consumer peer hub's own system and subscription a hub subscribes for (回流,
    docs/federation.md)."""

    model_config = ConfigDict(extra="forbid")

    hub: str = Field(max_length=500, description="The peer hub's public URL")
    system: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    department: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,15}$")
    subscription: str = Field(
        pattern=r"^sub-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="The peer hub's own subscription",
    )


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0, description="Every event up to this sequence number is acknowledged")


class ReplayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Annotated[str, Field(pattern=_EVENT)]] | None = Field(
        default=None,
        max_length=1000,
        description="Events to send again; none: every dead-lettered event",
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _view(sub: Subscription, broker: BrokerAddress | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": sub.id,
        "status": sub.status.value,
        "purpose": sub.purpose,
        "agreement": sub.agreement,
        "attributes": list(sub.attributes),
        "resources": list(sub.resources),
        "division": sub.division,
        "delivery": sub.delivery.value,
        "webhook_url": sub.url,
        "last_seq": sub.next_seq - 1,
        "created_at": sub.created_at.isoformat().replace("+00:00", "Z"),
    }
    if sub.delivery == DeliveryChannel.BROKER and broker is not None:
        view["broker"] = broker.where(sub.id)
    return view


@router.post(
    "/subscriptions",
    summary="Subscribe to changes of attributes for a population",
    status_code=201,
    responses=_MAKE_ERRORS,
)
def post_subscription(hub: Hub, caller: SystemBearer, body: SubscriptionBody) -> JSONResponse:
    ask = SubscriptionAsk(
        purpose=body.purpose,
        attributes=body.attributes,
        agreement=body.agreement,
        subjects=body.subjects,
        division=body.division,
        webhook_url=body.webhook_url,
        delivery=body.delivery,
        on_behalf_of=body.on_behalf_of.model_dump() if body.on_behalf_of else None,
    )
    with unit_of_work(hub.sessions, write=True) as session:
        made = hub.subscriptions.create(session, caller, ask, _now())
        view = {**_view(made.subscription, hub.broker), "subjects": made.subjects}
    if made.secret is not None:
        view["secret"] = made.secret
    return JSONResponse(view, status_code=201, headers={"cache-control": "no-store"})


@router.get("/subscriptions/{subscription_id}", responses=_READ_ERRORS)
def get_subscription(
    hub: Hub, caller: SystemBearer, subscription_id: SubscriptionId
) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        found = hub.subscriptions.get(session, caller.system_id, subscription_id)
        return {**_view(found, hub.broker), "watching": hub.subscriptions.watching(session, found)}


@router.delete("/subscriptions/{subscription_id}", responses=_WRITE_ERRORS)
def cancel_subscription(
    hub: Hub, caller: SystemBearer, subscription_id: SubscriptionId
) -> dict[str, Any]:
    with unit_of_work(hub.sessions, write=True) as session:
        cancelled = hub.subscriptions.cancel(session, caller.system_id, subscription_id)
        return _view(cancelled, hub.broker)


@router.get(
    "/subscriptions/{subscription_id}/events",
    summary="Events after a sequence number, in order (the pull API)",
    responses=_READ_ERRORS,
)
def subscription_events(
    hub: Hub,
    caller: SystemBearer,
    subscription_id: SubscriptionId,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    status: EventStatus | None = None,
) -> JSONResponse:
    with unit_of_work(hub.sessions) as session:
        events = hub.subscriptions.events(
            session, caller.system_id, subscription_id, after=after, limit=limit, status=status
        )
        held = hub.subscriptions.get(session, caller.system_id, subscription_id)
    hub.event_signer.sign(held, events)  # held for a peer hub: each event signed for it
    for event in events:
        for key in ("created_at", "delivered_at"):
            moment = event[key]
            event[key] = None if moment is None else moment.isoformat().replace("+00:00", "Z")
    return JSONResponse({"events": events}, headers={"cache-control": "no-store"})


@router.post("/subscriptions/{subscription_id}/ack", responses=_WRITE_ERRORS)
def acknowledge_events(
    hub: Hub, caller: SystemBearer, subscription_id: SubscriptionId, body: AckBody
) -> dict[str, Any]:
    with unit_of_work(hub.sessions, write=True) as session:
        count = hub.subscriptions.acknowledge(session, caller.system_id, subscription_id, body.seq)
    return {"acknowledged": count, "up_to": body.seq}


@router.post("/subscriptions/{subscription_id}/replay", responses=_WRITE_ERRORS)
def replay_events(
    hub: Hub, caller: SystemBearer, subscription_id: SubscriptionId, body: ReplayBody
) -> dict[str, Any]:
    with unit_of_work(hub.sessions, write=True) as session:
        replayed = hub.subscriptions.replay(
            session, caller.system_id, subscription_id, body.events, _now()
        )
    return {"replayed": replayed}
