"""The provider's discovery document as the hub takes it (exchange/security/openid.py): only one
that names the configured issuer, https endpoints (http on loopback) and S256; cached; a
provider that does not answer is a 503 that says so, asked again only after the interval."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from exchange.errors import Unauthenticated
from exchange.security.errors import IdentityProviderUnavailable
from exchange.security.openid import OpenIdProvider

ISSUER = "https://idp.example.gov.cn"


def _document(**changes: Any) -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/auth",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "code_challenge_methods_supported": ["S256"],
        **changes,
    }


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _provider(answers: list[Mapping[str, Any] | None], clock: Clock) -> OpenIdProvider:
    def fetch(url: str) -> Mapping[str, Any]:
        assert url == f"{ISSUER}/.well-known/openid-configuration"
        answer = answers.pop(0)
        if answer is None:
            raise Unauthenticated("the identity provider could not be reached")
        return answer

    return OpenIdProvider(
        ISSUER, "tongban-console", None, max_age_s=300, retry_s=30, fetch=fetch, clock=clock
    )


def test_the_document_is_fetched_once_and_names_the_jwks_url() -> None:
    clock = Clock()
    provider = _provider([_document()], clock)
    assert provider.jwks_url() == f"{ISSUER}/jwks"
    clock.now += 100
    assert provider.discovery()["token_endpoint"] == f"{ISSUER}/token"  # no second fetch


@pytest.mark.parametrize(
    "changes",
    [
        {"issuer": "https://impostor.example.com"},
        {"token_endpoint": "http://idp.example.gov.cn/token"},
        {"jwks_uri": None},
        {"code_challenge_methods_supported": ["plain"]},
    ],
    ids=["another issuer", "http endpoint", "no jwks_uri", "no S256"],
)
def test_a_document_the_hub_cannot_trust_is_refused(changes: dict[str, Any]) -> None:
    provider = _provider([_document(**changes)], Clock())
    with pytest.raises(IdentityProviderUnavailable, match="could not be fetched"):
        provider.discovery()
    with pytest.raises(Unauthenticated, match="could not be fetched"):
        provider.jwks_url()  # not asked again within the interval (the list is empty)


def test_a_provider_that_does_not_answer_is_asked_again_after_the_interval() -> None:
    clock = Clock()
    provider = _provider([None, _document()], clock)
    with pytest.raises(IdentityProviderUnavailable):
        provider.discovery()
    clock.now += 29
    with pytest.raises(IdentityProviderUnavailable):
        provider.discovery()
    clock.now += 1
    assert provider.discovery()["issuer"] == ISSUER
