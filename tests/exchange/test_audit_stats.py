"""``GET /audit/stats``: per-day counts in China time, denial rates, top purposes, and the two
anomaly rules, each shown both flagging and not flagging. Entries are crafted rows in the real
``audit_entries`` table (SQLite and PostgreSQL), read back through the real route."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from exchange.audit.models import AuditRecord
from exchange.audit.stats import AnomalyRules, Row, compute_stats
from exchange.db import unit_of_work
from exchange.security.identity import Role

# 2026-11-10 00:00 China time is 2026-11-09 16:00 UTC.
DAY0 = datetime(2026, 11, 9, 16, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant on China-time day ``2026-11-(10 + day)`` at ``hour:minute`` China time."""
    return DAY0 + timedelta(days=day, hours=hour, minutes=minute)


class Log:
    """Appends crafted rows to ``audit_entries`` (counts only matter to the statistics)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def add(
        self,
        when: Iterable[datetime],
        *,
        system: str = "edu-enrolment",
        department: str = "EDU",
        purpose: str = "school-enrolment",
        outcome: str = "released",
        kind: str = "query",
    ) -> None:
        with unit_of_work(self.sessions, write=True) as session:
            start = session.scalar(select(func.count()).select_from(AuditRecord)) or 0
            for n, moment in enumerate(when):
                request_id = str(uuid.uuid4())
                session.add(
                    AuditRecord(
                        index=start + n,
                        request_id=request_id,
                        recorded_at=moment,
                        kind=kind,
                        system_id=system,
                        department=department,
                        subject="0" * 64,
                        purpose=purpose,
                        outcome=outcome,
                        entry="{}",
                        leaf_hash=hashlib.sha256(request_id.encode()).digest(),
                    )
                )


@pytest.fixture
def log(sessions: sessionmaker[Session]) -> Log:
    return Log(sessions)


@pytest.fixture
def auditor(staff_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_token(Role.AUDITOR, None)}"}


def stats(
    client: TestClient, headers: dict[str, str], since: datetime, until: datetime
) -> dict[str, Any]:
    response = client.get(
        "/audit/stats",
        params={"since": since.isoformat(), "until": until.isoformat()},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def steady(days: range, per_day: int, hour: int = 10) -> list[datetime]:
    """``per_day`` accesses on each day of ``days``, spread over an hour from ``hour``."""
    return [at(d, hour, n % 60) for d in days for n in range(per_day)]


# -- counting ------------------------------------------------------------------------------


def test_only_accesses_count_not_consent_or_agreement_events(
    client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    log.add([at(0, 10)] * 2)
    log.add([at(0, 11)], kind="verify", outcome="denied")
    log.add([at(0, 12)] * 3, kind="consent", system="mca-dibao", purpose="dibao", outcome="given")
    log.add([at(0, 13)], kind="agreement", purpose="-", outcome="approved")
    body = stats(client, auditor, at(0, 0), at(1, 0))
    assert body["per_day_department"] == [{"day": "2026-11-10", "department": "EDU", "count": 3}]
    assert [row["purpose"] for row in body["top_purposes"]] == ["school-enrolment"]
    assert {row["system"] for row in body["denials"]["per_system"]} == {"edu-enrolment"}


def test_days_are_china_days_and_counts_split_by_department(
    client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    # 23:30 China time on day 0 is 15:30 UTC on day 0; 00:30 China time on day 1 is still
    # 16:30 UTC on day 0, but belongs to China day 1.
    log.add([at(0, 23, 30)] * 2, department="EDU")
    log.add([at(1, 0, 30)] * 3, department="MCA", system="mca-dibao", purpose="dibao")
    body = stats(client, auditor, at(0, 0), at(2, 0))
    assert body["days"] == ["2026-11-10", "2026-11-11"]
    assert body["per_day_department"] == [
        {"day": "2026-11-10", "department": "EDU", "count": 2},
        {"day": "2026-11-11", "department": "MCA", "count": 3},
    ]
    assert body["top_purposes"] == [
        {"purpose": "dibao", "department": "MCA", "count": 3},
        {"purpose": "school-enrolment", "department": "EDU", "count": 2},
    ]


def test_the_codes_counted_come_with_the_registrys_names(
    demo_world: Path, client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    log.add([at(0, 10)] * 2, outcome="denied")
    log.add([at(0, 11)], system="mca-dibao", department="MCA", purpose="minimum-living-allowance")
    log.add([at(0, 12)], system="retired-system", department="XX", purpose="unknown-purpose")
    names = stats(client, auditor, at(0, 0), at(1, 0))["names"]
    assert names["systems"] == {
        "edu-enrolment": "义务教育入学登记系统 (school enrolment case system)",
        "mca-dibao": "最低生活保障申请系统 (minimum living allowance case system)",
        "retired-system": None,  # a code the registry does not know keeps no name
    }
    assert names["departments"]["EDU"]["name"] == "演示市教育局"
    assert names["departments"]["XX"] == {"name": None, "name_en": None}
    assert names["purposes"]["school-enrolment"]["name"] == "义务教育入学登记"
    assert names["purposes"]["minimum-living-allowance"]["name"] == "最低生活保障申请"
    assert names["purposes"]["unknown-purpose"]["name"] is None


def test_denial_rates_per_day_and_per_system(
    client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    log.add([at(0, 9)] * 3, outcome="released")
    log.add([at(0, 9)], outcome="denied")
    log.add([at(0, 9)] * 2, system="mca-dibao", department="MCA", outcome="denied")
    log.add([at(0, 9)] * 2, system="mca-dibao", department="MCA", outcome="partial")
    body = stats(client, auditor, at(0, 0), at(1, 0))
    assert body["denials"]["per_day"] == [
        {"day": "2026-11-10", "total": 8, "denied": 3, "rate": 3 / 8}
    ]
    assert body["denials"]["per_system"] == [
        {"system": "edu-enrolment", "total": 4, "denied": 1, "rate": 0.25},
        {"system": "mca-dibao", "total": 4, "denied": 2, "rate": 0.5},
    ]


def test_entries_outside_the_range_are_not_counted(
    client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    log.add([at(-1, 12), at(0, 12), at(1, 12)])
    body = stats(client, auditor, at(0, 0), at(1, 0))
    assert [r["count"] for r in body["per_day_department"]] == [1]


# -- anomaly rule (a): a system far above its own baseline ----------------------------------


def test_a_spike_far_above_the_systems_baseline_is_flagged(
    client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    log.add(steady(range(-14, 0), 40))  # fourteen quiet days of 40
    log.add(steady(range(0, 1), 400))  # then ten times as many
    body = stats(client, auditor, at(0, 0), at(1, 0))
    [spike] = [a for a in body["anomalies"] if a["kind"] == "volume_spike"]
    assert spike["system"] == "edu-enrolment"
    assert spike["day"] == "2026-11-10"
    assert spike["count"] == 400
    assert spike["baseline_mean"] == 40
    assert spike["baseline_sd"] == 0


def test_a_day_within_the_baseline_is_not_flagged(
    client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    # A system that swings between 100 and 300 a day: 290 is within mean + 3 sd.
    for d in range(-14, 0):
        log.add(steady(range(d, d + 1), 100 if d % 2 else 300))
    log.add(steady(range(0, 1), 290))
    body = stats(client, auditor, at(0, 0), at(1, 0))
    assert [a for a in body["anomalies"] if a["kind"] == "volume_spike"] == []


def test_a_small_system_below_the_minimum_count_is_not_flagged(
    client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    log.add(steady(range(-14, 0), 1))
    log.add(steady(range(0, 1), 30))  # thirty times its baseline, but only 30
    body = stats(client, auditor, at(0, 0), at(1, 0))
    assert body["anomalies"] == []


# -- anomaly rule (b): bulk access at night -------------------------------------------------


def test_bulk_access_at_night_is_flagged(
    client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    night = [at(0, 2, n) for n in range(25)]  # 25 between 02:00 and 02:25 China time
    log.add(night, system="mca-dibao", department="MCA")
    body = stats(client, auditor, at(0, 0), at(1, 0))
    assert body["anomalies"] == [
        {"kind": "night_bulk", "system": "mca-dibao", "day": "2026-11-10", "count": 25,
         "threshold": 20}
    ]  # fmt: skip


def test_the_same_volume_by_day_or_a_few_at_night_is_not_flagged(
    client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    log.add([at(0, 10, n) for n in range(25)])  # 25 in the morning
    log.add([at(0, 6, 0)] * 10)  # 06:00 is no longer night
    log.add([at(0, 23, 59)] * 10)  # late evening is not the night window
    log.add([at(0, 5, 59)] * 20)  # exactly the threshold, not more
    body = stats(client, auditor, at(0, 0), at(1, 0))
    assert [a for a in body["anomalies"] if a["kind"] == "night_bulk"] == []


def test_rules_are_thresholds_not_constants() -> None:
    """The same rows flag or not as the thresholds move (pure function, no database)."""
    rows = [Row(at(0, 1, n), "s-one", "EDU", "p", "released") for n in range(5)]
    strict = compute_stats(
        rows, since=at(0, 0), until=at(1, 0), rules=AnomalyRules(night_threshold=4)
    )
    lax = compute_stats(rows, since=at(0, 0), until=at(1, 0), rules=AnomalyRules(night_threshold=5))
    assert [a["kind"] for a in strict.anomalies()] == ["night_bulk"]
    assert lax.anomalies() == []


# -- who may ask, and bad input ----------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.DEPARTMENT_ADMIN, Role.CITIZEN])
def test_only_auditors_may_read_the_statistics(
    client: TestClient, staff_token: Callable[..., str], role: Role
) -> None:
    headers = {"Authorization": f"Bearer {staff_token(role, 'EDU')}"}
    response = client.get("/audit/stats", headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/audit/stats").status_code == 401


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"since": "2026-11-10T00:00:00"}, "/since"),
        ({"since": "2026-11-10T00:00:00Z", "until": "2026-11-09T00:00:00Z"}, "/since"),
        ({"since": "2026-01-01T00:00:00Z", "until": "2026-11-09T00:00:00Z"}, "/since"),
        ({"until": "not a time"}, "/until"),
        ({"since": "0001-01-01T00:00:00+08:00"}, "/since"),
        ({"until": "9999-12-31T23:59:59-08:00"}, "/until"),
    ],
)
def test_a_bad_range_is_a_precise_problem(
    client: TestClient, auditor: dict[str, str], params: dict[str, str], pointer: str
) -> None:
    response = client.get("/audit/stats", params=params, headers=auditor)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "malformed_request"
    assert any(e["pointer"] == pointer for e in problem["errors"]), problem


def test_the_default_range_is_the_last_thirty_days(
    client: TestClient, log: Log, auditor: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    log.add([now - timedelta(days=40), now - timedelta(days=2), now - timedelta(minutes=5)])
    response = client.get("/audit/stats", headers=auditor)
    assert response.status_code == 200
    body = response.json()
    assert sum(r["count"] for r in body["per_day_department"]) == 2
    assert len(body["days"]) in {30, 31}
