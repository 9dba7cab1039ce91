"""Errors the policy engine raises. Messages never carry personal data or the offending value."""

from __future__ import annotations

from schemas import TongbanError

__all__ = ["ConflictingRecords", "InvalidAttribute", "PolicyError"]


class PolicyError(TongbanError):
    """The policy engine refused a request; the base of the policy errors."""

    code = "policy_error"
    status = 400
    title = "Policy error"


class InvalidAttribute(PolicyError):
    """A requested attribute names an unknown predicate or gives it a bad argument."""

    code = "invalid_attribute"
    status = 422
    title = "Invalid attribute"


class ConflictingRecords(PolicyError):
    """The source holds several records that answer a one-record predicate differently (two
    household entries in different districts, say): the hub cannot tell which is true."""

    code = "conflicting_records"
    status = 502
    title = "Conflicting source records"
