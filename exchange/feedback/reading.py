"""Views of ratings: a citizen's own handlings and ratings, a department's ratings, and the
data authority's list of ratings about a department (without the person)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.models import Resource
from exchange.corrections.service import utc_instant
from exchange.feedback.models import Rater, Rating
from exchange.feedback.service import handlings_of

__all__ = ["citizen_view", "department_ratings", "rating_view", "ratings_about"]

HANDLINGS_SHOWN = 50
"""A citizen sees at most this many of their newest handlings."""


def rating_view(row: Rating, *, with_comment: bool = True) -> dict[str, Any]:
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
    if with_comment:
        view["comment"] = row.comment
    return view


def citizen_view(session: Session, subject: str) -> dict[str, Any]:
    """The citizen's handlings (newest first, each with its rating if rated) and ratings."""
    handlings = handlings_of(session, subject)[:HANDLINGS_SHOWN]
    mine = {
        row.handling: row
        for row in session.scalars(
            select(Rating).where(Rating.subject == subject, Rating.rater == Rater.CITIZEN)
        )
    }
    providers = {k: v for k, v in session.execute(select(Resource.code, Resource.provider_code))}
    return {
        "handlings": [
            {
                **h.as_json(),
                "sources": {f: providers.get(r) for f, r in sorted(h.released.items())},
                "rating": rating_view(mine[h.request_id]) if h.request_id in mine else None,
            }
            for h in handlings
        ]
    }


def department_ratings(session: Session, department: str) -> list[dict[str, Any]]:
    """The ratings a consumer department made, newest first."""
    rows = session.scalars(
        select(Rating)
        .where(Rating.rater == Rater.DEPARTMENT, Rating.rater_department == department)
        .order_by(Rating.rated_at.desc())
    )
    return [rating_view(row) for row in rows]


def ratings_about(session: Session, department: str, month: str) -> list[dict[str, Any]]:
    """For the data authority: the month's ratings that concern *department* (as provider, as
    the source of an attribute marked wrong or asked again, or as the department that handled
    the service item), newest first, without the person."""
    rows = session.scalars(
        select(Rating).where(Rating.month == month).order_by(Rating.rated_at.desc())
    )
    return [
        rating_view(row)
        for row in rows
        if department in (row.provider, row.handled_by)
        or department in row.wrong_providers
        or department in row.asked_providers
    ]
