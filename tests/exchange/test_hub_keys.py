"""The hub's signing keys: created once, stored encrypted, rotated with one previous key kept."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from exchange.cli.keys import keys_app
from exchange.db import unit_of_work
from exchange.errors import Unauthenticated
from exchange.security.errors import HubKeyUnavailable
from exchange.security.keys import HubKeys, SigningAlgorithm
from exchange.security.models import HubSigningKey
from exchange.settings import Settings
from tests.profiles import GM, HUB_ALG, only_under

ISSUER = "https://hub.example"
AUDIENCE = "tongban-exchange"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "iat": now}
    claims["exp"] = now + 300
    claims.update(overrides)
    return claims


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def keys(settings: Settings) -> HubKeys:
    return HubKeys(settings)


def _sign(
    sessions: sessionmaker[Session], keys: HubKeys, typ: str = "at+jwt", **claims: Any
) -> str:
    with unit_of_work(sessions, write=True) as session:
        return keys.sign(session, _claims(**claims), typ=typ)


def _verify(sessions: sessionmaker[Session], keys: HubKeys, token: str, **kw: Any) -> Any:
    options = {"typ": "at+jwt", "audience": AUDIENCE, "issuer": ISSUER, **kw}
    with unit_of_work(sessions) as session:
        return keys.verify(session, token, **options)


def _rows(sessions: sessionmaker[Session]) -> list[HubSigningKey]:
    with unit_of_work(sessions) as session:
        return list(session.scalars(select(HubSigningKey).order_by(HubSigningKey.generation)))


@only_under(
    "intl",
    "the intl hub's first key is Ed25519 (gm's SM2 key: tests/security/gm/test_hub_keys_gm.py)",
)
def test_first_use_creates_one_ed25519_key(sessions: sessionmaker[Session], keys: HubKeys) -> None:
    with unit_of_work(sessions, write=True) as session:
        first = keys.current(session)
        again = keys.current(session)
    assert first.kid == again.kid
    assert first.alg == "EdDSA"
    assert first.public_jwk["crv"] == "Ed25519"
    assert [r.kid for r in _rows(sessions)] == [first.kid]


@only_under(
    "intl",
    "an Ed25519 key's PKCS#8 seed under AES-GCM (test_hub_keys_gm.py: SM2 under SM4-GCM)",
)
def test_the_private_key_is_stored_encrypted(
    sessions: sessionmaker[Session], keys: HubKeys
) -> None:
    token = _sign(sessions, keys)
    (row,) = _rows(sessions)
    private = keys._private[row.kid]  # the process cache holds the decrypted key
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    raw_seed = der[-32:]
    assert raw_seed not in row.private_key
    assert der not in row.private_key
    assert _verify(sessions, keys, token)["sub"] == "s"


def test_a_fresh_process_with_the_same_secret_signs_with_the_same_key(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    first = _sign(sessions, HubKeys(settings))
    second_process = HubKeys(settings)
    second = _sign(sessions, second_process)
    assert jwt.get_unverified_header(first)["kid"] == jwt.get_unverified_header(second)["kid"]
    assert _verify(sessions, second_process, first)["iss"] == ISSUER


def test_another_secret_cannot_use_the_stored_key(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _sign(sessions, HubKeys(settings))
    other = settings.model_copy(update={"secret_key": SecretStr("another-secret-" + "x" * 32)})
    with pytest.raises(HubKeyUnavailable, match="does not decrypt"):
        _sign(sessions, HubKeys(other))


def test_a_signed_token_names_its_key_and_type(
    sessions: sessionmaker[Session], keys: HubKeys
) -> None:
    token = _sign(sessions, keys, typ="tongban-evidence+jwt")
    header = jwt.get_unverified_header(token)
    (row,) = _rows(sessions)
    assert header == {"alg": HUB_ALG, "kid": row.kid, "typ": "tongban-evidence+jwt"}
    claims = _verify(sessions, keys, token, typ="tongban-evidence+jwt")
    assert claims["aud"] == AUDIENCE


@pytest.mark.parametrize(
    ("expect", "claims", "options"),
    [
        ("not of the expected type", {}, {"typ": "tongban-evidence+jwt"}),
        ("not valid", {}, {"audience": "tongban-hub"}),
        ("not valid", {}, {"issuer": "https://elsewhere.example"}),
        ("expired", {"exp": int(time.time()) - 3600}, {}),
        ("not valid", {"exp": None}, {}),
    ],
    ids=["wrong-typ", "wrong-audience", "wrong-issuer", "expired", "no-exp"],
)
def test_verify_refuses_a_token_not_meant_for_the_caller(
    sessions: sessionmaker[Session],
    keys: HubKeys,
    expect: str,
    claims: dict[str, Any],
    options: dict[str, Any],
) -> None:
    payload = {k: v for k, v in _claims(**claims).items() if v is not None}
    with unit_of_work(sessions, write=True) as session:
        token = keys.sign(session, payload, typ="at+jwt")
    with pytest.raises(Unauthenticated, match=expect):
        _verify(sessions, keys, token, **options)


def test_verify_refuses_hs256_keyed_with_the_public_key(
    sessions: sessionmaker[Session], keys: HubKeys
) -> None:
    with unit_of_work(sessions, write=True) as session:
        current = keys.current(session)
    header = _b64(json.dumps({"alg": "HS256", "kid": current.kid, "typ": "at+jwt"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    mac = hmac.new(current.public_jwk["x"].encode(), f"{header}.{payload}".encode(), "sha256")
    with pytest.raises(Unauthenticated, match="algorithm"):
        _verify(sessions, keys, f"{header}.{payload}.{_b64(mac.digest())}")


def test_verify_refuses_a_tampered_payload(sessions: sessionmaker[Session], keys: HubKeys) -> None:
    header, _, signature = _sign(sessions, keys).split(".")
    forged = _b64(json.dumps(_claims(sub="someone-else")).encode())
    with pytest.raises(Unauthenticated, match="not valid"):
        _verify(sessions, keys, f"{header}.{forged}.{signature}")


def test_rotation_keeps_the_previous_key_and_retires_the_one_before(
    sessions: sessionmaker[Session], keys: HubKeys
) -> None:
    original = _sign(sessions, keys)
    with unit_of_work(sessions, write=True) as session:
        second = keys.rotate(session, HUB_ALG, datetime.now(UTC))
        published = [k.kid for k in keys.published(session)]
        jwks = keys.jwks(session)
    original_kid = jwt.get_unverified_header(original)["kid"]
    assert published == [second.kid, original_kid]
    assert [k["kid"] for k in jwks["keys"]] == published
    assert _verify(sessions, keys, original)["sub"] == "s"
    assert jwt.get_unverified_header(_sign(sessions, keys))["kid"] == second.kid

    later = datetime.now(UTC) + timedelta(days=90)
    with unit_of_work(sessions, write=True) as session:
        third = keys.rotate(session, HUB_ALG if GM else SigningAlgorithm.ES256, later)
        published = [k.kid for k in keys.published(session)]
    assert published == [third.kid, second.kid]
    rows = {r.kid: r for r in _rows(sessions)}
    assert rows[original_kid].retired_at == later
    assert rows[second.kid].retired_at is None
    with pytest.raises(Unauthenticated, match="not signed by a published hub key"):
        _verify(sessions, keys, original)


@only_under(
    "intl",
    "ES256 is an intl algorithm (test_hub_keys_gm.py: a gm hub refuses it)",
)
def test_an_es256_key_signs_and_publishes_p256(
    sessions: sessionmaker[Session], keys: HubKeys
) -> None:
    with unit_of_work(sessions, write=True) as session:
        key = keys.rotate(session, "ES256")
    token = _sign(sessions, keys)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert key.jwk()["crv"] == "P-256"
    assert _verify(sessions, keys, token)["sub"] == "s"


@only_under("intl", "Ed25519 and P-256 JWK members (test_hub_keys_gm.py: the SM2 JWK's)")
def test_the_jwks_holds_public_members_only(sessions: sessionmaker[Session], keys: HubKeys) -> None:
    with unit_of_work(sessions, write=True) as session:
        keys.rotate(session, "ES256")
        keys.rotate(session, "EdDSA")
        document = keys.jwks(session)
    okp, ec = document["keys"]
    assert set(okp) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert set(ec) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert {okp["use"], ec["use"]} == {"sig"}
    for jwk in (okp, ec):
        members = {k: jwk[k] for k in ("crv", "kty", "x", "y") if k in jwk}
        canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
        assert jwk["kid"] == _b64(hashlib.sha256(canonical).digest())  # RFC 7638 thumbprint


def test_two_workers_creating_the_first_key_end_with_one(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    barrier = threading.Barrier(2)
    kids: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        keys = HubKeys(settings)  # a separate process's cache
        try:
            barrier.wait(timeout=10)
            with unit_of_work(sessions, write=True) as session:
                kids.append(keys.current(session).kid)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with unit_of_work(sessions) as session:
        assert session.scalar(select(func.count()).select_from(HubSigningKey)) == 1
    assert len(kids) == 2
    assert len(set(kids)) == 1


def _cli(database_url: str, *args: str) -> Any:
    env = {"TONGBAN_DATABASE_URL": database_url, "TONGBAN_MODE": "dev"}
    return CliRunner().invoke(keys_app, list(args), env=env, catch_exceptions=False)


def test_cli_rotates_and_lists_the_keys(database_url: str) -> None:
    first = _cli(database_url, "rotate", "--json")
    assert first.exit_code == 0, first.output
    other = HUB_ALG if GM else "ES256"  # gm has one signing algorithm
    second = _cli(database_url, "rotate", "--alg", other, "--json")
    assert second.exit_code == 0, second.output
    rotated = json.loads(second.stdout)
    assert rotated["current"]["alg"] == other
    listed = _cli(database_url, "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["alg"] for r in rows] == [other, HUB_ALG]
    assert [r["current"] for r in rows] == [True, False]
    assert rows[0]["kid"] == rotated["current"]["kid"]
    assert {"kid", "alg", "created", "retired", "current"} == set(rows[0])
    assert "private" not in listed.stdout
    assert '"d"' not in listed.stdout


def test_cli_lists_in_a_table(database_url: str) -> None:
    assert _cli(database_url, "rotate").exit_code == 0
    result = _cli(database_url, "list")
    assert result.exit_code == 0
    assert HUB_ALG in result.stdout
    assert "1 key(s)" in result.stdout
    created = datetime.fromisoformat(
        json.loads(_cli(database_url, "list", "--json").stdout)[0]["created"]
    )
    china = created.replace(tzinfo=created.tzinfo or UTC).astimezone(timezone(timedelta(hours=8)))
    # the table says when in China time, as the console does; --json keeps ISO 8601
    assert f"{china.year}年{china.month}月{china.day}日 {china:%H:%M:%S}" in result.stdout


def test_cli_refuses_an_unknown_algorithm(database_url: str) -> None:
    result = _cli(database_url, "rotate", "--alg", "HS256")
    assert result.exit_code != 0
    assert "HS256" in result.output


# -- tokens verified once per process ----------------------------------------------------------


def test_a_token_verified_before_still_expires_on_time(
    sessions: sessionmaker[Session], keys: HubKeys
) -> None:
    """Reused bytes skip the signature check, never the clock: a token 1-2 s short of the end
    of its leeway verifies now, and not once its time ran out."""
    token = _sign(sessions, keys, exp=int(time.time()) - 58)  # whole seconds; the leeway is 60 s
    assert _verify(sessions, keys, token)["sub"] == "s"
    time.sleep(2.5)
    with pytest.raises(Unauthenticated, match="expired"):
        _verify(sessions, keys, token)


def test_a_token_verified_before_is_checked_again_for_another_audience_and_not_changed(
    sessions: sessionmaker[Session], keys: HubKeys
) -> None:
    token = _sign(sessions, keys)
    claims = _verify(sessions, keys, token)
    claims["sub"] = "someone else"  # the caller's copy, not the process's
    assert _verify(sessions, keys, token)["sub"] == "s"
    with pytest.raises(Unauthenticated):
        _verify(sessions, keys, token, audience="another-audience")


def test_a_token_verified_before_is_refused_once_its_key_is_retired(
    sessions: sessionmaker[Session], keys: HubKeys
) -> None:
    token = _sign(sessions, keys)
    _verify(sessions, keys, token)
    with unit_of_work(sessions, write=True) as session:
        keys.rotate(session)
    _verify(sessions, keys, token)  # the previous key stays published
    with unit_of_work(sessions, write=True) as session:
        keys.rotate(session)
    with pytest.raises(Unauthenticated, match="published"):
        _verify(sessions, keys, token)
