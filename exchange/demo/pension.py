"""The demo's pension system (人社局养老金发放系统): a case system that must stop paying a pension
when civil affairs (民政局) registers the pensioner's death, so it subscribes to ``death.deceased``
of its pensioners and receives the events on a webhook (docs/subscriptions.md, "The demo story").

It is written as the pension office's own software would be, outside the hub: it signs its
client assertion with its own key, subscribes over the hub's HTTP API, and checks every webhook's
Standard Webhooks signature with the HMAC below (nothing from the hub's signer is imported). Its
key is of the kind the hub takes, read from the hub's metadata (RFC 8414
``token_endpoint_auth_signing_alg_values_supported``, :func:`client_algorithm`): Ed25519
(``EdDSA``) on an ``intl`` hub, SM2 (``SM2SM3``, signed with GmSSL as docs/gm.md defines it) on
a ``gm`` hub, which registers SM2 keys only. What it keeps, under its data directory (mode
0600): its private key, its subscription (id and secret), and ``events.jsonl``, one line per
event it accepted.

The death registration itself (:func:`register_death`) writes a row into the demo's civil-affairs
store as the department's own system would; the hub only sees it in that store's change stream.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import create_engine, text

__all__ = [
    "ATTRIBUTE",
    "PURPOSE",
    "SYSTEM",
    "PensionOffice",
    "Received",
    "Webhooks",
    "caseload",
    "client_algorithm",
    "mask",
    "new_key",
    "register_death",
    "verify",
]

SYSTEM = "hrss-pension"
DEPARTMENT = "HRSS"
NAME = "养老金发放系统 (pension payment case system)"
PURPOSE = "pension-payment"
ATTRIBUTE = "death.deceased"
HOOK_PATH = "/hooks/tongban"
TOLERANCE_S = 300
CHINA = ZoneInfo("Asia/Shanghai")


EDDSA = "EdDSA"
SM2SM3 = "SM2SM3"
SM2_ID = b"1234567812345678"
"""The distinguishing ID of SM2 signatures (GM/T 0009 §10, docs/gm.md)."""
_KEY_KINDS = (EDDSA, SM2SM3)


def client_algorithm(hub: str) -> str:
    """The algorithm of the key this system makes for *hub*: the first of EdDSA and SM2SM3
    that the hub's metadata says its token endpoint takes. RuntimeError if neither."""
    try:
        answer = httpx.get(f"{hub}/.well-known/oauth-authorization-server", timeout=10)
        taken = answer.json()["token_endpoint_auth_signing_alg_values_supported"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        raise RuntimeError("the hub's metadata does not say which client keys it takes") from None
    for algorithm in _KEY_KINDS:
        if algorithm in taken:
            return algorithm
    raise RuntimeError(f"the hub takes none of the keys this system can make ({', '.join(taken)})")


def new_key(algorithm: str = EDDSA) -> dict[str, str]:
    """A fresh private JWK for the pension system's client assertions: Ed25519 (``EdDSA``) or
    SM2 (``SM2SM3``, ``"kty": "EC", "crv": "SM2"``, for a ``gm`` hub)."""
    kid = f"{SYSTEM}-{uuid.uuid4().hex[:8]}"
    if algorithm == SM2SM3:
        from gmssl_pyx import gmsslext  # only for an SM2 key: an intl hub's office needs none

        point, private = gmsslext.sm2_key_generate()  # x ‖ y, and the scalar, from the kernel
        return {
            "kty": "EC",
            "crv": "SM2",
            "alg": SM2SM3,
            "use": "sig",
            "kid": kid,
            "x": _b64(point[:32]),
            "y": _b64(point[32:]),
            "d": _b64(private),
        }
    if algorithm != EDDSA:
        raise ValueError(f"the pension system makes EdDSA or SM2SM3 keys, not {algorithm}")
    key = Ed25519PrivateKey.generate()
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": EDDSA,
        "use": "sig",
        "kid": kid,
        "x": _b64(key.public_key().public_bytes_raw()),
        "d": _b64(key.private_bytes_raw()),
    }


def public(key: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in key.items() if k != "d"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mask(id_number: str) -> str:
    """An ID number as the pension office's screen shows it: 110105********002X."""
    return id_number[:6] + "*" * 8 + id_number[14:]


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    """The Standard Webhooks check: the timestamp within :data:`TOLERANCE_S` of *now*, and one
    ``v1`` signature equal to base64 HMAC-SHA256(``<id>.<timestamp>.<body>``) under the
    base64-decoded secret after ``whsec_``."""
    try:
        stamp = int(headers["webhook-timestamp"])
        signed = f"{headers['webhook-id']}.{stamp}.".encode() + body
        key = base64.b64decode(secret.removeprefix("whsec_"))
    except (KeyError, ValueError):
        return False
    if abs(now - stamp) > TOLERANCE_S:
        return False
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = headers.get("webhook-signature", "").split()
    return any(
        hmac.compare_digest(expected, s.split(",", 1)[1]) for s in offered if s.startswith("v1,")
    )


def caseload(hrss_url: str, mca_url: str, limit: int = 100_000) -> list[str]:
    """The pension office's pensioners: retired insured people (HRSS ``aac008`` 4) whose death
    is not registered."""
    hrss = create_engine(hrss_url)
    mca = create_engine(mca_url)
    try:
        with hrss.connect() as connection:
            retired = [
                str(r[0])
                for r in connection.execute(
                    text("SELECT aac002 FROM si_person WHERE aac008 = '4' ORDER BY aac002")
                )
            ]
        with mca.connect() as connection:
            dead = {
                str(r[0])
                for r in connection.execute(text("SELECT id_card_no FROM death_registration"))
            }
    finally:
        hrss.dispose()
        mca.dispose()
    return [p for p in retired if p not in dead][:limit]


def register_death(mca_url: str, id_number: str, died: date, now: datetime) -> str:
    """Civil affairs registers *id_number*'s death (died on *died*, registered *now*, China
    time as its system keeps it); the person's name as civil affairs has it."""
    engine = create_engine(mca_url)
    try:
        with engine.begin() as connection:
            name = connection.execute(
                text("SELECT name FROM marriage_registration WHERE id_card_no = :p"),
                {"p": id_number},
            ).scalar()
            if name is None:
                raise LookupError("civil affairs has no record of this person")
            known = connection.execute(
                text("SELECT 1 FROM death_registration WHERE id_card_no = :p"), {"p": id_number}
            ).scalar()
            if known is not None:
                raise ValueError("this death is registered already")
            connection.execute(
                text(
                    "INSERT INTO death_registration (id_card_no, name, death_date, registered_at)"
                    " VALUES (:p, :n, :d, :t)"
                ),
                {
                    "p": id_number,
                    "n": name,
                    "d": died.isoformat(),
                    "t": now.astimezone(CHINA).replace(tzinfo=None),
                },
            )
    finally:
        engine.dispose()
    return str(name)


@dataclass(frozen=True)
class Received:
    seq: int
    event_id: str
    subject: str
    deceased: bool | None
    received_at: str

    def line(self) -> str:
        state = {True: "已登记死亡 → 停发养老金", False: "未死亡", None: "无结论"}[self.deceased]
        at = datetime.fromisoformat(self.received_at).astimezone(CHINA).strftime("%H:%M:%S")
        return f"[{at}] 第 {self.seq} 号事件  {mask(self.subject)}  {state}  (签名已核验)"


class PensionOffice:
    """The pension system's state in its data directory."""

    def __init__(self, data: Path) -> None:
        self.data = data

    @property
    def key_file(self) -> Path:
        return self.data / "key.jwk"

    @property
    def subscription_file(self) -> Path:
        return self.data / "subscription.json"

    @property
    def events_file(self) -> Path:
        return self.data / "events.jsonl"

    @property
    def ready_file(self) -> Path:
        return self.data / "ready"

    def key(self, algorithm: str | None = None) -> dict[str, str]:
        """The system's private key, made on first use (of *algorithm*, else Ed25519); a kept
        key of another algorithm than *algorithm* is refused (RuntimeError)."""
        if not self.key_file.exists():
            self.data.mkdir(parents=True, exist_ok=True, mode=0o700)
            _write_private(self.key_file, new_key(algorithm or EDDSA))
        key: dict[str, str] = json.loads(self.key_file.read_text("utf-8"))
        if algorithm is not None and key.get("alg") != algorithm:
            raise RuntimeError(
                f"this pension system's key is {key.get('alg')} and the hub takes {algorithm} "
                "keys: use another --data for this hub"
            )
        return key

    def subscription(self) -> dict[str, Any] | None:
        if not self.subscription_file.exists():
            return None
        found: dict[str, Any] = json.loads(self.subscription_file.read_text("utf-8"))
        return found

    def keep_subscription(self, made: Mapping[str, Any]) -> None:
        kept = {"id": made["id"], "secret": made["secret"], "webhook_url": made["webhook_url"]}
        _write_private(self.subscription_file, kept)

    def received(self) -> list[Received]:
        if not self.events_file.exists():
            return []
        lines = self.events_file.read_text("utf-8").splitlines()
        return [Received(**json.loads(line)) for line in lines if line.strip()]


def _write_private(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, ensure_ascii=False, indent=2), "utf-8")
    temporary.chmod(0o600)
    temporary.replace(path)


def access_token(hub: str, key: Mapping[str, str]) -> str:
    """The pension system's hub access token (client credentials, ``private_key_jwt``)."""
    now = int(time.time())
    claims = {
        "iss": SYSTEM,
        "sub": SYSTEM,
        "aud": f"{hub}/oauth/token",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 120,
    }
    if key.get("alg") == SM2SM3:
        assertion = _sm2_jws(claims, key)
    else:
        signing = jwt.PyJWK(dict(key))
        assertion = jwt.encode(claims, signing, algorithm=EDDSA, headers={"kid": key["kid"]})
    answer = httpx.post(
        f"{hub}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=10,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"the hub refused the pension system's token: {_code(answer)}")
    return str(answer.json()["access_token"])


def _sm2_jws(claims: Mapping[str, Any], key: Mapping[str, str]) -> str:
    """A compact JWS ``SM2SM3`` (PyJWT has no SM2): the signature is GmSSL's SM2 with SM3 and
    the ID 1234567812345678 over ``header.payload``, as raw ``r ‖ s`` (docs/gm.md)."""
    from gmssl_pyx import gmsslext

    header = {"alg": SM2SM3, "typ": "JWT", "kid": key["kid"]}
    signing_input = ".".join(
        _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    point = _unb64(key["x"]) + _unb64(key["y"])
    der = gmsslext.sm2_sign(_unb64(key["d"]), point, signing_input.encode(), signer_id=SM2_ID)
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def subscribe(hub: str, token: str, subjects: list[str], url: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{hub}/subscriptions",
        json={
            "purpose": PURPOSE,
            "attributes": [ATTRIBUTE],
            "subjects": subjects,
            "webhook_url": url,
        },
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    )
    if answer.status_code != 201:
        raise RuntimeError(f"the hub refused the subscription: {_code(answer)}")
    made: dict[str, Any] = answer.json()
    return made


def watching(hub: str, token: str, subscription: str, within_s: float) -> bool:
    """Wait until the hub has read the subscribed stream to its end once (from then on a
    change becomes an event)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{hub}/subscriptions/{subscription}",
            headers={"authorization": f"Bearer {token}"},
            timeout=10,
        )
        if answer.status_code == 200 and answer.json().get("watching"):
            return True
        time.sleep(0.5)
    return False


def _code(answer: httpx.Response) -> str:
    try:
        return f"{answer.status_code} {answer.json().get('code')}: {answer.json().get('detail')}"
    except ValueError:
        return str(answer.status_code)


class Webhooks:
    """The pension system's webhook endpoint: ``POST /hooks/tongban`` with a valid signature is
    accepted (204) once per event id and recorded; a bad or stale signature is 401; an event
    seen before (the hub delivers at least once) is 204 again and not recorded twice."""

    def __init__(
        self, office: PensionOffice, secret: str, say: Callable[[str], None] = print
    ) -> None:
        self._office = office
        self._secret = secret
        self._say = say
        self._lock = threading.Lock()
        self._seen = {r.event_id for r in office.received()}

    def accept(self, headers: Mapping[str, str], body: bytes) -> int:
        if not verify(self._secret, headers, body, time.time()):
            self._say("拒收: 签名无效或已过期 (refused: bad or stale signature)")
            return 401
        data = json.loads(body)["data"]
        with self._lock:
            if data["id"] in self._seen:
                return 204
            released = data["attributes"].get(ATTRIBUTE)
            got = Received(
                seq=int(data["seq"]),
                event_id=str(data["id"]),
                subject=str(data["subject"]["id"]),
                deceased=None if released is None else bool(released["value"]),
                received_at=datetime.now(CHINA).isoformat(),
            )
            with self._office.events_file.open("a", encoding="utf-8") as log:
                log.write(json.dumps(got.__dict__, ensure_ascii=False) + "\n")
            self._seen.add(got.event_id)
        self._say(got.line())
        return 204

    @contextmanager
    def serving(self, host: str, port: int) -> Iterator[ThreadingHTTPServer]:
        accept = self.accept

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0") or 0)
                body = self.rfile.read(min(length, 1_000_000))
                status = 404
                if self.path == HOOK_PATH:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    try:
                        status = accept(headers, body)
                    except (ValueError, KeyError, TypeError):
                        status = 400
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return  # the events are printed by accept, nothing else

        server = ThreadingHTTPServer((host, port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            server.server_close()
