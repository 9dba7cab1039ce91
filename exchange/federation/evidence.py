"""Checking an origin hub's answer before anything in it is used.

A relayed answer is used only after every check below passes, in this order; the first that
fails makes the whole answer unusable (:class:`OriginUnverifiable`, a sentence that names the
check, never a value):

1. the evidence is a compact JWS whose ``typ`` is ``tongban-evidence+jwt``;
2. its ``kid`` is one of the peer's keys pinned at registration, and its ``alg`` is that key's
   (``EdDSA``, ``ES256``, or ``SM2SM3`` for a ``gm`` peer's SM2 key);
3. its signature verifies with that key, and its ``iss`` is the peer's URL and its ``aud`` the
   client id this hub has there (``iat``, ``jti`` present);
4. it is about this request: ``jti`` is the answer's ``request_id``, ``purpose`` and
   ``subject`` are those asked, ``relay`` names this hub, the original caller and this hub's
   request id;
5. it signs exactly the answer: ``attributes`` and ``audit`` equal the answer's;
6. the audit receipt holds: its checkpoint is signed by the peer's pinned checkpoint key, for a
   tree of ``tree_size`` entries, and the inclusion proof puts ``leaf_hash`` at ``index`` in
   that tree.

A peer's subscription event (回流) is checked the same way, in the same order
(:func:`check_origin_event`), with its own ``typ`` and what it must be about.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt

from exchange.audit.checkpoint import parse_vkey
from exchange.audit.errors import CheckpointError
from exchange.audit.merkle import verify_inclusion
from exchange.security.gm.errors import GmKeyInvalid
from exchange.security.gm.jws import ALG as SM2SM3  # importing it registers SM2SM3 with PyJWT
from exchange.security.gm.sm2 import Sm2PublicKey
from exchange.subscriptions.signed import EVENT_TYP

__all__ = [
    "EVENT_TYP",
    "EVIDENCE_TYP",
    "ExpectedEvent",
    "OriginUnverifiable",
    "PinnedKeys",
    "check_origin_answer",
    "check_origin_event",
]

EVIDENCE_TYP: Final = "tongban-evidence+jwt"

_ALGORITHMS: Final = {("OKP", "Ed25519"): "EdDSA", ("EC", "P-256"): "ES256", ("EC", "SM2"): SM2SM3}


class OriginUnverifiable(Exception):
    """The origin's answer failed a check; the message says which (safe to log and audit)."""


@dataclass(frozen=True)
class PinnedKeys:
    """A peer's keys as pinned at registration: its JWKS and its checkpoint vkey."""

    issuer: str
    jwks: Mapping[str, Any]
    checkpoint_key: str

    def evidence_key(self, kid: object) -> tuple[Any, str]:
        for jwk in self.jwks.get("keys", ()):
            if isinstance(jwk, dict) and jwk.get("kid") == kid and "d" not in jwk:
                alg = _ALGORITHMS.get((str(jwk.get("kty")), str(jwk.get("crv"))))
                if alg == SM2SM3:  # a gm peer's key: PyJWT's PyJWK has no SM2
                    try:
                        return Sm2PublicKey.from_jwk(dict(jwk)), alg
                    except GmKeyInvalid:
                        raise OriginUnverifiable("the peer's pinned SM2 key is not valid") from None
                if alg is not None:
                    return jwt.PyJWK(dict(jwk), algorithm=alg), alg
        raise OriginUnverifiable("the evidence's kid is not one of the peer's pinned keys")


@dataclass(frozen=True)
class Expected:
    """What the answer must be about."""

    audience: str  # this hub's client id at the peer
    purpose: str
    subject: str
    hub: str  # this hub's URL, as the origin's ``relay.hub``
    system: str  # the original caller
    request_id: str  # this hub's request id


def check_origin_answer(
    answer: Mapping[str, Any], keys: PinnedKeys, expected: Expected
) -> dict[str, Any]:
    """The evidence's claims once every check of the module docstring has passed."""
    claims = _signed_claims(answer.get("evidence"), keys, expected.audience, EVIDENCE_TYP)
    _about_this_request(answer, claims, expected)
    _receipt_holds(claims.get("audit"), keys)
    return claims


def _signed_claims(token: object, keys: PinnedKeys, audience: str, typ: str) -> dict[str, Any]:
    """Checks 1-3: the JWS's type, its pinned key and algorithm, its signature, issuer and
    audience."""
    if not isinstance(token, str) or not token:
        raise OriginUnverifiable("the origin's answer carries no evidence")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise OriginUnverifiable("the evidence is not a compact JWS") from None
    if str(header.get("typ", "")).lower() != typ:
        raise OriginUnverifiable(f"the evidence's typ is not {typ}")
    key, alg = keys.evidence_key(header.get("kid"))
    if header.get("alg") != alg:
        raise OriginUnverifiable("the evidence's alg is not its pinned key's algorithm")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=audience,
            issuer=keys.issuer,
            options={"require": ["iss", "aud", "iat", "jti"]},
            leeway=300,
        )
    except jwt.InvalidSignatureError:
        raise OriginUnverifiable("the evidence's signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise OriginUnverifiable(
            f"the evidence's claims do not hold ({type(exc).__name__})"
        ) from None
    return claims


@dataclass(frozen=True)
class ExpectedEvent:
    """What a peer's event must be about: the subscription this hub holds there for one of
    its own subscriptions (回流)."""

    audience: str  # this hub's client id at the peer
    remote: str  # the subscription's id at the peer
    hub: str  # this hub's URL
    system: str  # the local subscriber
    subscription: str  # the local subscription


def check_origin_event(
    view: Mapping[str, Any], keys: PinnedKeys, expected: ExpectedEvent
) -> dict[str, Any]:
    """The claims of a peer's event (as its pull API shows it) once every check has passed,
    in the order of an answer's: its ``evidence`` a ``tongban-event+jwt`` JWS by a pinned key,
    ``iss`` the peer, ``aud`` this hub's client id there; about this subscription (``jti`` the
    event id, ``subscription`` and ``seq`` the event's, ``relay`` naming this hub, its system
    and its subscription); signing exactly the event's subject, resource, ``attributes``,
    ``denied`` and ``unavailable``; and an audit receipt for the event's entry that holds."""
    claims = _signed_claims(view.get("evidence"), keys, expected.audience, EVENT_TYP)
    payload = view.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise OriginUnverifiable("the event carries no data")
    if claims.get("jti") != data.get("id") or data.get("id") != view.get("id"):
        raise OriginUnverifiable("the evidence's jti is not the event's id")
    if claims.get("subscription") != expected.remote or data.get("subscription") != expected.remote:
        raise OriginUnverifiable("the event is of another subscription")
    if not claims.get("seq") == data.get("seq") == view.get("seq"):
        raise OriginUnverifiable("the evidence's seq is not the event's")
    relay = claims.get("relay")
    if not isinstance(relay, dict) or (
        relay.get("hub"),
        relay.get("system"),
        relay.get("subscription"),
    ) != (expected.hub, expected.system, expected.subscription):
        raise OriginUnverifiable("the evidence does not name this hub's subscription")
    for name in ("subject", "resource", "attributes", "denied", "unavailable"):
        if _canonical(claims.get(name)) != _canonical(data.get(name)):
            raise OriginUnverifiable(f"the evidence's {name} do not match the event")
    audit = claims.get("audit")
    if not isinstance(audit, dict) or audit.get("index") != (data.get("audit") or {}).get("index"):
        raise OriginUnverifiable("the evidence's audit receipt is not the event's entry")
    _receipt_holds(audit, keys)
    return claims


def _about_this_request(
    answer: Mapping[str, Any], claims: Mapping[str, Any], expected: Expected
) -> None:
    if claims.get("jti") != answer.get("request_id"):
        raise OriginUnverifiable("the evidence's jti is not the answer's request_id")
    if claims.get("purpose") != expected.purpose:
        raise OriginUnverifiable("the evidence is for another purpose")
    subject = claims.get("subject")
    if not isinstance(subject, dict) or str(subject.get("id", "")).upper() != expected.subject:
        raise OriginUnverifiable("the evidence is about another subject")
    relay = claims.get("relay")
    if not isinstance(relay, dict) or (
        relay.get("hub"),
        relay.get("system"),
        relay.get("request_id"),
    ) != (expected.hub, expected.system, expected.request_id):
        raise OriginUnverifiable("the evidence does not name this hub's relayed request")
    for name in ("attributes", "audit"):
        if _canonical(claims.get(name)) != _canonical(answer.get(name)):
            raise OriginUnverifiable(f"the evidence's {name} do not match the answer")


def _receipt_holds(audit: object, keys: PinnedKeys) -> None:
    if not isinstance(audit, dict):
        raise OriginUnverifiable("the evidence carries no audit receipt")
    try:
        checkpoint = parse_vkey(keys.checkpoint_key).verify(str(audit.get("checkpoint", "")))
    except CheckpointError:
        raise OriginUnverifiable(
            "the audit receipt's checkpoint is not signed by the peer's pinned checkpoint key"
        ) from None
    index, size = audit.get("index"), audit.get("tree_size")
    if checkpoint.size != size or not isinstance(index, int) or not isinstance(size, int):
        raise OriginUnverifiable("the audit receipt's tree size is not its checkpoint's")
    try:
        leaf = base64.b64decode(str(audit.get("leaf_hash")), validate=True)
        proof = [base64.b64decode(str(p), validate=True) for p in audit["inclusion_proof"]]
    except (binascii.Error, KeyError, TypeError):
        raise OriginUnverifiable("the audit receipt's hashes are not base64") from None
    if not verify_inclusion(leaf, index, size, proof, checkpoint.root):
        raise OriginUnverifiable("the audit receipt's inclusion proof does not hold")


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
