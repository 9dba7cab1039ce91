"""The audit log under real processes: ``tongban demo`` builds a world, ``tongban serve`` runs
the hub on a free loopback port, client threads send queries over HTTP, and the log is then read
from the database and checked by ``tongban audit verify``.

- A hub killed with SIGKILL in the middle of a load (SQLite, and PostgreSQL when
  ``TONGBAN_TEST_POSTGRES_URL`` is set) has an entry, with the same index and leaf hash, for
  every query it answered 200; its log verifies; restarted on the same database it appends to
  the same tree (its checkpoints are consistent with the one signed before the kill).
- Two ``tongban serve`` workers on one PostgreSQL database, appending at once, make one tree:
  no gap, no duplicate index, every receipt present, and a checkpoint signed by one worker
  verifies with the other's key and has the root ``verify`` recomputes.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit import merkle
from exchange.audit.checkpoint import Checkpoint, parse_vkey
from exchange.audit.models import AuditHead, AuditRecord
from exchange.audit.verify import verify_log
from exchange.db import make_engine, make_sessionmaker, unit_of_work
from exchange.security.clientauth import CLIENT_ASSERTION_TYPE
from tests import factories
from tests.conftest import POSTGRES_ENV, throwaway_database
from tests.profiles import PROFILE
from tests.servers import TONGBAN, free_port

SECRET = "durability-test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
ORIGIN = "durability.test/audit-log"
EDU = "edu-enrolment"
PURPOSE = "school-enrolment"
ENROLMENT = "EDU-RXDJ-001"
ATTRIBUTES = ("household.name", "household.registered_address")
READY_S = 30.0
CHECKPOINT_INTERVAL_S = 1  # each worker's schedule signs checkpoints during the load, too


# -- the world and its hub processes ----------------------------------------------------------


@dataclass(frozen=True)
class World:
    """A demo world built by ``tongban demo`` in *workdir*, its hub database at *database_url*."""

    workdir: Path
    database_url: str
    subjects: tuple[str, ...]

    def environment(self) -> dict[str, str]:
        """This world's settings, the same for every process (demo, workers, CLI)."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
        return {
            **inherited,
            "TONGBAN_MODE": "dev",
            "TONGBAN_DATABASE_URL": self.database_url,
            "TONGBAN_SECRET_KEY": SECRET,
            "TONGBAN_AUDIT_ORIGIN": ORIGIN,
            "TONGBAN_ADAPTERS_FILE": str(self.workdir / "var/demo/adapters.json"),
            "TONGBAN_CHECKPOINT_INTERVAL_S": str(CHECKPOINT_INTERVAL_S),
            "TONGBAN_CRYPTO_PROFILE": PROFILE,  # the suite's (tests/profiles.py)
        }

    def tongban(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TONGBAN, *args],
            cwd=self.workdir,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def key(self) -> dict[str, Any]:
        key: dict[str, Any] = json.loads(
            (self.workdir / "var/demo/keys" / f"{EDU}.jwk").read_text("utf-8")
        )
        return key


def build_world(workdir: Path, database_url: str) -> World:
    world = World(workdir, database_url, ())
    built = world.tongban("demo", "--citizens", "120")
    assert built.returncode == 0, built.stderr
    manifest = json.loads((workdir / "var/demo/demo.json").read_text("utf-8"))
    return World(workdir, database_url, tuple(s["id"] for s in manifest["subjects"]))


class Hub:
    """One ``tongban serve`` process: the console script itself, not a shell around it, so its
    pid is the server's."""

    def __init__(self, world: World, log: Path, *args: str) -> None:
        self.base = f"http://127.0.0.1:{free_port()}"
        self._log_path = log
        self._log: IO[bytes] = log.open("wb")
        self.process = subprocess.Popen(
            [TONGBAN, "serve", "--port", self.base.rsplit(":", 1)[1], *args],
            cwd=world.workdir,
            env=world.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"tongban serve exited ({self.process.returncode}): {self._tail()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail(f"tongban serve did not come up within {READY_S:.0f} s: {self._tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no goodbye."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    def _tail(self) -> str:
        self._log.flush()
        return self._log_path.read_text("utf-8", errors="replace")[-2000:]


class Hubs:
    """Starts hub processes and stops every one of them at the end of the test."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._started: list[Hub] = []

    def start(self, world: World, *args: str) -> Hub:
        hub = Hub(world, self._logs / f"hub-{len(self._started)}.log", *args)
        self._started.append(hub)
        return hub

    def stop_all(self) -> None:
        """Stop every hub, even when stopping one of them fails; then report the first failure."""
        failures: list[Exception] = []
        for hub in self._started:
            try:
                hub.stop()
            except Exception as exc:  # noqa: BLE001 - the other hubs must still be stopped
                failures.append(exc)
        if failures:
            raise failures[0]


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[Hubs]:
    started = Hubs(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A demo world whose hub database is SQLite, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield build_world(tmp_path, f"sqlite:///{tmp_path / 'var/tongban.db'}")
        return
    with throwaway_database(POSTGRES_ENV, "the PostgreSQL durability test") as url:
        yield build_world(tmp_path, url)


@pytest.fixture
def postgres_world(tmp_path: Path) -> Iterator[World]:
    with throwaway_database(POSTGRES_ENV, "several hub workers on PostgreSQL") as url:
        yield build_world(tmp_path, url)


# -- client load -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A 200 answer's receipt: the worker that gave it, its request id and audit receipt."""

    hub: str
    request_id: str
    index: int
    leaf_hash: bytes


def access_token(http: httpx.Client, world: World) -> str:
    assertion = factories.client_assertion(world.key(), EDU, f"{http.base_url}/oauth/token")
    response = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


class Load:
    """Client threads (``per_hub`` for each hub) sending queries until stopped, or until each
    has sent ``limit``; every 200's receipt is kept. A transport error is expected only once
    :attr:`killed` is set; anything else that goes wrong is kept in :attr:`unexpected`."""

    def __init__(
        self, world: World, bases: Sequence[str], *, per_hub: int, limit: int | None = None
    ) -> None:
        self.answers: list[Answer] = []
        self.unexpected: list[str] = []
        self.killed = threading.Event()
        self._stop = threading.Event()
        self._world = world
        self._limit = limit
        self._lock = threading.Lock()
        self._in_flight = 0
        self._threads = [
            threading.Thread(target=self._run, args=(base, n), daemon=True)
            for base in bases
            for n in range(per_hub)
        ]
        self._start = threading.Barrier(len(self._threads))

    @property
    def answered(self) -> int:
        with self._lock:
            return len(self.answers)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def threads(self) -> int:
        return len(self._threads)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Send no more queries (each thread still waits for the answer it is waiting for)."""
        self._stop.set()

    def join(self, timeout: float = 60) -> None:
        """Wait for every thread's last answer."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        assert not any(t.is_alive() for t in self._threads), "client threads did not finish"

    def _run(self, base: str, offset: int) -> None:
        try:
            with httpx.Client(base_url=base, timeout=30) as http:
                http.headers["authorization"] = f"Bearer {access_token(http, self._world)}"
                self._start.wait(timeout=READY_S)
                sent = 0
                while not self._stop.is_set() and (self._limit is None or sent < self._limit):
                    self._ask(http, base, offset * 7 + sent)
                    sent += 1
        except httpx.TransportError as exc:
            if not self.killed.is_set():
                self._start.abort()
                self._problem(f"{base}: {type(exc).__name__} while the hub was up")
        except BaseException as exc:  # noqa: BLE001 - every failure reaches the test's assertion
            self._start.abort()
            self._problem(f"{base}: {type(exc).__name__}: {exc}")

    def _ask(self, http: httpx.Client, base: str, n: int) -> None:
        body: dict[str, Any] = {
            "subject": {
                "id_type": "CN-RIC",
                "id": self._world.subjects[n % len(self._world.subjects)],
            },
            "purpose": PURPOSE,
            "officer": "EDU-0042",
        }
        if n % 3 == 0:
            body["service_item"] = ENROLMENT
        else:
            body["attributes"] = list(ATTRIBUTES)
        with self._lock:
            self._in_flight += 1
        try:
            response = http.post("/exchange/query", json=body)
        finally:
            with self._lock:
                self._in_flight -= 1
        if response.status_code != 200:  # no personal data: the status and the problem's code
            code = response.json().get("code") if response.content else None
            raise AssertionError(f"HTTP {response.status_code} ({code})")
        answer = response.json()
        receipt = answer["audit"]
        found = Answer(
            base, answer["request_id"], receipt["index"], base64.b64decode(receipt["leaf_hash"])
        )
        with self._lock:
            self.answers.append(found)

    def _problem(self, problem: str) -> None:
        with self._lock:
            self.unexpected.append(problem)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- the stored log --------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredLog:
    """What the database holds: the head's size, and (index, request id, leaf hash) per entry
    in index order."""

    size: int
    entries: list[tuple[int, str, bytes]]

    def receipt(self, index: int) -> tuple[str, bytes] | None:
        if 0 <= index < len(self.entries) and self.entries[index][0] == index:
            return self.entries[index][1], self.entries[index][2]
        return None

    def root(self, size: int) -> bytes:
        """The RFC 9162 root of the first *size* leaves, from the stored leaf hashes."""
        return merkle.root([leaf for _, _, leaf in self.entries[:size]])


@contextmanager
def database_session(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


def read_log(url: str) -> StoredLog:
    with database_session(url) as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        rows = session.execute(
            select(AuditRecord.index, AuditRecord.request_id, AuditRecord.leaf_hash).order_by(
                AuditRecord.index
            )
        )
        return StoredLog(head.size, [(i, r, bytes(h)) for i, r, h in rows])


def assert_one_tree(log: StoredLog, answers: Sequence[Answer]) -> None:
    """Entries 0 … size-1, each once, and every 200 answer's receipt among them."""
    assert [i for i, _, _ in log.entries] == list(range(log.size)), "gap, duplicate or overrun"
    assert len({a.index for a in answers}) == len(answers), "one index given to two answers"
    lost = [a.index for a in answers if log.receipt(a.index) != (a.request_id, a.leaf_hash)]
    assert lost == [], f"answered 200 without that entry in the log: indexes {lost[:20]}"


def verify_with_cli(world: World) -> dict[str, Any]:
    """``tongban audit verify --json`` in its own process; it must exit 0."""
    ran = world.tongban("audit", "verify", "--json")
    assert ran.returncode == 0, ran.stderr or ran.stdout
    report: dict[str, Any] = json.loads(ran.stdout)
    assert report["ok"] is True
    return report


def verified_roots(url: str, vkey: str) -> dict[int, bytes]:
    """``verify_log``'s recomputed roots (at every checkpoint's size and at the head)."""
    with database_session(url) as session:
        report = verify_log(session, parse_vkey(vkey))
    assert report.ok, report.problem
    return report.roots


def checkpoint_of(hub: Hub, vkey: str) -> tuple[str, Checkpoint]:
    """The hub's latest checkpoint (``GET /audit/checkpoint``), verified with *vkey*."""
    note = httpx.get(f"{hub.base}/audit/checkpoint", timeout=10)
    assert note.status_code == 200, note.text
    return note.text, parse_vkey(vkey).verify(note.text, origin=ORIGIN)


def checkpoint_after_interval(hub: Hub, vkey: str) -> tuple[str, Checkpoint]:
    """Once the log has stopped growing: the checkpoint of the whole log. Any checkpoint signed
    before is older than the interval when asked for after it, so the hub signs a new one."""
    time.sleep(CHECKPOINT_INTERVAL_S + 0.2)
    return checkpoint_of(hub, vkey)


def verifier_key(hub: Hub) -> str:
    response = httpx.get(f"{hub.base}/audit/checkpoint/key", timeout=10)
    assert response.status_code == 200, response.text
    return response.text.strip()


def _b64decode_all(values: Sequence[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


# -- SIGKILL under load ----------------------------------------------------------------------


def test_a_hub_killed_under_load_logged_every_answer_and_its_restart_extends_the_tree(
    world: World, hubs: Hubs
) -> None:
    # The demo's entries before the load: the lifecycle entries of its consent and agreements.
    seeded = read_log(world.database_url).size
    first = hubs.start(world)
    first.wait_ready()
    vkey = verifier_key(first)
    load = Load(world, [first.base], per_hub=6)
    started = time.monotonic()
    load.start()
    try:
        wait_for(lambda: load.answered >= 20, "20 answers")
        _, before = checkpoint_of(first, vkey)  # signed while the load runs
        wait_for(
            lambda: (
                load.answered >= 60 and time.monotonic() - started >= 1.5 and load.in_flight >= 2
            ),
            "a load with queries in flight",
        )
        load.killed.set()
        first.kill()
    finally:
        load.stop()
        load.join()

    assert load.unexpected == []
    assert first.process.returncode == -signal.SIGKILL
    with pytest.raises(httpx.ConnectError):  # the process killed was the one listening
        httpx.get(f"{first.base}/healthz", timeout=2)
    assert before.size >= 1

    # Before anything else touches the database: the log as the kill left it.
    report = verify_with_cli(world)
    log = read_log(world.database_url)
    assert report["entries"] == log.size
    assert report["checkpoints"] >= 1  # every one verified: signature, and root at its size
    assert_one_tree(log, load.answers)
    # Entries nobody got an answer for: at most one per thread, the requests cut by the kill.
    answered = seeded + len(load.answers)
    assert answered <= log.size <= answered + load.threads
    assert log.root(before.size) == before.root

    # Restarted on the same database, the hub appends to the same tree.
    second = hubs.start(world)
    second.wait_ready()
    assert verifier_key(second) == vkey
    more = Load(world, [second.base], per_hub=2, limit=15)
    more.start()
    more.join()
    assert more.unexpected == []
    assert sorted(a.index for a in more.answers) == list(range(log.size, log.size + 30))
    _, after = checkpoint_after_interval(second, vkey)
    assert after.size == log.size + 30
    _assert_consistent(second, before, after)
    _assert_included(second, world, load.answers[-1], after)

    report = verify_with_cli(world)
    grown = read_log(world.database_url)
    assert report["entries"] == grown.size == after.size
    assert report["checkpoints"] >= 2  # at least `before` and `after`
    assert_one_tree(grown, [*load.answers, *more.answers])
    assert grown.root(after.size) == after.root
    assert verified_roots(world.database_url, vkey)[after.size] == after.root


def _assert_consistent(hub: Hub, old: Checkpoint, new: Checkpoint) -> None:
    """The hub's consistency proof shows *new* extends *old* (RFC 9162)."""
    response = httpx.get(
        f"{hub.base}/audit/proof/consistency",
        params={"from": old.size, "to": new.size},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    proof = _b64decode_all(response.json()["proof"])
    assert merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)


def _assert_included(hub: Hub, world: World, answer: Answer, checkpoint: Checkpoint) -> None:
    """An answer given before the kill is provably in the tree the restarted hub signs."""
    with httpx.Client(base_url=hub.base, timeout=10) as http:
        token = access_token(http, world)
        response = http.get(
            "/audit/proof/inclusion",
            params={"index": answer.index, "size": checkpoint.size},
            headers={"authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    proof = _b64decode_all(response.json()["proof"])
    assert merkle.verify_inclusion(
        answer.leaf_hash, answer.index, checkpoint.size, proof, checkpoint.root
    )


# -- several workers on PostgreSQL -----------------------------------------------------------


def test_two_workers_on_postgresql_appending_at_once_make_one_tree(
    postgres_world: World, hubs: Hubs
) -> None:
    workers = [hubs.start(postgres_world), hubs.start(postgres_world)]
    for worker in workers:
        worker.wait_ready()
    # The demo's entries before the load: the lifecycle entry of the consent it gives.
    seeded = read_log(postgres_world.database_url).size
    load = Load(postgres_world, [w.base for w in workers], per_hub=4, limit=40)
    load.start()
    load.join(timeout=120)
    assert load.unexpected == []
    assert len(load.answers) == 320

    log = read_log(postgres_world.database_url)
    assert log.size == seeded + 320
    assert_one_tree(log, load.answers)
    by_worker = [[a.index for a in load.answers if a.hub == w.base] for w in workers]
    assert all(by_worker)
    # The workers' indexes interleave: they really were appending at the same time.
    assert min(by_worker[0]) < max(by_worker[1])
    assert min(by_worker[1]) < max(by_worker[0])

    keys = [verifier_key(w) for w in workers]
    assert keys[0] == keys[1]
    # Signed by one worker (by its schedule or on this request), checked with the other's key.
    note, checkpoint = checkpoint_after_interval(workers[0], keys[1])
    assert checkpoint.size == log.size
    report = verify_with_cli(postgres_world)
    assert report["entries"] == log.size
    assert report["checkpoints"] >= 1  # the workers' schedules may have signed more: all verify
    assert checkpoint.root == log.root(log.size)
    assert verified_roots(postgres_world.database_url, keys[0])[log.size] == checkpoint.root
    again = httpx.get(f"{workers[1].base}/audit/checkpoint", timeout=10)
    assert again.text == note  # the other worker serves the same signed checkpoint


def test_one_serve_with_two_worker_processes_on_postgresql_makes_one_tree(
    postgres_world: World, hubs: Hubs
) -> None:
    """``tongban serve --workers 2``: one port, two worker processes under load, one log."""
    served = hubs.start(postgres_world, "--workers", "2")
    served.wait_ready()
    seeded = read_log(postgres_world.database_url).size
    load = Load(postgres_world, [served.base], per_hub=6, limit=30)
    load.start()
    load.join(timeout=180)
    assert load.unexpected == []
    assert len(load.answers) == 180
    workers = [pid for pid in children(served.process.pid) if is_spawned_worker(pid)]
    assert len(workers) == 2, workers  # uvicorn's supervisor (the serve process) and two workers
    log = read_log(postgres_world.database_url)
    assert log.size == seeded + 180
    assert_one_tree(log, load.answers)
    report = verify_with_cli(postgres_world)
    assert report["entries"] == log.size


def test_several_workers_on_sqlite_are_refused_before_anything_is_served(tmp_path: Path) -> None:
    world = build_world(tmp_path, f"sqlite:///{tmp_path / 'var/tongban.db'}")
    ran = world.tongban("serve", "--port", str(free_port()), "--workers", "2")
    assert ran.returncode != 0
    assert "--workers 2 needs PostgreSQL" in ran.stderr


def children(pid: int) -> list[int]:
    """The processes whose parent is *pid*, from /proc (uvicorn's worker processes)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def is_spawned_worker(pid: int) -> bool:
    """Whether *pid* is a process multiprocessing spawned to run a target (not its resource
    tracker)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(b"spawn_main" in part for part in command)
