"""Applications in the 2025 form and the replies to them, on their clocks (《政务数据共享条例》
art. 20-22).

An application in the 2025 form carries its ``use``: 使用场景 (``scenario``), 使用范围
(``scope``) and 共享方式 (``sharing_modes``: ``interface``, ``batch``, ``file``), beside its
使用依据 (``legal_basis``) and 使用时限 (``valid_until``). It is filed and signed off by the
consumer department's sharing officer (``sharing_officer``); every reply to it (the notice of
missing materials, an extension, the decision, the delivery) by the provider's sharing officer.

Clocks, in working days (State Council calendar with 调休, China time), each configurable no
higher than the national bound (``ReplyClocks``):

- reply: 1 working day when every field is unconditional (an application for unconditional data
  is needed only for a batch or file channel; the query API serves it without one), else 10,
  counted from the day after filing;
- missing materials: the provider sends **one** notice listing everything missing (一次性告知),
  within the reply clock; it must name every material the hub sees missing (a notice that leaves
  one out is ``incomplete_notice``) and may add others. An application lacking materials is never
  approved or refused (``materials_notice_required``): the notice is the only answer. From the
  notice the reply clock stops (``due_by`` is empty); when the applicant supplies everything
  listed, it starts again, whole, from the day of supply: like an application for a licence
  (《行政许可法》 art. 32), an application is taken as received when its materials are complete.
  A second notice is ``materials_already_requested``.
- extension: a conditional application's reply clock can be extended once, by at most 10, asked
  by the provider within the clock with its reason; it counts only once the data authority
  approves it (within the original clock), and the requester then sees the new due day and the
  reason in the application. A second request is ``extension_already_requested``.
- delivery: once approved, the data is delivered within 20 working days. The clock stops when the
  data first reaches the consumer: through the service interface, at the first query under the
  agreement that released a field (read from the audit log by the ``agreements.deliveries`` job,
  :mod:`exchange.agreements.deliveries`); through the batch channel, at the first chunk of an
  extract served; or when the provider records the delivery through one of the agreed channels
  (``POST /agreements/{id}/delivery``: the file channel, or a delivery made outside the hub).

A reply after its clock ran out is refused (``reply_overdue``): the application stays overdue on
the record (a breach of art. 39, 未按时答复); the applicant may apply again. Every step is an
agreement event and a lifecycle entry in the audit log, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from catalogue.models import Resource, ResourceVersion
from catalogue.vocabulary import SharingType
from exchange.agreements.errors import (
    AlreadyDecided,
    AwaitingMaterials,
    ExtensionAlreadyRequested,
    ExtensionNotRequested,
    IncompleteNotice,
    InvalidApplication,
    InvalidDecision,
    MaterialsAlreadyRequested,
    MaterialsNoticeRequired,
    NoExtension,
    NotDeliverable,
    OlderForm,
    ReplyOverdue,
    SharingModeNotOffered,
    UndeclaredCondition,
)
from exchange.agreements.models import Agreement, AgreementStatus
from exchange.agreements.workdays import add_working_days, china_day, official_calendar
from exchange.errors import Forbidden
from exchange.security.identity import Principal, Role
from schemas import ProblemDetail

__all__ = [
    "MATERIALS",
    "SHARING_MODES",
    "ReplyClocks",
    "catalogue_sharing",
    "check_use",
    "missing_materials",
    "require_answerable",
    "require_declared_conditions",
    "require_officer",
    "require_on_time",
    "require_pending",
    "working_day_after",
]

SHARING_MODES = ("interface", "batch", "file")
"""The regulation's three channels: 服务接口 (the query API), 批量交换 (batch), 文件下载."""

_CATALOGUE_METHODS: Mapping[str, frozenset[str]] = {
    "interface": frozenset({"interface", "verification"}),
    "batch": frozenset({"database"}),
    "file": frozenset({"file"}),
}
"""Which of a catalogue entry's ``sharing.method`` values offer each channel (库表交换 is the
batch channel)."""

MATERIALS = ("scenario", "scope", "sharing_modes")
"""The members of ``use`` an application must carry; the hub sees them missing."""

NOTICE_MATERIALS = (*MATERIALS, "legal_basis", "other")
"""What a notice of missing materials may list: the members of ``use``, a more precise legal
basis (使用依据), or another document the provider describes."""


@dataclass(frozen=True)
class ReplyClocks:
    """The working days of each clock (settings ``application_*``, ``delivery_working_days``)."""

    unconditional: int = 1
    conditional: int = 10
    extension: int = 10
    delivery: int = 20

    def reply_days(self, fields: Sequence[str], sharing: Mapping[str, str]) -> int:
        """1 when every field is unconditional, else the conditional clock."""
        unconditional = SharingType.UNCONDITIONAL.value
        if all(sharing.get(name) == unconditional for name in fields):
            return self.unconditional
        return self.conditional


def working_day_after(moment: datetime, days: int) -> date:
    """The ``days``-th working day after the China day of ``moment``."""
    return add_working_days(china_day(moment), days, official_calendar())


def require_officer(
    principal: Principal, department: str, action: str, *, also: Role | None = None
) -> None:
    """The caller is the sharing officer of *department* (or, with *also*, holds that role
    there); 403 otherwise."""
    roles = {Role.SHARING_OFFICER} | ({also} if also else set())
    if principal.role not in roles or principal.department != department:
        raise Forbidden(f"only the sharing officer of department {department} may {action}")


def catalogue_sharing(session: Session, resource: Resource) -> Mapping[str, Any]:
    """The ``sharing`` block of the resource's latest descriptor (共享条件, 共享方式), or {}."""
    version = session.get(ResourceVersion, (resource.code, resource.latest_version))
    if version is None:
        return {}
    sharing = version.descriptor.get("sharing")
    return sharing if isinstance(sharing, Mapping) else {}


def check_use(session: Session, resource: Resource, use: Mapping[str, Any]) -> None:
    """What the schema cannot say of ``use``: a division scope names its divisions, and every
    sharing mode is one the catalogue entry offers (when it declares its methods)."""
    scope = use.get("scope")
    if (
        isinstance(scope, Mapping)
        and scope.get("population") == "division"
        and not scope.get("divisions")
    ):
        raise InvalidApplication(
            "a scope by division names the divisions",
            errors=[ProblemDetail(pointer="/use/scope/divisions", detail="required")],
        )
    declared = catalogue_sharing(session, resource).get("method")
    if not isinstance(declared, list):
        return
    for i, mode in enumerate(use.get("sharing_modes") or []):
        if not _CATALOGUE_METHODS[mode] & set(declared):
            raise SharingModeNotOffered(
                f"resource {resource.code} does not offer the {mode} channel",
                errors=[
                    ProblemDetail(
                        pointer=f"/use/sharing_modes/{i}",
                        detail=f"the catalogue offers {', '.join(sorted(declared))}",
                    )
                ],
            )


def missing_materials(agreement: Agreement) -> list[str]:
    """The members of ``use`` a 2025-form application lacks ([] for the older form)."""
    use = agreement.use
    if use is None:
        return []
    return [name for name in MATERIALS if not use.get(name)]


def require_answerable(agreement: Agreement, now: datetime) -> None:
    """A 2025-form application can be decided now: not awaiting materials, its clock still
    running, nothing missing."""
    if _awaiting(agreement):
        raise AwaitingMaterials(
            f"agreement {agreement.id} awaits the materials the provider asked for"
        )
    require_on_time(agreement, now)
    missing = missing_materials(agreement)
    if missing:
        raise MaterialsNoticeRequired(
            f"agreement {agreement.id} lacks {', '.join(missing)}: send the one notice of "
            "missing materials (一次性告知); an application is never refused for missing materials"
        )


def _awaiting(agreement: Agreement) -> bool:
    return agreement.materials_notice is not None and agreement.materials_supplied_at is None


def require_on_time(agreement: Agreement, now: datetime) -> None:
    if agreement.due_by is not None and china_day(now) > agreement.due_by:
        raise ReplyOverdue(
            f"the reply clock of agreement {agreement.id} ran out on {agreement.due_by}"
        )


def require_2025_form(agreement: Agreement) -> Mapping[str, Any]:
    if agreement.use is None:
        raise OlderForm(
            f"agreement {agreement.id} was filed in the older form, without its use "
            "(使用场景、使用范围、共享方式)"
        )
    return agreement.use


def require_pending(agreement: Agreement) -> None:
    if agreement.status != AgreementStatus.PENDING:
        raise AlreadyDecided(f"agreement {agreement.id} is already {agreement.status}")


def notice_items(agreement: Agreement, items: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The items of a notice of missing materials, checked: each names a material once, with
    what is missing; together they name every material the hub sees missing."""
    if agreement.materials_notice is not None:
        raise MaterialsAlreadyRequested(
            f"the notice of missing materials of agreement {agreement.id} was already sent"
        )
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item["material"] in seen:
            raise IncompleteNotice(
                f"material {item['material']} is listed twice",
                errors=[ProblemDetail(pointer=f"/items/{i}/material", detail="listed twice")],
            )
        seen[item["material"]] = i
    left_out = [name for name in missing_materials(agreement) if name not in seen]
    if left_out:
        raise IncompleteNotice(
            f"the notice must list everything missing at once; it leaves out {', '.join(left_out)}",
            errors=[ProblemDetail(pointer="/items", detail=f"{name} missing") for name in left_out],
        )
    return [{"material": item["material"], "detail": item["detail"]} for item in items]


def supplied_application(
    agreement: Agreement, supplied: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """The application's use and legal basis after *supplied*; every material the notice
    listed must be in it (422 naming the ones still missing)."""
    notice = agreement.materials_notice or {}
    use = dict(agreement.use or {})
    use.update(supplied.get("use") or {})
    listed = [item["material"] for item in notice.get("items", [])]
    still: list[str] = []
    for name in listed:
        if name in MATERIALS and name not in (supplied.get("use") or {}):
            still.append(f"/use/{name}")
        elif name in ("legal_basis", "other") and not supplied.get(name):
            still.append(f"/{name}")
    if still:
        raise InvalidApplication(
            "the supplied materials leave out some the notice listed",
            errors=[ProblemDetail(pointer=p, detail="listed in the notice") for p in still],
        )
    return use, str(supplied.get("legal_basis") or agreement.legal_basis)


def require_extension_allowed(agreement: Agreement, days: int, clocks: ReplyClocks) -> None:
    if agreement.extension is not None:
        raise ExtensionAlreadyRequested(
            f"the reply clock of agreement {agreement.id} was already extended or asked to be"
        )
    if agreement.reply_working_days != clocks.conditional or _awaiting(agreement):
        raise NoExtension(
            f"agreement {agreement.id} is for unconditional data or awaits materials; its reply"
            " clock has no extension"
        )
    if days > clocks.extension:
        raise InvalidDecision(
            f"an extension adds at most {clocks.extension} working days",
            errors=[ProblemDetail(pointer="/days", detail=f"at most {clocks.extension}")],
        )


def requested_extension(agreement: Agreement) -> dict[str, Any]:
    extension = agreement.extension
    if extension is None or extension.get("status") != "requested":
        raise ExtensionNotRequested(
            f"no extension of agreement {agreement.id} awaits the data authority's decision"
        )
    return dict(extension)


def require_declared_conditions(
    session: Session,
    agreement: Agreement,
    *,
    overrides: Mapping[str, Any],
    row_condition: object,
    daily_quota: int | None,
    requires_consent: bool,
) -> None:
    """A reply may impose a condition only where the catalogue entry declares its conditions
    (``sharing.condition``, 共享条件); a resource that declares none is shared as catalogued."""
    resource = session.get(Resource, agreement.resource_code)
    if resource is None or catalogue_sharing(session, resource).get("condition"):
        return
    imposed = [
        (pointer, name)
        for pointer, name, present in (
            ("/overrides", "a release override", bool(overrides)),
            ("/row_condition", "a row condition", row_condition is not None),
            ("/daily_quota", "a daily quota", daily_quota is not None),
            ("/requires_consent", "a consent requirement", requires_consent),
        )
        if present
    ]
    if imposed:
        raise UndeclaredCondition(
            f"resource {agreement.resource_code} declares no sharing condition (共享条件) in "
            f"the catalogue; the reply may not add {imposed[0][1]}",
            errors=[ProblemDetail(pointer=p, detail="not declared") for p, _ in imposed],
        )


def require_deliverable(agreement: Agreement, channel: str, now: datetime) -> None:
    use = require_2025_form(agreement)
    in_force = agreement.status == AgreementStatus.APPROVED and (
        agreement.valid_until is None or agreement.valid_until > now
    )
    if not in_force:
        raise NotDeliverable(f"agreement {agreement.id} is not approved and in force")
    if agreement.delivery is not None:
        raise NotDeliverable(f"the delivery of agreement {agreement.id} was already recorded")
    if channel not in (use.get("sharing_modes") or []):
        raise NotDeliverable(f"agreement {agreement.id} does not name the {channel} channel")
