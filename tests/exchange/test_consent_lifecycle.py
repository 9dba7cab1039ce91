"""Consent lifecycles in the audit log (SQLite and PostgreSQL): the exchange relies on a consent
only if its signed receipt verifies, the row is what the receipt signed and its newest
lifecycle entry in the log leaves it given. Someone who can write the hub's database (a forged
row, a widened or un-revoked one) gets nothing released, and the answer says why; the citizen
can prove a revocation was logged, and when; ``tongban audit verify`` names the bad row; an
upgraded hub records the consents it already had."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from exchange.audit import merkle
from exchange.audit.models import AuditHead, AuditRecord
from exchange.audit.verify import verify_log
from exchange.consent.artefact import signed_receipt
from exchange.consent.lifecycle import record_consents
from exchange.consent.models import Consent, ConsentStatus
from exchange.consent.service import expire_consents
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from schemas import validator
from tests.commands import tongban_in_process
from tests.exchange.test_consent import (
    EMPLOYER,
    MCA,
    PENSION,
    Citizen,
    given_consent,
    query_ask,
)
from tests.exchange.world import Hub, hub_over, showcase_people
from tests.servers import dev_environment


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


def lifecycle_entries(hub: Hub, consent_id: str) -> list[dict[str, Any]]:
    with unit_of_work(hub.sessions) as session:
        texts = session.scalars(
            select(AuditRecord.entry)
            .where(AuditRecord.object_id == consent_id)
            .order_by(AuditRecord.index)
        )
        return [json.loads(text) for text in texts]


def edit(hub: Hub, consent_id: str, **values: Any) -> None:
    with unit_of_work(hub.sessions, write=True) as session:
        session.execute(update(Consent).where(Consent.id == consent_id).values(**values))


def refused_for(answer: dict[str, Any], consent_id: str) -> str:
    """The answer released no pension; returns why the consent was not relied on."""
    assert PENSION not in answer["attributes"]
    reason: str = answer["unverifiable"][consent_id]
    return reason


def verify_problems(hub: Hub) -> dict[str, str]:
    parts = hub.client.app.state.hub  # type: ignore[attr-defined]
    with unit_of_work(hub.sessions) as session:
        report = verify_log(session, parts.checkpoints.verifier())
    return {kind: problem.message for kind, problem in report.problems.items()}


# -- the log holds each event ----------------------------------------------------------------


def test_giving_narrowing_and_revoking_are_entries_that_match_the_schema(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing")
    citizen = Citizen(hub, subject)
    sooner = (datetime.now(UTC) + timedelta(days=10)).isoformat(timespec="seconds")
    narrowed = citizen.patch(f"/citizen/consents/{consent['id']}", {"expires_at": sooner})
    assert narrowed.status_code == 201, narrowed.text
    new = narrowed.json()["consent"]
    assert citizen.delete(f"/citizen/consents/{new['id']}").status_code == 200

    old_events = lifecycle_entries(hub, consent["id"])
    new_events = lifecycle_entries(hub, new["id"])
    assert [e["outcome"] for e in old_events] == ["given", "superseded"]
    assert [(e["outcome"], e["object"]["status_after"]) for e in new_events] == [
        ("narrowed", "given"),
        ("revoked", "revoked"),
    ]
    assert new_events[0]["object"]["supersedes"] == consent["id"]
    for entry in old_events + new_events:
        assert list(validator("audit-entry").iter_errors(entry)) == []
        assert entry["subject"] != subject
        assert len(entry["subject"]) == 64
    assert verify_problems(hub) == {}


# -- a row written in the database releases nothing ------------------------------------------


def test_a_forged_consent_row_releases_nothing_and_the_answer_says_why(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    real = given_consent(hub, subject, mode="standing")
    assert Citizen(hub, subject).delete(f"/citizen/consents/{real['id']}").status_code == 200
    forged_id = f"cn-{uuid.uuid4()}"
    with unit_of_work(hub.sessions, write=True) as session:
        template = session.get(Consent, real["id"])
        assert template is not None
        columns = {c.key: getattr(template, c.key) for c in Consent.__mapper__.column_attrs}
        session.add(
            Consent(
                **{
                    **columns,
                    "id": forged_id,
                    "status": ConsentStatus.GIVEN,
                    "receipt": "eyJhbGciOiJub25lIn0.e30.",
                }
            )
        )

    named = hub.query(query_ask(subject, consent_id=forged_id), system=MCA)
    assert named.status_code == 200, named.text
    assert named.json()["denied"][PENSION] == "consent_unverifiable"
    assert "has no receipt signed by the hub" in refused_for(named.json(), forged_id)
    unnamed = hub.query(query_ask(subject), system=MCA).json()
    assert unnamed["denied"][PENSION] == "consent_unverifiable"
    assert forged_id in verify_problems(hub)["consent"]


def test_a_consent_row_widened_in_the_database_releases_nothing(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing")
    with unit_of_work(hub.sessions) as session:
        row = session.get(Consent, consent["id"])
        assert row is not None
        fields = [dict(f) for f in row.fields]
    wider = [*fields, {**fields[0], "attribute": EMPLOYER, "necessary": False}]
    edit(hub, consent["id"], fields=wider)

    answer = hub.query(query_ask(subject, consent_id=consent["id"]), system=MCA).json()
    assert answer["denied"][PENSION] == "consent_unverifiable"
    assert refused_for(answer, consent["id"]) == (
        f"the consent {consent['id']} does not match its signed receipt"
    )
    assert "does not match its signed receipt" in verify_problems(hub)["consent"]


def test_a_revoked_consent_set_back_to_given_in_the_database_stays_revoked(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing")
    assert Citizen(hub, subject).delete(f"/citizen/consents/{consent['id']}").status_code == 200
    edit(hub, consent["id"], status=ConsentStatus.GIVEN)

    answer = hub.query(query_ask(subject, consent_id=consent["id"]), system=MCA).json()
    assert answer["denied"][PENSION] == "consent_revoked"
    revoked_at = lifecycle_entries(hub, consent["id"])[-1]
    assert "latest event in the audit log is 'revoked'" in refused_for(answer, consent["id"])
    assert revoked_at["outcome"] == "revoked"
    assert "is 'given' in the database" in verify_problems(hub)["consent"]


# -- proof of a revocation ---------------------------------------------------------------------


def test_the_citizen_proves_the_revocation_was_logged_and_when(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing")
    citizen = Citizen(hub, subject)
    assert citizen.delete(f"/citizen/consents/{consent['id']}").status_code == 200

    log = citizen.get(f"/citizen/consents/{consent['id']}").json()["log"]
    assert [e["event"] for e in log] == ["given", "revoked"]
    revocation = log[-1]
    with unit_of_work(hub.sessions) as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        size, root = head.size, head.root
    proof = citizen.get(f"/audit/proof/inclusion?index={revocation['index']}&size={size}")
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
    entry = lifecycle_entries(hub, consent["id"])[-1]
    assert entry["at"] == revocation["at"]
    # the consent's events are in its history, not among the accesses to the citizen's data
    accesses = citizen.get("/citizen/accesses")
    assert accesses.status_code == 200
    listed = {access["index"] for access in accesses.json()["accesses"]}
    with unit_of_work(hub.sessions) as session:
        events = set(
            session.scalars(select(AuditRecord.index).where(AuditRecord.object_id == consent["id"]))
        )
    assert events
    assert not listed & events


# -- upgrading a hub ---------------------------------------------------------------------------


def test_record_lifecycles_makes_the_consents_of_an_upgraded_hub_usable_again(
    hub: Hub, people: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    subject = people["consent_candidate"]
    real = given_consent(hub, subject, mode="standing")
    assert Citizen(hub, subject).delete(f"/citizen/consents/{real['id']}").status_code == 200
    parts = hub.client.app.state.hub  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    old_id, junk_id = f"cn-{uuid.uuid4()}", f"cn-{uuid.uuid4()}"
    with unit_of_work(hub.sessions, write=True) as session:  # as a hub before this change did
        template = session.get(Consent, real["id"])
        assert template is not None
        columns = {c.key: getattr(template, c.key) for c in Consent.__mapper__.column_attrs}
        given = {**columns, "status": ConsentStatus.GIVEN, "use_count": 0, "starts_at": now}
        old = Consent(**{**given, "id": old_id, "receipt": ""})
        session.add(old)
        session.add(Consent(**{**given, "id": junk_id, "receipt": "junk"}))
        session.flush()
        old.receipt = signed_receipt(session, parts.keys, old, now=now, issuer="https://hub")

    before = hub.query(query_ask(subject, consent_id=old_id), system=MCA).json()
    assert "has no lifecycle entry" in refused_for(before, old_id)

    secret = parts.settings.secret_key.get_secret_value()  # the hub's: the command is its own
    ran = tongban_in_process(
        tmp_path,
        "audit",
        "record-lifecycles",
        "--json",
        env=dev_environment(TONGBAN_DATABASE_URL=database_url, TONGBAN_SECRET_KEY=secret),
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {
        "consents": {
            "recorded": 1,
            "refused": [f"the consent {junk_id} has no receipt signed by the hub"],
        },
        "agreements": {"recorded": 0, "signed": 0, "refused": []},
    }
    after = hub.query(query_ask(subject, consent_id=old_id), system=MCA).json()
    assert PENSION in after["attributes"]
    assert [e["outcome"] for e in lifecycle_entries(hub, old_id)] == ["recorded"]
    with unit_of_work(hub.sessions, write=True) as session:
        assert record_consents(session).recorded == 0


def test_the_expiry_sweep_logs_each_expiry_and_verify_agrees(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing")
    with unit_of_work(hub.sessions) as session:
        row = session.get(Consent, consent["id"])
        assert row is not None
        later = row.expires_at + timedelta(seconds=1)
    with unit_of_work(hub.sessions, write=True) as session:
        assert expire_consents(session, later) >= 1
    expired = lifecycle_entries(hub, consent["id"])[-1]
    assert (expired["outcome"], expired["object"]["status_after"]) == ("expired", "expired")
    assert list(validator("audit-entry").iter_errors(expired)) == []
    assert verify_problems(hub) == {}


def test_all_or_nothing_refuses_with_409_naming_the_edited_consent(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["consent_candidate"]
    consent = given_consent(hub, subject, mode="standing")
    edit(hub, consent["id"], max_uses=None, purpose_text="widened in the database")

    refused = hub.query(
        query_ask(subject, consent_id=consent["id"], all_or_nothing=True), system=MCA
    )
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "incomplete"
    assert problem["denied"][PENSION] == "consent_unverifiable"
    assert problem["unverifiable"] == {
        consent["id"]: f"the consent {consent['id']} does not match its signed receipt"
    }
