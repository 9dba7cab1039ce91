"""The hub and its witnesses, as real processes: checkpoints get cosigned and served; a hub whose
database is rewritten gets no cosignature from a witness that saw the old log; a witness that is
down shows as a gap, and queries go on."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from exchange.app import create_app
from exchange.audit import merkle, vmap_store
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.cosignature import Cosigner
from exchange.audit.log import AuditLog, TreeReader
from exchange.audit.models import (
    AuditCheckpoint,
    AuditCosignature,
    AuditHead,
    AuditMapNode,
    AuditMapValue,
    AuditNode,
    AuditRecord,
    AuditWitness,
)
from exchange.audit.sink import Receipt
from exchange.audit.witnessing import Witnessing
from exchange.client.sdk import EvidenceError, TongbanClient
from exchange.db import make_engine, make_sessionmaker, unit_of_work
from exchange.settings import Settings
from schemas import AuditEntry
from tests.audit.test_log import entry
from tests.commands import tongban_in_process
from tests.profiles import key_schedule
from tests.servers import TONGBAN, dev_environment, hub_environment
from tests.witness.helpers import served_witness

pytestmark = [
    pytest.mark.serves,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

SECRET = "a-witnessed-hub-secret-long-enough-for-prod-0123456789"
ORIGINS = {test: f"tongban.test/witnessed-log-{test}" for test in ("met", "rewritten", "down")}


def signer_of(test: str) -> CheckpointSigner:
    """Each test's hub log: its own origin and its own secret, so its own key (the witnesses,
    shared by the module, hold one state per log and refuse two logs of one key)."""
    return CheckpointSigner(
        key_schedule(secret_of(test)), ORIGINS[test], interval=timedelta(seconds=1)
    )


def secret_of(test: str) -> str:
    return f"{SECRET}-{test}"


@dataclass
class Witnesses:
    """Two ``tongban witness serve`` processes, each with its own key and state, trusting the
    three test logs' checkpoint keys."""

    urls: dict[str, str]
    vkeys: dict[str, str]
    b_process: ExitStack

    def policy_file(self, directory: Path) -> Path:
        """The hub's policy naming both witnesses, quorum all."""
        policy = directory / "witness.policy"
        policy.write_text(
            f"witness A {self.vkeys['A']} {self.urls['A']}\n"
            f"witness B {self.vkeys['B']} {self.urls['B']}\n"
            "group both all A B\nquorum both\n",
            encoding="utf-8",
        )
        return policy

    def state_of(self, name: str, origin: str) -> httpx.Response:
        origin_hash = hashlib.sha256(origin.encode()).hexdigest()
        return httpx.get(f"{self.urls[name]}/{origin_hash}/checkpoint", timeout=5)

    def stop_b(self) -> None:
        self.b_process.close()


@pytest.fixture(scope="module")
def witnesses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witnesses]:
    b_process = ExitStack()
    urls, vkeys = {}, {}
    logs = [arg for test in ORIGINS for arg in ("--log", signer_of(test).vkey())]
    with ExitStack() as a_process, b_process:
        for name, context in (("A", a_process), ("B", b_process)):
            workdir = tmp_path_factory.mktemp(f"witness-{name}")
            made = subprocess.run(
                [TONGBAN, "witness", "init", "--name", f"w{name}.test/w", "--key-file", "w.key"],
                cwd=workdir,
                env=hub_environment(),
                capture_output=True,
                text=True,
                check=True,
            )
            vkeys[name] = made.stdout.strip()
            args = ("--key-file", "w.key", *logs, "--state", "state.db")
            urls[name] = context.enter_context(served_witness(workdir, *args))
        yield Witnesses(urls, vkeys, b_process)


def _append(sessions: sessionmaker[Session], first: int, count: int, *, tag: str = "") -> None:
    log = AuditLog(sessions)
    for n in range(first, first + count):
        log.append(_work(n, tag))


def _work(n: int, tag: str) -> Callable[[Session], AuditEntry]:
    """Entry *n*, decided now (verify holds ``recorded_at`` to the entry's ``at``)."""
    at = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return lambda _session: cast(
        "AuditEntry", {**entry(n), "at": at, "purpose": f"purpose{tag}-{n % 3}"}
    )


def _verify(
    test: str, database_url: str, cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``tongban audit verify ARGS`` as the test's hub's operator runs it."""
    env = dev_environment(
        TONGBAN_DATABASE_URL=database_url,
        TONGBAN_SECRET_KEY=secret_of(test),
        TONGBAN_AUDIT_ORIGIN=ORIGINS[test],
    )
    return tongban_in_process(cwd, "audit", "verify", *args, env=env)


def _sign(signer: CheckpointSigner, sessions: sessionmaker[Session]) -> int:
    with unit_of_work(sessions, write=True) as session:
        return signer.sign(session).size


def _witnessing(signer: CheckpointSigner, witnesses: Witnesses, tmp_path: Path) -> Witnessing:
    return Witnessing.from_file(signer, witnesses.policy_file(tmp_path))


def _served_note(witnessing: Witnessing, sessions: sessionmaker[Session]) -> str:
    with unit_of_work(sessions) as session:
        latest = witnessing.signer.latest(session)
        assert latest is not None
        return witnessing.note(session, latest)


def test_checkpoints_are_cosigned_by_both_and_meet_the_policy(
    sessions: sessionmaker[Session], witnesses: Witnesses, tmp_path: Path, database_url: str
) -> None:
    signer = signer_of("met")
    witnessing = _witnessing(signer, witnesses, tmp_path)
    _append(sessions, 0, 20)
    assert _sign(signer, sessions) == 20
    assert [(s.witness, s.ok) for s in witnessing.submit(sessions)] == [("A", True), ("B", True)]
    _append(sessions, 20, 13)
    assert _sign(signer, sessions) == 33
    submissions = witnessing.submit(sessions)  # from 20: a real RFC 9162 consistency proof
    assert [(s.ok, s.reason) for s in submissions] == [(True, None), (True, None)]
    note = _served_note(witnessing, sessions)
    verdict = witnessing.verdict(note)
    assert verdict.met
    assert verdict.checkpoint.size == 33
    assert sorted(verdict.cosigned) == ["A", "B"]
    # what the witness keeps is the same tree: its checkpoint is the hub's, with its cosignature
    held = witnesses.state_of("A", signer.origin)
    assert held.status_code == 200
    assert witnessing.policy.witnesses["A"].verifier.find(held.text) is not None
    assert held.text.split("\n\n")[0] == note.split("\n\n")[0]
    # a second submission of the same checkpoint sends nothing and stays met
    assert all(s.ok for s in witnessing.submit(sessions))
    # the operator's verify, demanding the policy (its witnesses are asked what they hold)
    policy = witnesses.policy_file(tmp_path)
    verified = _verify("met", database_url, tmp_path, "--policy", str(policy))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.splitlines()[-1] == (
        "the witness policy is met (all of A, B): cosigned by A, B, at size 33; "
        "0 entries after it not yet witnessed"
    )
    _append(sessions, 33, 4)
    assert (
        "at size 33; 4 entries after it"
        in _verify("met", database_url, tmp_path, "--policy", str(policy)).stdout
    )
    # a cosignature row forged in the database: not met, named by verify, never a 500
    _forge_cosignature(sessions, size=33)
    assert not witnessing.verdict(_served_note(witnessing, sessions)).met
    forged = _verify("met", database_url, tmp_path, "--policy", str(policy))
    assert forged.returncode == 1
    assert "witness: the stored cosignature of A at size 33 does not verify" in forged.stdout
    # a policy naming other witnesses is not met by these cosignatures
    other = tmp_path / "other.policy"
    other.write_text(f"witness C {_a_witness_vkey()}\nquorum C\n", encoding="utf-8")
    refused = _verify("met", database_url, tmp_path, "--policy", str(other))
    assert refused.returncode == 1
    assert "witness: no checkpoint meets the witness policy: it needs C" in refused.stdout


def test_a_rewritten_log_gets_no_cosignature_from_a_witness_that_saw_the_old_one(
    sessions: sessionmaker[Session],
    engine: Engine,
    witnesses: Witnesses,
    tmp_path: Path,
    database_url: str,
) -> None:
    signer = signer_of("rewritten")
    witnessing = _witnessing(signer, witnesses, tmp_path)
    _append(sessions, 0, 30)
    _sign(signer, sessions)
    assert all(s.ok for s in witnessing.submit(sessions))
    before = witnesses.state_of("A", signer.origin).text

    # The attacker can write the database: every audit table emptied (the append-only triggers
    # dropped), the log rebuilt with one entry edited, a new checkpoint signed with the hub's
    # own key, and the hub's records of its witnesses and their cosignatures deleted too.
    _drop_append_only_triggers(engine)
    with unit_of_work(sessions, write=True) as session:
        for model in (
            AuditCosignature,
            AuditWitness,
            AuditCheckpoint,
            AuditNode,
            AuditRecord,
            AuditMapNode,
            AuditMapValue,
        ):
            session.execute(delete(model))
        head = session.get(AuditHead, 1)
        assert head is not None
        head.size, head.root = 0, bytes.fromhex("e3b0c442" + "0" * 56)
    _append(sessions, 0, 12)
    _append(sessions, 12, 1, tag="-edited")  # entry 12 is not what the witnesses saw
    _append(sessions, 13, 25)
    assert _sign(signer, sessions) == 38

    submissions = witnessing.submit(sessions)
    # the hub believes the witnesses are new (old 0); each answers 409 with 30, the hub proves
    # consistency from 30, and each refuses the proof: no cosignature, nothing stored
    assert [s.ok for s in submissions] == [False, False]
    assert {s.reason for s in submissions} == {
        "the witness found the checkpoint inconsistent with what it saw before (422)"
    }
    assert not witnessing.verdict(_served_note(witnessing, sessions)).met
    with unit_of_work(sessions) as session:
        assert witnessing.newest_witnessed(session) is None
        gap = witnessing.gap(session)
    assert (gap.log_size, gap.witnessed_size, gap.unwitnessed_entries) == (38, 0, 38)
    assert gap.failing == ["A", "B"]
    # the witnesses still hold the old log's checkpoint: evidence of what the hub had said
    assert witnesses.state_of("A", signer.origin).text == before
    assert witnesses.state_of("B", signer.origin).status_code == 200
    # and the operator's verify, demanding the policy, says the log is not the one they saw
    refused = _verify(
        "rewritten", database_url, tmp_path, "--policy", str(witnesses.policy_file(tmp_path))
    )
    assert refused.returncode == 1
    lines = refused.stdout.splitlines()
    assert any(
        line.startswith("shrink: ") and "witness A's checkpoint" in line for line in lines
    ), lines
    assert "witness: no checkpoint meets the witness policy: it needs all of A, B" in lines[-1]


def test_a_witness_that_is_down_shows_as_a_gap_and_the_hub_goes_on(
    database_url: str, witnesses: Witnesses, tmp_path: Path
) -> None:
    """The module's last test: it stops witness B."""
    settings = Settings(
        database_url=database_url,
        mode="dev",
        adapters_file=None,
        secret_key=SecretStr(secret_of("down")),
        audit_origin=ORIGINS["down"],
        witness_policy_file=witnesses.policy_file(tmp_path),
        checkpoint_interval_s=1,
    )
    engine = make_engine(database_url)
    with TestClient(create_app(settings)) as hub:
        sessions = make_sessionmaker(engine)
        _append(sessions, 0, 8)
        signed = hub.post("/audit/checkpoint", headers=_auditor(hub))
        assert signed.status_code == 200
        assert signed.text.count("\n— ") == 3  # the hub's signature and both cosignatures
        answer = hub.get("/audit/checkpoint")
        assert answer.headers["Tongban-Witness-Policy"] == "met"
        assert hub.get("/audit/checkpoint", params={"witnessed": "true"}).text == answer.text
        # a case system's SDK, with the audit bureau's policy: its receipt at size 5 is covered
        # by the witnessed checkpoint at 8 (a consistency proof from 5)
        sdk = TongbanClient("http://testserver", "edu-enrolment", _a_jwk(), http=hub)
        policy = witnesses.policy_file(tmp_path).read_text()
        early = _receipt_at(sessions, 4)  # entry 4: its receipt's tree has 5 entries
        assert early["tree_size"] == 5
        witnessed = sdk.verify_witnessed(early, policy)
        assert (witnessed.witnessed_size, witnessed.cosigned_by) == (8, ("A", "B"))
        needs_c = f"witness C {_a_witness_vkey()}\nquorum C\n"
        with pytest.raises(EvidenceError, match="it needs C; cosigned by no witness"):
            sdk.verify_witnessed(early, needs_c)

        witnesses.stop_b()
        _append(sessions, 8, 4)
        late = _receipt_of(sessions, 12)
        signed = hub.post("/audit/checkpoint", headers=_auditor(hub))
        assert signed.status_code == 200  # a witness down does not fail the request
        with pytest.raises(EvidenceError, match=r"newer than the newest witnessed one \(8\)"):
            sdk.verify_witnessed(late, policy)
        assert signed.text.count("\n— ") == 2  # the hub's signature and A's
        newest = hub.get("/audit/checkpoint")
        assert newest.headers["Tongban-Witness-Policy"] == "not-met"
        assert newest.headers["Tongban-Witness-Policy-Detail"] == (
            "the witness policy is not met: it needs all of A, B; cosigned by A"
        )
        witnessed = hub.get("/audit/checkpoint", params={"witnessed": "true"})
        assert witnessed.text == answer.text  # still the one at 8
        status = hub.get("/audit/witnesses").json()
        assert (status["log_size"], status["witnessed_size"]) == (13, 8)
        assert status["unwitnessed_entries"] == 5
        assert status["failing"] == ["B"]
        b = next(w for w in status["witnesses"] if w["name"] == "B")
        assert b["cosigned_size"] == 8
        assert b["last_error"] == "the witness cannot be reached (ConnectError)"
        ready = hub.get("/readyz").json()
        assert ready["status"] == "degraded"
        assert ready["checks"]["witnesses"]["unwitnessed_entries"] == 5
        metrics = hub.get("/metrics", headers=_operator(hub)).text
        assert "tongban_audit_unwitnessed_entries 5.0" in metrics
        assert 'tongban_audit_witness_failing{witness="B"} 1.0' in metrics
    engine.dispose()


def _auditor(hub: TestClient) -> dict[str, str]:
    return _staff(hub, "auditor")


def _operator(hub: TestClient) -> dict[str, str]:
    return _staff(hub, "operator")


def _staff(hub: TestClient, role: str) -> dict[str, str]:
    token = hub.post("/dev/idp/token", json={"sub": f"{role}-1", "role": role})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['id_token']}"}


def _drop_append_only_triggers(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in ("audit_entries", "audit_nodes", "audit_checkpoints", "audit_map_nodes"):
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))


def _receipt_of(sessions: sessionmaker[Session], n: int) -> dict[str, Any]:
    """Append entry *n* with the "down" hub's signer: its receipt, as an answer shows it."""
    receipt, _ = AuditLog(sessions, signer=signer_of("down")).append(_work(n, ""))
    return _receipt_view(receipt)


def _receipt_at(sessions: sessionmaker[Session], index: int) -> dict[str, Any]:
    """A receipt for the stored entry *index* in the tree of index + 1 entries, signed now."""
    with unit_of_work(sessions) as session:
        tree = TreeReader(session)
        size = index + 1
        leaf = tree.get(0, index)
        root = merkle.root_from(size, tree.get)
        proof = merkle.inclusion_proof(index, size, tree.get)
        map_root = vmap_store.root_at(session, size)
    note = signer_of("down").sign_head(size, root, map_root)
    return _receipt_view(Receipt(index, leaf, size, note, tuple(proof)))


def _receipt_view(receipt: Receipt) -> dict[str, Any]:
    return {
        "index": receipt.index,
        "leaf_hash": base64.b64encode(receipt.leaf_hash).decode(),
        "tree_size": receipt.size,
        "checkpoint": receipt.checkpoint,
        "inclusion_proof": [base64.b64encode(h).decode() for h in receipt.inclusion],
    }


def _a_jwk() -> dict[str, Any]:
    """A case system's private JWK (verifying receipts asks the hub for no token)."""
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw()
    public = key.public_key().public_bytes_raw()
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "d": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        "x": base64.urlsafe_b64encode(public).rstrip(b"=").decode(),
    }


def _forge_cosignature(sessions: sessionmaker[Session], size: int) -> None:
    """Witness A's stored cosignature at *size*, its signature's last byte flipped."""
    with unit_of_work(sessions, write=True) as session:
        row = session.scalars(
            select(AuditCosignature).where(
                AuditCosignature.size == size, AuditCosignature.cosigner == "wA.test/w"
            )
        ).one()
        name, blob = row.line.rsplit(" ", 1)
        raw = bytearray(base64.b64decode(blob))
        raw[-1] ^= 1
        row.line = f"{name} {base64.b64encode(bytes(raw)).decode()}"


def _a_witness_vkey() -> str:
    return Cosigner("wc.test/w", Ed25519PrivateKey.generate()).vkey()
