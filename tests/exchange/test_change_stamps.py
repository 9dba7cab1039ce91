"""What a worker keeps in memory between requests (``exchange.changes``), on SQLite and
PostgreSQL: each domain's stamp is replaced by the database in a transaction that changes the
domain's tables, and only then; a query reads the catalogue, its system, the agreements and
the hub's keys again only after such a change; a second worker on the same database sees a
change made by the first at its next request."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import SourceAdapter
from catalogue.models import Department, System
from exchange.agreements.models import Agreement
from exchange.agreements.service import revoke_agreement
from exchange.audit.models import AuditRecord
from exchange.changes import Cached, Domain, HubChange, stamps
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.security.identity import Principal, Role
from exchange.security.keys import HubKeys
from exchange.security.models import HubSigningKey
from exchange.settings import Settings
from tests.exchange.world import Hub, hub_over, showcase_people

DEMO_AGREEMENT = "AG-DEMO-EDU-REG-0001"
CACHED_TABLES = (
    "departments",
    "resources",
    "resource_versions",
    "resource_fields",
    "service_items",
    "service_item_versions",
    "systems",
    "system_keys",
    "agreements",
    "hub_signing_keys",
)


def all_stamps(sessions: sessionmaker[Session]) -> dict[str, str]:
    with unit_of_work(sessions) as session:
        return {row.domain: row.stamp for row in session.scalars(select(HubChange))}


# -- the stamps ------------------------------------------------------------------------------


def test_every_domain_has_a_random_stamp_from_the_migration(
    sessions: sessionmaker[Session],
) -> None:
    found = all_stamps(sessions)
    assert set(found) == {domain.value for domain in Domain}
    assert all(re.fullmatch(r"[0-9a-f]{32}", stamp) for stamp in found.values())
    assert len(set(found.values())) == len(found)


@pytest.mark.parametrize(
    ("domain", "statement"),
    [
        (Domain.CATALOGUE, update(Department).values(name=Department.name)),
        (Domain.SYSTEMS, update(System).values(name=System.name)),
        (Domain.AGREEMENTS, update(Agreement).values(purposes=Agreement.purposes)),
        (Domain.KEYS, update(HubSigningKey).values(alg=HubSigningKey.alg)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_change_to_a_domain_replaces_its_stamp_and_no_other(
    sessions: sessionmaker[Session], demo_world: Path, domain: Domain, statement: Any
) -> None:
    before = all_stamps(sessions)
    with unit_of_work(sessions, write=True) as session:
        assert session.execute(statement).rowcount > 0
    after = all_stamps(sessions)
    assert after[domain] != before[domain]
    assert {d: s for d, s in after.items() if d != domain} == {
        d: s for d, s in before.items() if d != domain
    }


def test_an_agreement_entry_in_the_log_replaces_the_agreements_stamp_and_a_query_does_not(
    sessions: sessionmaker[Session], demo_world: Path
) -> None:
    with unit_of_work(sessions) as session:
        logged = session.scalars(select(AuditRecord).order_by(AuditRecord.index)).all()
    kinds = {record.kind for record in logged}
    assert "agreement" in kinds  # the demo's agreements were logged as they were loaded
    size = len(logged)
    with unit_of_work(sessions, write=True) as session:
        before = stamps(session)[Domain.AGREEMENTS]
        for kind, index in (("query", size), ("agreement", size + 1)):
            session.execute(
                insert(AuditRecord).values(
                    index=index,
                    request_id=f"00000000-0000-4000-8000-00000000000{index % 10}",
                    recorded_at=logged[-1].recorded_at,
                    kind=kind,
                    system_id="edu-enrolment",
                    department="EDU",
                    subject="-",
                    purpose="-",
                    outcome="x",
                    entry="{}",
                    leaf_hash=bytes(32),
                )
            )
            now = session.scalar(
                select(HubChange.stamp).where(HubChange.domain == Domain.AGREEMENTS)
            )
            if kind == "query":
                assert now == before
            else:
                assert now != before
        session.rollback()  # the log stays as it was


# -- the cache -------------------------------------------------------------------------------


def test_a_cached_value_is_read_once_per_change_of_its_domain(
    sessions: sessionmaker[Session], demo_world: Path
) -> None:
    read: list[str] = []

    def load(session: Session, system_id: str) -> str | None:
        read.append(system_id)
        return session.scalar(select(System.name).where(System.id == system_id))

    cache: Cached[str, str | None] = Cached(Domain.SYSTEMS, load)
    for _ in range(3):
        with unit_of_work(sessions) as session:
            assert cache.get(session, "edu-enrolment") is not None
    assert read == ["edu-enrolment"]

    with unit_of_work(sessions, write=True) as session:  # another domain: still cached
        session.execute(update(Department).values(name=Department.name))
    with unit_of_work(sessions) as session:
        cache.get(session, "edu-enrolment")
    assert read == ["edu-enrolment"]

    with unit_of_work(sessions, write=True) as session:  # as an operator would, in SQL
        session.execute(
            update(System).where(System.id == "edu-enrolment").values(name="改名后的系统")
        )
    with unit_of_work(sessions) as session:
        assert cache.get(session, "edu-enrolment") == "改名后的系统"
    assert read == ["edu-enrolment", "edu-enrolment"]


def test_a_unit_that_changes_a_domain_reads_its_own_change(
    sessions: sessionmaker[Session], demo_world: Path
) -> None:
    cache: Cached[str, str | None] = Cached(
        Domain.SYSTEMS,
        lambda session, key: session.scalar(select(System.name).where(System.id == key)),
    )
    with unit_of_work(sessions, write=True) as session:
        assert cache.get(session, "edu-enrolment") != "新名称"
        session.execute(update(System).where(System.id == "edu-enrolment").values(name="新名称"))
        session.flush()
        assert cache.get(session, "edu-enrolment") == "新名称"


def test_a_second_worker_sees_a_rotation_by_the_first_at_once(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    settings = Settings(database_url=database_url, mode="dev")
    first, second = HubKeys(settings), HubKeys(settings)  # two processes' caches
    with unit_of_work(sessions, write=True) as session:
        original = first.current(session)
    with unit_of_work(sessions) as session:
        assert [k.kid for k in second.published(session)] == [original.kid]
    with unit_of_work(sessions, write=True) as session:
        rotated = first.rotate(session)
    with unit_of_work(sessions) as session:
        assert [k.kid for k in second.published(session)] == [rotated.kid, original.kid]


# -- what a query reads ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=100, seed=5)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    yield from hub_over(database_url, sessions, live_demo_world, city.adapters_file)


def tables_read(hub: Hub, body: dict[str, Any], token: str) -> set[str]:
    """The cached domains' tables that the hub's statements named while answering *body*."""
    return set(statements_naming(hub, body, token)) & set(CACHED_TABLES)


def statements_naming(hub: Hub, body: dict[str, Any], token: str) -> list[str]:
    """Each table named by each statement the hub ran while answering *body*."""
    engine: Engine = hub.client.app.state.hub.sessions.kw["bind"]  # type: ignore[attr-defined]
    named: list[str] = []
    pattern = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+\"?(\w+)", re.IGNORECASE)

    def seen(*args: Any) -> None:
        named.extend(pattern.findall(args[2]))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = hub.client.post(
            "/exchange/query", json=body, headers={"authorization": f"Bearer {token}"}
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert answer.status_code == 200, answer.text
    return named


def test_a_query_reads_the_stamps_once_for_its_token_check_and_its_decision(
    hub: Hub, city: LegacyWorld
) -> None:
    body = {
        "subject": {"id_type": "CN-RIC", "id": showcase_people(city)["has_property"]},
        "purpose": "school-enrolment",
        "attributes": ["household.name"],
    }
    token = hub.token()
    statements_naming(hub, body, token)
    assert statements_naming(hub, body, token).count("hub_changes") == 1


def test_a_query_reads_the_catalogue_systems_agreements_and_keys_only_after_a_change(
    hub: Hub, sessions: sessionmaker[Session], city: LegacyWorld
) -> None:
    subject = showcase_people(city)["has_property"]
    body = {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": "school-enrolment",
        "attributes": ["household.name", "household.birth_date"],
    }
    token = hub.token()
    tables_read(hub, body, token)  # the first request of this worker reads them
    assert tables_read(hub, body, token) == set()

    with unit_of_work(sessions, write=True) as session:  # e.g. a revocation elsewhere
        session.execute(
            update(Agreement)
            .where(Agreement.id == DEMO_AGREEMENT)
            .values(purposes=Agreement.purposes)
        )
    again = tables_read(hub, body, token)
    assert "agreements" in again
    assert not again & {"resources", "systems", "hub_signing_keys"}
    assert tables_read(hub, body, token) == set()


def test_a_revocation_committed_while_a_query_fetches_takes_back_what_it_granted(
    hub: Hub, city: LegacyWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grants are read from memory before the fetch; the revocation commits during the
    fetch; the write unit sees the agreements' stamp moved and checks the rows again."""
    subject = showcase_people(city)["has_property"]
    body = {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": "school-enrolment",
        "attributes": ["property.owners", "household.name"],
    }
    token = hub.token()
    assert "property.owners" in tables_read_answer(hub, body, token)["attributes"]

    app_sessions = hub.client.app.state.hub.sessions  # type: ignore[attr-defined]
    original = SourceAdapter.begin_fetch_all
    revoked: list[str] = []

    once = threading.Lock()  # the two departments are fetched on two threads

    def revoke_during_the_fetch(self: SourceAdapter, subject_id: str, fields: Any) -> Any:
        with once:
            if revoked:
                return original(self, subject_id, fields)
            admin = Principal("reg-admin-1", Role.DEPARTMENT_ADMIN, "REG", "test")
            with unit_of_work(app_sessions, write=True) as session:
                revoke_agreement(
                    session,
                    admin,
                    DEMO_AGREEMENT,
                    reason="审计发现超范围使用",
                    now=datetime.now(UTC),
                )
            revoked.append(DEMO_AGREEMENT)
        return original(self, subject_id, fields)

    monkeypatch.setattr(SourceAdapter, "begin_fetch_all", revoke_during_the_fetch)
    answer = tables_read_answer(hub, body, token)
    assert revoked == [DEMO_AGREEMENT]
    assert "property.owners" not in answer["attributes"]
    assert answer["denied"]["property.owners"] == "not_granted"
    assert "household.name" in answer["attributes"]
    with unit_of_work(hub.sessions) as session:
        newest = session.scalars(
            select(AuditRecord).order_by(AuditRecord.index.desc()).limit(1)
        ).one()
    assert '"property.owners":{"agreement":"AG-DEMO-EDU-REG-0001"' in newest.entry
    assert '"outcome":"denied"' in newest.entry.split('"property.owners":')[1].split("}")[0]


def tables_read_answer(hub: Hub, body: dict[str, Any], token: str) -> Any:
    answer = hub.client.post(
        "/exchange/query", json=body, headers={"authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- a token this worker remembers ---------------------------------------------------------------


def query_with(hub: Hub, token: str, city: LegacyWorld) -> Any:
    body = {
        "subject": {"id_type": "CN-RIC", "id": showcase_people(city)["has_property"]},
        "purpose": "school-enrolment",
        "attributes": ["household.name"],
    }
    return hub.client.post(
        "/exchange/query", json=body, headers={"authorization": f"Bearer {token}"}
    )


def test_a_remembered_token_of_a_system_suspended_since_is_refused_before_anything(
    hub: Hub, sessions: sessionmaker[Session], city: LegacyWorld
) -> None:
    token = hub.token()
    assert query_with(hub, token, city).status_code == 200  # now remembered by this worker
    logged = len(hub.audit())
    with unit_of_work(sessions, write=True) as session:
        session.execute(
            update(System).where(System.id == "edu-enrolment").values(status="suspended")
        )
    refused = query_with(hub, token, city)
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "invalid_token"
    assert "www-authenticate" in refused.headers
    assert len(hub.audit()) == logged  # nothing decided, fetched or written for it
    with unit_of_work(sessions, write=True) as session:
        session.execute(update(System).where(System.id == "edu-enrolment").values(status="active"))
    assert query_with(hub, token, city).status_code == 200


def test_a_remembered_token_whose_key_was_retired_is_refused(hub: Hub, city: LegacyWorld) -> None:
    token = hub.token()
    assert query_with(hub, token, city).status_code == 200
    parts = hub.client.app.state.hub  # type: ignore[attr-defined]
    for _ in range(2):  # the previous key stays published; the one before is retired
        with unit_of_work(parts.sessions, write=True) as session:
            parts.keys.rotate(session)
    refused = query_with(hub, token, city)
    assert refused.status_code == 401, refused.text


def test_a_bad_token_is_refused_before_the_body_is_looked_at(hub: Hub) -> None:
    answer = hub.client.post(
        "/exchange/query", json={"not": "a query"}, headers={"authorization": "Bearer x.y.z"}
    )
    assert answer.status_code == 401, answer.text
