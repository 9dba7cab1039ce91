"""Reading the audit log over HTTP: auditors search, read and export it; operators, department
admins and citizens may not; a citizen sees exactly their own accesses, each with a proof that
verifies against the head; the proof routes answer whoever may check an entry. A demo hub
(SQLite and PostgreSQL) answers real queries first, so the entries are the pipeline's own."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from exchange.app import create_app
from exchange.audit import merkle, reading, vmap
from exchange.audit.canonical import canonical_json
from exchange.audit.checkpoint import NoteVerifier, parse_vkey
from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.settings import Settings
from tests import factories
from tests.exchange.conftest import assert_documented, request_token
from tests.exchange.world import showcase_people
from tests.profiles import TREE_HASH

EDU = "edu-enrolment"
MCA = "mca-dibao"
ENROLMENT = "EDU-RXDJ-001"
DIBAO = "MCA-DBSQ-001"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=300, seed=5)


@pytest.fixture(scope="module")
def people(city: LegacyWorld) -> dict[str, str]:
    return showcase_people(city)


@dataclass
class AuditedHub:
    """A demo hub after a few real queries, and which log indexes each subject got."""

    client: TestClient
    data_dir: Path
    sessions: sessionmaker[Session]
    people: dict[str, str]
    indexes: dict[str, list[int]] = field(default_factory=dict)

    def system_token(self, system: str = EDU) -> str:
        key = json.loads((self.data_dir / "keys" / f"{system}.jwk").read_text("utf-8"))
        audience = f"{self.client.base_url}/oauth/token"
        response = request_token(self.client, factories.client_assertion(key, system, audience))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def id_token(self, sub: str, role: str, department: str | None = None) -> str:
        body = {"sub": sub, "role": role, "department": department}
        response = self.client.post("/dev/idp/token", json=body)
        assert response.status_code == 200, response.text
        token: str = response.json()["id_token"]
        return token

    def ask(self, kind: str, subject: str, body: dict[str, Any], system: str = EDU) -> int:
        """Send a query or verify about ``self.people[subject]``; the log index it got."""
        request = {"subject": {"id_type": "CN-RIC", "id": self.people[subject]}, **body}
        headers = {"authorization": f"Bearer {self.system_token(system)}"}
        response = self.client.post(f"/exchange/{kind}", json=request, headers=headers)
        assert response.status_code in {200, 403}, response.text
        index: int = response.json()["audit"]["index"]
        self.indexes.setdefault(subject, []).append(index)
        return index

    def get(self, path: str, token: str | None, **params: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return self.client.get(path, params=params, headers=headers)

    def records(self) -> list[AuditRecord]:
        """Every entry, oldest first: the demo agreements' lifecycle entries, then the asks."""
        with unit_of_work(self.sessions) as session:
            return list(session.scalars(select(AuditRecord).order_by(AuditRecord.index)))


@pytest.fixture
def hub(
    database_url: str,
    sessions: sessionmaker[Session],
    city: LegacyWorld,
    people: dict[str, str],
    live_demo_world: Path,
) -> Iterator[AuditedHub]:
    data_dir = live_demo_world
    settings = Settings(database_url=database_url, mode="dev", adapters_file=city.adapters_file)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        hub = AuditedHub(client, data_dir, sessions, people)
        school = {"purpose": "school-enrolment"}
        hub.ask("query", "has_property", {**school, "service_item": ENROLMENT})
        hub.ask("query", "no_property", {**school, "attributes": ["household.name"]})
        hub.ask("verify", "has_property", {**school, "claims": {"household.name": "张三"}})
        hub.ask(
            "query",
            "no_property",
            {"purpose": "minimum-living-allowance", "service_item": DIBAO},
            system=MCA,
        )
        hub.ask(  # never registered: refused, and audited as a denial
            "query",
            "multiple_properties",
            {"purpose": "marketing", "attributes": ["household.name"]},
        )
        hub.ask("query", "has_property", {**school, "attributes": ["household.ethnicity"]})
        yield hub


@pytest.fixture
def auditor(hub: AuditedHub) -> str:
    return hub.id_token("auditor-01", "auditor")


def _search(hub: AuditedHub, token: str, **params: Any) -> list[dict[str, Any]]:
    response = hub.get("/audit/entries", token, **params)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def _no_id_numbers(hub: AuditedHub, text: str) -> None:
    for number in hub.people.values():
        assert number not in text


# -- auditors search -----------------------------------------------------------------------


def test_an_auditor_finds_a_citizens_entries_by_their_id_number(
    hub: AuditedHub, auditor: str
) -> None:
    response = hub.get("/audit/entries", auditor, subject=hub.people["has_property"])
    assert response.status_code == 200, response.text
    found = [e["index"] for e in response.json()["entries"]]
    assert found == sorted(hub.indexes["has_property"], reverse=True)  # newest first
    _no_id_numbers(hub, response.text)  # not even the one typed
    first = response.json()["entries"][-1]
    assert first["system"] == EDU
    assert first["outcome"] == "partial"
    assert first["attributes"]["household.name"] == "released"
    assert first["attributes"]["household.relation_to_head"] == "denied"
    others = {e["subject"] for e in _search(hub, auditor, subject=hub.people["no_property"])}
    assert len(others) == 1
    assert first["subject"] not in others


def test_a_lower_case_check_character_finds_the_same_subject(hub: AuditedHub, auditor: str) -> None:
    subject = next((n for n in hub.people.values() if n.endswith("X")), None)
    assert subject is not None, "the seeded city has an ID number ending in X; keep it so"
    assert _search(hub, auditor, subject=subject.lower()) == _search(hub, auditor, subject=subject)


def test_an_invalid_subject_id_is_refused_without_echoing_it(hub: AuditedHub, auditor: str) -> None:
    valid = hub.people["has_property"]
    wrong = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    for typed in (wrong, "12345", valid + "9"):
        response = hub.get("/audit/entries", auditor, subject=typed)
        assert response.status_code == 422, response.text
        assert response.json()["code"] in {"invalid_subject_id", "malformed_request"}
        assert typed not in response.text
        assert_documented(hub.client, "GET", "/audit/entries", response)
    assert hub.get("/audit/entries", auditor, subject=wrong).json()["code"] == "invalid_subject_id"


def test_an_auditor_filters_by_system_outcome_kind_purpose_and_department(
    hub: AuditedHub, auditor: str
) -> None:
    records = hub.records()
    by_mca = _search(hub, auditor, system=MCA)
    assert {e["names"]["system"] for e in by_mca} == {
        "最低生活保障申请系统 (minimum living allowance case system)"
    }
    queries = [e for e in by_mca if e["kind"] == "query"]  # an agreement's entry has none
    assert {e["names"]["purpose"]["name"] for e in queries} == {"最低生活保障申请"}
    newest_first = records[::-1]
    assert [e["index"] for e in by_mca] == [r.index for r in newest_first if r.system_id == MCA]
    assert [e["index"] for e in _search(hub, auditor, department="MCA")] == [
        e["index"] for e in by_mca
    ]
    denied = _search(hub, auditor, outcome="denied")
    assert {e["index"] for e in denied} == {r.index for r in records if r.outcome == "denied"}
    assert hub.indexes["multiple_properties"][0] in {e["index"] for e in denied}
    verified = _search(hub, auditor, kind="verify")
    assert [e["index"] for e in verified] == [hub.indexes["has_property"][1]]
    marketing = _search(hub, auditor, purpose="marketing", outcome="denied", system=EDU)
    assert [e["index"] for e in marketing] == hub.indexes["multiple_properties"]
    assert _search(hub, auditor, outcome="withheld") == []


def test_an_auditor_filters_by_a_time_range(hub: AuditedHub, auditor: str) -> None:
    records = hub.records()
    start, end = records[1].recorded_at, records[4].recorded_at
    inside = [r.index for r in records if start <= r.recorded_at < end]
    assert inside  # the range holds entries, and not every one
    found = _search(hub, auditor, **{"from": start.isoformat(), "to": end.isoformat()})
    assert sorted(e["index"] for e in found) == inside
    beijing = timezone_plus_8(start)
    same = _search(hub, auditor, **{"from": beijing, "to": end.isoformat()})
    assert same == found  # the same instant, written with another offset
    later = (records[-1].recorded_at + timedelta(seconds=1)).isoformat()
    assert _search(hub, auditor, **{"from": later}) == []
    naive = hub.get("/audit/entries", auditor, **{"from": "2026-11-21T08:00:00"})
    assert naive.status_code == 422
    assert naive.json()["code"] == "malformed_request"


def timezone_plus_8(moment: datetime) -> str:
    return moment.astimezone(timezone(timedelta(hours=8))).isoformat()


def test_pages_follow_the_cursor_newest_first_without_gaps_or_repeats(
    hub: AuditedHub, auditor: str
) -> None:
    everything = [r.index for r in reversed(hub.records())]
    seen: list[int] = []
    cursor: int | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        body = hub.get("/audit/entries", auditor, **params).json()
        assert len(body["entries"]) <= 2
        seen += [e["index"] for e in body["entries"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert cursor == seen[-1]
    assert seen == everything
    assert pages == (len(everything) + 1) // 2
    assert hub.get("/audit/entries", auditor, limit=501).status_code == 422


def test_the_entry_detail_is_the_stored_entry_with_its_leaf_hash(
    hub: AuditedHub, auditor: str
) -> None:
    record = next(r for r in hub.records() if r.object_id is None)  # the first query
    response = hub.get(f"/audit/entries/{record.index}", auditor)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["canonical"] == record.entry
    assert body["entry"] == json.loads(record.entry)
    assert canonical_json(body["entry"]).decode() == record.entry
    leaf = hashlib.new(TREE_HASH, b"\x00" + body["canonical"].encode()).digest()
    assert base64.b64decode(body["leaf_hash"]) == leaf == record.leaf_hash
    assert body["entry"]["attributes"]["household.name"]["outcome"] == "released"
    assert body["names"] == {  # the registry's names of the codes, for people to read
        "system": "义务教育入学登记系统 (school enrolment case system)",
        "purpose": {"name": "义务教育入学登记", "name_en": body["names"]["purpose"]["name_en"]},
    }
    _no_id_numbers(hub, response.text)
    missing = hub.get(f"/audit/entries/{len(hub.records()) + 10}", auditor)
    assert missing.status_code == 404
    assert missing.json()["code"] == "entry_not_found"
    assert_documented(hub.client, "GET", "/audit/entries/{index}", missing)


# -- exports -------------------------------------------------------------------------------


def test_the_jsonl_export_is_every_entry_oldest_first_and_each_line_hashes_to_its_leaf(
    hub: AuditedHub, auditor: str
) -> None:
    response = hub.get("/audit/export", auditor, format="jsonl")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/jsonl")
    assert response.headers["content-disposition"].startswith("attachment;")
    lines = [json.loads(line) for line in response.text.splitlines()]
    records = hub.records()
    assert [line["index"] for line in lines] == [r.index for r in records]
    for line, record in zip(lines, records, strict=True):
        assert line["entry"] == json.loads(record.entry)
        leaf = merkle.leaf_hash(canonical_json(line["entry"]))
        assert base64.b64decode(line["leaf_hash"]) == leaf == record.leaf_hash
    _no_id_numbers(hub, response.text)


def test_the_csv_export_has_a_header_and_the_filtered_entries(
    hub: AuditedHub, auditor: str
) -> None:
    response = hub.get("/audit/export", auditor, format="csv", system=EDU)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert ".csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0]) == reading.CSV_COLUMNS
    records = [r for r in hub.records() if r.system_id == EDU]
    assert [int(row["index"]) for row in rows] == [r.index for r in records]
    for row, record in zip(rows, records, strict=True):
        entry = json.loads(record.entry)
        assert row["subject"] == record.subject == entry["subject"]
        assert row["outcome"] == record.outcome
        assert base64.b64decode(row["leaf_hash"]) == record.leaf_hash
        if record.object_id is not None:  # a lifecycle entry: no attributes
            assert row["attributes"] == ""
            continue
        assert dict(pair.split("=") for pair in row["attributes"].split(";")) == {
            name: a["outcome"] for name, a in entry["attributes"].items()
        }
    _no_id_numbers(hub, response.text)


def test_the_export_reads_in_pages_up_to_the_size_it_began_at(hub: AuditedHub) -> None:
    records = hub.records()
    size, pages = reading.export_pages(hub.sessions, reading.AuditFilter(), page=2)
    hub.ask(
        "query", "no_property", {"purpose": "school-enrolment", "attributes": ["household.sex"]}
    )
    read = list(pages)
    assert size == len(records)
    assert [len(p) for p in read] == [2] * (size // 2) + ([size % 2] if size % 2 else [])
    assert [r.index for p in read for r in p] == [r.index for r in records]


# -- separation of duties ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "department"),
    [
        ("operator", None),
        ("department_admin", "PSB"),
        ("department_admin", "EDU"),
        ("citizen", None),
    ],
)
def test_only_auditors_read_the_audit(hub: AuditedHub, role: str, department: str | None) -> None:
    sub = hub.people["has_property"] if role == "citizen" else "staff-7"
    token = hub.id_token(sub, role, department)
    for path, params in (
        ("/audit/entries", {}),
        ("/audit/entries", {"subject": hub.people["has_property"]}),
        ("/audit/entries/0", {}),
        ("/audit/export", {"format": "csv"}),
    ):
        response = hub.get(path, token, **params)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["code"] == "forbidden"
        assert "entries" not in response.json()
        _no_id_numbers(hub, response.text)
    unsigned = hub.get("/audit/entries", None)
    assert unsigned.status_code == 401
    as_system = hub.get("/audit/entries", hub.system_token())
    assert as_system.status_code == 401


# -- citizens ------------------------------------------------------------------------------


def test_a_citizen_sees_exactly_their_own_accesses_each_with_a_proof_that_verifies(
    hub: AuditedHub,
) -> None:
    leaves = [r.leaf_hash for r in hub.records()]
    for who in ("has_property", "no_property"):
        token = hub.id_token(hub.people[who], "citizen")
        response = hub.get("/citizen/accesses", token)
        assert response.status_code == 200, response.text
        body = response.json()
        head = body["head"]
        root = base64.b64decode(head["root"])
        assert head["size"] == len(leaves)
        assert root == merkle.root(leaves)  # recomputed from every entry, independently
        accesses = body["accesses"]
        assert [a["index"] for a in accesses] == sorted(hub.indexes[who], reverse=True)
        for access in accesses:
            proof = access["proof"]
            leaf = base64.b64decode(proof["leaf_hash"])
            assert leaf == merkle.leaf_hash(access["entry"].encode())
            assert proof["index"] == access["index"]
            assert proof["size"] == head["size"]
            path = [base64.b64decode(p) for p in proof["proof"]]
            assert merkle.verify_inclusion(leaf, proof["index"], proof["size"], path, root)
            assert not merkle.verify_inclusion(leaf, proof["index"] ^ 1, head["size"], path, root)
        assert body["next_cursor"] is None


def test_an_access_says_who_why_under_what_and_what_happened_to_each_field(
    hub: AuditedHub,
) -> None:
    token = hub.id_token(hub.people["no_property"], "citizen")
    accesses = hub.get("/citizen/accesses", token).json()["accesses"]
    dibao = next(a for a in accesses if a["system"] == MCA)
    assert dibao["department"] == "MCA"
    assert dibao["purpose"] == "minimum-living-allowance"
    assert dibao["service_item"] == DIBAO
    assert dibao["kind"] == "query"
    assert dibao["at"].endswith("Z")
    entry = json.loads(dibao["entry"])
    said = ("outcome", "release", "reason", "agreement", "consent", "legal_basis")
    assert {name: {k: f[k] for k in said} for name, f in dibao["fields"].items()} == {
        name: {k: a.get(k) for k in said} for name, a in entry["attributes"].items()
    }
    assert dibao["fields"]["household.name"]["outcome"] == "released"
    bases = {a["legal_basis"] for a in entry["attributes"].values() if a.get("legal_basis")}
    assert dibao["legal_bases"] == sorted(bases)
    agreements = {a["agreement"] for a in entry["attributes"].values() if a.get("agreement")}
    assert dibao["agreements"] == sorted(agreements)
    assert dibao["outcome"] == entry["outcome"]


def test_an_access_names_its_codes_as_the_registry_does_and_keeps_the_codes(
    hub: AuditedHub,
) -> None:
    token = hub.id_token(hub.people["has_property"], "citizen")
    accesses = hub.get("/citizen/accesses", token).json()["accesses"]
    enrolment = next(a for a in accesses if a["service_item"] == ENROLMENT)
    assert enrolment["system"] == EDU  # the codes stay, and the entry's text is untouched
    assert enrolment["purpose"] == "school-enrolment"
    assert enrolment["system_name"].startswith("义务教育入学登记系统")
    assert enrolment["department_name"] == "演示市教育局"
    assert enrolment["purpose_name"] == "义务教育入学登记"  # the service item's name
    birth = enrolment["fields"]["household.birth_date"]
    assert (birth["title"], birth["resource_name"]) == ("出生日期", "常住人口户籍信息")
    titles = {g["id"]: g for g in enrolment["agreement_titles"]}
    assert list(titles) == enrolment["agreements"]
    assert titles["AG-DEMO-EDU-REG-0001"]["title"] == (
        "义务教育入学登记使用不动产权属登记信息共享协议"
    )
    assert titles["AG-DEMO-EDU-REG-0001"]["provider"] == "演示市不动产登记中心"
    # An access without a service item is named by the department's item for that purpose.
    named = next(a for a in accesses if a["service_item"] is None)
    assert named["purpose_name"] == "义务教育入学登记"
    assert named["fields"]["household.ethnicity"]["title"] == "民族"
    entries = {r.index: r.entry for r in hub.records()}
    assert all(a["entry"] == entries[a["index"]] for a in accesses)


def test_a_citizens_accesses_page_by_cursor(hub: AuditedHub) -> None:
    token = hub.id_token(hub.people["has_property"], "citizen")
    first = hub.get("/citizen/accesses", token, limit=2).json()
    assert len(first["accesses"]) == 2
    rest = hub.get("/citizen/accesses", token, limit=2, cursor=first["next_cursor"]).json()
    indexes = [a["index"] for a in first["accesses"] + rest["accesses"]]
    assert indexes == sorted(hub.indexes["has_property"], reverse=True)
    assert rest["next_cursor"] is None


def test_a_citizen_without_accesses_sees_none_and_staff_see_no_citizen_view(
    hub: AuditedHub, auditor: str
) -> None:
    stranger = next(n for k, n in hub.people.items() if k not in hub.indexes)
    body = hub.get("/citizen/accesses", hub.id_token(stranger, "citizen")).json()
    assert body["accesses"] == []
    assert body["head"]["size"] == len(hub.records())
    for token in (auditor, hub.id_token("ops-1", "operator")):
        refused = hub.get("/citizen/accesses", token)
        assert refused.status_code == 403
        assert refused.json()["code"] == "forbidden"
    not_a_resident = hub.get("/citizen/accesses", hub.id_token("alice", "citizen"))
    assert not_a_resident.status_code == 403
    assert hub.get("/citizen/accesses", None).status_code == 401


# -- a citizen's list is complete ------------------------------------------------------------


def _fresh_checkpoint(hub: AuditedHub, auditor: str) -> NoteVerifier:
    """A checkpoint of the whole log, signed now; the verifier of the hub's published key."""
    signed = hub.client.post("/audit/checkpoint", headers={"authorization": f"Bearer {auditor}"})
    assert signed.status_code == 200, signed.text
    return parse_vkey(hub.client.get("/audit/checkpoint/key").text.strip())


def _subject_entries(hub: AuditedHub, subject: str, size: int) -> list[tuple[int, bytes]]:
    """The (index, leaf hash) of every entry about *subject* below *size*, from each entry's own
    text: what the hub's list must be."""
    return [
        (r.index, merkle.leaf_hash(r.entry.encode()))
        for r in hub.records()
        if r.index < size and json.loads(r.entry)["subject"] == subject
    ]


def _map_of(hub: AuditedHub, size: int) -> bytes:
    """The subject map's root at *size*, recomputed from the entries' own text."""
    chains: dict[str, list[tuple[int, bytes]]] = {}
    for record in hub.records()[:size]:
        subject = vmap.mapped_subject(json.loads(record.entry)["subject"])
        if subject is not None:
            chains.setdefault(subject, []).append(
                (record.index, merkle.leaf_hash(record.entry.encode()))
            )
    return vmap.root(
        vmap.Leaf(vmap.subject_key(s), vmap.value_of(e).hash) for s, e in chains.items()
    )


def test_a_citizens_list_is_proven_complete_against_the_signed_checkpoint(
    hub: AuditedHub, auditor: str
) -> None:
    verifier = _fresh_checkpoint(hub, auditor)
    size = len(hub.records())
    stranger = next(n for k, n in hub.people.items() if k not in hub.indexes)
    for who, number in [*((k, hub.people[k]) for k in hub.indexes), ("stranger", stranger)]:
        body = hub.get("/citizen/accesses", hub.id_token(number, "citizen")).json()
        complete = body["completeness"]
        checkpoint = verifier.verify(complete["checkpoint"])  # the hub's key signed it
        assert checkpoint.size == complete["tree_size"] == size
        map_root = base64.b64decode(complete["map_root"])
        assert vmap.map_root_in(checkpoint.extensions) == map_root == _map_of(hub, size)
        assert complete["witnessed"] is False  # this hub has no witnesses
        subject = complete["subject"]
        listed = [(e["index"], base64.b64decode(e["leaf_hash"])) for e in complete["entries"]]
        assert listed == _subject_entries(hub, subject, size)
        proof = base64.b64decode(complete["map_proof"])
        key = vmap.subject_key(subject)
        assert vmap.verify_complete(map_root, key, listed, proof, size=size)
        accesses = {a["index"] for a in body["accesses"]}
        kinds = {e["index"]: e["kind"] for e in complete["entries"]}
        assert accesses == {i for i, k in kinds.items() if k in {"query", "verify"}}
        assert all(json.loads(a["entry"])["subject"] == subject for a in body["accesses"])
        if who == "stranger":
            assert listed == []
            assert vmap.verify_non_inclusion(map_root, key, proof)
        else:
            assert sorted(accesses) == sorted(hub.indexes[who])
            # the list short of any one entry, or with one more, is refused
            for short in (listed[1:], listed[:-1]):
                assert not vmap.verify_complete(map_root, key, short, proof, size=size)


def test_an_access_moved_out_of_a_citizens_list_in_the_database_fails_the_proof(
    hub: AuditedHub, auditor: str, engine: Engine
) -> None:
    """A database writer points an access's subject column elsewhere: the citizen's list no
    longer shows it, and the proof the hub answers with no longer verifies."""
    verifier = _fresh_checkpoint(hub, auditor)
    hidden = hub.indexes["has_property"][0]
    with _triggers_off(engine, "audit_entries") as connection:
        connection.execute(
            update(AuditRecord).where(AuditRecord.index == hidden).values(subject="0" * 64)
        )
    body = hub.get("/citizen/accesses", hub.id_token(hub.people["has_property"], "citizen")).json()
    assert hidden not in {a["index"] for a in body["accesses"]}
    complete = body["completeness"]
    checkpoint = verifier.verify(complete["checkpoint"])
    listed = [(e["index"], base64.b64decode(e["leaf_hash"])) for e in complete["entries"]]
    assert hidden not in {i for i, _ in listed}
    map_root = vmap.map_root_in(checkpoint.extensions)
    assert map_root is not None
    key = vmap.subject_key(complete["subject"])
    proof = base64.b64decode(complete["map_proof"])
    assert not vmap.verify_complete(map_root, key, listed, proof, size=checkpoint.size)
    # the entry as logged, put back in its place, completes it again: the map committed to it
    logged = next(r for r in hub.records() if r.index == hidden)
    again = sorted([*listed, (hidden, logged.leaf_hash)])
    assert vmap.verify_complete(map_root, key, again, proof, size=checkpoint.size)


@contextmanager
def _triggers_off(engine: Engine, table: str) -> Iterator[Connection]:
    """The database's administrator, with *table*'s append-only triggers off for the block."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        if postgres:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
        yield connection
        if postgres:
            connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


# -- proofs --------------------------------------------------------------------------------


def _inclusion(hub: AuditedHub, token: str | None, index: int, size: int) -> httpx.Response:
    return hub.get("/audit/proof/inclusion", token, index=index, size=size)


def test_inclusion_proofs_answer_the_auditor_the_entrys_system_and_its_citizen(
    hub: AuditedHub, auditor: str
) -> None:
    records = hub.records()
    size = len(records)
    dibao = next(r for r in records if r.system_id == MCA and r.object_id is None)
    owner = hub.id_token(hub.people["no_property"], "citizen")
    for token in (auditor, hub.system_token(MCA), owner):
        response = _inclusion(hub, token, dibao.index, size)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["index"] == dibao.index
        assert body["size"] == size
        assert base64.b64decode(body["leaf_hash"]) == dibao.leaf_hash
        path = [base64.b64decode(p) for p in body["proof"]]
        root = merkle.root([r.leaf_hash for r in records])
        assert merkle.verify_inclusion(dibao.leaf_hash, dibao.index, size, path, root)
    older = _inclusion(hub, auditor, 0, 2).json()  # a proof in an earlier tree
    path = [base64.b64decode(p) for p in older["proof"]]
    root2 = merkle.root([r.leaf_hash for r in records[:2]])
    assert merkle.verify_inclusion(records[0].leaf_hash, 0, 2, path, root2)


def test_inclusion_proofs_are_refused_to_everyone_else(hub: AuditedHub) -> None:
    records = hub.records()
    size = len(records)
    dibao = next(r for r in records if r.system_id == MCA and r.object_id is None)
    others = (
        hub.system_token(EDU),  # another system
        hub.id_token(hub.people["has_property"], "citizen"),  # another citizen
        hub.id_token("alice", "citizen"),  # no resident at all
        hub.id_token("ops-1", "operator"),
        hub.id_token("mca-admin", "department_admin", "MCA"),
    )
    for token in others:
        response = _inclusion(hub, token, dibao.index, size)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
    assert _inclusion(hub, None, dibao.index, size).status_code == 401
    assert _inclusion(hub, "not.a.token", dibao.index, size).status_code == 401


def test_inclusion_proof_ranges_and_missing_entries(hub: AuditedHub, auditor: str) -> None:
    size = len(hub.records())
    for index, tree in ((0, size + 1), (3, 2), (0, 0)):
        response = _inclusion(hub, auditor, index, tree)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_proof_range"
        assert_documented(hub.client, "GET", "/audit/proof/inclusion", response)
    missing = _inclusion(hub, auditor, size, size)
    assert missing.status_code == 404
    assert missing.json()["code"] == "entry_not_found"


def test_consistency_proofs_are_for_anyone_and_verify(hub: AuditedHub) -> None:
    leaves = [r.leaf_hash for r in hub.records()]
    size = len(leaves)
    for old in range(1, size + 1):
        response = hub.get("/audit/proof/consistency", None, **{"from": old, "to": size})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["from"], body["to"]) == (old, size)
        proof = [base64.b64decode(p) for p in body["proof"]]
        assert merkle.verify_consistency(
            old, size, proof, merkle.root(leaves[:old]), merkle.root(leaves)
        )
    for old, new in ((0, size), (3, 2), (1, size + 1)):
        refused = hub.get("/audit/proof/consistency", None, **{"from": old, "to": new})
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_proof_range"
