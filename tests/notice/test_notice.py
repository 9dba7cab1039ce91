"""Notice without consent (PIPL art. 35) end to end (SQLite and PostgreSQL): each access records
the kind of its legal basis and the citizen sees it; a deferral asked by one department admin and
approved by a second hides the access from everything the citizen reads, while their list still
proves complete; when it ends (its date, by the job; its event, by the department) the access
is back with its mark; every misuse is a precise problem+json and nothing is stored. And the
disputed mark on verify answers and predicate releases."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
from sqlalchemy import func, select

from catalogue.vocabulary import Sensitivity, SharingType
from exchange.audit import merkle, vmap
from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld
from exchange.notice.basis import BasisKind, basis_of
from exchange.notice.models import DeferralStatus, NoticeDeferral, ReasonKind
from exchange.notice.service import end_due
from exchange.security.identity import Role
from policies.model import FieldDecision, FieldInfo, Release
from tests.exchange.world import Hub, Person

ADDRESS = "household.registered_address"
BIRTH = "household.birth_date"
ADULT = "household.age_at_least(18)"
PURPOSE = "school-enrolment"
LAW = "《中华人民共和国刑事诉讼法》第一百五十二条"


def edu(hub: Hub, n: int = 1) -> Person:
    return Person(hub, f"edu-admin-{n}", Role.DEPARTMENT_ADMIN, "EDU")


def accessed(hub: Hub, person: str, attributes: list[str] | None = None) -> dict[str, Any]:
    body = {
        "subject": {"id_type": "CN-RIC", "id": person},
        "purpose": PURPOSE,
        "attributes": attributes or [ADDRESS],
    }
    answer = hub.query(body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


_CHINA = ZoneInfo("Asia/Shanghai")


def tomorrow() -> str:
    return (datetime.now(UTC).astimezone(_CHINA).date() + timedelta(days=1)).isoformat()


def deferral(access: int, **more: Any) -> dict[str, Any]:
    return {
        "access": access,
        "reason_kind": "criminal_investigation",
        "reason": "案件侦查中，告知当事人将妨碍侦查（案号 2026-刑-0042）",
        "legal_basis": LAW,
        "until_event": "侦查终结",
        **more,
    }


def stored(hub: Hub) -> tuple[int, int]:
    """How many deferrals, and how many ``notice`` entries in the log."""
    with unit_of_work(hub.sessions) as session:
        rows = session.scalar(select(func.count()).select_from(NoticeDeferral)) or 0
        entries = session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.kind == "notice")
        )
        return rows, entries or 0


def problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    return body


def in_effect(hub: Hub, person: str) -> tuple[int, dict[str, Any]]:
    """An access to *person* whose notice is deferred (asked by one admin, approved by another)."""
    index = accessed(hub, person)["audit"]["index"]
    asked = edu(hub, 1).post("/department/deferrals", deferral(index))
    assert asked.status_code == 201, asked.text
    approved = edu(hub, 2).post(f"/department/deferrals/{asked.json()['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    body: dict[str, Any] = approved.json()
    return index, body


def citizen_view(hub: Hub, person: str) -> dict[str, Any]:
    body: dict[str, Any] = Person(hub, person, Role.CITIZEN).get("/citizen/accesses").json()
    return body


def proven_complete(body: dict[str, Any]) -> None:
    """What the console checks: the map proof holds for the listed entries, every access the
    checkpoint covers is among them with its leaf hash, and every listed access is shown."""
    complete = body["completeness"]
    assert complete is not None
    listed = [(e["index"], base64.b64decode(e["leaf_hash"])) for e in complete["entries"]]
    proof = base64.b64decode(complete["map_proof"])
    key = vmap.subject_key(complete["subject"])
    root = base64.b64decode(complete["map_root"])
    size = complete["tree_size"]
    assert vmap.verify_complete(root, key, listed, proof, size=size)
    shown = {a["index"]: merkle.leaf_hash(a["entry"].encode()) for a in body["accesses"]}
    covered = {i: leaf for i, leaf in shown.items() if i < size}
    accesses = {e["index"] for e in complete["entries"] if e["kind"] in ("query", "verify")}
    assert set(covered) == accesses
    assert all(dict(listed)[i] == leaf for i, leaf in covered.items())


# -- the legal basis kind --------------------------------------------------------------------


def test_each_access_records_its_legal_basis_kind_and_the_citizen_sees_it(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    answer = accessed(hub, person, [ADDRESS, "property.address", "household.relation_to_head"])
    record = next(r for r in hub.audit() if r.index == answer["audit"]["index"])
    attributes = json.loads(record.entry)["attributes"]
    assert attributes[ADDRESS]["basis"] == "statutory_duty"  # unconditional, its duty
    assert attributes["property.address"]["basis"] == "statutory_duty"  # under its agreement
    assert "agreement" in attributes["property.address"]
    assert "basis" not in attributes["household.relation_to_head"]  # denied: nothing accessed
    view = next(a for a in citizen_view(hub, person)["accesses"] if a["index"] == record.index)
    assert view["basis_kinds"] == ["statutory_duty"]
    assert view["fields"][ADDRESS]["basis"] == "statutory_duty"
    assert view["fields"]["household.relation_to_head"]["basis"] is None
    assert view["legal_bases"] or view["agreements"]  # the text or the agreement it rests on


def _decision(**more: Any) -> FieldDecision:
    info = FieldInfo(
        resource="PSB-HJ-0001",
        version=1,
        provider="PSB",
        namespace="household",
        name="name",
        sharing=SharingType.CONDITIONAL,
        sensitivity=Sensitivity.PERSONAL,
    )
    base: dict[str, Any] = {
        "attribute": "household.name",
        "field": info,
        "release": Release.CLEAR,
        "reason": None,
        "rules": (),
    }
    return FieldDecision(**{**base, **more})


def test_the_kind_is_what_the_decision_used_never_what_the_caller_said() -> None:
    assert basis_of(_decision(consent_id="cn-1", agreement_id="AG-1")) == (BasisKind.CONSENT, None)
    assert basis_of(_decision(agreement_id="AG-1", rules=("agreement:AG-1",))) == (
        BasisKind.STATUTORY_DUTY,
        None,
    )
    assert basis_of(_decision(rules=("sharing.unconditional",))) == (
        BasisKind.STATUTORY_DUTY,
        None,
    )
    assert basis_of(_decision(rules=("sharing.public",), legal_basis="我说的")) == (
        BasisKind.OTHER,
        "sharing.public",
    )
    assert basis_of(_decision(release=None, rules=("default.deny",))) is None


# -- the disputed mark on verify answers and predicate releases ------------------------------


def test_verify_answers_and_predicate_releases_carry_the_disputed_mark(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    answer = accessed(hub, person, [ADULT])
    assert ADULT in answer["attributes"]
    assert "disputed" not in answer["attributes"][ADULT]
    filed = hub.client.post(
        "/corrections",
        json={
            "subject": {"id_type": "CN-RIC", "id": person},
            "attribute": BIRTH,
            "request_id": answer["request_id"],
            "evidence": "出生日期与出生医学证明不一致",
        },
        headers={"authorization": f"Bearer {hub.token()}"},
    )
    assert filed.status_code == 201, filed.text
    mark = {"correction": filed.json()["id"], "since": filed.json()["filed_at"]}
    again = accessed(hub, person, [ADULT])
    assert again["attributes"][ADULT]["disputed"]["correction"] == mark["correction"]
    claims = {"subject": {"id_type": "CN-RIC", "id": person}, "purpose": PURPOSE}
    checked = hub.verify({**claims, "claims": {ADULT: True, ADDRESS: "不是这个地址"}})
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert set(body["disputed"]) == {ADULT}  # the address is not disputed
    assert body["disputed"][ADULT]["correction"] == mark["correction"]
    evidence = jwt.decode(body["evidence"], options={"verify_signature": False})
    assert evidence["disputed"] == body["disputed"]
    assert evidence["verified"] == body["results"]


# -- deferred notice -------------------------------------------------------------------------


def test_a_deferred_access_is_hidden_from_the_citizen_whose_list_still_proves_complete(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    before = accessed(hub, person)["audit"]["index"]
    auditor = Person(hub, "auditor-1", Role.AUDITOR)
    assert auditor.post("/audit/checkpoint").status_code == 200
    index, _ = in_effect(hub, person)
    after = accessed(hub, person)["audit"]["index"]  # a later access stays visible
    assert auditor.post("/audit/checkpoint").status_code == 200
    body = citizen_view(hub, person)
    shown = {a["index"] for a in body["accesses"]}
    assert index not in shown
    assert {before, after} <= shown
    assert all(e["index"] != index for e in body["completeness"]["entries"])
    assert body["completeness"]["tree_size"] <= index  # proven below the deferred access
    proven_complete(body)
    citizen = Person(hub, person, Role.CITIZEN)
    size = body["head"]["size"]
    refused = citizen.get("/audit/proof/inclusion", index=index, size=size)
    stranger = citizen.get("/audit/proof/inclusion", index=0, size=size)
    assert refused.status_code == stranger.status_code == 403
    assert refused.json()["detail"] == stranger.json()["detail"]
    assert citizen.get("/audit/proof/inclusion", index=after, size=size).status_code == 200
    released = citizen.get("/citizen/released").json()["attributes"]
    times = next(a["times"] for a in released if a["attribute"] == ADDRESS)
    assert times == 2  # before and after, not the deferred one
    assert "deferred" not in json.dumps(body, ensure_ascii=False).replace('"deferred": null', "")


def test_the_event_ends_it_and_the_access_is_shown_with_its_mark(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    index, made = in_effect(hub, person)
    assert index not in {a["index"] for a in citizen_view(hub, person)["accesses"]}
    ended = edu(hub, 1).post(f"/department/deferrals/{made['id']}/event")
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended"
    assert ended.json()["ended_by"] == "event"
    Person(hub, "auditor-1", Role.AUDITOR).post("/audit/checkpoint")
    body = citizen_view(hub, person)
    access = next(a for a in body["accesses"] if a["index"] == index)
    assert access["deferred"]["reason_kind"] == "criminal_investigation"
    assert access["deferred"]["legal_basis"] == LAW
    assert access["deferred"]["ended_by"] == "event"
    assert "案号" not in json.dumps(body, ensure_ascii=False)  # never the reason's details
    assert body["completeness"]["tree_size"] > index
    proven_complete(body)


def test_the_job_ends_a_deferral_on_its_day_and_logs_it(hub: Hub, people: dict[str, str]) -> None:
    person = people["has_property"]
    index = accessed(hub, person)["audit"]["index"]
    body = deferral(index, until=tomorrow(), until_event=None)
    asked = edu(hub, 1).post("/department/deferrals", body)
    assert asked.status_code == 201, asked.text
    assert edu(hub, 2).post(f"/department/deferrals/{asked.json()['id']}/approve").is_success
    with unit_of_work(hub.sessions, write=True) as session:
        assert end_due(session, datetime.now(UTC)) == 0  # not yet its day
    assert index not in {a["index"] for a in citizen_view(hub, person)["accesses"]}
    with unit_of_work(hub.sessions, write=True) as session:
        assert end_due(session, datetime.now(UTC) + timedelta(days=2)) == 1
    shown = next(a for a in citizen_view(hub, person)["accesses"] if a["index"] == index)
    assert shown["deferred"]["ended_by"] == "date"
    listed = Person(hub, "auditor-1", Role.AUDITOR).get("/audit/deferrals").json()["deferrals"]
    one = next(d for d in listed if d["id"] == asked.json()["id"])
    assert [e["outcome"] for e in one["entries"]] == ["requested", "approved", "ended"]
    assert one["checks_pass"], one["checks"]
    ended = json.loads(one["entries"][-1]["entry"])
    assert ended["subject"] == "-"
    assert ended["object"]["by_role"] == "hub"


def test_the_auditor_sees_who_asked_and_who_approved_and_the_reason_matches_its_digest(
    hub: Hub, people: dict[str, str]
) -> None:
    _, made = in_effect(hub, people["has_property"])
    auditor = Person(hub, "auditor-1", Role.AUDITOR)
    one = next(
        d for d in auditor.get("/audit/deferrals").json()["deferrals"] if d["id"] == made["id"]
    )
    assert one["requested_by"] == "edu-admin-1"
    assert one["decided_by"] == "edu-admin-2"
    assert one["checks_pass"]
    assert one["checks"]["two_people"]
    entries = [json.loads(e["entry"]) for e in one["entries"]]
    assert [e["object"]["by"] for e in entries] == ["edu-admin-1", "edu-admin-2"]
    assert all(e["subject"] == "-" and e["object"]["legal_basis"] == LAW for e in entries)
    assert "案号" not in json.dumps(entries, ensure_ascii=False)  # the log holds the digest
    assert edu(hub, 1).get("/audit/deferrals").status_code == 403
    assert Person(hub, "psb-admin", Role.DEPARTMENT_ADMIN, "PSB").get(
        "/department/deferrals"
    ).json() == {"deferrals": []}


def test_a_row_written_past_the_service_hides_nothing(hub: Hub, people: dict[str, str]) -> None:
    person = people["has_property"]
    index = accessed(hub, person)["audit"]["index"]
    record = next(r for r in hub.audit() if r.index == index)
    with unit_of_work(hub.sessions, write=True) as session:
        session.add(
            NoticeDeferral(
                id="dfr-00000000-0000-4000-8000-000000000000",
                access_index=index,
                subject=record.subject,
                system_id=record.system_id,
                department=record.department,
                reason_kind=ReasonKind.NATIONAL_SECURITY,
                reason="伪造",
                reason_salt="00" * 16,
                legal_basis=LAW,
                until=None,
                until_event="永不",
                status=DeferralStatus.ACTIVE,
                requested_by="x",
                requested_at=datetime.now(UTC),
            )
        )
    assert index in {a["index"] for a in citizen_view(hub, person)["accesses"]}
    listed = Person(hub, "auditor-1", Role.AUDITOR).get("/audit/deferrals").json()["deferrals"]
    forged = next(d for d in listed if d["id"].startswith("dfr-00000000"))
    assert not forged["checks_pass"]
    assert not forged["checks"]["requested_in_log"]


# -- bad input: precise problem+json, nothing stored ----------------------------------------


def test_bad_deferrals_are_refused_precisely_and_store_nothing(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    index = accessed(hub, person)["audit"]["index"]
    ask = edu(hub, 1)
    nothing = stored(hub)
    no_basis = deferral(index)
    del no_basis["legal_basis"]
    problem(ask.post("/department/deferrals", no_basis), 422, "deferral_no_legal_basis")
    blank = ask.post("/department/deferrals", deferral(index, legal_basis="   "))
    assert problem(blank, 422, "deferral_no_legal_basis")["errors"][0]["pointer"] == "/legal_basis"
    past = deferral(index, until="2020-01-01", until_event=None)
    problem(ask.post("/department/deferrals", past), 422, "deferral_end_in_past")
    today = datetime.now(UTC).astimezone(_CHINA).date().isoformat()
    problem(
        ask.post("/department/deferrals", deferral(index, until=today, until_event=None)),
        422,
        "deferral_end_in_past",
    )
    problem(ask.post("/department/deferrals", deferral(10**9)), 404, "deferral_access_not_found")
    correction_or_consent = next(r.index for r in hub.audit() if r.kind not in ("query", "verify"))
    problem(
        ask.post("/department/deferrals", deferral(correction_or_consent)),
        404,
        "deferral_access_not_found",
    )
    other = Person(hub, "psb-admin", Role.DEPARTMENT_ADMIN, "PSB")  # not PSB's access
    problem(other.post("/department/deferrals", deferral(index)), 404, "deferral_access_not_found")
    auditor = Person(hub, "auditor-1", Role.AUDITOR)
    problem(auditor.post("/department/deferrals", deferral(index)), 403, "deferral_forbidden")
    both = deferral(index, until=tomorrow())
    problem(ask.post("/department/deferrals", both), 422, "malformed_request")
    assert stored(hub) == nothing

    asked = ask.post("/department/deferrals", deferral(index))
    assert asked.status_code == 201, asked.text
    path = f"/department/deferrals/{asked.json()['id']}"
    after_request = stored(hub)
    assert after_request == (nothing[0] + 1, nothing[1] + 1)
    problem(ask.post("/department/deferrals", deferral(index)), 409, "deferral_exists")
    problem(ask.post(f"{path}/approve"), 403, "deferral_self_approval")
    problem(auditor.post(f"{path}/approve"), 403, "deferral_approver_role")
    operator = Person(hub, "ops-1", Role.OPERATOR)
    problem(operator.post(f"{path}/approve"), 403, "deferral_approver_role")
    problem(other.post(f"{path}/approve"), 404, "deferral_not_found")
    problem(ask.post(f"{path}/event"), 409, "deferral_not_active")
    assert stored(hub) == after_request
    assert index in {a["index"] for a in citizen_view(hub, person)["accesses"]}  # not yet

    assert edu(hub, 2).post(f"{path}/approve").status_code == 200
    approved = stored(hub)
    problem(edu(hub, 3).post(f"{path}/approve"), 409, "deferral_decided")
    problem(edu(hub, 3).post(f"{path}/refuse"), 409, "deferral_decided")
    assert stored(hub) == approved


def test_a_refused_deferral_never_hides_the_access(hub: Hub, people: dict[str, str]) -> None:
    person = people["has_property"]
    index = accessed(hub, person)["audit"]["index"]
    asked = edu(hub, 1).post("/department/deferrals", deferral(index))
    refused = edu(hub, 2).post(f"/department/deferrals/{asked.json()['id']}/refuse")
    assert refused.status_code == 200
    assert refused.json()["status"] == "refused"
    assert index in {a["index"] for a in citizen_view(hub, person)["accesses"]}
    again = edu(hub, 1).post("/department/deferrals", deferral(index))  # may be asked again
    assert again.status_code == 201, again.text


# -- the demo --------------------------------------------------------------------------------


def test_the_demo_shows_one_ended_one_active_and_one_awaiting_deferral(
    hub: Hub, city: LegacyWorld
) -> None:
    from exchange.demo.notice import add_deferrals

    subjects = [{"id": s.id_number, "kind": s.kind} for s in city.subjects]
    made = add_deferrals(hub.client.app.state.hub, subjects)  # type: ignore[attr-defined]
    assert set(made) == {"ended", "active", "requested", "standing_ended", "standing_active"}
    listed = Person(hub, "auditor-1", Role.AUDITOR).get("/audit/deferrals").json()["deferrals"]
    status = {d["id"]: d for d in listed}
    per_access = ("ended", "active", "requested")
    assert {status[made[k]]["status"] for k in per_access} == set(per_access)
    assert all(status[made[k]]["checks_pass"] for k in ("ended", "active"))
    shown = next(s["id"] for s in subjects if s["kind"] == "multiple_properties")
    marked = [a for a in citizen_view(hub, shown)["accesses"] if a["deferred"]]
    assert [a["index"] for a in marked] == [status[made["ended"]]["access"]]
    hidden = [s["id"] for s in subjects if s["kind"] == "has_property"][-1]
    indexes = {a["index"] for a in citizen_view(hub, hidden)["accesses"]}
    assert status[made["active"]]["access"] not in indexes
    standing = {
        d["id"]: d
        for d in Person(hub, "auditor-1", Role.AUDITOR)
        .get("/audit/standing-deferrals")
        .json()["deferrals"]
    }
    ended, active = standing[made["standing_ended"]], standing[made["standing_active"]]
    assert (ended["status"], active["status"]) == ("ended", "active")
    assert ended["checks_pass"]
    assert active["checks_pass"]
    assert (len(ended["accesses"]), len(active["accesses"])) == (2, 1)
    first_owner = next(s["id"] for s in subjects if s["kind"] == "has_property")
    marked = {a["index"] for a in citizen_view(hub, first_owner)["accesses"] if a["deferred"]}
    assert marked == set(ended["accesses"])
    first_without = next(s["id"] for s in subjects if s["kind"] == "no_property")
    shown = {a["index"] for a in citizen_view(hub, first_without)["accesses"]}
    assert not shown & set(active["accesses"])


def test_a_citizens_objection_cannot_learn_of_a_deferred_release(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["no_property"]
    in_effect(hub, person)  # the address's only release about them, deferred
    citizen = Person(hub, person, Role.CITIZEN)
    body = {"attribute": ADDRESS, "explanation": "门牌号已调整"}
    refused = citizen.post("/citizen/corrections", body)
    problem(refused, 422, "correction_not_received")
    assert citizen.get("/citizen/corrections").json()["corrections"] == []


def test_a_deferred_handling_is_not_offered_for_rating(hub: Hub, people: dict[str, str]) -> None:
    person = people["school_age_with_property"]
    body = {
        "subject": {"id_type": "CN-RIC", "id": person},
        "purpose": PURPOSE,
        "service_item": "EDU-RXDJ-001",
    }
    answer = hub.query(body)
    assert answer.status_code == 200, answer.text
    index, request_id = answer.json()["audit"]["index"], answer.json()["request_id"]
    citizen = Person(hub, person, Role.CITIZEN)
    assert request_id in citizen.get("/citizen/feedback").text
    asked = edu(hub, 1).post("/department/deferrals", deferral(index))
    assert edu(hub, 2).post(f"/department/deferrals/{asked.json()['id']}/approve").is_success
    assert request_id not in citizen.get("/citizen/feedback").text


# -- the command line ------------------------------------------------------------------------


def test_tongban_notice_lists_deferrals_and_check_fails_on_one_without_its_log(
    hub: Hub, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from contextlib import contextmanager

    from typer.testing import CliRunner

    from exchange.cli import notice as cli

    @contextmanager
    def this_hub() -> Iterator[Any]:
        yield hub.client.app.state.hub  # type: ignore[attr-defined]

    monkeypatch.setattr(cli, "command_hub", this_hub)
    index, made = in_effect(hub, people["has_property"])
    runner = CliRunner()
    listed = runner.invoke(cli.notice_app, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "生效中" in listed.output
    assert "通过" in listed.output
    assert "妨碍侦查" not in listed.output  # the reason only in --json
    assert runner.invoke(cli.notice_app, ["check"]).exit_code == 0
    as_json = json.loads(runner.invoke(cli.notice_app, ["list", "--json"]).output)
    assert [d["id"] for d in as_json["deferrals"]] == [made["id"]]
    with unit_of_work(hub.sessions, write=True) as session:  # a row past the service
        session.add(
            NoticeDeferral(
                id="dfr-00000000-0000-4000-8000-000000000001",
                access_index=index,
                subject="0" * 64,
                system_id="edu-enrolment",
                department="EDU",
                reason_kind=ReasonKind.NATIONAL_SECURITY,
                reason="伪造",
                reason_salt="00" * 16,
                legal_basis=LAW,
                until=None,
                until_event="永不",
                status=DeferralStatus.ACTIVE,
                requested_by="x",
                requested_at=datetime.now(UTC),
            )
        )
    failed = runner.invoke(cli.notice_app, ["check"])
    assert failed.exit_code != 0
    assert "dfr-00000000-0000-4000-8000-000000000001" in str(failed.exception)
    bad = runner.invoke(cli.notice_app, ["list", "--status", "nope"])
    assert bad.exit_code != 0


def test_a_subscription_events_entry_records_the_kind_too() -> None:
    from exchange.query.release import Outcome
    from exchange.subscriptions.outbox import _audited

    released = Outcome(
        attributes={
            "household.name": {
                "value": "x",
                "release": "clear",
                "source": {
                    "department": "PSB",
                    "resource": "PSB-HJ-0001",
                    "version": 1,
                    "as_of": None,
                },
            }
        }
    )
    duty = _decision(agreement_id="AG-EDU-1", rules=("agreement:AG-EDU-1",), legal_basis=LAW)
    audited = _audited(duty, released)
    assert audited["basis"] == "statutory_duty"
    assert audited["legal_basis"] == LAW
    denied = _audited(
        _decision(release=None, rules=("default.deny",)),
        Outcome(denied={"household.name": "not_granted"}),
    )
    assert "basis" not in denied


def test_a_citizens_corrections_do_not_show_a_deferred_systems_request_or_notice(
    hub: Hub, people: dict[str, str], city: LegacyWorld
) -> None:
    from sqlalchemy import create_engine, text

    person = people["has_property"]
    index, _ = in_effect(hub, person)
    deferred = next(r.request_id for r in hub.audit() if r.index == index)
    mca = hub.query(
        {
            "subject": {"id_type": "CN-RIC", "id": person},
            "purpose": "minimum-living-allowance",
            "attributes": [ADDRESS],
        },
        system="mca-dibao",
    )
    assert ADDRESS in mca.json()["attributes"], mca.text
    filed = hub.client.post(
        "/corrections",
        json={
            "subject": {"id_type": "CN-RIC", "id": person},
            "attribute": ADDRESS,
            "request_id": deferred,
            "evidence": "门牌号不一致",
        },
        headers={"authorization": f"Bearer {hub.token()}"},
    )
    assert filed.status_code == 201, filed.text
    citizen = Person(hub, person, Role.CITIZEN)
    assert citizen.get("/citizen/corrections").json()["corrections"] == []
    objected = citizen.post("/citizen/corrections", {"attribute": ADDRESS, "explanation": "旧门牌"})
    assert objected.status_code == 201, objected.text
    assert city.targets.psb_url is not None
    engine = create_engine(city.targets.psb_url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE T_RK_HJXX SET HJDZ = :a WHERE GMSFHM = :s"),
            {
                "a": f"演示市上城区望江路{datetime.now(UTC).microsecond}号".encode("gbk"),
                "s": person,
            },
        )
    engine.dispose()
    psb = Person(hub, "psb-admin", Role.DEPARTMENT_ADMIN, "PSB")
    confirmed = psb.post(f"/department/corrections/{objected.json()['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["notices"] == 2  # the deferred system is owed its notice too
    (mine,) = citizen.get("/citizen/corrections").json()["corrections"]
    assert mine["id"] == objected.json()["id"]
    assert mine["notices"] == 1  # but the citizen is not told of it
