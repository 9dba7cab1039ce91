"""The demo city's catalogue lifecycle (docs/lifecycle.md), so the data authority's pages show
something: three entries on their way into the catalogue (one past its review clock, one in
time, one returned with reasons), two update duties (one overdue, one with its extension
waiting) and three supply-demand requests (one to route, one routed, one connected).

Each step goes through the lifecycle's own services at a moment in the past, so the clocks and
the audit entries are those a real history would leave."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from catalogue.descriptors import check_descriptor
from catalogue.vocabulary import SharingMethod
from exchange.demo.build import demo_descriptors
from exchange.lifecycle import demands, duties, review
from exchange.lifecycle.audit import Actor
from exchange.lifecycle.clocks import Clocks
from exchange.lifecycle.models import AssessmentKind

__all__ = ["seed_lifecycle"]

AUTHORITY = Actor("dsj-reviewer-01", review.AUTHORITY, "DSJ")
PDF = b"%PDF-1.7\n% demo assessment (synthetic)\n%%EOF\n"


def _admin(department: str) -> Actor:
    return Actor(f"{department.lower()}-admin-01", review.ADMIN, department)


def _head(department: str) -> Actor:
    return Actor(f"{department.lower()}-head-01", review.HEAD, department)


def _entry(code: str, namespace: str, provider: str, name: str, title: str) -> Any:
    """A new demo entry modelled on the death registration resource."""
    base = next(d for d in demo_descriptors() if d.code == "MCA-SW-0001")
    content: dict[str, Any] = copy.deepcopy(dict(base.content))
    content.update(code=code, namespace=namespace, provider=provider, name=name, related=[])
    content["summary"] = f"演示市{name}（演示数据）。"
    content["fields"] = [
        {
            "name": "registered",
            "title": title,
            "data_type": "boolean",
            "sharing": {"type": "unconditional"},
            "sensitivity": "personal",
            "schema": {"type": "boolean"},
        },
        {
            "name": "registered_on",
            "title": "登记日期",
            "data_type": "date",
            "sharing": {"type": "conditional"},
            "sensitivity": "personal",
            "schema": {"type": "string", "format": "date"},
        },
    ]
    content["source"] = {"adapter": "sql", "mapping": f"{provider.lower()}/{namespace}"}
    return check_descriptor(content)


def _submitted(session: Session, descriptor: Any, department: str, at: datetime) -> str:
    admin = _admin(department)
    row = review.draft_submission(session, admin, descriptor, at)
    for kind in AssessmentKind:
        review.attach_assessment(
            session,
            admin,
            row.id,
            kind,
            filename=f"{descriptor.content['name']}-{kind.value}.pdf",
            media_type="application/pdf",
            data=PDF,
            now=at,
        )
    review.sign_off(session, _head(department), row.id, at)
    review.submit(session, admin, row.id, at, Clocks())
    return row.id


def seed_lifecycle(session: Session, now: datetime) -> dict[str, int]:
    """Seed the lifecycle at moments before *now* (caller commits); what was made."""
    clocks = Clocks()
    days = timedelta(days=1)
    _submitted(
        session,
        _entry("REG-DY-0001", "mortgage", "REG", "不动产抵押登记信息", "是否存在抵押登记"),
        "REG",
        now - 8 * days,
    )
    _submitted(
        session,
        _entry("MCA-LY-0001", "elderly_care", "MCA", "养老服务补贴信息", "是否享受养老服务补贴"),
        "MCA",
        now,
    )
    returned = _submitted(
        session,
        _entry("HRSS-JY-0001", "employment", "HRSS", "就业登记信息", "是否已就业登记"),
        "HRSS",
        now - 6 * days,
    )
    review.review_submission(
        session,
        AUTHORITY,
        returned,
        publish_it=False,
        reasons="使用用途只写了“就业服务”，请逐项列明可用于的政务服务事项；登记日期的共享范围过宽。",
        now=now - 5 * days,
    )
    duties.open_duty(
        session,
        AUTHORITY,
        "PSB-HJ-0001",
        "《户口登记条例》配套规定修订，户籍信息项的共享属性须重新核定。",
        now - 20 * days,
        clocks,
    )
    waiting = duties.open_duty(
        session,
        AUTHORITY,
        "MCA-HY-0001",
        "婚姻登记“跨省通办”实施，婚姻登记信息的共享范围须调整。",
        now - 7 * days,
        clocks,
    )
    duties.ask_extension(
        session, _admin("MCA"), waiting.id, "须与公安部门核对户籍联动字段。", now - 2 * days
    )
    _demand(session, "HRSS", "养老机构入住人员信息", "高龄津贴发放核查", now - 3 * days)
    routed = _demand(session, "EDU", "不动产面积明细", "入学住房核验", now - 9 * days)
    demands.route_demand(session, AUTHORITY, routed, "REG", None, now - 8 * days, clocks)
    connected = _demand(session, "EDU", "低保家庭学生名单", "教育资助审核", now - 20 * days)
    demands.route_demand(session, AUTHORITY, connected, "MCA", None, now - 19 * days, clocks)
    demands.reply_demand(
        session,
        _admin("MCA"),
        connected,
        connect=True,
        resource="MCA-DB-0001",
        reasons=None,
        now=now - 15 * days,
    )
    return {"submissions": 3, "update_duties": 2, "demands": 3}


def _demand(session: Session, department: str, title: str, scenario: str, at: datetime) -> str:
    ask = demands.DemandAsk(
        title=title,
        wanted=f"{title}（按公民身份号码逐人核验）",
        basis="《政务数据共享条例》第二十条",
        scenario=scenario,
        scope="本市各级业务经办机构",
        method=SharingMethod.INTERFACE,
        term_until=(at + timedelta(days=3 * 365)).date(),
    )
    return demands.file_demand(session, _admin(department), ask, at, Clocks()).id
