"""The boundary plugin's wrapper: a good entry is counted and appended unchanged; a bad one is
refused before anything is written, and recorded once for the report of the test that made it."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from exchange.audit.log import AuditLog
from exchange.audit.proofs import head
from exchange.db import unit_of_work
from tests.audit.test_log import entry, work_of
from tests.plugins.boundary import BoundaryViolation, Ledger, validating


def test_a_bad_entry_is_refused_before_it_is_appended_and_recorded_once(
    sessions: sessionmaker[Session],
) -> None:
    ledger = Ledger()
    # The plain append, even when this plugin already wraps it for the session.
    append = validating(getattr(AuditLog.append, "__wrapped__", AuditLog.append), ledger)
    log = AuditLog(sessions)
    receipt, _ = append(log, work_of(1))
    bad = entry(2)
    bad["attributes"]["household.name"]["value"] = "张三"
    with pytest.raises(BoundaryViolation, match=r"household\.name.*'value'"):
        append(log, lambda _session: bad)
    with unit_of_work(sessions) as session:
        assert head(session).size == receipt.index + 1  # the bad entry never landed
    assert (ledger.validated, ledger.refused) == (2, 1)
    (reported,) = ledger.take_unreported()
    assert bad["request_id"] in reported
    assert ledger.take_unreported() == []
