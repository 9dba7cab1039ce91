"""Correction requests end to end (SQLite and PostgreSQL): a case system or a citizen disputes an
attribute it received, every release of it is marked disputed meanwhile, the source department
corrects it at the source or refuses with reasons, and every system that received the old value
gets a signed notice with the new release; every misuse is a precise problem+json and nothing is
stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import create_engine, event, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from exchange.audit.models import AuditRecord
from exchange.corrections import disputes
from exchange.corrections.models import Correction, CorrectionNotice
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.security.identity import Role
from tests.exchange.world import EDU, MCA, Hub, Person, hub_over, showcase_people
from tests.profiles import verifying_key

ADDRESS = "household.registered_address"
PURPOSE = "school-enrolment"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=200, seed=17)


@pytest.fixture(scope="module")
def people(city: LegacyWorld) -> dict[str, str]:
    return showcase_people(city)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    yield from hub_over(database_url, sessions, live_demo_world, city.adapters_file)


def ask(subject: str, attributes: list[str] | None = None) -> dict[str, Any]:
    return {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": PURPOSE,
        "attributes": attributes or [ADDRESS],
    }


def received(hub: Hub, subject: str, system: str = EDU) -> dict[str, Any]:
    answer = hub.query(ask(subject), system=system)
    assert answer.status_code == 200, answer.text
    assert ADDRESS in answer.json()["attributes"], answer.text
    body: dict[str, Any] = answer.json()
    return body


def file(hub: Hub, person: str, request_id: str, system: str = EDU, **more: Any) -> Any:
    body = {
        "subject": {"id_type": "CN-RIC", "id": person},
        "attribute": ADDRESS,
        "request_id": request_id,
        "evidence": "户籍地址与申请人提供的房产证地址不一致",
        **more,
    }
    headers = {"authorization": f"Bearer {hub.token(system)}"}
    return hub.client.post("/corrections", json=body, headers=headers)


def admin(hub: Hub, department: str = "PSB") -> Person:
    return Person(hub, f"{department.lower()}-admin", Role.DEPARTMENT_ADMIN, department)


def stored(hub: Hub) -> int:
    with unit_of_work(hub.sessions) as session:
        return session.scalar(select(func.count()).select_from(Correction)) or 0


def correction_entries(hub: Hub) -> list[dict[str, Any]]:
    with unit_of_work(hub.sessions) as session:
        rows = session.scalars(
            select(AuditRecord.entry)
            .where(AuditRecord.kind == "correction")
            .order_by(AuditRecord.index)
        )
        return [json.loads(row) for row in rows]


def set_address(city: LegacyWorld, subject: str, address: str) -> None:
    """The source department corrects the record in its own legacy database."""
    assert city.targets.psb_url is not None
    engine = create_engine(city.targets.psb_url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE T_RK_HJXX SET HJDZ = :a WHERE GMSFHM = :s"),
            {"a": address.encode("gbk"), "s": subject},
        )
    engine.dispose()


def verified(hub: Hub, token: str, typ: str, audience: str) -> dict[str, Any]:
    jwks = hub.client.get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == typ
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token, verifying_key(key), algorithms=[key["alg"]], audience=audience
    )
    return claims


# -- 校核纠错 by a case system ---------------------------------------------------------------


def test_a_filed_request_marks_every_release_disputed_in_the_answer_and_the_evidence(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["has_property"]
    first = received(hub, subject)
    assert "disputed" not in first["attributes"][ADDRESS]

    filed = file(hub, subject, first["request_id"])
    assert filed.status_code == 201, filed.text
    correction = filed.json()
    assert correction["status"] == "open"
    assert correction["provider"] == {"code": "PSB", "name": correction["provider"]["name"]}
    assert correction["provider"]["name"] != "PSB"  # its Chinese name
    assert correction["cited_request"] == first["request_id"]
    assert date.fromisoformat(correction["due_on"]) > datetime.now(UTC).date()
    assert correction["overdue"] is False
    assert subject not in filed.text

    again = received(hub, subject)
    mark = again["attributes"][ADDRESS]["disputed"]
    assert mark["correction"] == correction["id"]
    assert mark["since"] == correction["filed_at"]
    claims = verified(hub, again["evidence"], "tongban-evidence+jwt", EDU)
    assert claims["attributes"][ADDRESS]["disputed"] == mark
    other = received(hub, people["multiple_properties"])  # someone else: no mark
    assert "disputed" not in other["attributes"][ADDRESS]

    (entry,) = correction_entries(hub)
    assert entry["outcome"] == "filed"
    assert entry["system"] == EDU
    assert entry["object"]["id"] == correction["id"]
    assert subject not in json.dumps(entry)

    mine = hub.client.get(
        f"/corrections/{correction['id']}", headers={"authorization": f"Bearer {hub.token()}"}
    )
    assert mine.status_code == 200
    assert mine.json()["status"] == "open"
    theirs = hub.client.get(
        f"/corrections/{correction['id']}", headers={"authorization": f"Bearer {hub.token(MCA)}"}
    )
    assert theirs.status_code == 404


def test_the_disputed_check_adds_no_statement_to_a_query(
    hub: Hub, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = people["has_property"]
    first = received(hub, subject)
    assert file(hub, subject, first["request_id"]).status_code == 201
    engine = hub.client.app.state.hub.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    def statements_of_a_query() -> int:
        received(hub, subject)  # warm: the token, the caches
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            body = received(hub, subject)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert body["request_id"]
        return len(statements)

    received(hub, subject)  # the set is read once after the filing changed its stamp
    loads = disputes._OPEN.loads
    with_check = statements_of_a_query()
    assert disputes._OPEN.loads == loads  # the open set was held, not read again
    monkeypatch.setattr("exchange.query.pipeline.disputed_for", lambda *_: {})
    assert statements_of_a_query() == with_check


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("another_systems_request", 422, "correction_not_received"),
        ("unknown_request", 422, "correction_not_received"),
        ("attribute_not_released_there", 422, "correction_not_received"),
        ("another_person", 403, "correction_other_subject"),
        ("bad_subject", 422, "invalid_subject_id"),
        ("evidence_too_long", 422, "malformed_request"),
    ],
)
def test_a_request_on_what_the_filer_never_received_is_refused_and_nothing_stored(
    hub: Hub, people: dict[str, str], case: str, status: int, code: str
) -> None:
    subject = people["has_property"]
    mine = received(hub, subject)["request_id"]
    more: dict[str, Any] = {}
    cited, system = mine, EDU
    if case == "another_systems_request":
        system = MCA
    elif case == "unknown_request":
        cited = str(uuid.uuid4())
    elif case == "attribute_not_released_there":
        cited = received_other(hub, subject)
    elif case == "another_person":
        more["subject"] = {"id_type": "CN-RIC", "id": people["multiple_properties"]}
    elif case == "bad_subject":
        more["subject"] = {"id_type": "CN-RIC", "id": "110105194912310021"}
    elif case == "evidence_too_long":
        more["evidence"] = "证" * 2001
    answer = file(hub, subject, cited, system=system, **more)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code
    assert subject not in answer.text
    assert people["multiple_properties"] not in answer.text
    assert stored(hub) == 0
    assert correction_entries(hub) == []


def received_other(hub: Hub, subject: str) -> str:
    """A request of EDU about *subject* that did not release the address."""
    answer = hub.query(ask(subject, ["household.name"]))
    assert answer.status_code == 200, answer.text
    request_id: str = answer.json()["request_id"]
    return request_id


# -- the source department answers ----------------------------------------------------------


def test_a_confirmed_correction_sends_every_recipient_a_signed_notice_with_the_new_release(
    hub: Hub, people: dict[str, str], city: LegacyWorld
) -> None:
    subject = people["no_property"]
    one, two = received(hub, subject), received(hub, subject)
    correction = file(hub, subject, one["request_id"]).json()
    psb = admin(hub)

    queue = psb.get("/department/corrections").json()
    (row,) = queue["received"]
    assert row["id"] == correction["id"]
    assert row["subject"] == {"id_type": "CN-RIC", "id": subject}  # to find the record
    assert row["filer"]["department"]["code"] == "EDU"
    assert admin(hub, "HRSS").get("/department/corrections").json()["received"] == []
    refused = admin(hub, "HRSS").post(f"/department/corrections/{correction['id']}/confirm")
    assert refused.status_code == 404

    unchanged = psb.post(f"/department/corrections/{correction['id']}/confirm")
    assert unchanged.status_code == 409, unchanged.text
    assert unchanged.json()["code"] == "correction_source_unchanged"

    new_address = f"浙江省杭州市西湖区文三路{uuid.uuid4().int % 1000}号"
    set_address(city, subject, new_address)
    confirmed = psb.post(f"/department/corrections/{correction['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "corrected"
    assert confirmed.json()["notices"] == 1
    assert confirmed.json()["new_fingerprint"] != confirmed.json()["old_fingerprint"]
    again = psb.post(f"/department/corrections/{correction['id']}/reject", {"reason": "晚了"})
    assert again.json()["code"] == "correction_answered"
    assert "disputed" not in received(hub, subject)["attributes"][ADDRESS]

    edu = {"authorization": f"Bearer {hub.token()}"}
    inbox = hub.client.get("/corrections/notices", headers=edu)
    assert inbox.status_code == 200, inbox.text
    (notice,) = inbox.json()["notices"]
    claims = verified(hub, notice["notice"], "tongban-correction+jwt", EDU)
    assert claims["correction"] == correction["id"]
    assert claims["subject"] == {"id_type": "CN-RIC", "id": subject}
    assert claims["attribute"] == ADDRESS
    assert {one["request_id"], two["request_id"]} <= set(claims["received_in"])
    assert claims["release"]["value"] == new_address
    assert claims["ask_again"] is False
    assert claims["old_fingerprint"] == confirmed.json()["old_fingerprint"]
    evidence = verified(hub, claims["release_evidence"], "tongban-evidence+jwt", EDU)
    assert evidence["jti"] == claims["release_request_id"]
    assert hub.client.get(
        "/corrections/notices", headers={"authorization": f"Bearer {hub.token(MCA)}"}
    ).json() == {"notices": []}

    ack = hub.client.post(f"/corrections/notices/{notice['id']}/ack", headers=edu)
    assert ack.status_code == 200, ack.text
    assert hub.client.get("/corrections/notices", headers=edu).json() == {"notices": []}
    foreign = hub.client.post(
        f"/corrections/notices/{notice['id']}/ack",
        headers={"authorization": f"Bearer {hub.token(MCA)}"},
    )
    assert foreign.json()["code"] == "correction_notice_not_found"

    events = [e["outcome"] for e in correction_entries(hub)]
    assert events == ["filed", "corrected", "notified", "delivered", "acknowledged"]
    assert all(subject not in json.dumps(e) for e in correction_entries(hub))
    assert "浙江省" not in json.dumps(correction_entries(hub))


def test_a_notice_to_a_system_no_longer_entitled_carries_no_value(
    hub: Hub, people: dict[str, str], city: LegacyWorld
) -> None:
    subject = people["divorced"]
    one = received(hub, subject)
    correction = file(hub, subject, one["request_id"]).json()
    set_address(city, subject, f"浙江省杭州市上城区解放路{uuid.uuid4().int % 1000}号")
    assert admin(hub).post(f"/department/corrections/{correction['id']}/confirm").status_code == 200
    with unit_of_work(hub.sessions, write=True) as session:  # as if a purpose it no longer has
        session.execute(update(CorrectionNotice).values(purpose="marketing"))
    inbox = hub.client.get(
        "/corrections/notices", headers={"authorization": f"Bearer {hub.token()}"}
    )
    (notice,) = inbox.json()["notices"]
    claims = verified(hub, notice["notice"], "tongban-correction+jwt", EDU)
    assert claims["ask_again"] is True
    assert claims["release"] is None
    assert claims["reason"] == "purpose_not_registered"
    assert "解放路" not in inbox.text


def test_a_rejection_needs_reasons_and_the_filer_sees_them(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["has_property"]
    correction = file(hub, subject, received(hub, subject)["request_id"]).json()
    psb = admin(hub)
    bare = psb.post(f"/department/corrections/{correction['id']}/reject", {"reason": ""})
    assert bare.status_code == 422
    assert psb.post(f"/department/corrections/{correction['id']}/reject").status_code == 422
    done = psb.post(
        f"/department/corrections/{correction['id']}/reject", {"reason": "经核查，户籍登记无误"}
    )
    assert done.status_code == 200, done.text
    mine = hub.client.get(
        f"/corrections/{correction['id']}", headers={"authorization": f"Bearer {hub.token()}"}
    ).json()
    assert mine["status"] == "rejected"
    assert mine["reason"] == "经核查，户籍登记无误"
    assert "disputed" not in received(hub, subject)["attributes"][ADDRESS]


def test_an_open_request_past_its_clock_shows_as_overdue(hub: Hub, people: dict[str, str]) -> None:
    subject = people["has_property"]
    correction = file(hub, subject, received(hub, subject)["request_id"]).json()
    with unit_of_work(hub.sessions, write=True) as session:
        session.execute(update(Correction).values(due_on=date(2020, 1, 3)))
    (row,) = admin(hub).get("/department/corrections").json()["received"]
    assert row["id"] == correction["id"]
    assert row["overdue"] is True


# -- citizens object (异议) -------------------------------------------------------------------


def test_a_citizen_sees_what_was_released_objects_and_follows_it_to_the_answer(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["has_property"]
    received(hub, subject)
    citizen = Person(hub, subject, Role.CITIZEN)
    released = citizen.get("/citizen/released").json()
    assert released["objections"] is True
    (address,) = [a for a in released["attributes"] if a["attribute"] == ADDRESS]
    assert address["source"]["code"] == "PSB"
    assert address["source"]["name"] != "PSB"
    assert address["systems"] == 1

    objected = citizen.post(
        "/citizen/corrections", {"attribute": ADDRESS, "explanation": "我已迁入新地址"}
    )
    assert objected.status_code == 201, objected.text
    assert objected.json()["filed_by"] == "citizen"
    assert "disputed" in received(hub, subject)["attributes"][ADDRESS]

    (row,) = admin(hub).get("/department/corrections").json()["received"]
    assert row["filed_by"] == "citizen"
    assert row["evidence"] == "我已迁入新地址"
    admin(hub).post(
        f"/department/corrections/{row['id']}/reject", {"reason": "请携带迁移证明到派出所办理"}
    )
    (mine,) = citizen.get("/citizen/corrections").json()["corrections"]
    assert mine["status"] == "rejected"
    assert mine["reason"] == "请携带迁移证明到派出所办理"
    assert "filer" not in mine


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("never_released", 422, "correction_not_received"),
        ("someone_elses_request", 403, "correction_other_subject"),
        ("a_staff_token", 403, "forbidden"),
    ],
)
def test_a_citizen_objecting_to_what_is_not_theirs_is_refused_and_nothing_stored(
    hub: Hub, people: dict[str, str], case: str, status: int, code: str
) -> None:
    subject, other = people["has_property"], people["multiple_properties"]
    theirs = received(hub, other)["request_id"]
    body: dict[str, Any] = {"attribute": ADDRESS, "explanation": "不对"}
    person = Person(hub, subject, Role.CITIZEN)
    if case == "someone_elses_request":
        body["request_id"] = theirs
    elif case == "a_staff_token":
        person = admin(hub)
    answer = person.post("/citizen/corrections", body)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    assert other not in answer.text
    assert stored(hub) == 0


# -- a consumer department's staff, the clock, the logs ----------------------------------------


def test_a_consumer_departments_admin_files_on_what_its_systems_received(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["has_property"]
    request_id = received(hub, subject)["request_id"]
    body = {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "attribute": ADDRESS,
        "request_id": request_id,
        "evidence": "窗口核验时发现门牌号有误",
    }
    foreign = admin(hub, "MCA").post("/department/corrections", body)
    assert foreign.status_code == 422, foreign.text
    assert foreign.json()["code"] == "correction_not_received"
    assert stored(hub) == 0
    filed = admin(hub, "EDU").post("/department/corrections", body)
    assert filed.status_code == 201, filed.text
    assert filed.json()["filed_by"] == "staff"
    queue = admin(hub, "EDU").get("/department/corrections").json()
    assert [c["id"] for c in queue["filed"]] == [filed.json()["id"]]
    assert queue["received"] == []  # EDU is no source of the address
    citizen = Person(hub, subject, Role.CITIZEN)
    assert citizen.post("/department/corrections", body).json()["code"] == "forbidden"


def test_the_clock_counts_working_days_and_a_province_may_shorten_it() -> None:
    from exchange.corrections.service import CorrectionDesk

    def desk(days: int) -> CorrectionDesk:
        return CorrectionDesk(
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            lambda _s, _a: None,
            subject_key=bytes(32),
            fingerprint_key=bytes(32),
            reply_working_days=days,
        )

    filed = datetime(2026, 9, 25, 2, 0, tzinfo=UTC)  # 10:00 in China, 中秋节 (Sep 25-27 off)
    # Sep 28-30 (3), Oct 1-7 off (国庆节), Oct 8-9 (5), Sat Oct 10 worked (6), Oct 12-15 (10)
    assert desk(10).due_on(filed) == date(2026, 10, 15)
    assert desk(5).due_on(filed) == date(2026, 10, 9)


def test_no_personal_data_reaches_the_logs(
    hub: Hub, people: dict[str, str], city: LegacyWorld, caplog: pytest.LogCaptureFixture
) -> None:
    subject = people["school_age_with_property"]
    caplog.set_level("DEBUG")
    correction = file(hub, subject, received(hub, subject)["request_id"]).json()
    set_address(city, subject, f"浙江省杭州市拱墅区湖墅南路{uuid.uuid4().int % 1000}号")
    admin(hub).post(f"/department/corrections/{correction['id']}/confirm")
    hub.client.get("/corrections/notices", headers={"authorization": f"Bearer {hub.token()}"})
    assert subject not in caplog.text
    assert "湖墅南路" not in caplog.text
