"""Attack: spend an agreement's daily quota many times over by asking all at once.

A real hub (``tongban demo`` then ``tongban serve``, one or two processes) on SQLite or on one
PostgreSQL database; the edu-enrolment system's property agreement gets a daily quota of 3, and
120 queries for a conditional property field leave at the same instant. The review saw 41 of them
released. Exactly 3 may be: the other 117 are denied ``quota_exceeded``, and the audit log and
the use counter say the same.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from exchange.agreements.lifecycle import log_agreement_event
from exchange.agreements.models import Agreement
from exchange.agreements.terms import sign_terms
from exchange.audit.lifecycle import hold_log
from exchange.audit.models import AuditRecord
from exchange.db import make_engine, make_sessionmaker, unit_of_work
from exchange.hub import Hub
from exchange.security.clientauth import CLIENT_ASSERTION_TYPE
from exchange.settings import Settings
from tests import factories
from tests.conftest import POSTGRES_ENV, throwaway_database
from tests.servers import build_demo, dev_environment, serving

EDU = "edu-enrolment"
PROPERTY = "AG-DEMO-EDU-REG-0001"
SOCIAL_INSURANCE = "AG-DEMO-EDU-HRSS-0001"
CERTIFICATE = "property.certificate_no"
MONTHS_PAID = "social_insurance.months_paid"
QUOTA = 3
SHOTS = 120
CHINA = timezone(timedelta(hours=8))
VOLLEY_S = 120  # more than a volley and its checks take on this machine


def clear_of_china_midnight(now: datetime | None = None) -> float:
    """Seconds to wait so that a volley starting now cannot straddle a China day (the quota is
    counted per China day: a volley across midnight may rightly release more)."""
    now = now or datetime.now(CHINA)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    left = (midnight - now).total_seconds()
    return left + 1 if left < VOLLEY_S else 0.0


@contextmanager
def hub_database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'var' / 'tongban.db'}"
        return
    with throwaway_database(POSTGRES_ENV, "the quota race on PostgreSQL") as url:
        yield url


def set_quotas(world: QuotaWorld, quotas: dict[str, int]) -> None:
    """The provider's approval, as the hub stores it: each agreement's daily quota in its terms,
    signed with the serving hubs' keys (their dev secret is the workdir's) and logged; today's
    uses cleared; the volley that follows starts clear of China midnight."""
    time.sleep(clear_of_china_midnight())
    engine = make_engine(world.database_url)
    served = Settings(
        mode="dev", secret_file=world.workdir / "var" / "secret.key", adapters_file=None
    )
    keys = Hub.from_settings(served).keys
    try:
        with unit_of_work(make_sessionmaker(engine), write=True) as session:
            hold_log(session)
            for agreement_id, quota in quotas.items():
                agreement = session.get(Agreement, agreement_id, with_for_update=True)
                assert agreement is not None
                agreement.daily_quota = quota
                sign_terms(session, keys, agreement, now=datetime.now(UTC))
                log_agreement_event(session, agreement, "approved")
            session.execute(text("DELETE FROM agreement_usage"))
    finally:
        engine.dispose()


def uses_and_entries(database_url: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Today's use count per agreement, and every query entry (not the lifecycle entries)."""
    engine = make_engine(database_url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            uses = {
                agreement_id: count
                for agreement_id, count in session.execute(
                    text("SELECT agreement_id, count FROM agreement_usage")
                )
            }
            queries = select(AuditRecord.entry).where(AuditRecord.object_id.is_(None))
            entries = [json.loads(r) for r in session.scalars(queries)]
    finally:
        engine.dispose()
    return uses, entries


def access_token(base: str, key: dict[str, Any]) -> str:
    """A token of the edu-enrolment system from this hub (each hub is its own issuer)."""
    assertion = factories.client_assertion(key, EDU, f"{base}/oauth/token")
    response = httpx.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def volley(bases: Sequence[str], tokens: Sequence[str], body: dict[str, Any]) -> list[Any]:
    """SHOTS identical queries, spread over the hubs, released at one instant by a barrier."""
    start = threading.Barrier(SHOTS)

    def shoot(n: int) -> tuple[int, dict[str, Any]]:
        base, token = bases[n % len(bases)], tokens[n % len(tokens)]
        with httpx.Client(timeout=120) as http:
            start.wait(timeout=60)
            response = http.post(
                f"{base}/exchange/query",
                json=body,
                headers={"authorization": f"Bearer {token}"},
            )
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=SHOTS) as pool:
        return list(pool.map(shoot, range(SHOTS)))


class QuotaWorld:
    """A demo world, its hubs running, and the key of the edu-enrolment system."""

    def __init__(self, workdir: Path, database_url: str, bases: list[str]) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.bases = bases
        self.key: dict[str, Any] = json.loads(
            (workdir / "var/demo/keys" / f"{EDU}.jwk").read_text("utf-8")
        )
        self.manifest: dict[str, Any] = json.loads(
            (workdir / "var/demo/demo.json").read_text("utf-8")
        )

    def tokens(self) -> list[str]:
        return [access_token(base, self.key) for base in self.bases]

    def subjects(self, *kinds: str) -> list[str]:
        return [str(s["id"]) for s in self.manifest["subjects"] if s["kind"] in kinds]


@contextmanager
def quota_world(backend: str, hubs: int, workdir: Path) -> Iterator[QuotaWorld]:
    with hub_database(backend, workdir) as database_url, ExitStack() as running:
        settings = {"TONGBAN_DATABASE_URL": database_url}
        build_demo(workdir, citizens=50, **settings)
        bases = [
            running.enter_context(serving(workdir, dev_environment(**settings)))
            for _ in range(hubs)
        ]
        yield QuotaWorld(workdir, database_url, bases)


def ask(subject: str, attributes: list[str], **more: Any) -> dict[str, Any]:
    return {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": "school-enrolment",
        "attributes": attributes,
        **more,
    }


@pytest.mark.parametrize(
    ("backend", "hubs"),
    [("sqlite", 1), ("postgresql", 1), ("postgresql", 2)],
    ids=["sqlite", "postgresql", "two-hubs-on-postgresql"],
)
def test_a_volley_of_queries_gets_exactly_the_daily_quota_released(
    backend: str, hubs: int, tmp_path: Path
) -> None:
    with quota_world(backend, hubs, tmp_path) as world:
        set_quotas(world, {PROPERTY: QUOTA})
        [subject, *_] = world.subjects("has_property")
        answers = volley(world.bases, world.tokens(), ask(subject, [CERTIFICATE]))
        uses, entries = uses_and_entries(world.database_url)

    assert [status for status, _ in answers] == [200] * SHOTS, answers[:3]
    released = [body for _, body in answers if CERTIFICATE in body["attributes"]]
    refused = [body["denied"].get(CERTIFICATE) for _, body in answers if body not in released]
    assert len(released) == QUOTA
    assert refused == ["quota_exceeded"] * (SHOTS - QUOTA)
    assert all(body["evidence"] for body in released)
    # The log tells the same story: 3 releases, 117 refusals for the quota; and 3 uses counted.
    outcomes = sorted(
        (e["attributes"][CERTIFICATE]["outcome"], e["attributes"][CERTIFICATE].get("reason"))
        for e in entries
    )
    assert outcomes == sorted(
        [("released", None)] * QUOTA + [("denied", "quota_exceeded")] * (SHOTS - QUOTA)
    )
    assert uses == {PROPERTY: QUOTA}


def test_all_or_nothing_queries_over_a_used_up_quota_release_and_count_nothing(
    tmp_path: Path,
) -> None:
    """Each query needs two agreements' fields, all or nothing; one agreement's quota is 3.
    The 117 refused queries release nothing, so they count no use of the other agreement."""
    with quota_world("sqlite", 1, tmp_path) as world:
        [token] = world.tokens()
        subject = next(
            s
            for s in world.subjects("has_property", "school_age_with_property", "consent_candidate")
            if _complete(world.bases[0], token, s)
        )
        set_quotas(world, {PROPERTY: QUOTA, SOCIAL_INSURANCE: 10_000})
        body = ask(subject, [CERTIFICATE, MONTHS_PAID], all_or_nothing=True)
        answers = volley(world.bases, world.tokens(), body)
        uses, entries = uses_and_entries(world.database_url)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * QUOTA + [409] * (SHOTS - QUOTA)
    withheld = [problem for status, problem in answers if status == 409]
    assert all(p["code"] == "incomplete" for p in withheld)
    assert all(p["denied"] == {CERTIFICATE: "quota_exceeded"} for p in withheld)
    assert uses == {PROPERTY: QUOTA, SOCIAL_INSURANCE: QUOTA}
    over_quota = [
        e for e in entries if e["attributes"][CERTIFICATE].get("reason") == "quota_exceeded"
    ]
    assert [e["outcome"] for e in over_quota] == ["withheld"] * (SHOTS - QUOTA)
    assert all(e["attributes"][MONTHS_PAID]["outcome"] == "withheld" for e in over_quota)


def _complete(base: str, token: str, subject: str) -> bool:
    """Whether both fields of the subject can be released (the subject has both records)."""
    response = httpx.post(
        f"{base}/exchange/query",
        json=ask(subject, [CERTIFICATE, MONTHS_PAID], all_or_nothing=True),
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.status_code == 200


def test_a_volley_never_starts_within_its_length_of_china_midnight() -> None:
    late = datetime(2026, 12, 6, 23, 59, 30, tzinfo=CHINA)
    assert clear_of_china_midnight(late) == 31.0
    assert clear_of_china_midnight(datetime(2026, 12, 6, 23, 50, tzinfo=CHINA)) == 0.0
