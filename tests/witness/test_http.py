"""A served witness (``tongban witness serve`` as a process, under the prefix ``/witness``)
over real HTTP: the protocol's statuses and media types, the monitoring URL, only POST, the body
bound, and clients racing from threads."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from exchange.audit.cosignature import parse_cosigner_vkey
from exchange.audit.policy import parse_policy
from exchange.witness.request import MAX_BODY_BYTES
from tests.servers import TONGBAN, hub_environment
from tests.witness.helpers import FakeLog, body, forged_line, served_witness

pytestmark = pytest.mark.serves

NAME = "witness.audit-bureau.test/w1"
PREFIX = "/witness"
TEXT = "text/plain; charset=utf-8"


@dataclass
class Served:
    base: str
    vkey: str
    pool: list[FakeLog] = field(default_factory=list)

    @property
    def submit(self) -> str:
        return f"{self.base}{PREFIX}/add-checkpoint"

    def monitor(self, log: FakeLog) -> str:
        return f"{self.base}{PREFIX}/{log.origin_hash}/checkpoint"

    def latest(self, log: FakeLog) -> str | None:
        answer = httpx.get(self.monitor(log), timeout=10)
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        return answer.text


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("witness")
    logs = [FakeLog() for _ in range(24)]
    (workdir / "logs.policy").write_text("".join(f"log {log.vkey()}\n" for log in logs))
    made = subprocess.run(
        [TONGBAN, "witness", "init", "--name", NAME, "--key-file", "witness.key"],
        cwd=workdir,
        env=hub_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    args = ["--key-file", "witness.key", "--logs", "logs.policy", "--state", "state.db"]
    with served_witness(workdir, *args, "--prefix", PREFIX) as base:
        yield Served(base, made.stdout.strip(), logs)


@pytest.fixture
def log(served: Served) -> FakeLog:
    """A log the served witness trusts, of this test's own."""
    return served.pool.pop()


def post(served: Served, content: bytes) -> httpx.Response:
    return httpx.post(served.submit, content=content, timeout=30)


def test_a_log_is_cosigned_over_http_and_served_to_monitors(served: Served, log: FakeLog) -> None:
    assert served.latest(log) is None
    policy = parse_policy(f"log {log.vkey()}\nwitness w {served.vkey}\nquorum w\n")
    for old, size in [(0, 0), (0, 5), (5, 13)]:
        answer = post(served, log.request(old, size))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == TEXT
        assert answer.text.startswith(f"— {NAME} ")
        assert answer.text.count("\n") == 1
        note = log.note(size)
        assert policy.check(note + answer.text).met
        assert served.latest(log) == note + answer.text
    found = parse_cosigner_vkey(served.vkey).find(log.note(13) + answer.text)
    assert found is not None
    assert found.timestamp > 1_700_000_000


REFUSED = {
    "malformed": (lambda log: log.request(5, 9).replace(b"old 5", b"old 05"), 400),
    "old above size": (lambda log: log.request(5, 3, proof=[]), 400),
    "unknown log": (lambda log: FakeLog().request(0, 3), 404),
    "forged log signature": (
        lambda log: body(
            5,
            log.proof(5, 9),
            f"{log.checkpoint(9).body().decode()}\n"
            + forged_line(log.origin, log.key, log.checkpoint(9).body().decode()),
        ),
        403,
    ),
    "tampered proof": (lambda log: log.request(5, 9, proof=log.proof(5, 9)[1:]), 422),
    "same size, other root": (lambda log: log.request(5, 5, note=log.note(5, log.root(4))), 422),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refusal_over_http_is_one_plain_line_and_leaves_the_state(
    served: Served, log: FakeLog, case: str
) -> None:
    build, status = REFUSED[case]
    assert post(served, log.request(0, 5)).status_code == 200
    held = served.latest(log)
    answer = post(served, build(log))
    assert answer.status_code == status
    assert answer.headers["content-type"] == TEXT
    assert answer.text.endswith("\n")
    assert answer.text.count("\n") == 1
    assert log.origin not in answer.text
    assert served.latest(log) == held


def test_a_stale_old_size_is_answered_with_the_latest_size(served: Served, log: FakeLog) -> None:
    assert post(served, log.request(0, 7)).status_code == 200
    held = served.latest(log)
    for old in (0, 3, 8):
        answer = post(served, log.request(old, 9))
        assert answer.status_code == 409
        assert answer.headers["content-type"] == "text/x.tlog.size"
        assert answer.text == "7\n"
    assert served.latest(log) == held


def test_the_monitoring_url_is_404_for_a_log_never_cosigned(served: Served, log: FakeLog) -> None:
    for key in (
        log.origin_hash,
        log.origin_hash.upper(),
        hashlib.sha256(b"tongban.test/nobody").hexdigest(),
        "not-a-hash",
    ):
        answer = httpx.get(f"{served.base}{PREFIX}/{key}/checkpoint", timeout=10)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == TEXT


def test_add_checkpoint_takes_only_post(served: Served, log: FakeLog) -> None:
    for method in ("GET", "PUT", "DELETE"):
        answer = httpx.request(method, served.submit, content=log.request(0, 3), timeout=10)
        assert answer.status_code == 405
        assert answer.headers["allow"] == "POST"
        assert answer.headers["content-type"] == TEXT
    assert httpx.post(f"{served.base}/add-checkpoint", content=log.request(0, 3)).status_code == 404
    assert served.latest(log) is None


def test_a_body_over_the_limit_is_refused(served: Served, log: FakeLog) -> None:
    large = log.request(0, 3) + b"#" * MAX_BODY_BYTES
    assert post(served, large).status_code == 400

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut off while streaming
        yield log.request(0, 3)
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"#" * 65536

    answer = httpx.post(served.submit, content=chunks(), timeout=30)
    assert answer.status_code == 400
    assert "larger than" in answer.text
    assert served.latest(log) is None
    assert post(served, log.request(0, 3)).status_code == 200


def test_the_root_and_healthz_name_the_witness(served: Served) -> None:
    about = httpx.get(f"{served.base}{PREFIX}/", timeout=10).json()
    assert about["name"] == NAME
    assert about["vkey"] == served.vkey
    assert about["algorithm"] == "ed25519"
    assert len(about["logs"]) == 24
    health = httpx.get(f"{served.base}/healthz", timeout=10).json()
    assert health == {"status": "ok", "name": NAME, "vkey": served.vkey}


def test_clients_racing_from_threads_never_roll_the_witness_back(
    served: Served, log: FakeLog
) -> None:
    """Each client proves consistency to its own target size from whatever the witness says
    it holds, as a log would; a monitor reads the witness throughout. The sizes it sees never
    go down, every cosignature extends the one before, and the largest target wins."""
    cosigned: list[tuple[int, int]] = []  # (old size, new size) of each accepted checkpoint
    seen: list[int] = []
    done = threading.Event()
    lock = threading.Lock()

    def client(target: int) -> None:
        old = 0
        with httpx.Client(timeout=30) as http:
            for _ in range(100):
                if old > target:
                    return
                answer = http.post(served.submit, content=log.request(old, target))
                if answer.status_code == 409:
                    old = int(answer.text)
                    continue
                assert answer.status_code == 200, answer.text
                with lock:
                    cosigned.append((old, target))
                return

    def monitor() -> None:
        with httpx.Client(timeout=30) as http:
            while not done.is_set():
                answer = http.get(served.monitor(log))
                if answer.status_code == 200:
                    seen.append(int(answer.text.split("\n")[1]))

    watcher = threading.Thread(target=monitor)
    watcher.start()
    clients = [threading.Thread(target=client, args=(size,)) for size in range(20, 64, 2)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(120)
    done.set()
    watcher.join(30)
    # The witness accepts a checkpoint only from the size it last cosigned, so the accepted
    # ones chain from 0 without a gap or a step back. (The order the clients append in is not
    # the order the witness accepted them: a client records its success after the call.)
    chain = sorted(cosigned)
    assert chain[0][0] == 0
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chain))
    assert all(old < new for old, new in chain)
    assert chain[-1][1] == 62
    assert seen == sorted(seen)  # one monitor reading in turn: what it sees never goes down
    latest = served.latest(log)
    assert latest is not None
    assert latest.startswith(f"{log.origin}\n62\n")
