"""Tables of federation (级联: a city hub, a province hub, the nation's).

``federation_peers``: another hub this hub works with, registered by its operator. As a
**source** (this hub harvests its catalogue and relays queries to it) a peer has the client id
this hub is registered under there and the file of the private JWK it signs its client
assertions with; as a **consumer** (it relays queries here) it has the local system it
authenticates as. Either way the peer's evidence keys (its JWKS) and its checkpoint verifier key
are pinned at registration and never fetched again: an answer signed by any other key is not
the peer's.

``federation_harvests``: every harvest of a source peer's DCAT-AP catalogue, numbered per peer,
accepted or refused (with the precise problems), with the digest of what was read. The peer's
``harvest_version`` is the accepted one in force.

``federation_resources``: each resource of the local catalogue that another hub holds, with its
origin peer, the peer's version of it and the harvest that brought it.

``federation_subscriptions``: for a local subscription over resources another hub holds, the
subscription this hub holds at that peer on behalf of its system (回流), and the highest
sequence number of the peer's events it accepted into its own outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = ["FederationPeer", "Harvest", "PeerSubscription", "RemoteResource"]


class FederationPeer(Base):
    """Another hub: where it is, what it is to this hub, and its pinned keys."""

    __tablename__ = "federation_peers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))  # its public URL: the issuer of its evidence
    source: Mapped[bool]  # this hub harvests from it and relays queries to it
    client_id: Mapped[str | None] = mapped_column(String(64))  # this hub's system id there
    key_file: Mapped[str | None] = mapped_column(Text)  # this hub's private JWK for it
    consumer_system: Mapped[str | None] = mapped_column(String(64), unique=True)
    jwks: Mapped[dict[str, Any]]  # its evidence keys, pinned at registration
    checkpoint_key: Mapped[str] = mapped_column(Text)  # its C2SP vkey, pinned
    status: Mapped[str] = mapped_column(String(16))  # active | suspended
    harvest_version: Mapped[int | None] = mapped_column(Integer)  # the accepted one in force
    registered_at: Mapped[datetime]
    registered_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime]


class Harvest(Base):
    """One harvest of a peer's catalogue, accepted or refused."""

    __tablename__ = "federation_harvests"
    __table_args__ = (UniqueConstraint("peer_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    peer_id: Mapped[str] = mapped_column(ForeignKey("federation_peers.id"), index=True)
    number: Mapped[int]  # 1, 2, … per peer, accepted or refused
    version: Mapped[int | None] = mapped_column(Integer)  # the catalogue version, if accepted
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | refused
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of the DCAT-AP document
    resources: Mapped[list[Any]]  # [{code, version, namespace, provider}] (accepted)
    departments: Mapped[list[Any]]  # department codes it brought (accepted)
    problems: Mapped[list[Any]]  # [{pointer, detail}] (refused)
    detail: Mapped[str | None] = mapped_column(Text)  # why refused, in one sentence


class RemoteResource(Base):
    """A resource of the local catalogue held by another hub (its origin)."""

    __tablename__ = "federation_resources"

    code: Mapped[str] = mapped_column(ForeignKey("resources.code"), primary_key=True)
    peer_id: Mapped[str] = mapped_column(ForeignKey("federation_peers.id"), index=True)
    remote_version: Mapped[int]
    harvest_version: Mapped[int]


class PeerSubscription(Base):
    """The subscription this hub holds at a source peer for one of its own subscriptions."""

    __tablename__ = "federation_subscriptions"

    subscription_id: Mapped[str] = mapped_column(
        String(48), ForeignKey("subscriptions.id"), primary_key=True
    )
    peer_id: Mapped[str] = mapped_column(ForeignKey("federation_peers.id"), primary_key=True)
    remote_id: Mapped[str] = mapped_column(String(48))  # its id at the peer
    resources: Mapped[list[Any]] = mapped_column(JSON)  # the peer's resources it covers
    accepted_seq: Mapped[int] = mapped_column(Integer)  # the peer's events up to it are taken
    refused_seq: Mapped[int | None] = mapped_column(Integer)  # the last one refused (logged once)
    status: Mapped[str] = mapped_column(String(16))  # active | cancelling | cancelled
