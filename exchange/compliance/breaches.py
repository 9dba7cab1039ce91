"""Breaches (违反条例的情形) derived from the lifecycle's records, each mapped to its article.

A breach is a clock that ran out before its step came (an answer, a delivery, an update, a
review, a routing, a correction, a coordination), or a duty with no record where one was due
(usage records, a disposal attestation), or a service stopped or changed with no notice on
record. Each is derived, at the moment asked, from the rows the lifecycle's services keep; the
hub stores no breach. A breach *occurs* on the first day past its clock (China time) and is
reported in that month; it is ``open`` while the step is still missing and ends on the day the
step came late. :mod:`exchange.compliance.late` derives the clocks missed,
:mod:`exchange.compliance.duties` the duties with no record.

The hub's own periods where the regulation gives none (constants of
:mod:`exchange.compliance.duties`, stated in docs/lifecycle.md): the first usage record of an
agreement is due :data:`USAGE_RECORD_DAYS` days after the consumer first received data under it
(its first use through the query API, or the delivery), and the disposal attestation
:data:`DISPOSAL_DAYS` days after the agreement ended (expired, revoked or terminated, a lapse
included) when data was received under it.

What a breach shows is metadata: codes of departments, resources and cases, days and counts;
never a person, a value or a free text of the case.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from exchange.agreements.workdays import china_day
from exchange.compliance.breach import Breach, pairs, working_days_between
from exchange.compliance.duties import DISPOSAL_DAYS, USAGE_RECORD_DAYS, missed_duties
from exchange.compliance.late import late_steps

__all__ = [
    "DISPOSAL_DAYS",
    "USAGE_RECORD_DAYS",
    "Breach",
    "derive_breaches",
    "pairs",
    "working_days_between",
]


def derive_breaches(session: Session, now: datetime) -> list[Breach]:
    """Every breach on record up to *now*, the most recent first."""
    today = china_day(now)
    found = [*late_steps(session, now, today), *missed_duties(session, now, today)]
    return sorted(found, key=lambda b: (b.occurred_on, b.id), reverse=True)
