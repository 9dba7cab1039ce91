"""Household composition for the demo city: who lives together, born when, married to whom.

A household is drawn from one of a few templates (single person, couple, couple with children,
three generations, …) and comes out as :class:`Draft` people: sex, birth date (as a date
ordinal), GB/T 4761 relation to the head, surname, ethnicity, marriage and death. Names, ID
numbers and what departments hold are added by :mod:`exchange.demo.citizens`.

Rules that hold for every household (and that tests check):

* birth dates lie in 1930-01-01 … 2024-12-31 and before the reference date;
* spouses are of legal marriage age (men 22, women 20) on the registration date;
* children are born after their parents' marriage, to a mother aged 21–42;
* deaths happen at 60 or older within three years before the reference date; a surviving spouse
  in the household becomes widowed (GB/T 2261.2 code ``30``).
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from typing import Final, Generic, TypeVar

from exchange.demo._lexicon import MINORITIES, SURNAMES
from exchange.demo.records import Sex

__all__ = [
    "MAX_BIRTH",
    "MIN_BIRTH",
    "Draft",
    "Family",
    "Weighted",
    "anniversary",
    "choose",
    "compose",
    "draw",
    "years",
]

T = TypeVar("T")

MIN_BIRTH: Final = date(1930, 1, 1).toordinal()
MAX_BIRTH: Final = date(2024, 12, 31).toordinal()
_YEAR: Final = 365.2425


def draw(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in [low, high] (like ``randint``, at a third of the cost)."""
    return low + int(rng.random() * (high - low + 1))


def choose(rng: random.Random, items: Sequence[T]) -> T:
    """A uniformly chosen item of a non-empty sequence."""
    return items[int(rng.random() * len(items))]


def anniversary(day: int, count: int) -> int:
    """The date ordinal *count* calendar years after *day* (29 February → 28 February)."""
    when = date.fromordinal(day)
    try:
        return when.replace(year=when.year + count).toordinal()
    except ValueError:
        return when.replace(year=when.year + count, day=28).toordinal()


def years(count: float) -> int:
    """*count* years in days (for date-ordinal arithmetic)."""
    return round(count * _YEAR)


class Weighted(Generic[T]):
    """A weighted choice over fixed items, O(log n) per draw."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self._items = [item for item, _ in pairs]
        self._cumulative = list(accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self._items[bisect(self._cumulative, rng.random() * self._total)]


SURNAME: Final = Weighted(SURNAMES)
MINORITY: Final = Weighted(MINORITIES)


@dataclass(slots=True, eq=False)
class Draft:
    """A person being composed; mutable until :mod:`exchange.demo.citizens` freezes it."""

    sex: Sex
    birth: int
    relation: str
    surname: str
    ethnicity: str = "01"
    native: bool = False
    """Born into this household (first registered in the household's district)."""
    marriage_code: str = "10"
    spouse: Draft | None = None
    married_on: int | None = None
    divorced_on: int | None = None
    death: int | None = None

    @property
    def male(self) -> bool:
        return self.sex == "male"

    def legal_age(self) -> int:
        """The date ordinal on which the person may marry (men 22, women 20)."""
        return anniversary(self.birth, 22 if self.male else 20)


@dataclass(slots=True)
class Family:
    """A composed household: its template name and members, head first."""

    template: str
    members: list[Draft]


@dataclass(slots=True)
class _Context:
    rng: random.Random
    today: int
    """Reference date ordinal: ages, marriages and deaths are as of this day."""

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def between(self, low: int, high: int) -> int | None:
        return draw(self.rng, low, high) if low <= high else None

    def born(self, min_age: float, max_age: float) -> int:
        low = max(MIN_BIRTH, self.today - years(max_age))
        high = min(MAX_BIRTH, self.today - years(min_age))
        return draw(self.rng, low, max(low, high))

    def sex(self, male_share: float = 0.5) -> Sex:
        return "male" if self.rng.random() < male_share else "female"

    def ethnicity(self) -> str:
        return MINORITY.pick(self.rng) if self.rng.random() < 0.025 else "01"

    def person(self, sex: Sex, birth: int, relation: str) -> Draft:
        return Draft(sex, birth, relation, SURNAME.pick(self.rng), self.ethnicity())


def compose(rng: random.Random, today: date, capacity: int) -> Family:
    """Draw one household of at most *capacity* (≥ 1) members."""
    context = _Context(rng, today.toordinal())
    name, build, minimum = _TEMPLATES[bisect(_TEMPLATE_WEIGHTS, rng.random() * _TEMPLATE_TOTAL)]
    if minimum > capacity:
        name, build = ("single_young", _single_young) if rng.random() < 0.6 else _SINGLE_ELDERLY
    members = build(context, capacity)
    _deaths(context, members)
    return Family(name, members)


def _marry(c: _Context, a: Draft, b: Draft, latest: int | None = None, code: str = "21") -> bool:
    low = max(a.legal_age(), b.legal_age(), date(1950, 5, 1).toordinal())
    day = c.between(low, min(latest or c.today - 1, c.today - 1))
    if day is None:
        return False
    a.spouse, b.spouse = b, a
    a.married_on = b.married_on = day
    a.marriage_code = b.marriage_code = code
    return True


def _couple(
    c: _Context, husband_age: tuple[float, float], wife_gap: tuple[float, float]
) -> tuple[Draft, Draft]:
    """A married couple, head first (the husband three times in four)."""
    husband = c.person("male", c.born(*husband_age), "02")
    gap = years(c.rng.uniform(*wife_gap))
    youngest = min(MAX_BIRTH, c.today - years(21))  # old enough to have married
    wife = c.person("female", min(youngest, max(MIN_BIRTH, husband.birth + gap)), "12")
    if c.chance(0.1):
        wife.ethnicity = husband.ethnicity
    code = "22" if c.chance(0.06) else "21"
    latest = husband.legal_age() + years(c.rng.uniform(3, 14))
    if not _marry(c, husband, wife, latest=latest, code=code):
        _marry(c, husband, wife, code=code)
    if c.chance(0.25):
        husband.relation, wife.relation = "11", "02"
        return wife, husband
    return husband, wife


def _children(c: _Context, father: Draft, mother: Draft, count: int) -> list[Draft]:
    """Up to *count* children of the couple, born after the marriage and at most 25 years ago."""
    low = max(mother.birth + years(21), father.birth + years(22), c.today - years(25))
    if mother.married_on is not None:
        low = max(low, mother.married_on + 30)
    high = min(mother.birth + years(42), MAX_BIRTH, c.today - 1)
    births = sorted(draw(c.rng, low, high) for _ in range(count)) if low <= high else []
    kids: list[Draft] = []
    previous = -10_000
    for birth in births:
        birth = max(birth, previous + 300)
        if birth > high:
            break
        previous = birth
        parent = father if c.chance(0.92) else mother
        minority = [p.ethnicity for p in (father, mother) if p.ethnicity != "01"]
        ethnicity = minority[0] if minority and c.chance(0.8) else "01"
        kid = Draft(c.sex(0.515), birth, "", parent.surname, ethnicity, native=True)
        kids.append(kid)
    _label_children(kids)
    return kids


def _label_children(kids: list[Draft]) -> None:
    """GB/T 4761 codes: 独生子/女 for an only child, else 长子/次子/三子 and 长女/次女/三女."""
    if len(kids) == 1:
        kids[0].relation = "21" if kids[0].male else "31"
        return
    sons = daughters = 0
    for kid in kids:
        if kid.male:
            sons += 1
            kid.relation = f"2{sons + 1}"
        else:
            daughters += 1
            kid.relation = f"3{daughters + 1}"


def _kid_count(c: _Context, room: int) -> int:
    wanted = 1 if c.chance(0.5) else (2 if c.chance(0.84) else 3)
    return max(0, min(wanted, room))


def _single_young(c: _Context, capacity: int) -> list[Draft]:
    head = c.person(c.sex(), c.born(20, 45), "02")
    if c.today - head.birth > years(28) and c.chance(0.15):
        partner = c.person(_other(head.sex), head.birth + years(c.rng.uniform(-3, 3)), "")
        if _marry(c, head, partner, latest=c.today - years(2)) and not _divorce(c, head):
            head.spouse, head.marriage_code, head.married_on = None, "10", None
    members = [head]
    if capacity > 1 and c.chance(0.05):
        members.append(c.person(c.sex(), c.born(18, 40), "99"))
    return members


def _other(sex: Sex) -> Sex:
    return "female" if sex == "male" else "male"


def _divorce(c: _Context, person: Draft, after: int = 0) -> bool:
    """Divorce *person* (spouse outside the household) after *after*; else make them widowed."""
    person.spouse = None
    married = person.married_on if person.married_on is not None else c.today
    day = c.between(max(married + years(1), after), c.today - 30)
    if day is None:
        person.marriage_code = "30"
        return False
    person.marriage_code, person.divorced_on = "40", day
    return True


def _single_elderly(c: _Context, capacity: int) -> list[Draft]:
    head = c.person(c.sex(0.35), c.born(60, 95), "02")
    roll = c.rng.random()
    if roll < 0.92:
        partner = c.person(_other(head.sex), head.birth, "")
        if _marry(c, head, partner, latest=head.legal_age() + years(10)):
            if roll < 0.8:
                head.spouse, head.marriage_code = None, "30"
            else:
                _divorce(c, head)
    return [head]


def _couple_only(c: _Context, capacity: int) -> list[Draft]:
    ages = (24.0, 40.0) if c.chance(0.6) else (45.0, 64.0)
    return list(_couple(c, ages, (-2.0, 6.0)))


def _couple_with_children(c: _Context, capacity: int) -> list[Draft]:
    head, spouse = _couple(c, (26.0, 62.0), (-2.0, 6.0))
    father, mother = (head, spouse) if head.male else (spouse, head)
    return [head, spouse, *_children(c, father, mother, _kid_count(c, capacity - 2))]


def _three_generations(c: _Context, capacity: int) -> list[Draft]:
    head, spouse = _couple(c, (30.0, 52.0), (-2.0, 6.0))
    father, mother = (head, spouse) if head.male else (spouse, head)
    members = [head, spouse, *_children(c, father, mother, _kid_count(c, capacity - 3))]
    members.extend(_parents_of(c, head, capacity - len(members)))
    return members


def _parents_of(c: _Context, child: Draft, room: int) -> list[Draft]:
    """The head's father and/or mother (GB/T 4761 51/52); a lone parent is widowed."""
    mother_birth = child.birth - years(c.rng.uniform(23, 33))
    father_birth = mother_birth - years(c.rng.uniform(0, 6))
    dad = Draft("male", father_birth, "51", child.surname, child.ethnicity)
    mum = c.person("female", mother_birth, "52")
    mum.ethnicity = child.ethnicity
    _marry(c, dad, mum, latest=child.birth - 30)
    alive = [p for p in (dad, mum) if p.birth >= MIN_BIRTH]
    if len(alive) == 2 and room >= 2 and not c.chance(0.4):
        return alive
    preferred = mum if c.chance(0.65) else dad
    survivors = [preferred] if preferred in alive else alive[:1]
    for parent in survivors[: max(room, 0)]:
        parent.spouse, parent.marriage_code = None, "30"
    return survivors[: max(room, 0)]


def _elderly_couple(c: _Context, capacity: int) -> list[Draft]:
    return list(_couple(c, (62.0, 94.0), (-2.0, 8.0)))


def _grandparents(c: _Context, capacity: int) -> list[Draft]:
    head, spouse = _couple(c, (56.0, 78.0), (-2.0, 6.0))
    grandfather = head if head.male else spouse
    kids: list[Draft] = []
    for _ in range(min(1 if c.chance(0.7) else 2, capacity - 2)):
        paternal = c.chance(0.6)
        kid = Draft(
            c.sex(0.515), c.born(2, 16), "", grandfather.surname, head.ethnicity, native=True
        )
        if not paternal:
            kid.surname = SURNAME.pick(c.rng)
        kid.relation = ("41" if kid.male else "42") if paternal else ("43" if kid.male else "44")
        kids.append(kid)
    return [head, spouse, *sorted(kids, key=lambda k: k.birth)]


def _siblings(c: _Context, capacity: int) -> list[Draft]:
    head = c.person(c.sex(), c.born(20, 45), "02")
    birth = min(MAX_BIRTH, head.birth + years(c.rng.uniform(-8, 8)))
    sibling = Draft(c.sex(), birth, "", head.surname, head.ethnicity)
    older = sibling.birth < head.birth
    sibling.relation = ("71" if older else "73") if sibling.male else ("75" if older else "77")
    return [head, sibling]


def _single_parent(c: _Context, capacity: int) -> list[Draft]:
    parent = c.person(c.sex(0.3), c.born(28, 50), "02")
    other = c.person(_other(parent.sex), parent.birth + years(c.rng.uniform(-3, 3)), "")
    members = [parent]
    if _marry(c, parent, other, latest=parent.legal_age() + years(8)):
        father, mother = (parent, other) if parent.male else (other, parent)
        members += _children(c, father, mother, _kid_count(c, capacity - 1))
        last_birth = max(kid.birth for kid in members)
        if c.chance(0.7):
            _divorce(c, parent, after=last_birth)
        else:
            parent.spouse, parent.marriage_code = None, "30"
    return members


def _deaths(c: _Context, members: list[Draft]) -> None:
    """Some of the elderly died within the last three years; a surviving spouse is widowed."""
    for person in members:
        age = (c.today - person.birth) / _YEAR
        risk = 0.0 if age < 60 else 0.01 if age < 70 else 0.03 if age < 80 else 0.1
        if risk == 0.0 or c.rng.random() >= risk:
            continue
        low = max(anniversary(person.birth, 60), c.today - years(3))
        spouse = person.spouse
        if spouse is not None and spouse.death is not None:
            low = max(low, spouse.death + 1)
        person.death = c.between(low, c.today - 1)
        if person.death is not None and spouse is not None and spouse.death is None:
            # Widowed; ``spouse`` still points at the deceased so that a later death of the
            # survivor falls after this one.
            spouse.marriage_code = "30"


_Build = Callable[[_Context, int], list[Draft]]
_SINGLE_ELDERLY: Final[tuple[str, _Build]] = ("single_elderly", _single_elderly)
# (name, builder, minimum size), weight
_TEMPLATE_TABLE: Final[tuple[tuple[tuple[str, _Build, int], float], ...]] = (
    (("single_young", _single_young, 1), 12.0),
    (("single_elderly", _single_elderly, 1), 8.0),
    (("couple", _couple_only, 2), 14.0),
    (("couple_with_children", _couple_with_children, 2), 38.0),
    (("three_generations", _three_generations, 3), 10.0),
    (("single_parent", _single_parent, 1), 6.0),
    (("elderly_couple", _elderly_couple, 2), 9.0),
    (("grandparents", _grandparents, 3), 2.0),
    (("siblings", _siblings, 2), 1.0),
)
_TEMPLATES: Final = [entry for entry, _ in _TEMPLATE_TABLE]
_TEMPLATE_WEIGHTS: Final = list(accumulate(weight for _, weight in _TEMPLATE_TABLE))
_TEMPLATE_TOTAL: Final = _TEMPLATE_WEIGHTS[-1]
