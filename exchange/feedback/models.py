"""The ratings table (好差评).

``ratings``: one rating, either a citizen's of one handling of a service item (the audited query
it rates, ``handling``, is unique: a handling is rated once) or a consumer department's of one
resource it received, for one China month (unique per department, resource and month). The
person appears as the keyed pseudonym the audit log uses; the free-text comment is personal
data: it is kept here only sealed (``comment_sealed``: the crypto profile's AEAD, AES-256-GCM or
SM4-GCM, :mod:`exchange.feedback.sealing`) for the rater and the data authority, erased after
the retention period (``TONGBAN_FEEDBACK_COMMENT_RETENTION_DAYS``, the ``feedback.comments``
job; the rating itself stays), never written to the audit log, a log line, an error message or
a public page. ``comment`` is only for a comment stored in clear before sealing: the job seals
it and clears the column.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base, str_enum

__all__ = ["Rater", "Rating"]


class Rater(StrEnum):
    CITIZEN = "citizen"  # 群众: the person a service item was handled for
    DEPARTMENT = "department"  # a consumer department (数据使用部门) about a provider


class Rating(Base):
    """A rating of the data side of one handling, or of one resource's data quality."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("handling", name="uq_ratings_handling"),
        UniqueConstraint("rater_department", "resource", "month", name="uq_ratings_department"),
    )

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    rater: Mapped[Rater] = mapped_column(str_enum(Rater, length=16))
    subject: Mapped[str | None] = mapped_column(String(64), index=True)  # pseudonym (citizen)
    rater_department: Mapped[str | None] = mapped_column(String(16))  # a department's rating
    staff: Mapped[str | None] = mapped_column(String(64))  # who rated for the department
    handling: Mapped[str | None] = mapped_column(String(36))  # the audited query rated
    service_item: Mapped[str | None] = mapped_column(String(64))
    handled_by: Mapped[str | None] = mapped_column(String(16))  # the department that handled it
    resource: Mapped[str | None] = mapped_column(String(64))  # a department's rating: what
    provider: Mapped[str | None] = mapped_column(String(16), index=True)  # ... and whose
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM, China time
    score: Mapped[int]  # 1 (非常不满意) .. 5 (非常满意)
    asked_again: Mapped[list[Any]]  # attributes asked on paper that the hub could supply
    wrong: Mapped[list[Any]]  # attributes that were wrong
    wrong_providers: Mapped[list[Any]]  # the source departments of ``wrong``, in order
    asked_providers: Mapped[list[Any]]  # the source departments of ``asked_again``
    comment: Mapped[str | None] = mapped_column(Text)  # in clear: only before sealing, see above
    comment_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # nonce ‖ AEAD(comment)
    comment_erased_at: Mapped[datetime | None]  # past the retention period (rating stays)
    rated_at: Mapped[datetime]
