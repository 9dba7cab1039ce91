"""Errors of the catalogue review, the update duties and the supply-demand requests.

Messages name entries, duties, requests and departments (catalogue metadata), never a person.
A submission, duty or request another department may not see is "not found", exactly like an
id that does not exist.
"""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "AssessmentNotFound",
    "ClockExpired",
    "ConditionalScopeRequired",
    "DemandNotFound",
    "DemandNotPending",
    "DemandResourceInvalid",
    "ExtensionAlreadyAsked",
    "ExtensionNotAsked",
    "GradingRequired",
    "InvalidAssessment",
    "InvalidDemand",
    "LegalCitationRequired",
    "ReasonsRequired",
    "ReviewerOwnDepartment",
    "SubmissionIncomplete",
    "SubmissionNotFound",
    "SubmissionNotPending",
    "SubmissionOpen",
    "UpdateDutyNotFound",
    "UpdateDutyNotOpen",
    "UpdateDutyOpen",
]


class SubmissionNotFound(TongbanError):
    code = "submission_not_found"
    status = 404
    title = "No such catalogue submission"


class AssessmentNotFound(TongbanError):
    code = "assessment_not_found"
    status = 404
    title = "No such assessment attached"


class UpdateDutyNotFound(TongbanError):
    code = "update_duty_not_found"
    status = 404
    title = "No such update duty"


class DemandNotFound(TongbanError):
    code = "demand_not_found"
    status = 404
    title = "No such supply-demand request"


class GradingRequired(TongbanError):
    """An entry submitted for review states no data classification and level (数据分类分级)."""

    code = "grading_required"
    status = 422
    title = "The entry states no data classification and level"


class ConditionalScopeRequired(TongbanError):
    """A conditional entry submitted for review states no 共享范围 or no 使用用途."""

    code = "conditional_scope_required"
    status = 422
    title = "A conditional entry states its sharing scope and uses"


class LegalCitationRequired(TongbanError):
    """A not-shared field of an entry submitted for review cites no law, administrative
    regulation or State Council decision in the structured form (kind, name, article)."""

    code = "legal_citation_required"
    status = 422
    title = "A not-shared field cites its legal basis"


class SubmissionIncomplete(TongbanError):
    """A submission lacks an assessment or the department head's sign-off; ``errors`` lists
    everything missing at once."""

    code = "submission_incomplete"
    status = 422
    title = "The submission lacks assessments or sign-off"


class SubmissionOpen(TongbanError):
    """The entry already has a submission in draft or under review: withdraw it first."""

    code = "submission_open"
    status = 409
    title = "The entry already has an open submission"


class SubmissionNotPending(TongbanError):
    """The submission is not in the state this step needs (a draft to edit or submit, a
    submitted entry to review)."""

    code = "submission_not_pending"
    status = 409
    title = "The submission is not at this step"


class ReviewerOwnDepartment(TongbanError):
    """A reviewer of the data authority may not decide an entry, or an extension, of their own
    department."""

    code = "reviewer_own_department"
    status = 403
    title = "A reviewer may not decide their own department's entry"


class ReasonsRequired(TongbanError):
    """A return, a refusal or a refused extension gives its reasons."""

    code = "reasons_required"
    status = 422
    title = "Reasons are required"


class InvalidAssessment(TongbanError):
    """An assessment document that is empty, of a type the hub does not keep, or whose bytes
    are not what its media type says."""

    code = "invalid_assessment"
    status = 422
    title = "Invalid assessment document"


class UpdateDutyOpen(TongbanError):
    """The entry already has an open update duty."""

    code = "update_duty_open"
    status = 409
    title = "The entry already has an open update duty"


class UpdateDutyNotOpen(TongbanError):
    """The update duty was already fulfilled."""

    code = "update_duty_not_open"
    status = 409
    title = "The update duty is not open"


class ExtensionAlreadyAsked(TongbanError):
    """An update duty has one extension, asked once."""

    code = "extension_already_asked"
    status = 409
    title = "The extension was already asked"


class ExtensionNotAsked(TongbanError):
    """There is no extension request waiting for a decision."""

    code = "extension_not_asked"
    status = 409
    title = "No extension is waiting for a decision"


class ClockExpired(TongbanError):
    """The step came after its clock ran out (an answer, an extension asked too late)."""

    code = "clock_expired"
    status = 409
    title = "The clock ran out"


class InvalidDemand(TongbanError):
    """A supply-demand request, or its routing, that the hub will not take."""

    code = "invalid_demand"
    status = 422
    title = "Invalid supply-demand request"


class DemandNotPending(TongbanError):
    """The request is not at the step asked (routing a connected request, answering one that
    is not routed to you)."""

    code = "demand_not_pending"
    status = 409
    title = "The request is not at this step"


class DemandResourceInvalid(TongbanError):
    """The entry a request is connected to is not a live published entry of the provider."""

    code = "demand_resource_invalid"
    status = 422
    title = "Not a published entry of the provider"
