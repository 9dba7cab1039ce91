"""Subscriptions refused with a precise problem: wider than the policy allows, a bad population,
a webhook the hub will not call (checked again at delivery: DNS rebinding), someone else's
subscription, a replay of an event that does not exist."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld
from exchange.settings import SettingsError, load_settings
from exchange.subscriptions.errors import WebhookUrlRefused
from exchange.subscriptions.models import Subscription
from exchange.subscriptions.webhooks import WebhookPolicy, post_event, signature_headers
from tests.exchange.world import EDU, Hub
from tests.subscriptions.conftest import STATUS, call, core, insured, status_body, subscribe

PURPOSE = "minimum-living-allowance"
HUB = "hub.example.gov.cn"


def _problem(response: object, status: int, code: str) -> dict[str, object]:
    assert getattr(response, "status_code", None) == status, getattr(response, "text", "")
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["code"] == code
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    return body


def test_a_conditional_field_without_an_agreement_is_refused_per_attribute(
    hub: Hub, city: LegacyWorld
) -> None:
    body = {
        **status_body(insured(city, 1), None),
        "attributes": [STATUS, "social_insurance.months_paid"],
    }
    problem = _problem(subscribe(hub, body), 403, "subscription_not_permitted")
    assert problem["errors"] == [
        {"pointer": "/attributes/1", "detail": "social_insurance.months_paid: not_granted"}
    ]


def test_an_agreement_that_needs_each_citizens_consent_cannot_carry_a_subscription(
    hub: Hub, city: LegacyWorld
) -> None:
    body = {
        **status_body(insured(city, 1), None),
        "attributes": ["social_insurance.months_paid"],
        "agreement": "AG-DEMO-MCA-HRSS-0001",
    }
    problem = _problem(subscribe(hub, body), 403, "subscription_not_permitted")
    assert "consent" in str(problem["errors"])


def test_an_agreement_of_another_system_is_not_in_force_for_this_one(
    hub: Hub, city: LegacyWorld
) -> None:
    body = {**status_body(insured(city, 1), None), "agreement": "AG-DEMO-MCA-HRSS-0001"}
    _problem(subscribe(hub, body, system=EDU), 403, "subscription_not_permitted")


def test_a_purpose_the_system_never_registered_is_refused(hub: Hub, city: LegacyWorld) -> None:
    body = {**status_body(insured(city, 1), None), "purpose": "school-enrolment"}
    _problem(subscribe(hub, body), 403, "subscription_not_permitted")


def test_a_division_without_an_agreement_that_allows_it_is_too_wide(hub: Hub) -> None:
    body = {"purpose": PURPOSE, "attributes": [STATUS], "division": "110105"}
    _problem(subscribe(hub, body), 403, "subscription_too_wide")


@pytest.mark.parametrize(
    ("population", "pointer"),
    [
        ({"subjects": ["11010519491231002X"], "division": "11"}, None),
        ({}, None),
        ({"subjects": []}, None),
        ({"division": "11x"}, None),
    ],
)
def test_a_population_that_is_not_one_list_or_one_division_is_refused(
    hub: Hub, population: dict[str, object], pointer: str | None
) -> None:
    body = {"purpose": PURPOSE, "attributes": [STATUS], **population}
    _problem(subscribe(hub, body), 422, "invalid_subscription_population")


def test_an_invalid_id_number_is_refused_without_echoing_it(hub: Hub) -> None:
    wrong = "110105194912310021"  # bad check character
    response = subscribe(hub, status_body([wrong], None))
    _problem(response, 422, "invalid_subject_id")
    assert wrong not in response.text


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",  # a private range the deployment did not allow
        "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "ftp://127.0.0.1/hook",
        "http://user:pw@127.0.0.1/hook",
        "{public}/hook",  # the hub itself
    ],
)
def test_a_webhook_the_hub_will_not_call_is_refused(hub: Hub, city: LegacyWorld, url: str) -> None:
    url = url.format(public=core(hub).settings.public_url)
    _problem(subscribe(hub, status_body(insured(city, 1), url)), 422, "webhook_url_refused")


def test_another_systems_subscription_is_not_found(hub: Hub, city: LegacyWorld) -> None:
    made = subscribe(hub, status_body(insured(city, 1), None)).json()
    _problem(
        call(hub, "GET", f"/subscriptions/{made['id']}", system=EDU), 404, "subscription_not_found"
    )
    _problem(
        call(hub, "POST", f"/subscriptions/{made['id']}/replay", {}, system=EDU),
        404,
        "subscription_not_found",
    )


def test_a_replay_of_an_unknown_event_is_refused(hub: Hub, city: LegacyWorld) -> None:
    made = subscribe(hub, status_body(insured(city, 1), None)).json()
    unknown = "evt-00000000-0000-4000-8000-000000000000"
    _problem(
        call(hub, "POST", f"/subscriptions/{made['id']}/replay", {"events": [unknown]}),
        404,
        "subscription_event_not_found",
    )


# -- the URL policy on its own ---------------------------------------------------------------


def _policy(
    addresses: Sequence[str], *, allow_http: bool = False, allowed: str = ""
) -> WebhookPolicy:
    networks = tuple(ipaddress.ip_network(c) for c in allowed.split(",") if c)
    return WebhookPolicy(
        allow_http=allow_http,
        hub_host=HUB,
        hub_port=443,
        allowed=networks,
        resolve=lambda host, port: ["198.51.100.7"] if host == HUB else list(addresses),
    )


def test_prod_refuses_http_and_the_hub_itself_and_accepts_a_public_https_host() -> None:
    public = _policy(["8.8.8.8"])
    public.check_url("https://consumer.example.org/hooks")
    with pytest.raises(WebhookUrlRefused, match="https"):
        public.check_url("http://consumer.example.org/hooks")
    with pytest.raises(WebhookUrlRefused, match="hub itself"):
        public.check_url("https://hub.example.gov.cn/hooks")
    with pytest.raises(WebhookUrlRefused, match="hub itself"):  # its address, by another name
        _policy(["198.51.100.7"]).check_url("https://alias.example.org/hooks")


def test_a_private_address_is_refused_unless_the_deployment_allows_its_network() -> None:
    with pytest.raises(WebhookUrlRefused, match="TONGBAN_WEBHOOK_ALLOWED_CIDRS"):
        _policy(["10.8.1.2"]).check_url("https://case.internal/hooks")
    _policy(["10.8.1.2"], allowed="10.8.0.0/16").check_url("https://case.internal/hooks")
    with pytest.raises(WebhookUrlRefused):  # every address counts, not only the first
        _policy(["8.8.8.8", "127.0.0.1"]).check_url("https://mixed.example.org/hooks")


def test_a_name_that_rebinds_to_an_inside_address_is_refused_at_delivery() -> None:
    answers = iter([["8.8.8.8"], ["127.0.0.1"]])
    policy = WebhookPolicy(
        allow_http=False,
        hub_host=HUB,
        hub_port=443,
        allowed=(),
        resolve=lambda host, port: ["198.51.100.7"] if host == HUB else next(answers),
    )
    policy.check_url("https://rebind.example.org/hooks")  # at subscription: public
    attempt = post_event(policy, "https://rebind.example.org/hooks", b"{}", {})
    assert (attempt.delivered, attempt.error) == (False, "url_refused")


def test_the_signature_matches_the_standard_webhooks_example() -> None:
    """The example of the Standard Webhooks specification, and an HMAC computed here."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = signature_headers(
        secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    mac = hmac.new(
        key, b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}', hashlib.sha256
    )
    assert headers["webhook-signature"] == "v1," + base64.b64encode(mac.digest()).decode()
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    ("delivery", "url", "detail"),
    [
        ("broker", None, "TONGBAN_SUBSCRIPTION_BROKER_URL"),
        ("webhook", None, "needs a webhook_url"),
        ("pull", "https://dibao.example.gov.cn/hooks", "takes no webhook_url"),
        ("broker", "https://dibao.example.gov.cn/hooks", "takes no webhook_url"),
    ],
)
def test_a_delivery_that_does_not_fit_is_refused_and_nothing_is_stored(
    hub: Hub, city: LegacyWorld, delivery: str, url: str | None, detail: str
) -> None:
    body = {**status_body(insured(city, 1), url), "delivery": delivery}
    problem = _problem(subscribe(hub, body), 422, "invalid_subscription_delivery")
    assert detail in str(problem["detail"])
    with unit_of_work(hub.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4222",
        "nats://:4222",
        "amqp://guest:s3cret@127.0.0.1:99999/",
        "rabbitmq://127.0.0.1",
        "nats://127.0.0.1:4222/stream",
    ],
)
def test_a_misconfigured_broker_url_stops_the_hub_at_start_without_echoing_it(url: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(subscription_broker_url=url, mode="dev")
    message = str(refused.value)
    assert "TONGBAN_SUBSCRIPTION_BROKER_URL" in message
    assert url not in message
    assert "s3cret" not in message
