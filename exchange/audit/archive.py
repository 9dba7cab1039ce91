"""The audit log archived to a directory that anyone can verify without the hub: the first step
of moving a hub to another crypto profile (docs/gm.md, "Moving an `intl` hub to `gm`").

:func:`write_archive` signs a last checkpoint of the log as it stands (the hub stopped), then
writes, into a new directory:

- ``entries.jsonl``: one line per entry, ``{"index", "entry", "leaf_hash"}`` (the entry's
  RFC 8785 text as stored, and its stored leaf hash, base64);
- ``checkpoints.jsonl``: every checkpoint the hub signed, ``{"size", "note"}``, the last one
  covering every entry;
- ``cosignatures.jsonl``: every witness cosignature kept, ``{"size", "cosigner", "key_id",
  "line"}``;
- ``log.vkey``: the log's checkpoint key (C2SP vkey; its type says the tree's hash);
- ``hub-keys.json``: the public JWK of every hub signing key the hub ever had (``{"keys":
  [...]}``, with ``kid``, ``alg``, ``created_at``, ``retired_at``), to verify the evidence,
  consent receipts and agreement terms signed under the old profile;
- ``manifest.json`` last: the format, origin, profile, tree hash, size and root of the archived
  log and the SHA-256 of each file above.

:func:`verify_archive` checks, in this order, and stops at the first problem of each kind:

1. ``manifest``: the manifest names this format, each file is present with its SHA-256;
2. ``key``: ``log.vkey`` is a verifier key whose name is the manifest's origin, and whose type
   gives the manifest's tree hash (Ed25519: SHA-256; SM2: SM3);
3. ``entry``: the entries are numbered 0, 1, … and each entry's text hashes (RFC 9162 leaf
   hash under the log's tree hash) to its leaf hash;
4. ``checkpoint``: every checkpoint's signature verifies with ``log.vkey``, its origin is the
   log's, and its root is the tree recomputed from the entries at its size;
5. ``head``: the last checkpoint's size is the number of entries and its root the manifest's;
6. ``keys``: every hub key's ``kid`` is the RFC 7638 thumbprint of its public JWK;
7. ``held``: every checkpoint note given from outside (a receipt's, a witness's) is signed by
   the log key and its root is the archived tree's at its size.

Nothing here needs the database or the master secret: a department verifies the archive of a
hub it does not run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.audit import merkle
from exchange.audit.checkpoint import SM2_SM3, NoteVerifier, parse_vkey, vkey_parts
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.errors import CheckpointError
from exchange.audit.models import AuditCheckpoint, AuditCosignature, AuditHead, AuditRecord
from exchange.security.models import HubSigningKey

__all__ = [
    "ARCHIVE_FORMAT",
    "ArchiveProblem",
    "ArchiveReport",
    "ArchivedLog",
    "verify_archive",
    "write_archive",
]

ARCHIVE_FORMAT: Final = "tongban/log-archive/v1"
_FILES: Final = (
    "entries.jsonl",
    "checkpoints.jsonl",
    "cosignatures.jsonl",
    "log.vkey",
    "hub-keys.json",
)
_PAGE: Final = 1000
_TREE_HASH_NAMES: Final = {"intl": "SHA-256", "gm": "SM3"}


@dataclass(frozen=True)
class ArchivedLog:
    """What :func:`write_archive` wrote: the log's origin, profile, size and root."""

    directory: Path
    origin: str
    profile: str
    size: int
    root: bytes
    checkpoints: int
    hub_keys: int


def write_archive(
    session: Session, signer: CheckpointSigner, profile: str, directory: Path, now: datetime
) -> ArchivedLog:
    """Sign a last checkpoint of the log (kept like any other; the caller commits) and write
    the archive into *directory*, which must not exist yet (the module docstring). The files
    are written to a sibling directory first and renamed into place, so *directory* either
    holds a whole archive or does not exist."""
    if directory.exists():
        raise FileExistsError(f"{directory} exists already; archive into a new directory")
    last = signer.sign(session, now)
    head = session.get(AuditHead, 1)
    if head is None or head.size != last.size:
        raise CheckpointError("the log grew while it was archived: stop the hub first")
    partial = directory.with_name(directory.name + ".partial")
    if partial.exists():
        raise FileExistsError(f"{partial} is left from an interrupted run; remove it first")
    partial.mkdir(parents=True, mode=0o700)
    digests = {
        "entries.jsonl": _write_lines(partial / "entries.jsonl", _entry_lines(session)),
        "checkpoints.jsonl": _write_lines(
            partial / "checkpoints.jsonl", _checkpoint_lines(session)
        ),
        "cosignatures.jsonl": _write_lines(
            partial / "cosignatures.jsonl", _cosignature_lines(session)
        ),
        "log.vkey": _write_lines(partial / "log.vkey", iter([signer.vkey()])),
        "hub-keys.json": _write_lines(partial / "hub-keys.json", iter([_hub_keys(session)])),
    }
    checkpoints = session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0
    keys = session.scalar(select(func.count()).select_from(HubSigningKey)) or 0
    manifest = {
        "format": ARCHIVE_FORMAT,
        "origin": signer.origin,
        "profile": profile,
        "tree_hash": _TREE_HASH_NAMES[profile],
        "size": head.size,
        "root": base64.b64encode(head.root).decode(),
        "checkpoints": checkpoints,
        "archived_at": now.isoformat(),
        "files": digests,
    }
    _write_lines(partial / "manifest.json", iter([json.dumps(manifest, indent=2)]))
    _sync_directory(partial)
    partial.rename(directory)
    return ArchivedLog(directory, signer.origin, profile, head.size, head.root, checkpoints, keys)


def _entry_lines(session: Session) -> Iterator[str]:
    after = -1
    while True:
        rows = session.execute(
            select(AuditRecord.index, AuditRecord.entry, AuditRecord.leaf_hash)
            .where(AuditRecord.index > after)
            .order_by(AuditRecord.index)
            .limit(_PAGE)
        ).all()
        if not rows:
            return
        for index, entry, leaf in rows:
            yield json.dumps(
                {"index": index, "entry": entry, "leaf_hash": base64.b64encode(leaf).decode()},
                ensure_ascii=False,
            )
        after = rows[-1][0]


def _checkpoint_lines(session: Session) -> Iterator[str]:
    for row in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size)):
        yield json.dumps({"size": row.size, "note": row.note}, ensure_ascii=False)


def _cosignature_lines(session: Session) -> Iterator[str]:
    rows = session.scalars(
        select(AuditCosignature).order_by(AuditCosignature.size, AuditCosignature.cosigner)
    )
    for row in rows:
        yield json.dumps(
            {"size": row.size, "cosigner": row.cosigner, "key_id": row.key_id, "line": row.line},
            ensure_ascii=False,
        )


def _hub_keys(session: Session) -> str:
    keys = [
        {
            **row.public_jwk,
            "kid": row.kid,
            "alg": row.alg,
            "created_at": row.created_at.isoformat(),
            "retired_at": None if row.retired_at is None else row.retired_at.isoformat(),
        }
        for row in session.scalars(select(HubSigningKey).order_by(HubSigningKey.generation))
    ]
    return json.dumps({"keys": keys}, indent=2)


def _write_lines(path: Path, lines: Iterator[str]) -> str:
    """Write *lines* (each ending in a newline) to *path*, owner-only, synced; their SHA-256."""
    digest = hashlib.sha256()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        for line in lines:
            data = (line + "\n").encode("utf-8")
            digest.update(data)
            handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return digest.hexdigest()


def _sync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveProblem:
    """The first problem of one kind: where (an entry's index, a checkpoint's size, a file)
    and what, in plain words."""

    kind: str
    where: str
    message: str


@dataclass
class ArchiveReport:
    """What :func:`verify_archive` found: the archived log's origin, tree hash and size, how
    many checkpoints it checked, and the problems (none when :attr:`ok`)."""

    origin: str = ""
    tree_hash: str = ""
    size: int = 0
    root: str = ""
    checkpoints: int = 0
    hub_keys: int = 0
    problems: list[ArchiveProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def _add(self, kind: str, where: str, message: str) -> None:
        if not any(p.kind == kind for p in self.problems):
            self.problems.append(ArchiveProblem(kind, where, message))


def verify_archive(directory: Path, held: Sequence[tuple[str, str]] = ()) -> ArchiveReport:
    """Check the archive in *directory* in the module docstring's order; then each *held*
    checkpoint note (its name, its text: a receipt's, a witness's, kept outside the hub)."""
    report = ArchiveReport()
    manifest = _checked_manifest(directory, report)
    if manifest is None:
        return report
    verifier = _checked_key(directory, manifest, report)
    if verifier is None:
        return report
    leaf, node, _ = merkle.TREE_HASHES["gm" if verifier.signature_type == SM2_SM3 else "intl"]
    roots = _tree_roots(directory, leaf, node, report)
    _check_checkpoints(directory, verifier, roots, report)
    if report.size != manifest.get("size") or report.root != manifest.get("root"):
        report._add(
            "head",
            "manifest.json",
            f"the manifest says {manifest.get('size')} entries with root {manifest.get('root')}"
            f", the archive holds {report.size} with root {report.root}",
        )
    _check_hub_keys(directory, report)
    for name, note in held:
        _check_held(name, note, verifier, roots, report)
    return report


def _check_held(
    name: str, note: str, verifier: NoteVerifier, roots: dict[int, bytes], report: ArchiveReport
) -> None:
    """7. ``held``: a note kept outside is signed by the log key, for the log's origin, and the
    archived tree has its root at its size (the log held what the note vouched for)."""
    try:
        checkpoint = verifier.verify(note, origin=report.origin)
    except CheckpointError as exc:
        report._add("held", name, str(exc))
        return
    if checkpoint.size > report.size:
        report._add(
            "held",
            name,
            f"the note is of {checkpoint.size} entries, the archive holds {report.size}",
        )
    elif checkpoint.size and roots.get(checkpoint.size) != checkpoint.root:
        report._add("held", name, "the archived tree has another root at the note's size")


def _checked_manifest(directory: Path, report: ArchiveReport) -> dict[str, Any] | None:
    try:
        manifest = json.loads((directory / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        report._add("manifest", "manifest.json", "there is no readable manifest.json")
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        report._add("manifest", "manifest.json", f"the manifest is not {ARCHIVE_FORMAT}")
        return None
    files = manifest.get("files")
    for name in _FILES:
        try:
            actual = hashlib.sha256((directory / name).read_bytes()).hexdigest()
        except OSError:
            report._add("manifest", name, f"{name} is missing")
            return None
        if not isinstance(files, dict) or files.get(name) != actual:
            report._add("manifest", name, f"{name} is not the file the manifest names")
            return None
    report.origin = str(manifest.get("origin", ""))
    report.tree_hash = str(manifest.get("tree_hash", ""))
    return manifest


def _checked_key(
    directory: Path, manifest: dict[str, Any], report: ArchiveReport
) -> NoteVerifier | None:
    text = (directory / "log.vkey").read_text("utf-8").strip()
    try:
        name, _, _ = vkey_parts(text)
        verifier = parse_vkey(text)
    except CheckpointError as exc:
        report._add("key", "log.vkey", str(exc))
        return None
    expected = "SM3" if verifier.signature_type == SM2_SM3 else "SHA-256"
    if name != manifest.get("origin") or expected != manifest.get("tree_hash"):
        report._add(
            "key",
            "log.vkey",
            f"the log key is {name}'s ({expected} tree); the manifest says "
            f"{manifest.get('origin')} ({manifest.get('tree_hash')})",
        )
        return None
    return verifier


def _tree_roots(
    directory: Path,
    leaf: Callable[[bytes], bytes],
    node: Callable[[bytes, bytes], bytes],
    report: ArchiveReport,
) -> dict[int, bytes]:
    """The root after each size (1, 2, …), from a compact range of complete subtrees."""
    roots: dict[int, bytes] = {}
    stack: list[tuple[int, bytes]] = []  # (height, hash), heights strictly decreasing
    size = 0
    with (directory / "entries.jsonl").open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            try:
                row = json.loads(line)
                index, entry, stored = row["index"], row["entry"], row["leaf_hash"]
            except (ValueError, KeyError, TypeError):
                report._add("entry", f"entry line {number + 1}", "the line is not an entry")
                break
            if index != number:
                report._add("entry", f"entry {number}", f"entry {number} is numbered {index}")
                break
            hashed = leaf(str(entry).encode("utf-8"))
            if base64.b64encode(hashed).decode() != stored:
                report._add("entry", f"entry {index}", "the entry does not hash to its leaf")
            stack.append((0, hashed))
            while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
                (height, right), (_, left) = stack.pop(), stack.pop()
                stack.append((height + 1, node(left, right)))
            size += 1
            folded = stack[-1][1]
            for _, left in reversed(stack[:-1]):
                folded = node(left, folded)
            roots[size] = folded
    report.size = size
    report.root = base64.b64encode(roots[size]).decode() if size else ""
    return roots


def _check_checkpoints(
    directory: Path, verifier: NoteVerifier, roots: dict[int, bytes], report: ArchiveReport
) -> None:
    last = 0
    with (directory / "checkpoints.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            try:
                row = json.loads(line)
                size, note = int(row["size"]), str(row["note"])
            except (ValueError, KeyError, TypeError):
                report._add("checkpoint", "checkpoints.jsonl", "a line is not a checkpoint")
                return
            report.checkpoints += 1
            try:
                checkpoint = verifier.verify(note, origin=report.origin)
            except CheckpointError as exc:
                report._add("checkpoint", f"checkpoint {size}", str(exc))
                continue
            if checkpoint.size != size or (size and roots.get(size) != checkpoint.root):
                report._add(
                    "checkpoint",
                    f"checkpoint {size}",
                    "the checkpoint's root is not the tree the entries give at its size",
                )
            last = max(last, checkpoint.size)
    if last != report.size:
        report._add(
            "head",
            "checkpoints.jsonl",
            f"the last checkpoint covers {last} entries, the archive holds {report.size}",
        )


def _check_hub_keys(directory: Path, report: ArchiveReport) -> None:
    try:
        keys = json.loads((directory / "hub-keys.json").read_text("utf-8"))["keys"]
    except (ValueError, KeyError, TypeError):
        report._add("keys", "hub-keys.json", "hub-keys.json holds no list of keys")
        return
    for key in keys:
        report.hub_keys += 1
        members = ("crv", "kty", "x") if key.get("kty") == "OKP" else ("crv", "kty", "x", "y")
        try:
            thumbprint_input = json.dumps(
                {name: key[name] for name in members}, separators=(",", ":"), sort_keys=True
            )
        except KeyError:
            report._add("keys", f"hub key {key.get('kid')}", "the key lacks a public member")
            continue
        thumbprint = hashlib.sha256(thumbprint_input.encode()).digest()
        if base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode() != key.get("kid"):
            report._add("keys", f"hub key {key.get('kid')}", "the key's kid is not its thumbprint")
