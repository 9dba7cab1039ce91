"""POST /exchange/verify confirms only what the release allows, the catalogue's sharing methods
decide which of query and verify may ask for a field, a row condition does not tell whether
records exist outside it, and repeated guessing spends a budget (429, audited, flagged). End to
end over the demo city (SQLite and PostgreSQL), with agreements loaded as documents."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import SourceAdapter
from exchange.agreements.documents import load_agreement_document, parse_agreement_document
from exchange.audit.stats import AnomalyRules, Row, compute_stats
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.query.budget import BudgetLedger, Question, VerifyBudget
from exchange.query.models import Counter, VerifyBudgetCounter
from exchange.security.subjects import Pseudonyms
from exchange.sources.registry import SourceRegistry
from policies.transforms import mask_name
from tests import factories
from tests.exchange.conftest import assert_documented
from tests.exchange.world import MCA, Hub, hub_over, showcase_people
from tests.profiles import GM

YEAR_ONLY = factories.agreement(
    "AG-TEST-EDU-MCA-0001",
    "MCA",
    "MCA-HY-0001",
    [{"name": "registered_on", "release": "year"}, "spouse_name"],
)
HASHED = factories.agreement(
    "AG-TEST-EDU-PSB-0001",
    "PSB",
    "PSB-HJ-0001",
    [{"name": "household_head_name", "release": "hash"}],
)
ELSEWHERE = factories.agreement(
    "AG-TEST-EDU-REG-0002",
    "REG",
    "REG-BDC-0001",
    ["certificate_no", "area"],
    row_condition={"field": "division", "prefix": "110105"},
)


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


def load(hub: Hub, document: dict[str, Any]) -> None:
    with unit_of_work(hub.sessions, write=True) as session:
        parsed = parse_agreement_document(json.dumps(document).encode())
        keys = hub.client.app.state.hub.keys  # type: ignore[attr-defined]
        load_agreement_document(session, parsed, datetime.now(UTC), keys=keys, by="test")


def ask(subject: str, **more: Any) -> dict[str, Any]:
    return {"subject": {"id_type": "CN-RIC", "id": subject}, "purpose": "school-enrolment", **more}


def raw(city: LegacyWorld, resource: str, subject: str, name: str) -> Any:
    """A field's value straight from the demo source (what the attacker wants to learn)."""
    registry = SourceRegistry.from_file(city.adapters_file)
    try:
        (record,) = registry.adapter(resource, 1, {}).fetch_all(subject, [name])
        return record.values[name]
    finally:
        registry.close()


def spy_on_sources(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The mappings every source read goes through, from now on."""
    read: list[str] = []
    original = SourceAdapter.begin_fetch_all

    def spy(self: SourceAdapter, subject: str, fields: Any) -> Any:
        read.append(self.mapping.name)
        return original(self, subject, fields)

    monkeypatch.setattr(SourceAdapter, "begin_fetch_all", spy)
    return read


def last_entry(hub: Hub) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(hub.audit()[-1].entry)
    return entry


# -- A: verify confirms the released shape only ------------------------------------------------


def test_a_year_only_grant_confirms_the_year_and_never_the_date(
    hub: Hub, city: LegacyWorld, people: dict[str, str]
) -> None:
    load(hub, YEAR_ONLY)
    subject = people["divorced"]
    actual = raw(city, "MCA-HY-0001", subject, "registered_on")
    released = hub.query(ask(subject, attributes=["marriage.registered_on"])).json()
    year = released["attributes"]["marriage.registered_on"]["value"]
    assert released["attributes"]["marriage.registered_on"]["release"] == "year"
    assert year == date.fromisoformat(actual).year

    exact = hub.verify(ask(subject, claims={"marriage.registered_on": actual})).json()
    assert exact["results"] == {"marriage.registered_on": "denied"}  # even the true date
    assert exact["denied"] == {"marriage.registered_on": "release_too_coarse"}
    assert last_entry(hub)["attributes"]["marriage.registered_on"]["reason"] == (
        "release_too_coarse"
    )
    for claim, result in ((str(year), "match"), (year, "match"), (str(year + 1), "no_match")):
        body = hub.verify(ask(subject, claims={"marriage.registered_on": claim})).json()
        assert body["results"] == {"marriage.registered_on": result}, claim


def test_a_masked_name_grant_confirms_the_mask_and_never_the_name(
    hub: Hub, city: LegacyWorld, people: dict[str, str]
) -> None:
    load(hub, YEAR_ONLY)
    subject = next(
        s
        for s in people.values()
        if hub.query(ask(s, attributes=["marriage.spouse_name"])).json()["attributes"]
        and raw(city, "MCA-HY-0001", s, "spouse_name")
    )
    spouse = raw(city, "MCA-HY-0001", subject, "spouse_name")
    claims = [spouse, mask_name(spouse), "欧阳**" if spouse[0] != "欧" else "张*"]
    results = [
        hub.verify(ask(subject, claims={"marriage.spouse_name": c})).json()["results"]
        for c in claims
    ]
    assert [r["marriage.spouse_name"] for r in results] == ["denied", "match", "no_match"]


def test_a_hash_grant_compares_the_consumers_hash_not_a_clear_value(
    hub: Hub, city: LegacyWorld, people: dict[str, str]
) -> None:
    load(hub, HASHED)
    subject = people["has_property"]
    head = raw(city, "PSB-HJ-0001", subject, "household_head_name")
    given = hub.query(ask(subject, attributes=["household.household_head_name"])).json()
    hashed = given["attributes"]["household.household_head_name"]["value"]
    assert hashed.startswith("hmac-sm3:" if GM else "hmac-sha256:")  # the profile's (docs/gm.md)
    body = hub.verify(ask(subject, claims={"household.household_head_name": hashed})).json()
    assert body["results"] == {"household.household_head_name": "match"}
    clear = hub.verify(ask(subject, claims={"household.household_head_name": head})).json()
    assert clear["denied"] == {"household.household_head_name": "release_too_coarse"}
    other = hub.verify(
        ask(
            subject,
            purpose="minimum-living-allowance",
            claims={"household.household_head_name": hashed},
        ),
        system=MCA,
    ).json()
    assert other["results"] == {"household.household_head_name": "denied"}  # no grant there


def test_a_clear_release_still_confirms_the_clear_value_and_a_predicate_its_answer(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["has_property"]
    name = hub.query(ask(subject, attributes=["household.name"])).json()["attributes"]
    claims = {
        "household.name": name["household.name"]["value"],
        "household.age_at_least(18)": True,
        "household.age_at_least(6)": "yes",
    }
    body = hub.verify(ask(subject, claims=claims)).json()
    assert body["results"] == {
        "household.name": "match",
        "household.age_at_least(18)": "match",
        "household.age_at_least(6)": "denied",
    }
    assert body["denied"] == {"household.age_at_least(6)": "release_too_coarse"}


# -- B: the catalogue's sharing methods ----------------------------------------------------------


def test_a_verification_only_resource_is_verified_and_never_released_by_query(
    hub: Hub, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = people["id_card_reported_lost"]
    read = spy_on_sources(monkeypatch)
    queried = hub.query(ask(subject, attributes=["idcard.status", "idcard.valid_until"])).json()
    assert queried["attributes"] == {}
    assert queried["denied"] == {
        "idcard.status": "method_not_offered",
        "idcard.valid_until": "method_not_offered",
    }
    assert read == []  # the source was not even read
    entry = last_entry(hub)
    assert entry["attributes"]["idcard.status"]["rules"] == ["sharing.method_not_offered"]
    verified = hub.verify(ask(subject, claims={"idcard.status": "reported_lost"})).json()
    assert verified["results"] == {"idcard.status": "match"}


def test_a_resource_not_offered_for_verification_cannot_be_verified(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["has_property"]
    body = hub.verify(ask(subject, claims={"property.owns_property_in(3301)": True})).json()
    assert body["results"] == {"property.owns_property_in(3301)": "denied"}
    assert body["denied"] == {"property.owns_property_in(3301)": "method_not_offered"}


# -- C: a row condition does not tell that records exist elsewhere -------------------------------


def test_records_outside_a_row_condition_answer_exactly_as_no_records(
    hub: Hub, people: dict[str, str]
) -> None:
    admin = hub.client.post(
        "/dev/idp/token", json={"sub": "reg-admin", "role": "department_admin", "department": "REG"}
    ).json()["id_token"]
    revoked = hub.client.post(
        "/agreements/AG-DEMO-EDU-REG-0001/revoke",
        json={"reason": "以仅限 110105 的协议代替"},
        headers={"authorization": f"Bearer {admin}"},
    )
    assert revoked.status_code == 200, revoked.text
    load(hub, ELSEWHERE)  # only property in 110105: the demo city has none there
    attributes = ["property.certificate_no", "property.area"]

    def answer(kind: str) -> tuple[Any, ...]:
        body = hub.query(ask(people[kind], attributes=attributes)).json()
        shown = {a: (v["value"], v["release"]) for a, v in body["attributes"].items()}
        entry = last_entry(hub)
        audited = {a: (v["outcome"], v.get("reason")) for a, v in entry["attributes"].items()}
        return shown, body["denied"], body["unavailable"], audited, entry["outcome"]

    owner, nobody = answer("has_property"), answer("no_property")
    assert owner == nobody
    assert owner[0]["property.certificate_no"] == ([], "clear")


# -- the budgets ---------------------------------------------------------------------------------


def test_repeated_no_match_spends_the_budget_then_429_with_retry_after_and_an_audit_entry(
    hub: Hub, people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = people["has_property"]
    for n in range(VerifyBudget().no_match):
        wrong = hub.verify(ask(subject, claims={"household.name": f"不是{n}"}))
        assert wrong.json()["results"] == {"household.name": "no_match"}
    read = spy_on_sources(monkeypatch)
    truth = hub.query(ask(subject, attributes=["household.name"])).json()
    read.clear()
    refused = hub.verify(
        ask(subject, claims={"household.name": truth["attributes"]["household.name"]["value"]})
    )
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(refused.headers["retry-after"]) <= 24 * 3600
    problem = refused.json()
    assert problem["code"] == "verify_budget_exhausted"
    assert problem["retry_after"] == int(refused.headers["retry-after"])
    assert "results" not in problem
    assert read == []  # nothing read, nothing compared
    assert_documented(hub.client, "POST", "/exchange/verify", refused)
    entry = last_entry(hub)
    assert entry["outcome"] == "budget_exhausted"
    assert entry["budget"] == {"counter": "no_match", "field": "household.name"}
    assert entry["attributes"]["household.name"]["reason"] == "verify_budget_exhausted"
    assert problem["audit"]["index"] == len(hub.audit()) - 1

    other_field = hub.verify(ask(subject, claims={"household.division": "330106"}))
    assert other_field.status_code == 200  # only that field of that subject is spent
    other_person = hub.verify(ask(people["no_property"], claims={"household.name": "不是"}))
    assert other_person.status_code == 200
    with unit_of_work(hub.sessions) as session:
        rows = session.scalars(select(VerifyBudgetCounter)).all()
    assert {r.subject for r in rows} <= {a.subject for a in hub.audit()}  # pseudonyms only
    assert subject not in json.dumps([r.marks for r in rows])

    auditor = hub.client.post("/dev/idp/token", json={"sub": "a1", "role": "auditor"}).json()
    stats = hub.client.get(
        "/audit/stats", headers={"authorization": f"Bearer {auditor['id_token']}"}
    ).json()
    flagged = [a for a in stats["anomalies"] if a["kind"] == "budget_exhausted"]
    assert [(a["system"], a["count"]) for a in flagged] == [("edu-enrolment", 1)]


def test_predicate_arguments_are_budgeted_so_age_cannot_be_binary_searched(
    hub: Hub, people: dict[str, str]
) -> None:
    subject = people["has_property"]
    budget = VerifyBudget().distinct_arguments
    low, high, asked = 0, 150, 0
    while low < high and asked < budget:
        middle = (low + high + 1) // 2
        attribute = f"household.age_at_least({middle})"
        body = hub.query(ask(subject, attributes=[attribute])).json()
        low, high = (middle, high) if body["attributes"][attribute]["value"] else (low, middle - 1)
        asked += 1
    assert high - low > 5  # four questions leave the age open to within a decade
    again = hub.query(ask(subject, attributes=[f"household.age_at_least({low})"]))
    assert again.status_code == 200 or low == 0  # an argument asked before is free
    refused = hub.query(ask(subject, attributes=["household.age_at_least(1)", "household.name"]))
    assert refused.status_code == 429
    assert refused.json()["code"] == "predicate_budget_exhausted"
    assert "attributes" not in refused.json()
    assert last_entry(hub)["outcome"] == "budget_exhausted"
    by_verify = hub.verify(ask(subject, claims={"household.age_at_least(2)": True}))
    assert by_verify.status_code == 429  # the same budget, whichever way it is asked
    assert hub.query(ask(subject, attributes=["household.name"])).status_code == 200


# -- the ledger itself: window, Retry-After, concurrency ----------------------------------------


def test_the_window_frees_the_oldest_answer_and_retry_after_says_when(
    sessions: sessionmaker[Session],
) -> None:
    ledger = BudgetLedger(VerifyBudget(no_match=2, window=timedelta(hours=1)), b"k" * 32)
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    miss = [Question("household.name", Counter.NO_MATCH)]
    for minutes in (0, 20):
        with unit_of_work(sessions, write=True) as session:
            moment = start + timedelta(minutes=minutes)
            assert ledger.refusal(session, "s", "p" * 64, miss, moment, lock=True) is None
            assert ledger.spend(session, "s", "p" * 64, miss, moment) is None
    with unit_of_work(sessions) as session:
        refused = ledger.refusal(
            session, "s", "p" * 64, miss, start + timedelta(minutes=30), lock=False
        )
        assert refused is not None
        assert refused.retry_after == 30 * 60  # the 08:00 answer leaves at 09:00
        assert ledger.refusal(session, "s", "q" * 64, miss, start, lock=False) is None
        later = start + timedelta(hours=1, seconds=1)
        assert ledger.refusal(session, "s", "p" * 64, miss, later, lock=False) is None


def test_concurrent_spenders_never_pass_the_budget(sessions: sessionmaker[Session]) -> None:
    ledger = BudgetLedger(VerifyBudget(no_match=5), b"k" * 32)
    now = datetime.now(UTC)
    miss = [Question("household.name", Counter.NO_MATCH)]
    barrier = threading.Barrier(12)
    answered: list[bool] = []

    def guess() -> None:
        barrier.wait()
        with unit_of_work(sessions, write=True) as session:
            spent = ledger.refusal(session, "s", "p" * 64, miss, now, lock=True) or ledger.spend(
                session, "s", "p" * 64, miss, now
            )
            answered.append(spent is None)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answered.count(True) == 5
    with unit_of_work(sessions) as session:
        (row,) = session.scalars(select(VerifyBudgetCounter)).all()
    assert len(row.marks) == 5


def test_the_budget_row_holds_the_audit_pseudonym_and_argument_digests_only() -> None:
    ledger = BudgetLedger(VerifyBudget(), Pseudonyms.from_schedule("secret").key)
    from policies.model import Derivation

    tag = ledger.argument_tag(Derivation("age_at_least", "18"))
    assert "18" not in tag
    assert len(tag) == 32


def test_budget_refusals_flag_their_system_and_day_and_count_as_denials() -> None:
    day = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 China time
    rows = [
        Row(day, "edu-enrolment", "EDU", "school-enrolment", "released"),
        Row(day, "edu-enrolment", "EDU", "school-enrolment", "budget_exhausted"),
        Row(day, "edu-enrolment", "EDU", "school-enrolment", "budget_exhausted"),
        Row(day, "mca-dibao", "MCA", "minimum-living-allowance", "released"),
    ]
    since, until = day - timedelta(hours=3), day + timedelta(hours=1)
    stats = compute_stats(rows, since=since, until=until).view()
    flagged = [a for a in stats["anomalies"] if a["kind"] == "budget_exhausted"]
    assert flagged == [
        {
            "kind": "budget_exhausted",
            "system": "edu-enrolment",
            "day": "2026-12-01",
            "count": 2,
            "threshold": 1,
        }
    ]
    per_system = {r["system"]: r["denied"] for r in stats["denials"]["per_system"]}
    assert per_system == {"edu-enrolment": 2, "mca-dibao": 0}
    lax = compute_stats(rows, since=since, until=until, rules=AnomalyRules(budget_refusals=3))
    assert [a for a in lax.anomalies() if a["kind"] == "budget_exhausted"] == []
