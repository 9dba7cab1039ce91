"""The demo city's catalogue lifecycle (docs/lifecycle.md), so the data authority's pages show
something: three entries on their way into the catalogue (one past its review clock, one in
time, one returned with reasons), two update duties (one overdue, one with its extension
waiting) and three supply-demand requests (one to route, one routed, one connected).

Each step goes through the lifecycle's own services at a moment in the past, so the clocks and
the audit entries are those a real history would leave.

With ``tongban demo --traffic``, :func:`lifecycle_history` adds a month of the whole lifecycle
to the demo's history plan (:mod:`exchange.demo.history`): each story step on its own day, on
the history's simulated clock, so its audit entry is dated then and the data authority's charts
and breaches (late replies and reviews, a field dropped without notice) have a month behind
them."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, time, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy.orm import Session

from catalogue.descriptors import check_descriptor
from catalogue.vocabulary import SharingMethod
from exchange.agreements.replies import (
    ExtensionDecision,
    decide_extension,
    deliver,
    request_extension,
    send_materials_notice,
    supply_materials,
)
from exchange.agreements.service import Approval, apply_for_agreement, decide_application
from exchange.agreements.workdays import CHINA_TZ, china_day
from exchange.batch.service import BatchDesk, BatchLimits, ExtractAsk
from exchange.clock import now
from exchange.db import unit_of_work
from exchange.demo.build import demo_descriptors
from exchange.demo.history import DemoTraffic, Event, principal_of
from exchange.disputes.models import DisputeLevel, MatterKind
from exchange.disputes.service import DisputeActor
from exchange.hub import Hub
from exchange.lifecycle import demands, duties, review
from exchange.lifecycle.audit import Actor
from exchange.lifecycle.clocks import Clocks
from exchange.lifecycle.models import AssessmentKind
from exchange.security.identity import DEV_IDP_ISSUER, Principal, Role
from exchange.stewardship.service import Steward, UsageText, announce_change

__all__ = ["lifecycle_history", "seed_lifecycle"]

Step = Callable[[Hub, DemoTraffic, str], None]
"""A step of the demo's history plan (:func:`exchange.demo.history.simulate_history`)."""

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


# -- a month of lifecycle history (``tongban demo --traffic``) ---------------------------------


def lifecycle_history(
    hub: Hub, subjects: Sequence[Mapping[str, str]], first: date, today: date
) -> tuple[list[Event], dict[str, Step]]:
    """The lifecycle stories of the demo's month, as events of the history's plan
    (:func:`exchange.demo.history.simulate_history` runs them on its simulated clock, so each
    step, and its audit entry, is at its own moment). Day *n* is *n* days after *first* (the
    day the world was built), in China office hours; a story whose days are not all before
    *today* is left out. The stories, each through the services the API uses:

    - catalogue: 居住证信息 (PSB) returned with reasons, resubmitted and published; 学籍信息 (EDU)
      published in time; 工伤认定信息 (HRSS) reviewed after its 2-working-day clock (a late
      review, the authority's breach);
    - a supply-demand request (HRSS) routed to PSB and refused with reasons;
    - applications: one with the notice of missing materials, supplied and approved; one whose
      reply clock the authority extends, approved within it; one the provider never answers
      (未按时答复, a breach); one for the batch channel, approved, its extract made and
      downloaded (delivered); one approved for a short term that ended with no disposal
      attested;
    - usage records on the demo's agreements and the batch one; a dispute over the unanswered
      application, negotiated and taken to the authority; a service-change notice given in
      advance (REG), and a field of 居住证信息 dropped with no notice while two agreements rely
      on it (擅自变更, a breach)."""
    story = _Story(hub, [s["id"] for s in subjects])
    plan: list[tuple[int, int, str, Callable[[], None]]] = [
        (1, 10, "lc.jz_submitted", story.submit_residence),
        (2, 11, "lc.xj_submitted", story.submit_school_roll),
        (2, 15, "lc.late_reply_filed", story.file_unanswered),
        (3, 9, "lc.xj_published", story.publish_school_roll),
        (3, 10, "lc.jz_returned", story.return_residence),
        (3, 14, "lc.demand_filed", story.file_demand),
        (4, 10, "lc.demand_routed", story.route_demand),
        (4, 11, "lc.short_filed", story.file_short_term),
        (4, 16, "lc.jz_resubmitted", story.resubmit_residence),
        (5, 10, "lc.jz_published", story.publish_residence),
        (5, 15, "lc.short_approved", story.approve_short_term),
        (6, 10, "lc.batch_filed", story.file_batch),
        (6, 14, "lc.materials_filed", story.file_incomplete),
        (7, 10, "lc.materials_notice", story.send_notice),
        (7, 15, "lc.usage_1", story.usage_edu_reg),
        (8, 10, "lc.batch_approved", story.approve_batch),
        (8, 14, "lc.extension_filed", story.file_extended),
        (9, 11, "lc.materials_supplied", story.supply_materials),
        (9, 15, "lc.gs_submitted", story.submit_injury),
        (10, 10, "lc.extension_asked", story.ask_extension),
        (10, 15, "lc.batch_extract", story.make_and_download_extract),
        (11, 10, "lc.extension_granted", story.grant_extension),
        (11, 16, "lc.demand_refused", story.refuse_demand),
        (12, 10, "lc.materials_approved", story.approve_supplied),
        (13, 10, "lc.usage_2", story.usage_mca_hrss),
        (14, 10, "lc.gs_published_late", story.publish_injury_late),
        (15, 11, "lc.usage_batch", story.usage_batch),
        (16, 10, "lc.notice_given", story.announce_change),
        (17, 10, "lc.dispute_opened", story.open_dispute),
        (18, 10, "lc.dispute_position", story.dispute_position),
        (19, 10, "lc.extension_approved", story.approve_extended),
        (20, 15, "lc.dispute_escalated", story.escalate_dispute),
        (21, 10, "lc.usage_3", story.usage_edu_reg),
        (22, 10, "lc.jz_field_dropped", story.drop_field_without_notice),
    ]
    events: list[Event] = []
    steps: dict[str, Step] = {}
    for day, hour, action, step in plan:
        when = first + timedelta(days=day)
        if when >= today:
            break  # the stories are in day order: what follows depends on what came before
        events.append(Event(datetime.combine(when, time(hour, 5 * (day % 12)), CHINA_TZ), action))
        steps[action] = _run(step)
    return events, steps


def _run(step: Callable[[], None]) -> Step:
    def run(_hub: Hub, _traffic: DemoTraffic, _person: str) -> None:
        step()

    return run


class _Story:
    """The stories' steps and what they made (ids), at the simulated clock's time."""

    def __init__(self, hub: Hub, people: list[str]) -> None:
        self.hub = hub
        self.people = people
        self.made: dict[str, str] = {}
        self.clocks = hub.application_clocks

    # -- catalogue review ------------------------------------------------------------------

    def submit_residence(self) -> None:
        self._submit("jz", _residence())

    def return_residence(self) -> None:
        self._review(
            "jz",
            publish_it=False,
            reasons="共享范围未写明可使用的政务服务事项；登记日期的使用用途须逐项列明。",
        )

    def resubmit_residence(self) -> None:
        self._submit("jz", _residence())

    def publish_residence(self) -> None:
        self._review("jz", publish_it=True)

    def submit_school_roll(self) -> None:
        self._submit(
            "xj", _entry("EDU-XJ-0001", "school_roll", "EDU", "义务教育学籍信息", "是否在籍")
        )

    def publish_school_roll(self) -> None:
        self._review("xj", publish_it=True)

    def submit_injury(self) -> None:
        injury = _entry("HRSS-GS-0001", "injury", "HRSS", "工伤认定信息", "是否认定工伤")
        self._submit("gs", injury)

    def publish_injury_late(self) -> None:
        self._review("gs", publish_it=True)  # past its 2-working-day clock: the authority's

    def drop_field_without_notice(self) -> None:
        """PSB publishes 居住证信息 again without 登记日期, which two agreements grant, and gives
        no notice (擅自变更, art. 39)."""
        self._submit("jz", _residence(drop="registered_on"))
        self._review("jz", publish_it=True)

    def _submit(self, key: str, descriptor: Any) -> None:
        with self._session() as session:
            self.made[key] = _submitted(session, descriptor, descriptor.content["provider"], now())

    def _review(self, key: str, *, publish_it: bool, reasons: str | None = None) -> None:
        with self._session() as session:
            review.review_submission(
                session,
                AUTHORITY,
                self.made[key],
                publish_it=publish_it,
                reasons=reasons,
                now=now(),
            )

    # -- supply and demand -----------------------------------------------------------------

    def file_demand(self) -> None:
        with self._session() as session:
            self.made["demand"] = _demand(
                session, "HRSS", "失业人员户籍迁移信息", "失业保险金异地领取核验", now()
            )

    def route_demand(self) -> None:
        with self._session() as session:
            demands.route_demand(
                session, AUTHORITY, self.made["demand"], "PSB", None, now(), Clocks()
            )

    def refuse_demand(self) -> None:
        with self._session() as session:
            demands.reply_demand(
                session,
                _admin("PSB"),
                self.made["demand"],
                connect=False,
                resource=None,
                reasons="户籍迁移明细涉及侦查工作秘密，仅能按人核验迁入地，已建议改用户籍信息核验接口。",
                now=now(),
            )

    # -- applications ----------------------------------------------------------------------

    def file_unanswered(self) -> None:
        """MCA applies for a conditional household field; PSB never answers (a breach)."""
        self._apply(
            "unanswered", "MCA", "mca-dibao", "PSB-HJ-0001", ["household_head_name"], _FULL_USE
        )

    def file_short_term(self) -> None:
        self._apply(
            "short", "MCA", "mca-dibao", "EDU-XJ-0001", ["registered_on"], _FULL_USE, days=30
        )

    def approve_short_term(self) -> None:
        """EDU approves until the day after tomorrow and records the delivery; the term ends
        and no disposal is attested."""
        ends = datetime.combine(china_day(now()) + timedelta(days=2), time(23, 59), CHINA_TZ)
        self._approve("short", "EDU", ("registered_on",), valid_until=ends)
        with self._session() as session:
            deliver(session, _officer("EDU"), self.made["short"], "interface", now=now())

    def file_batch(self) -> None:
        use = {**_FULL_USE, "sharing_modes": ["batch"]}
        self._apply("batch", "EDU", "edu-enrolment", "MCA-DB-0001", ["monthly_amount"], use)

    def approve_batch(self) -> None:
        self._approve("batch", "MCA", ("monthly_amount",))

    def make_and_download_extract(self) -> None:
        """The school enrolment system takes an extract of three people and downloads it: the
        first chunk served stops the delivery clock (under gm, where no extract is made, the
        provider records the delivery)."""
        hub = self.hub
        if hub.settings.crypto_profile == "gm":
            with self._session() as session:
                deliver(session, _officer("MCA"), self.made["batch"], "batch", now=now())
            return
        desk = BatchDesk(hub.sessions, hub.pipeline, hub.keys, BatchLimits(), gm=False)
        system = principal_of(hub, "edu-enrolment")
        key = X25519PrivateKey.generate().public_key().public_bytes_raw()
        jwk = {"kty": "OKP", "crv": "X25519", "x": _b64(key), "kid": "edu-batch-demo", "use": "enc"}
        desk.register_key(system, jwk, now=now())
        ask = ExtractAsk(
            self.made["batch"], "school-enrolment", self.people[:3], key="edu-batch-demo"
        )
        extract = desk.make_extract(system, ask, issuer=hub.settings.public_url, now=now())
        for seq in range(extract.chunks):
            desk.chunk(system, extract.id, seq, now=now())
            desk.downloaded(system, extract.id, now=now())

    def file_incomplete(self) -> None:
        """EDU applies for 居住证信息 without saying whose data or through which channel."""
        use = {"scenario": _FULL_USE["scenario"]}
        self._apply("materials", "EDU", "edu-enrolment", "PSB-JZ-0001", ["registered_on"], use)

    def send_notice(self) -> None:
        items = [
            {"material": "scope", "detail": "请说明核验涉及哪些人员。"},
            {"material": "sharing_modes", "detail": "请说明采用接口核验还是批量交换。"},
        ]
        with self._session() as session:
            send_materials_notice(
                session, _officer("PSB"), self.made["materials"], items, now=now()
            )

    def supply_materials(self) -> None:
        supplied = {"use": {"scope": _FULL_USE["scope"], "sharing_modes": ["interface"]}}
        with self._session() as session:
            supply_materials(
                session,
                _officer("EDU"),
                self.made["materials"],
                supplied,
                now=now(),
                clocks=self.clocks,
            )

    def approve_supplied(self) -> None:
        self._approve("materials", "PSB", ("registered_on",))

    def file_extended(self) -> None:
        self._apply("extended", "MCA", "mca-dibao", "PSB-JZ-0001", ["registered_on"], _FULL_USE)

    def ask_extension(self) -> None:
        with self._session() as session:
            request_extension(
                session,
                _officer("PSB"),
                self.made["extended"],
                days=5,
                reason="居住证登记数据正在与省级平台对账，需核实后答复。",
                now=now(),
                clocks=self.clocks,
            )

    def grant_extension(self) -> None:
        authority = Principal("dsj-reviewer-01", Role.DATA_AUTHORITY, None, DEV_IDP_ISSUER)
        with self._session() as session:
            decide_extension(
                session, authority, self.made["extended"], ExtensionDecision(True), now=now()
            )

    def approve_extended(self) -> None:
        self._approve("extended", "PSB", ("registered_on",))

    def _apply(
        self,
        key: str,
        department: str,
        system: str,
        resource: str,
        fields: list[str],
        use: dict[str, Any],
        *,
        days: int = 365,
    ) -> None:
        purpose = "school-enrolment" if system == "edu-enrolment" else "minimum-living-allowance"
        application = {
            "system": system,
            "resource": resource,
            "fields": fields,
            "purpose": purpose,
            "legal_basis": "《政务数据共享条例》第二十条",
            "justification": "办件需要核验该信息项，减少群众提交证明材料。",
            "valid_until": (china_day(now()) + timedelta(days=days)).isoformat(),
            "use": use,
        }
        with self._session() as session:
            row = apply_for_agreement(
                session, _officer(department), application, now=now(), clocks=self.clocks
            )
            self.made[key] = row.id

    def _approve(
        self, key: str, provider: str, fields: tuple[str, ...], valid_until: datetime | None = None
    ) -> None:
        approval = Approval(fields=fields, valid_until=valid_until)
        with self._session() as session:
            decide_application(
                session,
                _officer(provider),
                self.made[key],
                approval,
                keys=self.hub.keys,
                now=now(),
                clocks=self.clocks,
            )

    # -- use, disposal, service changes, a dispute -------------------------------------------

    def usage_edu_reg(self) -> None:
        self._usage(
            "EDU", "AG-DEMO-EDU-REG-0001", "义务教育入学登记核验房产", "家长免交房产证复印件"
        )

    def usage_mca_hrss(self) -> None:
        self._usage(
            "MCA", "AG-DEMO-MCA-HRSS-0001", "低保申请家庭收入核对", "申请人免开社保缴费证明"
        )

    def usage_batch(self) -> None:
        self._usage("EDU", self.made["batch"], "入学登记费用减免核对", "低保家庭子女减免材料免交")

    def _usage(self, department: str, agreement: str, scenario: str, effect: str) -> None:
        text = UsageText(
            scenario,
            "办件系统按申请逐件查询，经办人员查看核验结果",
            effect,
            "核验结果加密存于业务系统，明细保存一年",
            "办结一年后删除核验明细",
        )
        actor = Steward(f"{department.lower()}-sharing", "sharing_officer", department)
        self.hub.stewardship.file_usage(actor, agreement, text, now())

    def announce_change(self) -> None:
        actor = Steward("reg-sharing", "sharing_officer", "REG")
        announce_change(
            self.hub.sessions,
            actor,
            "REG-BDC-0001",
            ("change", ["area"]),
            china_day(now()) + timedelta(days=20),
            "建筑面积改为按不动产单元汇总，精度调整为两位小数。",
            now(),
        )

    def open_dispute(self) -> None:
        actor = DisputeActor("mca-sharing", "sharing_officer", "MCA")
        row = self.hub.disputes.open(
            actor,
            "PSB",
            (MatterKind.APPLICATION, self.made["unanswered"]),
            "公安局逾期未答复户主姓名的共享申请，低保审核无法核验家庭关系。",
            now(),
        )
        self.made["dispute"] = row.id

    def dispute_position(self) -> None:
        actor = DisputeActor("psb-admin-01", review.ADMIN, "PSB")
        self.hub.disputes.position(
            actor, self.made["dispute"], "户主姓名涉及家庭成员信息，须先明确核验范围。", now()
        )

    def escalate_dispute(self) -> None:
        actor = DisputeActor("mca-sharing", "sharing_officer", "MCA")
        self.hub.disputes.escalate(
            actor,
            self.made["dispute"],
            DisputeLevel.AUTHORITY,
            "协商未能达成一致，提请主管部门协调。",
            now(),
        )

    # -- plumbing ------------------------------------------------------------------------

    def _session(self) -> AbstractContextManager[Session]:
        return unit_of_work(self.hub.sessions, write=True)


_FULL_USE: dict[str, Any] = {
    "scenario": {"description": "办件中核验申请人情况，减少群众提交证明材料"},
    "scope": {"population": "named", "description": "本市提出申请的群众及其家庭成员"},
    "sharing_modes": ["interface"],
}


def _residence(drop: str | None = None) -> Any:
    entry = _entry("PSB-JZ-0001", "residence_permit", "PSB", "居住证信息", "是否持有居住证")
    if drop is None:
        return entry
    content = copy.deepcopy(dict(entry.content))
    content["fields"] = [f for f in content["fields"] if f["name"] != drop]
    return check_descriptor(content)


def _officer(department: str) -> Principal:
    return Principal(
        f"{department.lower()}-sharing", Role.SHARING_OFFICER, department, DEV_IDP_ISSUER
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
