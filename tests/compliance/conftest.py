"""The compliance view's tests run over the demo world (catalogue, systems, agreements) on
SQLite and PostgreSQL; :func:`story` walks the lifecycle through its own services at moments in
the past (each service takes the moment it acts at, as the demo's history does), so that at
the real time now each kind of breach is on record exactly once, with some clocks still
running and some steps done on time."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from catalogue.descriptors import check_descriptor
from catalogue.publishing import deprecate_resource
from catalogue.vocabulary import SharingMethod
from exchange.agreements.applications import ReplyClocks
from exchange.agreements.replies import deliver, request_extension
from exchange.agreements.service import Approval, apply_for_agreement, decide_application
from exchange.db import unit_of_work
from exchange.demo.build import demo_descriptors
from exchange.disputes.models import DisputeLevel, MatterKind
from exchange.disputes.service import DisputeActor, DisputeClocks, DisputeDesk
from exchange.hub import Hub
from exchange.lifecycle import demands, duties, review
from exchange.lifecycle.audit import Actor
from exchange.lifecycle.clocks import Clocks
from exchange.lifecycle.models import AssessmentKind
from exchange.security.identity import DEV_IDP_ISSUER, Principal, Role
from exchange.stewardship.service import Steward, StewardshipDesk, UsageText

PROPERTY = "REG-BDC-0001"  # 不动产: conditional fields, interface channel
DIBAO = "MCA-DB-0001"  # 低保
PDF = b"%PDF-1.7\n% assessment\n%%EOF\n"
DAY = timedelta(days=1)
Headers = dict[str, str]


@pytest.fixture
def hub(client: TestClient, demo_world: Path) -> Hub:
    found: Hub = client.app.state.hub  # type: ignore[attr-defined]
    return found


@pytest.fixture
def as_role(client: TestClient) -> Callable[..., Headers]:
    """``as_role(role, department=None)``: the Authorization header of a staff member."""

    def headers(role: Role, department: str | None = None, sub: str = "staff-001") -> Headers:
        identity = client.app.state.hub.identity  # type: ignore[attr-defined]
        return {"Authorization": f"Bearer {identity.issue_dev_token(sub, role, department)}"}

    return headers


def officer(department: str) -> Principal:
    return Principal(
        f"{department.lower()}-officer", Role.SHARING_OFFICER, department, DEV_IDP_ISSUER
    )


def admin(department: str) -> Principal:
    return Principal(
        f"{department.lower()}-admin", Role.DEPARTMENT_ADMIN, department, DEV_IDP_ISSUER
    )


AUTHORITY = Actor("dsj-reviewer", review.AUTHORITY, "DSJ")


def application(resource: str = PROPERTY, fields: tuple[str, ...] = ("address",)) -> dict[str, Any]:
    return {
        "system": "edu-enrolment",
        "resource": resource,
        "fields": list(fields),
        "purpose": "school-enrolment",
        "legal_basis": "《中华人民共和国义务教育法》第十二条",
        "justification": "入学登记核验适龄儿童家庭住房情况。",
        "valid_until": (datetime.now(UTC).date() + timedelta(days=365)).isoformat(),
        "use": {
            "scenario": {"description": "义务教育入学登记", "service_item": "EDU-RXDJ-001"},
            "scope": {"population": "named", "description": "本市申请入学儿童的监护人"},
            "sharing_modes": ["interface"],
        },
    }


@dataclass
class Story:
    """The ids of what the story made, by the breach (or clock) each one is meant to show."""

    start: datetime
    late_reply: str
    on_time: str  # answered and delivered in time: no breach of its own
    late_delivery: str  # delivered late, then no usage record, then revoked: no disposal
    deprecated: str  # the resource stopped without notice (agreements on it: `changed_under`)
    changed_under: str
    update_duty: str
    submission: str
    demand_unrouted: str
    demand_unanswered: str
    dispute: str
    running_reply: str  # filed today: its clock runs, nothing is late
    extension_undecided: str  # an extension asked in time that the authority never decided


def _approve(hub: Hub, session: Any, provider: str, agreement_id: str, at: datetime) -> None:
    decide_application(
        session,
        officer(provider),
        agreement_id,
        Approval(fields=("address",)),
        keys=hub.keys,
        now=at,
    )


def _entry() -> Any:
    base = next(d for d in demo_descriptors() if d.code == "MCA-SW-0001")
    content: dict[str, Any] = copy.deepcopy(dict(base.content))
    content.update(
        code="MCA-GL-0001", namespace="orphan_care", name="孤儿基本生活费信息", related=[]
    )
    content["fields"] = [
        {
            "name": "receiving",
            "title": "是否领取孤儿基本生活费",
            "data_type": "boolean",
            "sharing": {"type": "unconditional"},
            "sensitivity": "personal",
            "schema": {"type": "boolean"},
        }
    ]
    content["source"] = {"adapter": "sql", "mapping": "mca/orphan"}
    return check_descriptor(content)


@pytest.fixture
def story(hub: Hub) -> Story:
    """The lifecycle, 120 days back to now (see the module docstring)."""
    return tell_story(hub)


def tell_story(hub: Hub) -> Story:
    """Walk the lifecycle on *hub*'s database from 120 days back to now (caller: any hub)."""
    start = datetime.now(UTC) - 120 * DAY
    clocks = Clocks()
    desk = StewardshipDesk(hub.sessions)
    with unit_of_work(hub.sessions, write=True) as session:
        # an application nobody answers: 未按时答复
        late_reply = apply_for_agreement(session, officer("EDU"), application(), now=start).id
        # the provider asks for an extension in time; the authority never decides it
        extension_undecided = apply_for_agreement(
            session, officer("EDU"), application(), now=start
        ).id
        request_extension(
            session,
            officer("REG"),
            extension_undecided,
            days=5,
            reason="需要会商公安部门核对地址",
            now=start + 2 * DAY,
            clocks=ReplyClocks(),
        )
        # answered the next day, delivered the day after: on time
        on_time = apply_for_agreement(session, officer("EDU"), application(), now=start).id
        _approve(hub, session, "REG", on_time, start + DAY)
        deliver(session, officer("REG"), on_time, "interface", now=start + 2 * DAY)
        # approved on time, delivered 40 days on (20 working days is about 28): 未按时共享
        late_delivery = apply_for_agreement(session, officer("EDU"), application(), now=start).id
        _approve(hub, session, "REG", late_delivery, start + DAY)
        deliver(session, officer("REG"), late_delivery, "interface", now=start + 41 * DAY)
        # an approved agreement on the dibao register, which its provider then stops
        changed_under = apply_for_agreement(
            session, officer("EDU"), application(DIBAO, ("since",)), now=start
        ).id
        decide_application(
            session,
            officer("MCA"),
            changed_under,
            Approval(fields=("since",)),
            keys=hub.keys,
            now=start + DAY,
        )
        deliver(session, officer("MCA"), changed_under, "interface", now=start + 2 * DAY)
    with unit_of_work(hub.sessions, write=True) as session:
        # the provider revokes it at day 50: its disposal is never attested
        from exchange.agreements.service import revoke_agreement

        revoke_agreement(
            session, admin("REG"), late_delivery, reason="用途已实现", now=start + 50 * DAY
        )
        # the dibao register is deprecated at day 10 with no service-change notice: 擅自终止
        deprecate_resource(session, DIBAO, reason="系统迁移", now=start + 10 * DAY)
        # an update duty nobody fulfils: 未按时更新目录
        update_duty = duties.open_duty(
            session,
            AUTHORITY,
            "MCA-SW-0001",
            "殡葬管理规定修订，共享属性须重新核定。",
            start,
            clocks,
        ).id
        # a submission the authority never reviews: 主管部门未按时审核
        submission = _submitted(session, start)
        # a request never routed, and one routed and never answered
        demand_unrouted = _demand(session, "HRSS", start)
        demand_unanswered = _demand(session, "EDU", start)
        demands.route_demand(
            session, AUTHORITY, demand_unanswered, "REG", None, start + DAY, clocks
        )
    # the on-time agreement's usage record, filed in time
    desk.file_usage(
        Steward("edu-admin", "department_admin", "EDU"),
        on_time,
        UsageText("入学登记", "逐件核验", "免交证明", "加密保存", "学年末删除"),
        start + 5 * DAY,
    )
    # a dispute escalated to the authority and never decided: 主管部门未按时协调
    disputes = DisputeDesk(hub.sessions, DisputeClocks())
    edu = DisputeActor("edu-admin", "department_admin", "EDU")
    reg = DisputeActor("reg-admin", "department_admin", "REG")
    dispute = disputes.open(
        edu, "REG", (MatterKind.AGREEMENT, on_time), "未按协议提供字段", start + 3 * DAY
    ).id
    disputes.position(reg, dispute, "不在协议范围内", start + 4 * DAY)
    disputes.escalate(reg, dispute, DisputeLevel.AUTHORITY, "双方理解不一致", start + 5 * DAY)
    # filed now: a running clock and no breach
    with unit_of_work(hub.sessions, write=True) as session:
        running = apply_for_agreement(
            session, officer("EDU"), application(), now=datetime.now(UTC)
        ).id
    return Story(
        start,
        late_reply,
        on_time,
        late_delivery,
        DIBAO,
        changed_under,
        update_duty,
        submission,
        demand_unrouted,
        demand_unanswered,
        dispute,
        running,
        extension_undecided,
    )


def _submitted(session: Any, at: datetime) -> str:
    department_admin = Actor("mca-admin", review.ADMIN, "MCA")
    row = review.draft_submission(session, department_admin, _entry(), at)
    for kind in AssessmentKind:
        review.attach_assessment(
            session,
            department_admin,
            row.id,
            kind,
            filename=f"{kind.value}.pdf",
            media_type="application/pdf",
            data=PDF,
            now=at,
        )
    review.sign_off(session, Actor("mca-head", review.HEAD, "MCA"), row.id, at)
    review.submit(session, department_admin, row.id, at, Clocks())
    return row.id


def _demand(session: Any, department: str, at: datetime) -> str:
    ask = demands.DemandAsk(
        title="养老机构入住人员信息",
        wanted="入住人员名单（按公民身份号码核验）",
        basis="《政务数据共享条例》第二十条",
        scenario="高龄津贴发放核查",
        scope="本市社会保险经办机构",
        method=SharingMethod.INTERFACE,
        term_until=date.today() + timedelta(days=700),
    )
    return demands.file_demand(
        session, Actor(f"{department.lower()}-admin", review.ADMIN, department), ask, at, Clocks()
    ).id
