"""``/federation/peers`` in process: who may call it, and each bad registration refused with a
precise problem+json and nothing stored (no network: the keys are given)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.security.identity import Role
from schemas import validator
from tests import factories
from tests.profiles import GM, client_private_jwk

ORIGIN = "province.example/audit-log"


@pytest.fixture
def operator(staff_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_token(Role.OPERATOR, None)}"}


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "city-hub.jwk"
    path.write_text(json.dumps(client_private_jwk("city-hub")), "utf-8")
    return str(path)


def checkpoint_vkey(*, gm: bool = GM) -> str:
    """A peer's checkpoint verifier key: SM2 for a gm peer, Ed25519 for an intl one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from exchange.audit.checkpoint import NoteSigner
    from exchange.security.gm import SoftwareSm2Signer

    key = SoftwareSm2Signer.generate() if gm else Ed25519PrivateKey.generate()
    return NoteSigner(ORIGIN, key).vkey()


def registration(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "province",
        "url": "https://province.example",
        "client_id": "city-hub",
        "jwks": {"keys": [factories.public_jwk("p1")]},
        "checkpoint_key": checkpoint_vkey(),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_a_peer_of_the_other_crypto_profile_is_refused_saying_which_each_runs(
    client: TestClient, operator: dict[str, str], key_file: str
) -> None:
    """intl and gm hubs do not pin each other: each verifies only its own profile's signatures
    and hashes (docs/federation.md). Keys that mix the two are refused too."""
    other, mine = ("intl", "gm") if GM else ("gm", "intl")
    alg = "EdDSA" if GM else "SM2SM3"
    foreign = registration(
        key_file=key_file,
        jwks={"keys": [factories.public_jwk("p1", alg=alg)]},
        checkpoint_key=checkpoint_vkey(gm=not GM),
    )
    response = client.post("/federation/peers", json=foreign, headers=operator)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "invalid_peer"
    assert problem["errors"] == [
        {
            "pointer": "/jwks",
            "detail": f"the peer signs under the {other} profile and this hub runs {mine}: "
            "a hub verifies only its own profile's signatures (docs/federation.md)",
        }
    ]
    mixed = registration(key_file=key_file, checkpoint_key=checkpoint_vkey(gm=not GM))
    response = client.post("/federation/peers", json=mixed, headers=operator)
    assert response.status_code == 422
    assert response.json()["errors"][0]["detail"] == "the peer's keys mix the intl and gm profiles"
    assert client.get("/federation/peers", headers=operator).json()["peers"] == []


def test_an_operator_registers_a_source_peer_with_its_keys_pinned(
    client: TestClient, operator: dict[str, str], key_file: str
) -> None:
    response = client.post(
        "/federation/peers", json=registration(key_file=key_file), headers=operator
    )
    assert response.status_code == 201, response.text
    peer = response.json()
    assert (peer["id"], peer["roles"], peer["status"]) == ("province", ["source"], "active")
    assert [k["kid"] for k in peer["keys"]["evidence"]] == ["p1"]
    assert len(peer["keys"]["evidence"][0]["thumbprint"]) == 43  # RFC 7638, base64url SHA-256
    again = client.post("/federation/peers", json=registration(key_file=key_file), headers=operator)
    assert again.status_code == 409
    assert again.json()["code"] == "peer_exists"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"url": "ftp://province.example"}, "/url"),
        ({"url": "https://u:p@province.example"}, "/url"),
        ({"url": "https://[bad"}, "/url"),
        ({"key_file": "/nonexistent/key.jwk"}, "/key_file"),
        ({"key_file": None}, "/key_file"),
        ({"jwks": {"keys": [{"kty": "RSA", "kid": "r", "n": "x", "e": "AQAB"}]}}, "/jwks/keys/0"),
        ({"jwks": {"keys": [{**factories.public_jwk("p1"), "d": "secret"}]}}, "/jwks/keys/0"),
        ({"checkpoint_key": "not a vkey"}, "/checkpoint_key"),
        ({"client_id": None, "key_file": None}, "/"),
        (
            {"client_id": None, "key_file": None, "consumer_system": "no-such-system"},
            "/consumer_system",
        ),
    ],
)
def test_a_bad_registration_is_refused_precisely_and_nothing_is_stored(
    client: TestClient,
    operator: dict[str, str],
    key_file: str,
    change: dict[str, Any],
    pointer: str,
) -> None:
    body = registration(key_file=key_file)
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post("/federation/peers", json=body, headers=operator)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "invalid_peer"
    assert problem["errors"][0]["pointer"] == pointer
    assert "nonexistent" not in response.text  # no file path in an answer
    assert client.get("/federation/peers", headers=operator).json() == {"peers": []}


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.DEPARTMENT_ADMIN, Role.CITIZEN])
def test_only_the_operator_registers_or_harvests(
    client: TestClient, staff_token: Callable[..., str], role: Role, key_file: str
) -> None:
    headers = {"Authorization": f"Bearer {staff_token(role, 'PSB')}"}
    response = client.post(
        "/federation/peers", json=registration(key_file=key_file), headers=headers
    )
    assert response.status_code == 403
    assert client.post("/federation/peers/province/harvest", headers=headers).status_code == 403


def test_an_unknown_peer_is_not_found(client: TestClient, operator: dict[str, str]) -> None:
    response = client.post("/federation/peers/nowhere/harvest", headers=operator)
    assert response.status_code == 404
    assert response.json()["code"] == "peer_not_found"


def _peer_entries(client: TestClient) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from exchange.audit.models import AuditRecord
    from exchange.db import unit_of_work

    sessions = client.app.state.hub.sessions  # type: ignore[attr-defined]
    with unit_of_work(sessions) as session:
        texts = session.scalars(
            select(AuditRecord.entry).where(AuditRecord.kind == "peer").order_by(AuditRecord.index)
        ).all()
    return [json.loads(text) for text in texts]


def test_each_change_of_a_peer_is_an_audit_entry_committing_to_its_pinned_keys(
    client: TestClient, operator: dict[str, str], key_file: str
) -> None:
    """Registered, suspended, resumed: one ``peer`` entry each, in the log with the row change,
    each carrying the digest of the keys pinned at that moment; setting the status a peer
    already has changes nothing and logs nothing; a refused registration logs nothing."""
    from exchange.federation.audit import keys_digest

    body = registration(key_file=key_file)
    assert client.post("/federation/peers", json=body, headers=operator).status_code == 201
    refused = registration(id="city2", url="ftp://city.example", key_file=key_file)
    assert client.post("/federation/peers", json=refused, headers=operator).status_code == 422
    for status in ("suspended", "suspended", "active"):
        answer = client.post(
            "/federation/peers/province/status", json={"status": status}, headers=operator
        )
        assert answer.status_code == 200, answer.text
    entries = _peer_entries(client)
    assert [e["outcome"] for e in entries] == ["registered", "suspended", "resumed"]
    pinned = keys_digest(body["jwks"], body["checkpoint_key"])
    for entry in entries:
        member = entry["object"]
        assert (member["type"], member["id"], member["event"]) == (
            "peer",
            "province",
            entry["outcome"],
        )
        assert member["keys_digest"] == pinned
        assert (entry["subject"], entry["system"], member["by"]) == (
            "-",
            "-",
            "operator:officer-001",
        )
    assert [e["object"]["status_after"] for e in entries] == ["active", "suspended", "active"]
    checker = validator("audit-entry")
    assert [list(checker.iter_errors(entry)) for entry in entries] == [[], [], []]
    wrong = dict(entries[0], subject="a" * 64)  # a peer entry is about no one
    assert not checker.is_valid(wrong)
