"""Feedback (好差评) end to end (SQLite and PostgreSQL): a citizen rates the data side of a
service item the audit log shows was handled for them, a consumer department rates a provider's
data quality for a resource it received; every rating is a ``rating`` audit entry without the
comment; every misuse is a precise problem+json and nothing is stored."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from exchange.feedback.models import Rating
from schemas import validator
from tests.exchange.world import Hub
from tests.scorecards.conftest import SERVICE_ITEM, admin, citizen, handled

COMMENT = "窗口仍要求提交户口簿复印件，希望改进。"


def ratings_stored(hub: Hub) -> int:
    with unit_of_work(hub.sessions) as session:
        return session.scalar(select(func.count()).select_from(Rating)) or 0


def log_size(hub: Hub) -> int:
    with unit_of_work(hub.sessions) as session:
        return session.scalar(select(func.count()).select_from(AuditRecord)) or 0


def rating_entries(hub: Hub) -> list[dict[str, Any]]:
    with unit_of_work(hub.sessions) as session:
        rows = session.scalars(
            select(AuditRecord.entry)
            .where(AuditRecord.kind == "rating")
            .order_by(AuditRecord.index)
        )
        return [json.loads(row) for row in rows]


def assert_refused(
    hub: Hub, answer: Any, status: int, code: str, pointer: str | None = None
) -> None:
    """A precise problem+json, and nothing stored."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] == code, problem
    if pointer is not None:
        assert [e["pointer"] for e in problem["errors"]] == [pointer], problem
    assert COMMENT not in answer.text


def test_a_citizen_rates_a_handled_service_item_and_the_log_holds_the_rating_but_not_the_comment(
    hub: Hub, people: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    person = people["has_property"]
    request_id = handled(hub, person)
    me = citizen(hub, person)
    listed = me.get("/citizen/feedback").json()["handlings"]
    assert [h["request_id"] for h in listed] == [request_id]
    assert listed[0]["service_item"] == SERVICE_ITEM
    assert listed[0]["rating"] is None
    released = {r["attribute"]: r for r in listed[0]["released"]}
    assert released["household.registered_address"]["provider"] == "PSB"
    assert released["household.registered_address"]["title"]
    assert {a["attribute"] for a in listed[0]["asks"]} >= {"household.name", "property.address"}
    caplog.set_level(logging.DEBUG)
    body = {
        "service_item": SERVICE_ITEM,
        "score": 2,
        "asked_again": ["household.name"],
        "wrong": ["household.registered_address"],
        "comment": COMMENT,
    }
    answer = me.post("/citizen/feedback", body)
    assert answer.status_code == 201, answer.text
    rating = answer.json()
    assert rating["handling"] == request_id
    assert rating["handled_by"] == "EDU"
    assert rating["score"] == 2
    assert rating["comment"] == COMMENT
    assert rating["objection"] == {"method": "POST", "path": "/citizen/corrections"}
    [entry] = rating_entries(hub)
    assert list(validator("audit-entry").iter_errors(entry)) == []
    assert entry["subject"] == "-"
    assert entry["object"]["handling"] == request_id
    assert entry["object"]["wrong"] == ["household.registered_address"]
    assert entry["object"]["commented"] is True
    assert COMMENT not in json.dumps(entry, ensure_ascii=False)
    assert all(COMMENT not in record.getMessage() for record in caplog.records)
    again = me.get("/citizen/feedback").json()["handlings"]
    assert again[0]["rating"]["id"] == rating["id"]


def test_a_rating_for_a_service_item_never_handled_for_the_citizen_is_refused(
    hub: Hub, people: dict[str, str]
) -> None:
    handled(hub, people["has_property"])
    other = citizen(hub, people["no_property"])
    size = log_size(hub)
    answer = other.post("/citizen/feedback", {"service_item": SERVICE_ITEM, "score": 5})
    assert_refused(hub, answer, 422, "rating_not_handled")
    answer = other.post("/citizen/feedback", {"service_item": "MCA-DBSQ-001", "score": 5})
    assert_refused(hub, answer, 422, "rating_not_handled")
    assert (ratings_stored(hub), log_size(hub)) == (0, size)


def test_a_citizen_cannot_rate_someone_elses_handling_by_its_request_id(
    hub: Hub, people: dict[str, str]
) -> None:
    theirs = handled(hub, people["has_property"])
    handled(hub, people["no_property"])
    me = citizen(hub, people["no_property"])
    answer = me.post(
        "/citizen/feedback", {"service_item": SERVICE_ITEM, "handling": theirs, "score": 1}
    )
    assert_refused(hub, answer, 422, "rating_not_handled")
    assert ratings_stored(hub) == 0


def test_a_second_rating_of_the_same_handling_is_refused_and_a_new_handling_can_be_rated(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    first = handled(hub, person)
    me = citizen(hub, person)
    assert (
        me.post("/citizen/feedback", {"service_item": SERVICE_ITEM, "score": 4}).status_code == 201
    )
    size = log_size(hub)
    again = me.post("/citizen/feedback", {"service_item": SERVICE_ITEM, "score": 1})
    assert_refused(hub, again, 409, "rating_exists")
    cited = me.post(
        "/citizen/feedback", {"service_item": SERVICE_ITEM, "handling": first, "score": 1}
    )
    assert_refused(hub, cited, 409, "rating_exists")
    assert (ratings_stored(hub), log_size(hub)) == (1, size)
    second = handled(hub, person)
    later = me.post("/citizen/feedback", {"service_item": SERVICE_ITEM, "score": 3})
    assert later.status_code == 201, later.text
    assert later.json()["handling"] == second


@pytest.mark.parametrize(
    ("comment", "pointer"),
    [
        ("好\u0007评", "/comment"),  # a control character
        ("好\r\n评", "/comment"),  # CR
        ("评" * 301, "/comment"),  # too long
    ],
)
def test_a_comment_with_control_characters_or_too_long_is_refused_without_echoing_it(
    hub: Hub, people: dict[str, str], comment: str, pointer: str
) -> None:
    person = people["has_property"]
    handled(hub, person)
    me = citizen(hub, person)
    answer = me.post(
        "/citizen/feedback", {"service_item": SERVICE_ITEM, "score": 3, "comment": comment}
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "malformed_request"
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    assert comment not in answer.text
    assert ratings_stored(hub) == 0


@pytest.mark.parametrize(
    ("field", "value", "code", "pointer"),
    [
        ("wrong", ["death.date_of_death"], "rating_unknown_attribute", "/wrong/0"),
        ("asked_again", ["household.nickname"], "rating_unknown_attribute", "/asked_again/0"),
        ("score", 6, "malformed_request", "/score"),
        ("score", 0, "malformed_request", "/score"),
    ],
)
def test_bad_attributes_and_scores_are_pointed_at(
    hub: Hub, people: dict[str, str], field: str, value: Any, code: str, pointer: str
) -> None:
    person = people["has_property"]
    handled(hub, person)
    body: dict[str, Any] = {"service_item": SERVICE_ITEM, "score": 3, field: value}
    answer = citizen(hub, person).post("/citizen/feedback", body)
    assert_refused(hub, answer, 422, code, pointer)
    assert ratings_stored(hub) == 0


def test_a_consumer_department_rates_a_provider_it_received_from_once_a_month(
    hub: Hub, people: dict[str, str]
) -> None:
    handled(hub, people["has_property"])
    edu = admin(hub, "EDU")
    offered = edu.get("/department/feedback").json()
    received = {r["resource"]: r for r in offered["received"]}
    assert received["PSB-HJ-0001"]["provider"] == "PSB"
    assert "household.registered_address" in {
        f["attribute"] for f in received["PSB-HJ-0001"]["fields"]
    }
    assert "MCA-SW-0001" not in received
    body = {"resource": "PSB-HJ-0001", "score": 4, "wrong": ["household.registered_address"]}
    answer = edu.post("/department/feedback", {**body, "comment": "个别地址门牌号过旧"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["provider"] == "PSB"
    [entry] = rating_entries(hub)
    assert list(validator("audit-entry").iter_errors(entry)) == []
    assert (entry["department"], entry["object"]["resource"]) == ("EDU", "PSB-HJ-0001")
    size = log_size(hub)
    assert_refused(hub, edu.post("/department/feedback", body), 409, "rating_exists")
    assert log_size(hub) == size
    assert [r["resource"] for r in edu.get("/department/feedback").json()["ratings"]] == [
        "PSB-HJ-0001"
    ]


def test_a_consumer_rating_a_provider_it_never_received_from_is_refused(
    hub: Hub, people: dict[str, str]
) -> None:
    handled(hub, people["has_property"])
    size = log_size(hub)
    never = admin(hub, "EDU").post("/department/feedback", {"resource": "MCA-SW-0001", "score": 1})
    assert_refused(hub, never, 422, "rating_not_received")
    no_system = admin(hub, "PSB").post(
        "/department/feedback", {"resource": "PSB-HJ-0001", "score": 5}
    )
    assert_refused(hub, no_system, 422, "rating_not_received")
    unknown = admin(hub, "EDU").post(
        "/department/feedback", {"resource": "NO-SUCH-0001", "score": 5}
    )
    assert_refused(hub, unknown, 422, "rating_not_received")
    other_field = admin(hub, "EDU").post(
        "/department/feedback",
        {"resource": "PSB-HJ-0001", "score": 2, "wrong": ["property.address"]},
    )
    assert_refused(hub, other_field, 422, "rating_unknown_attribute", "/wrong/0")
    assert (ratings_stored(hub), log_size(hub)) == (0, size)


def test_each_side_is_refused_the_others_routes(hub: Hub, people: dict[str, str]) -> None:
    person = people["has_property"]
    handled(hub, person)
    me, edu = citizen(hub, person), admin(hub, "EDU")
    assert me.get("/department/feedback").status_code == 403
    assert (
        me.post("/department/feedback", {"resource": "PSB-HJ-0001", "score": 5}).status_code == 403
    )
    assert edu.get("/citizen/feedback").status_code == 403
    assert (
        edu.post("/citizen/feedback", {"service_item": SERVICE_ITEM, "score": 5}).status_code == 403
    )
    assert hub.client.get("/citizen/feedback").status_code == 401
    assert ratings_stored(hub) == 0


def test_an_unknown_member_or_a_malformed_handling_is_refused(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    handled(hub, person)
    me = citizen(hub, person)
    extra = me.post("/citizen/feedback", {"service_item": SERVICE_ITEM, "score": 3, "stars": 5})
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["pointer"] == "/stars"
    bad = me.post(
        "/citizen/feedback",
        {"service_item": SERVICE_ITEM, "score": 3, "handling": str(uuid.uuid4()).upper()},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/handling"
    assert ratings_stored(hub) == 0
