"""One household in each department's legacy shape: SQL rows, REG records, dibao CSV rows.

Pure functions from :mod:`exchange.demo.records` to the column names and habits documented in
:mod:`exchange.demo.legacy_schemas`; :mod:`exchange.demo.legacy` writes what they return.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any, Final

from exchange.demo.legacy_schemas import (
    DIBAO_STATUS,
    HRSS_STATUS,
    ID_CARD_STATUS,
    REG_LAYOUT,
    REG_USAGE,
)
from exchange.demo.records import Citizen, Household, Property

__all__ = [
    "dibao_csv_row",
    "hrss_row",
    "mca_rows",
    "psb_card_row",
    "psb_person_row",
    "reg_record",
]

Row = dict[str, Any]

_SEX: Final = {"male": "1", "female": "2"}
_NONE: Final = "无"
_UNKNOWN_DATE: Final = "00000000"
_LONG_TERM: Final = "长期"


def _compact(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def psb_person_row(household: Household, citizen: Citizen, person_number: int) -> Row:
    """A ``T_RK_HJXX`` row."""
    address = household.address
    return {
        "RYID": person_number,
        "HH": household.number,
        "GMSFHM": citizen.id_number,
        "XM": citizen.name,
        "XB": _SEX[citizen.sex],
        "CSRQ": _compact(citizen.birth_date),
        "MZ": citizen.ethnicity,
        "HZXM": household.head.name,
        "YHZGX": citizen.relation_code,
        "HJDZ_XZQH": address.division,
        "HJDZ_JLX": address.street,
        "HJDZ_MLPH": address.house_number,
        "HJDZ_MLXZ": address.detail or _NONE,
        "HJDZ": address.text,
        "WFFZJL": "1" if citizen.criminal_record else "0",
        "DJRQ": _UNKNOWN_DATE if citizen.registered_on is None else _compact(citizen.registered_on),
    }


def psb_card_row(citizen: Citizen) -> Row | None:
    """A ``T_RK_SFZ`` row, or ``None`` for someone without an ID card."""
    card = citizen.id_card
    if card is None:
        return None
    return {
        "GMSFHM": citizen.id_number,
        "YXQQ": _compact(card.valid_from),
        "YXQZ": _LONG_TERM if card.valid_until is None else _compact(card.valid_until),
        "ZT": ID_CARD_STATUS[card.status],
        "QFJG": card.issued_by,
    }


def hrss_row(citizen: Citizen, person_number: int) -> Row | None:
    """An ``si_person`` row, or ``None`` for someone never insured."""
    insurance = citizen.social_insurance
    if insurance is None:
        return None
    employer = insurance.employer
    return {
        "aac001": person_number,
        "aac002": citizen.id_number,
        "aac003": citizen.name,
        "aac004": _SEX[citizen.sex],
        "aac008": HRSS_STATUS[insurance.status],
        "aae180": insurance.months_paid,
        "aab001": None if employer is None else employer.uscc,
        "aab004": None if employer is None else employer.name,
        "aic": insurance.pension_fen,
        "aac030": insurance.insured_since,
        "updated_at": insurance.updated_at,
    }


def mca_rows(household: Household, citizen: Citizen) -> Iterator[tuple[str, Row]]:
    """(table, row) pairs for the MCA tables: marriage always, death and dibao if any."""
    marriage = citizen.marriage
    registered = marriage.registered_on
    yield (
        "marriage_registration",
        {
            "id_card_no": citizen.id_number,
            "name": citizen.name,
            "marital_status": marriage.code,
            "spouse_name": marriage.spouse_name,
            "registered_date": None if registered is None else registered.isoformat(),
        },
    )
    if citizen.death_date is not None:
        yield (
            "death_registration",
            {
                "id_card_no": citizen.id_number,
                "name": citizen.name,
                "death_date": citizen.death_date.isoformat(),
                # registered the afternoon of the death (the change stream's watermark)
                "registered_at": datetime.combine(citizen.death_date, time(16, 0)),
            },
        )
    dibao = citizen.dibao
    if dibao is not None:
        amount = dibao.monthly_amount
        yield (
            "dibao_roll",
            {
                "id_card_no": citizen.id_number,
                "name": citizen.name,
                "district_code": household.address.division,
                "status": DIBAO_STATUS[dibao.receiving],
                "monthly_amount": None if amount is None else f"{amount:.2f}",
                "since_date": dibao.since.isoformat(),
            },
        )


def dibao_csv_row(number: int, row: Row) -> list[str]:
    """A dibao CSV line (columns of ``DIBAO_CSV_COLUMNS``) from a ``dibao_roll`` row."""
    return [
        str(number),
        row["name"],
        row["id_card_no"],
        row["district_code"],
        row["status"],
        row["monthly_amount"] or "",
        row["since_date"],
    ]


def reg_record(prop: Property) -> bytes:
    """One fixed-width GBK record of the REG export (without the line end)."""
    values = {
        "BDCQZH": prop.certificate_no,
        "ZL": prop.address.text,
        "XZQH": prop.address.division,
        "JZMJ": f"{prop.area:09.2f}",
        "GHYT": REG_USAGE[prop.usage],
        "QLR": "、".join(owner.name for owner in prop.owners),
        "QLRZJH": ",".join(owner.id_number for owner in prop.owners),
        "DJRQ": _compact(prop.registered_on),
    }
    parts = []
    for field in REG_LAYOUT:
        raw = values[field.name].encode("gbk")
        if len(raw) > field.width:
            # Never name the value: it is personal data.
            raise ValueError(f"REG field {field.name} needs more than {field.width} bytes")
        parts.append(raw.ljust(field.width, b" "))
    return b"".join(parts)
