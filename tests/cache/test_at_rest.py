"""Encryption at rest: the cache tables, read raw, hold no ID number and no field value; a
sealed record moved to another row, or read under another hub secret, does not open."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from catalogue.identifiers import make_resident_id
from exchange.db import unit_of_work
from exchange.sources.cache.crypto import CacheCrypto
from exchange.sources.cache.keyring import DataKeys
from exchange.sources.cache.models import CacheRecord
from exchange.sources.cache.reader import SourceCache
from exchange.sources.cache.sync import CacheSync
from exchange.sources.errors import CacheIntegrityError
from exchange.sources.registry import SourceRegistry
from tests.cache.conftest import RESOURCE, LegacyTable

TABLES = ("cache_records", "cache_data_keys", "cache_sync_state")


def _raw_bytes(sessions: sessionmaker[Session]) -> bytes:
    """Every cell of the cache tables, as bytes, as a reader of the database files sees it."""
    dump = bytearray()
    with unit_of_work(sessions) as session:
        for table in TABLES:
            for row in session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608 - fixed names
                for cell in row:
                    dump += cell if isinstance(cell, bytes | memoryview) else str(cell).encode()
                    dump += b"\x1f"
    return bytes(dump)


def test_no_id_number_or_value_is_stored_in_clear(
    syncer: CacheSync, legacy: LegacyTable, sessions: sessionmaker[Session], reader: SourceCache
) -> None:
    subjects = [make_resident_id("330102", date(1990, 1, d), 40 + d) for d in range(1, 6)]
    employers = [
        "杭州望江数据服务有限公司",
        "演示市第一人民医院",
        "Acme Pump Works",
        "望江小学",
        "X",
    ]
    legacy.insert(
        [(s, "2", 360 + i, e, 1) for i, (s, e) in enumerate(zip(subjects, employers, strict=True))]
    )
    syncer.run(RESOURCE)
    raw = _raw_bytes(sessions)
    for subject in subjects:
        assert subject.encode() not in raw
        assert subject[-6:].encode() not in raw
    for employer in employers[:4]:
        assert employer.encode() not in raw
    assert b"suspended" not in raw
    for months in range(360, 365):
        assert f'"months_paid":{months}'.encode() not in raw
    (record,), _ = reader.read(RESOURCE, subjects[0], ["current_employer_name"])
    assert record.values == {"current_employer_name": employers[0]}


def test_a_record_moved_to_another_subject_does_not_decrypt(
    syncer: CacheSync, legacy: LegacyTable, sessions: sessionmaker[Session], reader: SourceCache
) -> None:
    legacy.insert([("A1", "1", 1, "甲", 1), ("B2", "1", 2, "乙", 1)])
    syncer.run(RESOURCE)
    with unit_of_work(sessions, write=True) as session:
        first, second = session.scalars(select(CacheRecord).order_by(CacheRecord.subject)).all()
        sealed = first.sealed
        session.execute(
            update(CacheRecord).where(CacheRecord.subject == second.subject).values(sealed=sealed)
        )
    opened: list[Mapping[str, Any] | None] = []
    for subject in ("A1", "B2"):
        try:
            opened.append(reader.read(RESOURCE, subject, ["months_paid"])[0][0].values)
        except CacheIntegrityError:
            opened.append(None)
    assert opened.count(None) == 1  # the moved one fails; its original still opens
    assert {"months_paid": 1} in opened or {"months_paid": 2} in opened


def test_another_hub_secret_cannot_unwrap_the_data_keys(
    syncer: CacheSync,
    legacy: LegacyTable,
    sessions: sessionmaker[Session],
    registry: SourceRegistry,
) -> None:
    legacy.insert([("A1", "1", 1, "甲", 1)])
    syncer.run(RESOURCE)
    other = CacheCrypto("another-secret-" * 3)
    # Another secret cannot even find the subject's row (its pseudonyms differ) …
    assert SourceCache(sessions, registry, other).read(RESOURCE, "A1", ["months_paid"])[0] == []
    # … nor unwrap the department's data key that sealed it.
    with unit_of_work(sessions) as session, pytest.raises(CacheIntegrityError):
        DataKeys(other).get(session, "HRSS", 1)
