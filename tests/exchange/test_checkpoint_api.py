"""GET /audit/checkpoint and /audit/checkpoint/key: signed notes anyone can verify; a new
checkpoint when the log has grown and the interval passed (or on an auditor's request), and
consecutive checkpoints provably consistent."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from exchange.app import create_app
from exchange.audit import merkle
from exchange.audit.checkpoint import Checkpoint, parse_vkey
from exchange.audit.log import AuditLog
from exchange.db import make_engine, make_sessionmaker, unit_of_work
from exchange.security.identity import Role
from exchange.settings import Settings
from tests.audit.test_log import work_of
from tests.profiles import GM


@pytest.fixture
def hub(database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url, mode="dev", adapters_file=None, checkpoint_interval_s=1
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _append(database_url: str, count: int) -> None:
    engine = make_engine(database_url)
    log = AuditLog(make_sessionmaker(engine))
    for n in range(count):
        log.append(work_of(n))
    engine.dispose()


def _checkpoint(hub: TestClient) -> Checkpoint:
    response = hub.get("/audit/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    verifier = parse_vkey(hub.get("/audit/checkpoint/key").text.strip())
    return verifier.verify(response.text, origin="tongban.local/audit-log")


def test_the_empty_log_has_a_verifiable_checkpoint(hub: TestClient) -> None:
    checkpoint = _checkpoint(hub)
    assert (checkpoint.size, checkpoint.root) == (0, merkle.root([]))
    key = hub.get("/audit/checkpoint/key").text.strip()
    name, key_id, public = key.split("+", 2)  # base64 may hold "+" too
    assert name == "tongban.local/audit-log"
    assert len(key_id) == 8
    # the signed-note key type: Ed25519's byte, or gm's 0xff ‖ "tongban/sm2-sm3" (docs/gm.md)
    key_type = b"\xfftongban/sm2-sm3" if GM else b"\x01"
    assert base64.b64decode(public).startswith(key_type)


def test_a_grown_log_gets_a_new_consistent_checkpoint(hub: TestClient, database_url: str) -> None:
    first = _checkpoint(hub)
    _append(database_url, 5)
    time.sleep(1.1)  # the interval is 1 s
    second = _checkpoint(hub)
    assert second.size == 5
    _append(database_url, 6)
    time.sleep(1.1)
    third = _checkpoint(hub)
    assert third.size == 11
    proof = hub.get("/audit/proof/consistency", params={"from": 5, "to": 11}).json()
    hashes = [base64.b64decode(h) for h in proof["proof"]]
    assert merkle.verify_consistency(5, 11, hashes, second.root, third.root)
    assert first.size == 0


def test_within_the_interval_the_checkpoint_stays(hub: TestClient, database_url: str) -> None:
    size = _checkpoint(hub).size
    for _ in range(5):  # a loaded machine may spend the interval itself between the two asks
        _append(database_url, 1)
        time.sleep(1.1)  # the interval is 1 s: the next ask signs the grown log now
        before = _checkpoint(hub)
        signed = time.monotonic()
        _append(database_url, 3)
        again = _checkpoint(hub)  # asked again at once
        size += 4
        if time.monotonic() - signed < 0.8:
            break
    assert before.size == size - 3
    assert again == before  # the same signed note: not re-signed within the interval
    time.sleep(1.1)
    assert _checkpoint(hub).size == size


def test_an_auditor_can_ask_for_a_checkpoint_now(
    hub: TestClient, database_url: str, staff_token: Callable[..., str]
) -> None:
    _append(database_url, 4)
    auditor = {"authorization": f"Bearer {staff_token(Role.AUDITOR, None)}"}
    signed = hub.post("/audit/checkpoint", headers=auditor)
    assert signed.status_code == 200
    assert signed.text.split("\n")[1] == "4"
    admin = {"authorization": f"Bearer {staff_token(Role.DEPARTMENT_ADMIN, 'PSB')}"}
    assert hub.post("/audit/checkpoint", headers=admin).status_code == 403
    assert hub.post("/audit/checkpoint").status_code == 401


def test_the_schedule_signs_without_anyone_asking(hub: TestClient, database_url: str) -> None:
    _append(database_url, 2)
    engine = make_engine(database_url)
    signer = hub.app.state.hub.checkpoints  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 5
        latest = None
        while time.monotonic() < deadline:
            with unit_of_work(make_sessionmaker(engine)) as session:
                latest = signer.latest(session)
            if latest is not None and latest.size == 2:
                break
            time.sleep(0.2)
        assert latest is not None
        assert latest.size == 2
    finally:
        engine.dispose()
