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
    "AwaitingMaterials",
    "ExtensionAlreadyRequested",
    "ExtensionNotRequested",
    "IncompleteNotice",
    "InvalidAgreementDocument",
    "InvalidApplication",
    "InvalidDecision",
    "MaterialsAlreadyRequested",
    "MaterialsNoticeRequired",
    "NoAgreementNeeded",
    "NoExtension",
    "NoMaterialsRequested",
    "NotDeliverable",
    "NotRevocable",
    "NotShared",
    "OlderForm",
    "OwnApplication",
    "ReplyOverdue",
    "SharingModeNotOffered",
    "UndeclaredCondition",
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


class SharingModeNotOffered(InvalidApplication):
    """The application asks for a sharing method (共享方式: interface, batch, file) the
    resource's catalogue entry does not offer."""

    code = "sharing_mode_not_offered"
    title = "Sharing method not offered"


class OlderForm(AgreementError):
    """The step (a notice of missing materials, an extension, a delivery) belongs to the 2025
    form of an application; this one was filed in the older form, without its use (使用场景、
    使用范围、共享方式)."""

    code = "older_application_form"
    status = 409
    title = "Application in the older form"


class ReplyOverdue(AgreementError):
    """The reply clock ran out (the last working day to answer has passed): the answer, the
    notice of missing materials or the extension comes too late and the application stays
    overdue on the record."""

    code = "reply_overdue"
    status = 409
    title = "Reply clock ran out"


class MaterialsNoticeRequired(AgreementError):
    """The application lacks materials (使用场景、使用范围、共享方式): the provider sends one
    notice listing everything missing (一次性告知) and may not approve or refuse until they are
    supplied; an application is never refused for missing materials."""

    code = "materials_notice_required"
    status = 409
    title = "Notice of missing materials required"


class MaterialsAlreadyRequested(AgreementError):
    """The provider already sent its one notice of missing materials (一次性告知); a second
    one is not allowed."""

    code = "materials_already_requested"
    status = 409
    title = "Missing materials already requested"


class IncompleteNotice(AgreementError):
    """A notice of missing materials must list everything missing at once; this one leaves
    out materials the application lacks."""

    code = "incomplete_notice"
    status = 422
    title = "Incomplete notice of missing materials"


class AwaitingMaterials(AgreementError):
    """The provider asked for missing materials and the applicant has not supplied them yet;
    the reply clock is stopped and nothing can be decided until they are."""

    code = "awaiting_materials"
    status = 409
    title = "Awaiting missing materials"


class ExtensionAlreadyRequested(AgreementError):
    """The reply clock of an application can be extended once; an extension was already
    asked for."""

    code = "extension_already_requested"
    status = 409
    title = "Extension already requested"


class NoExtension(AgreementError):
    """An application for unconditional data (1 working day), or one awaiting missing
    materials, has no extension of its reply clock."""

    code = "no_extension"
    status = 409
    title = "No extension possible"


class ExtensionNotRequested(AgreementError):
    """No extension of this application's reply clock is waiting for the data authority's
    decision."""

    code = "extension_not_requested"
    status = 409
    title = "No extension requested"


class UndeclaredCondition(InvalidDecision):
    """The reply imposes a condition (a row condition, a daily quota, a consent requirement,
    a release override) that the resource's catalogue entry does not declare (共享条件); a
    department may not add conditions at answer time."""

    code = "undeclared_condition"
    title = "Condition not declared in the catalogue"


class NotDeliverable(AgreementError):
    """The delivery cannot be recorded: the agreement is not approved and in force, its
    delivery was already recorded, or the channel is not one the agreement names."""

    code = "not_deliverable"
    status = 409
    title = "Delivery cannot be recorded"


class NoMaterialsRequested(AgreementError):
    """Materials are supplied only in answer to the provider's notice of missing materials;
    none is waiting for them (never sent, or already answered)."""

    code = "no_materials_requested"
    status = 409
    title = "No materials requested"
