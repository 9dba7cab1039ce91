"""Agreement lifecycles in the audit log (SQLite and PostgreSQL): the exchange relies on an
agreement only if its signed terms verify with a hub key, the row is what the terms signed and
its newest lifecycle entry in the log is about those terms and leaves it approved. Someone who
can write the hub's database (a forged row, a widened, extended or un-revoked one) gets nothing
released, and the answer says why; a revocation is a log entry with an inclusion proof;
``tongban audit verify`` names the bad row; an upgraded hub records the agreements it had."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from catalogue.models import Resource
from exchange.agreements.lifecycle import record_agreements
from exchange.agreements.models import Agreement, AgreementStatus
from exchange.audit import merkle
from exchange.audit.models import AuditHead, AuditRecord
from exchange.audit.verify import verify_log
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from schemas import validator
from tests.commands import tongban_in_process
from tests.exchange.world import Hub, hub_over, showcase_people
from tests.servers import dev_environment

DEMO = "AG-DEMO-EDU-REG-0001"  # edu-enrolment's agreement over REG-BDC-0001
OWNERS = "property.owners"  # granted with release mask_name
CERTIFICATE = "property.certificate_no"
RELATION = "household.relation_to_head"  # conditional, and no agreement grants it


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


def ask(subject: str, *attributes: str) -> dict[str, Any]:
    return {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": "school-enrolment",
        "attributes": list(attributes),
    }


def staff(
    hub: Hub, role: str = "department_admin", department: str | None = "REG"
) -> dict[str, str]:
    claims = {"sub": f"{role}-1", "role": role, "department": department}
    token = hub.client.post("/dev/idp/token", json=claims).json()["id_token"]
    return {"authorization": f"Bearer {token}"}


def reg_admin(hub: Hub) -> dict[str, str]:
    return staff(hub)


def lifecycle_entries(hub: Hub, agreement_id: str) -> list[dict[str, Any]]:
    with unit_of_work(hub.sessions) as session:
        texts = session.scalars(
            select(AuditRecord.entry)
            .where(AuditRecord.object_id == agreement_id)
            .order_by(AuditRecord.index)
        )
        return [json.loads(text) for text in texts]


def edit(hub: Hub, agreement_id: str, **values: Any) -> None:
    with unit_of_work(hub.sessions, write=True) as session:
        session.execute(update(Agreement).where(Agreement.id == agreement_id).values(**values))


def verify_problems(hub: Hub) -> dict[str, str]:
    parts = hub.client.app.state.hub  # type: ignore[attr-defined]
    with unit_of_work(hub.sessions) as session:
        report = verify_log(session, parts.checkpoints.verifier())
    return {kind: problem.message for kind, problem in report.problems.items()}


def add_like_demo(hub: Hub, agreement_id: str, **values: Any) -> None:
    """A row granting edu-enrolment the household's relation to its head, written straight into
    the database (as a forger, or a hub from before signed terms, would)."""
    with unit_of_work(hub.sessions, write=True) as session:
        template = session.get(Agreement, DEMO)
        household = session.get(Resource, "PSB-HJ-0001")
        assert template is not None
        assert household is not None
        columns = {c.key: getattr(template, c.key) for c in Agreement.__mapper__.column_attrs}
        row = {
            **columns,
            "id": agreement_id,
            "provider_department": household.provider_code,
            "resource_code": household.code,
            "resource_version": household.latest_version,
            "fields": ["relation_to_head"],
            "granted": {"relation_to_head": None},
            "row_condition": None,
            "document_digest": None,
            **values,
        }
        session.add(Agreement(**row))


# -- the log holds each event ----------------------------------------------------------------


def test_loading_and_revoking_are_entries_that_match_the_schema(
    hub: Hub, people: dict[str, str]
) -> None:
    revoked = hub.client.post(
        f"/agreements/{DEMO}/revoke", json={"reason": "审计发现超范围使用"}, headers=reg_admin(hub)
    )
    assert revoked.status_code == 200, revoked.text
    entries = lifecycle_entries(hub, DEMO)
    assert [(e["outcome"], e["object"]["status_after"]) for e in entries] == [
        ("approved", "approved"),
        ("revoked", "revoked"),
    ]
    assert entries[0]["object"]["digest"] == entries[1]["object"]["digest"]
    for entry in entries:
        assert list(validator("audit-entry").iter_errors(entry)) == []
        assert (entry["subject"], entry["purpose"]) == ("-", "-")
        assert (entry["system"], entry["department"]) == ("edu-enrolment", "EDU")
    answer = hub.query(ask(people["has_property"], CERTIFICATE)).json()
    assert answer["denied"] == {CERTIFICATE: "not_granted"}
    assert verify_problems(hub) == {}


# -- a row written in the database releases nothing ------------------------------------------


def test_a_forged_agreement_row_releases_nothing_and_the_answer_says_why(
    hub: Hub, people: dict[str, str]
) -> None:
    add_like_demo(hub, "AG-FORGED-0001", terms="eyJhbGciOiJub25lIn0.e30.")
    answer = hub.query(ask(people["has_property"], RELATION))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["attributes"] == {}
    assert body["denied"] == {RELATION: "agreement_unverifiable"}
    assert body["unverifiable"]["AG-FORGED-0001"] == (
        "the agreement AG-FORGED-0001 has no terms signed by the hub"
    )
    assert "AG-FORGED-0001" in verify_problems(hub)["agreement"]


@pytest.mark.parametrize(
    ("change", "attribute"),
    [
        (
            {"granted": {"certificate_no": None, "address": None, "owners": None, "area": None}},
            OWNERS,
        ),
        ({"valid_until": datetime(2099, 1, 1, tzinfo=UTC)}, CERTIFICATE),
    ],
    ids=["widened release", "extended validity"],
)
def test_an_approved_row_edited_in_the_database_releases_nothing(
    hub: Hub, people: dict[str, str], change: dict[str, Any], attribute: str
) -> None:
    before = hub.query(ask(people["has_property"], attribute)).json()
    assert attribute in before["attributes"]
    edit(hub, DEMO, **change)

    answer = hub.query(ask(people["has_property"], attribute)).json()
    assert answer["attributes"] == {}
    assert answer["denied"] == {attribute: "agreement_unverifiable"}
    assert answer["unverifiable"][DEMO] == f"the agreement {DEMO} does not match its signed terms"
    assert (
        f"the agreement {DEMO} does not match its signed terms"
        in (verify_problems(hub)["agreement"])
    )


def test_a_revoked_agreement_set_back_to_approved_stays_revoked(
    hub: Hub, people: dict[str, str]
) -> None:
    revoked = hub.client.post(
        f"/agreements/{DEMO}/revoke", json={"reason": "审计发现超范围使用"}, headers=reg_admin(hub)
    )
    assert revoked.status_code == 200, revoked.text
    edit(hub, DEMO, status=AgreementStatus.APPROVED, revoked_at=None, revoked_by=None)

    answer = hub.query(ask(people["has_property"], CERTIFICATE)).json()
    assert answer["attributes"] == {}
    assert answer["denied"] == {CERTIFICATE: "agreement_unverifiable"}
    assert "latest event in the audit log is 'revoked'" in answer["unverifiable"][DEMO]
    assert "is 'approved' in the database" in verify_problems(hub)["agreement"]


# -- proof of a revocation ---------------------------------------------------------------------


def test_a_revocation_is_a_log_entry_with_an_inclusion_proof(hub: Hub) -> None:
    headers = reg_admin(hub)
    revoked = hub.client.post(
        f"/agreements/{DEMO}/revoke", json={"reason": "审计发现超范围使用"}, headers=headers
    )
    assert revoked.status_code == 200, revoked.text
    log = hub.client.get(f"/agreements/{DEMO}", headers=headers).json()["log"]
    assert [e["event"] for e in log] == ["approved", "revoked"]
    revocation = log[-1]
    with unit_of_work(hub.sessions) as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        size, root = head.size, head.root
    proof = hub.client.get(
        f"/audit/proof/inclusion?index={revocation['index']}&size={size}",
        headers=staff(hub, "auditor", None),
    )
    assert proof.status_code == 200, proof.text
    body = proof.json()
    assert body["leaf_hash"] == revocation["leaf_hash"]
    assert merkle.verify_inclusion(
        base64.b64decode(body["leaf_hash"]),
        revocation["index"],
        size,
        [base64.b64decode(p) for p in body["proof"]],
        root,
    )
    assert lifecycle_entries(hub, DEMO)[-1]["at"] == revocation["at"]


# -- upgrading a hub ---------------------------------------------------------------------------


def test_record_lifecycles_makes_the_agreements_of_an_upgraded_hub_usable_again(
    hub: Hub, people: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    add_like_demo(hub, "AG-OLD-0001", terms=None)  # as a hub before signed terms had it
    before = hub.query(ask(people["has_property"], RELATION)).json()
    assert before["denied"] == {RELATION: "agreement_unverifiable"}
    assert "has no terms signed by the hub" in before["unverifiable"]["AG-OLD-0001"]

    parts = hub.client.app.state.hub  # type: ignore[attr-defined]
    secret = parts.settings.secret_key.get_secret_value()  # the hub's, which unwraps its keys
    ran = tongban_in_process(
        tmp_path,
        "audit",
        "record-lifecycles",
        "--json",
        env=dev_environment(TONGBAN_DATABASE_URL=database_url, TONGBAN_SECRET_KEY=secret),
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["agreements"] == {"recorded": 1, "signed": 1, "refused": []}
    after = hub.query(ask(people["has_property"], RELATION)).json()
    assert RELATION in after["attributes"], after
    assert [e["outcome"] for e in lifecycle_entries(hub, "AG-OLD-0001")] == ["recorded"]
    assert "agreement" not in verify_problems(hub)
    with unit_of_work(hub.sessions, write=True) as session:
        assert record_agreements(session, parts.keys, now=datetime.now(UTC)).recorded == 0
