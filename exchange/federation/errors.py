"""Errors of federation. Messages name peers, resources, departments and URLs, never a person,
an ID number or a value."""

from __future__ import annotations

from exchange.subscriptions.errors import NotAPeerHub  # raised by both rooms (re-exported)
from schemas import TongbanError

__all__ = [
    "HarvestRefused",
    "NotAPeerHub",
    "PeerExists",
    "PeerInvalid",
    "PeerNotFound",
    "PeerUnreachable",
    "RelayRefused",
]


class PeerNotFound(TongbanError):
    code = "peer_not_found"
    status = 404
    title = "No such peer hub"


class PeerExists(TongbanError):
    code = "peer_exists"
    status = 409
    title = "A peer hub with this id or system is already registered"


class PeerInvalid(TongbanError):
    """The registration is not one the hub can use: a URL that is not http(s), keys that are
    not a JWKS of public signing keys or a C2SP vkey, a key file that holds no private key, a
    consumer system that is not registered here."""

    code = "invalid_peer"
    status = 422
    title = "The peer hub's registration is not valid"


class PeerUnreachable(TongbanError):
    """The peer did not answer (or not with what was asked) when its keys or catalogue were
    read."""

    code = "peer_unreachable"
    status = 502
    title = "The peer hub could not be read"


class HarvestRefused(TongbanError):
    """A harvested catalogue failed validation; ``errors`` says where. The previous accepted
    harvest stays in force."""

    code = "harvest_refused"
    status = 422
    title = "The harvested catalogue failed validation"


class RelayRefused(TongbanError):
    """The origin hub refused the relayed query; ``origin`` holds its problem (status, code,
    title, detail)."""

    code = "relay_refused"
    status = 502
    title = "The origin hub refused the relayed query"
