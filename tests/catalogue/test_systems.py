"""Registering client systems: public keys only, usable keys only, one department."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from catalogue.errors import InvalidSystem
from catalogue.systems import keys_from_document, register_system, system_view
from exchange.db import unit_of_work
from tests import factories

pytestmark = pytest.mark.usefixtures("demo_catalogue")


@pytest.fixture
def sessions(rollback_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """These tests touch the hub database only through sessions: each runs in a transaction
    that is rolled back afterwards (``rollback_sessions``)."""
    return rollback_sessions


def register(sessions: sessionmaker[Session], now: datetime, **registration: Any) -> dict[str, Any]:
    document = factories.system_document(**{"keys": [factories.public_jwk("k1")], **registration})
    with unit_of_work(sessions) as session:
        return system_view(session, register_system(session, document, now=now))


def refusal(sessions: sessionmaker[Session], now: datetime, **registration: Any) -> list[str]:
    with pytest.raises(InvalidSystem) as caught:
        register(sessions, now, **registration)
    return [e["pointer"] for e in caught.value.errors]


def test_a_system_with_an_ed25519_key(sessions: sessionmaker[Session], now: datetime) -> None:
    view = register(sessions, now, purposes=["identity-check"])
    assert view == {
        "id": "psb-portal",
        "department": "PSB",
        "name": None,
        "status": "active",
        "purposes": ["identity-check"],
        "keys": ["k1"],
    }


def test_private_members_are_refused_by_name(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    key = {**factories.public_jwk(), "d": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}
    assert refusal(sessions, now, keys=[key]) == ["/keys/0/d"]


def test_garbage_key_material_is_refused(sessions: sessionmaker[Session], now: datetime) -> None:
    key = {**factories.public_jwk(), "x": "AAAA"}
    assert refusal(sessions, now, keys=[key]) == ["/keys/0"]


def test_rsa_and_symmetric_keys_are_refused(sessions: sessionmaker[Session], now: datetime) -> None:
    assert refusal(sessions, now, keys=[{"kty": "RSA", "kid": "r", "n": "x", "e": "AQAB"}]) == [
        "/keys/0/kty"
    ]
    assert refusal(sessions, now, keys=[{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]) == [
        "/keys/0/k"
    ]


def test_unknown_department_is_refused(sessions: sessionmaker[Session], now: datetime) -> None:
    assert refusal(sessions, now, department="TAX") == ["/department"]


def test_a_kid_cannot_be_rebound_to_another_key(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    register(sessions, now)
    assert refusal(sessions, now) == ["/keys/0/kid"]


def test_keys_accumulate_and_the_system_stays_in_its_department(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    register(sessions, now)
    assert register(sessions, now, keys=[factories.public_jwk("k2")])["keys"] == ["k1", "k2"]
    refused = refusal(sessions, now, department="EDU", keys=[factories.public_jwk("k3")])
    assert refused == ["/department"]


def test_key_files_may_be_a_jwk_or_a_jwks() -> None:
    assert keys_from_document(b'{"kty": "OKP"}') == [{"kty": "OKP"}]
    assert keys_from_document(b'{"keys": [{"kty": "EC"}]}') == [{"kty": "EC"}]
    with pytest.raises(InvalidSystem):
        keys_from_document(b"\xff\xfe")
