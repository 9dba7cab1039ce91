"""Key custody (密钥分割): Shamir shares of the master secret, their checks, and the CLI.

The module's promises, each tested here: any K of N shares rebuild the secret and K - 1 do not
pin it; a damaged line is refused by its checksum, a share of another split by its set id, a
well-formed but wrong share by the key check value; errors name shares by x and never show a
share or the secret; ``tongban keys split`` / ``join`` write 0600 files and give back a secret
the hub can still decrypt its signing keys with.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from exchange.cli.keys import keys_app
from exchange.db import unit_of_work
from exchange.security import custody
from exchange.security.custody import (
    Share,
    join_shares,
    key_check_value,
    parse_share,
    read_shares,
    split_secret,
)
from exchange.security.errors import (
    CustodyError,
    DuplicateShare,
    HubKeyUnavailable,
    InvalidSplit,
    NotEnoughShares,
    ShareCorrupted,
    ShareMalformed,
    SharesMixed,
    WrongShare,
)
from exchange.security.keys import HubKeys
from exchange.settings import Settings
from tests.commands import tongban_in_process
from tests.servers import dev_environment

ISSUER = "https://hub.example"
PUBLIC_URL = ISSUER
TONGBAN = shutil.which("tongban", path=str(Path(sys.executable).parent)) or "tongban"


def _secret_text() -> str:
    return secrets.token_urlsafe(32)


def _tampered(share: Share, position: int = 0) -> Share:
    """The same share with one payload bit flipped, re-encodable with a valid checksum."""
    payload = bytearray(share.payload)
    payload[position] ^= 0x01
    return dataclasses.replace(share, payload=bytes(payload))


def _refused(
    error_type: type[CustodyError],
    call: Callable[[], object],
    secret: bytes,
    shares: Sequence[Share],
) -> str:
    """Run ``call``, expect ``error_type``, and check that its message shows no secret and no
    share; returns the message."""
    with pytest.raises(error_type) as caught:
        call()
    message = str(caught.value)
    assert caught.value.code == error_type.code
    for shown in (secret.hex(), base64.urlsafe_b64encode(secret).decode().rstrip("=")):
        assert shown not in message
    if len(secret) >= 4:
        assert secret.decode("latin-1") not in message
    for share in shares:
        assert share.encode() not in message
        assert base64.urlsafe_b64encode(share.payload).decode().rstrip("=") not in message
    return message


# -- the scheme ------------------------------------------------------------------------------


@st.composite
def _splits(draw: st.DrawFn) -> tuple[bytes, int, int, list[int]]:
    secret = draw(st.binary(min_size=1, max_size=160))
    total = draw(st.integers(min_value=2, max_value=24))
    threshold = draw(st.integers(min_value=2, max_value=total))
    order = draw(st.permutations(range(total)))
    chosen = list(order[: draw(st.integers(min_value=threshold, max_value=total))])
    return secret, threshold, total, chosen


@given(_splits())
@hypothesis_settings(max_examples=150, deadline=None)
def test_any_k_or_more_of_n_shares_rebuild_the_secret(
    split: tuple[bytes, int, int, list[int]],
) -> None:
    secret, threshold, total, chosen = split
    shares = split_secret(secret, shares=total, threshold=threshold)
    assert [s.x for s in shares] == list(range(1, total + 1))
    assert join_shares([shares[i] for i in chosen]) == secret


@pytest.mark.parametrize(
    ("threshold", "total"), [(2, 2), (2, 3), (3, 5), (5, 5), (2, 255), (200, 255), (255, 255)]
)
@pytest.mark.parametrize("length", [1, 17, 43, custody.MAX_SECRET_BYTES])
def test_round_trip_at_the_limits(threshold: int, total: int, length: int) -> None:
    secret = secrets.token_bytes(length)
    shares = split_secret(secret, shares=total, threshold=threshold)
    assert len(shares) == total
    assert all(len(s.payload) == length for s in shares)
    last_k = shares[-threshold:]
    assert join_shares(last_k) == secret
    assert join_shares([parse_share(s.encode()) for s in reversed(last_k)]) == secret


def test_shares_are_not_the_secret_and_differ_between_splits() -> None:
    secret = secrets.token_bytes(32)
    first = split_secret(secret, shares=3, threshold=2)
    second = split_secret(secret, shares=3, threshold=2)
    assert all(s.payload != secret for s in first)
    assert first[0].set_id != second[0].set_id
    assert first[0].kcv != second[0].kcv  # the set id is in the check value's message
    assert first[0].payload != second[0].payload


@pytest.mark.parametrize(("threshold", "total"), [(2, 2), (3, 5), (5, 9)])
def test_fewer_than_k_shares_are_refused(threshold: int, total: int) -> None:
    secret = secrets.token_bytes(32)
    shares = split_secret(secret, shares=total, threshold=threshold)
    message = _refused(
        NotEnoughShares, lambda: join_shares(shares[: threshold - 1]), secret, shares
    )
    assert f"needs {threshold}" in message
    _refused(NotEnoughShares, lambda: join_shares([]), secret, shares)


@given(st.binary(min_size=1, max_size=64), st.binary(min_size=1, max_size=64), st.data())
@hypothesis_settings(max_examples=50, deadline=None)
def test_k_minus_1_shares_fit_every_secret(
    secret: bytes, other: bytes, data: st.DataObject
) -> None:
    """K - 1 shares do not pin the secret: with them, a K-th point can be made for any other
    secret of the same length, so they hold no information about which one it was."""
    other = (other * len(secret))[: len(secret)]
    threshold = data.draw(st.integers(min_value=2, max_value=6))
    shares = split_secret(secret, shares=threshold + 2, threshold=threshold)
    known = [(s.x, s.payload) for s in shares[: threshold - 1]]
    forged_x = shares[-1].x
    forged_y = custody._interpolate([*known, (0, other)], forged_x)
    assert custody._interpolate([*known, (forged_x, forged_y)], 0) == other


def test_the_key_check_value_is_an_hmac_of_the_secret_under_the_set_id() -> None:
    secret = b"0123456789abcdef0123456789abcdef"
    set_id = bytes(range(8))
    kcv = key_check_value(secret, set_id)
    assert len(kcv) == 6
    assert kcv != key_check_value(secret + b"!", set_id)
    assert kcv != key_check_value(secret, bytes(8))
    shares = split_secret(secret, shares=3, threshold=2)
    assert {s.kcv for s in shares} == {key_check_value(secret, shares[0].set_id)}


@pytest.mark.parametrize(
    ("threshold", "total", "secret_bytes"),
    [(1, 3, 16), (4, 3, 16), (2, 256, 16), (0, 0, 16), (2, 3, 0), (2, 3, 1025)],
)
def test_impossible_splits_are_refused(threshold: int, total: int, secret_bytes: int) -> None:
    with pytest.raises(InvalidSplit):
        split_secret(b"s" * secret_bytes, shares=total, threshold=threshold)


# -- the share line --------------------------------------------------------------------------


def test_a_share_line_reads_back_as_the_same_share() -> None:
    share = split_secret(b"a secret of some length", shares=5, threshold=3)[3]
    line = share.encode()
    assert line.startswith("tongban-share-v1:")
    assert line.count(":") == 7
    assert parse_share(line) == share
    assert parse_share(f"  {line}\r\n") == share
    assert "payload" not in repr(share)


def test_a_flipped_character_is_refused_by_the_checksum_naming_the_share() -> None:
    secret = secrets.token_bytes(32)
    shares = split_secret(secret, shares=5, threshold=3)
    line = shares[1].encode()
    body, _, _ = line.rpartition(":")
    payload_at = len(body) - 5
    flipped = line[:payload_at] + ("B" if line[payload_at] != "B" else "C") + line[payload_at + 1 :]
    message = _refused(
        ShareCorrupted, lambda: parse_share(flipped, where="share-2.txt line 4"), secret, shares
    )
    assert "x=2" in message
    assert "share-2.txt line 4" in message


_LINE_CHARACTERS = "0123456789abcdefABCDEF_-:xyz"
_FIXED_SHARE = Share(bytes(range(8)), 2, 4, 3, bytes(range(6)), bytes(range(40, 72)))


@given(st.data())
@hypothesis_settings(max_examples=300, deadline=None)
def test_any_one_character_changed_is_refused(data: st.DataObject) -> None:
    line = _FIXED_SHARE.encode()
    at = data.draw(st.integers(min_value=0, max_value=len(line) - 1))
    new = data.draw(st.sampled_from([c for c in _LINE_CHARACTERS if c != line[at]]))
    changed = line[:at] + new + line[at + 1 :]
    with pytest.raises((ShareCorrupted, ShareMalformed)):
        parse_share(changed)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("hello", "not a Tongban key share"),
        ("", "not a Tongban key share"),
        ("tongban-share-v2:00:2:3:1:00:AA:00000000", "format this version does not read"),
    ],
)
def test_what_is_not_a_share_is_refused(text: str, reason: str) -> None:
    with pytest.raises(ShareMalformed, match=reason):
        parse_share(text)


def _reencoded(body: str) -> str:
    return f"{body}:{custody._checksum(body)}"


@pytest.mark.parametrize(
    "body",
    [
        "tongban-share-v1:0011223344556677:3:2:1:001122334455:AAAA",  # K > N
        "tongban-share-v1:0011223344556677:2:3:4:001122334455:AAAA",  # x > N
        "tongban-share-v1:0011223344556677:2:3:0:001122334455:AAAA",  # x = 0 is the secret
        "tongban-share-v1:0011223344556677:1:3:1:001122334455:AAAA",  # K = 1
        "tongban-share-v1:0011223344556677:2:300:1:001122334455:AAAA",  # N > 255
        "tongban-share-v1:0011223344556677:2:3:1:001122334455:AAA=",  # padding
        "tongban-share-v1:0011223344556677:2:3:1:001122334455:AAB",  # non-canonical base64
        "tongban-share-v1:0011223344556677:2:3:1:001122334455:A",  # impossible length
        "tongban-share-v1:0011223344556677:02:3:1:001122334455:AAAA",  # leading zero
        "tongban-share-v1:0011223344556677:2:3:1:001122334455:",  # no payload
        "tongban-share-v1:0011223344556677:2:3:1:001122334455:AAAA:extra",
    ],
)
def test_a_line_with_a_valid_checksum_but_impossible_fields_is_refused(body: str) -> None:
    with pytest.raises(ShareMalformed):
        parse_share(_reencoded(body))


def test_share_files_skip_comments_and_blank_lines() -> None:
    shares = split_secret(b"secret", shares=3, threshold=2)
    text = shares[0].document(note=" Made today.") + "\n# another note\n" + shares[2].encode()
    assert read_shares(text, where="f") == [shares[0], shares[2]]
    line = shares[1].encode()
    changed = line[:-1] + ("1" if line.endswith("0") else "0")  # never the character it had
    with pytest.raises(ShareCorrupted, match="f line 2"):
        read_shares("# note\n" + changed, where="f")


# -- joining ---------------------------------------------------------------------------------


def test_a_well_formed_wrong_share_is_refused_by_the_key_check_value() -> None:
    secret = secrets.token_bytes(32)
    shares = split_secret(secret, shares=5, threshold=3)
    wrong = parse_share(_tampered(shares[1]).encode())  # passes its own checksum
    message = _refused(
        WrongShare, lambda: join_shares([shares[0], wrong, shares[4]]), secret, shares
    )
    assert "do not reconstruct the key: one is wrong" in message


def test_without_the_key_check_value_the_wrong_share_would_give_a_wrong_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control for the test above: nothing but the check value stands between a
    well-formed wrong share and a wrong key."""
    secret = secrets.token_bytes(32)
    shares = split_secret(secret, shares=5, threshold=3)
    wrong = parse_share(_tampered(shares[1]).encode())
    monkeypatch.setattr(custody, "_kcv_matches", lambda candidate, group: True)
    rebuilt = join_shares([shares[0], wrong, shares[4]])
    assert rebuilt != secret
    assert len(rebuilt) == len(secret)


def test_with_more_than_k_shares_the_wrong_one_is_named() -> None:
    secret = secrets.token_bytes(40)
    shares = split_secret(secret, shares=6, threshold=3)
    given = [shares[0], _tampered(shares[3], 7), shares[1], shares[5], shares[2]]
    message = _refused(WrongShare, lambda: join_shares(given), secret, shares)
    assert "x=4" in message
    for innocent in ("x=1", "x=2", "x=3", "x=6"):
        assert innocent not in message
    assert join_shares([s for s in given if s.x != 4]) == secret


def test_with_the_wrong_share_first_the_others_still_find_it() -> None:
    secret = secrets.token_bytes(16)
    shares = split_secret(secret, shares=4, threshold=2)
    message = _refused(
        WrongShare, lambda: join_shares([_tampered(shares[0]), *shares[1:]]), secret, shares
    )
    assert "x=1" in message
    assert "x=2" not in message


def test_too_many_wrong_shares_are_refused_without_a_key() -> None:
    secret = secrets.token_bytes(16)
    shares = split_secret(secret, shares=3, threshold=2)
    given = [_tampered(shares[0]), _tampered(shares[1], 3), shares[2]]
    message = _refused(WrongShare, lambda: join_shares(given), secret, shares)
    assert "several" in message


def test_a_share_of_another_split_is_refused() -> None:
    secret = secrets.token_bytes(32)
    ours = split_secret(secret, shares=3, threshold=2)
    theirs = split_secret(secret, shares=3, threshold=2)  # same secret, another split
    message = _refused(SharesMixed, lambda: join_shares([ours[0], theirs[1]]), secret, ours)
    assert ours[0].set_id.hex() in message
    assert theirs[1].set_id.hex() in message


def test_a_share_with_an_altered_header_is_refused() -> None:
    secret = secrets.token_bytes(32)
    shares = split_secret(secret, shares=5, threshold=3)
    lowered = parse_share(dataclasses.replace(shares[2], threshold=2).encode())
    message = _refused(
        SharesMixed, lambda: join_shares([shares[0], shares[1], lowered]), secret, shares
    )
    assert "x=3" in message


def test_duplicate_shares_are_refused() -> None:
    secret = secrets.token_bytes(32)
    shares = split_secret(secret, shares=4, threshold=3)
    message = _refused(
        DuplicateShare, lambda: join_shares([shares[0], shares[1], shares[1]]), secret, shares
    )
    assert "x=2 is given twice" in message
    rival = _tampered(shares[1])
    message = _refused(
        DuplicateShare, lambda: join_shares([shares[0], shares[1], rival]), secret, shares
    )
    assert "claim x=2" in message


# -- the command line ------------------------------------------------------------------------


def _invoke(
    *args: str, env: dict[str, str | None] | None = None, stdin: str | None = None
) -> Result:
    environment: dict[str, str | None] = {"TONGBAN_CONFIG": None, **(env or {})}
    return CliRunner().invoke(keys_app, list(args), env=environment, input=stdin)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _secret_file(tmp_path: Path, secret: str) -> Path:
    path = tmp_path / "master.key"
    path.write_text(secret + "\n", "utf-8")
    return path


def test_split_to_a_directory_writes_one_0600_file_per_custodian(tmp_path: Path) -> None:
    secret = _secret_text()
    out = tmp_path / "custodians"
    result = _invoke(
        "split", "--shares", "5", "--threshold", "3",
        "--secret-file", str(_secret_file(tmp_path, secret)), "--out", str(out), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"share-{x}-of-5.txt" for x in range(1, 6)]
    assert summary["files"] == [str(out / f"share-{x}-of-5.txt") for x in range(1, 6)]
    assert all(_mode(f) == 0o600 for f in files)
    assert _mode(out) == 0o700
    assert secret not in result.output
    for x, path in enumerate(files, start=1):
        (share,) = read_shares(path.read_text("utf-8"), where=path.name)
        assert share.x == x
        assert share.set_id.hex() == summary["set_id"]
        assert share.kcv.hex() == summary["key_check_value"]
        assert secret not in path.read_text("utf-8")

    joined = tmp_path / "joined.key"
    picked = [str(files[4]), str(files[0]), str(files[2])]
    result = _invoke("join", *picked, "--out", str(joined))
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    assert joined.read_bytes() == secret.encode()
    assert _mode(joined) == 0o600

    result = _invoke("join", *picked, "--out", str(joined))
    assert isinstance(result.exception, CustodyError)
    assert "refusing to overwrite" in str(result.exception)


def test_split_refuses_to_overwrite_an_earlier_split(tmp_path: Path) -> None:
    secret_file = _secret_file(tmp_path, _secret_text())
    args = ("split", "--shares", "3", "--threshold", "2", "--secret-file", str(secret_file))
    first = _invoke(*args, "--out", str(tmp_path / "s"))
    assert first.exit_code == 0, first.output
    before = (tmp_path / "s" / "share-1-of-3.txt").read_text("utf-8")
    again = _invoke(*args, "--out", str(tmp_path / "s"))
    assert isinstance(again.exception, CustodyError)
    assert (tmp_path / "s" / "share-1-of-3.txt").read_text("utf-8") == before


def test_split_prints_shares_and_join_reads_them_from_stdin(tmp_path: Path) -> None:
    secret = _secret_text()
    result = _invoke(
        "split", "--shares", "4", "--threshold", "2", env={"TONGBAN_SECRET_KEY": secret}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert [parse_share(line).x for line in lines] == [1, 2, 3, 4]

    joined = _invoke("join", stdin=f"{lines[3]}\n\n{lines[1]}\n")
    assert joined.exit_code == 0, joined.output
    assert joined.stdout == secret + "\n"

    as_json = _invoke("join", "--json", stdin="\n".join(lines[:2]))
    assert json.loads(as_json.stdout)["secret"] == secret
    assert json.loads(as_json.stdout)["shares"] == [1, 2]


def test_split_json_without_out_lists_the_shares() -> None:
    secret = _secret_text()
    result = _invoke(
        "split", "--shares", "3", "--threshold", "3", "--json", env={"TONGBAN_SECRET_KEY": secret}
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["threshold"], summary["total"]) == (3, 3)
    shares = [parse_share(line) for line in summary["shares"]]
    assert join_shares(shares) == secret.encode()


def test_the_joined_secret_still_opens_the_hubs_stored_keys(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    secret = _secret_text()
    settings = Settings(database_url=database_url, secret_key=SecretStr(secret), mode="prod")
    issued = int(time.time())
    claims = {"iss": ISSUER, "aud": "a", "sub": "s", "iat": issued, "exp": issued + 300}
    with unit_of_work(sessions, write=True) as session:
        token = HubKeys(settings).sign(session, claims, typ="at+jwt")

    env: dict[str, str | None] = {
        "TONGBAN_SECRET_KEY": secret,
        "TONGBAN_MODE": "prod",
        "TONGBAN_PUBLIC_URL": PUBLIC_URL,
    }
    split = _invoke(
        "split", "--shares", "3", "--threshold", "2", "--out", str(tmp_path / "s"), env=env
    )
    assert split.exit_code == 0, split.output
    joined_file = tmp_path / "joined"
    files = [str(tmp_path / "s" / "share-3-of-3.txt"), str(tmp_path / "s" / "share-1-of-3.txt")]
    joined = _invoke("join", *files, "--out", str(joined_file))
    assert joined.exit_code == 0, joined.output

    restarted = settings.model_copy(update={"secret_key": SecretStr(joined_file.read_text())})
    keys = HubKeys(restarted)  # a fresh process: no key cached, the stored key must decrypt
    with unit_of_work(sessions, write=True) as session:
        again = keys.sign(session, claims, typ="at+jwt")
        verified = keys.verify(session, token, typ="at+jwt", audience="a", issuer=ISSUER)
    assert verified["sub"] == "s"
    assert again.split(".")[0] == token.split(".")[0]  # same kid: the stored key, not a new one

    wrong = settings.model_copy(update={"secret_key": SecretStr(_secret_text())})
    with unit_of_work(sessions, write=True) as session, pytest.raises(HubKeyUnavailable):
        HubKeys(wrong).sign(session, claims, typ="at+jwt")


# -- the command as an operator runs it ------------------------------------------------------


def _run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    inherited = dev_environment()
    return subprocess.run(
        [TONGBAN, "keys", *args],
        cwd=cwd,
        env={**inherited, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _here(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """:func:`_run` in this process (:mod:`tests.commands`): the same command code, exit code
    and streams, without an interpreter start-up each."""
    environment = {**dev_environment(), **(env or {})}
    return tongban_in_process(cwd, "keys", *args, env=environment, stdin=stdin)


@pytest.fixture
def custodians(tmp_path: Path) -> tuple[str, list[Path]]:
    """A prod secret split 3-of-5 by the real command; the secret and the five share files."""
    secret = _secret_text()
    env = {"TONGBAN_SECRET_KEY": secret, "TONGBAN_MODE": "prod", "TONGBAN_PUBLIC_URL": PUBLIC_URL}
    result = _here(tmp_path, "split", "--shares", "5", "--threshold", "3", "--out", "s", env=env)
    assert result.returncode == 0, result.stderr
    assert "any 3 rebuild" in result.stdout
    return secret, sorted((tmp_path / "s").iterdir())


def _assert_one_line_refusal(result: subprocess.CompletedProcess[str], secret: str) -> str:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tongban: ")
    assert secret not in result.stderr
    assert "tongban-share-v1:" not in result.stderr
    return lines[0]


def test_the_command_joins_and_refuses_like_an_operator_sees_it(
    tmp_path: Path, custodians: tuple[str, list[Path]]
) -> None:
    secret, files = custodians
    ok = _here(tmp_path, "join", str(files[1]), str(files[3]), str(files[4]))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == secret + "\n"

    too_few = _here(tmp_path, "join", str(files[0]), str(files[1]))
    assert "2 share(s) given; this split needs 3" in _assert_one_line_refusal(too_few, secret)

    damaged = tmp_path / "damaged.txt"
    text = files[2].read_text("utf-8")
    share_line = text.splitlines()[-1]
    at = share_line.rindex(":") - 3
    swapped = share_line[:at] + ("A" if share_line[at] != "A" else "B") + share_line[at + 1 :]
    damaged.write_text(text.replace(share_line, swapped), "utf-8")
    corrupt = _here(tmp_path, "join", str(files[0]), str(damaged), str(files[4]))
    reason = _assert_one_line_refusal(corrupt, secret)
    assert "x=3" in reason
    assert "corrupted" in reason

    other = _here(
        tmp_path, "split", "--shares", "5", "--threshold", "3",
        env=_prod(secret),
    )  # fmt: skip
    foreign = other.stdout.splitlines()[1]
    mixed = _here(tmp_path, "join", stdin="\n".join([*_lines(files[:2]), foreign]))
    assert "from split" in _assert_one_line_refusal(mixed, secret)

    wrong_share = parse_share(_lines(files[3:4])[0])
    forged = _tampered(wrong_share).encode()
    wrong = _here(tmp_path, "join", stdin="\n".join([*_lines(files[:2]), forged]))
    assert "one is wrong" in _assert_one_line_refusal(wrong, secret)

    duplicate = _here(tmp_path, "join", str(files[0]), str(files[0]), str(files[1]))
    assert "given twice" in _assert_one_line_refusal(duplicate, secret)


def _prod(secret: str) -> dict[str, str]:
    return {"TONGBAN_SECRET_KEY": secret, "TONGBAN_MODE": "prod", "TONGBAN_PUBLIC_URL": PUBLIC_URL}


def _lines(files: Sequence[Path]) -> list[str]:
    return [f.read_text("utf-8").splitlines()[-1] for f in files]


@pytest.mark.serves
def test_prod_mode_refuses_to_split_without_a_configured_secret(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        "split",
        "--shares",
        "3",
        "--threshold",
        "2",
        env={"TONGBAN_MODE": "prod", "TONGBAN_PUBLIC_URL": PUBLIC_URL},
    )
    assert "TONGBAN_SECRET_KEY" in _assert_one_line_refusal(result, "TONGBAN_MODE=prod")
    assert not list(tmp_path.iterdir())
