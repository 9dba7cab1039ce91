"""The catalogue's controlled vocabulary, shared by the registry and the policy engine."""

from __future__ import annotations

from enum import StrEnum


class SharingType(StrEnum):
    """Sharing type of a field (共享类型, 国发〔2016〕51号)."""

    UNCONDITIONAL = "unconditional"  # 无条件共享
    CONDITIONAL = "conditional"  # 有条件共享
    NOT_SHARED = "not_shared"  # 不予共享

    @property
    def openness(self) -> int:
        """Higher is more permissive; a resource is as open as its most open field."""
        return {"unconditional": 2, "conditional": 1, "not_shared": 0}[self.value]


class Sensitivity(StrEnum):
    """Sensitivity of a field; SENSITIVE_PERSONAL is PIPL art. 28 敏感个人信息."""

    PUBLIC = "public"
    INTERNAL = "internal"
    PERSONAL = "personal"
    SENSITIVE_PERSONAL = "sensitive_personal"


class ReleaseTransform(StrEnum):
    """How a field's value leaves the hub by default."""

    CLEAR = "clear"
    MASK_ID = "mask_id"
    MASK_NAME = "mask_name"
    HASH = "hash"
    YEAR = "year"


class SharingMethod(StrEnum):
    """How a resource is offered (共享方式): a resource descriptor's ``sharing.method`` list.

    The hub serves two of them: ``interface`` is ``POST /exchange/query`` (the value, as its
    release allows), ``verification`` is ``POST /exchange/verify`` (a claimed value checked, the
    value itself never returned). A resource offered only for ``verification`` is never released
    by a query.
    """

    INTERFACE = "interface"  # 接口
    VERIFICATION = "verification"  # 核验
    DATABASE = "database"  # 库表交换
    FILE = "file"  # 文件下载


class DescriptorKind(StrEnum):
    DEPARTMENT = "department"
    RESOURCE = "resource"
    SERVICE_ITEM = "service_item"

    @property
    def schema_name(self) -> str:
        return self.value.replace("_", "-")


class SystemStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
