"""Breaches that come from real traffic through the exchange: a correction request (校核) left
unanswered past its clock, and the first use of an agreement through the query API starting the
usage-record duty, on a hub over the demo world with its legacy sources (SQLite and
PostgreSQL). The compliance view names the correction's attribute and provider, never the
person."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from exchange.compliance.breaches import USAGE_RECORD_DAYS, derive_breaches
from exchange.corrections.models import FiledBy
from exchange.corrections.service import CorrectionAsk, Filer
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.security.identity import Role
from tests.exchange.world import Hub, Person, hub_over, showcase_people

AGREEMENT = "AG-DEMO-EDU-REG-0001"  # the demo's school enrolment agreement on property data


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=200, seed=31)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    yield from hub_over(database_url, sessions, live_demo_world, city.adapters_file)


def _handled(hub: Hub, person: str) -> dict[str, Any]:
    answer = hub.query(
        {
            "subject": {"id_type": "CN-RIC", "id": person},
            "purpose": "school-enrolment",
            "service_item": "EDU-RXDJ-001",
        }
    )
    assert answer.status_code == 200, answer.text
    released: dict[str, Any] = answer.json()
    return released


def test_an_unanswered_correction_is_a_breach_of_its_source_department(
    hub: Hub, city: LegacyWorld
) -> None:
    person = showcase_people(city)["has_property"]
    answer = _handled(hub, person)
    attribute = sorted(answer["attributes"])[0]
    desk = hub.client.app.state.hub.corrections  # type: ignore[attr-defined]
    filed = desk.file(
        Filer(FiledBy.SYSTEM, "edu-enrolment", "EDU"),
        CorrectionAsk(person, attribute, "窗口核对发现信息有误", answer["request_id"]),
        datetime.now(UTC) - timedelta(days=40),
    )
    authority = Person(hub, "dsj-reviewer", Role.DATA_AUTHORITY)
    seen = authority.get("/authority/compliance/breaches", kind="late_correction")
    assert seen.status_code == 200, seen.text
    [breach] = seen.json()["breaches"]
    assert (breach["case"], breach["article"]["number"], breach["open"]) == (
        {"kind": "correction", "id": filed.id, "href": None},
        39,
        True,
    )
    assert (breach["department"], breach["counterpart"]) == (filed.provider, "EDU")
    assert person not in seen.text
    clocks = authority.get("/authority/compliance/clocks", overdue="true").json()["clocks"]
    assert {"correction"} <= {c["kind"] for c in clocks}
    assert person not in str(clocks)
    # answered (late): put right on the day of the answer
    desk.reject(
        filed.provider,
        f"{filed.provider.lower()}-admin",
        filed.id,
        "经核实信息无误",
        datetime.now(UTC),
    )
    [answered] = authority.get("/authority/compliance/breaches", kind="late_correction").json()[
        "breaches"
    ]
    assert not answered["open"]
    assert answered["working_days_late"] > 0


def test_the_first_use_through_the_query_api_starts_the_usage_record_duty(
    hub: Hub, city: LegacyWorld
) -> None:
    _handled(hub, showcase_people(city)["has_property"])
    now = datetime.now(UTC)
    with unit_of_work(hub.sessions) as session:
        today = {(b.kind.value, b.case.id) for b in derive_breaches(session, now)}
        later = derive_breaches(session, now + timedelta(days=USAGE_RECORD_DAYS + 2))
    assert ("missing_usage_records", AGREEMENT) not in today
    [due] = [b for b in later if (b.kind.value, b.case.id) == ("missing_usage_records", AGREEMENT)]
    assert (due.department, due.counterpart, due.open) == ("EDU", "REG", True)
