"""Citizen consent end to end (SQLite and PostgreSQL): a case system asks, the citizen sees the
preview and decides, the exchange enforces it (one-time use, revocation, expiry, supersession)
and the audit log names it; every misuse gets its precise error."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from exchange.app import create_app
from exchange.audit.models import AuditRecord
from exchange.consent.models import Consent, ConsentEvent, ConsentRequest
from exchange.consent.service import expire_consents
from exchange.db import unit_of_work
from exchange.demo.build import build_demo
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.hub import Hub as HubParts
from exchange.security.identity import AUDIENCE, DEV_IDP_ISSUER, Role
from exchange.settings import Settings
from tests import factories
from tests.exchange.world import EDU, MCA, Hub, hub_over, showcase_people
from tests.profiles import verifying_key

PURPOSE = "minimum-living-allowance"
PENSION = "social_insurance.pension_amount"
MONTHS = "social_insurance.months_paid"
EMPLOYER = "social_insurance.current_employer_name"


def consent_ask(subject: str, /, **more: Any) -> dict[str, Any]:
    return factories.consent_request(subject, **more)


def query_ask(subject: str, **more: Any) -> dict[str, Any]:
    return {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": PURPOSE,
        "attributes": [PENSION, MONTHS],
        **more,
    }


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=200, seed=11)


@pytest.fixture(scope="module")
def people(city: LegacyWorld) -> dict[str, str]:
    return showcase_people(city)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    yield from hub_over(database_url, sessions, live_demo_world, city.adapters_file)


class Citizen:
    """A signed-in citizen of the demo world, acting through the hub's API."""

    def __init__(self, hub: Hub, id_number: str) -> None:
        self.hub = hub
        identity = hub.client.app.state.hub.identity  # type: ignore[attr-defined]
        self.headers = {
            "authorization": f"Bearer {identity.issue_dev_token(id_number, Role.CITIZEN, None)}"
        }

    def get(self, path: str) -> Any:
        return self.hub.client.get(path, headers=self.headers)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.hub.client.post(path, json=body, headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.hub.client.delete(path, headers=self.headers)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.hub.client.patch(path, json=body, headers=self.headers)


def ask_consent(hub: Hub, subject: str, /, system: str = MCA, **more: Any) -> Any:
    headers = {"authorization": f"Bearer {hub.token(system)}"}
    return hub.client.post("/consent-requests", json=consent_ask(subject, **more), headers=headers)


def given_consent(hub: Hub, subject: str, **more: Any) -> dict[str, Any]:
    """A consent the citizen gave to mca-dibao (all fields kept)."""
    request = ask_consent(hub, subject, **more)
    assert request.status_code == 201, request.text
    answer = Citizen(hub, subject).post(f"/citizen/consent-requests/{request.json()['id']}/approve")
    assert answer.status_code == 201, answer.text
    consent: dict[str, Any] = answer.json()["consent"]
    return consent


def entry_of(hub: Hub, index: int) -> dict[str, Any]:
    with unit_of_work(hub.sessions) as session:
        record = session.scalars(select(AuditRecord).where(AuditRecord.index == index)).one()
        entry: dict[str, Any] = json.loads(record.entry)
        return entry


# -- the whole journey ---------------------------------------------------------------------


def test_a_citizen_sees_the_preview_approves_and_the_one_time_consent_is_used_once(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    before = hub.query(query_ask(subject), system=MCA).json()
    assert before["denied"][PENSION] == "consent_required"

    asked = ask_consent(hub, subject)
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["status"] == "pending"
    assert request["approval_url"].endswith(f"/console/citizen/requests/{request['id']}")
    assert asked.headers["location"] == request["approval_url"]
    assert subject not in asked.text  # the request names the citizen by pseudonym only

    citizen = Citizen(hub, subject)
    (pending,) = citizen.get("/citizen/consent-requests").json()["requests"]
    preview = {f["attribute"]: f for f in pending["fields"]}
    assert set(preview) == {PENSION, MONTHS, EMPLOYER}
    assert preview[PENSION]["necessary"]
    assert not preview[EMPLOYER]["necessary"]
    assert preview[PENSION]["provider"]["code"] == "HRSS"
    assert preview[PENSION]["provider"]["name"]
    assert preview[PENSION]["label"] != "pension_amount"  # the catalogue's title
    assert pending["system"]["id"] == MCA
    assert pending["system"]["name"]
    assert pending["purpose"] == {"code": PURPOSE, "text": "最低生活保障家庭经济状况核对"}
    assert (pending["mode"], pending["valid_days"], pending["retention_days"]) == (
        "one_time",
        30,
        180,
    )

    approved = citizen.post(
        f"/citizen/consent-requests/{request['id']}/approve", {"fields": [PENSION, MONTHS]}
    )
    assert approved.status_code == 201, approved.text
    consent = approved.json()["consent"]
    assert consent["status"] == "given"
    assert {f["attribute"] for f in consent["fields"]} == {PENSION, MONTHS}
    assert consent["max_uses"] == 1
    assert [e["event"] for e in consent["events"]] == ["given"]
    assert citizen.get("/citizen/consent-requests").json()["requests"] == []

    first = hub.query(query_ask(subject), system=MCA).json()
    assert PENSION in first["attributes"], first
    entry = entry_of(hub, first["audit"]["index"])
    assert entry["attributes"][PENSION]["consent"] == consent["id"]
    assert f"consent:{consent['id']}" in entry["attributes"][PENSION]["rules"]

    again = hub.query(query_ask(subject), system=MCA).json()
    assert again["denied"][PENSION] == "consent_required"
    named = hub.query(query_ask(subject, consent_id=consent["id"]), system=MCA).json()
    assert named["denied"][PENSION] == "consent_used"

    after = citizen.get(f"/citizen/consents/{consent['id']}").json()
    assert (after["status"], after["use_count"]) == ("used", 1)
    assert [e["event"] for e in after["events"]] == ["given", "used"]
    assert after["events"][1]["detail"] == {"request_id": first["request_id"]}


def test_the_receipt_is_a_jws_anyone_can_verify_with_the_jwks(
    hub: Hub, people: dict[str, str]
) -> None:
    consent = given_consent(hub, people["consent_candidate"], mode="standing")
    header = jwt.get_unverified_header(consent["receipt"])
    assert header["typ"] == "tongban-consent+jwt"
    jwks = hub.client.get("/.well-known/jwks.json").json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(consent["receipt"], verifying_key(key), algorithms=[key["alg"]])
    signed = claims["consent"]
    assert claims["jti"] == signed["id"] == consent["id"]
    assert signed["controller"] == {"system": MCA, "department": "MCA"}
    assert signed["providers"] == ["HRSS"]
    assert signed["purpose"]["code"] == PURPOSE
    assert {f["attribute"] for f in signed["fields"]} == {PENSION, MONTHS, EMPLOYER}
    assert (signed["mode"], signed["retention_days"]) == ("standing", 180)
    assert signed["pii_principal"] != people["consent_candidate"]
    assert people["consent_candidate"] not in consent["receipt"]
    tampered = consent["receipt"][:-6] + (
        "AAAAAA" if consent["receipt"][-6:] != "AAAAAA" else "BBBBBB"
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, verifying_key(key), algorithms=[key["alg"]])


def test_a_standing_consent_counts_its_uses_up_to_its_maximum(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing", max_uses=2)
    for _ in range(2):
        assert PENSION in hub.query(query_ask(subject), system=MCA).json()["attributes"]
    refused = hub.query(query_ask(subject, consent_id=consent["id"]), system=MCA).json()
    assert refused["denied"][PENSION] == "consent_used"
    view = Citizen(hub, subject).get(f"/citizen/consents/{consent['id']}").json()
    assert (view["status"], view["use_count"]) == ("used", 2)


def test_revocation_takes_effect_at_once(hub: Hub, people: dict[str, str]) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing")
    assert PENSION in hub.query(query_ask(subject), system=MCA).json()["attributes"]
    citizen = Citizen(hub, subject)
    revoked = citizen.delete(f"/citizen/consents/{consent['id']}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert hub.query(query_ask(subject), system=MCA).json()["denied"][PENSION] == (
        "consent_required"
    )
    named = hub.query(query_ask(subject, consent_id=consent["id"]), system=MCA).json()
    assert named["denied"][PENSION] == "consent_revoked"
    again = citizen.delete(f"/citizen/consents/{consent['id']}")
    assert (again.status_code, again.json()["status"]) == (200, "revoked")
    events = [
        e["event"] for e in citizen.get(f"/citizen/consents/{consent['id']}").json()["events"]
    ]
    assert events == ["given", "used", "revoked"]


def test_expiry_takes_effect_without_a_sweep_and_the_sweep_writes_it_down(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing")
    past = datetime.now(UTC) - timedelta(seconds=1)
    with unit_of_work(hub.sessions, write=True) as session:
        session.execute(update(Consent).where(Consent.id == consent["id"]).values(expires_at=past))
    named = hub.query(query_ask(subject, consent_id=consent["id"]), system=MCA).json()
    assert named["denied"][PENSION] == "consent_expired"
    citizen = Citizen(hub, subject)
    assert citizen.get(f"/citizen/consents/{consent['id']}").json()["status"] == "expired"
    with unit_of_work(hub.sessions, write=True) as session:
        assert expire_consents(session, datetime.now(UTC)) == 1
    with unit_of_work(hub.sessions, write=True) as session:
        assert expire_consents(session, datetime.now(UTC)) == 0
        stored = session.get(Consent, consent["id"])
        assert stored is not None
        assert stored.status == "expired"
    assert [
        e["event"] for e in citizen.get(f"/citizen/consents/{consent['id']}").json()["events"]
    ] == [
        "given",
        "expired",
    ]
    refused = citizen.delete(f"/citizen/consents/{consent['id']}")
    assert (refused.status_code, refused.json()["code"]) == (409, "consent_not_active")


def test_a_change_makes_a_new_version_that_supersedes_the_old(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    old = given_consent(hub, subject, mode="standing")
    citizen = Citizen(hub, subject)
    changed = citizen.patch(f"/citizen/consents/{old['id']}", {"fields": [PENSION, MONTHS]})
    assert changed.status_code == 201, changed.text
    new = changed.json()["consent"]
    assert (new["version"], new["supersedes"]) == (2, old["id"])
    assert {f["attribute"] for f in new["fields"]} == {PENSION, MONTHS}
    assert (
        jwt.decode(new["receipt"], options={"verify_signature": False})["consent"]["supersedes"]
        == old["id"]
    )
    stale = hub.query(query_ask(subject, consent_id=old["id"]), system=MCA).json()
    assert stale["denied"][PENSION] == "consent_superseded"
    fresh = hub.query(query_ask(subject, consent_id=new["id"]), system=MCA).json()
    assert PENSION in fresh["attributes"]
    assert citizen.get(f"/citizen/consents/{old['id']}").json()["superseded_by"] == new["id"]
    dropped = citizen.patch(f"/citizen/consents/{new['id']}", {"fields": [MONTHS]})
    assert (dropped.status_code, dropped.json()["code"]) == (422, "invalid_consent_choice")


def test_a_new_standing_consent_for_the_same_purpose_supersedes_the_earlier(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    first = given_consent(hub, subject, mode="standing")
    second = given_consent(hub, subject, mode="standing")
    mine = Citizen(hub, subject).get("/citizen/consents").json()["consents"]
    states = {c["id"]: c["status"] for c in mine}
    assert states == {first["id"]: "superseded", second["id"]: "given"}
    assert second["version"] == 1  # a new request, not a change: its own artefact


# -- the system's side -----------------------------------------------------------------------


def test_the_asking_system_reads_the_answer_and_no_other_system_can(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    request = ask_consent(hub, subject).json()
    Citizen(hub, subject).post(
        f"/citizen/consent-requests/{request['id']}/refuse", {"reason": "不需要"}
    )
    own = hub.client.get(
        f"/consent-requests/{request['id']}",
        headers={"authorization": f"Bearer {hub.token(MCA)}"},
    )
    assert (own.status_code, own.json()["status"]) == (200, "refused")
    assert own.json()["refusal_reason"] == "不需要"
    other = hub.client.get(
        f"/consent-requests/{request['id']}",
        headers={"authorization": f"Bearer {hub.token(EDU)}"},
    )
    assert (other.status_code, other.json()["code"]) == (404, "consent_request_not_found")


@pytest.mark.parametrize(
    ("system", "changes", "status", "code"),
    [
        pytest.param(EDU, {"purpose": "school-enrolment"}, 403, "not_granted", id="no agreement"),
        pytest.param(
            MCA,
            {"attributes": ["household.criminal_record"], "optional": []},
            403,
            "not_granted",
            id="not shared",
        ),
        pytest.param(
            MCA, {"purpose": "school-enrolment"}, 403, "purpose_not_registered", id="purpose"
        ),
        pytest.param(
            MCA,
            {"subject": {"id_type": "CN-RIC", "id": "110105194912310021"}},
            422,
            "invalid_subject_id",
            id="bad check digit",
        ),
        pytest.param(
            MCA,
            {"attributes": ["nothing.here"], "optional": []},
            422,
            "unknown_attribute",
            id="unknown",
        ),
        pytest.param(
            MCA,
            {"optional": ["household.name"]},
            422,
            "invalid_consent_choice",
            id="optional not asked",
        ),
        pytest.param(MCA, {"max_uses": 5}, 422, "malformed_request", id="one_time with uses"),
        pytest.param(
            MCA, {"retention_days": -1}, 422, "malformed_request", id="negative retention"
        ),
    ],
)
def test_a_request_the_system_could_not_use_is_refused_precisely(
    hub: Hub,
    people: dict[str, str],
    system: str,
    changes: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = ask_consent(hub, people["consent_candidate"], system=system, **changes)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert people["consent_candidate"] not in response.text
    with unit_of_work(hub.sessions) as session:
        assert session.scalars(select(ConsentRequest)).all() == []


def test_no_agreement_names_the_fields_it_refused(hub: Hub, people: dict[str, str]) -> None:
    response = ask_consent(hub, people["consent_candidate"], system=EDU, purpose="school-enrolment")
    assert response.json()["denied"] == {PENSION: "not_granted", EMPLOYER: "not_granted"}


# -- the citizen's side: only their own, only while it is open ---------------------------------


def test_a_citizen_cannot_see_or_answer_someone_elses_request(
    hub: Hub, people: dict[str, str]
) -> None:
    request = ask_consent(hub, people["consent_candidate"]).json()
    stranger = Citizen(hub, people["has_property"])
    assert stranger.get("/citizen/consent-requests").json()["requests"] == []
    for path in (
        f"/citizen/consent-requests/{request['id']}/approve",
        f"/citizen/consent-requests/{request['id']}/refuse",
    ):
        response = stranger.post(path)
        assert (response.status_code, response.json()["code"]) == (404, "consent_request_not_found")
    assert stranger.get(f"/citizen/consent-requests/{request['id']}").status_code == 404
    consent = given_consent(hub, people["consent_candidate"], mode="standing")
    assert stranger.get(f"/citizen/consents/{consent['id']}").status_code == 404
    assert stranger.delete(f"/citizen/consents/{consent['id']}").status_code == 404
    assert stranger.get("/citizen/consents").json()["consents"] == []
    owner = Citizen(hub, people["consent_candidate"])
    assert owner.get(f"/citizen/consents/{consent['id']}").json()["status"] == "given"


def test_an_answered_or_expired_request_cannot_be_answered(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    citizen = Citizen(hub, subject)
    answered = ask_consent(hub, subject).json()
    citizen.post(f"/citizen/consent-requests/{answered['id']}/refuse")
    twice = citizen.post(f"/citizen/consent-requests/{answered['id']}/approve")
    assert (twice.status_code, twice.json()["code"]) == (409, "consent_request_answered")

    late = ask_consent(hub, subject).json()
    with unit_of_work(hub.sessions, write=True) as session:
        session.execute(
            update(ConsentRequest)
            .where(ConsentRequest.id == late["id"])
            .values(answer_by=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = citizen.post(f"/citizen/consent-requests/{late['id']}/approve")
    assert (expired.status_code, expired.json()["code"]) == (409, "consent_request_expired")
    assert citizen.get("/citizen/consent-requests").json()["requests"] == []
    everything = citizen.get("/citizen/consent-requests?status=all").json()["requests"]
    assert {r["id"]: r["status"] for r in everything} == {
        answered["id"]: "refused",
        late["id"]: "expired",
    }


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        pytest.param([MONTHS, EMPLOYER], f"{PENSION} is necessary", id="necessary left out"),
        pytest.param([PENSION, MONTHS, "household.name"], "household.name", id="not offered"),
    ],
)
def test_approval_keeps_every_necessary_field_and_nothing_unasked(
    hub: Hub, people: dict[str, str], fields: list[str], detail: str
) -> None:
    subject = people["consent_candidate"]
    request = ask_consent(hub, subject).json()
    response = Citizen(hub, subject).post(
        f"/citizen/consent-requests/{request['id']}/approve", {"fields": fields}
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_consent_choice")
    assert response.json()["errors"][0]["detail"] == detail
    with unit_of_work(hub.sessions) as session:
        assert session.scalars(select(Consent)).all() == []


def _foreign_token(subject: str, issuer: str = "https://idp.example.org") -> str:
    key = Ed25519PrivateKey.generate()
    now = datetime.now(UTC)
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": subject,
        "role": "citizen",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "attacker"})


def test_forged_expired_and_untrusted_citizen_tokens_are_refused(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    identity = hub.client.app.state.hub.identity  # type: ignore[attr-defined]
    good = identity.issue_dev_token(subject, Role.CITIZEN, None)
    header, payload, signature = good.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["sub"] = people["has_property"]
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    tokens = {
        "forged": f"{header}.{forged_payload}.{signature}",
        "expired": identity.issue_dev_token(
            subject, Role.CITIZEN, None, now=datetime.now(UTC) - timedelta(hours=3)
        ),
        "untrusted issuer": _foreign_token(subject),
        "dev issuer, foreign key": _foreign_token(subject, issuer=DEV_IDP_ISSUER),
        "garbage": "not-a-token",
    }
    for name, token in tokens.items():
        response = hub.client.get(
            "/citizen/consent-requests", headers={"authorization": f"Bearer {token}"}
        )
        assert (response.status_code, response.json()["code"]) == (401, "invalid_token"), name
        assert subject not in response.text


def test_staff_and_systems_are_not_citizens(
    hub: Hub, people: dict[str, str], staff_token: Any
) -> None:
    auditor = {"authorization": f"Bearer {staff_token(Role.AUDITOR, None)}"}
    response = hub.client.get("/citizen/consents", headers=auditor)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    system = {"authorization": f"Bearer {hub.token(MCA)}"}
    assert hub.client.get("/citizen/consents", headers=system).status_code == 401
    citizen = Citizen(hub, people["consent_candidate"])
    refused = citizen.post("/consent-requests", consent_ask(people["consent_candidate"]))
    assert refused.status_code == 401


def test_ids_that_are_not_ids_are_malformed(hub: Hub, people: dict[str, str]) -> None:
    citizen = Citizen(hub, people["consent_candidate"])
    for path in ("/citizen/consents/' OR 1=1 --", f"/citizen/consents/cn-{uuid.uuid4()}x"):
        response = citizen.get(path)
        assert response.status_code == 422, path
        assert response.headers["content-type"].startswith("application/problem+json")
    missing = citizen.delete(f"/citizen/consents/cn-{uuid.uuid4()}")
    assert (missing.status_code, missing.json()["code"]) == (404, "consent_not_found")


def test_no_audit_entry_or_event_is_lost_when_a_query_relies_on_consent(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing")
    answers = [hub.query(query_ask(subject), system=MCA).json() for _ in range(3)]
    with unit_of_work(hub.sessions) as session:
        used = session.scalars(
            select(ConsentEvent).where(
                ConsentEvent.consent_id == consent["id"], ConsentEvent.event == "used"
            )
        ).all()
    assert sorted(e.detail["request_id"] for e in used) == sorted(a["request_id"] for a in answers)
    for answer in answers:
        assert (
            entry_of(hub, answer["audit"]["index"])["attributes"][PENSION]["consent"]
            == consent["id"]
        )


def test_the_demo_world_has_a_given_consent_and_a_pending_request(
    database_url: str,
    sessions: sessionmaker[Session],
    city: LegacyWorld,
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=database_url, mode="dev", adapters_file=city.adapters_file)
    subjects = [s.to_json() for s in city.subjects]
    with HubParts.from_settings(settings) as parts, unit_of_work(sessions, write=True) as session:
        world = build_demo(session, tmp_path / "demo", subjects=subjects, hub=parts)
    given, pending = world.consents
    assert (given["status"], pending["status"]) == ("approved", "pending")
    manifest = json.loads((tmp_path / "demo" / "demo.json").read_text("utf-8"))
    assert manifest["consents"] == world.consents
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        demo = Hub(client, tmp_path / "demo", sessions)
        answer = demo.query(query_ask(given["subject"]), system=MCA).json()
        assert answer["attributes"][PENSION]["release"] == "clear"
        assert (
            entry_of(demo, answer["audit"]["index"])["attributes"][PENSION]["consent"]
            == (given["consent"])
        )
        waiting = Citizen(demo, pending["subject"]).get("/citizen/consent-requests").json()
        assert [r["id"] for r in waiting["requests"]] == [pending["request"]]
    with HubParts.from_settings(settings) as parts, unit_of_work(sessions, write=True) as session:
        again = build_demo(session, tmp_path / "demo", subjects=subjects, hub=parts)
    assert [c["request"] for c in again.consents] == [c["request"] for c in world.consents]


def test_a_consent_relied_on_takes_nothing_from_the_fields_that_need_none(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    given_consent(hub, subject, mode="standing")
    status = "social_insurance.status"  # unconditional, personal: no consent needed
    body = hub.query(query_ask(subject, attributes=[PENSION, status]), system=MCA).json()
    assert set(body["attributes"]) == {PENSION, status}, body
    assert body["denied"] == {}
