"""Tables of subscriptions (订阅) and their outbox.

``subscriptions``: a case system's standing request for changes of some attributes of a
population, under a purpose (and an agreement for conditional fields), delivered to a webhook,
published to the deployment's broker, or kept for the pull API (``delivery``). Its signing
secret (webhook and broker) is stored sealed (AES-256-GCM).

``subscription_subjects``: the population named as subjects, by the hub's keyed pseudonym only.

``subscription_watermarks``: per subscription and resource, how far the source's change stream
has been read (no row yet: the stream is read to its end once, without events, so a subscription
starts with the changes made after it).

A subscription a consumer peer hub holds for one of its own systems names that hub, system and
subscription (``on_behalf_of``); each of its events is then also signed for that hub (回流,
docs/federation.md).

``subscription_events``: the outbox. One row per event, numbered per subscription (``seq``), its
payload sealed (it holds released values and the subject's ID number), with its delivery state.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base, str_enum

__all__ = [
    "DeliveryChannel",
    "EventStatus",
    "Subscription",
    "SubscriptionEvent",
    "SubscriptionStatus",
    "SubscriptionSubject",
    "SubscriptionWatermark",
]


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class DeliveryChannel(StrEnum):
    """Where a subscription's events go: POSTed to its webhook, published to the deployment's
    broker (NATS JetStream or RabbitMQ), or kept for the consumer to pull."""

    WEBHOOK = "webhook"
    BROKER = "broker"
    PULL = "pull"


class EventStatus(StrEnum):
    PENDING = "pending"  # waiting for (another) webhook attempt, or for the consumer to pull it
    DELIVERED = "delivered"  # the webhook answered 2xx
    DEAD = "dead"  # the retry budget is spent: visible, replayable
    ACKED = "acked"  # a pull consumer acknowledged it


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    system: Mapped[str] = mapped_column(String(64), index=True)
    department: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(64))
    agreement: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[list[Any]] = mapped_column(JSON)
    resources: Mapped[list[Any]] = mapped_column(JSON)
    division: Mapped[str | None] = mapped_column(String(12))
    delivery: Mapped[DeliveryChannel] = mapped_column(
        str_enum(DeliveryChannel, length=16), server_default=DeliveryChannel.WEBHOOK.value
    )
    url: Mapped[str | None] = mapped_column(Text)
    secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[SubscriptionStatus] = mapped_column(str_enum(SubscriptionStatus, length=16))
    next_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # held by a consumer peer hub for one of its systems (回流, docs/federation.md):
    # {hub, system, department, subscription}; its events are signed for that hub
    on_behalf_of: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SubscriptionSubject(Base):
    __tablename__ = "subscription_subjects"

    subscription_id: Mapped[str] = mapped_column(
        String(48), ForeignKey("subscriptions.id"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)  # keyed pseudonym


class SubscriptionWatermark(Base):
    __tablename__ = "subscription_watermarks"

    subscription_id: Mapped[str] = mapped_column(
        String(48), ForeignKey("subscriptions.id"), primary_key=True
    )
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[str | None] = mapped_column(String(64))


class SubscriptionEvent(Base):
    __tablename__ = "subscription_events"
    __table_args__ = (
        UniqueConstraint("subscription_id", "seq", name="uq_subscription_seq"),
        # each subscription's lowest pending event, found without reading the others
        Index("ix_subscription_events_head", "status", "subscription_id", "seq"),
    )

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(48), ForeignKey("subscriptions.id"))
    seq: Mapped[int] = mapped_column(Integer)
    resource: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)  # nonce ‖ AES-GCM(payload JSON)
    status: Mapped[EventStatus] = mapped_column(str_enum(EventStatus, length=16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(64))
    audit_index: Mapped[int] = mapped_column(Integer)
