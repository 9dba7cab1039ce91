"""Errors of citizen consent. Messages name requests, consents and attributes (catalogue
metadata), never the citizen: a request or consent of someone else is "not found", exactly like
an id that does not exist."""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "ConsentNotActive",
    "ConsentNotFound",
    "ConsentRequestAnswered",
    "ConsentRequestExpired",
    "ConsentRequestNotFound",
    "InvalidConsentChoice",
    "NotConsentable",
]


class ConsentRequestNotFound(TongbanError):
    code = "consent_request_not_found"
    status = 404
    title = "No such consent request"


class ConsentRequestAnswered(TongbanError):
    code = "consent_request_answered"
    status = 409
    title = "The consent request was already answered"


class ConsentRequestExpired(TongbanError):
    code = "consent_request_expired"
    status = 409
    title = "The consent request was not answered in time"


class ConsentNotFound(TongbanError):
    code = "consent_not_found"
    status = 404
    title = "No such consent"


class ConsentNotActive(TongbanError):
    """The consent was revoked, used up, expired or superseded."""

    code = "consent_not_active"
    status = 409
    title = "The consent is no longer active"


class NotConsentable(TongbanError):
    """No consent could let this system receive these fields (not shared with it, or not for
    this purpose)."""

    code = "not_granted"
    status = 403
    title = "The system could not receive these fields even with consent"


class InvalidConsentChoice(TongbanError):
    code = "invalid_consent_choice"
    status = 422
    title = "Invalid choice of fields"
