"""Errors of deferred notices. Messages name deferrals, audit indexes, roles and dates, never
the person: another department's deferral, or an access that is not the department's, is "not
found", exactly like one that does not exist."""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "DeferralAccessNotFound",
    "DeferralApproverRole",
    "DeferralDecided",
    "DeferralEndInPast",
    "DeferralExists",
    "DeferralForbidden",
    "DeferralNoLegalBasis",
    "DeferralNotActive",
    "DeferralNotFound",
    "DeferralPeriodInvalid",
    "DeferralSelfApproval",
    "DeferralSystemNotFound",
]


class DeferralForbidden(TongbanError):
    """Only a department admin asks for a deferral, for an access of their department."""

    code = "deferral_forbidden"
    status = 403
    title = "Only a department admin may ask to defer a notice"


class DeferralNoLegalBasis(TongbanError):
    """Deferring a citizen's notice is lawful only on a legal basis, which the request must
    name (PIPL articles 18 and 35)."""

    code = "deferral_no_legal_basis"
    status = 422
    title = "A deferral needs its legal basis"


class DeferralEndInPast(TongbanError):
    """A deferral's end date must be after today (China time)."""

    code = "deferral_end_in_past"
    status = 422
    title = "The deferral's end date is not in the future"


class DeferralAccessNotFound(TongbanError):
    """No access of the department at that index: no entry, an entry that is not an access
    (a consent or correction event), or another department's access."""

    code = "deferral_access_not_found"
    status = 404
    title = "No such access of your department"


class DeferralExists(TongbanError):
    """The access already has a deferral asked for or in effect."""

    code = "deferral_exists"
    status = 409
    title = "The access's notice is already deferred or awaiting approval"


class DeferralNotFound(TongbanError):
    code = "deferral_not_found"
    status = 404
    title = "No such deferral"


class DeferralApproverRole(TongbanError):
    """A deferral is approved (or refused) by a second department admin of the same
    department; auditors, operators and citizens may not."""

    code = "deferral_approver_role"
    status = 403
    title = "Your role may not approve a deferral"


class DeferralSelfApproval(TongbanError):
    """The person who asked for a deferral cannot approve it: it takes a second person."""

    code = "deferral_self_approval"
    status = 403
    title = "A deferral must be approved by someone other than who asked"


class DeferralDecided(TongbanError):
    """The deferral was already approved or refused."""

    code = "deferral_decided"
    status = 409
    title = "The deferral was already decided"


class DeferralNotActive(TongbanError):
    """Only a deferral in effect that ends with an event can have its event recorded."""

    code = "deferral_not_active"
    status = 409
    title = "The deferral is not in effect until an event"


class DeferralSystemNotFound(TongbanError):
    """A standing deferral covers only systems of the declaring department: a system that is
    another department's, or none at all, is refused (one answer for both)."""

    code = "deferral_system_not_found"
    status = 422
    title = "A system named is not one of your department's"


class DeferralPeriodInvalid(TongbanError):
    """A standing deferral's period starts today or later (China time) and, when it ends on a
    day, ends after it starts: it covers accesses to come, never past ones."""

    code = "deferral_period_invalid"
    status = 422
    title = "The deferral's period does not lie ahead"
