"""Errors of the agreement workflow. Messages name agreements, systems, resources and fields
(catalogue metadata), never personal data."""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "AgreementChanged",
    "AgreementError",
    "AgreementNotFound",
    "AgreementPurposeNotRegistered",
    "AlreadyDecided",
    "InvalidAgreementDocument",
    "InvalidApplication",
    "InvalidDecision",
    "NoAgreementNeeded",
    "NotRevocable",
    "NotShared",
    "OwnApplication",
    "UnknownField",
]


class AgreementError(TongbanError):
    """The agreement workflow refused a request; the base of the agreement errors."""

    code = "agreement_error"
    status = 400
    title = "Agreement error"


class AgreementNotFound(AgreementError):
    """No such agreement, or one the caller may not see (existence does not leak)."""

    code = "agreement_not_found"
    status = 404
    title = "Agreement not found"


class InvalidApplication(AgreementError):
    """An application for an agreement is not one that can be filed: an unknown system or
    resource, a deprecated resource, a validity that ends before it starts, and the like."""

    code = "invalid_application"
    status = 422
    title = "Invalid agreement application"


class UnknownField(InvalidApplication):
    """The application names a field the resource's latest version does not have."""

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


class AgreementPurposeNotRegistered(InvalidApplication):
    """The agreement names a purpose its consumer system never registered, so it could never be
    used; register the purpose first, or name one the system has.

    Not ``purpose_not_registered`` (403): that is a query or consent request under such a
    purpose, a refusal of the caller; this is a mistake in the application's content."""

    code = "agreement_purpose_not_registered"
    title = "Purpose not registered for the consumer system"


class InvalidDecision(AgreementError):
    """A provider's decision cannot apply to the application: fields it did not ask for, an
    override that does not fit a field, a refusal without a reason, and the like."""

    code = "invalid_decision"
    status = 422
    title = "Invalid decision"


class AlreadyDecided(AgreementError):
    """The application was already approved or refused; a decision is made once."""

    code = "already_decided"
    status = 409
    title = "Application already decided"


class NotRevocable(AgreementError):
    """Only an approved agreement can be revoked; this one is pending, refused or revoked."""

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
    """A signed agreement document loaded from YAML (``tongban agreements load``) is not
    valid, or does not fit the catalogue and the registered systems."""

    code = "invalid_agreement_document"
    status = 422
    title = "Invalid agreement document"


class AgreementChanged(AgreementError):
    """A document reuses the id of a loaded agreement with different content."""

    code = "agreement_changed"
    status = 409
    title = "Agreement changed"
