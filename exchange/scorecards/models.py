"""The source probes: what each bound source answered to the hub's periodic health probe.

The hub reads live sources at query time and so cannot know, months later, how a provider's
interface behaved; :mod:`exchange.scorecards.jobs` probes every bound source on a schedule and
keeps one row per resource and probe (up or down, and the round trip in milliseconds), from
which the scorecards count a month's availability and latency. No personal data: a probe reads
no record.

``scorecard_months``: the scorecards of one closed China month as computed once (a scheduled job
after the month's end, or the first request for it), so the console and the filed report of a
closed month are read, not recomputed; the current month is always computed live. Aggregates
only, no personal data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = ["ScorecardMonth", "SourceProbe"]


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


class ScorecardMonth(Base):
    """The stored scorecards of one closed China month: the JSON the API answers (without the
    trend) and the month's own trend point."""

    __tablename__ = "scorecard_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, China time
    cards: Mapped[str] = mapped_column(Text)  # JSON of ``Scorecards.as_json()``
    trend_point: Mapped[str] = mapped_column(Text)  # JSON of its ``trend`` item
    computed_at: Mapped[datetime]
