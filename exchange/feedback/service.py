"""Rating the data side of a handled service item, or a provider's data quality (好差评).

A citizen's rating, checked in this order (nothing is stored unless every check passes):

1. the handling: an audit entry of kind ``query`` about the citizen (their pseudonym) through
   that service item. The request it cites, or, when it cites none, the newest handling of that
   service item not rated yet. None (never handled, another person's, another service item's)
   is ``rating_not_handled``;
2. the handling is not rated yet (``rating_exists``; the table's unique key backs this against
   two ratings racing);
3. each attribute marked wrong was released in that handling, and each attribute named as asked
   again on paper is a field of a published resource (``rating_unknown_attribute``, with a
   pointer to the item);
4. the rating is stored and its ``rated`` event appended to the audit log in the same
   transaction: kind ``rating``, with the score and the attributes named, never the comment,
   which is stored only sealed (:mod:`exchange.feedback.sealing`).

A consumer department's rating of a resource it received: step 1 is that the audit log shows a
release of a field of that resource to one of the department's systems within
:data:`RECEIVED_WITHIN` (``rating_not_received`` otherwise), step 2 that the department has not
rated that resource this China month, step 3 that the attributes marked wrong are fields of
that resource; then step 4.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from catalogue.models import Resource, ResourceField
from exchange.agreements.workdays import CHINA_TZ
from exchange.audit.lifecycle import hold_log
from exchange.audit.log import append_in
from exchange.audit.models import AuditRecord
from exchange.audit.reading import ACCESS_KINDS
from exchange.corrections.service import field_of, utc_instant
from exchange.db import unit_of_work
from exchange.feedback.errors import (
    RatingExists,
    RatingNotHandled,
    RatingNotReceived,
    RatingUnknownAttribute,
)
from exchange.feedback.models import Rater, Rating
from exchange.feedback.sealing import CommentSeal
from exchange.notice.reading import hidden_requests
from schemas import AuditEntry, ProblemDetail

__all__ = [
    "RECEIVED_WITHIN",
    "CitizenRating",
    "DepartmentRating",
    "Handling",
    "china_month",
    "handlings_of",
    "rate_handling",
    "rate_resource",
    "rating_entry",
    "received_resources",
]

RECEIVED_WITHIN = timedelta(days=366)
"""How far back a consumer department's receipt of a resource entitles it to rate it."""
_SCAN_BATCH = 500


@dataclass(frozen=True)
class CitizenRating:
    service_item: str
    handling: str | None  # the request id of the handling rated; None: the newest unrated
    score: int
    asked_again: Sequence[str]
    wrong: Sequence[str]
    comment: str | None


@dataclass(frozen=True)
class DepartmentRating:
    department: str
    staff: str
    resource: str
    score: int
    wrong: Sequence[str]
    comment: str | None


@dataclass(frozen=True)
class Handling:
    """One handling of a service item for a citizen, as the audit log holds it."""

    request_id: str
    service_item: str
    system: str
    department: str
    at: datetime
    released: Mapping[str, str]  # field -> resource, for the fields released

    def as_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "service_item": self.service_item,
            "system": self.system,
            "department": self.department,
            "at": utc_instant(self.at),
            "released": sorted(self.released),
        }


def china_month(moment: datetime) -> str:
    """``YYYY-MM`` of *moment* in China time."""
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m")


# -- the handlings -----------------------------------------------------------------------------


def handlings_of(session: Session, subject: str, service_item: str | None = None) -> list[Handling]:
    """The citizen's handlings (queries through a service item about them), newest first."""
    query = (
        select(AuditRecord.request_id, AuditRecord.recorded_at, AuditRecord.entry)
        .where(AuditRecord.subject == subject, AuditRecord.kind == "query")
        .order_by(AuditRecord.index.desc())
    )
    found: list[Handling] = []
    hidden = hidden_requests(session, subject)  # deferred notice (docs/notice.md)
    for request_id, at, text in session.execute(query):
        if request_id in hidden:
            continue
        entry = json.loads(text)
        item = entry.get("service_item")
        if not isinstance(item, str) or (service_item is not None and item != service_item):
            continue
        released = {
            field_of(name): str(audited["resource"])
            for name, audited in (entry.get("attributes") or {}).items()
            if audited.get("outcome") == "released"
        }
        found.append(Handling(request_id, item, entry["system"], entry["department"], at, released))
    return found


def _handling(session: Session, subject: str, ask: CitizenRating) -> Handling:
    """Steps 1 and 2 of the module docstring."""
    mine = handlings_of(session, subject, ask.service_item)
    if ask.handling is not None:
        chosen = next((h for h in mine if h.request_id == ask.handling), None)
        if chosen is None:
            raise RatingNotHandled(
                f"request {ask.handling} is not a handling of {ask.service_item} for you"
            )
        if _rated(session, chosen.request_id):
            raise RatingExists(f"you rated request {chosen.request_id} already")
        return chosen
    if not mine:
        raise RatingNotHandled(f"the hub never handled {ask.service_item} for you")
    unrated = next((h for h in mine if not _rated(session, h.request_id)), None)
    if unrated is None:
        raise RatingExists(f"you rated every handling of {ask.service_item} already")
    return unrated


def _rated(session: Session, request_id: str) -> bool:
    return session.scalar(select(Rating.id).where(Rating.handling == request_id)) is not None


# -- the attributes named ----------------------------------------------------------------------


def _field_providers(session: Session, names: Sequence[str], pointer: str) -> list[str]:
    """The source department of each ``namespace.field`` named (a published, current field)."""
    providers: list[str] = []
    for n, name in enumerate(names):
        namespace, _, field = name.partition(".")
        row = session.execute(
            select(Resource.provider_code)
            .join(
                ResourceField,
                (ResourceField.resource_code == Resource.code)
                & (ResourceField.version == Resource.latest_version),
            )
            .where(Resource.namespace == namespace, ResourceField.name == field)
        ).first()
        if row is None:
            raise _unknown(f"{name} is not a field of the catalogue", f"{pointer}/{n}")
        providers.append(row[0])
    return providers


def _unknown(detail: str, pointer: str) -> RatingUnknownAttribute:
    return RatingUnknownAttribute(detail, errors=[ProblemDetail(pointer=pointer, detail=detail)])


# -- rating ------------------------------------------------------------------------------------


def rate_handling(
    sessions: sessionmaker[Session],
    subject: str,
    ask: CitizenRating,
    now: datetime,
    seal: CommentSeal,
) -> Rating:
    """A citizen's rating of one handling (module docstring, steps 1-4)."""
    with unit_of_work(sessions) as session:
        handling = _handling(session, subject, ask)
        for n, name in enumerate(ask.wrong):
            if name not in handling.released:
                raise _unknown(f"{name} was not released in that handling", f"/wrong/{n}")
        wrong_providers = _field_providers(session, ask.wrong, "/wrong")
        asked_providers = _field_providers(session, ask.asked_again, "/asked_again")
    rating_id = f"rt-{uuid.uuid4()}"
    row = Rating(
        id=rating_id,
        rater=Rater.CITIZEN,
        subject=subject,
        handling=handling.request_id,
        service_item=handling.service_item,
        handled_by=handling.department,
        month=china_month(now),
        score=ask.score,
        asked_again=list(ask.asked_again),
        wrong=list(ask.wrong),
        wrong_providers=wrong_providers,
        asked_providers=asked_providers,
        comment_sealed=seal.seal(rating_id, ask.comment) if ask.comment else None,
        rated_at=now,
    )
    return _store(sessions, row, f"you rated request {handling.request_id} already")


def rate_resource(
    sessions: sessionmaker[Session], ask: DepartmentRating, now: datetime, seal: CommentSeal
) -> Rating:
    """A consumer department's rating of a resource it received (module docstring)."""
    month = china_month(now)
    with unit_of_work(sessions) as session:
        resource = session.get(Resource, ask.resource)
        if resource is None or not _received(session, ask.department, ask.resource, now):
            raise RatingNotReceived(
                f"no system of {ask.department} received {ask.resource} through the hub"
            )
        for n, name in enumerate(ask.wrong):
            namespace, _, _ = name.partition(".")
            if namespace != resource.namespace:
                raise _unknown(f"{name} is not a field of {ask.resource}", f"/wrong/{n}")
        _field_providers(session, ask.wrong, "/wrong")
        taken = session.scalar(
            select(Rating.id).where(
                Rating.rater_department == ask.department,
                Rating.resource == ask.resource,
                Rating.month == month,
            )
        )
        if taken is not None:
            raise RatingExists(f"{ask.department} rated {ask.resource} in {month} already")
        provider = resource.provider_code
    rating_id = f"rt-{uuid.uuid4()}"
    row = Rating(
        id=rating_id,
        rater=Rater.DEPARTMENT,
        rater_department=ask.department,
        staff=ask.staff,
        resource=ask.resource,
        provider=provider,
        month=month,
        score=ask.score,
        asked_again=[],
        wrong=list(ask.wrong),
        wrong_providers=[provider] * len(ask.wrong),
        asked_providers=[],
        comment_sealed=seal.seal(rating_id, ask.comment) if ask.comment else None,
        rated_at=now,
    )
    return _store(sessions, row, f"{ask.department} rated {ask.resource} in {month} already")


def _received(session: Session, department: str, resource: str, now: datetime) -> bool:
    """The audit log shows a field of *resource* released to a system of *department*."""
    needle = f'"resource":"{resource}"'
    query = (
        select(AuditRecord.entry)
        .where(
            AuditRecord.department == department,
            AuditRecord.kind.in_(ACCESS_KINDS),
            AuditRecord.recorded_at >= now - RECEIVED_WITHIN,
            AuditRecord.outcome.in_(("released", "partial")),
            AuditRecord.entry.contains(needle),
        )
        .order_by(AuditRecord.index.desc())
        .execution_options(yield_per=_SCAN_BATCH)
    )
    return any(_releases(json.loads(text), resource) for text in session.scalars(query))


def received_resources(session: Session, department: str, now: datetime) -> list[str]:
    """The resources the audit log shows released to a system of *department* within
    :data:`RECEIVED_WITHIN`, by code."""
    codes = session.scalars(select(Resource.code).order_by(Resource.code))
    return [code for code in codes if _received(session, department, code, now)]


def _releases(entry: Mapping[str, Any], resource: str) -> bool:
    return any(
        audited.get("outcome") == "released" and audited.get("resource") == resource
        for audited in (entry.get("attributes") or {}).values()
    )


def _store(sessions: sessionmaker[Session], row: Rating, taken: str) -> Rating:
    try:
        with unit_of_work(sessions, write=True) as session:
            hold_log(session)
            session.add(row)
            session.flush()
            append_in(session, cast("AuditEntry", rating_entry(row)))
            session.expunge(row)
    except IntegrityError:
        raise RatingExists(taken) from None
    return row


def rating_entry(row: Rating) -> dict[str, Any]:
    """The ``rating`` audit entry of *row*: who rated what, the score and the attributes named;
    never the comment (only whether there is one) and never the person (``subject`` is ``-``:
    the rated handling's own entry names them)."""
    member: dict[str, Any] = {
        "type": "rating",
        "id": row.id,
        "rater": row.rater.value,
        "score": row.score,
        "asked_again": list(row.asked_again),
        "wrong": list(row.wrong),
        "commented": bool(row.comment_sealed or row.comment),
    }
    for key in ("handling", "service_item", "handled_by", "resource", "provider"):
        value = getattr(row, key)
        if value is not None:
            member[key] = value
    return {
        "v": 1,
        "kind": "rating",
        "request_id": str(uuid.uuid4()),
        "at": utc_instant(row.rated_at),
        "system": "-",
        "department": row.rater_department or "-",
        "subject": "-",
        "purpose": "-",
        "outcome": "rated",
        "object": member,
    }


def iter_ratings(session: Session, since: datetime, until: datetime) -> Iterator[Rating]:
    """Every rating made in ``[since, until)``."""
    query = select(Rating).where(Rating.rated_at >= since, Rating.rated_at < until)
    yield from session.scalars(query.order_by(Rating.rated_at))
