"""``tongban audit verify`` checks what the hub reads back, not only the tree: every search
column against its entry, every kind of damage with its own first bad index, and a log cut back
below what someone outside the database remembers (its own state file, a held checkpoint note),
even once the stored checkpoints are gone."""

from __future__ import annotations

import json
import stat
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from exchange.audit import merkle, vmap, vmap_store
from exchange.audit.checkpoint import NoteSigner, parse_vkey
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.log import AuditLog
from exchange.audit.models import (
    AuditCheckpoint,
    AuditHead,
    AuditMapNode,
    AuditMapValue,
    AuditNode,
    AuditRecord,
)
from exchange.db import unit_of_work
from tests.audit import test_verify as shared
from tests.audit.test_verify import ORIGIN, SECRET, verify_report, work_of
from tests.commands import tongban_in_process
from tests.servers import dev_environment

# test_verify's fixtures: its log of 50 entries, the checkpoint signer, the attacker's engine
log_of_50, signer, tamper = shared.log_of_50, shared.signer, shared.tamper

EDITS: dict[str, Any] = {
    "request_id": str(uuid.uuid4()),
    "kind": "verify",
    "system_id": "mca-dibao",
    "department": "MCA",
    "subject": "0" * 64,
    "purpose": "minimum-living",
    "outcome": "denied",
}


def _edit(engine: Engine, index: int, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(update(AuditRecord).where(AuditRecord.index == index).values(**values))


def _recorded_at(sessions: sessionmaker[Session], index: int) -> Any:
    with unit_of_work(sessions) as session:
        return session.scalar(select(AuditRecord.recorded_at).where(AuditRecord.index == index))


# -- search columns --------------------------------------------------------------------------


@pytest.mark.usefixtures("log_of_50")
@pytest.mark.parametrize("column", [*EDITS, "recorded_at"])
def test_a_search_column_edited_in_the_database_is_named_with_its_index(
    sessions: sessionmaker[Session], signer: CheckpointSigner, tamper: Engine, column: str
) -> None:
    """The entry, its leaf and the tree are untouched: an auditor's search, a citizen's list or
    the console's counts would show the entry where it never was."""
    value = EDITS.get(column) or _recorded_at(sessions, 12) + timedelta(hours=6)
    _edit(tamper, 12, **{column: value})
    report = verify_report(sessions, signer)
    assert list(report.problems) == ["column"], report.problems
    found = report.problems["column"]
    assert (found.first_index, found.count) == (12, 1)
    assert column in found.message
    assert report.first_bad_index == 12


@pytest.mark.usefixtures("log_of_50")
def test_recorded_at_may_trail_the_decision_by_a_little_but_not_precede_it(
    sessions: sessionmaker[Session], signer: CheckpointSigner, tamper: Engine
) -> None:
    _edit(tamper, 3, recorded_at=_recorded_at(sessions, 3) + timedelta(minutes=2))
    assert verify_report(sessions, signer).ok
    _edit(tamper, 3, recorded_at=_recorded_at(sessions, 3) - timedelta(hours=1))
    assert verify_report(sessions, signer).problems["column"].first_index == 3


# -- every kind, each with its first index ---------------------------------------------------


@pytest.mark.usefixtures("log_of_50")
def test_two_kinds_of_damage_are_both_reported_with_their_first_index(
    sessions: sessionmaker[Session], signer: CheckpointSigner, tamper: Engine
) -> None:
    _edit(tamper, 33, outcome="denied")
    _edit(tamper, 8, purpose="minimum-living")
    with tamper.begin() as connection:
        connection.execute(
            text("UPDATE audit_entries SET entry = replace(entry, 'EDU', 'MCA') WHERE idx = 21")
        )
    report = verify_report(sessions, signer)
    assert set(report.problems) == {"leaf", "column"}  # the tree is the leaf hashes': intact
    assert report.problems["column"].first_index == 8
    assert report.problems["column"].count == 2
    assert report.problems["leaf"].first_index == 21
    assert report.first_bad_index == 21  # the leaf check comes before the columns
    assert "leaf hash" in (report.problem or "")


@pytest.mark.usefixtures("log_of_50")
def test_after_a_missing_entry_the_roots_are_not_checked_but_the_columns_are(
    sessions: sessionmaker[Session], signer: CheckpointSigner, tamper: Engine
) -> None:
    with tamper.begin() as connection:
        connection.execute(delete(AuditRecord).where(AuditRecord.index == 25))
    _edit(tamper, 40, department="MCA")
    report = verify_report(sessions, signer)
    assert report.problems["sequence"].first_index == 25
    assert report.problems["column"].first_index == 40
    assert set(report.unchecked) == {"node", "head", "checkpoint"}
    assert "checkpoint" not in report.problems  # the one at 20 holds; 50 could not be checked
    assert report.checkpoints == 1


# -- a log cut back --------------------------------------------------------------------------


def _cut_back(sessions: sessionmaker[Session], attacker: Engine, size: int) -> None:
    """A consistent smaller log: the entries from *size* on deleted with their nodes, the head
    set to the smaller tree, every stored checkpoint deleted, the subject map rebuilt from the
    smaller log."""
    with unit_of_work(sessions) as session:
        leaves = list(
            session.scalars(
                select(AuditRecord.leaf_hash)
                .where(AuditRecord.index < size)
                .order_by(AuditRecord.index)
            )
        )
        nodes = list(session.execute(select(AuditNode.level, AuditNode.index)))
    with attacker.begin() as connection:
        connection.execute(delete(AuditRecord).where(AuditRecord.index >= size))
        for level, index in nodes:
            if (index + 1) << level > size:
                connection.execute(
                    delete(AuditNode).where(AuditNode.level == level, AuditNode.index == index)
                )
        connection.execute(delete(AuditCheckpoint))
        connection.execute(delete(AuditMapNode))
        connection.execute(delete(AuditMapValue))
    with unit_of_work(sessions, write=True) as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        head.size, head.root = size, merkle.root(leaves)
        vmap_store.catch_up(session, size)


def _tongban(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dev_environment(
        TONGBAN_DATABASE_URL=database_url, TONGBAN_SECRET_KEY=SECRET, TONGBAN_AUDIT_ORIGIN=ORIGIN
    )
    return tongban_in_process(cwd, "audit", "verify", *args, env=env)


def _note_at(sessions: sessionmaker[Session], size: int, path: Path) -> Path:
    with unit_of_work(sessions) as session:
        row = session.get(AuditCheckpoint, size)
        assert row is not None
        path.write_text(row.note, "utf-8")
    return path


@pytest.mark.usefixtures("log_of_50")
def test_a_clean_log_passes_with_its_state_file_and_a_held_note(
    database_url: str, sessions: sessionmaker[Session], signer: CheckpointSigner, tmp_path: Path
) -> None:
    state, held = tmp_path / "state" / "verify.note", _note_at(sessions, 20, tmp_path / "20.note")
    first = _tongban(database_url, tmp_path, "--state", str(state), "--checkpoint", str(held))
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("audit log verified: 50 entries,")
    assert first.stdout.splitlines()[1:] == [
        "the log contains every checkpoint note given (1)",
        f"remembered size 50 in {state}",
    ]
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert signer.verifier().verify(state.read_text("utf-8")).size == 50
    again = _tongban(database_url, tmp_path, "--state", str(state), "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    summary = json.loads(again.stdout)
    assert (summary["ok"], summary["held"], summary["problems"]) == (True, 1, {})
    assert summary["state"] == {"file": str(state), "remembered": 50}


@pytest.mark.usefixtures("log_of_50")
def test_the_state_remembers_a_head_beyond_the_newest_checkpoint(
    database_url: str, sessions: sessionmaker[Session], signer: CheckpointSigner, tmp_path: Path
) -> None:
    """The head is signed for the state file, not stored: verify writes nothing to the log."""
    log = AuditLog(sessions)
    for n in range(50, 53):
        log.append(work_of(n))
    state = tmp_path / "verify.note"
    ran = _tongban(database_url, tmp_path, "--state", str(state))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert signer.verifier().verify(state.read_text("utf-8")).size == 53
    with unit_of_work(sessions) as session:
        assert max(session.scalars(select(AuditCheckpoint.size))) == 50


@pytest.mark.usefixtures("log_of_50")
def test_a_log_cut_back_is_refused_by_the_state_of_an_earlier_run(
    database_url: str, sessions: sessionmaker[Session], tamper: Engine, tmp_path: Path
) -> None:
    state = tmp_path / "verify.note"
    assert _tongban(database_url, tmp_path, "--state", str(state)).returncode == 0
    remembered = state.read_text("utf-8")
    _cut_back(sessions, tamper, 40)
    assert _tongban(database_url, tmp_path).returncode == 0  # consistent: nothing else sees it
    ran = _tongban(database_url, tmp_path, "--state", str(state))
    assert ran.returncode == 1
    assert ran.stdout.splitlines() == [
        f"shrink: first bad index 40: the state file {state} (size 50) lies beyond the log's"
        " 40 entries: it was cut back (1 in all)"
    ]
    assert ran.stderr.startswith("tongban: first bad index 40: the state file")
    assert state.read_text("utf-8") == remembered  # a failed run does not forget


@pytest.mark.usefixtures("log_of_50")
def test_a_log_cut_back_is_refused_by_a_note_held_from_before(
    database_url: str, sessions: sessionmaker[Session], tamper: Engine, tmp_path: Path
) -> None:
    held = _note_at(sessions, 50, tmp_path / "receipt.note")
    _cut_back(sessions, tamper, 30)
    ran = _tongban(database_url, tmp_path, "--checkpoint", str(held), "--json")
    assert ran.returncode == 1
    shrink = json.loads(ran.stdout)["problems"]["shrink"]
    assert shrink["first_index"] == 30
    assert str(held) in shrink["message"]


@pytest.mark.usefixtures("log_of_50")
def test_a_log_cut_back_and_grown_again_is_refused_as_rewritten(
    database_url: str, sessions: sessionmaker[Session], tamper: Engine, tmp_path: Path
) -> None:
    """Entries 40-49 replaced by others: the log is as large as before, its root is not."""
    state = tmp_path / "verify.note"
    assert _tongban(database_url, tmp_path, "--state", str(state)).returncode == 0
    _cut_back(sessions, tamper, 40)
    log = AuditLog(sessions)
    for n in range(100, 110):
        log.append(work_of(n))
    ran = _tongban(database_url, tmp_path, "--state", str(state))
    assert ran.returncode == 1
    assert "shrink: first bad index 0:" in ran.stdout  # no checkpoint is left to narrow it
    assert "(size 50) has another root: the log was rewritten" in ran.stdout


@pytest.mark.usefixtures("log_of_50")
def test_a_held_note_with_cosignatures_passes_and_a_forged_one_is_named(
    database_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """A witness's answer carries its own signature lines after the hub's: they are ignored.
    A note the hub never signed is a checkpoint problem naming the file."""
    note = _note_at(sessions, 50, tmp_path / "witnessed.note")
    witness = NoteSigner("witness.example/w1", _ed25519())
    cosigned = note.read_text("utf-8")
    line = witness.sign_text(cosigned.split("\n\n")[0] + "\n").rsplit("\n", 2)[-2]
    note.write_text(cosigned + line + "\n", "utf-8")
    assert parse_vkey(witness.vkey()).verify(note.read_text("utf-8")).size == 50
    assert _tongban(database_url, tmp_path, "--checkpoint", str(note)).returncode == 0
    forged = tmp_path / "forged.note"
    forged.write_text(witness.sign_text(f"{ORIGIN}\n50\n{'A' * 43}=\n"), "utf-8")
    ran = _tongban(database_url, tmp_path, "--checkpoint", str(forged))
    assert ran.returncode == 1
    assert ran.stdout.startswith(f"checkpoint: the checkpoint note {forged} is not a checkpoint")


def _ed25519() -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


@pytest.mark.usefixtures("log_of_50")
def test_the_cli_prints_one_line_per_kind_with_its_first_bad_index(
    database_url: str, tamper: Engine, tmp_path: Path
) -> None:
    _edit(tamper, 6, subject="f" * 64)
    with tamper.begin() as connection:
        connection.execute(
            text("UPDATE audit_nodes SET hash = :h WHERE level = 1 AND idx = 20"), {"h": b"\0" * 32}
        )
    ran = _tongban(database_url, tmp_path)
    assert ran.returncode == 1
    assert ran.stdout.splitlines() == [
        "column: first bad index 6: the search columns of entry 6 differ from it: subject"
        " (1 in all)",
        "node: first bad index 41: the stored node at level 1, index 20 is not the recomputed"
        " one (1 in all)",
    ]
    assert ran.stderr == (
        "tongban: first bad index 6: the search columns of entry 6 differ from it: subject"
        " (problems of kind node too)\n"
    )


# -- the subject map ---------------------------------------------------------------------------


@pytest.mark.usefixtures("log_of_50")
def test_a_clean_subject_map_holds_at_every_checkpoint(
    sessions: sessionmaker[Session], signer: CheckpointSigner
) -> None:
    report = verify_report(sessions, signer)
    assert report.ok, report.problems
    assert report.maps == 2  # the checkpoints at 20 and 50 each commit to the map
    with unit_of_work(sessions) as session:
        assert report.map_roots[50] == vmap_store.root_at(session, 50)
        assert report.map_roots[20] == vmap_store.root_at(session, 20)


_FIRST_KEY = "(SELECT map_key FROM audit_map_values ORDER BY map_key LIMIT 1)"


@pytest.mark.usefixtures("log_of_50")
@pytest.mark.parametrize(
    ("statement", "found"),
    [
        (
            "UPDATE audit_map_nodes SET hash = left_hash WHERE depth = 0"
            " AND version = (SELECT MAX(version) FROM audit_map_nodes WHERE depth = 0)",
            "the stored subject map at log size 50 is not the entries' map",
        ),
        (
            f"UPDATE audit_map_values SET entry_count = 2 WHERE map_key = {_FIRST_KEY}",  # noqa: S608
            "1 stored subject map values are not their entries'",
        ),
        (
            f"DELETE FROM audit_map_values WHERE map_key = {_FIRST_KEY}",  # noqa: S608
            "1 subjects of the log have no stored subject map value",
        ),
    ],
    ids=["root", "value", "missing-value"],
)
def test_a_subject_map_edited_in_the_database_is_named(
    sessions: sessionmaker[Session],
    signer: CheckpointSigner,
    tamper: Engine,
    statement: str,
    found: str,
) -> None:
    with tamper.begin() as connection:
        connection.execute(text(statement))
    report = verify_report(sessions, signer)
    assert list(report.problems) == ["map"], report.problems
    assert found in report.problems["map"].message


@pytest.mark.usefixtures("log_of_50")
def test_a_signed_map_that_leaves_a_subject_out_is_refused(
    database_url: str, sessions: sessionmaker[Session], signer: CheckpointSigner, tmp_path: Path
) -> None:
    """The hub's own key signed a checkpoint whose map hides entry 7's subject (a hub showing one
    citizen a shorter list): the entries contradict it."""
    with unit_of_work(sessions) as session:
        records = list(session.scalars(select(AuditRecord).order_by(AuditRecord.index)))
        head = session.get(AuditHead, 1)
        assert head is not None
        honest = vmap_store.root_at(session, 50)
    leaves = [
        vmap.Leaf(vmap.subject_key(r.subject), vmap.value_of([(r.index, r.leaf_hash)]).hash)
        for r in records
        if r.index != 7
    ]
    hidden = vmap.root(leaves)
    assert hidden != honest
    note = tmp_path / "shorter.note"
    note.write_text(signer.sign_head(50, head.root, hidden), "utf-8")
    ran = _tongban(database_url, tmp_path, "--checkpoint", str(note), "--json")
    assert ran.returncode == 1, ran.stdout
    problems = json.loads(ran.stdout)["problems"]
    assert list(problems) == ["map"], problems
    assert "commits to a subject map its entries do not give" in problems["map"]["message"]
    assert str(note) in problems["map"]["message"]
    honest_note = tmp_path / "honest.note"
    honest_note.write_text(signer.sign_head(50, head.root, honest), "utf-8")
    assert _tongban(database_url, tmp_path, "--checkpoint", str(honest_note)).returncode == 0


@pytest.mark.usefixtures("log_of_50")
def test_a_hub_upgraded_without_a_map_builds_it_by_command_and_on_its_next_append(
    database_url: str,
    sessions: sessionmaker[Session],
    signer: CheckpointSigner,
    tamper: Engine,
    tmp_path: Path,
) -> None:
    """A hub upgraded from before the map has a log and empty map tables."""
    with unit_of_work(sessions) as session:
        honest = vmap_store.root_at(session, 50)
    with tamper.begin() as connection:
        connection.execute(delete(AuditMapNode))
        connection.execute(delete(AuditMapValue))
    assert "map" in verify_report(sessions, signer).problems
    env = dev_environment(
        TONGBAN_DATABASE_URL=database_url, TONGBAN_SECRET_KEY=SECRET, TONGBAN_AUDIT_ORIGIN=ORIGIN
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("exchange.cli.audit.MAP_PAGE", 16)  # several transactions
        built = tongban_in_process(tmp_path, "audit", "build-map", "--json", env=env)
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["added"] == 50
    with unit_of_work(sessions) as session:
        assert vmap_store.latest(session) == (50, honest)
        for size in (16, 20, 32, 48):  # a version per transaction, and at each checkpoint
            assert vmap_store.root_at(session, size) is not None
    assert verify_report(sessions, signer).ok
    again = tongban_in_process(tmp_path, "audit", "build-map", "--json", env=env)
    assert json.loads(again.stdout)["added"] == 0
    # without the command, the next append builds it before adding its own entry
    with tamper.begin() as connection:
        connection.execute(delete(AuditMapNode))
        connection.execute(delete(AuditMapValue))
    AuditLog(sessions).append(work_of(50))
    report = verify_report(sessions, signer)
    assert report.ok, report.problems
    with unit_of_work(sessions) as session:
        assert vmap_store.latest(session)[0] == 51
