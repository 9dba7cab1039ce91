"""The demo's correction requests (校核纠错, 异议), so the console shows the workflow: after the
history (``tongban demo --traffic``), the school enrolment system asks about two citizens'
registered address, then

* it files a correction request on the first one's, citing that answer: **open**, addressed to
  the Public Security Bureau (公安局), on the working-day clock; every release of that address
  now carries the disputed mark;
* the second citizen objects to theirs from the console, and the bureau **refuses** with
  reasons, which the citizen sees.

Each step goes through the same services the API uses, so each is an ordinary audit entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from exchange import clock
from exchange.corrections.models import FiledBy
from exchange.corrections.service import CorrectionAsk, Filer
from exchange.demo.history import EDU, principal_of
from exchange.hub import Hub
from exchange.query.pipeline import QueryInput
from exchange.security.subjects import ID_TYPE

__all__ = ["ADDRESS", "add_corrections"]

ADDRESS = "household.registered_address"
_EVIDENCE = "申请人提供的不动产权证书地址与户籍登记地址门牌号不一致，请核实。"
_OBJECTION = "我家门牌号已于去年调整，户籍地址还是旧门牌号。"
_REFUSAL = "经核查，门牌号调整尚未办理户籍地址变更登记，请本人携带门牌证明到户籍所在派出所办理。"


def add_corrections(hub: Hub, subjects: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """One open request (filed by a case system) and one refused objection (a citizen's), at the
    real time; returns their ids by status."""
    people = [s["id"] for s in subjects if s.get("kind") in ("has_property", "no_property")]
    if len(people) < 2:
        return {}
    system = principal_of(hub, EDU[0])
    issuer = hub.settings.public_url
    answers = [
        hub.pipeline.query(system, QueryInput(ID_TYPE, p, EDU[1], [ADDRESS], None), issuer=issuer)
        for p in people[:2]
    ]
    desk = hub.corrections
    filed = desk.file(
        Filer(FiledBy.SYSTEM, system.system_id, system.department),
        CorrectionAsk(people[0], ADDRESS, _EVIDENCE, answers[0]["request_id"]),
        clock.now(),
    )
    objected = desk.file(
        Filer(FiledBy.CITIZEN, "citizen", None),
        CorrectionAsk(people[1], ADDRESS, _OBJECTION, None),
        clock.now(),
    )
    desk.reject(objected.provider, "psb-admin", objected.id, _REFUSAL, clock.now())
    return {"open": filed.id, "rejected": objected.id}
