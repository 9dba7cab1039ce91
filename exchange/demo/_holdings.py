"""What departments hold about a composed person: ID card, social insurance, dibao, property.

Pure functions of a random generator, the reference date and a :class:`~exchange.demo._family.Draft`
(or finished :class:`~exchange.demo.records.Citizen` records for property owners), used by
:mod:`exchange.demo.citizens`. The rules:

* ID cards (居民身份证法): everyone from 16 has one, four in ten younger children too; a card is
  valid 5 years if issued under 16, 10 years at 16–25, 20 years at 26–45, long-term from 46, and
  is renewed at expiry (a few were not: expired). The card of a deceased person is cancelled.
* Social insurance: adults 18 to retirement (men 60, women 55) mostly contribute, with an
  employer (a well-formed USCC with a correct GB 32100 check character) or as flexible workers;
  from retirement age most receive a pension; months paid never exceed the time since first
  insured; a death terminates the record.
* Dibao households own no property and have no employed contributor; their members' allowance
  starts after their birth, and a deceased member's allowance has stopped.
"""

from __future__ import annotations

import random
from array import array
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final

from catalogue.identifiers import USCC_ALPHABET, uscc_check_char
from exchange.demo._family import Draft, anniversary, draw, years
from exchange.demo._lexicon import BUSINESSES, PUBLIC_EMPLOYERS, TRADE_NAMES
from exchange.demo.records import (
    CITY_NAME,
    DISTRICTS,
    PROVINCE_ABBREVIATION,
    Address,
    Citizen,
    Dibao,
    Employer,
    IdCard,
    IdCardStatus,
    Property,
    PropertyUsage,
    SocialInsurance,
    SocialInsuranceStatus,
    age_on,
)

__all__ = [
    "CertificateNumbers",
    "dibao_entry",
    "employer_pool",
    "id_card",
    "property_right",
    "social_insurance",
]

_CARDS_INTRODUCED: Final = date(1985, 1, 1).toordinal()
_CENT: Final = Decimal("0.01")
_DISTRICT_CODES: Final = tuple(DISTRICTS)


def _add_years(day: date, count: int) -> date:
    try:
        return day.replace(year=day.year + count)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year + count, day=28)


def _validity_years(age: int) -> int | None:
    return 5 if age < 16 else 10 if age < 26 else 20 if age < 46 else None


def id_card(rng: random.Random, person: Draft, district: str, today: date) -> IdCard | None:
    """The person's current ID card, or ``None`` for a child without one."""
    birth = date.fromordinal(person.birth)
    age = age_on(birth, today)
    if age < 16 and rng.random() >= 0.4:
        return None
    if age >= 16:
        first = anniversary(person.birth, 16) + draw(rng, 0, 700)
    else:
        first = person.birth + draw(rng, 30, max(30, today.toordinal() - person.birth - 1))
    first = max(first, _CARDS_INTRODUCED + draw(rng, 0, 1100))
    start, until, previous = date.fromordinal(first), None, None
    while (period := _validity_years(age_on(birth, start))) is not None:
        until = _add_years(start, period)
        if until > today:
            break
        previous = (start, until)
        start = until - timedelta(days=draw(rng, 0, 90))
    else:
        until = None
    if previous is not None and rng.random() < 0.03:
        start, until = previous  # expired and not renewed
    status: IdCardStatus = "cancelled" if person.death is not None else "normal"
    if status == "normal" and rng.random() < 0.02:
        status = "reported_lost"
    issued_by = f"{CITY_NAME}公安局{DISTRICTS[district][:-1]}分局"
    return IdCard(start, until, status, issued_by)


def _org_code_check(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    total = sum(int(ch, 36) * w for ch, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _uscc(prefix: str, division: str, body: str) -> str:
    first17 = prefix + division + body + _org_code_check(body)
    return first17 + uscc_check_char(first17)


def employer_pool() -> tuple[Employer, ...]:
    """The demo city's employers: 800 companies, then a few public institutions (fixed)."""
    companies = []
    for index in range(len(TRADE_NAMES) * len(BUSINESSES)):
        trade = TRADE_NAMES[index % len(TRADE_NAMES)]
        business = BUSINESSES[index // len(TRADE_NAMES)]
        serial = (index * 7919 + 104_729) % 31**5
        tail = "".join(USCC_ALPHABET[serial // 31**k % 31] for k in range(5))
        division = _DISTRICT_CODES[index % len(_DISTRICT_CODES)]
        companies.append(
            Employer(_uscc("91", division, "MA2" + tail), CITY_NAME + trade + business)
        )
    public = [
        Employer(_uscc("12", "330100", f"{47_100 + index:08d}"), CITY_NAME + name)
        for index, name in enumerate(PUBLIC_EMPLOYERS)
    ]
    return (*companies, *public)


def _updated_at(rng: random.Random, low: int, high: int) -> datetime:
    day = date.fromordinal(draw(rng, low, max(low, high)))
    return datetime(day.year, day.month, day.day) + timedelta(seconds=draw(rng, 0, 86_399))


def _months(low: int, high: int) -> float:
    return max(0, high - low) * 12 / 365.2425


def social_insurance(
    rng: random.Random,
    person: Draft,
    today: date,
    *,
    employers: tuple[Employer, ...],
    dibao: bool,
) -> SocialInsurance | None:
    """The person's social insurance record, or ``None`` if never insured."""
    end = person.death if person.death is not None else today.toordinal() - 1
    age = age_on(
        date.fromordinal(person.birth), today if person.death is None else date.fromordinal(end)
    )
    retirement = 60 if person.male else 55
    if age < 18 or (age < 23 and rng.random() < 0.6):
        return None
    if age < retirement:
        return _working(rng, person, end, today, employers=employers, dibao=dibao)
    if rng.random() >= (0.3 if dibao else 0.78):
        return None
    retired_on = person.birth + years(retirement)
    since = person.birth + years(rng.uniform(18, 26))
    months = round(_months(since, retired_on) * rng.uniform(0.7, 1.0))
    months = min(1200, max(180, months))
    pension = draw(rng, 60_000, 120_000) if dibao else draw(rng, 180_000, 750_000)
    if person.death is not None:
        return _terminated_by_death(rng, person.death, since, months, today)
    updated = _updated_at(rng, today.toordinal() - 40, today.toordinal() - 1)
    return SocialInsurance("retired", months, date.fromordinal(since), None, pension, updated)


def _working(
    rng: random.Random,
    person: Draft,
    end: int,
    today: date,
    *,
    employers: tuple[Employer, ...],
    dibao: bool,
) -> SocialInsurance | None:
    if rng.random() >= 0.88:
        return None
    since = draw(rng, anniversary(person.birth, 18), max(anniversary(person.birth, 18), end - 31))
    months = max(1, round(_months(since, end) * rng.uniform(0.55, 1.0)))
    if person.death is not None:
        return _terminated_by_death(rng, person.death, since, months, today)
    roll = rng.random()
    status: SocialInsuranceStatus
    if dibao:
        status = "suspended" if roll < 0.6 else "terminated" if roll < 0.85 else "contributing"
    else:
        status = "contributing" if roll < 0.82 else "suspended" if roll < 0.93 else "terminated"
    employer = None
    if status == "contributing" and not dibao and rng.random() < 0.85:
        employer = employers[int(len(employers) * rng.random() ** 2)]
    updated = _updated_at(rng, today.toordinal() - 40, today.toordinal() - 1)
    return SocialInsurance(
        status, min(months, 1200), date.fromordinal(since), employer, None, updated
    )


def _terminated_by_death(
    rng: random.Random, death: int, since: int, months: int, today: date
) -> SocialInsurance:
    last = today.toordinal() - 1
    updated = _updated_at(rng, min(death + 1, last), min(death + 30, last))
    return SocialInsurance(
        "terminated", min(months, 1200), date.fromordinal(since), None, None, updated
    )


def dibao_entry(
    rng: random.Random, person: Draft, since: int, receiving: bool, today: date
) -> Dibao:
    """One member's entry on a dibao household's roll (the household shares *since*)."""
    start = date.fromordinal(min(max(since, person.birth + 30), today.toordinal() - 1))
    if not receiving or person.death is not None:
        return Dibao(False, None, start)
    amount = (Decimal(draw(rng, 30_000, 126_400)) / 100).quantize(_CENT)
    return Dibao(True, amount, start)


class CertificateNumbers:
    """Per-year serial numbers of real estate certificates (浙(2021)演示市不动产权第0012345号)."""

    FIRST_YEAR: Final = 2016

    def __init__(self, today: date) -> None:
        self._today = today
        span = max(1, today.year - self.FIRST_YEAR + 1)
        # Each year's serials continue from where earlier demo years' registers left off.
        self._used = array("L", [(year * 7919) % 40_000 for year in range(span)])

    def issue(self, rng: random.Random, owners: tuple[Citizen, ...]) -> tuple[str, date]:
        """A new certificate number and registration date, after every owner turned 18."""
        adult = max(_add_years(owner.birth_date, 18) for owner in owners).toordinal()
        last = self._today.toordinal() - 1
        year = draw(
            rng,
            min(max(self.FIRST_YEAR, date.fromordinal(adult).year), self._today.year),
            self._today.year,
        )
        slot = year - self.FIRST_YEAR
        self._used[slot] += 1
        if self._used[slot] > 9_999_999:
            raise RuntimeError("certificate serial numbers exhausted for a year")
        low = max(date(year, 1, 1).toordinal(), adult)
        high = min(date(year, 12, 31).toordinal(), last)
        day = date.fromordinal(draw(rng, min(low, high), high))
        number = f"{PROVINCE_ABBREVIATION}({year}){CITY_NAME}不动产权第{self._used[slot]:07d}号"
        return number, day


_USAGES: Final[tuple[tuple[PropertyUsage, float, float, float], ...]] = (
    # usage, cumulative share for a second property, smallest and largest area (m²)
    ("residential", 0.60, 38.0, 180.0),
    ("commercial", 0.75, 15.0, 300.0),
    ("office", 0.85, 30.0, 500.0),
    ("industrial", 0.88, 200.0, 5000.0),
    ("other", 1.00, 5.0, 60.0),
)


def property_right(
    rng: random.Random,
    numbers: CertificateNumbers,
    owners: tuple[Citizen, ...],
    address: Address,
    *,
    primary: bool,
) -> Property:
    """A property of *owners*: their home at *address* if *primary*, else any usage."""
    roll = 0.0 if primary else rng.random()
    usage, _, smallest, largest = next(u for u in _USAGES if roll < u[1])
    mode = smallest + (largest - smallest) * 0.3
    area = Decimal(str(round(rng.triangular(smallest, largest, mode), 2))).quantize(_CENT)
    number, registered_on = numbers.issue(rng, owners)
    return Property(number, address, area, usage, owners, registered_on)
