"""Errors of correction requests. Messages name requests, attributes and departments (catalogue
metadata), never the person or a value: a correction request of someone else is "not found",
exactly like an id that does not exist."""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "CorrectionAnswered",
    "CorrectionNotFound",
    "CorrectionNotReceived",
    "CorrectionOtherSubject",
    "CorrectionSourceUnavailable",
    "CorrectionSourceUnchanged",
    "CorrectionsClosed",
    "NoticeNotFound",
]


class CorrectionNotReceived(TongbanError):
    """The audit log shows no release of that attribute to the requester in the request it
    cites: only what one received can be disputed."""

    code = "correction_not_received"
    status = 422
    title = "The attribute was not released to you in that request"


class CorrectionOtherSubject(TongbanError):
    """The cited request was about another person than the one named (or signed in)."""

    code = "correction_other_subject"
    status = 403
    title = "The cited request is about another person"


class CorrectionNotFound(TongbanError):
    code = "correction_not_found"
    status = 404
    title = "No such correction request"


class CorrectionAnswered(TongbanError):
    """The source department has already answered the request."""

    code = "correction_answered"
    status = 409
    title = "The correction request was already answered"


class CorrectionSourceUnavailable(TongbanError):
    """The source could not be read again to record the corrected value; nothing changed."""

    code = "correction_source_unavailable"
    status = 503
    title = "The source could not be read again"


class CorrectionSourceUnchanged(TongbanError):
    """The source still holds the value that was disputed: correct it there first."""

    code = "correction_source_unchanged"
    status = 409
    title = "The source still holds the disputed value"


class CorrectionsClosed(TongbanError):
    """This hub does not take objections from citizens (TONGBAN_CITIZEN_OBJECTIONS=false)."""

    code = "citizen_objections_closed"
    status = 403
    title = "Citizens' objections are not taken here"


class NoticeNotFound(TongbanError):
    code = "correction_notice_not_found"
    status = 404
    title = "No such correction notice"
