"""``tongban witness`` as its user runs it: init and key in this process, serve as a real
process whose state survives a restart, and the one-line refusals of a command that cannot
start."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from exchange.audit.cosignature import parse_cosigner_vkey
from tests.commands import tongban_in_process
from tests.servers import TONGBAN, free_port, hub_environment
from tests.witness.helpers import FakeLog, served_witness

NAME = "witness.neighbour-city.test/w1"


def tongban(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return tongban_in_process(tmp_path, *args, env=hub_environment())


@pytest.mark.parametrize("algorithm", ["ed25519", "ml-dsa-44"])
def test_init_writes_an_owner_only_key_and_prints_its_vkey(tmp_path: Path, algorithm: str) -> None:
    made = tongban(
        tmp_path, "witness", "init", "--name", NAME, "--key-file", "keys/w1.key",
        "--algorithm", algorithm,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    vkey = made.stdout.strip()
    assert made.stdout == vkey + "\n"
    verifier = parse_cosigner_vkey(vkey)
    assert (verifier.name, verifier.algorithm) == (NAME, algorithm)
    assert (tmp_path / "keys/w1.key").stat().st_mode & 0o777 == 0o600
    again = tongban(tmp_path, "witness", "key", "--key-file", "keys/w1.key")
    assert (again.returncode, again.stdout) == (0, made.stdout)


def test_init_never_overwrites_a_key(tmp_path: Path) -> None:
    first = tongban(tmp_path, "witness", "init", "--name", NAME, "--key-file", "w1.key")
    second = tongban(tmp_path, "witness", "init", "--name", NAME, "--key-file", "w1.key")
    assert second.returncode == 1
    assert second.stderr.count("\n") == 1
    assert "never overwritten" in second.stderr
    assert tongban(tmp_path, "witness", "key", "--key-file", "w1.key").stdout == first.stdout


@pytest.mark.serves
def test_a_served_witness_keeps_its_state_across_a_restart(tmp_path: Path) -> None:
    log = FakeLog()
    assert (
        tongban(tmp_path, "witness", "init", "--name", NAME, "--key-file", "w1.key").returncode == 0
    )
    args = ("--key-file", "w1.key", "--log", log.vkey(), "--log", FakeLog().vkey())
    args += ("--state", "var/witness.db")
    with served_witness(tmp_path, *args) as base:
        assert httpx.post(f"{base}/add-checkpoint", content=log.request(0, 6)).status_code == 200
        held = httpx.get(f"{base}/{log.origin_hash}/checkpoint").text
    assert (tmp_path / "var/witness.db").stat().st_mode & 0o777 == 0o600
    with served_witness(tmp_path, *args) as base:
        assert httpx.get(f"{base}/{log.origin_hash}/checkpoint").text == held
        stale = httpx.post(f"{base}/add-checkpoint", content=log.request(0, 9))
        assert (stale.status_code, stale.text) == (409, "6\n")
        assert httpx.post(f"{base}/add-checkpoint", content=log.request(6, 9)).status_code == 200


def serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tongban witness serve`` expected to refuse to start (a timeout if it starts)."""
    return subprocess.run(
        [TONGBAN, "witness", "serve", *args],
        cwd=tmp_path,
        env=hub_environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.serves
def test_serve_says_plainly_that_its_port_is_taken(tmp_path: Path) -> None:
    tongban(tmp_path, "witness", "init", "--name", NAME, "--key-file", "w1.key")
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        refused = serve(
            tmp_path, "--key-file", "w1.key", "--log", FakeLog().vkey(),
            "--state", "state.db", "--port", str(port),
        )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr == (
        f"tongban: port {port} on 127.0.0.1 is already in use; stop what listens there or "
        "choose another with --port\n"
    )
    assert not (tmp_path / "state.db").exists()


@pytest.mark.serves
@pytest.mark.parametrize(
    ("setup", "args", "reason"),
    [
        ("open-key", ("--log", "{log}"), "may be read by others; chmod 600 it first"),
        ("", (), "the witness trusts no log: name one with --logs or --log"),
        ("", ("--log", "{witness}"), "--log number 1: the verifier key is not an Ed25519 key"),
        ("", ("--logs", "absent.policy"), "cannot read absent.policy (FileNotFoundError)"),
    ],
)
def test_serve_refuses_to_start_in_one_line(
    tmp_path: Path, setup: str, args: tuple[str, ...], reason: str
) -> None:
    made = tongban(tmp_path, "witness", "init", "--name", NAME, "--key-file", "w1.key")
    if setup == "open-key":
        os.chmod(tmp_path / "w1.key", 0o644)
    fill = {"log": FakeLog().vkey(), "witness": made.stdout.strip()}
    refused = serve(
        tmp_path, "--key-file", "w1.key", "--state", "state.db",
        "--port", str(free_port()), *(a.format(**fill) for a in args),
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("tongban: ")
    assert reason in refused.stderr
