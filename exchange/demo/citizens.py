"""A seeded generator of the demo city's citizens, one household at a time, in bounded memory.

``generate_city(citizens, seed)`` yields :class:`~exchange.demo.records.Household` records
until exactly *citizens* people have been made. The same seed, count and reference date give
the same city; a longer run starts with the households of a shorter one.

Memory does not grow with the count. Nothing keeps the citizens made so far: ID numbers
(GB 11643) are unique because their 3-digit sequence code comes from a counter per (division of
first registration, birth date, sex) held in one fixed-size byte array (about 2.8 MB, allocated
up front), scrambled by a bijection so that numbers do not look sequential. A slot holds up to
250 people per sex and day; a full day spills over to the nearest earlier day with room (only
at tens of millions of citizens).

:class:`ShowcaseSampler` watches the stream and keeps a fixed number of subjects that show what
the demo is about (has property, deceased, receives dibao, …) for ``demo.json``.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Final

from catalogue.identifiers import make_resident_id
from exchange.demo._family import (
    MAX_BIRTH,
    MIN_BIRTH,
    Draft,
    Family,
    Weighted,
    anniversary,
    choose,
    compose,
    draw,
    years,
)
from exchange.demo._holdings import (
    CertificateNumbers,
    dibao_entry,
    employer_pool,
    id_card,
    property_right,
    social_insurance,
)
from exchange.demo._lexicon import (
    ELSEWHERE,
    FEMALE_NEW,
    FEMALE_OLD,
    LEGACY_DIVISIONS,
    MALE_NEW,
    MALE_OLD,
    STREETS,
    VILLAGES,
)
from exchange.demo.records import (
    DEFAULT_AS_OF,
    DISTRICTS,
    Address,
    Citizen,
    Employer,
    Household,
    Marriage,
    Property,
)
from exchange.demo.showcase import ShowcaseSampler, ShowcaseSubject, sample_subjects

__all__ = [
    "DEFAULT_AS_OF",
    "ID_DIVISIONS",
    "ShowcaseSampler",
    "ShowcaseSubject",
    "generate_city",
    "sample_subjects",
]

ID_DIVISIONS: Final[tuple[str, ...]] = (
    *DISTRICTS,
    *(old for old, _, _ in LEGACY_DIVISIONS.values()),
    *(code for code, _ in ELSEWHERE),
)
"""Every division code an ID number of the demo city can start with."""

_DISTRICT: Final = Weighted(
    [
        ("330102", 13.0),
        ("330105", 12.0),
        ("330106", 12.0),
        ("330108", 6.0),
        ("330109", 20.0),
        ("330110", 13.0),
    ]
)
_ELSEWHERE: Final = Weighted(ELSEWHERE)
_PER_SLOT: Final = 250
_SPILL: Final = (*range(0, -400, -1), *range(1, 400))
_SCRAMBLE: Final = 173  # coprime with 500: used -> (used * 173 + offset) % 500 is injective
_DIBAO_RATE: Final = {"single_elderly": 0.06, "single_parent": 0.08, "grandparents": 0.04}
_OWNERSHIP: Final = {
    "single_young": 0.25,
    "single_elderly": 0.55,
    "couple": 0.5,
    "couple_with_children": 0.65,
    "three_generations": 0.7,
    "single_parent": 0.35,
    "elderly_couple": 0.75,
    "grandparents": 0.7,
    "siblings": 0.2,
}


def generate_city(
    citizens: int, seed: int = 2026, *, as_of: date = DEFAULT_AS_OF
) -> Iterator[Household]:
    """Yield households of the demo city until *citizens* people have been made.

    *as_of* is the reference date for ages, deaths, card validity and insurance; it must lie
    in 2017 or later (real estate certificates of the demo start in 2016). Raises
    :class:`ValueError` for a negative count or an earlier *as_of*.
    """
    if citizens < 0:
        raise ValueError("citizens must not be negative")
    if as_of < date(2017, 1, 1):
        raise ValueError("as_of must be in 2017 or later")
    city = _City(seed, as_of)
    remaining = citizens
    while remaining > 0:
        household = city.household(remaining)
        remaining -= len(household.members)
        yield household


class _IdSpace:
    """Unique resident ID numbers from per-(division, birth date, sex) counters."""

    def __init__(self, divisions: Sequence[str]) -> None:
        self._index = {code: i for i, code in enumerate(divisions)}
        self._days = MAX_BIRTH - MIN_BIRTH + 1
        self._used = array("B", [0]) * (len(divisions) * self._days * 2)

    def allocate(self, division: str, birth: int, male: bool) -> tuple[str, int]:
        """An unused number for a person born on *birth* (or, if that day is full, nearby)."""
        base = self._index[division] * self._days
        # A full day spills over to earlier days first: a few days older breaks no rule of
        # the household (legal marriage age, age at death, adulthood of owners).
        for shift in _SPILL:
            day = birth + shift
            if not MIN_BIRTH <= day <= MAX_BIRTH:
                continue
            slot = (base + day - MIN_BIRTH) * 2 + male
            used = self._used[slot]
            if used < _PER_SLOT:
                self._used[slot] = used + 1
                sequence = 2 * ((used * _SCRAMBLE + day * 7 + base) % 500) + male
                return make_resident_id(division, date.fromordinal(day), sequence), day
        raise RuntimeError("resident ID sequence space exhausted around a birth date")


class _City:
    """Generator state: the random stream, ID counters, certificate serials, household count."""

    def __init__(self, seed: int, today: date) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by seed
        self.today = today
        self.ids = _IdSpace(ID_DIVISIONS)
        self.certificates = CertificateNumbers(today)
        self.employers: tuple[Employer, ...] = employer_pool()
        self.count = 0

    def household(self, capacity: int) -> Household:
        rng = self.rng
        family = compose(rng, self.today, capacity)
        self.count += 1
        district = _DISTRICT.pick(rng)
        address = _address(rng, district)
        dibao = rng.random() < _DIBAO_RATE.get(family.template, 0.008)
        dibao_since = self.today.toordinal() - draw(rng, 30, years(8))
        dibao_receiving = rng.random() >= 0.1
        names = _names(rng, family.members)
        members: list[Citizen] = []
        for person, name in zip(family.members, names, strict=True):
            division = _first_division(rng, person, district)
            number, person.birth = self.ids.allocate(division, person.birth, person.male)
            spouse = person.spouse
            spouse_name = None if spouse is None else names[family.members.index(spouse)]
            members.append(
                Citizen(
                    id_number=number,
                    name=name,
                    sex=person.sex,
                    birth_date=date.fromordinal(person.birth),
                    ethnicity=person.ethnicity,
                    relation_code=person.relation,
                    marriage=_marriage(person, spouse_name),
                    registered_on=_registered_on(rng, person, division, self.today),
                    criminal_record=_criminal(rng, person, self.today),
                    death_date=None if person.death is None else date.fromordinal(person.death),
                    id_card=id_card(rng, person, district, self.today),
                    social_insurance=social_insurance(
                        rng, person, self.today, employers=self.employers, dibao=dibao
                    ),
                    dibao=(
                        dibao_entry(rng, person, dibao_since, dibao_receiving, self.today)
                        if dibao
                        else None
                    ),
                )
            )
        properties = () if dibao else self._properties(family, members, address)
        return Household(f"{self.count:09d}", address, tuple(members), properties)

    def _properties(
        self, family: Family, members: list[Citizen], address: Address
    ) -> tuple[Property, ...]:
        rng = self.rng
        if rng.random() >= _OWNERSHIP[family.template]:
            return ()
        head = members[0]
        owners: tuple[Citizen, ...] = (head,)
        spouse = next((m for m in members[1:] if m.relation == "spouse"), None)
        if spouse is not None and rng.random() < 0.75:
            owners = (head, spouse)
        home = property_right(rng, self.certificates, owners, address, primary=True)
        if rng.random() >= 0.15:
            return (home,)
        elsewhere = _address(rng, _DISTRICT.pick(rng))
        return (home, property_right(rng, self.certificates, owners, elsewhere, primary=False))


def _address(rng: random.Random, district: str) -> Address:
    """A plausible address: a flat (幢/单元/室), a house on a road, or a house in a village."""
    villages = VILLAGES.get(district)
    if villages and rng.random() < 0.3:
        town, names = choose(rng, villages)
        street = f"{town}{choose(rng, names)}{draw(rng, 1, 12)}组"
        return Address(district, street, draw(rng, 1, 120), None)
    streets = STREETS[district]
    street = choose(rng, streets)
    number = int(rng.paretovariate(1.2) * 8) % 999 + 1
    if rng.random() < 0.15:
        return Address(district, street, number, None)
    floor = draw(rng, 1, 33 if rng.random() < 0.4 else 7)
    detail = f"{draw(rng, 1, 30)}幢{draw(rng, 1, 4)}单元{floor * 100 + draw(rng, 1, 4)}室"
    return Address(district, street, number, detail)


def _first_division(rng: random.Random, person: Draft, district: str) -> str:
    """The division of first registration: the ID number's first six digits."""
    if person.native:
        code = district
    elif rng.random() < 0.55:
        code = district if rng.random() < 0.7 else _DISTRICT.pick(rng)
    else:
        return _ELSEWHERE.pick(rng)
    legacy = LEGACY_DIVISIONS.get(code)
    if legacy is not None:
        old, year, share = legacy
        if person.birth < date(year, 1, 1).toordinal() and rng.random() < share:
            return old
    return code


def _given_name(rng: random.Random, person: Draft) -> str:
    old = person.birth < _NEW_NAMES_FROM
    chars = (MALE_OLD if old else MALE_NEW) if person.male else (FEMALE_OLD if old else FEMALE_NEW)
    first = choose(rng, chars)
    if rng.random() < (0.3 if old else 0.2):
        return first
    if not person.male and rng.random() < 0.04:
        return first + first
    return first + choose(rng, chars)


def _names(rng: random.Random, people: Sequence[Draft]) -> list[str]:
    """Full names, distinct within the household."""
    names: list[str] = []
    for person in people:
        name = person.surname + _given_name(rng, person)
        for _ in range(20):
            if name not in names:
                break
            name = person.surname + _given_name(rng, person)
        names.append(name)
    return names


def _marriage(person: Draft, spouse_name: str | None) -> Marriage:
    if person.marriage_code == "10" or person.married_on is None:
        return Marriage("10")
    if person.marriage_code == "40" and person.divorced_on is not None:
        return Marriage("40", None, date.fromordinal(person.divorced_on))
    if person.marriage_code == "30":
        return Marriage("30", None, date.fromordinal(person.married_on))
    return Marriage(person.marriage_code, spouse_name, date.fromordinal(person.married_on))


def _registered_on(rng: random.Random, person: Draft, division: str, today: date) -> date | None:
    """When the person entered the register: birth registration or moving in; unknown if old."""
    if person.native or division in _LOCAL:
        day = person.birth + draw(rng, 7, 60)
    else:
        day = draw(
            rng,
            anniversary(person.birth, 18),
            max(anniversary(person.birth, 18), today.toordinal() - 30),
        )
    day = min(day, today.toordinal() - 1)
    return None if day < _REGISTER_DIGITISED else date.fromordinal(day)


def _criminal(rng: random.Random, person: Draft, today: date) -> bool:
    if today.toordinal() < anniversary(person.birth, 18):
        return False
    return rng.random() < (0.02 if person.male else 0.003)


_NEW_NAMES_FROM: Final = date(1975, 1, 1).toordinal()
_REGISTER_DIGITISED: Final = date(1990, 1, 1).toordinal()
_LOCAL: Final = frozenset((*DISTRICTS, *(old for old, _, _ in LEGACY_DIVISIONS.values())))
