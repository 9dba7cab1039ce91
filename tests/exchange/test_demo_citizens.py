"""The demo city generator: valid, unique, consistent, reproducible people in bounded memory."""

from __future__ import annotations

import hashlib
import re
import sys
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import astuple
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from catalogue.identifiers import check_uscc, parse_resident_id
from exchange.demo.citizens import (
    DEFAULT_AS_OF,
    ID_DIVISIONS,
    ShowcaseSampler,
    generate_city,
    sample_subjects,
)
from exchange.demo.records import (
    DISTRICTS,
    RELATION_NAMES,
    Citizen,
    Household,
    age_on,
)
from exchange.demo.showcase import SHOWCASE_KINDS

CATALOGUE = Path(__file__).resolve().parents[2] / "exchange" / "demo" / "catalogue"
TODAY = DEFAULT_AS_OF
FIRST_BIRTH, LAST_BIRTH = date(1930, 1, 1), date(2024, 12, 31)


def _legal_age(citizen: Citizen) -> int:
    return 22 if citizen.sex == "male" else 20


def _years_after(day: date, count: int) -> date:
    try:
        return day.replace(year=day.year + count)
    except ValueError:
        return day.replace(year=day.year + count, day=28)


class CityChecks:
    """Every rule checked on one streamed pass (the city is not kept in memory)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.households: set[str] = set()
        self.certificates: set[str] = set()
        self.seen: Counter[str] = Counter()

    def household(self, household: Household) -> None:
        assert household.number not in self.households
        self.households.add(household.number)
        assert household.address.division in DISTRICTS
        household.address.text.encode("gbk")
        relations = [m.relation_code for m in household.members]
        assert relations[0] == "02"
        assert relations.count("02") == 1
        names = [m.name for m in household.members]
        assert len(set(names)) == len(names)
        for citizen in household.members:
            self.citizen(household, citizen)
        for prop in household.properties:
            assert prop.certificate_no not in self.certificates
            self.certificates.add(prop.certificate_no)
            assert all(owner in household.members for owner in prop.owners)
            assert all(owner.age_on(prop.registered_on) >= 18 for owner in prop.owners)
            assert prop.address.division in DISTRICTS
            assert 0 < prop.area <= 100_000
            assert prop.area == prop.area.quantize(prop.area.__class__("0.01"))
            self.seen["property"] += 1
        if any(m.dibao is not None for m in household.members):
            assert not household.properties

    def citizen(self, household: Household, citizen: Citizen) -> None:
        parsed = parse_resident_id(citizen.id_number, today=TODAY)
        assert citizen.id_number not in self.ids
        self.ids.add(citizen.id_number)
        assert parsed.sex == citizen.sex
        assert parsed.birth_date == citizen.birth_date
        assert parsed.division in ID_DIVISIONS
        assert FIRST_BIRTH <= citizen.birth_date <= LAST_BIRTH
        assert 2 <= len(citizen.name) <= 4
        citizen.name.encode("gbk")
        assert citizen.relation_code in RELATION_NAMES
        assert re.fullmatch(r"0[1-9]|[1-4][0-9]|5[0-6]|97|98", citizen.ethnicity)
        self.seen[f"marriage:{citizen.marriage.status}"] += 1
        self.marriage(household, citizen)
        self.death(citizen)
        self.id_card(citizen)
        self.insurance(citizen)
        self.dibao(citizen)

    def marriage(self, household: Household, citizen: Citizen) -> None:
        marriage = citizen.marriage
        if citizen.relation == "spouse" or citizen.relation_code in ("51", "52"):
            assert marriage.status in ("married", "widowed")
        if citizen.age_on(TODAY) < 20:
            assert marriage.status == "unmarried"
        if marriage.status == "unmarried":
            assert marriage.spouse_name is None
            assert marriage.registered_on is None
            return
        assert marriage.registered_on is not None
        assert marriage.registered_on >= _years_after(citizen.birth_date, _legal_age(citizen))
        assert marriage.registered_on < TODAY
        if marriage.status != "married":
            assert marriage.spouse_name is None
            return
        spouses = [m for m in household.members if m.name == marriage.spouse_name]
        assert len(spouses) == 1
        spouse = spouses[0]
        assert spouse.sex != citizen.sex
        assert spouse.marriage.registered_on == marriage.registered_on
        if citizen.death_date is not None:
            assert spouse.marriage.status == "widowed"
            assert spouse.death_date is None or spouse.death_date > citizen.death_date
        else:
            assert spouse.marriage.status == "married"
            assert spouse.marriage.spouse_name == citizen.name

    def death(self, citizen: Citizen) -> None:
        if citizen.death_date is None:
            return
        self.seen["deceased"] += 1
        assert citizen.death_date < TODAY
        assert citizen.death_date >= TODAY - timedelta(days=3 * 366)
        assert age_on(citizen.birth_date, citizen.death_date) >= 60

    def id_card(self, citizen: Citizen) -> None:
        card = citizen.id_card
        age = citizen.age_on(TODAY)
        if card is None:
            assert age < 16
            return
        assert card.valid_from > citizen.birth_date
        if card.valid_until is None:
            assert age_on(citizen.birth_date, card.valid_from) >= 46
            self.seen["card:long-term"] += 1
        else:
            assert card.valid_until > card.valid_from
        assert (card.status == "cancelled") == citizen.deceased
        self.seen[f"card:{card.status}"] += 1

    def insurance(self, citizen: Citizen) -> None:
        record = citizen.social_insurance
        end = citizen.death_date or TODAY
        age = age_on(citizen.birth_date, end)
        if record is None:
            return
        self.seen[f"insurance:{record.status}"] += 1
        retirement = 60 if citizen.sex == "male" else 55
        assert age >= 18
        assert record.insured_since >= _years_after(citizen.birth_date, 18) - timedelta(days=1)
        months_insured = (end - record.insured_since).days * 12 / 365.2425
        assert 0 < record.months_paid <= min(1200, months_insured + 1)
        assert record.updated_at.date() < TODAY
        if record.status in ("contributing", "suspended"):
            assert age < retirement
        if record.status == "retired":
            assert age >= retirement
            assert record.pension_fen is not None
            assert record.pension_fen > 0
        else:
            assert record.pension_fen is None
        if record.employer is not None:
            assert record.status == "contributing"
            assert check_uscc(record.employer.uscc).check_ok
            self.seen["employer"] += 1
        if citizen.deceased:
            assert record.status == "terminated"

    def dibao(self, citizen: Citizen) -> None:
        dibao = citizen.dibao
        if dibao is None:
            return
        assert citizen.birth_date <= dibao.since < TODAY
        if dibao.receiving:
            self.seen["dibao:receiving"] += 1
            assert not citizen.deceased
            assert dibao.monthly_amount is not None
            assert dibao.monthly_amount > 0
            assert dibao.monthly_amount.as_tuple().exponent == -2
            record = citizen.social_insurance
            assert record is None or record.employer is None
        else:
            assert dibao.monthly_amount is None


def test_fifty_thousand_citizens_are_valid_unique_and_consistent() -> None:
    checks = CityChecks()
    for household in generate_city(50_000, seed=11):
        checks.household(household)
    assert len(checks.ids) == 50_000
    for kind in (
        "marriage:unmarried",
        "marriage:married",
        "marriage:divorced",
        "marriage:widowed",
        "deceased",
        "card:long-term",
        "card:reported_lost",
        "card:cancelled",
        "insurance:contributing",
        "insurance:suspended",
        "insurance:retired",
        "insurance:terminated",
        "employer",
        "dibao:receiving",
        "property",
    ):
        assert checks.seen[kind] > 0, kind
    # Shares stay plausible: a few deaths, a small dibao share, mostly Han, many owners.
    assert checks.seen["deceased"] < 0.02 * 50_000
    assert checks.seen["dibao:receiving"] < 0.05 * 50_000


def _descriptor_validators() -> dict[str, dict[str, Draft202012Validator]]:
    validators: dict[str, dict[str, Draft202012Validator]] = {}
    for path in sorted(CATALOGUE.glob("10-res-*.yaml")):
        document = yaml.safe_load(path.read_text("utf-8"))
        validators[document["namespace"]] = {
            f["name"]: Draft202012Validator(f["schema"]) for f in document["fields"]
        }
    return validators


def _descriptor_values(household: Household, citizen: Citizen) -> dict[str, dict[str, Any]]:
    """The generated facts under the descriptors' namespaces and field names."""
    address, marriage = household.address, citizen.marriage
    values: dict[str, dict[str, Any]] = {
        "household": {
            "name": citizen.name,
            "id_number": citizen.id_number,
            "sex": citizen.sex,
            "birth_date": citizen.birth_date.isoformat(),
            "ethnicity": citizen.ethnicity,
            "registered_address": address.text,
            "division": address.division,
            "household_head_name": household.head.name,
            "relation_to_head": citizen.relation,
            "criminal_record": citizen.criminal_record,
        },
        "marriage": {"status": marriage.status, "spouse_name": marriage.spouse_name},
        "death": {"deceased": citizen.deceased},
    }
    if citizen.id_card is not None:
        until = citizen.id_card.valid_until or date(9999, 12, 31)
        values["idcard"] = {"valid_until": until.isoformat(), "status": citizen.id_card.status}
    if (record := citizen.social_insurance) is not None:
        values["social_insurance"] = {
            "status": record.status,
            "months_paid": record.months_paid,
            "current_employer_uscc": record.employer and record.employer.uscc,
            "current_employer_name": record.employer and record.employer.name,
            "pension_amount": record.pension_fen and record.pension_fen / 100,
        }
    if (dibao := citizen.dibao) is not None:
        amount = dibao.monthly_amount
        values["dibao"] = {"receiving": dibao.receiving, "monthly_amount": amount and float(amount)}
    return values


def test_generated_values_fit_the_catalogue_descriptors() -> None:
    validators = _descriptor_validators()
    for household in generate_city(3_000, seed=5):
        for prop in household.properties:
            document = {
                "certificate_no": prop.certificate_no,
                "address": prop.address.text,
                "division": prop.address.division,
                "area": float(prop.area),
                "owners": [owner.name for owner in prop.owners],
                "usage": prop.usage,
            }
            for name, value in document.items():
                assert validators["property"][name].is_valid(value), name
        for citizen in household.members:
            for namespace, fields in _descriptor_values(household, citizen).items():
                for name, value in fields.items():
                    if value is not None:
                        assert validators[namespace][name].is_valid(value), (namespace, name)


def _digest(households: Iterator[Household]) -> str:
    digest = hashlib.sha256()
    for household in households:
        digest.update(repr(astuple(household)).encode())
    return digest.hexdigest()


def test_same_seed_and_count_give_the_same_city() -> None:
    assert _digest(generate_city(4_000, seed=3)) == _digest(generate_city(4_000, seed=3))
    assert _digest(generate_city(4_000, seed=3)) != _digest(generate_city(4_000, seed=4))


def test_a_longer_run_starts_with_the_shorter_one_and_counts_are_exact() -> None:
    short = list(generate_city(1_001, seed=9))
    long = list(generate_city(3_000, seed=9))
    assert sum(len(h.members) for h in short) == 1_001
    assert sum(len(h.members) for h in long) == 3_000
    assert [astuple(h) for h in short[:-1]] == [astuple(h) for h in long[: len(short) - 1]]
    assert list(generate_city(0)) == []
    with pytest.raises(ValueError, match="negative"):
        next(generate_city(-1))


def test_reprs_never_show_names_or_full_id_numbers() -> None:
    household = next(generate_city(10, seed=1))
    citizen = household.head
    for text in (repr(household), repr(citizen), repr(household.address)):
        assert citizen.name not in text
        assert citizen.id_number not in text
        assert citizen.id_number[6:14] not in text


def _working_set_peak(citizens: int) -> int:
    """Peak traced memory while generating, above what the first household leaves allocated
    (the fixed-size ID counter table and the employer pool)."""
    tracemalloc.start()
    try:
        households = generate_city(citizens, seed=2)
        next(households)
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in households:
            pass
        return tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_citizens() -> None:
    # tracemalloc makes generation about six times slower, so it measures 2k against 20k (a
    # tenfold count); the sampled block count below covers 20k against 200k untraced.
    small, large = _working_set_peak(2_000), _working_set_peak(20_000)
    assert large < 2 * small, (small, large)


def test_allocated_blocks_stay_flat_over_two_hundred_thousand_citizens() -> None:
    first = later = 0
    made = 0
    for household in generate_city(200_000, seed=2):
        made += len(household.members)
        if made % 64 < len(household.members):
            blocks = sys.getallocatedblocks()
            if made <= 20_000:
                first = max(first, blocks)
            else:
                later = max(later, blocks)
    assert made == 200_000
    assert later < first * 1.1 + 5_000, (first, later)


def test_showcase_subjects_exist_and_show_what_they_claim() -> None:
    sampler = ShowcaseSampler(per_kind=2)
    by_id: dict[str, tuple[Household, Citizen]] = {}
    wanted: set[str] = set()
    for household in sampler.watch(generate_city(20_000, seed=2026)):
        for subject in sampler.subjects():
            wanted.add(subject.id_number)
        for citizen in household.members:
            if citizen.id_number in wanted:
                by_id.setdefault(citizen.id_number, (household, citizen))
    subjects = sampler.subjects()
    assert sampler.complete
    assert [s.kind for s in subjects] == [k for k in SHOWCASE_KINDS for _ in range(2)]
    assert len({s.id_number for s in subjects}) == len(subjects)
    for subject in subjects:
        household, citizen = by_id[subject.id_number]
        assert subject.to_json() == {
            "id": citizen.id_number,
            "kind": subject.kind,
            "shows": SHOWCASE_KINDS[subject.kind],
        }
        _assert_shows(subject.kind, household, citizen)
    assert sample_subjects(generate_city(20_000, seed=2026)) == subjects


def _assert_shows(kind: str, household: Household, citizen: Citizen) -> None:
    age = citizen.age_on(TODAY)
    owned = [p for p in household.properties if citizen in p.owners]
    checks = {
        "has_property": len(owned) == 1 and age >= 18,
        "multiple_properties": len(owned) > 1,
        "no_property": not household.properties and age >= 18,
        "school_age_with_property": 6 <= age <= 7
        and any(p.address.division == household.address.division for p in household.properties),
        "school_age_without_property": 6 <= age <= 7 and not household.properties,
        "consent_candidate": citizen.social_insurance is not None
        and citizen.social_insurance.pension_fen is not None,
        "receives_dibao": citizen.dibao is not None and citizen.dibao.receiving,
        "dibao_stopped": citizen.dibao is not None and not citizen.dibao.receiving,
        "deceased": citizen.deceased,
        "widowed_by_death": citizen.marriage.status == "widowed"
        and any(m.deceased for m in household.members),
        "divorced": citizen.marriage.status == "divorced",
        "ethnic_minority": citizen.ethnicity != "01",
        "id_card_reported_lost": citizen.id_card is not None
        and citizen.id_card.status == "reported_lost",
        "id_card_expired": citizen.id_card is not None
        and citizen.id_card.valid_until is not None
        and citizen.id_card.valid_until < TODAY,
        "criminal_record": citizen.criminal_record,
        "old_division_code": citizen.id_number[:6] in {"330103", "330104", "330181", "330184"},
    }
    assert set(checks) == set(SHOWCASE_KINDS)
    assert checks[kind], kind
    if kind != "deceased":
        assert not citizen.deceased
