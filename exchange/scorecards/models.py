"""The source probes: what each bound source answered to the hub's periodic health probe.

The hub reads live sources at query time and so cannot know, months later, how a provider's
interface behaved; :mod:`exchange.scorecards.jobs` probes every bound source on a schedule and
keeps one row per resource and probe (up or down, and the round trip in milliseconds), from
which the scorecards count a month's availability and latency. No personal data: a probe reads
no record.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = ["SourceProbe"]


class SourceProbe(Base):
    """One health probe of one resource's source (its adapter's ``health()``)."""

    __tablename__ = "source_probes"
    __table_args__ = (Index("ix_source_probes_provider_at", "provider", "probed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(16))
    probed_at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float] = mapped_column(Float)
