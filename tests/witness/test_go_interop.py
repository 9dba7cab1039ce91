"""The witness's cosignatures checked by an independent implementation: Go's
golang.org/x/mod/sumdb/note opens the note the witness serves with the log's verifier key
(``note.NewVerifier``) and a ``note.Verifier`` for cosignature/v1 written in Go from
c2sp.org/tlog-cosignature (``go/open_cosigned.go``), and refuses it once anything is altered.

Go comes from Debian's ``golang-go`` and ``golang-golang-x-mod-dev`` (GOPATH
/usr/share/gocode, nothing downloaded); ``.ci/run`` installs them. Without them this is skipped
locally and fails under CI."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.audit.checkpoint import parse_vkey
from exchange.audit.cosignature import Cosigner
from exchange.witness.logs import TrustedLogs
from exchange.witness.service import Witness
from exchange.witness.state import WitnessState
from tests.databases import missing
from tests.profiles import only_under
from tests.witness.helpers import FakeLog

pytestmark = [
    pytest.mark.serves,
    only_under("intl", "Go's sumdb/note verifies Ed25519 log signatures; a gm log signs SM2"),
]

GOPATH = Path("/usr/share/gocode")
NOTE_PACKAGE = GOPATH / "src/golang.org/x/mod/sumdb/note/note.go"
PROGRAM = Path(__file__).parent / "go" / "open_cosigned.go"
WITNESS = "witness.audit-bureau.test/w1"


@pytest.fixture(scope="module")
def open_cosigned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go program, built once."""
    go = shutil.which("go")
    if go is None or not NOTE_PACKAGE.is_file():
        missing("the Go interoperability test needs golang-go and golang-golang-x-mod-dev")
    assert go is not None
    workdir = tmp_path_factory.mktemp("go")
    binary = workdir / "open_cosigned"
    environment = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(workdir / "cache"),
        "GOFLAGS": "",
    }
    built = subprocess.run(
        [go, "build", "-o", str(binary), str(PROGRAM)],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return binary


@pytest.fixture
def cosigned(tmp_path: Path) -> tuple[FakeLog, Witness, str]:
    """A log, a witness that cosigned its checkpoints 0 -> 9 -> 30, and the note it serves."""
    log = FakeLog(30)
    cosigner = Cosigner(WITNESS, Ed25519PrivateKey.generate())
    state = WitnessState.open(str(tmp_path / "state.db"))
    witness = Witness(cosigner, TrustedLogs.of([parse_vkey(log.vkey())]), state)
    witness.add_checkpoint(log.request(0, 9))
    witness.add_checkpoint(log.request(9, 30))
    note = witness.latest_note(log.origin_hash)
    state.close()
    assert note is not None
    return log, witness, note


def go_open(
    binary: Path, log: FakeLog, witness: Witness, note: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), log.vkey(), witness.vkey()],
        input=note,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_go_verifies_the_logs_signature_and_the_witness_cosignature(
    open_cosigned: Path, cosigned: tuple[FakeLog, Witness, str]
) -> None:
    log, witness, note = cosigned
    opened = go_open(open_cosigned, log, witness, note)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.splitlines() == [log.origin, WITNESS]


def _alter_cosignature(note: str, position: int) -> str:
    """The note with one bit of the witness line's blob flipped at *position* (negative: from
    the end), so key id and name still match and only the signature is wrong."""
    head, line = note[:-1].rsplit("\n", 1)
    prefix, encoded = line.rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[position] ^= 0x01
    return f"{head}\n{prefix} {base64.b64encode(bytes(blob)).decode()}\n"


@pytest.mark.parametrize(("what", "position"), [("signature", -1), ("timestamp", 11)])
def test_go_refuses_a_tampered_cosignature(
    open_cosigned: Path, cosigned: tuple[FakeLog, Witness, str], what: str, position: int
) -> None:
    log, witness, note = cosigned
    refused = go_open(open_cosigned, log, witness, _alter_cosignature(note, position))
    assert refused.returncode == 1, (what, refused.stdout)
    assert f"invalid signature for key {WITNESS}" in refused.stderr


def test_go_refuses_an_altered_checkpoint(
    open_cosigned: Path, cosigned: tuple[FakeLog, Witness, str]
) -> None:
    log, witness, note = cosigned
    refused = go_open(open_cosigned, log, witness, note.replace("\n30\n", "\n31\n", 1))
    assert refused.returncode == 1
    assert "invalid signature" in refused.stderr


def test_go_checks_the_witness_line_alone(
    open_cosigned: Path, cosigned: tuple[FakeLog, Witness, str]
) -> None:
    """Without the log's line, only the cosignature verifies: it is checked on its own."""
    log, witness, note = cosigned
    text, lines = note.split("\n\n")
    only_witness = f"{text}\n\n{lines.splitlines()[1]}\n"
    opened = go_open(open_cosigned, log, witness, only_witness)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.splitlines() == [WITNESS]
