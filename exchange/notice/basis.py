"""The kind of legal basis (法律依据类型) each access rested on, as the audit entry records it.

Most government accesses rest on a statutory duty, not on consent (PIPL art. 13 (3), 34, 35);
the citizen is told which, access by access. The kind is derived from what the decision used,
never from what the caller says:

1. ``consent`` (同意): the decision relied on the citizen's consent (``FieldDecision.consent_id``);
2. ``statutory_duty`` (法定职责): a sharing agreement (共享协议) granted it, whose ``legal_basis``
   the provider approved, or the field is shared unconditionally (无条件共享) with a system for a
   purpose it registered as its duty (rule ``sharing.unconditional``);
3. ``other`` (其他): any other rule that allowed it, named by that rule (``basis_other``). The
   engine has no such rule today; a sharing type added later lands here, named, rather than
   being passed off as a duty.

An attribute no rule allowed (denied before any release) has no basis: nothing was accessed.
"""

from __future__ import annotations

from enum import StrEnum

from policies.model import FieldDecision
from schemas import AuditedAttribute

__all__ = ["BasisKind", "basis_of", "record_basis"]


class BasisKind(StrEnum):
    STATUTORY_DUTY = "statutory_duty"  # 法定职责
    CONSENT = "consent"  # 同意
    OTHER = "other"  # 其他


def basis_of(decision: FieldDecision) -> tuple[BasisKind, str | None] | None:
    """The kind of basis *decision* rested on and, for ``other``, the rule naming it; ``None``
    when no rule allowed it."""
    if not decision.allowed:
        return None
    if decision.consent_id:
        return BasisKind.CONSENT, None
    if decision.agreement_id or "sharing.unconditional" in decision.rules:
        return BasisKind.STATUTORY_DUTY, None
    named = next((r for r in decision.rules if "." in r and ":" not in r), "default.other")
    return BasisKind.OTHER, named


def record_basis(audited: AuditedAttribute, decision: FieldDecision) -> AuditedAttribute:
    """Add ``basis`` (and ``basis_other``) to the audited attribute of *decision*."""
    found = basis_of(decision)
    if found is not None:
        audited["basis"] = found[0].value
        if found[1] is not None:
            audited["basis_other"] = found[1]
    return audited
