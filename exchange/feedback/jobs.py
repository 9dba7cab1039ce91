"""Scheduled work of ratings: ``feedback.comments`` erases the free-text comment of every rating
older than the retention period (``TONGBAN_FEEDBACK_COMMENT_RETENTION_DAYS``; the rating itself,
its score and the attributes it names, stays for the scorecards), and seals any comment still
stored in clear from before comments were sealed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exchange.db import unit_of_work
from exchange.feedback.models import Rating
from exchange.feedback.sealing import CommentSeal
from exchange.jobs.spec import JobContext, JobOutcome, JobSpec

__all__ = ["COMMENTS_EVERY_S", "erase_comments", "jobs"]

COMMENTS_EVERY_S = 3600
"""Hourly: a comment outlives its retention period by at most an hour."""


def erase_comments(
    session: Session, seal: CommentSeal, now: datetime, days: int
) -> tuple[int, int]:
    """Erase the comments of ratings made before *days* ago; seal the clear ones kept. How many
    were erased and how many sealed."""
    cutoff = now - timedelta(days=days)
    erased = sealed = 0
    rows = session.scalars(
        select(Rating)
        .where(or_(Rating.comment.is_not(None), Rating.comment_sealed.is_not(None)))
        .where(or_(Rating.rated_at < cutoff, Rating.comment.is_not(None)))
        .order_by(Rating.rated_at)
    )
    for row in rows:
        if row.rated_at < cutoff:
            row.comment = None
            row.comment_sealed = None
            row.comment_erased_at = now
            erased += 1
        elif row.comment is not None:
            row.comment_sealed = seal.seal(row.id, row.comment)
            row.comment = None
            sealed += 1
    return erased, sealed


def run_erasure(
    seal: Callable[[], CommentSeal], days: Callable[[], int], context: JobContext
) -> JobOutcome:
    with unit_of_work(context.sessions, write=True) as session:
        erased, sealed = erase_comments(session, seal(), context.now, days())
    return JobOutcome(rows=erased, detail={"erased": erased, "sealed": sealed})


def jobs(seal: Callable[[], CommentSeal], days: Callable[[], int]) -> list[JobSpec]:
    return [
        JobSpec(
            "feedback.comments",
            "Erase rating comments past their retention period (the ratings stay)",
            lambda context: run_erasure(seal, days, context),
            every_s=COMMENTS_EVERY_S,
        )
    ]
