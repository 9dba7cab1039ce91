"""Each kind of breach comes from real lifecycle actions (:func:`tests.compliance.conftest.story`)
and is mapped to its article of 《政务数据共享条例》, charged to the right department, and linked
to its case; steps done in time leave no breach; running clocks are listed with their days."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from exchange.security.identity import Role
from tests.compliance.conftest import Headers, Story


def _breaches(client: TestClient, headers: Headers, **query: Any) -> list[dict[str, Any]]:
    answer = client.get("/authority/compliance/breaches", params=query, headers=headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["breaches"]
    return found


def test_each_kind_of_breach_comes_from_its_records_with_its_article_and_case(
    client: TestClient, story: Story, as_role: Callable[..., Headers]
) -> None:
    found = _breaches(client, as_role(Role.DATA_AUTHORITY))
    seen = {(b["kind"], b["case"]["id"]): b for b in found}
    expected = {
        ("late_reply", story.late_reply): (39, "REG", True),
        ("late_delivery", story.late_delivery): (39, "REG", False),
        ("missing_usage_records", story.late_delivery): (40, "EDU", True),
        ("missing_usage_records", story.changed_under): (40, "EDU", True),
        ("unattested_disposal", story.late_delivery): (40, "EDU", True),
        ("service_changed_without_notice", story.deprecated): (39, "MCA", False),
        ("late_catalogue_update", story.update_duty): (39, "MCA", True),
        ("late_review", story.submission): (41, None, True),
        ("late_routing", story.demand_unrouted): (41, None, True),
        ("late_demand_reply", story.demand_unanswered): (39, "REG", True),
        ("late_dispute_coordination", story.dispute): (41, None, True),
        ("late_extension_decision", story.extension_undecided): (41, None, True),
        ("late_reply", story.extension_undecided): (39, "REG", True),
    }
    assert set(seen) == set(expected), sorted(set(seen) ^ set(expected))
    for key, (article, department, still_open) in expected.items():
        breach = seen[key]
        assert (breach["article"]["number"], breach["department"], breach["open"]) == (
            article,
            department,
            still_open,
        ), key
    late = seen[("late_delivery", story.late_delivery)]
    assert late["working_days_late"] > 0
    assert late["ended_on"] > late["due_on"]
    assert late["case"] == {
        "kind": "agreement",
        "id": story.late_delivery,
        "href": f"/authority/agreements/{story.late_delivery}/usage-records",
    }
    stopped = seen[("service_changed_without_notice", story.deprecated)]
    assert stopped["detail"]["agreements"] == [story.changed_under]
    assert seen[("late_review", story.submission)]["counterpart"] == "MCA"
    # the case each breach links to is readable by the authority
    headers = as_role(Role.DATA_AUTHORITY)
    for breach in found:
        if breach["case"]["href"] is not None:
            answer = client.get(breach["case"]["href"], headers=headers)
            assert answer.status_code == 200, (breach["case"], answer.text)


def test_steps_in_time_and_running_clocks_are_no_breach(
    client: TestClient, story: Story, as_role: Callable[..., Headers]
) -> None:
    found = _breaches(client, as_role(Role.DATA_AUTHORITY))
    cases = {b["case"]["id"] for b in found}
    assert story.on_time not in cases
    assert story.running_reply not in cases
    answer = client.get("/authority/compliance/clocks", headers=as_role(Role.DATA_AUTHORITY))
    clocks = {(c["kind"], c["case"]["id"]): c for c in answer.json()["clocks"]}
    running = clocks[("application_reply", story.running_reply)]
    assert (running["department"], running["overdue"]) == ("REG", False)
    assert running["working_days_left"] >= 1
    overdue = clocks[("application_reply", story.late_reply)]
    assert overdue["overdue"]
    assert overdue["working_days_left"] < 0
    assert clocks[("catalogue_review", story.submission)]["party"] == "authority"
    assert clocks[("dispute", story.dispute)]["party"] == "authority"
    assert ("demand_routing", story.demand_unrouted) in clocks
    assert ("demand_reply", story.demand_unanswered) in clocks
    assert ("catalogue_update", story.update_duty) in clocks
    # delivered and decided cases have no running clock
    assert not {k for k in clocks if k[1] in (story.on_time, story.late_delivery)}


def test_a_usage_record_filed_late_ends_the_breach(
    client: TestClient, story: Story, as_role: Callable[..., Headers], hub: Any
) -> None:
    from datetime import UTC, datetime

    from exchange.stewardship.service import Steward, StewardshipDesk, UsageText

    StewardshipDesk(hub.sessions).file_usage(
        Steward("edu-admin", "department_admin", "EDU"),
        story.changed_under,
        UsageText("入学登记", "逐件核验", "免交证明", "加密保存", "学年末删除"),
        datetime.now(UTC),
    )
    found = _breaches(client, as_role(Role.DATA_AUTHORITY), kind="missing_usage_records")
    ended = next(b for b in found if b["case"]["id"] == story.changed_under)
    assert not ended["open"]
    assert ended["ended_on"] is not None
    still = _breaches(
        client, as_role(Role.DATA_AUTHORITY), kind="missing_usage_records", open="true"
    )
    assert [b["case"]["id"] for b in still] == [story.late_delivery]


def test_a_service_stopped_after_its_notice_is_no_breach(
    client: TestClient, story: Story, as_role: Callable[..., Headers], hub: Any
) -> None:
    from datetime import timedelta

    from catalogue.publishing import deprecate_resource
    from exchange.agreements.workdays import china_day
    from exchange.db import unit_of_work
    from exchange.stewardship.service import Steward, announce_change

    noticed = story.start + timedelta(days=60)
    announce_change(
        hub.sessions,
        Steward("reg-admin", "department_admin", "REG"),
        "REG-BDC-0001",
        ("stop", []),
        china_day(noticed) + timedelta(days=2),
        "不动产登记系统迁移至省级平台",
        noticed,
    )
    with unit_of_work(hub.sessions, write=True) as session:
        deprecate_resource(session, "REG-BDC-0001", reason="迁移", now=noticed + timedelta(days=3))
    found = _breaches(client, as_role(Role.DATA_AUTHORITY), kind="service_changed_without_notice")
    assert [b["case"]["id"] for b in found] == [story.deprecated]
