"""Registering peer hubs, with their keys pinned, and reading them back.

A registration is checked in this order, the first failure refusing it (``invalid_peer`` with
the pointer of the bad member, or ``peer_exists``):

1. the id is a short lowercase name not yet used, the URL is ``https`` (``http`` only where the
   deployment allows it: dev mode), without credentials, query or fragment;
2. it is a **source**, a **consumer**, or both; a source names the client id this hub is
   registered as there and a readable file holding this hub's private JWK for it; a consumer
   names a system registered here that no other peer uses;
3. the keys: a JWKS of public signing keys (Ed25519 or P-256 under the ``intl`` profile, SM2
   under ``gm``, each with a ``kid``) and a C2SP checkpoint vkey, all of this hub's own crypto
   profile: a hub verifies only its own profile's signatures and hashes (an ``intl`` hub has
   no SM2/SM3 in its verification path, a ``gm`` one accepts nothing else; docs/gm.md), so a
   peer of the other profile is refused (``invalid_peer``, saying which profile each runs), and
   so is a source key this hub could not sign its assertions with under its profile. Given
   by the operator (read from files handed over out of band), or, when
   not given, read once from the peer now (``/.well-known/jwks.json``, ``/audit/checkpoint/key``)
   and shown with their fingerprints for the operator to compare. Either way they are pinned:
   nothing the peer serves later replaces them; :func:`repin` is an explicit operator act.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import System
from exchange.audit.checkpoint import SM2_SM3, parse_vkey
from exchange.audit.errors import CheckpointError
from exchange.audit.lifecycle import hold_log
from exchange.federation.audit import log_peer_event
from exchange.federation.errors import PeerExists, PeerInvalid, PeerNotFound, PeerUnreachable
from exchange.federation.models import FederationPeer, Harvest, RemoteResource
from exchange.federation.relay import private_jwk
from schemas import ProblemDetail

__all__ = [
    "PeerKeys",
    "PeerRegistration",
    "check_url",
    "fetch_keys",
    "get_peer",
    "harvests_view",
    "list_peers",
    "peer_view",
    "register_peer",
    "repin",
    "same_profile",
    "set_status",
]

_PEER_ID = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_SYSTEM_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_KEY_TYPES = {("OKP", "Ed25519"): "intl", ("EC", "P-256"): "intl", ("EC", "SM2"): "gm"}
"""The peer's evidence key types, and the crypto profile each belongs to."""
_PROFILE_ALGS = {"intl": frozenset({"EdDSA", "ES256"}), "gm": frozenset({"SM2SM3"})}


class PeerKeys:
    """A peer's JWKS and checkpoint vkey, checked."""

    def __init__(self, jwks: Mapping[str, Any], checkpoint_key: str) -> None:
        self.jwks = _checked_jwks(jwks)
        try:
            parse_vkey(checkpoint_key.strip())
        except (CheckpointError, ValueError) as exc:
            raise _invalid("/checkpoint_key", f"not a C2SP checkpoint vkey: {exc}") from None
        self.checkpoint_key = checkpoint_key.strip()
        profiles = {_KEY_TYPES[(str(k["kty"]), str(k["crv"]))] for k in self.jwks["keys"]}
        sm2_vkey = parse_vkey(self.checkpoint_key).signature_type == SM2_SM3
        profiles.add("gm" if sm2_vkey else "intl")
        if len(profiles) != 1:
            raise _invalid("/jwks", "the peer's keys mix the intl and gm profiles")
        self.profile = profiles.pop()

    def fingerprints(self) -> dict[str, Any]:
        return _fingerprints(self.jwks, self.checkpoint_key)


class PeerRegistration:
    """What the operator registers (see the module docstring for the checks)."""

    def __init__(
        self,
        peer_id: str,
        url: str,
        *,
        name: str | None = None,
        client_id: str | None = None,
        key_file: str | None = None,
        consumer_system: str | None = None,
    ) -> None:
        self.peer_id = peer_id
        self.url = url.rstrip("/")
        self.name = name or peer_id
        self.client_id = client_id
        self.key_file = key_file
        self.consumer_system = consumer_system


def fetch_keys(url: str, *, timeout: float = 10.0) -> PeerKeys:
    """The peer's keys as it serves them now: read once, at registration, to be pinned."""
    base = url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout) as http:
            jwks = http.get(f"{base}/.well-known/jwks.json")
            vkey = http.get(f"{base}/audit/checkpoint/key")
        if jwks.status_code != 200 or vkey.status_code != 200:
            raise PeerUnreachable(f"the peer at {base} did not serve its keys")
        return PeerKeys(jwks.json(), vkey.text)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise PeerUnreachable(
            f"the peer at {base} could not be read ({type(exc).__name__})"
        ) from None


def register_peer(
    session: Session,
    registration: PeerRegistration,
    keys: PeerKeys,
    *,
    by: str,
    now: datetime,
    allow_http: bool,
    profile: str = "intl",
) -> FederationPeer:
    """Register a peer hub with its keys pinned (the caller commits), and its ``registered``
    entry in the audit log; *profile* is this hub's crypto profile."""
    r = registration
    if not _PEER_ID.fullmatch(r.peer_id):
        raise _invalid("/id", "a peer id is 2-32 lowercase letters, digits or '-'")
    if session.get(FederationPeer, r.peer_id) is not None:
        raise PeerExists(f"a peer hub {r.peer_id} is already registered")
    check_url(r.url, allow_http=allow_http)
    if r.client_id is None and r.consumer_system is None:
        raise _invalid("/", "a peer is a source (client_id and key_file), a consumer, or both")
    if r.client_id is not None:
        if not _SYSTEM_ID.fullmatch(r.client_id):
            raise _invalid("/client_id", "not a system id")
        if not r.key_file:
            raise _invalid("/key_file", "a source peer needs this hub's private key for it")
        try:
            alg = private_jwk(Path(r.key_file))[0]
        except ValueError as exc:
            raise _invalid("/key_file", str(exc)) from None
        if alg not in _PROFILE_ALGS.get(profile, frozenset()):
            raise _invalid("/key_file", f"a {alg} key signs nothing a {profile} hub may send")
    if r.consumer_system is not None:
        if session.get(System, r.consumer_system) is None:
            raise _invalid("/consumer_system", "no system with this id is registered here")
        taken = select(FederationPeer).where(FederationPeer.consumer_system == r.consumer_system)
        if session.scalar(taken) is not None:
            raise PeerExists(f"the system {r.consumer_system} is another peer's already")
    same_profile(keys, profile)
    peer = FederationPeer(
        id=r.peer_id,
        name=r.name[:200],
        url=r.url,
        source=r.client_id is not None,
        client_id=r.client_id,
        key_file=str(Path(r.key_file).resolve()) if r.key_file else None,
        consumer_system=r.consumer_system,
        jwks=keys.jwks,
        checkpoint_key=keys.checkpoint_key,
        status="active",
        harvest_version=None,
        registered_at=now,
        registered_by=by,
        updated_at=now,
    )
    hold_log(session)
    session.add(peer)
    session.flush()
    log_peer_event(session, peer, "registered", by=by)
    return peer


def set_status(
    session: Session, peer_id: str, status: str, *, by: str, now: datetime
) -> FederationPeer:
    """Suspend a peer (nothing is relayed to or accepted from it) or make it active again;
    a change is an audit-log entry (``suspended`` or ``resumed``), setting the status it has
    is nothing."""
    if status not in ("active", "suspended"):
        raise _invalid("/status", "active or suspended")
    hold_log(session)  # the log's head lock before the peer's row lock
    peer = get_peer(session, peer_id, lock=True)
    if peer.status == status:
        return peer
    peer.status = status
    peer.updated_at = now
    session.flush()
    log_peer_event(session, peer, "suspended" if status == "suspended" else "resumed", by=by)
    return peer


def repin(
    session: Session,
    peer_id: str,
    keys: PeerKeys,
    *,
    by: str,
    now: datetime,
    profile: str = "intl",
) -> FederationPeer:
    """Replace a peer's pinned keys (its key rotation, confirmed by the operator); the
    ``repinned`` entry commits to the new keys' digest."""
    same_profile(keys, profile)
    hold_log(session)
    peer = get_peer(session, peer_id, lock=True)
    peer.jwks = keys.jwks
    peer.checkpoint_key = keys.checkpoint_key
    peer.updated_at = now
    session.flush()
    log_peer_event(session, peer, "repinned", by=by)
    return peer


def same_profile(keys: PeerKeys, profile: str) -> None:
    """Refuse a peer whose keys are of another crypto profile than this hub's (check 3)."""
    if keys.profile != profile:
        raise _invalid(
            "/jwks",
            f"the peer signs under the {keys.profile} profile and this hub runs {profile}: "
            "a hub verifies only its own profile's signatures (docs/federation.md)",
        )


def get_peer(session: Session, peer_id: str, *, lock: bool = False) -> FederationPeer:
    peer = session.get(FederationPeer, peer_id, with_for_update=lock)
    if peer is None:
        raise PeerNotFound(f"no peer hub {peer_id!r}")
    return peer


def list_peers(session: Session) -> list[dict[str, Any]]:
    peers = session.scalars(select(FederationPeer).order_by(FederationPeer.id))
    return [peer_view(session, p) for p in peers]


def peer_view(session: Session, peer: FederationPeer) -> dict[str, Any]:
    resources = session.scalars(
        select(RemoteResource.code).where(RemoteResource.peer_id == peer.id)
    )
    return {
        "id": peer.id,
        "name": peer.name,
        "url": peer.url,
        "roles": [
            r for r, on in (("source", peer.source), ("consumer", bool(peer.consumer_system))) if on
        ],
        "client_id": peer.client_id,
        "consumer_system": peer.consumer_system,
        "status": peer.status,
        "keys": _fingerprints(peer.jwks, peer.checkpoint_key),
        "harvest_version": peer.harvest_version,
        "resources": sorted(resources),
        "registered_at": peer.registered_at.isoformat(),
        "registered_by": peer.registered_by,
        "updated_at": peer.updated_at.isoformat(),
    }


def harvests_view(session: Session, peer_id: str) -> list[dict[str, Any]]:
    get_peer(session, peer_id)
    rows = session.scalars(
        select(Harvest).where(Harvest.peer_id == peer_id).order_by(Harvest.number.desc())
    )
    return [harvest_view(h) for h in rows]


def harvest_view(h: Harvest) -> dict[str, Any]:
    return {
        "peer": h.peer_id,
        "number": h.number,
        "version": h.version,
        "outcome": h.outcome,
        "at": h.at.isoformat(),
        "by": h.by,
        "digest": h.digest,
        "resources": h.resources,
        "departments": h.departments,
        "problems": h.problems,
        "detail": h.detail,
    }


def check_url(url: str, *, allow_http: bool) -> None:
    """Refuse a peer URL that is not https (http only where allowed), or that carries
    credentials, a query or a fragment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        raise _invalid("/url", "not a URL") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        allowed = " or ".join(schemes)
        raise _invalid("/url", f"the peer's URL must be {allowed}, with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise _invalid("/url", "no credentials, query or fragment in the peer's URL")


def _checked_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not keys:
        raise _invalid("/jwks", "not a JWKS with keys")
    kept = []
    for n, jwk in enumerate(keys):
        if not isinstance(jwk, dict) or "d" in jwk:
            raise _invalid(f"/jwks/keys/{n}", "not a public JWK")
        if (str(jwk.get("kty")), str(jwk.get("crv"))) not in _KEY_TYPES:
            raise _invalid(f"/jwks/keys/{n}", "not an Ed25519, P-256 or SM2 signing key")
        if not isinstance(jwk.get("kid"), str) or not jwk["kid"]:
            raise _invalid(f"/jwks/keys/{n}", "no kid")
        kept.append({k: v for k, v in jwk.items() if isinstance(v, str)})
    return {"keys": kept}


def _fingerprints(jwks: Mapping[str, Any], checkpoint_key: str) -> dict[str, Any]:
    return {
        "evidence": [{"kid": k["kid"], "thumbprint": _thumbprint(k)} for k in jwks.get("keys", ())],
        "checkpoint": checkpoint_key,
    }


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url), to compare with the peer's operator."""
    members = ("crv", "kty", "x", "y") if jwk.get("kty") == "EC" else ("crv", "kty", "x")
    text = json.dumps({m: jwk.get(m) for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _invalid(pointer: str, detail: str) -> PeerInvalid:
    return PeerInvalid(detail, errors=[ProblemDetail(pointer=pointer, detail=detail)])
