"""Standing deferrals (SQLite and PostgreSQL): declared by one department admin for some of the
department's systems and one citizen, approved by a second, they hide every later access by
those systems about that citizen from the moment it is logged (no window), the citizen's list
still proves complete; what came before the approval, or through another department's system,
stays visible; when one ends (its event, its day) what it covered is shown marked; the log holds
neither the citizen nor the reason, only digests an auditor checks; every misuse is a precise
problem+json and nothing is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from exchange.notice import standing
from exchange.notice.models import DeferralStatus, ReasonKind, StandingDeferral
from exchange.security.identity import Role
from tests import factories
from tests.exchange.world import MCA, Hub, Person
from tests.notice.test_notice import (
    _CHINA,
    ADDRESS,
    LAW,
    PURPOSE,
    accessed,
    citizen_view,
    edu,
    problem,
    proven_complete,
    tomorrow,
)

STANDING = "/department/standing-deferrals"
REASON = "立案侦查，告知当事人将妨碍侦查（案号 2026-刑-0077）"


def declared(person: str, **more: Any) -> dict[str, Any]:
    return {
        "systems": ["edu-enrolment"],
        "subject": {"id_type": "CN-RIC", "id": person},
        "reason_kind": "criminal_investigation",
        "reason": REASON,
        "legal_basis": LAW,
        "until_event": "侦查终结",
        **more,
    }


def approved_standing(hub: Hub, person: str, **more: Any) -> dict[str, Any]:
    asked = edu(hub, 1).post(STANDING, declared(person, **more))
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "requested"
    done = edu(hub, 2).post(f"{STANDING}/{asked.json()['id']}/approve")
    assert done.status_code == 200, done.text
    body: dict[str, Any] = done.json()
    assert body["status"] == "active"
    return body


def shown(hub: Hub, person: str) -> set[int]:
    return {a["index"] for a in citizen_view(hub, person)["accesses"]}


def verified(hub: Hub, person: str) -> int:
    claims = {"subject": {"id_type": "CN-RIC", "id": person}, "purpose": PURPOSE}
    answer = hub.verify({**claims, "claims": {ADDRESS: "不是这个地址"}})
    assert answer.status_code == 200, answer.text
    index: int = answer.json()["audit"]["index"]
    return index


def stored(hub: Hub) -> tuple[int, int]:
    with unit_of_work(hub.sessions) as session:
        rows = session.scalar(select(func.count()).select_from(StandingDeferral)) or 0
        entries = session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.kind == "notice")
        )
        return rows, entries or 0


def test_once_approved_every_later_access_is_hidden_from_the_moment_it_is_logged(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    auditor = Person(hub, "auditor-1", Role.AUDITOR)
    asked = edu(hub, 1).post(STANDING, declared(person))
    assert asked.status_code == 201, asked.text
    while_pending = accessed(hub, person)["audit"]["index"]
    assert while_pending in shown(hub, person)  # a pending standing deferral hides nothing
    assert auditor.post("/audit/checkpoint").status_code == 200
    assert edu(hub, 2).post(f"{STANDING}/{asked.json()['id']}/approve").status_code == 200
    queried = accessed(hub, person)["audit"]["index"]
    checked = verified(hub, person)
    mca = hub.query(
        {
            "subject": {"id_type": "CN-RIC", "id": person},
            "purpose": "minimum-living-allowance",
            "attributes": [ADDRESS],
        },
        system=MCA,
    )
    assert mca.status_code == 200, mca.text
    other_system = mca.json()["audit"]["index"]
    assert auditor.post("/audit/checkpoint").status_code == 200
    body = citizen_view(hub, person)
    listed = {a["index"] for a in body["accesses"]}
    assert queried not in listed
    assert checked not in listed
    assert {while_pending, other_system} <= listed  # before approval; another department's
    assert body["completeness"]["tree_size"] <= queried  # proven below the first hidden one
    proven_complete(body)
    citizen = Person(hub, person, Role.CITIZEN)
    size = body["head"]["size"]
    refused = citizen.get("/audit/proof/inclusion", index=queried, size=size)
    assert refused.status_code == 403
    released = citizen.get("/citizen/released").json()["attributes"]
    assert "deferred" not in json.dumps(body, ensure_ascii=False).replace('"deferred": null', "")
    assert next(a["times"] for a in released if a["attribute"] == ADDRESS) == 2
    someone_else = people["no_property"]
    assert accessed(hub, someone_else)["audit"]["index"] in shown(hub, someone_else)


def test_its_event_shows_what_it_covered_marked_and_later_accesses_are_not_covered(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    made = approved_standing(hub, person)
    covered = [accessed(hub, person)["audit"]["index"], verified(hub, person)]
    assert not set(covered) & shown(hub, person)
    ended = edu(hub, 1).post(f"{STANDING}/{made['id']}/event")
    assert ended.status_code == 200, ended.text
    assert (ended.json()["status"], ended.json()["ended_by"]) == ("ended", "event")
    assert ended.json()["accesses"] == covered
    after = accessed(hub, person)["audit"]["index"]
    Person(hub, "auditor-1", Role.AUDITOR).post("/audit/checkpoint")
    body = citizen_view(hub, person)
    accesses = {a["index"]: a for a in body["accesses"]}
    for index in covered:
        mark = accesses[index]["deferred"]
        assert mark["reason_kind"] == "criminal_investigation"
        assert mark["legal_basis"] == LAW
        assert mark["ended_by"] == "event"
    assert accesses[after]["deferred"] is None
    assert "案号" not in json.dumps(body, ensure_ascii=False)
    assert body["completeness"]["tree_size"] > max(covered)
    proven_complete(body)


def test_the_job_ends_it_on_its_day(hub: Hub, people: dict[str, str]) -> None:
    person = people["has_property"]
    made = approved_standing(hub, person, until=tomorrow(), until_event=None)
    index = accessed(hub, person)["audit"]["index"]
    with unit_of_work(hub.sessions, write=True) as session:
        assert standing.end_due(session, datetime.now(UTC)) == 0
    assert index not in shown(hub, person)
    with unit_of_work(hub.sessions, write=True) as session:
        assert standing.end_due(session, datetime.now(UTC) + timedelta(days=2)) == 1
    view = next(a for a in citizen_view(hub, person)["accesses"] if a["index"] == index)
    assert view["deferred"]["ended_by"] == "date"
    listed = Person(hub, "auditor-1", Role.AUDITOR).get("/audit/standing-deferrals").json()
    one = next(d for d in listed["deferrals"] if d["id"] == made["id"])
    assert [e["outcome"] for e in one["entries"]] == ["requested", "approved", "ended"]
    assert one["checks_pass"], one["checks"]


def test_the_log_names_neither_the_citizen_nor_the_reason_and_the_auditor_checks_both(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    made = approved_standing(hub, person)
    auditor = Person(hub, "auditor-1", Role.AUDITOR)
    one = next(
        d
        for d in auditor.get("/audit/standing-deferrals").json()["deferrals"]
        if d["id"] == made["id"]
    )
    assert (one["requested_by"], one["decided_by"]) == ("edu-admin-1", "edu-admin-2")
    assert one["checks_pass"], one["checks"]
    assert one["from"] == datetime.now(UTC).astimezone(_CHINA).date().isoformat()
    entries = [json.loads(e["entry"]) for e in one["entries"]]
    for entry in entries:
        assert (entry["subject"], entry["system"]) == ("-", "-")
        text = json.dumps(entry, ensure_ascii=False)
        assert person not in text
        assert one["subject"] not in text
        assert "案号" not in text
        salt = one["reason_salt"]
        assert entry["object"]["subject_digest"] == standing.subject_digest(salt, one["subject"])
    assert person not in json.dumps(one, ensure_ascii=False)  # the pseudonym, never the number


def test_a_row_written_past_the_service_hides_nothing_and_fails_the_check(
    hub: Hub, people: dict[str, str]
) -> None:
    from exchange.notice.reading import hidden_accesses

    person = people["has_property"]
    pseudonym = hub.client.app.state.hub.pseudonyms.of(person)  # type: ignore[attr-defined]
    with unit_of_work(hub.sessions, write=True) as session:
        session.add(
            StandingDeferral(
                id="sdf-00000000-0000-4000-8000-000000000000",
                department="EDU",
                systems=["edu-enrolment"],
                subject=pseudonym,
                reason_kind=ReasonKind.NATIONAL_SECURITY,
                reason="伪造",
                reason_salt="00" * 16,
                legal_basis=LAW,
                starts=datetime.now(UTC).date() - timedelta(days=1),
                until=None,
                until_event="永不",
                status=DeferralStatus.ACTIVE,
                requested_by="x",
                requested_at=datetime.now(UTC),
            )
        )
    index = accessed(hub, person)["audit"]["index"]
    assert index in shown(hub, person)
    with unit_of_work(hub.sessions) as session:
        assert index not in hidden_accesses(session, pseudonym)
    listed = Person(hub, "auditor-1", Role.AUDITOR).get("/audit/standing-deferrals").json()
    forged = next(d for d in listed["deferrals"] if d["id"].startswith("sdf-00000000"))
    assert not forged["checks_pass"]
    assert not forged["checks"]["approved_in_log"]
    assert forged["accesses"] == []


def test_bad_standing_deferrals_are_refused_precisely_and_store_nothing(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["has_property"]
    ask = edu(hub, 1)
    nothing = stored(hub)
    no_basis = declared(person)
    del no_basis["legal_basis"]
    problem(ask.post(STANDING, no_basis), 422, "deferral_no_legal_basis")
    foreign = ask.post(STANDING, declared(person, systems=["edu-enrolment", MCA]))
    assert problem(foreign, 422, "deferral_system_not_found")["errors"][0]["pointer"] == (
        "/systems/1"
    )
    problem(
        ask.post(STANDING, declared(person, systems=["no-such-system"])),
        422,
        ("deferral_system_not_found"),
    )
    past = declared(person, until="2020-01-01", until_event=None)
    problem(ask.post(STANDING, past), 422, "deferral_end_in_past")
    yesterday = (datetime.now(UTC).astimezone(_CHINA).date() - timedelta(days=1)).isoformat()
    started = ask.post(STANDING, declared(person, **{"from": yesterday}))
    assert problem(started, 422, "deferral_period_invalid")["errors"][0]["pointer"] == "/from"
    later = (datetime.now(UTC).astimezone(_CHINA).date() + timedelta(days=5)).isoformat()
    empty = declared(person, **{"from": later}, until=tomorrow(), until_event=None)
    problem(ask.post(STANDING, empty), 422, "deferral_period_invalid")
    wrong = ask.post(STANDING, declared(person[:-1] + ("0" if person[-1] != "0" else "1")))
    body = problem(wrong, 422, "invalid_subject_id")
    assert person[:-1] not in json.dumps(body, ensure_ascii=False)
    other_type = declared(person, subject={"id_type": "PASSPORT", "id": person})
    problem(ask.post(STANDING, other_type), 422, "invalid_subject_id")
    auditor = Person(hub, "auditor-1", Role.AUDITOR)
    problem(auditor.post(STANDING, declared(person)), 403, "deferral_forbidden")
    both = declared(person, until=tomorrow())
    problem(ask.post(STANDING, both), 422, "malformed_request")
    problem(ask.post(STANDING, declared(person, systems=[])), 422, "malformed_request")
    assert stored(hub) == nothing

    made = ask.post(STANDING, declared(person))
    assert made.status_code == 201, made.text
    path = f"{STANDING}/{made.json()['id']}"
    after = stored(hub)
    assert after == (nothing[0] + 1, nothing[1] + 1)
    problem(ask.post(f"{path}/approve"), 403, "deferral_self_approval")
    problem(auditor.post(f"{path}/approve"), 403, "deferral_approver_role")
    psb = Person(hub, "psb-admin", Role.DEPARTMENT_ADMIN, "PSB")
    problem(psb.post(f"{path}/approve"), 404, "deferral_not_found")
    problem(ask.post(f"{path}/event"), 409, "deferral_not_active")
    assert stored(hub) == after
    assert edu(hub, 2).post(f"{path}/refuse").json()["status"] == "refused"
    problem(edu(hub, 3).post(f"{path}/approve"), 409, "deferral_decided")
    index = accessed(hub, person)["audit"]["index"]
    assert index in shown(hub, person)  # refused: hides nothing


def test_tongban_notice_list_and_check_cover_standing_deferrals(
    hub: Hub, people: dict[str, str], monkeypatch: Any
) -> None:
    from collections.abc import Iterator
    from contextlib import contextmanager

    from typer.testing import CliRunner

    from exchange.cli import notice as cli

    @contextmanager
    def this_hub() -> Iterator[Any]:
        yield hub.client.app.state.hub  # type: ignore[attr-defined]

    monkeypatch.setattr(cli, "command_hub", this_hub)
    made = approved_standing(hub, people["has_property"])
    accessed(hub, people["has_property"])
    runner = CliRunner()
    listed = runner.invoke(cli.notice_app, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "常设" in listed.output
    assert "案号" not in listed.output
    as_json = json.loads(runner.invoke(cli.notice_app, ["list", "--json"]).output)
    assert [d["id"] for d in as_json["standing_deferrals"]] == [made["id"]]
    assert runner.invoke(cli.notice_app, ["check"]).exit_code == 0
    with unit_of_work(hub.sessions, write=True) as session:  # its systems changed by hand
        row = session.get(StandingDeferral, made["id"])
        assert row is not None
        row.systems = ["edu-enrolment", "mca-dibao"]
    failed = runner.invoke(cli.notice_app, ["check"])
    assert failed.exit_code != 0
    assert made["id"] in str(failed.exception)
    assert "systems" in str(failed.exception)


def test_a_consent_used_by_a_deferred_access_does_not_show_the_use_until_it_ends(
    hub: Hub, people: dict[str, str]
) -> None:
    person = people["consent_candidate"]
    citizen = Person(hub, person, Role.CITIZEN)
    mca = [Person(hub, f"mca-admin-{n}", Role.DEPARTMENT_ADMIN, "MCA") for n in (1, 2)]
    asked = hub.client.post(
        "/consent-requests",
        json=factories.consent_request(person),
        headers={"authorization": f"Bearer {hub.token(MCA)}"},
    )
    assert asked.status_code == 201, asked.text
    given = citizen.post(f"/citizen/consent-requests/{asked.json()['id']}/approve")
    assert given.status_code == 201, given.text
    consent = given.json()["consent"]["id"]
    made = mca[0].post(STANDING, declared(person, systems=[MCA]))
    assert made.status_code == 201, made.text
    assert mca[1].post(f"{STANDING}/{made.json()['id']}/approve").status_code == 200
    body = {
        "subject": {"id_type": "CN-RIC", "id": person},
        "purpose": "minimum-living-allowance",
        "attributes": [factories.PENSION],
        "consent_id": consent,
    }
    answer = hub.query(body, system=MCA)
    assert answer.status_code == 200, answer.text
    assert factories.PENSION in answer.json()["attributes"]  # released under the consent

    def mine() -> dict[str, Any]:
        found: dict[str, Any] = next(
            c for c in citizen.get("/citizen/consents").json()["consents"] if c["id"] == consent
        )
        one = citizen.get(f"/citizen/consents/{consent}").json()
        assert {k: one[k] for k in ("status", "use_count", "last_used_at")} == {
            k: found[k] for k in ("status", "use_count", "last_used_at")
        }
        return found

    hidden = mine()
    assert (hidden["status"], hidden["use_count"], hidden["last_used_at"]) == ("given", 0, None)
    assert "used" not in [e["event"] for e in hidden["events"]]
    assert mca[0].post(f"{STANDING}/{made.json()['id']}/event").status_code == 200
    shown = mine()
    assert (shown["status"], shown["use_count"]) == ("used", 1)  # one-time: used up
    assert shown["last_used_at"] is not None
    assert [e["event"] for e in shown["events"]] == ["given", "used"]
