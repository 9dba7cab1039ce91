"""Files only their owner may read: the hub's database, its directory, the demo stores, keys,
key shares. Created so from the first byte, whatever the process umask (the ``tongban`` command
also sets a ``077`` umask; a library embedding the hub gets the same modes without it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

__all__ = [
    "owner_only_directory",
    "owner_only_file",
    "replacing_owner_only",
    "write_owner_only",
]


def owner_only_directory(path: Path) -> None:
    """Create *path* and any missing parents 0700; a directory that already exists is left as
    it is (it may be the user's own, shared on purpose)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:  # made by a concurrent process meanwhile
            continue
        os.chmod(directory, 0o700)  # mkdir's mode passes through the umask


def owner_only_file(path: Path, *, create: bool = False) -> None:
    """Make *path* readable and writable by its owner only (0600): created so if *create* and
    it is missing (never open to others, not even for a moment), tightened if it exists."""
    if create:
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # A missing file needs nothing; another user's file is theirs to fix.
    with suppress(FileNotFoundError, PermissionError):
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)


@contextmanager
def replacing_owner_only(
    path: Path, *, binary: bool = False, encoding: str = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """A 0600 file written under a temporary name and renamed over *path* on success (its
    directory made 0700 if missing)."""
    owner_only_directory(path.parent)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    handle: IO[Any] = (
        os.fdopen(descriptor, "wb")
        if binary
        else os.fdopen(descriptor, "w", encoding=encoding, newline=newline)
    )
    try:
        with handle:
            yield handle
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def write_owner_only(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write *text* to *path* (0600, replaced atomically)."""
    with replacing_owner_only(path, encoding=encoding) as handle:
        handle.write(text)
