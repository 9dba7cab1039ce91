"""Issue 17's "Done when", walked over HTTP on a served demo with its history (``tongban demo
--traffic`` + ``tongban serve``): a citizen finds a wrong attribute, objects, the source
department corrects it at the source, every system that had received it gets a notice that
verifies against the hub's keys, the citizen sees the outcome; a deferred access appears to the
citizen when its deferral ends (the demo's ended standing deferral, and one declared and ended
here); the data authority's scorecards show the month's numbers. The browser parts of the
citizen's story (objecting, the 曾延迟告知 mark, the completeness check) are
test_console_corrections.py and test_console_notice.py."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, text

from tests.console.conftest import Hub
from tests.profiles import verifying_key

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ADDRESS = "household.registered_address"
LAW = "《中华人民共和国刑事诉讼法》第一百五十二条"


def _as(hub: Hub, token: str, method: str, path: str, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.request(method, f"{hub.base}{path}", json=body, headers=headers, timeout=30)


def _read(hub: Hub, person: str, system: str, purpose: str) -> httpx.Response:
    body = {
        "subject": {"id_type": "CN-RIC", "id": person},
        "purpose": purpose,
        "attributes": [ADDRESS],
    }
    return _as(hub, hub.system_token(system), "POST", "/exchange/query", body)


def _set_address(hub: Hub, person: str, address: str) -> None:
    """The public security bureau corrects the record in its own legacy database."""
    adapters = json.loads((hub.workdir / "var/demo/adapters.json").read_text("utf-8"))
    engine = create_engine(adapters["connections"]["psb"]["url"])
    with engine.begin() as connection:
        changed = connection.execute(
            text("UPDATE T_RK_HJXX SET HJDZ = :a WHERE GMSFHM = :s"),
            {"a": address.encode("gbk"), "s": person},
        )
        assert changed.rowcount == 1
    engine.dispose()


def _verified(hub: Hub, token: str, typ: str, audience: str) -> dict[str, Any]:
    jwks = httpx.get(f"{hub.base}/.well-known/jwks.json", timeout=10).json()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == typ
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token, verifying_key(key), algorithms=[key["alg"]], audience=audience
    )
    return claims


def test_the_issue_17_story_in_the_demo_world(history_hub: Hub) -> None:
    hub = history_hub
    person = hub.subject("divorced", 0)  # no other demo story uses this person
    citizen = hub.id_token(person, "citizen")
    psb = hub.id_token("psb-admin", "department_admin", "PSB")

    # two systems received the person's registered address
    received = [
        _read(hub, person, "edu-enrolment", "school-enrolment"),
        _read(hub, person, "mca-dibao", "minimum-living-allowance"),
    ]
    assert all(r.status_code == 200 for r in received), [r.text for r in received]
    systems = [
        s
        for s, r in zip(("edu-enrolment", "mca-dibao"), received, strict=True)
        if ADDRESS in r.json()["attributes"]
    ]
    assert "edu-enrolment" in systems

    # the citizen finds the attribute with its source, and objects
    released = _as(hub, citizen, "GET", "/citizen/released").json()
    address = next(a for a in released["attributes"] if a["attribute"] == ADDRESS)
    assert address["source"]["code"] == "PSB"
    objected = _as(
        hub,
        citizen,
        "POST",
        "/citizen/corrections",
        {"attribute": ADDRESS, "explanation": "我家已迁入新址，户籍地址仍是旧地址。"},
    )
    assert objected.status_code == 201, objected.text
    correction = objected.json()["id"]
    disputed = _read(hub, person, "edu-enrolment", "school-enrolment").json()
    assert disputed["attributes"][ADDRESS]["disputed"]["correction"] == correction

    # the source department corrects it at the source and confirms
    queue = _as(hub, psb, "GET", "/department/corrections").json()["received"]
    assert correction in [row["id"] for row in queue]
    new_address = f"演示市西湖区文三路{uuid.uuid4().int % 900 + 100}号"
    _set_address(hub, person, new_address)
    confirmed = _as(hub, psb, "POST", f"/department/corrections/{correction}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "corrected"
    assert confirmed.json()["notices"] == len(systems)

    # every system that received it gets a notice that verifies against the hub's keys
    for system in systems:
        token = hub.system_token(system)
        inbox = _as(hub, token, "GET", "/corrections/notices").json()["notices"]
        mine = [
            (item, claims)
            for item in inbox
            if (claims := _verified(hub, item["notice"], "tongban-correction+jwt", system))[
                "correction"
            ]
            == correction
        ]
        assert len(mine) == 1, (system, inbox)
        item, claims = mine[0]
        assert claims["attribute"] == ADDRESS
        assert claims["release"]["value"] == new_address
        acked = _as(hub, token, "POST", f"/corrections/notices/{item['id']}/ack")
        assert acked.status_code == 200, acked.text

    # the citizen sees the outcome
    mine = _as(hub, citizen, "GET", "/citizen/corrections").json()["corrections"]
    assert next(c for c in mine if c["id"] == correction)["status"] == "corrected"

    # the demo's history holds a standing deferral that has ended and one still in effect
    auditor = hub.id_token("auditor-1", "auditor")
    standing = _as(hub, auditor, "GET", "/audit/standing-deferrals").json()["deferrals"]
    assert {"ended", "active"} <= {d["status"] for d in standing}
    assert all(d["checks_pass"] for d in standing if d["status"] in ("ended", "active"))
    ended = next(d for d in standing if d["status"] == "ended")
    owner = hub.subject("has_property", 0)
    shown = _as(hub, hub.id_token(owner, "citizen"), "GET", "/citizen/accesses").json()
    marked = {a["index"] for a in shown["accesses"] if a["deferred"]}
    assert set(ended["accesses"]) <= marked

    # a deferred access appears to the citizen when its deferral ends
    first = hub.id_token("edu-admin-a", "department_admin", "EDU")
    second = hub.id_token("edu-admin-b", "department_admin", "EDU")
    declared = _as(
        hub,
        first,
        "POST",
        "/department/standing-deferrals",
        {
            "systems": ["edu-enrolment"],
            "subject": {"id_type": "CN-RIC", "id": person},
            "reason_kind": "criminal_investigation",
            "reason": "立案侦查，告知当事人将妨碍侦查",
            "legal_basis": LAW,
            "until_event": "侦查终结",
        },
    )
    assert declared.status_code == 201, declared.text
    path = f"/department/standing-deferrals/{declared.json()['id']}"
    assert _as(hub, second, "POST", f"{path}/approve").status_code == 200
    hidden = _read(hub, person, "edu-enrolment", "school-enrolment").json()["audit"]["index"]
    listed = _as(hub, citizen, "GET", "/citizen/accesses").json()["accesses"]
    assert hidden not in [a["index"] for a in listed]
    assert _as(hub, first, "POST", f"{path}/event").status_code == 200
    listed = _as(hub, citizen, "GET", "/citizen/accesses").json()["accesses"]
    back = next(a for a in listed if a["index"] == hidden)
    assert back["deferred"]["reason_kind"] == "criminal_investigation"

    # the authority's scorecards show the month's numbers
    authority = hub.id_token("dsj-reviewer", "data_authority")
    cards = _as(hub, authority, "GET", "/authority/scorecards").json()
    assert cards["city"]["use"]["accesses"] > 0
    psb_card = next(p for p in cards["providers"] if p["department"] == "PSB")
    assert psb_card["corrections"]["received"] >= 1
    assert psb_card["corrections"]["answered"] >= 1
    assert ADDRESS in psb_card["disputed_attributes"]
    report = _as(hub, authority, "GET", "/authority/scorecards.csv")
    assert report.status_code == 200
    assert report.text.count("\n") >= 3
