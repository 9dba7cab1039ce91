"""The demo's deferred notices (延迟告知, PIPL art. 35), so the console shows the workflow: after
the history (``tongban demo --traffic``), the school enrolment system reads three citizens'
registered address, and the education bureau (教育局) defers the notice of each access:

* the first (a ``multiple_properties`` citizen): asked by ``edu-admin``, approved by
  ``edu-leader``, then **ended** when the bureau records its event (侦查终结): the citizen's
  list shows the access with the mark 曾延迟告知 and the reason kind;
* the second (``has_property``, the last one): approved, **in effect** until 30 days from now:
  hidden from the citizen, listed on the auditor's 延迟告知 page;
* the third (``no_property``, the last one): **awaiting** the second person's approval.

And two standing deferrals (预先声明), declared for the enrolment system before any access:

* one (``has_property``, the first one) **ended**: declared, approved, two accesses made while it
  was in effect (hidden from the citizen as soon as logged), then its event recorded: the citizen
  sees both accesses marked 曾延迟告知;
* one (``no_property``, the first one) **in effect** until 30 days from now, with one access
  under it that the citizen does not see.

Each step goes through the same service the API uses, so each is an ordinary ``notice`` entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from exchange import clock
from exchange.agreements.workdays import china_day
from exchange.db import unit_of_work
from exchange.demo.history import EDU, principal_of
from exchange.hub import Hub
from exchange.notice import standing
from exchange.notice.models import ReasonKind
from exchange.notice.service import DeferralAsk, decide_deferral, record_event, request_deferral
from exchange.query.pipeline import QueryInput
from exchange.security.identity import Principal, Role
from exchange.security.subjects import ID_TYPE

__all__ = ["add_deferrals", "add_standing"]

ADDRESS = "household.registered_address"
_LAW = "《中华人民共和国刑事诉讼法》第一百五十二条"
_REASON = "涉嫌伪造入学材料，案件侦查中，告知当事人将妨碍侦查。"


def _staff(hub: Hub, sub: str) -> Principal:
    return Principal(sub, Role.DEPARTMENT_ADMIN, "EDU", hub.settings.public_url)


def add_deferrals(hub: Hub, subjects: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """One ended, one in effect and one awaiting approval, at the real time, and the standing
    ones (:func:`add_standing`); their ids."""
    kinds = ("multiple_properties", "has_property", "no_property")
    people = []
    for kind in kinds:
        found = [s["id"] for s in subjects if s.get("kind") == kind]
        if not found:
            return {}
        people.append(found[0] if kind == "multiple_properties" else found[-1])
    system = principal_of(hub, EDU[0])
    issuer = hub.settings.public_url
    accesses = [
        hub.pipeline.query(system, QueryInput(ID_TYPE, p, EDU[1], [ADDRESS], None), issuer=issuer)
        for p in people
    ]
    asker, leader = _staff(hub, "edu-admin"), _staff(hub, "edu-leader")
    later = china_day(clock.now()) + timedelta(days=30)
    made: dict[str, str] = {}
    for status, access in zip(("ended", "active", "requested"), accesses, strict=True):
        ask = DeferralAsk(
            access=access["audit"]["index"],
            reason_kind=ReasonKind.CRIMINAL_INVESTIGATION,
            reason=_REASON,
            legal_basis=_LAW,
            until=later if status == "active" else None,
            until_event=None if status == "active" else "侦查终结",
        )
        with unit_of_work(hub.sessions, write=True) as session:
            row = request_deferral(session, asker, ask, clock.now())
            made[status] = row.id
        if status == "requested":
            continue
        with unit_of_work(hub.sessions, write=True) as session:
            decide_deferral(session, leader, row.id, approve=True, now=clock.now())
        if status == "ended":
            with unit_of_work(hub.sessions, write=True) as session:
                record_event(session, asker, row.id, clock.now())
    return {**made, **add_standing(hub, subjects)}


def add_standing(hub: Hub, subjects: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """A standing deferral that has ended (two accesses shown marked) and one in effect (one
    access hidden); their ids, as ``standing_ended`` and ``standing_active``."""
    firsts = []
    for kind in ("has_property", "no_property"):
        found = [s["id"] for s in subjects if s.get("kind") == kind]
        if not found:
            return {}
        firsts.append(found[0])
    system = principal_of(hub, EDU[0])
    asker, leader = _staff(hub, "edu-admin"), _staff(hub, "edu-leader")
    later = china_day(clock.now()) + timedelta(days=30)
    made: dict[str, str] = {}
    for status, person, reads in (("ended", firsts[0], 2), ("active", firsts[1], 1)):
        ask = standing.StandingAsk(
            systems=(EDU[0],),
            id_type=ID_TYPE,
            subject_id=person,
            reason_kind=ReasonKind.CRIMINAL_INVESTIGATION,
            reason=_REASON,
            legal_basis=_LAW,
            starts=None,
            until=later if status == "active" else None,
            until_event=None if status == "active" else "侦查终结",
        )
        with unit_of_work(hub.sessions, write=True) as session:
            row = standing.declare(session, asker, ask, hub.pseudonyms, clock.now())
            made[f"standing_{status}"] = row.id
        with unit_of_work(hub.sessions, write=True) as session:
            standing.decide(session, leader, row.id, approve=True, now=clock.now())
        for _ in range(reads):
            query = QueryInput(ID_TYPE, person, EDU[1], [ADDRESS], None)
            hub.pipeline.query(system, query, issuer=hub.settings.public_url)
        if status == "ended":
            with unit_of_work(hub.sessions, write=True) as session:
                standing.record_event(session, asker, row.id, clock.now())
    return made
