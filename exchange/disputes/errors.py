"""Errors of disputes between departments. Messages name disputes, matters, levels and
departments, never a statement's text: a dispute of other departments is "not found", exactly
like an id that does not exist."""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "DisputeAlreadyOpen",
    "DisputeClosed",
    "DisputeLevelSkipped",
    "DisputeMatterNotFound",
    "DisputeMatterUnrelated",
    "DisputeNegotiationNotTried",
    "DisputeNoSettlement",
    "DisputeNotFound",
    "DisputeOwnSettlement",
    "DisputeReasonsRequired",
    "DisputeTextEmpty",
    "DisputeWithSelf",
    "DisputeWrongLevel",
]


class DisputeNotFound(TongbanError):
    """No dispute with that id to which the caller's department is a party (the authority
    sees every dispute)."""

    code = "dispute_not_found"
    status = 404
    title = "No such dispute"


class DisputeWithSelf(TongbanError):
    """A department cannot open a dispute with itself."""

    code = "dispute_with_self"
    status = 422
    title = "A dispute needs another department"


class DisputeMatterNotFound(TongbanError):
    """The application, agreement, correction request or catalogue entry named does not
    exist."""

    code = "dispute_matter_not_found"
    status = 422
    title = "The matter of the dispute does not exist"


class DisputeMatterUnrelated(TongbanError):
    """The matter named does not concern both departments (each must be a party to it)."""

    code = "dispute_matter_unrelated"
    status = 422
    title = "The matter does not concern both departments"


class DisputeAlreadyOpen(TongbanError):
    """The two departments already have an open dispute over that matter."""

    code = "dispute_already_open"
    status = 409
    title = "A dispute over that matter is already open"


class DisputeClosed(TongbanError):
    """The dispute was settled, decided or resolved: nothing more is recorded on it."""

    code = "dispute_closed"
    status = 409
    title = "The dispute is closed"


class DisputeWrongLevel(TongbanError):
    """The step belongs to another level than the one the dispute is at (a settlement outside
    negotiation, an authority decision before the authority has it, an outcome of the common
    superior while the authority still has it, ...)."""

    code = "dispute_wrong_level"
    status = 409
    title = "That step does not belong to the dispute's level"


class DisputeLevelSkipped(TongbanError):
    """An escalation must go to the next level (negotiation, the authority, the common
    superior, the government at that level), skipping none."""

    code = "dispute_level_skipped"
    status = 409
    title = "An escalation may not skip a level"


class DisputeNegotiationNotTried(TongbanError):
    """Escalation to the data authority needs negotiation tried first: a position of each
    department on record, or the negotiation clock run out."""

    code = "dispute_negotiation_not_tried"
    status = 409
    title = "Negotiation has not been tried yet"


class DisputeNoSettlement(TongbanError):
    """There is no proposed settlement to confirm."""

    code = "dispute_no_settlement"
    status = 409
    title = "No settlement has been proposed"


class DisputeOwnSettlement(TongbanError):
    """A settlement is confirmed by the other department, never by the one that proposed it."""

    code = "dispute_own_settlement"
    status = 409
    title = "The other department confirms a settlement"


class DisputeReasonsRequired(TongbanError):
    """A decision, a referral or an escalation states its reasons (说明理由)."""

    code = "dispute_reasons_required"
    status = 422
    title = "Reasons are required"


class DisputeTextEmpty(TongbanError):
    """A statement, position, settlement, decision or outcome says something (not only
    spaces)."""

    code = "dispute_text_empty"
    status = 422
    title = "The text may not be empty"
