"""The provider's discovery document as the hub takes it (exchange/security/openid.py): only one
that names the configured issuer, https endpoints (http on loopback), S256 and an ID token
algorithm the hub accepts; cached; a provider that does not answer is a 503 that says so, asked
again only after the interval; a document refused says why in the log."""

from __future__ import annotations

import logging
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
        "id_token_signing_alg_values_supported": ["RS256"],
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
        {"id_token_signing_alg_values_supported": ["HS256", "none", "RS512"]},
        {"id_token_signing_alg_values_supported": None},
    ],
    ids=[
        "another issuer",
        "http endpoint",
        "no jwks_uri",
        "no S256",
        "no algorithm the hub accepts",
        "no algorithms",
    ],
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


def test_the_algorithms_are_those_the_provider_names_and_the_hub_accepts() -> None:
    advertised = ["RS256", "RS512", "HS256", "none", "PS256", "ES256", "EdDSA", 7]
    provider = _provider([_document(id_token_signing_alg_values_supported=advertised)], Clock())
    assert provider.signing_algorithms() == {"RS256", "PS256", "ES256", "EdDSA"}


def test_a_provider_signing_only_with_algorithms_the_hub_refuses_says_so_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = _provider([_document(id_token_signing_alg_values_supported=["HS256"])], Clock())
    with (
        caplog.at_level(logging.WARNING, logger="tongban.security"),
        pytest.raises(IdentityProviderUnavailable),
    ):
        provider.discovery()
    assert [record.getMessage() for record in caplog.records] == [
        f"OpenID discovery at {ISSUER} failed: the discovery document's "
        "id_token_signing_alg_values_supported names none of the algorithms the hub accepts "
        "(ES256, EdDSA, PS256, RS256)"
    ]
    with pytest.raises(Unauthenticated, match="could not be fetched"):
        provider.signing_algorithms()
