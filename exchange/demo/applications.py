"""Applications in the 2025 form for the demo city (《政务数据共享条例》 art. 20-22), so the
sharing officers' and the data authority's pages show each clock: one awaiting the materials
the real estate registry asked for (clock stopped), one whose provider asks the data authority
for an extension, one approved for the batch channel with its delivery clock running, and one
approved and delivered through the service interface."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from exchange.agreements.applications import ReplyClocks
from exchange.agreements.replies import deliver, request_extension, send_materials_notice
from exchange.agreements.service import Approval, apply_for_agreement, decide_application
from exchange.security.identity import DEV_IDP_ISSUER, Principal, Role
from exchange.security.keys import HubKeys

__all__ = ["seed_applications"]


def _officer(department: str) -> Principal:
    return Principal(
        f"{department.lower()}-sharing", Role.SHARING_OFFICER, department, DEV_IDP_ISSUER
    )


def _application(
    system: str, resource: str, fields: list[str], purpose: str, use: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "system": system,
        "resource": resource,
        "fields": fields,
        "purpose": purpose,
        "legal_basis": "《政务数据共享条例》第二十条",
        "justification": "办件需要核验该信息项，减少群众提交证明材料。",
        "valid_until": (now + timedelta(days=365)).date().isoformat(),
        "use": use,
    }


def seed_applications(
    session: Session, keys: HubKeys, clocks: ReplyClocks, now: datetime
) -> dict[str, str]:
    """The four demo applications, by what each shows; the caller commits."""
    edu, mca = _officer("EDU"), _officer("MCA")
    enrolment = {"description": "义务教育入学登记", "service_item": "EDU-RXDJ-001"}
    named = {"population": "named", "description": "本市申请入学儿童的监护人"}
    made: dict[str, str] = {}

    awaiting = apply_for_agreement(
        session,
        edu,
        _application(
            "edu-enrolment",
            "REG-BDC-0001",
            ["certificate_no", "address"],
            "school-enrolment",
            {"scenario": enrolment},
            now,
        ),
        now=now,
        clocks=clocks,
    )
    items = [
        {"material": "scope", "detail": "请说明核验涉及哪些人员。"},
        {"material": "sharing_modes", "detail": "请说明采用接口核验还是文件下载。"},
    ]
    send_materials_notice(session, _officer("REG"), awaiting.id, items, now=now)
    made["awaiting_materials"] = awaiting.id

    extended = apply_for_agreement(
        session,
        mca,
        _application(
            "mca-dibao",
            "HRSS-SB-0001",
            ["months_paid", "current_employer_name"],
            "minimum-living-allowance",
            {
                "scenario": {"description": "最低生活保障申请家庭收入核对"},
                "scope": {"population": "named", "description": "申请低保的家庭成员"},
                "sharing_modes": ["interface"],
            },
            now,
        ),
        now=now,
        clocks=clocks,
    )
    request_extension(
        session,
        _officer("HRSS"),
        extended.id,
        days=5,
        reason="参保单位信息需与税务部门核对口径后答复。",
        now=now,
        clocks=clocks,
    )
    made["extension_asked"] = extended.id

    batch = apply_for_agreement(
        session,
        edu,
        _application(
            "edu-enrolment",
            "MCA-DB-0001",
            ["receiving", "since"],
            "school-enrolment",
            {"scenario": enrolment, "scope": named, "sharing_modes": ["batch"]},
            now,
        ),
        now=now,
        clocks=clocks,
    )
    decide_application(
        session,
        mca,
        batch.id,
        Approval(fields=("receiving", "since")),
        keys=keys,
        now=now,
        clocks=clocks,
    )
    made["batch_approved"] = batch.id

    delivered = apply_for_agreement(
        session,
        edu,
        _application(
            "edu-enrolment",
            "HRSS-SB-0001",
            ["insured_since"],  # not months_paid: the demo's agreement 15 grants that one
            "school-enrolment",
            {"scenario": enrolment, "scope": named, "sharing_modes": ["interface"]},
            now,
        ),
        now=now,
        clocks=clocks,
    )
    hrss = _officer("HRSS")
    decide_application(
        session,
        hrss,
        delivered.id,
        Approval(fields=("insured_since",)),
        keys=keys,
        now=now,
        clocks=clocks,
    )
    deliver(session, hrss, delivered.id, "interface", now=now)
    made["delivered"] = delivered.id
    return made
