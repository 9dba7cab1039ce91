"""Records of the synthetic demo city: households, citizens and what departments know of them.

These are the generator's output (:mod:`exchange.demo.citizens`) and the legacy writers' input
(:mod:`exchange.demo.legacy`). Values use the stable English codes of the catalogue descriptors
(``exchange/demo/catalogue/10-res-*.yaml``) where a descriptor defines one, and keep the national
code where a legacy store needs the detail the English code drops (GB/T 4761 family relation,
GB/T 2261.2 marital status).

Every record here holds synthetic personal data. ``repr`` therefore never shows a name or a full
ID number (only the masked form of :class:`catalogue.identifiers.ResidentId`), so that a stray
log line or a failing assertion does not print the people of the demo city.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "CITY_CODE",
    "CITY_NAME",
    "DEFAULT_AS_OF",
    "DISTRICTS",
    "MARITAL_STATUS_BY_CODE",
    "PROVINCE_ABBREVIATION",
    "RELATION_NAMES",
    "Address",
    "Citizen",
    "Dibao",
    "Employer",
    "Household",
    "IdCard",
    "IdCardStatus",
    "MaritalStatus",
    "Marriage",
    "Property",
    "PropertyUsage",
    "Relation",
    "Sex",
    "SocialInsurance",
    "SocialInsuranceStatus",
    "age_on",
    "mask_id",
    "relation_of",
]

CITY_NAME: Final = "演示市"
"""The demo city's name, as departments write it (its division codes are those of 330100)."""
CITY_CODE: Final = "330100"
DEFAULT_AS_OF: Final = date(2026, 9, 1)
"""The demo city's reference date (start of the 2026 school year): ages are on this day."""
PROVINCE_ABBREVIATION: Final = "浙"
"""One-character province abbreviation used in certificate numbers."""

DISTRICTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "330102": "上城区",
        "330105": "拱墅区",
        "330106": "西湖区",
        "330108": "滨江区",
        "330109": "萧山区",
        "330110": "余杭区",
    }
)
"""County-level divisions (GB/T 2260) of the demo city and their names."""

Sex = Literal["male", "female"]
Relation = Literal[
    "head", "spouse", "son", "daughter", "grandchild", "parent", "grandparent", "sibling", "other"
]
MaritalStatus = Literal["unmarried", "married", "divorced", "widowed"]
IdCardStatus = Literal["normal", "reported_lost", "cancelled"]
SocialInsuranceStatus = Literal["contributing", "suspended", "retired", "terminated"]
PropertyUsage = Literal["residential", "commercial", "office", "industrial", "other"]

RELATION_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "02": "户主",
        "11": "夫",
        "12": "妻",
        "21": "独生子",
        "22": "长子",
        "23": "次子",
        "24": "三子",
        "31": "独生女",
        "32": "长女",
        "33": "次女",
        "34": "三女",
        "41": "孙子",
        "42": "孙女",
        "43": "外孙子",
        "44": "外孙女",
        "51": "父亲",
        "52": "母亲",
        "71": "兄",
        "73": "弟",
        "75": "姐姐",
        "77": "妹妹",
        "99": "其他",
    }
)
"""The GB/T 4761 family relation codes the generator uses, with their Chinese names."""

_RELATION_BY_FIRST_DIGIT: Final[Mapping[str, Relation]] = MappingProxyType(
    {
        "1": "spouse",
        "2": "son",
        "3": "daughter",
        "4": "grandchild",
        "5": "parent",
        "6": "grandparent",
        "7": "sibling",
    }
)

MARITAL_STATUS_BY_CODE: Final[Mapping[str, MaritalStatus]] = MappingProxyType(
    {
        "10": "unmarried",
        "20": "married",
        "21": "married",
        "22": "married",
        "23": "married",
        "30": "widowed",
        "40": "divorced",
    }
)
"""GB/T 2261.2 marital status codes (detailed: 21 初婚, 22 再婚, 23 复婚) to the stable codes."""


def relation_of(code: str) -> Relation:
    """The descriptor's relation code for a GB/T 4761 code (``02`` head, ``1x`` spouse, …)."""
    if code == "02":
        return "head"
    return _RELATION_BY_FIRST_DIGIT.get(code[:1], "other")


def mask_id(number: str) -> str:
    """An ID number with its birth-date digits replaced by ``*`` (safe for logs and reprs)."""
    return number[:6] + "*" * 8 + number[-4:] if len(number) == 18 else "*" * len(number)


def age_on(birth: date, day: date) -> int:
    """Completed years of age on *day* (a person born on 29 February ages on 1 March)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass(frozen=True, slots=True)
class Address:
    """A registered address: district, street (or town and village), house number, details."""

    division: str
    street: str
    number: int
    detail: str | None
    """Building, unit and room (``3幢2单元501室``); ``None`` for a house without them."""

    @property
    def district(self) -> str:
        return DISTRICTS[self.division]

    @property
    def house_number(self) -> str:
        return f"{self.number}号"

    @property
    def text(self) -> str:
        """The full address, e.g. ``演示市西湖区文三路123号3幢2单元501室``."""
        return f"{CITY_NAME}{self.district}{self.street}{self.house_number}{self.detail or ''}"

    def __repr__(self) -> str:
        return f"Address(division={self.division!r})"


@dataclass(frozen=True, slots=True)
class Marriage:
    """Current marital status as the marriage registry records it (GB/T 2261.2 code)."""

    code: str
    spouse_name: str | None = field(default=None, repr=False)
    registered_on: date | None = field(default=None, repr=False)
    """The latest marriage or divorce registration (for the widowed, the marriage)."""

    @property
    def status(self) -> MaritalStatus:
        return MARITAL_STATUS_BY_CODE[self.code]


@dataclass(frozen=True, slots=True)
class IdCard:
    """The current resident identity card: validity and status."""

    valid_from: date
    valid_until: date | None
    """``None`` for a long-term (长期) card."""
    status: IdCardStatus
    issued_by: str
    """The issuing public security (sub-)bureau."""


@dataclass(frozen=True, slots=True)
class Employer:
    """A contributing employer: unified social credit code (GB 32100) and name."""

    uscc: str
    name: str


@dataclass(frozen=True, slots=True)
class SocialInsurance:
    """The social insurance record: status, months paid, employer, pension."""

    status: SocialInsuranceStatus
    months_paid: int
    insured_since: date
    employer: Employer | None
    pension_fen: int | None
    """Monthly pension in fen (1/100 yuan) when retired, else ``None``."""
    updated_at: datetime
    """Naive local time (Asia/Shanghai) of the last change, as the legacy system keeps it."""


@dataclass(frozen=True, slots=True)
class Dibao:
    """A minimum living allowance (低保) entry: current or former recipient."""

    receiving: bool
    monthly_amount: Decimal | None
    """Yuan, two decimals; ``None`` when no longer receiving."""
    since: date


@dataclass(frozen=True, slots=True, repr=False)
class Citizen:
    """One person on the household register and what the departments know of them."""

    id_number: str
    name: str
    sex: Sex
    birth_date: date
    ethnicity: str
    """GB/T 3304 two-digit code (``01`` 汉族)."""
    relation_code: str
    """GB/T 4761 relation to the household head (``02`` is the head)."""
    marriage: Marriage
    registered_on: date | None
    """When the person entered this register (birth or move-in); ``None`` if unknown."""
    criminal_record: bool = False
    death_date: date | None = None
    id_card: IdCard | None = None
    social_insurance: SocialInsurance | None = None
    dibao: Dibao | None = None

    @property
    def relation(self) -> Relation:
        return relation_of(self.relation_code)

    @property
    def deceased(self) -> bool:
        return self.death_date is not None

    def age_on(self, day: date) -> int:
        return age_on(self.birth_date, day)

    def __repr__(self) -> str:
        return f"Citizen(id_number={mask_id(self.id_number)!r})"


@dataclass(frozen=True, slots=True, repr=False)
class Property:
    """A registered real estate right (不动产权) and its owners."""

    certificate_no: str
    address: Address
    area: Decimal
    """Square metres, two decimals."""
    usage: PropertyUsage
    owners: tuple[Citizen, ...]
    registered_on: date

    def __repr__(self) -> str:
        return f"Property(division={self.address.division!r}, owners={len(self.owners)})"


@dataclass(frozen=True, slots=True, repr=False)
class Household:
    """A household (户) on the register: number, address, members (head first), properties."""

    number: str
    """The 9-digit household number (户号)."""
    address: Address
    members: tuple[Citizen, ...]
    properties: tuple[Property, ...] = ()

    @property
    def head(self) -> Citizen:
        return self.members[0]

    def __repr__(self) -> str:
        return (
            f"Household(division={self.address.division!r}, members={len(self.members)}, "
            f"properties={len(self.properties)})"
        )
