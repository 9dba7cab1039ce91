"""A client for case systems (办件系统) that ask the Tongban hub for a citizen's attributes.

It depends only on httpx, PyJWT and cryptography (no other part of Tongban), so a department
can copy this one file into its own case system::

    with TongbanClient.from_key_file(HUB, "edu-enrolment", "keys/edu-enrolment.jwk") as hub:
        result = hub.query(subject_id, "school-enrolment", service_item="EDU-RXDJ-001")
        result.attributes["household.registered_address"].value

Authentication is ``private_key_jwt`` (RFC 7523): the client signs a short client assertion
with the system's private JWK (EdDSA for an Ed25519 key, ES256 for a P-256 key), trades it at
``POST /oauth/token`` for an access token, keeps that token until shortly before it expires
(one token request at a time, across threads), and on a ``401 invalid_token`` from the API
gets a new token and retries once.

With ``verify_evidence`` (the default) an answer is accepted only after every check below
passes, in this order; the first that fails raises :class:`EvidenceError`, whose message names
the check, never a value:

1. the answer carries an ``evidence`` JWS whose header ``typ`` is ``tongban-evidence+jwt``;
2. its ``kid`` names a key of the hub's JWKS (``GET /.well-known/jwks.json``, fetched on first
   use and cached; fetched once more when a kid is unknown, as after a key rotation);
3. the header ``alg`` is that key's algorithm (EdDSA or ES256, pinned per key; ``SM2SM3`` for
   a ``gm`` hub's ``"crv": "SM2"`` key, docs/gm.md), and the signature verifies with that one
   algorithm;
4. ``iss`` is the hub (its base URL, or ``issuer``), ``aud`` is this system, ``iat`` is there;
5. the signed claims equal the answer: ``jti`` = ``request_id``, ``audit``, ``attributes``
   (``verified`` for a verify), and the ``purpose`` and ``subject`` asked about;
6. the audit receipt (``audit``) is backed by a checkpoint the hub signed, which holds the
   answer's audit entry (:meth:`TongbanClient.verify_receipt`, below).

A receipt is ``{index, leaf_hash, tree_size, checkpoint, inclusion_proof}``: the hub's audit
log entry for the request, a checkpoint of the log at ``tree_size`` entries (c2sp.org/
tlog-checkpoint in a c2sp.org/signed-note) and the RFC 9162 inclusion proof of the entry in
it. Keep it: should the entry ever be removed from the log, no consistency proof
(``GET /audit/proof/consistency``) leads from the checkpoint you hold to any later one. The
checks, in this order, each an :class:`EvidenceError` when it fails:

a. the receipt carries a checkpoint, a tree size above its index and base64 SHA-256 hashes;
b. the checkpoint note has a signature line of the hub's checkpoint key (the C2SP vkey
   ``checkpoint_key``, or else ``GET /audit/checkpoint/key`` fetched on first use and cached,
   and once more when the note names another key) — ``— <name> base64(key id ‖ signature)``,
   key id = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4] — and that signature verifies over
   the note's text: Ed25519 (type 0x01), or, from a ``gm`` hub, SM2 with SM3 and the ID
   1234567812345678 (type 0xff ‖ ``tongban/sm2-sm3``, docs/gm.md);
c. the checkpoint's origin is the key's name (the hub's log), its size is ``tree_size``;
d. the inclusion proof leads from ``leaf_hash`` at ``index`` to the checkpoint's root hash
   (RFC 9162 §2.1.3.2), hashed with SHA-256, or SM3 when the log's key is SM2 (a ``gm`` hub's
   tree is SM3 all the way down).

SM2 is verified here in Python over public values only (the point arithmetic of GB/T 32918.2
§7, SM3 from ``cryptography``), so verifying needs nothing else; a system with an SM2 key
(which a ``gm`` hub requires) signs its assertions through GmSSL, imported only then.

The refusals that follow a decision (403 ``purpose_not_registered``, 409 ``incomplete``, 429
budget) carry a receipt too, in ``TongbanClientError.body["audit"]``; check one with
:meth:`TongbanClient.verify_receipt`.

Errors: a problem+json answer (RFC 9457) becomes :class:`TongbanClientError` with its
``status``, ``code``, ``detail`` and ``request_id``; a network failure becomes one with
``status`` None and ``code`` ``network_error`` (or ``timeout``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import httpx
import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "EVIDENCE_TYP",
    "Attribute",
    "AuditReceipt",
    "EvidenceError",
    "QueryResult",
    "Source",
    "TongbanClient",
    "TongbanClientError",
    "VerifyResult",
    "WitnessedReceipt",
]

EVIDENCE_TYP: Final = "tongban-evidence+jwt"
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ID_TYPE: Final = "CN-RIC"
ASSERTION_LIFETIME: Final = 60  # seconds; the hub accepts up to 5 minutes
REFRESH_MARGIN: Final = 30.0  # get a new token this many seconds before the old one expires
LEEWAY: Final = 60  # seconds of clock skew allowed on the evidence's iat
_ALGORITHMS: Final = {
    ("OKP", "Ed25519"): "EdDSA",
    ("EC", "P-256"): "ES256",
    ("EC", "SM2"): "SM2SM3",
}
_SM2SM3: Final = "SM2SM3"
CHECKPOINT_KEY_PATH: Final = "/audit/checkpoint/key"
_ED25519: Final = b"\x01"  # the signed-note signature type of Ed25519
_SM2_NOTE: Final = b"\xfftongban/sm2-sm3"  # the gm profile's signed-note type (docs/gm.md)
_SIGNATURE_PREFIX: Final = "\u2014 "  # signed-note: an em dash and a space open a signature
_MAX_PROOF: Final = 64  # an RFC 9162 tree of fewer than 2^64 leaves


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where a released attribute came from: department, resource and its version, the as-of
    time of the source record (ISO 8601, or None when the source does not say), and, for an
    attribute another hub holds and this hub relayed, that hub's URL (docs/federation.md)."""

    department: str
    resource: str
    version: int
    as_of: str | None
    hub: str | None = None


@dataclass(frozen=True)
class Attribute:
    """One released attribute: its value and how it was released (``clear``, ``mask_name``,
    ``hash``, ``derived``, …)."""

    value: Any
    release: str
    source: Source


@dataclass(frozen=True)
class AuditReceipt:
    """The answer's entry in the hub's audit log (its index and base64 leaf hash) and the
    hub's signed checkpoint of a tree of ``tree_size`` entries that holds it, with the entry's
    inclusion proof in that tree (base64 hashes). Verified with the evidence (the module
    docstring), or by :meth:`TongbanClient.verify_receipt`."""

    index: int
    leaf_hash: str
    tree_size: int = 0
    checkpoint: str = ""
    inclusion_proof: tuple[str, ...] = ()


@dataclass(frozen=True)
class WitnessedReceipt:
    """A receipt covered by a checkpoint that meets your witness policy: the size of that
    checkpoint, who cosigned it (the policy's witness names) and the note itself."""

    receipt: AuditReceipt
    witnessed_size: int
    cosigned_by: tuple[str, ...]
    checkpoint: str


@dataclass(frozen=True)
class QueryResult:
    """The answer of ``POST /exchange/query``. ``evidence_claims`` is the verified payload of
    the evidence JWS, or None when the client was asked not to verify it."""

    request_id: str
    attributes: Mapping[str, Attribute]
    denied: Mapping[str, str]
    unavailable: Mapping[str, str]
    audit: AuditReceipt
    evidence: str | None
    evidence_claims: Mapping[str, Any] | None


@dataclass(frozen=True)
class VerifyResult:
    """The answer of ``POST /exchange/verify`` (交互核验): per claimed attribute ``match``,
    ``no_match``, ``unavailable`` or ``denied``."""

    request_id: str
    results: Mapping[str, str]
    audit: AuditReceipt
    evidence: str | None
    evidence_claims: Mapping[str, Any] | None

    @property
    def all_match(self) -> bool:
        """Whether every claimed value matched the source."""
        return bool(self.results) and all(r == "match" for r in self.results.values())


# -- errors --------------------------------------------------------------------------------


class TongbanClientError(Exception):
    """The hub refused or could not be reached. ``status`` is the HTTP status (None when no
    answer came), ``code`` the problem's stable code, ``body`` the problem document."""

    def __init__(
        self,
        status: int | None,
        code: str,
        detail: str,
        request_id: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.body: Mapping[str, Any] = body or {}
        super().__init__(status, code, detail, request_id)

    def __str__(self) -> str:
        status = f"HTTP {self.status} " if self.status is not None else ""
        request = f" (request_id {self.request_id})" if self.request_id else ""
        return f"{status}{self.code}: {self.detail}{request}"


class EvidenceError(TongbanClientError):
    """The hub answered, but its evidence does not verify or does not match the answer."""

    def __init__(self, detail: str, request_id: str | None = None) -> None:
        super().__init__(200, "invalid_evidence", detail, request_id)


def _invalid_response(what: str, request_id: str | None = None) -> TongbanClientError:
    return TongbanClientError(200, "invalid_response", f"the hub's answer {what}", request_id)


# -- the client ----------------------------------------------------------------------------


class TongbanClient:
    """A case system's connection to the hub, as ``system_id`` with its private JWK.

    ``http`` is an httpx client to send through (yours to close); without it the client makes
    and owns one. ``timeout`` (seconds) applies to every request. ``token_endpoint`` defaults
    to ``{base_url}/oauth/token`` and is the audience of the client assertions; ``issuer``
    (the evidence's expected ``iss``) defaults to ``base_url``. ``checkpoint_key`` pins the
    hub's checkpoint verifier key (C2SP vkey, as ``tongban audit`` or the hub's operator hands
    it out); without it the key is fetched from the hub. ``clock`` is the monotonic clock the
    token cache runs on.
    """

    def __init__(
        self,
        base_url: str,
        system_id: str,
        private_jwk: Mapping[str, Any],
        *,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        token_endpoint: str | None = None,
        issuer: str | None = None,
        checkpoint_key: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.system_id = system_id
        self.token_endpoint = token_endpoint or f"{self.base_url}/oauth/token"
        self.issuer = (issuer or self.base_url).rstrip("/")
        self._alg, self._signing_key, self._kid = _signing_key(private_jwk)
        self._timeout = timeout
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client()
        self._clock = clock
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._jwks_lock = threading.Lock()
        self._jwks: dict[str, tuple[_VerifyingKey, str]] = {}
        self._note_key_lock = threading.Lock()
        self._note_key_pinned = checkpoint_key is not None
        self._note_key = None if checkpoint_key is None else _note_key(checkpoint_key)

    @classmethod
    def from_key_file(
        cls, base_url: str, system_id: str, path: str | Path, **options: Any
    ) -> TongbanClient:
        """A client whose private JWK is read from ``path`` (a JWK, or a JWKS of one key)."""
        try:
            document = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read a JWK from {path}: {type(exc).__name__}") from None
        if isinstance(document, dict) and isinstance(document.get("keys"), list):
            if len(document["keys"]) != 1:
                raise ValueError(f"{path} holds a JWKS of several keys; name one key")
            document = document["keys"][0]
        if not isinstance(document, dict):
            raise ValueError(f"{path} does not hold a JWK object")
        return cls(base_url, system_id, document, **options)

    def close(self) -> None:
        """Close the HTTP client if this client made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> TongbanClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # -- the API ---------------------------------------------------------------------------

    def query(
        self,
        subject_id: str,
        purpose: str,
        *,
        service_item: str | None = None,
        attributes: Sequence[str] | None = None,
        officer: str | None = None,
        consent_id: str | None = None,
        all_or_nothing: bool = False,
        verify_evidence: bool = True,
    ) -> QueryResult:
        """Verified attributes of the citizen ``subject_id`` (a resident ID number) for
        ``purpose``: those of ``service_item`` and/or the named ``attributes``."""
        ask = _ask(subject_id, purpose, service_item, officer, consent_id)
        if attributes is not None:
            ask["attributes"] = list(attributes)
        ask["all_or_nothing"] = all_or_nothing
        body = self._call("/exchange/query", ask)
        try:
            result = QueryResult(
                request_id=_request_id(body),
                attributes={name: _attribute(a) for name, a in body["attributes"].items()},
                denied=_strings(body["denied"]),
                unavailable=_strings(body["unavailable"]),
                audit=_receipt(body["audit"]),
                evidence=_evidence(body),
                evidence_claims=None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise _invalid_response("is not shaped like a query answer") from None
        if not verify_evidence:
            return result
        claims = self._verified_evidence(body, ask, signed="attributes")
        self.verify_receipt(result.audit, request_id=result.request_id)
        return replace(result, evidence_claims=claims)

    def verify(
        self,
        subject_id: str,
        purpose: str,
        claims: Mapping[str, Any],
        *,
        service_item: str | None = None,
        officer: str | None = None,
        consent_id: str | None = None,
        verify_evidence: bool = True,
    ) -> VerifyResult:
        """Ask the hub whether the claimed values (attribute → value) match the source; the
        values themselves never come back."""
        ask = _ask(subject_id, purpose, service_item, officer, consent_id)
        ask["claims"] = dict(claims)
        body = self._call("/exchange/verify", ask)
        try:
            result = VerifyResult(
                request_id=_request_id(body),
                results=_strings(body["results"]),
                audit=_receipt(body["audit"]),
                evidence=_evidence(body),
                evidence_claims=None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise _invalid_response("is not shaped like a verify answer") from None
        if not verify_evidence:
            return result
        verified = self._verified_evidence({**body, "verified": body["results"]}, ask, "verified")
        self.verify_receipt(result.audit, request_id=result.request_id)
        return replace(result, evidence_claims=verified)

    def request_consent(
        self,
        subject_id: str,
        purpose: str,
        purpose_text: str,
        *,
        retention_days: int,
        service_item: str | None = None,
        attributes: Sequence[str] | None = None,
        optional: Sequence[str] = (),
        mode: str = "one_time",
        valid_days: int = 30,
        max_uses: int | None = None,
        answer_within_days: int = 7,
        officer: str | None = None,
    ) -> dict[str, Any]:
        """Ask the citizen for consent (docs/consent.md): the pending request with its preview
        and the ``approval_url`` to hand the citizen."""
        ask = _ask(subject_id, purpose, service_item, officer, None)
        if attributes is not None:
            ask["attributes"] = list(attributes)
        ask.update(
            purpose_text=purpose_text,
            optional=list(optional),
            mode=mode,
            valid_days=valid_days,
            retention_days=retention_days,
            answer_within_days=answer_within_days,
        )
        if max_uses is not None:
            ask["max_uses"] = max_uses
        return self._call("/consent-requests", ask)

    def consent_request(self, request_id: str) -> dict[str, Any]:
        """A consent request this system made: its ``status`` and, once approved,
        ``consent_id`` (to name in :meth:`query`)."""
        return self._call(f"/consent-requests/{request_id}", None)

    def verify_receipt(
        self, receipt: AuditReceipt | Mapping[str, Any], *, request_id: str | None = None
    ) -> AuditReceipt:
        """The receipt, once checks a–d of the module docstring pass: its entry is in a tree
        the hub signed. ``receipt`` is an answer's ``audit`` (or a refusal's
        ``body["audit"]``); the first check that fails raises :class:`EvidenceError`."""
        if not isinstance(receipt, AuditReceipt):
            try:
                receipt = _receipt(receipt)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise EvidenceError("the audit receipt is malformed", request_id) from None
        leaf, proof = _receipt_hashes(receipt, request_id)
        key = self._checkpoint_key(receipt.checkpoint, request_id)
        origin, size, root = _opened_checkpoint(receipt.checkpoint, key, request_id)
        if origin != key.name:
            raise EvidenceError("the audit checkpoint is for another log", request_id)
        if size != receipt.tree_size:
            raise EvidenceError("the audit checkpoint is not of the receipt's size", request_id)
        if not _included(leaf, receipt.index, size, proof, root, key.node_hash):
            reason = "the audit receipt's inclusion proof does not lead to the checkpoint's root"
            raise EvidenceError(reason, request_id)
        return receipt

    def verify_witnessed(
        self,
        receipt: AuditReceipt | Mapping[str, Any],
        policy: str,
        *,
        request_id: str | None = None,
    ) -> WitnessedReceipt:
        """The receipt, once a checkpoint that meets *policy* covers it.

        *policy* is your own copy of a witness policy (c2sp.org/tlog-policy text, from the
        audit bureau, say — not the hub's). After checks a–d: the hub's newest witnessed
        checkpoint (``GET /audit/checkpoint?witnessed=true``) must be signed by a log of the
        policy (the hub's key, when the policy names none) and cosigned by a quorum of its
        witnesses (``cosignature/v1``, Ed25519, ML-DSA-44, or SM2 as docs/gm.md defines it);
        its tree must hold the receipt's (the same root at the same size, or an RFC 9162
        consistency proof from the receipt's size, ``GET /audit/proof/consistency``). Any of
        these failing raises :class:`EvidenceError` in plain words; a receipt newer than the
        newest witnessed checkpoint is not an error of the hub, only early: ask again after the
        hub's next checkpoint interval."""
        receipt = self.verify_receipt(receipt, request_id=request_id)
        try:
            rules = _Policy.parse(policy)
        except ValueError as exc:
            raise EvidenceError(f"your witness policy: {exc}", request_id) from None
        key = self._checkpoint_key(receipt.checkpoint, request_id)
        _, size, root = _opened_checkpoint(receipt.checkpoint, key, request_id)
        response = self._send("GET", "/audit/checkpoint", params={"witnessed": "true"})
        if response.status_code == 404:
            raise EvidenceError("no checkpoint of the hub meets a witness policy yet", request_id)
        if response.status_code != 200:
            raise _invalid_response("the witnessed checkpoint", request_id)
        note = response.text
        logs = rules.logs or [key]
        opened = None
        for log in logs:
            try:
                opened = _opened_checkpoint(note, log, request_id)
                break
            except EvidenceError:
                continue
        if opened is None or opened[0] != key.name:
            raise EvidenceError("no log of your witness policy signed the hub's checkpoint")
        _, witnessed, witnessed_root = opened
        cosigned = rules.cosigned(note)
        if not rules.met(cosigned):
            who = ", ".join(sorted(cosigned)) or "no witness"
            raise EvidenceError(
                f"the hub's witnessed checkpoint does not meet your witness policy: it needs "
                f"{rules.describe()}; cosigned by {who}",
                request_id,
            )
        if witnessed < size:
            raise EvidenceError(
                f"the receipt's checkpoint (tree size {size}) is newer than the newest witnessed "
                f"one ({witnessed}); ask again after the hub's next checkpoint",
                request_id,
            )
        if witnessed > size:
            proof = self._send(
                "GET", "/audit/proof/consistency", params={"from": size, "to": witnessed}
            )
            hashes = _proof_hashes(proof)
            consistent = hashes is not None and _consistent(
                size, witnessed, hashes, root, witnessed_root, key.node_hash
            )
            if not consistent:
                raise EvidenceError(
                    "the witnessed checkpoint does not extend the receipt's: the log was "
                    "rewritten after the receipt was given",
                    request_id,
                )
        elif witnessed_root != root:
            raise EvidenceError(
                "the witnessed checkpoint has another root at the receipt's size", request_id
            )
        return WitnessedReceipt(receipt, witnessed, tuple(sorted(cosigned)), note)

    # -- HTTP ------------------------------------------------------------------------------

    def _call(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """POST ``body`` (GET when None) with the access token; on ``invalid_token``, a new
        token, once."""
        method = "GET" if body is None else "POST"
        token = self._access_token()
        response = self._send(method, path, json=body, headers=_bearer(token))
        if response.status_code == 401 and _problem(response).get("code") == "invalid_token":
            self._forget(token)
            response = self._send(method, path, json=body, headers=_bearer(self._access_token()))
        return _answer(response)

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        try:
            return self._http.request(method, url, timeout=self._timeout, **options)
        except httpx.TimeoutException as exc:
            reason = f"no answer from {url} within {self._timeout:g} s ({type(exc).__name__})"
            raise TongbanClientError(None, "timeout", reason) from exc
        except httpx.HTTPError as exc:
            reason = f"could not reach the hub at {url} ({type(exc).__name__}: {exc})"
            raise TongbanClientError(None, "network_error", reason) from exc

    # -- access tokens ---------------------------------------------------------------------

    def _access_token(self) -> str:
        """The cached access token, or a new one when it is (nearly) expired."""
        with self._token_lock:
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            asked_at = self._clock()
            token, expires_in = self._request_token()
            self._token = token
            self._refresh_at = asked_at + expires_in - min(REFRESH_MARGIN, expires_in / 2)
            return token

    def _forget(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:
                self._token = None

    def _request_token(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self._client_assertion(),
        }
        body = _answer(self._send("POST", self.token_endpoint, data=form))
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise _invalid_response("from the token endpoint has no access_token")
        if str(body.get("token_type", "")).lower() != "bearer":
            raise _invalid_response("from the token endpoint is not a Bearer token")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            raise _invalid_response("from the token endpoint has no numeric expires_in")
        return token, max(float(expires_in), 0.0)

    def _client_assertion(self) -> str:
        """A client assertion (RFC 7523) for the token endpoint, valid for 60 seconds."""
        now = int(time.time())
        claims = {
            "iss": self.system_id,
            "sub": self.system_id,
            "aud": self.token_endpoint,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": secrets.token_urlsafe(24),
        }
        headers = {"kid": self._kid} if self._kid else None
        if isinstance(self._signing_key, _Sm2Signer):  # PyJWT has no SM2
            return self._signing_key.compact_jws(claims, headers or {})
        return jwt.encode(claims, self._signing_key, algorithm=self._alg, headers=headers)

    # -- evidence --------------------------------------------------------------------------

    def _verified_evidence(
        self, body: Mapping[str, Any], ask: Mapping[str, Any], signed: str
    ) -> dict[str, Any]:
        """The evidence's claims, after the checks in the module docstring."""
        request_id = str(body.get("request_id"))
        token = body.get("evidence")
        if not isinstance(token, str) or not token:
            raise EvidenceError("the answer carries no evidence", request_id)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise EvidenceError("the evidence is not a compact JWS", request_id) from None
        if str(header.get("typ", "")).lower() != EVIDENCE_TYP:
            raise EvidenceError(f"the evidence's typ is not {EVIDENCE_TYP}", request_id)
        key, alg = self._hub_key(header.get("kid"), request_id)
        if header.get("alg") != alg:
            raise EvidenceError("the evidence's alg is not its key's algorithm", request_id)
        claims = _decoded(token, key, alg, self.system_id, self.issuer, request_id)
        expected = {
            "jti": request_id,
            "audit": body.get("audit"),
            signed: body.get(signed),
            "purpose": ask["purpose"],
        }
        for name, value in expected.items():
            if claims.get(name) != value:
                raise EvidenceError(f"the evidence's {name} does not match the answer", request_id)
        subject = claims.get("subject")
        asked = ask["subject"]["id"].upper()
        if (
            not isinstance(subject, dict)
            or subject.get("id_type") != ID_TYPE
            or str(subject.get("id", "")).upper() != asked
        ):
            raise EvidenceError("the evidence is about another subject", request_id)
        return claims

    def _hub_key(self, kid: object, request_id: str) -> tuple[_VerifyingKey, str]:
        """The hub's public key named ``kid`` and its algorithm; the JWKS is fetched on first
        use and again, once, when ``kid`` is not in the cached copy."""
        if not isinstance(kid, str) or not kid:
            raise EvidenceError("the evidence names no kid", request_id)
        with self._jwks_lock:
            if kid not in self._jwks:
                self._jwks = self._fetch_jwks()
            found = self._jwks.get(kid)
        if found is None:
            raise EvidenceError("the evidence's kid is not in the hub's JWKS", request_id)
        return found

    def _checkpoint_key(self, note: str, request_id: str | None) -> _NoteKey:
        """The hub's checkpoint key: pinned, or fetched on first use and again, once, when
        *note* has no signature line of the cached key (the hub's origin changed)."""
        with self._note_key_lock:
            if self._note_key is None or (
                not self._note_key_pinned and not _signatures(note, self._note_key)
            ):
                self._note_key = self._fetch_checkpoint_key()
            return self._note_key

    def _fetch_checkpoint_key(self) -> _NoteKey:
        response = self._send("GET", CHECKPOINT_KEY_PATH)
        if response.status_code != 200:
            _answer(response)  # raises the hub's problem
        try:
            return _note_key(response.text)
        except ValueError:
            raise _invalid_response("from the checkpoint key endpoint is not a vkey") from None

    def _fetch_jwks(self) -> dict[str, tuple[_VerifyingKey, str]]:
        document = _answer(self._send("GET", "/.well-known/jwks.json"))
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise _invalid_response("from the JWKS endpoint has no keys")
        usable: dict[str, tuple[_VerifyingKey, str]] = {}
        for jwk in keys:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue
            if jwk.get("use", "sig") != "sig" or "d" in jwk:
                continue
            alg = _key_algorithm(jwk)
            if alg is None or jwk.get("alg", alg) != alg:
                continue
            try:
                usable[jwk["kid"]] = (_verifying_key(jwk, alg), alg)
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
        return usable


# -- helpers -------------------------------------------------------------------------------


def _signing_key(private_jwk: Mapping[str, Any]) -> tuple[str, Any, str | None]:
    """The algorithm (from the key type), the key, and the kid of a system's private JWK."""
    alg = _key_algorithm(private_jwk)
    if alg is None:
        raise ValueError(
            "the JWK must be an Ed25519 (OKP) or P-256 (EC) key, or an SM2 (EC) key (gm hubs)"
        )
    if private_jwk.get("alg", alg) != alg:
        raise ValueError(f"the JWK's alg does not fit its key type; expected {alg}")
    if "d" not in private_jwk:
        raise ValueError("the JWK has no private part (d); the client signs with it")
    kid = private_jwk.get("kid")
    try:
        key = _sm2_signer(private_jwk) if alg == _SM2SM3 else jwt.PyJWK(dict(private_jwk), alg)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise ValueError("the JWK is not a valid key") from None
    return alg, key, kid if isinstance(kid, str) else None


def _sm2_signer(private_jwk: Mapping[str, Any]) -> _Sm2Signer:
    """The signer of an SM2 private JWK (a ``gm`` hub takes SM2SM3 assertions only)."""
    try:
        public = _Sm2PublicKey.of_point(
            b"\x04"
            + _b64url_coordinate(private_jwk.get("x"))
            + _b64url_coordinate(private_jwk.get("y"))
        )
        return _Sm2Signer.of(_b64url(str(private_jwk["d"])), public)
    except (InvalidSignature, ValueError):
        raise ValueError("the SM2 JWK is not a valid key pair") from None


def _key_algorithm(jwk: Mapping[str, Any]) -> str | None:
    """EdDSA for an Ed25519 key, ES256 for a P-256 key, SM2SM3 for an SM2 key, None for any
    other."""
    return _ALGORITHMS.get((str(jwk.get("kty")), str(jwk.get("crv"))))


def _verifying_key(jwk: Mapping[str, Any], alg: str) -> _VerifyingKey:
    """The key to verify the hub's *alg* signatures with: PyJWT's, or an SM2 point."""
    if alg == _SM2SM3:
        x, y = _b64url_coordinate(jwk.get("x")), _b64url_coordinate(jwk.get("y"))
        return _Sm2PublicKey.of_point(b"\x04" + x + y)
    return jwt.PyJWK(dict(jwk), algorithm=alg)


def _b64url_coordinate(text: object) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise ValueError("a coordinate is unpadded base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) != 32 or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
        raise ValueError("a coordinate is 32 bytes of base64url")
    return raw


def _decoded(
    token: str, key: _VerifyingKey, alg: str, audience: str, issuer: str, request_id: str
) -> dict[str, Any]:
    options: dict[str, Any] = {"require": ["iss", "aud", "iat", "jti"]}
    verifying: Any = key
    if isinstance(key, _Sm2PublicKey):
        # PyJWT has no SM2: the signature is checked here, PyJWT checks every claim
        signing_input, _, signature = token.rpartition(".")
        try:
            key.verify(_b64url(signature), signing_input.encode("ascii"))
        except (InvalidSignature, ValueError, UnicodeEncodeError):
            raise EvidenceError("the evidence's signature does not verify", request_id) from None
        verifying = None
        checks = ("exp", "iat", "nbf", "aud", "iss")
        options = {"verify_signature": False, **{f"verify_{c}": True for c in checks}, **options}
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            verifying,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY,
            options=options,  # type: ignore[arg-type]
        )
    except jwt.InvalidSignatureError:
        raise EvidenceError("the evidence's signature does not verify", request_id) from None
    except jwt.InvalidAudienceError:
        raise EvidenceError("the evidence is addressed to another system", request_id) from None
    except jwt.InvalidIssuerError:
        raise EvidenceError("the evidence was not issued by this hub", request_id) from None
    except jwt.PyJWTError as exc:
        reason = f"the evidence is not valid ({type(exc).__name__})"
        raise EvidenceError(reason, request_id) from None
    return claims


def _ask(
    subject_id: str,
    purpose: str,
    service_item: str | None,
    officer: str | None,
    consent_id: str | None,
) -> dict[str, Any]:
    ask: dict[str, Any] = {"subject": {"id_type": ID_TYPE, "id": subject_id}, "purpose": purpose}
    for name, value in (
        ("service_item", service_item),
        ("officer", officer),
        ("consent_id", consent_id),
    ):
        if value is not None:
            ask[name] = value
    return ask


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _problem(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or an empty one when it is not JSON."""
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _answer(response: httpx.Response) -> dict[str, Any]:
    """A 200 (or 201) answer's JSON object; anything else raises :class:`TongbanClientError`."""
    document = _problem(response)
    if response.status_code in (200, 201):
        if not document:
            raise _invalid_response("is not a JSON object")
        return document
    code = document.get("code")
    detail = document.get("detail")
    rid = document.get("request_id") or response.headers.get("x-request-id")
    if not isinstance(code, str) or not isinstance(detail, str):
        code, detail = "http_error", f"the hub answered HTTP {response.status_code}"
    request_id = rid if isinstance(rid, str) else None
    raise TongbanClientError(response.status_code, code, detail, request_id, document)


def _request_id(body: Mapping[str, Any]) -> str:
    request_id = body["request_id"]
    if not isinstance(request_id, str):
        raise TypeError("request_id")
    return request_id


def _evidence(body: Mapping[str, Any]) -> str | None:
    evidence = body.get("evidence")
    if evidence is not None and not isinstance(evidence, str):
        raise TypeError("evidence")
    return evidence


def _strings(mapping: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in mapping.items()}


def _attribute(released: Mapping[str, Any]) -> Attribute:
    source = released["source"]
    return Attribute(
        value=released["value"],
        release=str(released["release"]),
        source=Source(
            department=str(source["department"]),
            resource=str(source["resource"]),
            version=int(source["version"]),
            as_of=None if source.get("as_of") is None else str(source["as_of"]),
            hub=None if source.get("hub") is None else str(source["hub"]),
        ),
    )


def _receipt(audit: Mapping[str, Any]) -> AuditReceipt:
    """An answer's ``audit``; a member a hub that signs no receipt leaves out is empty (and
    fails :meth:`TongbanClient.verify_receipt`)."""
    proof = audit.get("inclusion_proof", [])
    if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
        raise TypeError("inclusion_proof")
    return AuditReceipt(
        index=_count(audit["index"]),
        leaf_hash=str(audit["leaf_hash"]),
        tree_size=_count(audit.get("tree_size", 0)),
        checkpoint=str(audit.get("checkpoint", "")),
        inclusion_proof=tuple(proof),
    )


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError("a count")
    return value


# -- audit receipts: the signed note and the inclusion proof ---------------------------------


@dataclass(frozen=True)
class _NoteKey:
    """A signed-note verifier key (c2sp.org/signed-note): its name, 4-byte id, and an Ed25519
    or SM2 key; an SM2 log's tree is SM3 (:meth:`node_hash`)."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey | _Sm2PublicKey

    def node_hash(self, left: bytes, right: bytes) -> bytes:
        """RFC 9162's node hash of this log's tree: SHA-256, or SM3 for an SM2 log."""
        if isinstance(self.public_key, _Sm2PublicKey):
            return _sm3(b"\x01" + left + right)
        return _node_hash(left, right)


def _note_key(vkey: str) -> _NoteKey:
    """The key of a C2SP vkey ``<name>+<hex key id>+<base64(type ‖ public key)>`` (Ed25519 or
    SM2), once its key id is the one its name and key give. ValueError if it is not one."""
    parts = vkey.strip().split("+", 2)  # the base64 key may hold "+" too
    if len(parts) != 3 or not parts[0] or any(c.isspace() for c in parts[0]):
        raise ValueError("a vkey is <name>+<key id>+<key>")
    name, id_hex, encoded = parts
    key = _b64decode(encoded)
    public: Ed25519PublicKey | _Sm2PublicKey
    if key is not None and len(key) == 33 and key[:1] == _ED25519:
        public = Ed25519PublicKey.from_public_bytes(key[1:])
    elif key is not None and len(key) == len(_SM2_NOTE) + 65 and key.startswith(_SM2_NOTE):
        public = _Sm2PublicKey.of_point(key[len(_SM2_NOTE) :])
    else:
        raise ValueError("the vkey is not an Ed25519 or SM2 key")
    key_id = hashlib.sha256(name.encode("utf-8") + b"\n" + key).digest()[:4]
    if len(id_hex) != 8 or id_hex.lower() != key_id.hex():
        raise ValueError("the vkey's key id does not match its key")
    return _NoteKey(name, key_id, public)


def _receipt_hashes(receipt: AuditReceipt, request_id: str | None) -> tuple[bytes, list[bytes]]:
    """Check a: the leaf hash and the proof's hashes, decoded."""
    if not receipt.checkpoint:
        raise EvidenceError("the audit receipt carries no signed checkpoint", request_id)
    if receipt.tree_size <= receipt.index:
        raise EvidenceError("the audit receipt's tree does not hold its entry", request_id)
    hashes = [_b64decode(h) for h in (receipt.leaf_hash, *receipt.inclusion_proof)]
    if len(hashes) > _MAX_PROOF + 1 or any(h is None or len(h) != 32 for h in hashes):
        raise EvidenceError("the audit receipt's hashes are malformed", request_id)
    leaf, *proof = (h for h in hashes if h is not None)
    return leaf, proof


def _split_note(note: str) -> tuple[str, list[str]] | None:
    """signed-note: the text (up to the last blank line) and the signature lines."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        return None
    return note[: split + 1], note[split + 2 : -1].split("\n")


def _signatures(note: str, key: _NoteKey) -> list[bytes]:
    """The signatures on *note* by *key* (its name and key id); other lines are ignored, as
    the signed-note spec says (a witness's cosignature, say)."""
    split = _split_note(note)
    found: list[bytes] = []
    for line in [] if split is None else split[1]:
        if not line.startswith(_SIGNATURE_PREFIX):
            continue
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        blob = _b64decode(encoded)
        if name == key.name and blob is not None and blob[:4] == key.key_id:
            found.append(blob[4:])
    return found


def _opened_checkpoint(note: str, key: _NoteKey, request_id: str | None) -> tuple[str, int, bytes]:
    """Check b, then the checkpoint's origin, size and root hash."""
    split = _split_note(note)
    signatures = _signatures(note, key)
    if split is None or not signatures:
        raise EvidenceError("the audit checkpoint is not signed by the hub's key", request_id)
    text = split[0]
    for signature in signatures:
        try:
            key.public_key.verify(signature, text.encode("utf-8"))
        except InvalidSignature:
            raise EvidenceError(
                "the audit checkpoint's signature does not verify", request_id
            ) from None
    lines = text[:-1].split("\n")
    size = lines[1] if len(lines) >= 3 else ""
    root = _b64decode(lines[2]) if len(lines) >= 3 else None
    if not (0 < len(size) <= 20 and size.isascii() and size.isdigit() and size == str(int(size))):
        raise EvidenceError("the audit checkpoint's tree size is not a number", request_id)
    if root is None or len(root) != 32:
        raise EvidenceError("the audit checkpoint's root hash is malformed", request_id)
    return lines[0], int(size), root


def _included(
    leaf: bytes,
    index: int,
    size: int,
    proof: Sequence[bytes],
    root: bytes,
    node_hash: Callable[[bytes, bytes], bytes] | None = None,
) -> bool:
    """RFC 9162 §2.1.3.2: whether *proof* leads from *leaf* at *index* to *root* in the tree of
    *size* leaves (nodes hashed with *node_hash*, SHA-256 by default)."""
    _node_hash = node_hash or _sha256_node_hash
    if not 0 <= index < size or not _are_hashes(leaf, *proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def _are_hashes(*values: bytes) -> bool:
    return all(isinstance(v, bytes) and len(v) == 32 for v in values)


def _sha256_node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


_node_hash = _sha256_node_hash


def _b64decode(text: str) -> bytes | None:
    """Standard base64 with padding in its one canonical spelling, else None."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if base64.b64encode(data).decode("ascii") == text else None


def _proof_hashes(response: httpx.Response) -> list[bytes] | None:
    """The hashes of a ``GET /audit/proof/consistency`` answer, or None if malformed."""
    try:
        listed = response.json()["proof"] if response.status_code == 200 else None
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(listed, list) or len(listed) > 2 * _MAX_PROOF:
        return None
    hashes = [_b64decode(h) if isinstance(h, str) else None for h in listed]
    if any(h is None or len(h) != 32 for h in hashes):
        return None
    return [h for h in hashes if h is not None]


def _consistent(
    old: int,
    new: int,
    proof: Sequence[bytes],
    old_root: bytes,
    new_root: bytes,
    node_hash: Callable[[bytes, bytes], bytes] | None = None,
) -> bool:
    """RFC 9162 §2.1.4.2: whether *proof* shows the tree of *new* leaves extends that of *old*
    (nodes hashed with *node_hash*, SHA-256 by default)."""
    _node_hash = node_hash or _sha256_node_hash
    if not 0 < old <= new or not _are_hashes(*proof):
        return False
    if old == new:
        return not proof and old_root == new_root
    path = [old_root, *proof] if old & (old - 1) == 0 else list(proof)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node_hash(c, fr), _node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


_SM2_COSIGNATURE: Final = b"\xfftongban/cosignature-sm2-sm3"
"""The SM2 cosignature type (docs/gm.md, "Witness cosignatures with SM2"): C2SP's reserved
0xff and an identifier, distinct from the log's own SM2 note type."""
_COSIGNATURE_KEYS: Final = {
    b"\x04": ("ed25519", 32, 64),
    b"\x06": ("ml-dsa-44", 1312, 2420),
    _SM2_COSIGNATURE: ("sm2", 65, 64),
}
_SIGNATURE_SIZES: Final = {algorithm: size for algorithm, _, size in _COSIGNATURE_KEYS.values()}


@dataclass(frozen=True)
class _Cosigner:
    """A witness of a policy: its cosignature key (c2sp.org/tlog-cosignature)."""

    name: str
    key_id: bytes
    algorithm: str
    public_key: bytes

    def timestamp(self, text: str, blob: bytes) -> int | None:
        """The time of a valid cosignature *blob* (timestamp ‖ signature) on the checkpoint
        *text*, else None."""
        if len(blob) != 8 + _SIGNATURE_SIZES[self.algorithm]:
            return None
        when = int.from_bytes(blob[:8], "big")
        if not 0 < when < 2**63:
            return None
        try:
            if self.algorithm == "ed25519":
                message = f"cosignature/v1\ntime {when}\n{text}".encode()
                Ed25519PublicKey.from_public_bytes(self.public_key).verify(blob[8:], message)
            elif self.algorithm == "sm2":  # Ed25519's message, SM2 with SM3 and the default ID
                message = f"cosignature/v1\ntime {when}\n{text}".encode()
                _Sm2PublicKey.of_point(self.public_key).verify(blob[8:], message)
            else:
                from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PublicKey

                lines = text.split("\n")
                origin, name = lines[0].encode(), self.name.encode()
                message = (
                    b"subtree/v1\n\x00" + bytes([len(name)]) + name + when.to_bytes(8, "big")
                    + bytes([len(origin)]) + origin + (0).to_bytes(8, "big")
                    + int(lines[1]).to_bytes(8, "big") + base64.b64decode(lines[2])
                )  # fmt: skip
                MLDSA44PublicKey.from_public_bytes(self.public_key).verify(blob[8:], message)
        except (InvalidSignature, ValueError, ImportError, IndexError):
            return None
        return when


@dataclass
class _Policy:
    """A witness policy (c2sp.org/tlog-policy): logs, witnesses, groups, one quorum."""

    logs: list[_NoteKey]
    witnesses: dict[str, _Cosigner]
    groups: dict[str, tuple[int, tuple[str, ...]]]
    quorum: str

    @classmethod
    def parse(cls, text: str) -> _Policy:
        """The policy in *text*; ValueError naming the line of the first problem."""
        policy = cls([], {}, {}, "")
        for number, raw in enumerate(text.split("\n"), start=1):
            words = raw.replace("\t", " ").split()
            if not words or words[0].startswith("#"):
                continue
            try:
                policy._line(words)
            except (ValueError, KeyError) as exc:
                raise ValueError(f"line {number}: {exc}") from None
        if not policy.quorum:
            raise ValueError("it has no quorum line")
        return policy

    def _line(self, words: list[str]) -> None:
        kind, args = words[0], words[1:]
        defined = set(self.witnesses) | set(self.groups)
        if kind == "log" and len(args) in (1, 2):
            self.logs.append(_note_key(args[0]))
        elif kind == "witness" and len(args) in (2, 3) and args[0] not in defined | {"none"}:
            self.witnesses[args[0]] = _cosigner(args[1])
        elif kind == "group" and len(args) >= 3 and args[0] not in defined | {"none"}:
            members = tuple(args[2:])
            if not set(members) <= defined or len(set(members)) != len(members):
                raise ValueError("a group names a member not defined above it, or twice")
            spec = args[1]
            k = {"all": len(members), "any": 1}.get(spec) or (
                int(spec) if spec.isascii() and spec.isdigit() and spec[0] != "0" else 0
            )
            if not 1 <= k <= len(members):
                raise ValueError("a group's threshold is all, any or 1 to its member count")
            self.groups[args[0]] = (k, members)
        elif kind == "quorum" and len(args) == 1 and not self.quorum:
            if args[0] != "none" and args[0] not in defined:
                raise ValueError("the quorum is not defined above it")
            self.quorum = args[0]
        else:
            raise ValueError(f"a {kind[:20]!r} line that is not valid here")

    def cosigned(self, note: str) -> set[str]:
        """The policy's witnesses with a valid cosignature on *note*."""
        split = _split_note(note)
        if split is None:
            return set()
        text, lines = split
        found = set()
        for line in lines:
            name, _, encoded = line.removeprefix(_SIGNATURE_PREFIX).partition(" ")
            blob = _b64decode(encoded)
            for witness_name, witness in self.witnesses.items():
                if blob is None or (name, blob[:4]) != (witness.name, witness.key_id):
                    continue
                if witness.timestamp(text, blob[4:]) is not None:
                    found.add(witness_name)
        return found

    def met(self, cosigned: set[str], name: str | None = None) -> bool:
        name = name or self.quorum
        if name == "none":
            return True
        if name in self.witnesses:
            return name in cosigned
        k, members = self.groups[name]
        return sum(self.met(cosigned, member) for member in members) >= k

    def describe(self, name: str | None = None) -> str:
        name = name or self.quorum
        if name == "none" or name in self.witnesses:
            return "no witness" if name == "none" else name
        k, members = self.groups[name]
        return f"{'all' if k == len(members) else k} of {', '.join(members)}"


def _cosigner(vkey: str) -> _Cosigner:
    """A witness's cosignature key from its vkey (type 0x04, 0x06 or the SM2 type
    ``0xff ‖ "tongban/cosignature-sm2-sm3"`` with a point of the curve), its key id checked."""
    parts = vkey.strip().split("+", 2)
    key = _b64decode(parts[2]) if len(parts) == 3 else None
    kind_type = None if key is None else _cosignature_type(key)
    kind = None if kind_type is None else _COSIGNATURE_KEYS[kind_type]
    if key is None or kind_type is None or kind is None or len(key) != len(kind_type) + kind[1]:
        raise ValueError("a witness key is not a cosignature key (type 0x04, 0x06 or SM2's)")
    public = key[len(kind_type) :]
    if kind[0] == "sm2":
        _Sm2PublicKey.of_point(public)  # ValueError off the curve
    name = parts[0]
    key_id = hashlib.sha256(name.encode("utf-8") + b"\n" + key).digest()[:4]
    if parts[1].lower() != key_id.hex():
        raise ValueError("a witness key's id does not match its key")
    return _Cosigner(name, key_id, kind[0], public)


def _cosignature_type(key: bytes) -> bytes | None:
    """The cosignature type *key* starts with: one byte, or 0xff and SM2's identifier."""
    if key.startswith(_SM2_COSIGNATURE):
        return _SM2_COSIGNATURE
    return key[:1] if key[:1] in _COSIGNATURE_KEYS else None


# -- SM2 verification (the gm profile, docs/gm.md): public values only -------------------------

_SM2_ID: Final = b"1234567812345678"
_SM2_P: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_SM2_A: Final = _SM2_P - 3
_SM2_B: Final = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_SM2_N: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_SM2_G: Final = (
    0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)
_Point = tuple[int, int] | None


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def _b64url(text: str) -> bytes:
    if "=" in text:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _add(p1: _Point, p2: _Point) -> _Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % _SM2_P == 0:
        return None
    if p1 == p2:
        slope = (3 * x1 * x1 + _SM2_A) * pow(2 * y1, -1, _SM2_P) % _SM2_P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, _SM2_P) % _SM2_P
    x3 = (slope * slope - x1 - x2) % _SM2_P
    return x3, (slope * (x1 - x3) - y1) % _SM2_P


def _multiply(k: int, point: _Point) -> _Point:
    result: _Point = None
    while k:
        if k & 1:
            result = _add(result, point)
        point, k = _add(point, point), k >> 1
    return result


@dataclass(frozen=True)
class _Sm2PublicKey:
    """A point of sm2p256v1 that SM2 signatures (with SM3 and the ID 1234567812345678) are
    verified under, as GB/T 32918.2-2016 §7 says."""

    x: int
    y: int

    @classmethod
    def of_point(cls, point: bytes) -> _Sm2PublicKey:
        """From ``0x04 ‖ x ‖ y``; ValueError unless it is a point of the curve."""
        if len(point) != 65 or point[0] != 0x04:
            raise ValueError("an SM2 key is the uncompressed point 0x04 ‖ x ‖ y")
        x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
        if x >= _SM2_P or y >= _SM2_P or (y * y - (x**3 + _SM2_A * x + _SM2_B)) % _SM2_P:
            raise ValueError("the point is not on the SM2 curve")
        return cls(x, y)

    def verify(self, signature: bytes, message: bytes) -> None:
        """InvalidSignature unless *signature* (raw ``r ‖ s``) is this key's SM2 signature of
        *message*."""
        if len(signature) != 64:
            raise InvalidSignature
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        t = (r + s) % _SM2_N
        if not (0 < r < _SM2_N and 0 < s < _SM2_N) or t == 0:
            raise InvalidSignature
        e = int.from_bytes(_sm3(self.z + message), "big")
        total = _add(_multiply(s, _SM2_G), _multiply(t, (self.x, self.y)))
        if total is None or (e + total[0]) % _SM2_N != r:
            raise InvalidSignature

    @property
    def z(self) -> bytes:
        """Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA), GB/T 32918.2-2016 §5.5."""
        fields = (_SM2_A, _SM2_B, *_SM2_G, self.x, self.y)
        return _sm3(
            (len(_SM2_ID) * 8).to_bytes(2, "big")
            + _SM2_ID
            + b"".join(v.to_bytes(32, "big") for v in fields)
        )


_PAIRWISE_CHECK: Final = b"tongban sdk: does this SM2 private key belong to its public key?"


class _Sm2Signer:
    """An SM2 private key a case system signs its client assertions with: GmSSL (the
    ``gmssl-pyx`` binding, the library of the hub's ADR 0008, with the kernel's random source)
    signs ``e = SM3(Z ‖ message)``. Imported only for an SM2 key, so a client of an ``intl``
    hub needs none of it; the arithmetic here touches public values only."""

    __slots__ = ("_private", "_public", "_z")

    def __init__(self, private: bytes, public: _Sm2PublicKey) -> None:
        self._private, self._public, self._z = private, public, public.z

    @classmethod
    def of(cls, private: bytes, public: _Sm2PublicKey) -> _Sm2Signer:
        """The pair, checked: a 32-byte scalar in [1, n − 2] whose signature verifies under
        *public*; ValueError otherwise."""
        if len(private) != 32 or not 0 < int.from_bytes(private, "big") < _SM2_N - 1:
            raise ValueError("an SM2 private key is a 32-byte scalar in [1, n - 2]")
        signer = cls(private, public)
        public.verify(signer.sign(_PAIRWISE_CHECK), _PAIRWISE_CHECK)  # InvalidSignature
        return signer

    def sign(self, message: bytes) -> bytes:
        """The raw signature ``r ‖ s`` (32 bytes each) of *message*."""
        from gmssl_pyx import gmsslext

        der = gmsslext.sm2_sign_sm3_digest(self._private, _sm3(self._z + message))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def compact_jws(self, claims: Mapping[str, Any], headers: Mapping[str, Any]) -> str:
        """``header.payload.signature`` with ``alg`` SM2SM3, as docs/gm.md defines it."""
        header = {"alg": _SM2SM3, "typ": "JWT", **headers}
        signing_input = ".".join(
            base64.urlsafe_b64encode(json.dumps(part, separators=(",", ":")).encode())
            .rstrip(b"=")
            .decode()
            for part in (header, claims)
        )
        signature = base64.urlsafe_b64encode(self.sign(signing_input.encode())).rstrip(b"=")
        return f"{signing_input}.{signature.decode()}"


_VerifyingKey = jwt.PyJWK | _Sm2PublicKey
