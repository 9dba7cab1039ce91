"""Scorecards (共享评价) end to end (SQLite and PostgreSQL): a month of real work through the API
(handlings, a wrong-purpose query, a correction request answered on time, an agreement
application refused, ratings, a probe of every source) read back by the data authority as JSON
and CSV, refused to everyone else; and the public statistics without sign-in, small cells
suppressed, no personal data anywhere."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exchange import clock
from exchange.api import public_stats
from exchange.db import unit_of_work
from exchange.jobs.spec import JobContext
from exchange.scorecards.compute import month_range
from exchange.scorecards.jobs import probe_sources
from exchange.scorecards.models import SourceProbe
from exchange.security.identity import Role
from tests.exchange.world import Hub
from tests.scorecards.conftest import (
    PURPOSE,
    SERVICE_ITEM,
    Person,
    admin,
    authority,
    citizen,
    handled,
)

ADDRESS = "household.registered_address"
COMMENT = "门牌号有误，窗口又让我补交户口簿。"


def probe(hub: Hub) -> None:
    state = hub.client.app.state.hub  # type: ignore[attr-defined]
    context = JobContext(state.settings, state.sessions, clock.now())
    probe_sources(state.sources, context)


def month_of_work(hub: Hub, people: dict[str, str]) -> dict[str, Any]:
    """Everything the scorecards count, done through the API this month."""
    person, other = people["has_property"], people["no_property"]
    request_id = handled(hub, person)
    handled(hub, other)
    wrong_purpose = {
        "subject": {"id_type": "CN-RIC", "id": other},
        "purpose": "minimum-living-allowance",
        "attributes": [ADDRESS],
    }
    assert hub.query(wrong_purpose).status_code == 403
    filed = hub.client.post(
        "/corrections",
        json={
            "subject": {"id_type": "CN-RIC", "id": person},
            "attribute": ADDRESS,
            "request_id": request_id,
            "evidence": "户籍地址与房产证地址不一致",
        },
        headers={"authorization": f"Bearer {hub.token()}"},
    )
    assert filed.status_code == 201, filed.text
    refused = admin(hub, "PSB").post(
        f"/department/corrections/{filed.json()['id']}/reject", {"reason": "经核查登记无误"}
    )
    assert refused.status_code == 200, refused.text
    applied = admin(hub, "EDU").post(
        "/agreements",
        {
            "system": "edu-enrolment",
            "resource": "REG-BDC-0001",
            "fields": ["certificate_no", "address"],
            "purpose": PURPOSE,
            "legal_basis": "《中华人民共和国义务教育法》第十二条",
            "justification": "入学登记核验家庭住房情况。",
            "valid_until": (datetime.now(UTC).date() + timedelta(days=200)).isoformat(),
        },
    )
    assert applied.status_code == 201, applied.text
    decided = admin(hub, "REG").post(
        f"/agreements/{applied.json()['id']}/decision",
        {"decision": "refuse", "reason": "申请用途已由现有协议覆盖"},
    )
    assert decided.status_code == 200, decided.text
    rated = citizen(hub, person).post(
        "/citizen/feedback",
        {
            "service_item": SERVICE_ITEM,
            "score": 2,
            "wrong": [ADDRESS],
            "asked_again": ["household.name"],
            "comment": COMMENT,
        },
    )
    assert rated.status_code == 201, rated.text
    quality = admin(hub, "EDU").post(
        "/department/feedback", {"resource": "PSB-HJ-0001", "score": 4, "comment": COMMENT}
    )
    assert quality.status_code == 201, quality.text
    probe(hub)
    return {"person": person, "other": other}


def card(cards: list[dict[str, Any]], department: str) -> dict[str, Any]:
    return next(c for c in cards if c["department"] == department)


def test_the_authority_sees_the_months_work_per_provider_consumer_and_city(
    hub: Hub, people: dict[str, str]
) -> None:
    done = month_of_work(hub, people)
    answer = authority(hub).get("/authority/scorecards")
    assert answer.status_code == 200, answer.text
    cards = answer.json()
    assert cards["month"] == month_range(None, clock.now()).month
    psb = card(cards["providers"], "PSB")
    assert psb["corrections"] | {"on_time_rate": None} == {
        "received": 1,
        "answered": 1,
        "on_time": 1,
        "on_time_rate": None,
        "overdue_open": 0,
    }
    assert psb["corrections"]["on_time_rate"] == 1.0
    assert psb["disputed_attributes"] == [ADDRESS]
    assert psb["ratings"] == {"count": 1, "mean_score": 4.0, "wrong_marks": 1, "asked_again": 1}
    assert psb["sources"]["probes"] >= 1
    assert psb["sources"]["availability"] == 1.0
    assert psb["sources"]["latency_p50_ms"] is not None
    assert psb["sources"]["fetches"] >= 2
    reg = card(cards["providers"], "REG")
    assert (reg["applications"]["received"], reg["applications"]["on_time"]) == (1, 1)
    edu = card(cards["consumers"], "EDU")
    assert edu["use"]["accesses"] == 3
    assert edu["use"]["outside_purpose"] == 1
    assert edu["usage_records"] == "not_built"
    assert edu["ratings"]["count"] == 1
    assert edu["ratings"]["mean_score"] == 2.0
    city = cards["city"]
    assert city["use"]["accesses"] >= 3
    assert city["corrections"]["received"] == 1
    assert cards["trend"][-1]["month"] == cards["month"]
    assert len(cards["trend"]) == 6
    text = answer.text
    for personal in (done["person"], done["other"], COMMENT):
        assert personal not in text


def test_the_csv_report_is_one_row_per_department_and_the_city_without_personal_data(
    hub: Hub, people: dict[str, str]
) -> None:
    done = month_of_work(hub, people)
    answer = authority(hub).get("/authority/scorecards.csv")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    text = answer.content.decode("utf-8")
    assert text.startswith("\ufeff月份,类别,部门代码,部门名称")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    by = {(r["类别"], r["部门代码"]): r for r in rows}
    assert by[("提供部门", "PSB")]["收到纠错请求"] == "1"
    assert by[("使用部门", "EDU")]["使用记录"] == "未建立"
    assert by[("使用部门", "EDU")]["调用次数"] == "3"
    assert rows[-1]["类别"] == "全市"
    for personal in (done["person"], done["other"], COMMENT):
        assert personal not in text


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.OPERATOR, Role.DEPARTMENT_ADMIN, Role.CITIZEN])
def test_everyone_but_the_authority_is_refused_the_scorecards(hub: Hub, role: Role) -> None:
    who = Person(hub, "11010519491231002X" if role is Role.CITIZEN else "someone", role, "PSB")
    for path in ("/authority/scorecards", "/authority/scorecards.csv"):
        answer = who.get(path)
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "forbidden"
    assert who.get("/authority/feedback", department="PSB").status_code == 403
    assert hub.client.get("/authority/scorecards").status_code == 401


@pytest.mark.parametrize(
    ("month", "detail"),
    [("2026-13", "YYYY-MM"), ("1899-01", "YYYY-MM"), ("2099-01", "not begun")],
)
def test_a_bad_month_is_pointed_at(hub: Hub, month: str, detail: str) -> None:
    for path in ("/authority/scorecards", "/authority/scorecards.csv"):
        answer = authority(hub).get(path, month=month)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert [e["pointer"] for e in problem["errors"]] == ["/month"]
        assert detail in problem["errors"][0]["detail"]
    assert hub.client.get("/public/statistics", params={"month": month}).status_code == 422


def test_the_authority_reads_the_ratings_about_a_department_with_comments_but_not_the_person(
    hub: Hub, people: dict[str, str]
) -> None:
    done = month_of_work(hub, people)
    answer = authority(hub).get("/authority/feedback", department="PSB")
    assert answer.status_code == 200, answer.text
    ratings = answer.json()["ratings"]
    assert {r["rater"] for r in ratings} == {"citizen", "department"}
    assert all(r["comment"] == COMMENT for r in ratings)
    assert done["person"] not in answer.text
    assert "subject" not in answer.text


def test_the_public_statistics_need_no_sign_in_and_suppress_small_counts(
    hub: Hub, people: dict[str, str]
) -> None:
    done = month_of_work(hub, people)
    answer = hub.client.get("/public/statistics")
    assert answer.status_code == 200, answer.text
    stats = answer.json()
    assert stats["threshold"] == 10
    edu = next(d for d in stats["departments"] if d["department"] == "EDU")
    assert edu["total"] is None  # 3 accesses: below the threshold
    assert all(item["count"] is None for item in edu["service_items"])
    assert stats["total"] is None
    page = hub.client.get("/statistics")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "政务数据共享公开统计" in page.text
    assert "&lt;10" in page.text
    assert "<script" not in page.text
    for text in (answer.text, page.text):
        for personal in (done["person"], done["other"], COMMENT):
            assert personal not in text


def test_counts_at_the_threshold_are_shown(hub: Hub, people: dict[str, str]) -> None:
    for _ in range(10):
        handled(hub, people["has_property"])
    stats = hub.client.get("/public/statistics").json()
    edu = next(d for d in stats["departments"] if d["department"] == "EDU")
    assert edu["total"] == 10
    assert edu["service_items"] == [{"code": SERVICE_ITEM, "name": "义务教育入学登记", "count": 10}]
    assert stats["total"] == 10
    page = hub.client.get("/statistics").text
    assert "义务教育入学登记" in page


def test_availability_and_latency_count_the_months_probes_down_ones_included(hub: Hub) -> None:
    """Probes as the job keeps them: two of PSB's four this month failed (their round trip not
    counted), one last month is not this month's."""
    now = clock.now()
    earlier = month_range(None, now).since - timedelta(days=3)
    with unit_of_work(hub.sessions, write=True) as session:
        for at, ok, ms in [
            (now - timedelta(minutes=45), True, 4.0),
            (now - timedelta(minutes=30), False, 0.0),
            (now - timedelta(minutes=15), False, 0.0),
            (now - timedelta(minutes=1), True, 8.0),
            (earlier, False, 0.0),
        ]:
            session.add(
                SourceProbe(
                    resource="PSB-HJ-0001", provider="PSB", probed_at=at, ok=ok, latency_ms=ms
                )
            )
    cards = authority(hub).get("/authority/scorecards").json()
    psb = card(cards["providers"], "PSB")["sources"]
    assert (psb["probes"], psb["availability"]) == (4, 0.5)
    assert psb["latency_p50_ms"] == 6.0
    assert card(cards["providers"], "MCA")["sources"]["availability"] is None  # no probes: unknown


def test_the_public_statistics_are_counted_once_per_interval_not_per_request(
    hub: Hub, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(10):
        handled(hub, people["has_property"])
    first = hub.client.get("/public/statistics").json()
    assert first["total"] == 10
    handled(hub, people["has_property"])
    assert hub.client.get("/public/statistics").json()["total"] == 10  # the kept answer
    monkeypatch.setattr(public_stats, "RECOUNT_CURRENT", 0.0)
    assert hub.client.get("/public/statistics").json()["total"] == 11  # counted again
