"""What the query path refuses: unknown attributes, foreign service items, an incomplete
``all_or_nothing`` answer, spent budgets. (A purpose the system never registered is
:class:`exchange.errors.PurposeNotRegistered`; an invalid resident ID is
:class:`exchange.security.subjects.InvalidSubjectId`.)
"""

from __future__ import annotations

from typing import Any, ClassVar

from exchange.query.models import Counter
from schemas import TongbanError

__all__ = [
    "BudgetExhausted",
    "ForeignServiceItem",
    "Incomplete",
    "PredicateBudgetExhausted",
    "UnknownAttribute",
    "VerifyBudgetExhausted",
]


class UnknownAttribute(TongbanError):
    """The query names an attribute the catalogue does not have, or one its service item does
    not list."""

    code = "unknown_attribute"
    status = 422
    title = "Unknown attribute"


class ForeignServiceItem(TongbanError):
    """The query names a service item of another department than the calling system's."""

    code = "foreign_service_item"
    status = 403
    title = "Another department's service item"


class Incomplete(TongbanError):
    """An ``all_or_nothing`` request could not have every attribute released, so none was."""

    code = "incomplete"
    status = 409
    title = "Not every attribute could be released; nothing was (all_or_nothing)"


class BudgetExhausted(TongbanError):
    """A budget of this system for this subject's field is spent; nothing was answered.

    The base of the two budgets' refusals, each with its own code."""

    code = "budget_exhausted"
    status = 429
    title = "Budget spent"
    counter: ClassVar[Counter]

    def __init__(self, detail: str, *, retry_after: int, extensions: dict[str, Any]) -> None:
        super().__init__(detail, extensions={**extensions, "retry_after": retry_after})
        self.retry_after = retry_after


class VerifyBudgetExhausted(BudgetExhausted):
    """Too many ``no_match`` answers about one field of one person for this system within the
    window."""

    code = "verify_budget_exhausted"
    title = "Too many non-matching claims about this person"
    counter = Counter.NO_MATCH


class PredicateBudgetExhausted(BudgetExhausted):
    """Too many distinct predicate arguments over one field of one person for this system within the
    window."""

    code = "predicate_budget_exhausted"
    title = "Too many different predicate arguments about this person"
    counter = Counter.ARGUMENTS
