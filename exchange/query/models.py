"""The query's own tables: the verification budgets' counters (``verify_budget``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = ["Counter", "VerifyBudgetCounter"]


class Counter(StrEnum):
    """The two budgets of one field of one person for one system."""

    NO_MATCH = "no_match"
    ARGUMENTS = "arguments"


class VerifyBudgetCounter(Base):
    """The answers still counting against one budget: ``marks`` is ``[[epoch seconds, tag],
    …]``, oldest first; ``tag`` is empty for no_match and an argument digest for arguments."""

    __tablename__ = "verify_budget"

    system_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)  # keyed pseudonym
    field: Mapped[str] = mapped_column(String(104), primary_key=True)  # namespace.field
    counter: Mapped[str] = mapped_column(String(16), primary_key=True)
    marks: Mapped[list[Any]]
    updated_at: Mapped[datetime] = mapped_column(index=True)
