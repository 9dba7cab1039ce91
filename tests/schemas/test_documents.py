"""The documents the hub produces for others to keep have schemas that mean what they say: each
is valid JSON Schema 2020-12 and agrees with its Python type; an audit entry, the evidence and
a consent receipt made by the real code validate; and a tampered one (an extra member, an ID
number where a pseudonym belongs, a value in the log) is refused."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy.orm import Session, sessionmaker

from exchange.demo.sources import LegacyWorld, build_legacy_world
from schemas import (
    SCHEMA_NAMES,
    AuditedAttribute,
    AuditEntry,
    AuditReceipt,
    BudgetSpent,
    ConsentArtefact,
    ConsentController,
    ConsentedField,
    ConsentPurpose,
    ConsentReceipt,
    EvidencePayload,
    EvidenceSubject,
    LifecycleEntry,
    LifecycleObject,
    Provenance,
    ReleasedAttribute,
    load_schema,
    validator,
)
from tests.exchange.test_consent import MONTHS, PENSION, Citizen, given_consent
from tests.exchange.world import EDU, MCA, Hub, hub_over, showcase_people
from tests.profiles import verifying_key

ENROLMENT = "EDU-RXDJ-001"
Document = dict[str, Any]


def problems(name: str, document: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator(name).iter_errors(document)]


def assert_refused(name: str, document: Document, tamper: Callable[[Document], None]) -> None:
    tampered = copy.deepcopy(document)
    tamper(tampered)
    assert problems(name, tampered), f"{name} accepted a tampered document"


# -- the schemas themselves ------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_schema_is_valid_json_schema_2020_12_with_its_id(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://tongban.example/schemas/{name}.schema.json"


def _members(schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    node: Any = schema
    for part in pointer.strip("/").split("/") if pointer.strip("/") else []:
        node = node[part]
    if "$ref" in node and node["$ref"].startswith("#/"):
        return _members(schema, node["$ref"][1:])
    return dict(node)


@pytest.mark.parametrize(
    ("kind", "name", "pointer"),
    [
        (AuditEntry, "audit-entry", "/$defs/exchange_entry"),
        (AuditedAttribute, "audit-entry", "/$defs/audited_attribute"),
        (BudgetSpent, "audit-entry", "/$defs/exchange_entry/properties/budget"),
        (LifecycleEntry, "audit-entry", "/$defs/lifecycle_entry"),
        (LifecycleObject, "audit-entry", "/$defs/lifecycle_object"),
        (EvidencePayload, "evidence", ""),
        (EvidenceSubject, "evidence", "/properties/subject"),
        (AuditReceipt, "evidence", "/properties/audit"),
        (ReleasedAttribute, "evidence", "/$defs/released_attribute"),
        (Provenance, "evidence", "/$defs/released_attribute/properties/source"),
        (ConsentReceipt, "consent-artefact", ""),
        (ConsentArtefact, "consent-artefact", "/$defs/artefact"),
        (ConsentController, "consent-artefact", "/$defs/artefact/properties/controller"),
        (ConsentPurpose, "consent-artefact", "/$defs/artefact/properties/purpose"),
        (ConsentedField, "consent-artefact", "/$defs/artefact/properties/fields/items"),
    ],
)
def test_each_type_has_the_members_of_its_schema(kind: Any, name: str, pointer: str) -> None:
    node = _members(load_schema(name), pointer)
    assert node["additionalProperties"] is False  # a closed document
    assert set(kind.__annotations__) == set(node["properties"])
    assert kind.__required_keys__ == set(node["required"])
    undescribed = [m for m, p in node["properties"].items() if not p.get("description")]
    assert undescribed == []


# -- documents the real code produces --------------------------------------------------------


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


def ask(subject: str, **more: Any) -> Document:
    return {"subject": {"id_type": "CN-RIC", "id": subject}, "purpose": "school-enrolment", **more}


def verified_claims(hub: Hub, token: str, audience: str | None = None) -> Document:
    """The claims of a JWS the hub signed, checked against its JWKS."""
    jwks = hub.client.get("/.well-known/jwks.json").json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    claims: Document = jwt.decode(
        token, verifying_key(key), algorithms=[key["alg"]], audience=audience
    )
    return claims


def exchanges(hub: Hub, people: dict[str, str]) -> list[Document]:
    """Answers of every kind: a service item (lists, a denial), a predicate, a verify, an
    unregistered purpose (403, audited)."""
    subject = people["multiple_properties"]
    answers = [
        hub.query(ask(subject, service_item=ENROLMENT)),
        hub.query(ask(people["has_property"], attributes=["property.owns_property_in(1101)"])),
        hub.verify(ask(subject, claims={"household.name": "张三", "household.ethnicity": "汉族"})),
        hub.query(ask(subject, attributes=["household.name"], purpose="no-such-purpose")),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 403], [a.text for a in answers]
    return [a.json() for a in answers]


def test_the_entries_of_real_queries_and_verifies_validate_and_tampering_is_refused(
    hub: Hub, people: dict[str, str]
) -> None:
    exchanges(hub, people)
    entries = [json.loads(record.entry) for record in hub.audit()]
    assert {(e["kind"], e["outcome"]) for e in entries} >= {
        ("query", "partial"),
        ("query", "released"),
        ("verify", "partial"),
        ("query", "denied"),
    }
    for entry in entries:
        assert problems("audit-entry", entry) == []

    entry = next(e for e in entries if e["outcome"] == "partial" and e["kind"] == "query")
    name = next(iter(entry["attributes"]))
    id_number = people["multiple_properties"]

    def extra_member(e: Document) -> None:
        e["note"] = "hello"

    def value_in_the_log(e: Document) -> None:
        e["attributes"][name]["value"] = "张三"

    def id_number_for_pseudonym(e: Document) -> None:
        e["subject"] = id_number

    def upper_case_pseudonym(e: Document) -> None:
        e["subject"] = e["subject"].upper()

    def denied_without_reason(e: Document) -> None:
        denied = next(a for a in e["attributes"].values() if a["outcome"] == "denied")
        del denied["reason"]

    def budget_without_its_outcome(e: Document) -> None:
        e["budget"] = {"counter": "no_match", "field": name}

    for tamper in (
        extra_member,
        value_in_the_log,
        id_number_for_pseudonym,
        upper_case_pseudonym,
        denied_without_reason,
        budget_without_its_outcome,
    ):
        assert_refused("audit-entry", entry, tamper)


def test_the_evidence_of_real_answers_validates_and_tampering_is_refused(
    hub: Hub, people: dict[str, str]
) -> None:
    signed = [a for a in exchanges(hub, people) if a.get("evidence")]
    claims = [verified_claims(hub, answer["evidence"], EDU) for answer in signed]
    assert len(claims) == 3  # no evidence for the refused purpose
    for payload in claims:
        assert problems("evidence", payload) == []
    query, _, verify = claims
    assert "attributes" in query
    assert "verified" in verify

    def extra_claim(c: Document) -> None:
        c["sub"] = "someone"

    def both_answers(c: Document) -> None:
        c["verified"] = {}

    def value_without_source(c: Document) -> None:
        del next(iter(c["attributes"].values()))["source"]

    def lower_case_check_character(c: Document) -> None:
        c["subject"]["id"] = "11010519491231002x"

    for tamper in (extra_claim, both_answers, value_without_source, lower_case_check_character):
        assert_refused("evidence", query, tamper)


def test_a_real_consent_receipt_validates_and_tampering_is_refused(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing", max_uses=5)
    receipt = verified_claims(hub, consent["receipt"])
    assert problems("consent-artefact", receipt) == []
    narrowed = Citizen(hub, subject).patch(
        f"/citizen/consents/{consent['id']}", {"fields": [PENSION, MONTHS]}
    )
    assert narrowed.status_code == 201, narrowed.text
    second = verified_claims(hub, narrowed.json()["consent"]["receipt"])
    assert problems("consent-artefact", second) == []
    assert second["consent"]["supersedes"] == consent["id"]
    assert second["consent"]["controller"]["system"] == MCA

    def extra_member(r: Document) -> None:
        r["consent"]["note"] = "hello"

    def id_number_for_pseudonym(r: Document) -> None:
        r["consent"]["pii_principal"] = subject

    def signed_as_revoked(r: Document) -> None:
        r["consent"]["status"] = "revoked"

    def no_fields(r: Document) -> None:
        r["consent"]["fields"] = []

    for tamper in (extra_member, id_number_for_pseudonym, signed_as_revoked, no_fields):
        assert_refused("consent-artefact", second, tamper)
