"""SQLAlchemy 2 typed models of the registry, and the declarative base of the hub's database.

Resource and service-item versions are immutable rows (a database trigger refuses updates); the
``resource_fields`` rows denormalise each version's fields so that search filters run in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from catalogue.vocabulary import SystemStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum: type[StrEnum], *, length: int) -> Enum:
    """The column type of a status-like *enum*: stored as its values (``"approved"``, never a
    member's name) in a plain VARCHAR(*length*), with no native ENUM type and no CHECK
    constraint, so the schema is the string column it always was and rows written before read
    back as members. A string that is not one of the values is refused when written
    (``LookupError``), and so is one found in the database when read."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        values_callable=_values,
        length=length,
        validate_strings=True,
    )


def _values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


class Base(DeclarativeBase):
    """Declarative base of every table the hub owns."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UTCDateTime,
    }


class Department(Base):
    """A department (部门): a data provider, a consumer, or both."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18))
    uscc_check_ok: Mapped[bool | None] = mapped_column(Boolean)
    division: Mapped[str | None] = mapped_column(String(6))
    homepage: Mapped[str | None] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class System(Base):
    """A client system (数据使用方系统), e.g. a case system (办件系统)."""

    __tablename__ = "systems"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[SystemStatus] = mapped_column(str_enum(SystemStatus, length=16))
    purposes: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SystemKey(Base):
    """A public key a system signs its client assertions with (public JWK only)."""

    __tablename__ = "system_keys"
    __table_args__ = (UniqueConstraint("system_id", "kid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), index=True)
    kid: Mapped[str] = mapped_column(String(128))
    alg: Mapped[str] = mapped_column(String(16))
    jwk: Mapped[dict[str, Any]]
    added_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class Resource(Base):
    """A data resource (信息资源): identity and lifecycle; content lives in its versions."""

    __tablename__ = "resources"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(40), unique=True)
    provider_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    latest_version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deprecated_at: Mapped[datetime | None]
    deprecation_reason: Mapped[str | None] = mapped_column(Text)


class ResourceVersion(Base):
    """One immutable published version of a resource descriptor."""

    __tablename__ = "resource_versions"

    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    descriptor: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(64))
    diff: Mapped[dict[str, Any]]
    published_at: Mapped[datetime]
    published_by: Mapped[str] = mapped_column(String(128))


class ResourceField(Base):
    """A field (信息项) of one resource version, kept in columns for SQL filters."""

    __tablename__ = "resource_fields"
    __table_args__ = (
        ForeignKeyConstraint(
            ["resource_code", "version"],
            ["resource_versions.resource_code", "resource_versions.version"],
        ),
    )

    resource_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    data_type: Mapped[str] = mapped_column(String(16))
    sharing_type: Mapped[str] = mapped_column(String(16))
    sensitivity: Mapped[str] = mapped_column(String(24))
    transform: Mapped[str] = mapped_column(String(16))


class ServiceItem(Base):
    """A service item (事项) and, through its versions, the attributes it needs."""

    __tablename__ = "service_items"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    latest_version: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ServiceItemVersion(Base):
    """One immutable published version of a service item descriptor."""

    __tablename__ = "service_item_versions"

    service_item_code: Mapped[str] = mapped_column(
        ForeignKey("service_items.code"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    descriptor: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime]
    published_by: Mapped[str] = mapped_column(String(128))
