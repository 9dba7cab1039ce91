"""The demo mappings read the departments' legacy stores back as the catalogue describes them.

A small city is written with :func:`write_legacy_stores`; every bundled mapping is opened with
:func:`open_adapter` against those stores, with the descriptors' field schemas, and every mapped
field of a set of subjects (the showcase ones and a few more) must validate against its schema
(formats included) and equal what the generator made. PSB also runs on MariaDB when
``TONGBAN_TEST_MARIADB_URL`` is set (a throwaway database, dropped afterwards).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy.engine import make_url

from adapters.base import SourceAdapter
from adapters.errors import AmbiguousSubject
from exchange.demo.citizens import ShowcaseSampler, generate_city
from exchange.demo.legacy import LegacyTargets, write_legacy_stores
from exchange.demo.records import Citizen, Household, Property
from exchange.demo.sources import (
    SourceBinding,
    build_legacy_world,
    connections,
    demo_bindings,
    demo_mappings,
    open_binding,
    safe_url,
)
from tests.conftest import MARIADB_ENV, POSTGRES_ENV, throwaway_database

CITIZENS = 300
SEED = 11

People = dict[str, tuple[Household, Citizen]]


class City:
    """The generated city, its showcase subjects, and where its legacy stores are."""

    def __init__(self, root: Path) -> None:
        sampler = ShowcaseSampler(per_kind=2)
        self.households = list(sampler.watch(generate_city(CITIZENS, seed=SEED)))
        self.root = root
        self.targets = LegacyTargets.in_directory(root)
        write_legacy_stores(self.households, self.targets)
        self.people: People = {c.id_number: (h, c) for h in self.households for c in h.members}
        self.subjects = [s.id_number for s in sampler.subjects()]
        self.subjects += [c for c in list(self.people)[:25] if c not in self.subjects]
        properties = [p for h in self.households for p in h.properties]
        self.properties_of: dict[str, list[Property]] = {}
        for prop in properties:
            for owner in prop.owners:
                self.properties_of.setdefault(owner.id_number, []).append(prop)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> City:
    return City(tmp_path_factory.mktemp("legacy"))


def _open(binding: SourceBinding, config: dict[str, dict[str, Any]]) -> SourceAdapter:
    return open_binding(binding, config)


def _expected(binding: SourceBinding, household: Household, citizen: Citizen) -> Any:
    """What the resource should say of *citizen* (None: no record)."""
    return _EXPECTED[binding.namespace](household, citizen)


def _household(h: Household, c: Citizen) -> dict[str, Any]:
    return {
        "name": c.name,
        "id_number": c.id_number,
        "sex": c.sex,
        "birth_date": c.birth_date.isoformat(),
        "ethnicity": c.ethnicity,
        "registered_address": h.address.text,
        "division": h.address.division,
        "household_head_name": h.head.name,
        "relation_to_head": c.relation,
    }


def _idcard(h: Household, c: Citizen) -> dict[str, Any] | None:
    card = c.id_card
    if card is None:
        return None
    until = "9999-12-31" if card.valid_until is None else card.valid_until.isoformat()
    return {"valid_until": until, "status": card.status}


def _social_insurance(h: Household, c: Citizen) -> dict[str, Any] | None:
    si = c.social_insurance
    if si is None:
        return None
    return {
        "status": si.status,
        "months_paid": si.months_paid,
        "current_employer_uscc": None if si.employer is None else si.employer.uscc,
        "current_employer_name": None if si.employer is None else si.employer.name,
        "insured_since": si.insured_since.isoformat(),
        "pension_amount": None if si.pension_fen is None else si.pension_fen / 100,
    }


def _marriage(h: Household, c: Citizen) -> dict[str, Any]:
    registered = c.marriage.registered_on
    return {
        "status": c.marriage.status,
        "spouse_name": c.marriage.spouse_name,
        "registered_on": None if registered is None else registered.isoformat(),
    }


def _death(h: Household, c: Citizen) -> dict[str, Any]:
    died = c.death_date
    return {"deceased": died is not None, "date_of_death": died and died.isoformat()}


def _dibao(h: Household, c: Citizen) -> dict[str, Any]:
    if c.dibao is None:
        return {"receiving": False, "monthly_amount": None, "since": None}
    amount = c.dibao.monthly_amount
    return {
        "receiving": c.dibao.receiving,
        "monthly_amount": None if amount is None else float(amount),
        "since": c.dibao.since.isoformat(),
    }


def _property(p: Property) -> dict[str, Any]:
    return {
        "certificate_no": p.certificate_no,
        "address": p.address.text,
        "division": p.address.division,
        "area": float(p.area),
        "usage": p.usage,
        "owners": [o.name for o in p.owners],
    }


_EXPECTED = {
    "household": _household,
    "idcard": _idcard,
    "social_insurance": _social_insurance,
    "marriage": _marriage,
    "death": _death,
    "dibao": _dibao,
}


def _validators(binding: SourceBinding) -> dict[str, Draft202012Validator]:
    checker = Draft202012Validator.FORMAT_CHECKER
    return {
        name: Draft202012Validator(dict(schema), format_checker=checker)
        for name, schema in binding.field_schemas.items()
    }


def _check_valid(binding: SourceBinding, values: dict[str, Any]) -> None:
    validators = _validators(binding)
    for name, value in values.items():
        if value is not None:
            assert validators[name].is_valid(value), f"{binding.resource} {name}"


def test_every_resource_has_a_mapping_of_its_fields() -> None:
    bindings = demo_bindings()
    assert {b.mapping.name for b in bindings} == {
        "psb/household",
        "psb/idcard",
        "hrss/social_insurance",
        "mca/marriage",
        "mca/death",
        "mca/dibao",
        "reg/property",
    }
    for binding in bindings:
        shared = set(binding.field_schemas) - ({"criminal_record"})
        assert set(binding.mapping.fields) == shared, binding.resource


def test_the_not_shared_criminal_record_is_not_even_mapped() -> None:
    household = next(b for b in demo_bindings() if b.namespace == "household")
    assert "criminal_record" not in household.mapping.fields
    assert all(loc.column != "WFFZJL" for loc in household.mapping.locators())


@pytest.mark.parametrize("namespace", sorted(_EXPECTED))
def test_each_mapping_reads_what_the_generator_made(city: City, namespace: str) -> None:
    binding = next(b for b in demo_bindings() if b.namespace == namespace)
    adapter = _open(binding, connections(city.targets, city.root))
    try:
        for subject in city.subjects:
            household, citizen = city.people[subject]
            record = adapter.fetch(subject, list(binding.mapping.fields))
            expected = _expected(binding, household, citizen)
            if expected is None:
                assert record is None
                continue
            assert record is not None
            _check_valid(binding, dict(record.values))
            assert dict(record.values) == expected, f"{namespace} of a {subject[:6]} subject"
    finally:
        adapter.close()


def test_every_owner_finds_every_property_they_hold(city: City) -> None:
    """A property is found under each of its owners, not only the first; a person's several
    properties come back together; someone who owns nothing has no records."""
    binding = next(b for b in demo_bindings() if b.namespace == "property")
    adapter = _open(binding, connections(city.targets, city.root))
    fields = list(binding.mapping.fields)
    co_owners = [s for s, props in city.properties_of.items() if props[0].owners[0].id_number != s]
    several = [s for s, props in city.properties_of.items() if len(props) > 1]
    assert co_owners, "the city should have co-owners"
    assert several, "the city should have owners of several properties"
    owners_none = [s for s in city.people if s not in city.properties_of][:5]
    try:
        for subject in co_owners[:10] + several[:10]:
            records = adapter.fetch_all(subject, fields)
            for record in records:
                _check_valid(binding, dict(record.values))
            by_number = operator.itemgetter("certificate_no")
            got = sorted((dict(r.values) for r in records), key=by_number)
            want = sorted(map(_property, city.properties_of[subject]), key=by_number)
            assert got == want
        for subject in owners_none:
            assert adapter.fetch_all(subject, fields) == []
        with pytest.raises(AmbiguousSubject):
            adapter.fetch(several[0], fields)  # the one-record call refuses to pick one
    finally:
        adapter.close()


def test_absence_means_not_deceased_and_not_receiving(city: City) -> None:
    config = connections(city.targets, city.root)
    living = next(s for s, (_, c) in city.people.items() if c.death_date is None and not c.dibao)
    for namespace, expected in (
        ("death", {"deceased": False, "date_of_death": None}),
        ("dibao", {"receiving": False}),
    ):
        binding = next(b for b in demo_bindings() if b.namespace == namespace)
        adapter = _open(binding, config)
        try:
            record = adapter.fetch(living, list(expected))
            assert record is not None
            assert dict(record.values) == expected
            assert record.as_of is None
        finally:
            adapter.close()


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    with throwaway_database(MARIADB_ENV, "the MariaDB demo-world test") as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with throwaway_database(POSTGRES_ENV, "the PostgreSQL demo-world test") as url:
        yield url


def test_psb_mappings_read_a_mariadb_store(city: City, mariadb_url: str, tmp_path: Path) -> None:
    local = LegacyTargets.in_directory(tmp_path)
    targets = LegacyTargets(
        mariadb_url, local.hrss_url, local.mca_url, local.reg_export, local.dibao_csv
    )
    write_legacy_stores(city.households, targets)
    config = connections(targets, tmp_path)
    for namespace in ("household", "idcard"):
        binding = next(b for b in demo_bindings() if b.namespace == namespace)
        adapter = _open(binding, config)
        try:
            for subject in city.subjects:
                household, citizen = city.people[subject]
                record = adapter.fetch(subject, list(binding.mapping.fields))
                expected = _expected(binding, household, citizen)
                assert (record and dict(record.values)) == expected
        finally:
            adapter.close()


def test_build_legacy_world_writes_stores_settings_and_subjects(tmp_path: Path) -> None:
    world = build_legacy_world(tmp_path / "demo", citizens=200)
    settings_file = tmp_path / "demo/adapters.json"
    assert world.adapters_file == settings_file
    assert oct(settings_file.stat().st_mode & 0o777) == "0o600"
    settings = json.loads(settings_file.read_text("utf-8"))
    assert settings["connections"]["reg"] == {"root": str((tmp_path / "demo/legacy").resolve())}
    assert {r["mapping"] for r in settings["resources"].values()} == set(demo_mappings())
    assert world.rows()["PSB"]["T_RK_HJXX"] == 200
    assert sum(world.subject_kinds().values()) == len(world.subjects)
    again = build_legacy_world(tmp_path / "demo", citizens=120)
    assert again.rows()["PSB"]["T_RK_HJXX"] == 120  # replaced, not appended


def test_build_legacy_world_on_the_servers_hides_passwords(
    mariadb_url: str, postgres_url: str, tmp_path: Path
) -> None:
    """PSB in MariaDB, HRSS in PostgreSQL (whose local trust login ignores the password)."""
    hrss = make_url(postgres_url).set(password="not-a-secret").render_as_string(False)
    world = build_legacy_world(tmp_path / "demo", citizens=150, psb_url=mariadb_url, hrss_url=hrss)
    assert world.rows()["HRSS"]["si_person"] > 0
    assert world.rows()["PSB"]["T_RK_HJXX"] == 150
    assert world.stores()["HRSS"] == [safe_url(hrss)]
    assert "not-a-secret" not in json.dumps(world.as_json())
