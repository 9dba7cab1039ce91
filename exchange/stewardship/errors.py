"""Errors of usage records, disposal attestations and suspensions. Messages name agreements,
records and departments, never the text of a record."""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "AgreementHalted",
    "AgreementNotSuspended",
    "DisposalWhileInForce",
    "RemedyDeadlineNotPassed",
    "ServiceChangeInvalid",
    "StewardshipAgreementNotFound",
    "StewardshipTextEmpty",
    "UsageRecordNotFound",
]


class StewardshipAgreementNotFound(TongbanError):
    """No agreement with that id that the caller's department is the consumer of (or, for a
    suspension, the provider of)."""

    code = "stewardship_agreement_not_found"
    status = 404
    title = "No such agreement of your department"


class UsageRecordNotFound(TongbanError):
    """An amendment names a usage record that is not one of the same agreement."""

    code = "usage_record_not_found"
    status = 422
    title = "The amended usage record does not exist"


class DisposalWhileInForce(TongbanError):
    """Disposal is attested once the purpose is met or the term ended: the agreement is still
    in force (approved, within its validity, not suspended)."""

    code = "disposal_agreement_in_force"
    status = 409
    title = "The agreement is still in force"


class AgreementHalted(TongbanError):
    """The agreement is already suspended or terminated, or is not in force to suspend."""

    code = "agreement_not_suspendable"
    status = 409
    title = "The agreement cannot be suspended now"


class AgreementNotSuspended(TongbanError):
    """Reinstatement and termination follow a suspension in effect."""

    code = "agreement_not_suspended"
    status = 409
    title = "The agreement is not suspended"


class RemedyDeadlineNotPassed(TongbanError):
    """An agreement is terminated only after its remedy deadline passed unremedied."""

    code = "remedy_deadline_not_passed"
    status = 409
    title = "The remedy deadline has not passed"


class StewardshipTextEmpty(TongbanError):
    """Every part of a usage record, an attestation, a suspension's reasons or a note says
    something (not only spaces)."""

    code = "stewardship_text_empty"
    status = 422
    title = "The text may not be empty"


class ServiceChangeInvalid(TongbanError):
    """A service change is announced before the day it applies (a day after today at the
    earliest, China time)."""

    code = "service_change_invalid"
    status = 422
    title = "The service change is not announced in advance"
