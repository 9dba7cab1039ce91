"""Views of ratings: a citizen's own handlings and ratings, a department's ratings, and the
data authority's list of ratings about a department (without the person)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import (
    Department,
    Resource,
    ResourceField,
    ServiceItem,
    ServiceItemVersion,
)
from catalogue.reading import latest_versions
from exchange.corrections.service import utc_instant
from exchange.feedback.models import Rater, Rating
from exchange.feedback.sealing import CommentSeal
from exchange.feedback.service import handlings_of

__all__ = [
    "FieldTitles",
    "citizen_view",
    "comment_of",
    "department_ratings",
    "rating_view",
    "ratings_about",
    "received_view",
]

HANDLINGS_SHOWN = 50
"""A citizen sees at most this many of their newest handlings."""


def rating_view(row: Rating, seal: CommentSeal) -> dict[str, Any]:
    """A rating, with its comment opened (``null`` when there is none or it was erased past the
    retention period: ``comment_erased_at`` says when)."""
    view: dict[str, Any] = {
        "id": row.id,
        "rater": row.rater.value,
        "month": row.month,
        "rated_at": utc_instant(row.rated_at),
        "score": row.score,
        "asked_again": list(row.asked_again),
        "wrong": list(row.wrong),
    }
    if row.rater is Rater.CITIZEN:
        view |= {
            "handling": row.handling,
            "service_item": row.service_item,
            "handled_by": row.handled_by,
        }
    else:
        view |= {
            "department": row.rater_department,
            "resource": row.resource,
            "provider": row.provider,
        }
    view["comment"] = comment_of(row, seal)
    view["comment_erased_at"] = (
        utc_instant(row.comment_erased_at) if row.comment_erased_at is not None else None
    )
    return view


def comment_of(row: Rating, seal: CommentSeal) -> str | None:
    """The comment of *row*, opened; a comment stored in clear before sealing as it is."""
    if row.comment_sealed is not None:
        return seal.open(row.id, row.comment_sealed)
    return row.comment


class FieldTitles:
    """Catalogue names for the views: fields by ``namespace.field``, resources, departments and
    service items (read once per view)."""

    def __init__(self, session: Session) -> None:
        resources = session.execute(
            select(
                Resource.code, Resource.namespace, Resource.provider_code, Resource.latest_version
            )
        ).all()
        self.provider = {code: provider for code, _, provider, _ in resources}
        self.namespace = {code: namespace for code, namespace, _, _ in resources}
        latest = {(code, version) for code, _, _, version in resources}
        self.fields: dict[str, str] = {}
        self.fields_of: dict[str, list[dict[str, str]]] = {}
        rows = session.execute(
            select(
                ResourceField.resource_code,
                ResourceField.version,
                ResourceField.name,
                ResourceField.title,
            )
        )
        for code, version, name, title in rows:
            if (code, version) in latest:
                attribute = f"{self.namespace[code]}.{name}"
                self.fields[attribute] = title
                self.fields_of.setdefault(code, []).append({"attribute": attribute, "title": title})
        self.departments = {
            c: n for c, n in session.execute(select(Department.code, Department.name))
        }
        self.items: dict[str, dict[str, Any]] = {}
        items = session.execute(
            select(ServiceItemVersion.service_item_code, ServiceItemVersion.descriptor).join(
                ServiceItem,
                (ServiceItem.code == ServiceItemVersion.service_item_code)
                & (ServiceItem.latest_version == ServiceItemVersion.version),
            )
        )
        for code, descriptor in items:
            self.items[code] = dict(descriptor)

    def field(self, attribute: str) -> dict[str, str | None]:
        return {"attribute": attribute, "title": self.fields.get(attribute)}


def _asks(titles: FieldTitles, service_item: str) -> list[dict[str, Any]]:
    """What a service item asks for, each with its field's title and the paper material it
    replaces (what the office could still have asked for on paper)."""
    descriptor = titles.items.get(service_item, {})
    asked = descriptor.get("attributes") or []
    return [
        {**titles.field(str(a["attribute"])), "material": a.get("material")}
        for a in asked
        if isinstance(a, dict) and "attribute" in a
    ]


def citizen_view(session: Session, subject: str, seal: CommentSeal) -> dict[str, Any]:
    """The citizen's handlings (newest first, each with its rating if rated), with what each
    service item asks for and what was released, by their titles and source departments."""
    handlings = handlings_of(session, subject)[:HANDLINGS_SHOWN]
    mine = {
        row.handling: row
        for row in session.scalars(
            select(Rating).where(Rating.subject == subject, Rating.rater == Rater.CITIZEN)
        )
    }
    titles = FieldTitles(session)
    views = []
    for h in handlings:
        item = titles.items.get(h.service_item, {})
        released = []
        for attribute, resource in sorted(h.released.items()):
            provider = titles.provider.get(resource)
            released.append(
                {
                    **titles.field(attribute),
                    "provider": provider,
                    "provider_name": titles.departments.get(provider or ""),
                }
            )
        views.append(
            {
                **h.as_json(),
                "service_name": item.get("name"),
                "department_name": titles.departments.get(h.department),
                "released": released,
                "asks": _asks(titles, h.service_item),
                "rating": rating_view(mine[h.request_id], seal) if h.request_id in mine else None,
            }
        )
    return {"handlings": views}


def received_view(session: Session, codes: list[str]) -> list[dict[str, Any]]:
    """The resources a department received, with their names, providers and fields."""
    titles = FieldTitles(session)
    names = {r.code: v.descriptor.get("name") for r, v in session.execute(latest_versions())}
    return [
        {
            "resource": code,
            "name": names.get(code),
            "provider": titles.provider.get(code),
            "provider_name": titles.departments.get(titles.provider.get(code) or ""),
            "fields": titles.fields_of.get(code, []),
        }
        for code in codes
    ]


def department_ratings(
    session: Session, department: str, seal: CommentSeal
) -> list[dict[str, Any]]:
    """The ratings a consumer department made, newest first."""
    rows = session.scalars(
        select(Rating)
        .where(Rating.rater == Rater.DEPARTMENT, Rating.rater_department == department)
        .order_by(Rating.rated_at.desc())
    )
    return [rating_view(row, seal) for row in rows]


def ratings_about(
    session: Session, department: str, month: str, seal: CommentSeal
) -> list[dict[str, Any]]:
    """For the data authority: the month's ratings that concern *department* (as provider, as
    the source of an attribute marked wrong or asked again, or as the department that handled
    the service item), newest first, without the person."""
    rows = session.scalars(
        select(Rating).where(Rating.month == month).order_by(Rating.rated_at.desc())
    )
    return [
        rating_view(row, seal)
        for row in rows
        if department in (row.provider, row.handled_by)
        or department in row.wrong_providers
        or department in row.asked_providers
    ]
