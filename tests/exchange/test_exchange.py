"""POST /exchange/query and /exchange/verify end to end: the demo city's legacy stores behind
real adapters, the demo catalogue, systems and agreements in the hub database (SQLite and
PostgreSQL), a case system authenticated with private_key_jwt, evidence checked against the
hub's JWKS, and the audit table read back."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import SourceAdapter
from catalogue.identifiers import make_resident_id
from exchange.agreements.lifecycle import log_agreement_event
from exchange.agreements.models import Agreement
from exchange.agreements.terms import sign_terms
from exchange.audit.lifecycle import hold_log
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from tests.exchange.conftest import assert_documented
from tests.exchange.world import EDU, Hub, hub_over, showcase_people
from tests.profiles import TREE_HASH, verifying_key

ENROLMENT = "EDU-RXDJ-001"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=400, seed=7)


@pytest.fixture(scope="module")
def people(city: LegacyWorld) -> dict[str, str]:
    return showcase_people(city)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    yield from hub_over(database_url, sessions, live_demo_world, city.adapters_file)


def ask(subject: str, **more: Any) -> dict[str, Any]:
    return {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": "school-enrolment",
        **more,
    }


def test_a_service_item_bundle_is_released_field_by_field_with_provenance(
    hub: Hub, people: dict[str, str]
) -> None:
    response = hub.query(ask(people["multiple_properties"], service_item=ENROLMENT))
    assert response.status_code == 200, response.text
    body = response.json()
    released = body["attributes"]
    assert released["household.name"]["release"] == "clear"
    assert released["household.name"]["source"]["department"] == "PSB"
    assert released["household.name"]["source"]["resource"] == "PSB-HJ-0001"
    assert released["household.name"]["source"]["as_of"].endswith("Z")
    certificates = released["property.certificate_no"]["value"]
    assert len(certificates) >= 2  # every property of the owner, not just one
    owners = released["property.owners"]
    assert owners["release"] == "mask_name"  # the agreement's override
    assert all(name.endswith("*") for names in owners["value"] for name in names)
    assert body["denied"] == {"household.relation_to_head": "not_granted"}  # no agreement
    assert body["audit"]["index"] >= 0  # 0-based leaf index


def test_the_evidence_is_a_jws_anyone_can_verify_with_the_jwks(
    hub: Hub, people: dict[str, str]
) -> None:
    body = hub.query(ask(people["has_property"], service_item=ENROLMENT)).json()
    jwks = hub.client.get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(body["evidence"])
    assert header["typ"] == "tongban-evidence+jwt"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(body["evidence"], verifying_key(key), algorithms=[key["alg"]], audience=EDU)
    assert claims["jti"] == body["request_id"]
    assert claims["purpose"] == "school-enrolment"
    assert claims["attributes"] == body["attributes"]
    assert claims["audit"] == body["audit"]
    forged = body["evidence"][:-4] + ("AAAA" if not body["evidence"].endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, verifying_key(key), algorithms=[key["alg"]], audience=EDU)


def test_the_audit_entry_names_the_subject_by_pseudonym_and_holds_no_values(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["has_property"]
    body = hub.query(ask(subject, service_item=ENROLMENT)).json()
    (record,) = [r for r in hub.audit() if r.index == body["audit"]["index"]]
    assert record.request_id == body["request_id"]
    leaf = hashlib.new(TREE_HASH, b"\x00" + record.entry.encode()).digest()
    assert base64.b64encode(leaf).decode() == body["audit"]["leaf_hash"]
    entry = json.loads(record.entry)
    assert entry["subject"] != subject
    assert subject not in record.entry
    for released in body["attributes"].values():
        value = released["value"]
        for piece in value if isinstance(value, list) else [value]:
            assert json.dumps(piece, ensure_ascii=False).strip('"') not in record.entry
    assert entry["attributes"]["household.name"]["outcome"] == "released"
    assert entry["attributes"]["household.relation_to_head"]["reason"] == "not_granted"
    assert entry["outcome"] == "partial"


def test_only_permitted_fields_are_ever_fetched(
    hub: Hub, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, tuple[str, ...]]] = []
    original = SourceAdapter.begin_fetch_all

    def spy(self: SourceAdapter, subject: str, fields: Any) -> Any:
        asked.append((self.mapping.name, tuple(fields)))
        return original(self, subject, fields)

    monkeypatch.setattr(SourceAdapter, "begin_fetch_all", spy)
    attributes = ["household.name", "household.ethnicity", "household.relation_to_head"]
    body = hub.query(ask(people["has_property"], attributes=attributes)).json()
    assert set(body["denied"]) == {"household.ethnicity", "household.relation_to_head"}
    assert asked == [("psb/household", ("name",))]


def test_derived_predicates_answer_true_or_false_only(hub: Hub, people: dict[str, str]) -> None:
    attributes = ["household.age_at_least(6)", "property.owns_property_in(3301)"]
    owner = hub.query(ask(people["has_property"], attributes=attributes)).json()
    assert owner["attributes"]["property.owns_property_in(3301)"]["value"] is True
    assert owner["attributes"]["household.age_at_least(6)"]["release"] == "derived"
    nobody = hub.query(ask(people["no_property"], attributes=attributes)).json()
    assert nobody["attributes"]["property.owns_property_in(3301)"]["value"] is False
    elsewhere = hub.query(
        ask(people["has_property"], attributes=["property.owns_property_in(1101)"])
    ).json()
    assert elsewhere["attributes"]["property.owns_property_in(1101)"]["value"] is False


def test_verify_answers_match_no_match_and_denied(hub: Hub, people: dict[str, str]) -> None:
    subject = people["has_property"]
    name = hub.query(ask(subject, attributes=["household.name"])).json()["attributes"]
    claimed = name["household.name"]["value"]
    body = hub.verify(
        ask(
            subject,
            claims={
                "household.name": claimed,
                "household.birth_date": "1900-01-01",
                "household.ethnicity": "汉族",
            },
        )
    ).json()
    assert body["results"] == {
        "household.name": "match",
        "household.birth_date": "no_match",
        "household.ethnicity": "denied",
    }
    assert claimed not in json.dumps(body, ensure_ascii=False)
    assert jwt.get_unverified_header(body["evidence"])["typ"] == "tongban-evidence+jwt"


def test_a_revoked_agreement_stops_releases_at_once(hub: Hub, people: dict[str, str]) -> None:
    attributes = ["property.certificate_no"]
    before = hub.query(ask(people["has_property"], attributes=attributes)).json()
    assert "property.certificate_no" in before["attributes"]
    admin = hub.client.post(
        "/dev/idp/token", json={"sub": "reg-admin", "role": "department_admin", "department": "REG"}
    ).json()["id_token"]
    revoked = hub.client.post(
        "/agreements/AG-DEMO-EDU-REG-0001/revoke",
        json={"reason": "审计发现超范围使用"},
        headers={"authorization": f"Bearer {admin}"},
    )
    assert revoked.status_code == 200, revoked.text
    after = hub.query(ask(people["has_property"], attributes=attributes)).json()
    assert after["denied"] == {"property.certificate_no": "not_granted"}
    assert after["attributes"] == {}


def test_a_source_that_is_down_makes_only_its_attributes_unavailable(
    database_url: str,
    sessions: sessionmaker[Session],
    city: LegacyWorld,
    people: dict[str, str],
    tmp_path: Path,
    live_demo_world: Path,
) -> None:
    document = json.loads(city.adapters_file.read_text("utf-8"))
    document["connections"]["reg"]["root"] = str(tmp_path / "nowhere")
    shutil.rmtree(tmp_path / "nowhere", ignore_errors=True)
    adapters_file = tmp_path / "adapters.json"
    adapters_file.write_text(json.dumps(document), encoding="utf-8")
    for hub in hub_over(database_url, sessions, live_demo_world, adapters_file):
        body = hub.query(ask(people["has_property"], service_item=ENROLMENT)).json()
        assert "household.name" in body["attributes"]
        assert {a: r for a, r in body["unavailable"].items() if a.startswith("property.")} == {
            "property.certificate_no": "unavailable",
            "property.address": "unavailable",
            "property.division": "unavailable",
            "property.owners": "unavailable",
        }
        assert not any(a.startswith("household.") for a in body["unavailable"])
        assert hub.audit()[-1].outcome == "partial"


def test_all_or_nothing_releases_nothing_when_anything_is_missing(
    hub: Hub, people: dict[str, str]
) -> None:
    response = hub.query(
        ask(
            people["has_property"],
            attributes=["household.name", "household.ethnicity"],
            all_or_nothing=True,
        )
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "incomplete"
    assert problem["denied"] == {"household.ethnicity": "not_granted"}
    assert "value" not in response.text
    assert json.loads(hub.audit()[-1].entry)["outcome"] == "withheld"


def test_a_purpose_never_registered_is_refused_and_audited(
    hub: Hub, people: dict[str, str]
) -> None:
    response = hub.query(
        {**ask(people["has_property"], attributes=["household.name"]), "purpose": "marketing"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "purpose_not_registered"
    assert "value" not in response.text
    last = hub.audit()[-1]
    assert last.outcome == "denied"
    assert last.purpose == "marketing"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"subject": {"id_type": "CN-RIC", "id": "11010519491231002Y"}}, 422, "invalid_subject_id"),
        ({"subject": {"id_type": "passport", "id": "E12345678"}}, 422, "invalid_subject_id"),
        ({"attributes": ["household.salary"]}, 422, "unknown_attribute"),
        ({"attributes": ["nowhere.name"]}, 422, "unknown_attribute"),
        ({"attributes": ["household.age_at_least(999)"]}, 422, "invalid_attribute"),
        ({"service_item": "MCA-DBSQ-001", "attributes": None}, 403, "foreign_service_item"),
        ({"service_item": "EDU-NOPE-404", "attributes": None}, 404, "service_item_not_found"),
        ({"attributes": None}, 422, "malformed_request"),
        ({"attributes": ["household.name'; DROP TABLE x;--"]}, 422, "malformed_request"),
    ],
)
def test_bad_requests_get_their_precise_problem(
    hub: Hub, people: dict[str, str], change: dict[str, Any], status: int, code: str
) -> None:
    body = {**ask(people["has_property"], attributes=["household.name"]), **change}
    before = len(hub.audit())
    response = hub.query(body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert people["has_property"] not in response.text
    assert len(hub.audit()) == before  # not a decision: nothing to audit


def test_requests_without_a_valid_system_token_are_refused(
    hub: Hub, people: dict[str, str]
) -> None:
    body = ask(people["has_property"], attributes=["household.name"])
    assert hub.client.post("/exchange/query", json=body).status_code == 401
    staff = hub.client.post("/dev/idp/token", json={"sub": "a1", "role": "auditor"}).json()
    forged = hub.client.post(
        "/exchange/query", json=body, headers={"authorization": f"Bearer {staff['id_token']}"}
    )
    assert forged.status_code == 401
    assert forged.json()["code"] == "invalid_token"


def test_a_body_that_is_not_utf8_is_a_documented_malformed_request(client: TestClient) -> None:
    for path in ("/exchange/query", "/exchange/verify"):
        response = client.post(
            path, content=b'{"purpose": "\xff"}', headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "malformed_request"
        assert_documented(client, "POST", path, response)


def test_an_oversized_body_is_413(hub: Hub) -> None:
    huge = {"subject": {"id_type": "CN-RIC", "id": "1" * 18}, "purpose": "x" * (2 * 1024**2)}
    response = hub.client.post(
        "/exchange/query", json=huge, headers={"authorization": f"Bearer {hub.token()}"}
    )
    assert response.status_code == 413


def test_when_the_audit_cannot_be_written_nothing_is_released(
    hub: Hub, people: dict[str, str], database_url: str
) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
                    " BEGIN RAISE EXCEPTION 'disk full'; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER audit_full BEFORE INSERT ON audit_entries"
                    " FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER audit_full BEFORE INSERT ON audit_entries"
                    " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )
            )
    try:
        subject = people["has_property"]
        response = hub.query(ask(subject, attributes=["household.name"]))
        assert response.status_code == 503
        assert response.json()["code"] == "audit_unavailable"
        assert "value" not in response.text
        assert "disk full" not in response.text
    finally:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "DROP TRIGGER audit_full"
                    + (" ON audit_entries" if engine.dialect.name == "postgresql" else "")
                )
            )
            if engine.dialect.name == "postgresql":
                connection.execute(text("DROP FUNCTION refuse_insert()"))
        engine.dispose()


def test_a_citizen_unknown_to_a_department_is_unavailable_not_an_error(hub: Hub) -> None:
    stranger = make_resident_id("110105", datetime(1980, 5, 5).date(), 3)
    body = hub.query(ask(stranger, attributes=["household.name", "property.certificate_no"]))
    assert body.status_code == 200
    assert body.json()["unavailable"] == {"household.name": "no_record"}
    assert body.json()["attributes"]["property.certificate_no"]["value"] == []


def _amend_agreement(hub: Hub, **columns: Any) -> None:
    """Change the demo agreement's terms as the hub would decide them: signed and logged."""
    keys = hub.client.app.state.hub.keys  # type: ignore[attr-defined]
    with unit_of_work(hub.sessions, write=True) as session:
        hold_log(session)
        agreement = session.get(Agreement, "AG-DEMO-EDU-REG-0001")
        assert agreement is not None
        for name, value in columns.items():
            setattr(agreement, name, value)
        sign_terms(session, keys, agreement, now=datetime.now(UTC))
        log_agreement_event(session, agreement, "approved")


def test_the_daily_quota_is_counted_and_enforced(hub: Hub, people: dict[str, str]) -> None:
    _amend_agreement(hub, daily_quota=2)
    attributes = ["property.certificate_no", "property.division"]
    for _ in range(2):
        body = hub.query(ask(people["has_property"], attributes=attributes)).json()
        assert "property.certificate_no" in body["attributes"]
    third = hub.query(ask(people["has_property"], attributes=attributes)).json()
    assert third["denied"] == {"property.certificate_no": "quota_exceeded"}
    assert "property.division" in third["attributes"]  # unconditional: no quota


def test_a_row_condition_releases_only_records_inside_it(hub: Hub, people: dict[str, str]) -> None:
    subject = people["multiple_properties"]
    attributes = ["property.certificate_no", "property.division"]
    everything = hub.query(ask(subject, attributes=attributes)).json()["attributes"]
    divisions = everything["property.division"]["value"]
    assert len(set(divisions)) >= 1
    inside = divisions[0]
    _amend_agreement(hub, row_condition={"field": "division", "prefix": inside})
    body = hub.query(ask(subject, attributes=attributes)).json()
    kept = [
        number
        for number, division in zip(
            everything["property.certificate_no"]["value"], divisions, strict=True
        )
        if division.startswith(inside)
    ]
    assert body["attributes"]["property.certificate_no"]["value"] == kept
    assert body["attributes"]["property.division"]["value"] == divisions  # unconditional


def test_the_app_keeps_answering_after_its_lifespan_ran_again(
    hub: Hub, people: dict[str, str]
) -> None:
    """Harnesses (Schemathesis, some servers' reloaders) run startup/shutdown more than once;
    a shutdown must not leave the fan-out pool or the sources closed for good."""
    with TestClient(hub.client.app):
        pass  # startup, then shutdown: the pool and the opened adapters are closed
    response = hub.query(ask(people["has_property"], attributes=["household.name"]))
    assert response.status_code == 200, response.text
    assert "household.name" in response.json()["attributes"]


def test_a_granted_release_that_does_not_fit_the_values_releases_nothing(
    hub: Hub, people: dict[str, str]
) -> None:
    """A name mask granted on a number (a provider's mistake) is not a 500 and leaks nothing."""
    _amend_agreement(
        hub,
        granted={
            "certificate_no": None,
            "address": None,
            "owners": "mask_name",
            "area": "mask_name",
        },
    )
    response = hub.query(ask(people["has_property"], attributes=["property.area"]))
    assert response.status_code == 200, response.text
    assert response.json()["unavailable"] == {"property.area": "release_not_applicable"}
    assert response.json()["attributes"] == {}
