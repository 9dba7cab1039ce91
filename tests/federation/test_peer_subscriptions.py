"""Subscriptions across hubs (回流, issue 20): two real hubs over real HTTP, each a ``tongban
serve`` process with its scheduler running. A case system of the city hub subscribes, at the
city, to a death registration the province hub holds; the city holds a subscription at the
province on its behalf, pulls the province's signed events, checks them with the keys it pinned
and releases them to its system's webhook, with the province's event inside. The city runs on
SQLite, and on PostgreSQL too when ``TONGBAN_TEST_POSTGRES_URL`` is set."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from exchange.federation.models import FederationPeer, PeerSubscription
from exchange.federation.subscriptions import FeedResult, _Held
from exchange.hub import Hub as HubCore
from exchange.settings import Settings
from exchange.subscriptions.models import Subscription
from schemas import validator
from tests import factories
from tests.databases import throwaway_database
from tests.federation.test_two_hubs import ok, tongban
from tests.profiles import client_private_jwk, verifying_key
from tests.servers import DemoHub, demo_hub, dev_environment, free_port, serving
from tests.subscriptions.receiver import Receiver, receiver

pytestmark = pytest.mark.serves

CITY_SYSTEM = "city-edu"
PURPOSE = "school-enrolment"
KEYS = "var/demo/keys"
DECEASED = "death.deceased"
WITHIN_S = 40.0
"""The province's change job runs every 5 s and the city's feed and both delivery jobs every
2 s: an event crosses in about 10 s; 40 s leaves room for a loaded machine."""


@dataclass
class Pair:
    province: DemoHub
    city: DemoHub
    city_env: dict[str, str]
    province_env: dict[str, str]
    used: list[str]

    def living(self) -> str:
        """A subject of the demo world no test of this module has registered dead yet."""
        for subject in self.province.manifest["subjects"]:
            if subject["kind"] != "deceased" and subject["id"] not in self.used:
                self.used.append(subject["id"])
                return str(subject["id"])
        raise AssertionError("no living subject left")

    def city_token(self) -> str:
        return self.city.system_token(CITY_SYSTEM)

    def city_call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.city_token()}"}
        return httpx.request(
            method, f"{self.city.base}{path}", json=body, headers=headers, timeout=60
        )

    def as_city_hub_at_province(self, method: str, path: str) -> httpx.Response:
        """A call of the province's API as the city hub's system there (its own key)."""
        key = json.loads((self.city.workdir / "keys/city-hub.jwk").read_text("utf-8"))
        assertion = factories.client_assertion(key, "city-hub", f"{self.province.base}/oauth/token")
        token = httpx.post(
            f"{self.province.base}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
        ).json()["access_token"]
        return httpx.request(
            method, f"{self.province.base}{path}", headers={"Authorization": f"Bearer {token}"}
        )

    def register_death(self, subject: str) -> None:
        ok(tongban(self.province.workdir, self.province_env, "demo-register-death", subject))

    def city_core(self) -> HubCore:
        """The city hub's own composition, in this process, over the city's database (its
        scheduler off: the served city runs the jobs)."""
        settings = Settings(
            database_url=self.city_database(),
            mode="dev",
            public_url=self.city.base,
            scheduler="off",
            secret_file=self.city.workdir / "var/secret.key",  # the city's own master secret
        )
        return HubCore.from_settings(settings)

    def city_database(self) -> str:
        return self.city_env.get("TONGBAN_DATABASE_URL") or (
            f"sqlite:///{self.city.workdir / 'var/tongban.db'}"
        )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    with ExitStack() as stack:
        database = None
        if request.param == "postgresql":
            database = stack.enter_context(
                throwaway_database("TONGBAN_TEST_POSTGRES_URL", "PostgreSQL tests")
            )
        yield from _pair(tmp_path_factory, database)


def _pair(tmp_path_factory: pytest.TempPathFactory, database: str | None) -> Iterator[Pair]:
    city_dir = tmp_path_factory.mktemp("city")
    city_url = f"http://127.0.0.1:{free_port()}"
    extra = {"TONGBAN_DATABASE_URL": database} if database else {}
    city_env = dev_environment(TONGBAN_PUBLIC_URL=city_url, **extra)
    (city_dir / "dept.yaml").write_text("kind: department\ncode: CEDU\nname: 市教育局\n", "utf-8")
    ok(tongban(city_dir, city_env, "peers", "keygen", "--kid", CITY_SYSTEM, "--out", KEYS))
    ok(tongban(city_dir, city_env, "peers", "keygen", "--kid", "city-hub", "--out", "keys"))
    ok(tongban(city_dir, city_env, "catalogue", "publish", "dept.yaml"))
    ok(
        tongban(
            city_dir,
            city_env,
            *("system", "add", "--id", CITY_SYSTEM, "--department", "CEDU"),
            *("--jwk", f"{KEYS}/{CITY_SYSTEM}.pub.jwk"),
            *("--purpose", PURPOSE, "--purpose", "housing-check"),
        )
    )
    with (
        demo_hub(tmp_path_factory.mktemp("province")) as province,
        serving(city_dir, city_env, port=int(city_url.rsplit(":", 1)[1]), within_s=90) as city_base,
    ):
        province_env = dev_environment(TONGBAN_PUBLIC_URL=province.base)
        pdir = province.workdir
        (pdir / "cityhub.yaml").write_text(
            "kind: department\ncode: CITYHUB\nname: 市级政务数据共享枢纽\n", "utf-8"
        )
        ok(tongban(pdir, province_env, "catalogue", "publish", "cityhub.yaml"))
        ok(
            tongban(
                pdir,
                province_env,
                *("system", "add", "--id", "city-hub", "--department", "CITYHUB"),
                *("--jwk", str(city_dir / "keys/city-hub.pub.jwk"), "--purpose", PURPOSE),
            )
        )
        ok(
            tongban(
                pdir,
                province_env,
                *("peers", "add", "--id", "city", "--url", city_base),
                *("--consumer-system", "city-hub"),
            )
        )
        ok(
            tongban(
                city_dir,
                city_env,
                *("peers", "add", "--id", "province", "--url", province.base),
                *("--client-id", "city-hub", "--key", "keys/city-hub.jwk"),
            )
        )
        ok(tongban(city_dir, city_env, "peers", "harvest", "province"))
        yield Pair(province, DemoHub(city_base, city_dir, {}), city_env, province_env, [])


def wait_for(check: Callable[[], Any], within: float = WITHIN_S) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not within {within:g} s")


def subscribe(pair: Pair, subjects: list[str], url: str | None) -> dict[str, Any]:
    body = {"purpose": PURPOSE, "attributes": [DECEASED], "subjects": subjects}
    if url is not None:
        body["webhook_url"] = url
    made = pair.city_call("POST", "/subscriptions", body)
    assert made.status_code == 201, made.text
    sub: dict[str, Any] = made.json()
    wait_for(lambda: pair.city_call("GET", f"/subscriptions/{sub['id']}").json()["watching"])
    return sub


def signed_by(secret: str, headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, s.split(",", 1)[1])
        for s in headers["webhook-signature"].split()
        if s.startswith("v1,")
    )


def entry(hub: DemoHub, index: int) -> dict[str, Any]:
    token = hub.id_token("auditor-1", "auditor")
    response = httpx.get(
        f"{hub.base}/audit/entries/{index}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["entry"]
    return found


def events_of(received: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body)["data"] for r in received.received]


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


# -- the story ------------------------------------------------------------------------------


def test_a_death_the_province_registers_reaches_the_city_systems_webhook_and_both_logs_show_it(
    pair: Pair, hook: Receiver
) -> None:
    dead, alive = pair.living(), pair.living()
    sub = subscribe(pair, [dead, alive], hook.url)
    pair.register_death(dead)
    [event] = wait_for(lambda: events_of(hook))
    [delivery] = hook.received
    assert signed_by(sub["secret"], delivery.headers, delivery.body)
    assert (event["subscription"], event["seq"], event["subject"]["id"]) == (sub["id"], 1, dead)
    released = event["attributes"][DECEASED]
    assert released["value"] is True
    assert released["source"]["hub"] == pair.province.base

    # The province's signed event is inside the city's, and verifies with its published keys.
    [origin] = event["origins"]
    assert origin["hub"] == pair.province.base
    header = jwt.get_unverified_header(origin["evidence"])
    assert header["typ"] == "tongban-event+jwt"
    jwks = httpx.get(f"{pair.province.base}/.well-known/jwks.json").json()
    key = verifying_key(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    inner = jwt.decode(origin["evidence"], key, audience="city-hub", algorithms=[header["alg"]])
    assert inner["relay"] == {
        "hub": pair.city.base,
        "system": CITY_SYSTEM,
        "department": "CEDU",
        "subscription": sub["id"],
    }
    assert inner["attributes"][DECEASED]["value"] is True

    # Both logs: the city released it to its system, naming the province's event and entry;
    # the province released it to the city hub, on behalf of the city's system.
    city_entry = entry(pair.city, event["audit"]["index"])
    assert (city_entry["kind"], city_entry["system"]) == ("event", CITY_SYSTEM)
    [read] = city_entry["relayed"]
    assert (read["peer"], read["outcome"], read["index"]) == (
        "province",
        "verified",
        inner["audit"]["index"],
    )
    province_entry = entry(pair.province, inner["audit"]["index"])
    assert (province_entry["kind"], province_entry["system"]) == ("event", "city-hub")
    assert province_entry["relay"]["hub"] == pair.city.base
    assert province_entry["relay"]["system"] == CITY_SYSTEM
    assert province_entry["relay"]["request_id"] == sub["id"].removeprefix("sub-")
    assert read["request_id"] == inner["jti"].removeprefix("evt-")
    for document in (city_entry, province_entry):
        validator("audit-entry").validate(document)
    assert pair.city_call("DELETE", f"/subscriptions/{sub['id']}").status_code == 200


def test_the_provinces_disputed_mark_reaches_the_city_systems_event(
    pair: Pair, hook: Receiver
) -> None:
    """A province system was told "not deceased" and filed a correction (校核, 异议标注): while
    it is open the province's event on that field carries the disputed mark, and the city's
    event to its own system carries it too, in ``data.attributes`` as a local event does,
    under the city's webhook signature."""
    subject = pair.living()
    headers = {"Authorization": f"Bearer {pair.province.system_token()}"}
    person = {"id_type": "CN-RIC", "id": subject}
    asked = httpx.post(
        f"{pair.province.base}/exchange/query",
        json={"subject": person, "purpose": PURPOSE, "attributes": [DECEASED]},
        headers=headers,
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["attributes"][DECEASED]["value"] is False
    filed = httpx.post(
        f"{pair.province.base}/corrections",
        json={
            "subject": person,
            "attribute": DECEASED,
            "request_id": asked.json()["request_id"],
            "evidence": "家属来电称其已去世，火化证明已提交民政局。",
        },
        headers=headers,
    )
    assert filed.status_code == 201, filed.text
    sub = subscribe(pair, [subject], hook.url)
    pair.register_death(subject)
    [event] = wait_for(lambda: events_of(hook))
    [delivery] = hook.received
    assert signed_by(sub["secret"], delivery.headers, delivery.body)
    mark = event["attributes"][DECEASED]["disputed"]
    assert mark["correction"] == filed.json()["id"]
    [origin] = event["origins"]
    inner = json.loads(base64.urlsafe_b64decode(origin["evidence"].split(".")[1] + "=="))
    assert inner["attributes"][DECEASED]["disputed"] == mark  # as the province signed it
    assert pair.city_call("DELETE", f"/subscriptions/{sub['id']}").status_code == 200


def test_a_duplicate_of_a_province_event_is_not_released_again(pair: Pair, hook: Receiver) -> None:
    dead = pair.living()
    sub = subscribe(pair, [dead], hook.url)
    pair.register_death(dead)
    wait_for(lambda: events_of(hook))
    with pair.city_core() as core:
        with core.sessions() as session:
            [held] = session.query(PeerSubscription).filter_by(subscription_id=sub["id"]).all()
            assert held.accepted_seq == 1
            one = _Held(
                held.subscription_id,
                held.peer_id,
                held.remote_id,
                tuple(held.resources),
                0,  # as if the ack had been lost: the province's event is pulled again
                None,
                "active",
                True,
                CITY_SYSTEM,
            )
            peer = session.get(FederationPeer, "province")
        assert peer is not None
        client = core.relay.client(peer)
        assert client is not None
        result = FeedResult()
        core.peer_feed._pull(client, one, result)
    assert (result.pulled, result.duplicates, result.events) == (1, 1, 0)
    time.sleep(3)
    assert len(hook.received) == 1
    listed = pair.city_call("GET", f"/subscriptions/{sub['id']}/events").json()["events"]
    assert [e["seq"] for e in listed] == [1]
    assert pair.city_call("DELETE", f"/subscriptions/{sub['id']}").status_code == 200


def test_an_event_whose_signature_does_not_verify_is_refused_recorded_and_nothing_released(
    pair: Pair, hook: Receiver, tmp_path: Path
) -> None:
    dead = pair.living()
    sub = subscribe(pair, [dead], hook.url)
    # The city pins a key the province does not sign with (same kid): its events do not verify.
    jwks = httpx.get(f"{pair.province.base}/.well-known/jwks.json").json()
    impostor = {k: v for k, v in client_private_jwk("impostor").items() if k != "d"}
    wrong = {"keys": [{**impostor, "kid": k["kid"]} for k in jwks["keys"]]}
    (tmp_path / "wrong.jwks").write_text(json.dumps(wrong), "utf-8")
    vkey = httpx.get(f"{pair.province.base}/audit/checkpoint/key").text
    (tmp_path / "vkey.txt").write_text(vkey, "utf-8")
    repin = ("peers", "repin", "province")
    ok(
        tongban(
            pair.city.workdir,
            pair.city_env,
            *repin,
            *(
                "--jwks",
                str(tmp_path / "wrong.jwks"),
                "--checkpoint-key",
                str(tmp_path / "vkey.txt"),
            ),
        )
    )
    try:
        pair.register_death(dead)
        refused = wait_for(lambda: _refusals(pair, sub["id"]))
        assert refused[0]["seq"] == 1
        assert "signature" in refused[0]["reason"]
        time.sleep(4)
        assert hook.received == []
        assert pair.city_call("GET", f"/subscriptions/{sub['id']}/events").json()["events"] == []
        assert len(_refusals(pair, sub["id"])) == 1  # recorded once, however often it is read
    finally:
        ok(tongban(pair.city.workdir, pair.city_env, *repin))
    # The right keys pinned again, the event is read on: nothing was lost.
    [event] = wait_for(lambda: events_of(hook))
    assert (event["seq"], event["subject"]["id"]) == (1, dead)
    assert pair.city_call("DELETE", f"/subscriptions/{sub['id']}").status_code == 200


def _refusals(pair: Pair, subscription: str) -> list[dict[str, Any]]:
    token = pair.city.id_token("auditor-1", "auditor")
    listed = httpx.get(
        f"{pair.city.base}/audit/entries?limit=50", headers={"Authorization": f"Bearer {token}"}
    ).json()["entries"]
    found = []
    for summary in listed:
        whole = entry(pair.city, summary["index"])
        refused = (whole.get("object") or {}).get("refused_event")
        if whole["kind"] == "peer" and refused and refused["subscription"] == subscription:
            validator("audit-entry").validate(whole)
            found.append(refused)
    return found


def test_cancelling_at_the_city_cancels_at_the_province(pair: Pair) -> None:
    sub = subscribe(pair, [pair.living()], None)
    with pair.city_core() as core, core.sessions() as session:
        [held] = session.query(PeerSubscription).filter_by(subscription_id=sub["id"]).all()
        remote = held.remote_id
    there = pair.as_city_hub_at_province("GET", f"/subscriptions/{remote}").json()
    assert there["status"] == "active"
    assert pair.city_call("DELETE", f"/subscriptions/{sub['id']}").json()["status"] == "cancelled"
    there = pair.as_city_hub_at_province("GET", f"/subscriptions/{remote}").json()
    assert there["status"] == "cancelled"


def test_a_subscription_the_province_refuses_is_refused_at_the_city_and_nothing_stored(
    pair: Pair,
) -> None:
    body = {"purpose": "housing-check", "attributes": [DECEASED], "subjects": [pair.living()]}
    refused = pair.city_call("POST", "/subscriptions", body)
    assert refused.status_code == 502, refused.text
    problem = refused.json()
    assert problem["code"] == "relay_refused"
    assert problem["origin"]["hub"] == pair.province.base
    assert problem["origin"]["code"] in ("subscription_not_permitted", "purpose_not_registered")
    assert problem["origin"]["status"] in (403, 422)
    with pair.city_core() as core, core.sessions() as session:
        purposes = {s.purpose for s in session.query(Subscription).all()}
    assert "housing-check" not in purposes


def test_a_division_population_is_not_subscribed_at_another_hub(pair: Pair) -> None:
    body = {"purpose": PURPOSE, "attributes": [DECEASED], "division": "3201"}
    refused = pair.city_call("POST", "/subscriptions", body)
    assert refused.status_code in (403, 422), refused.text
    assert refused.json()["code"] in ("subscription_too_wide", "invalid_subscription_population")


def test_a_subscription_wider_than_any_agreement_is_refused_at_the_city(pair: Pair) -> None:
    """A conditional field the province holds, with no agreement for it: across hubs a
    subscription carries only what the origin shares unconditionally (docs/federation.md), so
    the city refuses it, naming the attribute, and nothing is held at the province."""
    body = {"purpose": PURPOSE, "attributes": ["property.area"], "subjects": [pair.living()]}
    refused = pair.city_call("POST", "/subscriptions", body)
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["code"] == "subscription_not_permitted"
    assert "property.area" in json.dumps(problem.get("errors") or problem["detail"])
    with pair.city_core() as core, core.sessions() as session:
        attributes = [s.attributes for s in session.query(Subscription).all()]
    assert ["property.area"] not in attributes


def test_a_predicate_is_subscribed_at_the_province_as_the_predicate(pair: Pair) -> None:
    """The city subscribes at the province for the attributes as its caller asked them: the
    province's events carry the predicate's answer, never the birth date behind it."""
    predicate = "household.age_at_least(6)"
    body = {"purpose": PURPOSE, "attributes": [DECEASED, predicate], "subjects": [pair.living()]}
    made = pair.city_call("POST", "/subscriptions", body)
    assert made.status_code == 201, made.text
    sub = made.json()
    with pair.city_core() as core, core.sessions() as session:
        [held] = session.query(PeerSubscription).filter_by(subscription_id=sub["id"]).all()
        remote = held.remote_id
    there = pair.as_city_hub_at_province("GET", f"/subscriptions/{remote}").json()
    assert sorted(there["attributes"]) == sorted([DECEASED, predicate])
    assert pair.city_call("DELETE", f"/subscriptions/{sub['id']}").status_code == 200
