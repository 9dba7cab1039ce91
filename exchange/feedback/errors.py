"""Errors of ratings (好差评). Messages name service items, requests, attributes and departments
(catalogue metadata), never the person, a value or the rater's comment."""

from __future__ import annotations

from schemas import TongbanError

__all__ = ["RatingExists", "RatingNotHandled", "RatingNotReceived", "RatingUnknownAttribute"]


class RatingNotHandled(TongbanError):
    """The audit log shows no handling of that service item for the citizen: only a service
    that was used can be rated (a handling of someone else is not found, like one that does
    not exist)."""

    code = "rating_not_handled"
    status = 422
    title = "No handling of that service item for you to rate"


class RatingNotReceived(TongbanError):
    """The consumer department's systems never received that resource through the hub."""

    code = "rating_not_received"
    status = 422
    title = "Your department never received that resource"


class RatingExists(TongbanError):
    """That handling (or that resource, this month) was rated already."""

    code = "rating_exists"
    status = 409
    title = "Already rated"


class RatingUnknownAttribute(TongbanError):
    """An attribute named in a rating is not one the hub could have supplied or released."""

    code = "rating_unknown_attribute"
    status = 422
    title = "An attribute named in the rating is not applicable"
