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
3. the header ``alg`` is that key's algorithm (EdDSA or ES256, pinned per key), and the
   signature verifies with that one algorithm;
4. ``iss`` is the hub (its base URL, or ``issuer``), ``aud`` is this system, ``iat`` is there;
5. the signed claims equal the answer: ``jti`` = ``request_id``, ``audit``, ``attributes``
   (``verified`` for a verify), and the ``purpose`` and ``subject`` asked about.

Errors: a problem+json answer (RFC 9457) becomes :class:`TongbanClientError` with its
``status``, ``code``, ``detail`` and ``request_id``; a network failure becomes one with
``status`` None and ``code`` ``network_error`` (or ``timeout``).
"""

from __future__ import annotations

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
]

EVIDENCE_TYP: Final = "tongban-evidence+jwt"
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ID_TYPE: Final = "CN-RIC"
ASSERTION_LIFETIME: Final = 60  # seconds; the hub accepts up to 5 minutes
REFRESH_MARGIN: Final = 30.0  # get a new token this many seconds before the old one expires
LEEWAY: Final = 60  # seconds of clock skew allowed on the evidence's iat
_ALGORITHMS: Final = {("OKP", "Ed25519"): "EdDSA", ("EC", "P-256"): "ES256"}


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where a released attribute came from: department, resource and its version, and the
    as-of time of the source record (ISO 8601, or None when the source does not say)."""

    department: str
    resource: str
    version: int
    as_of: str | None


@dataclass(frozen=True)
class Attribute:
    """One released attribute: its value and how it was released (``clear``, ``mask_name``,
    ``hash``, ``derived``, …)."""

    value: Any
    release: str
    source: Source


@dataclass(frozen=True)
class AuditReceipt:
    """The answer's entry in the hub's audit log: its index and base64 leaf hash."""

    index: int
    leaf_hash: str


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
    (the evidence's expected ``iss``) defaults to ``base_url``. ``clock`` is the monotonic
    clock the token cache runs on.
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
        self._jwks: dict[str, tuple[jwt.PyJWK, str]] = {}

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

    def _hub_key(self, kid: object, request_id: str) -> tuple[jwt.PyJWK, str]:
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

    def _fetch_jwks(self) -> dict[str, tuple[jwt.PyJWK, str]]:
        document = _answer(self._send("GET", "/.well-known/jwks.json"))
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise _invalid_response("from the JWKS endpoint has no keys")
        usable: dict[str, tuple[jwt.PyJWK, str]] = {}
        for jwk in keys:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue
            if jwk.get("use", "sig") != "sig" or "d" in jwk:
                continue
            alg = _key_algorithm(jwk)
            if alg is None or jwk.get("alg", alg) != alg:
                continue
            try:
                usable[jwk["kid"]] = (jwt.PyJWK(jwk, algorithm=alg), alg)
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
        return usable


# -- helpers -------------------------------------------------------------------------------


def _signing_key(private_jwk: Mapping[str, Any]) -> tuple[str, jwt.PyJWK, str | None]:
    """The algorithm (from the key type), the key, and the kid of a system's private JWK."""
    alg = _key_algorithm(private_jwk)
    if alg is None:
        raise ValueError("the JWK must be an Ed25519 (OKP) or P-256 (EC) key")
    if private_jwk.get("alg", alg) != alg:
        raise ValueError(f"the JWK's alg does not fit its key type; expected {alg}")
    if "d" not in private_jwk:
        raise ValueError("the JWK has no private part (d); the client signs with it")
    kid = private_jwk.get("kid")
    try:
        key = jwt.PyJWK(dict(private_jwk), algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise ValueError("the JWK is not a valid key") from None
    return alg, key, kid if isinstance(kid, str) else None


def _key_algorithm(jwk: Mapping[str, Any]) -> str | None:
    """EdDSA for an Ed25519 key, ES256 for a P-256 key, None for any other."""
    return _ALGORITHMS.get((str(jwk.get("kty")), str(jwk.get("crv"))))


def _decoded(
    token: str, key: jwt.PyJWK, alg: str, audience: str, issuer: str, request_id: str
) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY,
            options={"require": ["iss", "aud", "iat", "jti"]},
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
        ),
    )


def _receipt(audit: Mapping[str, Any]) -> AuditReceipt:
    return AuditReceipt(index=int(audit["index"]), leaf_hash=str(audit["leaf_hash"]))
