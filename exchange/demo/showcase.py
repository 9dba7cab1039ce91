"""Showcase subjects: a few generated citizens that show what the demo is about.

:class:`ShowcaseSampler` watches households as they stream past (from
:func:`exchange.demo.citizens.generate_city` to the legacy writers) and keeps, for each
:data:`SHOWCASE_KINDS` entry, the first ``per_kind`` citizens that fit it; a citizen shows at most
one kind. It holds ID numbers only, never more than ``len(SHOWCASE_KINDS) * per_kind`` of them,
so sampling a run of millions costs nothing. ``demo.json`` lists the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final

from exchange.demo.records import DEFAULT_AS_OF, DISTRICTS, Citizen, Household, mask_id

__all__ = ["SHOWCASE_KINDS", "ShowcaseSampler", "ShowcaseSubject", "sample_subjects"]

_Test = Callable[[Household, Citizen, date], bool]


def _living_adult(citizen: Citizen, today: date) -> bool:
    return not citizen.deceased and citizen.age_on(today) >= 18


def _owns(household: Household, citizen: Citizen) -> int:
    return sum(citizen in p.owners for p in household.properties)


def _school_age(citizen: Citizen, today: date) -> bool:
    return not citizen.deceased and 6 <= citizen.age_on(today) <= 7


def _home_in_district(household: Household) -> bool:
    division = household.address.division
    return any(
        p.usage == "residential" and p.address.division == division for p in household.properties
    )


def _widowed_by_death(household: Household, citizen: Citizen) -> bool:
    return citizen.marriage.status == "widowed" and any(
        m.deceased and m.marriage.spouse_name == citizen.name for m in household.members
    )


_KINDS: Final[tuple[tuple[str, str, _Test], ...]] = (
    (
        "has_property",
        "owns a home in the city (不动产权属)",
        lambda h, c, d: _living_adult(c, d) and _owns(h, c) == 1,
    ),
    (
        "multiple_properties",
        "owns more than one property",
        lambda h, c, d: _living_adult(c, d) and _owns(h, c) > 1,
    ),
    (
        "no_property",
        "adult whose household owns no property",
        lambda h, c, d: _living_adult(c, d) and not h.properties and c.dibao is None,
    ),
    (
        "school_age_with_property",
        "child aged 6-7 whose household owns a home in its district (入学登记)",
        lambda h, c, d: _school_age(c, d) and _home_in_district(h),
    ),
    (
        "school_age_without_property",
        "child aged 6-7 whose household owns no property (入学登记, 无房)",
        lambda h, c, d: _school_age(c, d) and not h.properties,
    ),
    (
        "consent_candidate",
        "pensioner: the pension amount is sensitive and needs the citizen's consent",
        lambda h, c, d: (
            _living_adult(c, d)
            and c.social_insurance is not None
            and c.social_insurance.pension_fen is not None
        ),
    ),
    (
        "receives_dibao",
        "receives the minimum living allowance (低保在保)",
        lambda h, c, d: c.dibao is not None and c.dibao.receiving,
    ),
    (
        "dibao_stopped",
        "former dibao recipient (低保停保)",
        lambda h, c, d: c.dibao is not None and not c.dibao.receiving,
    ),
    ("deceased", "death registered (死亡登记)", lambda h, c, d: c.deceased),
    (
        "widowed_by_death",
        "widowed: the spouse's death is registered in the same household",
        lambda h, c, d: not c.deceased and _widowed_by_death(h, c),
    ),
    (
        "divorced",
        "divorced (离婚登记)",
        lambda h, c, d: not c.deceased and c.marriage.status == "divorced",
    ),
    (
        "ethnic_minority",
        "ethnic minority: ethnicity is sensitive personal information",
        lambda h, c, d: not c.deceased and c.ethnicity != "01",
    ),
    (
        "id_card_reported_lost",
        "ID card reported lost (身份证挂失)",
        lambda h, c, d: c.id_card is not None and c.id_card.status == "reported_lost",
    ),
    (
        "id_card_expired",
        "ID card expired and not renewed",
        lambda h, c, d: (
            c.id_card is not None
            and c.id_card.status == "normal"
            and c.id_card.valid_until is not None
            and c.id_card.valid_until < d
        ),
    ),
    (
        "criminal_record",
        "has a criminal record flag, which is never shared",
        lambda h, c, d: _living_adult(c, d) and c.criminal_record,
    ),
    (
        "old_division_code",
        "ID number starts with a division code that no longer exists (merged district)",
        lambda h, c, d: (
            not c.deceased and c.id_number[:6] not in DISTRICTS and c.id_number[:4] == "3301"
        ),
    ),
)

SHOWCASE_KINDS: Final[Mapping[str, str]] = MappingProxyType({k: s for k, s, _ in _KINDS})
"""Showcase kinds in listing order, with what a subject of that kind shows."""


@dataclass(frozen=True, slots=True, repr=False)
class ShowcaseSubject:
    """A citizen picked to show one thing; ``to_json`` is its ``demo.json`` entry."""

    kind: str
    id_number: str
    shows: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id_number, "kind": self.kind, "shows": self.shows}

    def __repr__(self) -> str:
        return f"ShowcaseSubject(kind={self.kind!r}, id_number={mask_id(self.id_number)!r})"


class ShowcaseSampler:
    """Keeps the first ``per_kind`` citizens of each showcase kind seen in a household stream."""

    def __init__(self, per_kind: int = 2, *, as_of: date = DEFAULT_AS_OF) -> None:
        if per_kind < 1:
            raise ValueError("per_kind must be at least 1")
        self._per_kind = per_kind
        self._as_of = as_of
        self._found: dict[str, list[ShowcaseSubject]] = {kind: [] for kind, _, _ in _KINDS}
        self._taken: set[str] = set()
        self._open = list(_KINDS)

    @property
    def complete(self) -> bool:
        """Whether every kind has its ``per_kind`` subjects (observing is then free)."""
        return not self._open

    def observe(self, household: Household) -> None:
        """Consider the household's members for the kinds still open."""
        if not self._open:
            return
        for citizen in household.members:
            for entry in tuple(self._open):
                kind, shows, test = entry
                if citizen.id_number in self._taken or not test(household, citizen, self._as_of):
                    continue
                self._taken.add(citizen.id_number)
                self._found[kind].append(ShowcaseSubject(kind, citizen.id_number, shows))
                if len(self._found[kind]) >= self._per_kind:
                    self._open.remove(entry)

    def watch(self, households: Iterable[Household]) -> Iterator[Household]:
        """Pass *households* through, observing each on the way."""
        for household in households:
            self.observe(household)
            yield household

    def subjects(self) -> list[ShowcaseSubject]:
        """The subjects found so far, by kind in :data:`SHOWCASE_KINDS` order."""
        return [subject for found in self._found.values() for subject in found]


def sample_subjects(
    households: Iterable[Household], per_kind: int = 2, *, as_of: date = DEFAULT_AS_OF
) -> list[ShowcaseSubject]:
    """Showcase subjects from *households*, stopping as soon as every kind is filled."""
    sampler = ShowcaseSampler(per_kind, as_of=as_of)
    for household in households:
        sampler.observe(household)
        if sampler.complete:
            break
    return sampler.subjects()
