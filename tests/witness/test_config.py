"""The witness's key file and the logs it trusts: what is accepted, what is refused and why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, update

from exchange.audit.cosignature import Cosigner, parse_cosigner_vkey
from exchange.witness.errors import WitnessConfigError, WitnessKeyError, WitnessStateError
from exchange.witness.keys import create_key_file, parse_private_key, read_key_file
from exchange.witness.logs import trusted_logs
from exchange.witness.state import WitnessState, schema_table, state_url
from tests.witness.helpers import FakeLog


@pytest.mark.parametrize("algorithm", ["ed25519", "ml-dsa-44"])
def test_a_key_file_is_owner_only_and_reads_back_as_the_same_key(
    tmp_path: Path, algorithm: str
) -> None:
    path = tmp_path / "keys" / "witness.key"
    made = create_key_file(path, "witness.test/w1", algorithm)  # type: ignore[arg-type]
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    text = path.read_text()
    assert text.startswith("PRIVATE+KEY+witness.test/w1+")
    assert text.count("\n") == 1
    read = read_key_file(path)
    assert read.vkey() == made.vkey()
    assert parse_cosigner_vkey(read.vkey()).algorithm == algorithm


def test_a_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "witness.key"
    first = create_key_file(path, "witness.test/w1", "ed25519")
    with pytest.raises(WitnessKeyError, match="never overwritten"):
        create_key_file(path, "witness.test/w1", "ed25519")
    assert read_key_file(path).vkey() == first.vkey()


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "witness.key"
    create_key_file(path, "witness.test/w1", "ed25519")
    os.chmod(path, 0o640)
    with pytest.raises(WitnessKeyError, match="chmod 600"):
        read_key_file(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("witness.test/w1+00000000+AAAA", "does not hold a witness private key"),
        ("PRIVATE+KEY+bad name+00000000+BAAA", "malformed"),
        ("PRIVATE+KEY+w+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "no Ed25519"),
        ("PRIVATE+KEY+w+00000000+BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "id does not"),
    ],
)
def test_a_malformed_key_is_refused(text: str, problem: str) -> None:
    with pytest.raises(WitnessKeyError, match=problem):
        parse_private_key(text)


def test_a_bad_name_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WitnessKeyError, match="witness name"):
        create_key_file(tmp_path / "k", "two words", "ed25519")
    with pytest.raises(WitnessKeyError, match="witness init"):
        read_key_file(tmp_path / "absent.key")
    assert not (tmp_path / "k").exists()


def test_the_logs_come_from_policy_log_lines_and_single_keys() -> None:
    a, b, c = FakeLog(), FakeLog(), FakeLog()
    policy = f"# the logs\nlog {a.vkey()} https://hub.example/audit\n\tlog  {b.vkey()}\n"
    logs = trusted_logs(policy, [c.vkey()])
    assert logs.origins == sorted([a.origin, b.origin, c.origin])
    assert [v.vkey() for v in logs.keys_of(a.origin)] == [a.vkey()]
    assert logs.keys_of("tongban.test/unknown") == ()
    full = f"log {a.vkey()}\nwitness w1 {_witness_vkey()}\nquorum w1\n"
    assert trusted_logs(full).origins == [a.origin]


@pytest.mark.parametrize(
    ("policy", "vkeys", "problem"),
    [
        (None, [], "trusts no log"),
        ("# nothing\n", [], "trusts no log"),
        ("log not-a-key\n", [], "the logs file: line 1"),
        ("logs {a}\n", [], "the logs file: line 1"),
        (None, ["{w}"], "--log number 1"),
        ("log {a}\n", ["{a}"], "named twice"),
    ],
)
def test_bad_logs_are_refused(policy: str | None, vkeys: list[str], problem: str) -> None:
    a = FakeLog().vkey()
    fill = {"a": a, "w": _witness_vkey()}
    with pytest.raises(WitnessConfigError, match=problem):
        trusted_logs(
            None if policy is None else policy.format(**fill), [v.format(**fill) for v in vkeys]
        )


def test_a_state_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    target = str(tmp_path / "state.db")
    WitnessState.open(target).close()
    engine = create_engine(state_url(target))
    with engine.begin() as connection:
        connection.execute(update(schema_table).values(version=2))
    engine.dispose()
    with pytest.raises(WitnessStateError, match="schema version 2"):
        WitnessState.open(target)


def test_an_in_memory_state_is_refused() -> None:
    with pytest.raises(WitnessStateError, match="in-memory"):
        WitnessState.open("sqlite://")


def test_a_state_file_is_owner_only(tmp_path: Path) -> None:
    WitnessState.open(str(tmp_path / "new" / "state.db")).close()
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new" / "state.db").stat().st_mode & 0o777 == 0o600


def _witness_vkey() -> str:
    return Cosigner("witness.test/w1", Ed25519PrivateKey.generate()).vkey()
