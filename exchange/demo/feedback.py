"""The demo's feedback and scorecard history (好差评, 共享评价), so that the data authority's
charts show a month that means something (``tongban demo --traffic``; played inside
:func:`exchange.demo.history.simulate_history`, at simulated times, through the same services
the API uses, so each step is an ordinary audit entry).

The plan (:func:`plan_feedback`, deterministic for a seed), China time:

1. **citizens' ratings**: on each working day at 18:00, the citizens whose service items were
   handled that day rate about a third of those handlings (at most :data:`RATINGS_A_DAY`): mostly
   4 or 5; one in five says the office still asked for the household register (户口簿) the hub
   could supply; one in eight marks the registered address wrong; a few leave a comment;
2. **consumer departments' ratings**: in each month of the history, on its last working day in
   the history (or today), the school enrolment and allowance offices rate each resource their
   systems received that month;
3. **correction requests** (校核纠错): on the 6th day the school enrolment system disputes a
   registered address it received, and the Public Security Bureau refuses it on the 8th day (on
   time); on the 12th day it disputes another, answered on the 27th day (past its clock);
4. **agreement applications** (共享申请): on the 3rd day the school enrolment office applies for a
   conditional household field, refused with reasons the next day (on time); on the 2nd day the
   allowance office applies for another, refused on the 24th day (late);
5. the **source probes** are the nightly ``probe.sources`` job of the history's scheduler.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select

from exchange import clock
from exchange.agreements.service import Refusal, apply_for_agreement, decide_application
from exchange.agreements.workdays import CHINA_TZ, official_calendar
from exchange.audit.models import AuditRecord
from exchange.corrections.models import FiledBy
from exchange.corrections.service import CorrectionAsk, Filer
from exchange.db import unit_of_work
from exchange.demo.history import Event
from exchange.feedback.errors import RatingExists, RatingNotReceived
from exchange.feedback.models import Rating
from exchange.feedback.sealing import CommentSeal
from exchange.feedback.service import (
    CitizenRating,
    DepartmentRating,
    rate_handling,
    rate_resource,
    received_resources,
)
from exchange.hub import Hub
from exchange.security.identity import Principal, Role
from schemas import TongbanError

__all__ = ["RATINGS_A_DAY", "feedback_history", "plan_feedback", "remember_people"]

RATINGS_A_DAY = 4
ADDRESS = "household.registered_address"
_SEED = 1738
_COMMENTS = (
    "办理很快，不用再跑派出所开证明了。",
    "窗口还是让我带了户口簿原件。",
    "地址显示的是旧门牌号。",
    "全程网上办，很方便。",
)
_APPLICATIONS: dict[str, tuple[str, str, str, str]] = {
    # action: (consumer department, system, purpose, field of PSB-HJ-0001)
    "apply_edu": ("EDU", "edu-enrolment", "school-enrolment", "household_head_name"),
    "apply_mca": ("MCA", "mca-dibao", "minimum-living-allowance", "ethnicity"),
}

Step = Callable[[Hub, Any, str], None]


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), CHINA_TZ)


def plan_feedback(first: date, today: date) -> list[tuple[datetime, str, str]]:
    """(when, action, argument) of the module docstring from *first* to *today*."""
    calendar = official_calendar()
    days = [first + timedelta(days=n) for n in range((today - first).days + 1)]
    plan: list[tuple[datetime, str, str]] = [
        (_at(d, 18), "rate_citizens", d.isoformat()) for d in days[1:] if calendar.is_working_day(d)
    ]
    last_of_month: dict[str, date] = {}
    for d in days[1:]:
        if calendar.is_working_day(d):
            last_of_month[d.strftime("%Y-%m")] = d
    plan += [(_at(d, 16, 30), "rate_departments", m) for m, d in last_of_month.items()]
    scripted = {
        2: ("apply_mca", ""),
        3: ("apply_edu", ""),
        4: ("refuse", "apply_edu"),
        6: ("dispute", "first"),
        8: ("reject", "first"),
        12: ("dispute", "second"),
        24: ("refuse", "apply_mca"),
        27: ("reject", "second"),
    }
    for n, (action, argument) in scripted.items():
        if n < len(days) - 1:
            plan.append((_at(days[n], 10, 15), action, argument))
    return sorted(plan)


class _State:
    """What the steps remember between them: the applications and correction requests made."""

    def __init__(self) -> None:
        self.applications: dict[str, str] = {}
        self.corrections: dict[str, tuple[str, str]] = {}  # name -> (provider, id)
        self.rng = random.Random(_SEED)  # noqa: S311 - a reproducible demo, not a secret


def feedback_history(
    hub: Hub, subjects: Sequence[Mapping[str, str]], first: date, today: date
) -> tuple[list[Event], dict[str, Step]]:
    """The planned steps as events of the history and the steps that play them
    (:func:`exchange.demo.history.simulate_history` runs both with its own)."""
    remember_people(hub, subjects)
    state = _State()
    actions: dict[str, Callable[[Hub, _State, str], None]] = {
        "rate_citizens": _rate_citizens,
        "rate_departments": _rate_departments,
        "apply_edu": lambda h, s, _a: _apply(h, s, "apply_edu"),
        "apply_mca": lambda h, s, _a: _apply(h, s, "apply_mca"),
        "refuse": _refuse,
        "dispute": _dispute,
        "reject": _reject,
    }
    events: list[Event] = []
    steps: dict[str, Step] = {}
    for n, (at, action, argument) in enumerate(plan_feedback(first, today)):
        name = f"feedback.{n}.{action}"
        events.append(Event(at, name))
        steps[name] = partial(_quietly, actions[action], state=state, argument=argument)
    return events, steps


def _quietly(
    run: Callable[[Hub, _State, str], None],
    hub: Hub,
    traffic: object,
    person: str,
    *,
    state: _State,
    argument: str,
) -> None:
    """A step whose precondition the random history did not meet is skipped (no one handled
    that day, nothing received yet): the demo goes on."""
    del traffic, person
    try:
        run(hub, state, argument)
    except (TongbanError, LookupError):
        return


def _staff(department: str) -> Principal:
    return Principal(f"{department.lower()}-admin", Role.DEPARTMENT_ADMIN, department, "demo")


# -- ratings ---------------------------------------------------------------------------------


def _rate_citizens(hub: Hub, state: _State, day: str) -> None:
    """About a third of the day's handlings are rated by their citizens."""
    since = _at(date.fromisoformat(day), 0)
    with unit_of_work(hub.sessions) as session:
        rows = session.execute(
            select(AuditRecord.request_id, AuditRecord.subject, AuditRecord.entry).where(
                AuditRecord.kind == "query",
                AuditRecord.recorded_at >= since,
                AuditRecord.outcome.in_(("released", "partial")),
            )
        ).all()
        rated = set(session.scalars(select(Rating.handling).where(Rating.handling.is_not(None))))
    handlings = [
        (request_id, subject, json.loads(text))
        for request_id, subject, text in rows
        if request_id not in rated and '"service_item":"' in text
    ]
    rng = state.rng
    chosen = [h for h in handlings if rng.random() < 0.35][:RATINGS_A_DAY]
    for request_id, subject, entry in chosen:
        released = [
            name
            for name, audited in entry["attributes"].items()
            if audited.get("outcome") == "released" and "(" not in name
        ]
        wrong = [ADDRESS] if ADDRESS in released and rng.random() < 0.125 else []
        asked = ["household.name"] if rng.random() < 0.2 else []
        score = rng.choice((5, 5, 4, 4, 4, 3)) - (2 if wrong else 0) - (1 if asked else 0)
        comment = rng.choice(_COMMENTS) if rng.random() < 0.3 else None
        ask = CitizenRating(entry["service_item"], request_id, max(score, 1), asked, wrong, comment)
        try:
            rate_handling(hub.sessions, subject, ask, clock.now(), CommentSeal(hub.secrets))
        except TongbanError:
            continue


def _rate_departments(hub: Hub, state: _State, _month: str) -> None:
    """Each consumer department rates each resource it received (once a month)."""
    for department in ("EDU", "MCA"):
        with unit_of_work(hub.sessions) as session:
            received = received_resources(session, department, clock.now())
        for resource in received:
            score = state.rng.choice((3, 4, 4, 5)) if resource != "PSB-HJ-0001" else 3
            wrong = [ADDRESS] if resource == "PSB-HJ-0001" else []
            ask = DepartmentRating(
                department, f"{department.lower()}-admin", resource, score, wrong, None
            )
            try:
                rate_resource(hub.sessions, ask, clock.now(), CommentSeal(hub.secrets))
            except (RatingExists, RatingNotReceived):
                continue


# -- applications and correction requests ----------------------------------------------------


def _apply(hub: Hub, state: _State, action: str) -> None:
    department, system, purpose, field = _APPLICATIONS[action]
    now = clock.now()
    application = {
        "system": system,
        "resource": "PSB-HJ-0001",
        "fields": [field],
        "purpose": purpose,
        "legal_basis": "《政务数据共享条例》第二十条",
        "justification": "办件需要核验该信息项，申请有条件共享。",
        "valid_until": (now + timedelta(days=365)).date().isoformat(),
    }
    with unit_of_work(hub.sessions, write=True) as session:
        state.applications[action] = apply_for_agreement(
            session, _staff(department), application, now=now
        ).id


def _refuse(hub: Hub, state: _State, action: str) -> None:
    agreement = state.applications.get(action)
    if agreement is None:
        return
    refusal = Refusal("该信息项的共享用途与申请事项不符，请补充具体使用场景后重新申请。")
    with unit_of_work(hub.sessions, write=True) as session:
        decide_application(
            session, _staff("PSB"), agreement, refusal, keys=hub.keys, now=clock.now()
        )


def _dispute(hub: Hub, state: _State, name: str) -> None:
    """The school enrolment system disputes the newest registered address it received."""
    with unit_of_work(hub.sessions) as session:
        rows = session.execute(
            select(AuditRecord.request_id, AuditRecord.entry)
            .where(AuditRecord.system_id == "edu-enrolment", AuditRecord.kind == "query")
            .order_by(AuditRecord.index.desc())
            .limit(50)
        ).all()
    found = next(
        (
            (request_id, entry)
            for request_id, text in rows
            if (entry := json.loads(text))["attributes"].get(ADDRESS, {}).get("outcome")
            == "released"
        ),
        None,
    )
    if found is None:
        return
    request_id, entry = found
    person = _person_of(hub, entry["subject"])
    if person is None:
        return
    filed = hub.corrections.file(
        Filer(FiledBy.SYSTEM, "edu-enrolment", "EDU"),
        CorrectionAsk(
            person, ADDRESS, "申请人提供的房产证地址与户籍地址不一致，请核实。", request_id
        ),
        clock.now(),
    )
    state.corrections[name] = (filed.provider, filed.id)


_PEOPLE: dict[str, str] = {}


def remember_people(hub: Hub, people: Sequence[Mapping[str, str]]) -> None:
    """The demo's subjects by pseudonym (a correction request names the person)."""
    for person in people:
        _PEOPLE[hub.pseudonyms.of(person["id"])] = person["id"]


def _person_of(hub: Hub, pseudonym: str) -> str | None:
    del hub
    return _PEOPLE.get(pseudonym)


def _reject(hub: Hub, state: _State, name: str) -> None:
    found = state.corrections.get(name)
    if found is None:
        return
    provider, correction = found
    reason = "经核查，户籍登记地址与门牌证明一致，不予更正。"
    hub.corrections.reject(provider, f"{provider.lower()}-admin", correction, reason, clock.now())
