"""The first steps of moving an ``intl`` hub to ``gm`` (docs/gm.md, "Moving an `intl` hub to
`gm`"), on a served ``intl`` demo hub with history (queries, consents, checkpoints), stopped:

- ``tongban crypto plan --to gm`` refuses while the database shows a live worker, then lists
  the case systems whose Ed25519 keys a ``gm`` hub will not take and what is keyed by ``intl``
  pseudonyms or sealed under the ``intl`` key schedule, changing nothing;
- ``tongban crypto archive-log`` refuses while the hub looks alive, then signs a last
  checkpoint and writes the whole log; ``tongban crypto verify-archive`` checks it without the
  hub;
- what the hub handed out before (a query's Ed25519 evidence, its receipt's checkpoint) verifies
  against the archive's keys and tree;
- an entry, a checkpoint's signature or the manifest altered in the archive is found.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, text

from exchange.audit.archive import verify_archive
from exchange.audit.checkpoint import parse_vkey
from tests.servers import TONGBAN, DemoHub, demo_hub, dev_environment

pytestmark = pytest.mark.serves

INTL = {"TONGBAN_CRYPTO_PROFILE": "intl"}


@dataclass
class StoppedHub:
    workdir: Path
    answers: list[dict[str, Any]]
    checkpoint_size: int


def _tongban(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TONGBAN, *args], cwd=workdir, env=dev_environment(**INTL), capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip


def _query(hub: DemoHub) -> dict[str, Any]:
    """A query through the client SDK (evidence and receipt verified): what it handed out."""
    with hub.client() as client:
        answer = client.query(
            hub.subject("no_property"), "school-enrolment", service_item="EDU-RXDJ-001"
        )
    return {
        "request_id": answer.request_id,
        "evidence": answer.evidence,
        "audit": {"tree_size": answer.audit.tree_size, "checkpoint": answer.audit.checkpoint},
    }


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> StoppedHub:
    work = tmp_path_factory.mktemp("intl-archive")
    with demo_hub(work, citizens=30, **INTL) as hub:
        answers = [_query(hub), _query(hub)]
        auditor = hub.id_token("AUD-001", "auditor")
        signed = httpx.post(
            f"{hub.base}/audit/checkpoint",
            headers={"Authorization": f"Bearer {auditor}"},
            timeout=60,
        )
        assert signed.status_code == 200, signed.text
        answers.append(_query(hub))
    return StoppedHub(work, answers, int(signed.text.split("\n")[1]))


def _database(workdir: Path) -> str:
    """The demo's database: ``var/tongban.db`` of its installation (the default URL)."""
    config = tomllib.loads((workdir / "tongban.toml").read_text("utf-8"))
    assert "database_url" not in config
    return f"sqlite:///{workdir}/var/tongban.db"


def _as_if_stopped_long_ago(workdir: Path) -> None:
    """What the database shows once the hub has been stopped for an hour: its last job runs
    and the audit head's last move an hour back (the test does not wait for it)."""
    engine = create_engine(_database(workdir))
    earlier = datetime.now(UTC) - timedelta(hours=2)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE job_runs SET started_at = :t, finished_at = :t"), {"t": earlier}
        )
        connection.execute(text("UPDATE audit_head SET updated_at = :t"), {"t": earlier})
    engine.dispose()


def test_the_plan_and_the_archive_refuse_a_hub_that_just_stopped(stopped: StoppedHub) -> None:
    planned = _tongban(stopped.workdir, "crypto", "plan", "--to", "gm", "--json")
    assert planned.returncode == 1, planned.stderr
    view = json.loads(planned.stdout)
    assert not view["ready"]
    assert any("within 120 s" in blocker for blocker in view["blockers"])
    archived = _tongban(stopped.workdir, "crypto", "archive-log", "--out", "archive-now")
    assert archived.returncode != 0
    assert "the hub is not stopped" in archived.stderr
    assert not (stopped.workdir / "archive-now").exists()


@pytest.fixture(scope="module")
def archive(stopped: StoppedHub) -> Path:
    _as_if_stopped_long_ago(stopped.workdir)
    archived = _tongban(stopped.workdir, "crypto", "archive-log", "--out", "archive", "--json")
    assert archived.returncode == 0, archived.stderr
    return stopped.workdir / "archive"


def test_the_plan_lists_what_a_gm_hub_will_not_take(stopped: StoppedHub, archive: Path) -> None:
    planned = _tongban(stopped.workdir, "crypto", "plan", "--to", "gm", "--json")
    assert planned.returncode == 0, planned.stderr
    view = json.loads(planned.stdout)
    assert (view["ready"], view["recorded"], view["blockers"]) == (True, "intl", [])
    refused = {(key["system"], key["alg"]) for key in view["refused_keys"]}
    assert ("edu-enrolment", "EdDSA") in refused
    assert view["pseudonymous_rows"]["audit_entries"] > 0
    assert view["pseudonymous_rows"]["consents"] > 0
    assert view["sealed_rows"]["hub_signing_keys"] >= 1
    again = _tongban(stopped.workdir, "crypto", "plan", "--to", "gm", "--json")
    assert json.loads(again.stdout) == view  # it changed nothing


def test_the_archive_verifies_without_the_hub(stopped: StoppedHub, archive: Path) -> None:
    checked = _tongban(stopped.workdir, "crypto", "verify-archive", str(archive), "--json")
    assert checked.returncode == 0, checked.stdout
    view = json.loads(checked.stdout)
    assert (view["ok"], view["tree_hash"], view["problems"]) == (True, "SHA-256", [])
    manifest = json.loads((archive / "manifest.json").read_text("utf-8"))
    assert (manifest["profile"], manifest["size"]) == ("intl", view["size"])
    assert view["checkpoints"] >= 2  # the auditor's, and the archive's last one
    receipts = [answer["audit"]["tree_size"] for answer in stopped.answers]
    assert view["size"] >= max(receipts) > stopped.checkpoint_size > 0
    again = _tongban(stopped.workdir, "crypto", "archive-log", "--out", "archive")
    assert again.returncode != 0
    assert "exists already" in again.stderr
    (stopped.workdir / "second.partial").mkdir()  # a run interrupted before its rename
    interrupted = _tongban(stopped.workdir, "crypto", "archive-log", "--out", "second")
    assert interrupted.returncode != 0
    assert "left from an interrupted run" in interrupted.stderr
    assert not (stopped.workdir / "second").exists()


def test_evidence_and_receipts_handed_out_before_verify_against_the_archive(
    stopped: StoppedHub, archive: Path
) -> None:
    keys = json.loads((archive / "hub-keys.json").read_text("utf-8"))["keys"]
    log = parse_vkey((archive / "log.vkey").read_text("utf-8"))
    leaves = [
        base64.b64decode(json.loads(line)["leaf_hash"])
        for line in (archive / "entries.jsonl").read_text("utf-8").splitlines()
    ]
    for answer in stopped.answers:
        kid = jwt.get_unverified_header(answer["evidence"])["kid"]
        (key,) = [k for k in keys if k["kid"] == kid]
        public = {name: key[name] for name in ("kty", "crv", "x")}
        claims = jwt.decode(
            answer["evidence"], jwt.PyJWK(public, "EdDSA"), algorithms=["EdDSA"],
            options={"verify_aud": False},
        )  # fmt: skip
        assert claims["jti"] == answer["request_id"]
        checkpoint = log.verify(answer["audit"]["checkpoint"])
        assert checkpoint.root == _sha256_root(leaves[: checkpoint.size])


def _sha256_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    left, right = _sha256_root(leaves[:split]), _sha256_root(leaves[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def _copy(archive: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(archive, copy)
    return copy


def _rehash(copy: Path, name: str) -> None:
    """The manifest made to name the altered file, as a forger would."""
    manifest = json.loads((copy / "manifest.json").read_text("utf-8"))
    manifest["files"][name] = hashlib.sha256((copy / name).read_bytes()).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest), "utf-8")


def test_an_altered_entry_is_found(archive: Path, tmp_path: Path) -> None:
    copy = _copy(archive, tmp_path)
    lines = (copy / "entries.jsonl").read_text("utf-8").splitlines()
    row = json.loads(lines[1])
    row["entry"] = row["entry"].replace('"outcome":"', '"outcome":"x', 1)
    lines[1] = json.dumps(row, ensure_ascii=False)
    (copy / "entries.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    assert [p.kind for p in verify_archive(copy).problems] == ["manifest"]
    _rehash(copy, "entries.jsonl")
    problems = verify_archive(copy).problems
    assert (problems[0].kind, problems[0].where) == ("entry", "entry 1")
    assert "checkpoint" in {p.kind for p in problems}  # the roots no longer match


def test_an_altered_checkpoint_signature_is_found(archive: Path, tmp_path: Path) -> None:
    copy = _copy(archive, tmp_path)
    lines = (copy / "checkpoints.jsonl").read_text("utf-8").splitlines()
    row = json.loads(lines[0])
    text_, _, signature = row["note"].rstrip("\n").rpartition(" ")
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 1
    row["note"] = f"{text_} {base64.b64encode(bytes(raw)).decode()}\n"
    lines[0] = json.dumps(row, ensure_ascii=False)
    (copy / "checkpoints.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    _rehash(copy, "checkpoints.jsonl")
    (problem,) = verify_archive(copy).problems
    assert (problem.kind, problem.message) == ("checkpoint", "the note's signature is not valid")


def test_a_cut_archive_is_found(archive: Path, tmp_path: Path) -> None:
    copy = _copy(archive, tmp_path)
    lines = (copy / "entries.jsonl").read_text("utf-8").splitlines()
    (copy / "entries.jsonl").write_text("\n".join(lines[:-1]) + "\n", "utf-8")
    _rehash(copy, "entries.jsonl")
    kinds = {p.kind for p in verify_archive(copy).problems}
    assert "head" in kinds


def test_receipts_handed_out_before_are_held_by_the_archive(
    stopped: StoppedHub, archive: Path, tmp_path: Path
) -> None:
    notes = []
    for number, answer in enumerate(stopped.answers):
        note = tmp_path / f"receipt-{number}.note"
        note.write_text(answer["audit"]["checkpoint"], "utf-8")
        notes += ["--checkpoint", str(note)]
    checked = _tongban(stopped.workdir, "crypto", "verify-archive", str(archive), *notes)
    assert checked.returncode == 0, checked.stderr
    text, _, signatures = stopped.answers[0]["audit"]["checkpoint"].partition("\n\n")
    origin, size, _root, *rest = text.split("\n")
    other_root = base64.b64encode(hashlib.sha256(b"another tree").digest()).decode()
    forged = tmp_path / "forged.note"
    forged.write_text("\n".join([origin, size, other_root, *rest]) + "\n\n" + signatures, "utf-8")
    refused = _tongban(
        stopped.workdir, "crypto", "verify-archive", str(archive), "--checkpoint", str(forged)
    )
    assert refused.returncode != 0
    assert f"{forged}: the note's signature is not valid" in refused.stderr
