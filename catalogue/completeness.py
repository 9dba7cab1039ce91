"""What a catalogue entry must state before a department submits it for review (条例 art. 13-14).

The descriptor schema keeps these elements optional, so that the entries loaded before the
review existed (and the operator's set-up load) still read; an entry a department submits to
the data authority must have all of them:

1. ``grading``: its 数据分类分级 (GB/T 43697 level, personal information categories);
2. a conditional entry (any field ``conditional``) states its 共享范围 (``sharing.scope``) and
   使用用途 (``sharing.uses``);
3. a not-shared field cites a law, administrative regulation or State Council decision in the
   structured form (``sharing.legal_citation``: kind, name, article), not only in words.

Every gap is reported at once, each with its JSON pointer, under one code per rule, so the
department mends everything in one round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from catalogue.vocabulary import SharingType
from schemas import ProblemDetail

__all__ = ["Gap", "review_gaps"]


@dataclass(frozen=True)
class Gap:
    """One element a submission lacks: the rule (its error code) and where."""

    code: str  # grading_required, conditional_scope_required, legal_citation_required
    problem: ProblemDetail


def review_gaps(content: Mapping[str, Any]) -> list[Gap]:
    """Every gap of a resource descriptor's content against the review's rules, in order."""
    return list(_gaps(content))


def _gaps(content: Mapping[str, Any]) -> Iterable[Gap]:
    if "grading" not in content:
        detail = "state the entry's data classification and level (数据分类分级)"
        yield Gap("grading_required", ProblemDetail(pointer="/grading", detail=detail))
    types = [SharingType(f["sharing"]["type"]) for f in content["fields"]]
    if SharingType.CONDITIONAL in types:
        sharing = content["sharing"]
        for member, words in (("scope", "共享范围"), ("uses", "使用用途")):
            if member not in sharing:
                detail = f"a conditional entry states its {words}"
                yield Gap(
                    "conditional_scope_required",
                    ProblemDetail(pointer=f"/sharing/{member}", detail=detail),
                )
    for i, (field, kind) in enumerate(zip(content["fields"], types, strict=True)):
        if kind is SharingType.NOT_SHARED and "legal_citation" not in field["sharing"]:
            detail = (
                "a not-shared field cites the law, administrative regulation or State Council "
                "decision it rests on (kind, name, article)"
            )
            at = f"/fields/{i}/sharing/legal_citation"
            yield Gap("legal_citation_required", ProblemDetail(pointer=at, detail=detail))
