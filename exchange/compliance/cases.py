"""What a clock or a breach is about (the case it comes from), and where the authority reads it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Case", "CaseKind"]


class CaseKind(StrEnum):
    APPLICATION = "application"  # 共享申请 (an agreements row)
    AGREEMENT = "agreement"  # 共享协议 in force or ended
    SUBMISSION = "submission"  # 目录提交审核
    UPDATE_DUTY = "update_duty"  # 目录更新责任
    DEMAND = "demand"  # 供需对接请求
    CORRECTION = "correction"  # 校核纠错请求
    DISPUTE = "dispute"  # 共享争议
    RESOURCE = "resource"  # 目录资源 (a version published, or its deprecation)


_HREF = {
    CaseKind.APPLICATION: "/authority/agreements/{id}/usage-records",
    CaseKind.AGREEMENT: "/authority/agreements/{id}/usage-records",
    CaseKind.SUBMISSION: "/catalogue/submissions/{id}",
    CaseKind.UPDATE_DUTY: "/catalogue/update-duties/{id}",
    CaseKind.DEMAND: "/demands/{id}",
    CaseKind.DISPUTE: "/authority/disputes/{id}",
    CaseKind.RESOURCE: "/catalogue/resources/{id}",
}
"""The route where the data authority reads each kind of case (a correction names a person's
record: the authority reads only its clock here)."""


@dataclass(frozen=True)
class Case:
    kind: CaseKind
    id: str

    def as_json(self) -> dict[str, str | None]:
        href = _HREF.get(self.kind)
        return {
            "kind": self.kind.value,
            "id": self.id,
            "href": None if href is None else href.format(id=self.id),
        }
