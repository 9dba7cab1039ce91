"""Relaying a query to the hub that holds the data (跨级转发), and admitting one relayed here.

**Relaying** (this hub asks a source peer), per origin hub, for the fields this hub's own
decision lets through:

1. a hub access token from the peer's ``/oauth/token``, as the system this hub is registered
   as there (client credentials, ``private_key_jwt`` signed with the key in the peer's
   ``key_file``), kept until shortly before it expires;
2. ``POST /exchange/query`` there with the subject, the caller's purpose and officer, the
   attributes as the caller asked them (a predicate as the predicate), and ``on_behalf_of``:
   this hub's URL, the original caller's system and department, this hub's request id and
   ``release``, the form this hub's decision allows each attribute (``clear``, ``mask_name``,
   ``derived``…); the origin hub decides per attribute under its own rules and agreements,
   releases no more than that form, and audits the access naming both;
3. its answer is used only once its evidence passes every check of
   :mod:`exchange.federation.evidence` against the keys pinned at registration; then its
   released attributes are released here as the origin shaped them (this hub derives and masks
   nothing of a relayed value, so it never holds a base value its caller could not get), what
   it denied is denied here (``origin_<reason>``), what it could not read is unavailable here.

What can go wrong makes the fields ``unavailable`` here, never a release, and is audited in this
hub's entry (``relayed``): ``peer_unreachable`` (no answer, or not JSON), ``relay_refused`` (a
problem from the origin: it is kept, and when nothing else is released the answer is that
problem, ``relay_refused`` 502 with the origin's in ``origin``), ``origin_unverifiable``
(evidence that fails a check).

**Admitting** (a peer relays here): a query with ``on_behalf_of`` is accepted only from the
system a consumer peer was registered with, naming that peer's URL.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import httpx
import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange.changes import Cached, Domain
from exchange.db import unit_of_work
from exchange.federation.errors import NotAPeerHub, RelayRefused
from exchange.federation.evidence import (
    Expected,
    OriginUnverifiable,
    PinnedKeys,
    check_origin_answer,
)
from exchange.federation.models import FederationPeer, RemoteResource
from exchange.query.resolve import ResourceInfo
from exchange.query.sourcing import Fetched, RelayAsk
from exchange.security.gm.errors import GmKeyInvalid
from exchange.security.gm.jws import ALG as SM2SM3  # noqa: F401 - registers SM2SM3 with PyJWT
from exchange.security.gm.sm2 import Sm2PublicKey, SoftwareSm2Signer

__all__ = ["HubRelay", "PeerClient", "Refused", "private_jwk"]

log = logging.getLogger("tongban.federation")

CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME: Final = 60
REFRESH_MARGIN: Final = 30.0
_ALGORITHMS: Final = {
    ("OKP", "Ed25519"): "EdDSA",
    ("EC", "P-256"): "ES256",
    ("EC", "SM2"): "SM2SM3",  # a gm hub's key (docs/gm.md)
}


def _read_origin(session: Session, code: str) -> str | None:
    return session.scalar(select(RemoteResource.peer_id).where(RemoteResource.code == code))


_ORIGINS: Cached[str, str | None] = Cached(Domain.CATALOGUE, _read_origin)
"""Which peer holds a resource, read once per change of the catalogue (a harvest publishes)."""


class PeerClient:
    """This hub's connection to one source peer: its token, and the calls the relay makes."""

    def __init__(self, peer: FederationPeer, http: httpx.Client) -> None:
        if not peer.client_id or not peer.key_file:
            raise ValueError(f"peer {peer.id} is not registered as a source")
        self.peer_id = peer.id
        self.url = peer.url.rstrip("/")
        self.client_id = peer.client_id
        self.keys = PinnedKeys(self.url, peer.jwks, peer.checkpoint_key)
        self._jwk = private_jwk(Path(peer.key_file))
        self._http = http
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def query(self, body: Mapping[str, Any]) -> httpx.Response:
        token = self._access_token()
        response = self._post("/exchange/query", json=dict(body), token=token)
        if response.status_code == 401:  # a token the peer no longer takes: a new one, once
            self._forget(token)
            response = self._post("/exchange/query", json=dict(body), token=self._access_token())
        return response

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Any other call of the peer's API as this hub's system there (a token refused with
        401 is replaced once); :class:`Refused` when no token is issued."""
        token = self._access_token()
        response = self._send(method, path, json=json, params=params, token=token)
        if response.status_code == 401:
            self._forget(token)
            token = self._access_token()
            response = self._send(method, path, json=json, params=params, token=token)
        return response

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, Any] | None,
        token: str,
    ) -> httpx.Response:
        return self._http.request(
            method,
            f"{self.url}{path}",
            json=json,
            params=dict(params) if params else None,
            headers={"Authorization": f"Bearer {token}"},
        )

    def _post(self, path: str, *, json: Any, token: str) -> httpx.Response:
        return self._http.post(
            f"{self.url}{path}", json=json, headers={"Authorization": f"Bearer {token}"}
        )

    def _access_token(self) -> str:
        with self._lock:
            if self._token is not None and time.monotonic() < self._refresh_at:
                return self._token
            asked_at = time.monotonic()
            response = self._http.post(
                f"{self.url}/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_assertion_type": CLIENT_ASSERTION_TYPE,
                    "client_assertion": self._assertion(),
                },
            )
            if response.status_code != 200:
                raise Refused(response)
            body = response.json()
            token, expires_in = body.get("access_token"), body.get("expires_in")
            if not isinstance(token, str) or not isinstance(expires_in, int | float):
                raise httpx.DecodingError("the token endpoint's answer has no access token")
            self._token = token
            self._refresh_at = asked_at + max(float(expires_in) - REFRESH_MARGIN, 0.0)
            return token

    def _forget(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _assertion(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": f"{self.url}/oauth/token",
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": secrets.token_urlsafe(24),
        }
        alg, key, kid = self._jwk
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


class Refused(Exception):
    """The peer answered with a problem."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class HubRelay:
    """The :class:`exchange.query.sourcing.Relay` of a hub: its source peers, over HTTP."""

    def __init__(self, sessions: sessionmaker[Session], *, timeout: float = 10.0) -> None:
        self._sessions = sessions
        self._http = httpx.Client(timeout=timeout)
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[tuple[Any, ...], PeerClient]] = {}

    def close(self) -> None:
        self._http.close()

    # -- the Relay protocol ----------------------------------------------------------------

    def origins(self, session: Session, codes: Iterable[str]) -> dict[str, str]:
        found = {code: _ORIGINS.get(session, code) for code in sorted(codes)}
        return {code: peer for code, peer in found.items() if peer is not None}

    def admit(self, session: Session, system: str, on_behalf_of: Mapping[str, Any]) -> None:
        peer = session.scalar(
            select(FederationPeer).where(FederationPeer.consumer_system == system)
        )
        if peer is None or peer.status != "active":
            raise NotAPeerHub(
                f"the system {system} is not registered here as a peer hub; "
                "only a peer hub may name an original caller (on_behalf_of)"
            )
        if str(on_behalf_of.get("hub", "")).rstrip("/") != peer.url.rstrip("/"):
            raise NotAPeerHub(f"the peer hub {peer.id} relays as {peer.url}, not as another hub")

    def fetch(
        self,
        ask: RelayAsk,
        resources: Mapping[str, ResourceInfo],
        wanted: Mapping[str, set[str]],
    ) -> dict[str, Fetched]:
        if not ask.hub:  # the origin must know which hub relays: TONGBAN_PUBLIC_URL
            log.warning("a relayed read needs TONGBAN_PUBLIC_URL to name this hub")
            return {code: Fetched(code, failure="not_bound") for code in wanted}
        with unit_of_work(self._sessions) as session:
            owners = self.origins(session, wanted)
            peers = {p.id: p for p in session.scalars(select(FederationPeer))}
            clients = {pid: self._client(peers[pid]) for pid in set(owners.values())}
        fetched: dict[str, Fetched] = {}
        for peer_id, client in sorted(clients.items()):
            codes = {c: f for c, f in wanted.items() if owners.get(c) == peer_id}
            fetched.update(self._relay_to(client, ask, resources, codes))
        for code in wanted:
            fetched.setdefault(code, Fetched(code, failure="not_bound"))
        return fetched

    # -- one origin hub --------------------------------------------------------------------

    def client(self, peer: FederationPeer) -> PeerClient | None:
        """This hub's client of a source *peer* (one per peer and pinned keys); None when
        the peer is suspended, not a source, or its key cannot be read."""
        return self._client(peer)

    def _client(self, peer: FederationPeer) -> PeerClient | None:
        if peer.status != "active" or not peer.source:
            return None
        version = (peer.url, peer.client_id, peer.key_file, peer.checkpoint_key, str(peer.jwks))
        with self._lock:
            known = self._clients.get(peer.id)
            if known is not None and known[0] == version:
                return known[1]
            try:
                client = PeerClient(peer, self._http)
            except ValueError as exc:
                log.warning("peer %s cannot be used: %s", peer.id, exc)
                return None
            self._clients[peer.id] = (version, client)
            return client

    def _relay_to(
        self,
        client: PeerClient | None,
        ask: RelayAsk,
        resources: Mapping[str, ResourceInfo],
        wanted: Mapping[str, set[str]],
    ) -> dict[str, Fetched]:
        if client is None:
            return {code: Fetched(code, failure="not_bound") for code in wanted}
        forms = {
            attribute: form
            for attribute, (code, form) in sorted(ask.forms.items())
            if code in wanted
        }
        names = {attribute: ask.forms[attribute][0] for attribute in forms}
        if not names:  # nothing this hub may ask the origin for (a row condition of its own)
            return {code: Fetched(code, failure="not_relayed") for code in wanted}
        body = {
            "subject": {"id_type": "CN-RIC", "id": ask.subject},
            "purpose": ask.purpose,
            "attributes": list(names),
            "officer": ask.officer,
            "on_behalf_of": {
                "hub": ask.hub,
                "system": ask.system,
                "department": ask.department,
                "officer": ask.officer,
                "request_id": ask.request_id,
                "release": forms,
            },
        }
        origin: dict[str, Any] = {
            "hub": client.url,
            "peer": client.peer_id,
            "request_id": None,
            "index": None,
        }
        try:
            response = client.query(body)
            answer = response.json() if response.status_code == 200 else None
            if answer is None:
                raise Refused(response)
        except Refused as refused:
            return self._refused(origin, refused.response, wanted)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("peer %s unreachable: %s", client.peer_id, type(exc).__name__)
            return _failed(origin, "unreachable", "peer_unreachable", wanted)
        origin["request_id"] = _text(answer.get("request_id"))
        origin["index"] = _index(answer.get("audit"))
        expected = Expected(
            client.client_id, ask.purpose, ask.subject, ask.hub, ask.system, ask.request_id
        )
        try:
            check_origin_answer(answer, client.keys, expected)
        except OriginUnverifiable as exc:
            log.warning("peer %s answer refused: %s", client.peer_id, exc)
            return _failed(origin, "unverifiable", "origin_unverifiable", wanted)
        origin.update(outcome="verified", evidence=answer["evidence"])
        return _records(origin, answer, names, wanted)

    def _refused(
        self, origin: dict[str, Any], response: httpx.Response, wanted: Mapping[str, set[str]]
    ) -> dict[str, Fetched]:
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        origin["request_id"] = _text(problem.get("request_id"))
        origin["index"] = _index(problem.get("audit"))
        shown = {
            "hub": origin["hub"],
            "status": response.status_code,
            **{k: str(problem[k]) for k in ("code", "title", "detail") if k in problem},
        }
        refusal = RelayRefused(
            f"the origin hub {origin['peer']} refused the relayed query "
            f"({shown.get('code', response.status_code)})",
            extensions={"origin": shown},
        )
        fetched = _failed(origin, "refused", "relay_refused", wanted)
        first = sorted(fetched)[0]
        fetched[first] = Fetched(first, failure="relay_refused", origin=origin, refusal=refusal)
        return fetched


def _failed(
    origin: dict[str, Any], outcome: str, reason: str, wanted: Mapping[str, set[str]]
) -> dict[str, Fetched]:
    """Every wanted resource unavailable for *reason*, each with the origin's record (one
    ``relayed`` member per origin hub in the audit entry)."""
    origin["outcome"] = outcome
    return {code: Fetched(code, failure=reason, origin=origin) for code in sorted(wanted)}


def _records(
    origin: dict[str, Any],
    answer: Mapping[str, Any],
    names: Mapping[str, str],
    wanted: Mapping[str, set[str]],
) -> dict[str, Fetched]:
    """The origin's verified answer per resource: each attribute as the origin released it
    (already shaped there), and what it refused, by attribute as asked."""
    shaped: dict[str, dict[str, Mapping[str, Any]]] = {code: {} for code in wanted}
    refused: dict[str, dict[str, tuple[str, str]]] = {code: {} for code in wanted}
    released = answer.get("attributes") or {}
    for name, code in names.items():
        if isinstance(released.get(name), dict):
            shaped[code][name] = released[name]
        elif name in (answer.get("denied") or {}):
            refused[code][name] = ("denied", str(answer["denied"][name]))
        else:
            reason = (answer.get("unavailable") or {}).get(name, "unavailable")
            refused[code][name] = ("unavailable", str(reason))
    return {
        code: Fetched(code, origin=origin, refused=refused[code], shaped=shaped[code])
        for code in sorted(wanted)
    }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _index(audit: object) -> int | None:
    if isinstance(audit, dict) and isinstance(audit.get("index"), int):
        return int(audit["index"])
    return None


def private_jwk(path: Path) -> tuple[str, Any, str | None]:
    """The algorithm, key and kid of the private JWK (or one-key JWKS) in *path*; ValueError
    saying why not (never the path or the key)."""
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the key file ({type(exc).__name__})") from None
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        document = document["keys"][0] if len(document["keys"]) == 1 else None
    if not isinstance(document, dict) or "d" not in document:
        raise ValueError("the key file holds no private JWK")
    alg = _ALGORITHMS.get((str(document.get("kty")), str(document.get("crv"))))
    if alg is None:
        raise ValueError("the key must be an Ed25519, P-256 or SM2 key")
    kid = document.get("kid")
    key: Any = _sm2_signer(document) if alg == "SM2SM3" else jwt.PyJWK(document, algorithm=alg)
    return alg, key, kid if isinstance(kid, str) else None


def _sm2_signer(document: Mapping[str, Any]) -> SoftwareSm2Signer:
    """The SM2 signer of a private SM2 JWK (PyJWT's ``PyJWK`` has no SM2; the ``SM2SM3``
    algorithm registered by :mod:`exchange.security.gm.jws` signs with it)."""
    try:
        public = Sm2PublicKey.from_jwk({k: document.get(k) for k in ("kty", "crv", "x", "y")})
        private = base64.urlsafe_b64decode(str(document["d"]) + "=" * (-len(document["d"]) % 4))
        return SoftwareSm2Signer.from_private_bytes(private, public)
    except (GmKeyInvalid, ValueError, TypeError, binascii.Error):
        raise ValueError("the key file's SM2 key is not valid") from None
