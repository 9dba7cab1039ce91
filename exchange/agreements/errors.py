"""Errors of the agreement workflow. Messages name agreements, systems, resources and fields
(catalogue metadata), never personal data."""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "AgreementChanged",
    "AgreementError",
    "AgreementNotFound",
    "AlreadyDecided",
    "InvalidAgreementDocument",
    "InvalidApplication",
    "InvalidDecision",
    "NoAgreementNeeded",
    "NotRevocable",
    "NotShared",
    "OwnApplication",
    "PurposeNotRegistered",
    "UnknownField",
]


class AgreementError(TongbanError):
    code = "agreement_error"
    status = 400
    title = "Agreement error"


class AgreementNotFound(AgreementError):
    """No such agreement, or one the caller may not see (existence does not leak)."""

    code = "agreement_not_found"
    status = 404
    title = "Agreement not found"


class InvalidApplication(AgreementError):
    code = "invalid_application"
    status = 422
    title = "Invalid agreement application"


class UnknownField(InvalidApplication):
    code = "unknown_field"
    title = "Unknown field"


class NoAgreementNeeded(InvalidApplication):
    """An unconditional field (无条件共享): any registered system may ask for it already."""

    code = "no_agreement_needed"
    title = "No agreement needed"


class NotShared(InvalidApplication):
    """A not-shared field (不予共享): no agreement can release it."""

    code = "not_shared"
    title = "Field is not shared"


class PurposeNotRegistered(InvalidApplication):
    code = "purpose_not_registered"
    title = "Purpose not registered for the system"


class InvalidDecision(AgreementError):
    code = "invalid_decision"
    status = 422
    title = "Invalid decision"


class AlreadyDecided(AgreementError):
    code = "already_decided"
    status = 409
    title = "Application already decided"


class NotRevocable(AgreementError):
    code = "not_revocable"
    status = 409
    title = "Agreement cannot be revoked"


class OwnApplication(AgreementError):
    """The staff member deciding an application is the one who filed it (separation of
    duties: nobody approves their own application, even as an admin of both departments)."""

    code = "own_application"
    status = 403
    title = "Own application"


class InvalidAgreementDocument(AgreementError):
    code = "invalid_agreement_document"
    status = 422
    title = "Invalid agreement document"


class AgreementChanged(AgreementError):
    """A document reuses the id of a loaded agreement with different content."""

    code = "agreement_changed"
    status = 409
    title = "Agreement changed"
