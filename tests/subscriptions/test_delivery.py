"""Subscriptions end to end on the real app, a real HRSS legacy store and a real webhook receiver
on 127.0.0.1: a change at the source becomes a signed event, in order, audited; a receiver that
is down gets its events in order when it comes back; dead-lettered events are replayed with
their ids unchanged; a consumer that cannot receive calls pulls and acknowledges."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time

from sqlalchemy import select

from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld
from schemas import validator
from tests.exchange.world import EDU, MCA, Hub
from tests.subscriptions.conftest import (
    STATUS,
    call,
    change_status,
    core,
    insured,
    payload,
    status_body,
    subscribe,
)
from tests.subscriptions.receiver import Received, Receiver, receiver

AGREEMENT = "AG-DEMO-EDU-HRSS-0001"


def _verified(secret: str, got: Received) -> bool:
    """The Standard Webhooks signature, computed here from the spec, not by the product."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode() + got.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in got.headers["webhook-signature"].split(" ")]
    return any(hmac.compare_digest(expected, s) for s in offered)


def _deliver_until(hub: Hub, done: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        core(hub).courier.run(max_seconds=1.0)
        if callable(done) and done():
            return
        time.sleep(0.05)


def _made(hub: Hub, subjects: list[str], url: str | None) -> dict[str, object]:
    response = subscribe(hub, status_body(subjects, url))
    assert response.status_code == 201, response.text
    core(hub).change_reader.run()  # the first run reads the stream to its end: no events
    made: dict[str, object] = response.json()
    return made


def _changed_while_down(
    hub: Hub, city: LegacyWorld, sink: Receiver, subjects: list[str]
) -> dict[str, object]:
    """A webhook subscription of *subjects*; the receiver goes down; each subject changes at
    the source and the change job makes the events."""
    made = _made(hub, subjects, sink.url)
    sink.up = False
    for subject in subjects:
        change_status(city, subject)
    core(hub).change_reader.run()
    return made


def test_a_change_at_the_source_reaches_the_webhook_signed_in_order_and_audited(
    hub: Hub, city: LegacyWorld
) -> None:
    first, second, other = insured(city, 3)
    with receiver() as sink:
        made = _made(hub, [first, second], sink.url)
        secret = str(made["secret"])
        assert secret.startswith("whsec_")
        assert "secret" not in call(hub, "GET", f"/subscriptions/{made['id']}").json()

        change_status(city, second)
        change_status(city, other)  # not subscribed: no event
        change_status(city, first)
        assert core(hub).change_reader.run().events == 2
        _deliver_until(hub, lambda: len(sink.received) == 2)

    assert [_verified(secret, got) for got in sink.received] == [True, True]
    events = [payload(got.body) for got in sink.received]
    assert [e["data"]["seq"] for e in events] == [1, 2]
    assert [e["data"]["subject"]["id"] for e in events] == [second, first]
    assert [e["data"]["attributes"][STATUS]["value"] for e in events] == ["terminated"] * 2
    assert [got.headers["webhook-id"] for got in sink.received] == [e["data"]["id"] for e in events]
    with unit_of_work(hub.sessions) as session:
        entries = [
            json.loads(r.entry)
            for r in session.scalars(select(AuditRecord).order_by(AuditRecord.index))
        ]
    released = [e for e in entries if e["kind"] == "event"]
    assert [list(validator("audit-entry").iter_errors(e)) for e in released] == [[], []]
    assert [e["attributes"][STATUS]["outcome"] for e in released] == ["released"] * 2
    assert all(first not in json.dumps(e) and second not in json.dumps(e) for e in released)
    assert [e["data"]["audit"]["index"] for e in events] == sorted(
        r for r in (e["data"]["audit"]["index"] for e in events)
    )


def test_a_receiver_that_was_down_gets_every_event_in_order_when_it_is_back(
    hub: Hub, city: LegacyWorld
) -> None:
    subjects = insured(city, 3)
    with receiver() as sink:
        made = _changed_while_down(hub, city, sink, subjects)
        core(hub).courier.run(max_seconds=0.2)
        assert sink.refused >= 1
        assert sink.received == []
        sink.up = True
        _deliver_until(hub, lambda: len(sink.received) == 3)

    seqs = [payload(got.body)["data"]["seq"] for got in sink.received]
    assert seqs == [1, 2, 3]
    listed = call(hub, "GET", f"/subscriptions/{made['id']}/events").json()["events"]
    assert [e["status"] for e in listed] == ["delivered"] * 3
    assert listed[0]["attempts"] >= 2


def test_dead_lettered_events_are_listed_and_replayed_with_the_same_ids(
    hub: Hub, city: LegacyWorld
) -> None:
    subjects = insured(city, 2)
    with receiver() as sink:
        made = _changed_while_down(hub, city, sink, subjects)
        path = f"/subscriptions/{made['id']}/events"
        _deliver_until(
            hub, lambda: len(call(hub, "GET", f"{path}?status=dead").json()["events"]) == 2
        )
        dead = call(hub, "GET", f"{path}?status=dead").json()["events"]
        assert [(e["seq"], e["attempts"], e["last_error"]) for e in dead] == [
            (1, 4, "http_503"),
            (2, 4, "http_503"),
        ]
        sink.up = True
        core(hub).courier.run(max_seconds=0.5)
        assert sink.received == []  # dead letters stay dead until replayed

        replayed = call(hub, "POST", f"/subscriptions/{made['id']}/replay", {})
        assert replayed.status_code == 200, replayed.text
        assert sorted(replayed.json()["replayed"]) == sorted(e["id"] for e in dead)
        _deliver_until(hub, lambda: len(sink.received) == 2)

    assert [got.headers["webhook-id"] for got in sink.received] == [e["id"] for e in dead]
    assert [payload(got.body)["data"]["seq"] for got in sink.received] == [1, 2]
    again = call(hub, "POST", f"/subscriptions/{made['id']}/replay", {"events": [dead[0]["id"]]})
    assert again.status_code == 200  # a delivered event may be asked for again
    pending = call(hub, "POST", f"/subscriptions/{made['id']}/replay", {"events": [dead[0]["id"]]})
    assert pending.status_code == 409
    assert pending.json()["code"] == "subscription_event_pending"


def test_a_pull_consumer_reads_events_after_a_number_and_acknowledges_them(
    hub: Hub, city: LegacyWorld
) -> None:
    subjects = insured(city, 2)
    made = _made(hub, subjects, None)
    assert "secret" not in made
    for subject in subjects:
        change_status(city, subject)
    core(hub).change_reader.run()
    assert core(hub).courier.run(max_seconds=0.2).delivered == 0  # nothing is pushed
    path = f"/subscriptions/{made['id']}"

    listed = call(hub, "GET", f"{path}/events?after=0").json()["events"]
    assert [(e["seq"], e["status"]) for e in listed] == [(1, "pending"), (2, "pending")]
    assert listed[0]["payload"]["data"]["attributes"][STATUS]["value"] == "terminated"
    assert call(hub, "GET", f"{path}/events?after=1").json()["events"][0]["seq"] == 2

    acked = call(hub, "POST", f"{path}/ack", {"seq": 1})
    assert acked.json() == {"acknowledged": 1, "up_to": 1}
    statuses = [e["status"] for e in call(hub, "GET", f"{path}/events").json()["events"]]
    assert statuses == ["acked", "pending"]
    assert call(hub, "GET", f"{path}").json()["last_seq"] == 2


def test_two_workers_delivering_at_once_send_each_event_once_and_in_order(
    hub: Hub, city: LegacyWorld
) -> None:
    """Two couriers claim from one outbox at the same time (PostgreSQL: ``FOR UPDATE SKIP
    LOCKED`` and leases; SQLite: serialised writers): every event arrives once, each
    subscription's in order."""
    people = insured(city, 6)
    with receiver() as sink:
        made = [_made(hub, people[i : i + 2], sink.url) for i in range(0, 6, 2)]
        for turn in range(6):  # the stream shows a row's latest state: one read per turn
            for person in people:
                change_status(city, person, "3" if turn % 2 else "2")
            assert core(hub).change_reader.run().events == 6
        courier = core(hub).courier
        workers = [threading.Thread(target=courier.run) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        _deliver_until(hub, lambda: len(sink.received) >= 36)

    ids = [got.headers["webhook-id"] for got in sink.received]
    assert len(ids) == len(set(ids)) == 36
    for sub in made:
        seqs = [
            payload(got.body)["data"]["seq"]
            for got in sink.received
            if payload(got.body)["data"]["subscription"] == sub["id"]
        ]
        assert seqs == list(range(1, 13))


def test_a_conditional_field_flows_under_its_agreement_and_stops_when_it_is_revoked(
    hub: Hub, city: LegacyWorld
) -> None:
    """The policy engine decides again on every run: after the provider revokes the agreement,
    a change releases nothing and makes no event."""
    first, second = insured(city, 2)
    body = {
        "purpose": "school-enrolment",
        "attributes": ["social_insurance.months_paid"],
        "agreement": AGREEMENT,
        "subjects": [first, second],
    }
    made = subscribe(hub, body, system=EDU)
    assert made.status_code == 201, made.text
    path = f"/subscriptions/{made.json()['id']}/events"
    core(hub).change_reader.run()
    change_status(city, first)
    assert core(hub).change_reader.run().events == 1
    event = call(hub, "GET", path, system=EDU).json()["events"][0]["payload"]["data"]
    released = event["attributes"]["social_insurance.months_paid"]
    assert (released["release"], released["source"]["resource"]) == ("clear", "HRSS-SB-0001")

    claims = {"sub": "hrss-admin-1", "role": "department_admin", "department": "HRSS"}
    token = hub.client.post("/dev/idp/token", json=claims).json()["id_token"]
    revoked = hub.client.post(
        f"/agreements/{AGREEMENT}/revoke",
        json={"reason": "审计发现超范围使用"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert revoked.status_code == 200, revoked.text
    change_status(city, second)
    assert core(hub).change_reader.run().events == 0
    assert len(call(hub, "GET", path, system=EDU).json()["events"]) == 1


def test_an_event_released_about_a_citizen_is_one_of_their_accesses(
    hub: Hub, city: LegacyWorld
) -> None:
    """A subscription event is data released to a system, as a query's answer is: the citizen
    finds it in their access list, and in the list their completeness check covers."""
    (subject,) = insured(city, 1)
    _made(hub, [subject], None)
    change_status(city, subject)
    assert core(hub).change_reader.run().events == 1
    claims = {"sub": subject, "role": "citizen"}
    token = hub.client.post("/dev/idp/token", json=claims).json()["id_token"]
    mine = hub.client.get(
        "/citizen/accesses", params={"limit": 100}, headers={"authorization": f"Bearer {token}"}
    )
    assert mine.status_code == 200, mine.text
    events = [a for a in mine.json()["accesses"] if a["kind"] == "event"]
    assert len(events) == 1
    assert events[0]["system"] == MCA


def test_a_subscription_says_when_the_hub_watches_its_streams(hub: Hub, city: LegacyWorld) -> None:
    """Until the change job has read the stream to its end once, a change is part of the start
    and makes no event: ``watching`` tells the consumer when changes start to count."""
    (subject,) = insured(city, 1)
    made = subscribe(hub, status_body([subject], None)).json()
    path = f"/subscriptions/{made['id']}"
    assert call(hub, "GET", path).json()["watching"] is False
    change_status(city, subject)  # before the first read: part of the start
    assert core(hub).change_reader.run().events == 0
    assert call(hub, "GET", path).json()["watching"] is True
    change_status(city, subject, "2")
    assert core(hub).change_reader.run().events == 1
