"""Secrets of the adapters file kept outside it: ``${env:NAME}`` and ``${file:PATH}``.

A connection's string values (its ``url``, an HTTP source's ``auth_value`` or a header) may
name where a secret is instead of holding it, so a department database's password need not be
written into the adapters file::

    "hrss": {"url": "${file:/run/credentials/tongban.service/hrss-url}"}
    "psb":  {"url": "mysql+pymysql://tongban_reader:${env:PSB_DB_PASSWORD}@psb-db/psb"}

The reference is replaced by the value, where it stands, when the adapters file is read (the
hub's start), in this order, and refused with :class:`AdapterConfigError` naming the
connection and the reference, never a value:

1. every ``${…}`` is ``${env:NAME}`` (``NAME`` a variable name) or ``${file:PATH}`` (``PATH``
   absolute); anything else (``${NAME}``, ``${vault:…}``) is refused, not left as text;
2. ``env``: the variable is set and not empty;
3. ``file``: a regular file that only its owner may read or write (0600 or 0400, as systemd's
   ``LoadCredential=`` gives it), UTF-8, its one trailing newline dropped, not empty;
4. the value has no control character (a stray newline in a password file).

A value that is put into a URL is put as it is: URL-encode it first if it holds ``@``, ``:``,
``/``, ``%`` or ``#``, or keep the whole URL in the file instead of the password alone.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exchange.sources.errors import AdapterConfigError

__all__ = ["resolve_references"]

_REFERENCE = re.compile(r"\$\{(?P<body>[^}]*)\}")
_ENV = re.compile(r"^env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
_FILE = re.compile(r"^file:(?P<path>/.*)$")
_MAX_FILE_BYTES = 64 * 1024


def resolve_references(
    connection: str, config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``config`` with every ``${env:…}`` and ``${file:…}`` in its strings (nested ones too)
    replaced by the value it names."""
    env = os.environ if environ is None else environ
    resolved: dict[str, Any] = {
        key: _resolved(connection, value, env) for key, value in config.items()
    }
    return resolved


def _resolved(connection: str, value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _REFERENCE.sub(lambda found: _value(connection, found["body"], env), value)
    if isinstance(value, Mapping):
        return {key: _resolved(connection, item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(connection, item, env) for item in value]
    return value


def _value(connection: str, body: str, env: Mapping[str, str]) -> str:
    where = f"connection {connection}: ${{{body}}}"
    if found := _ENV.match(body):
        value = env.get(found["name"], "")
        if not value:
            raise AdapterConfigError(f"{where} names an environment variable that is not set")
    elif found := _FILE.match(body):
        value = _read_secret_file(Path(found["path"]), where)
    else:
        raise AdapterConfigError(
            f"{where} is not a reference the hub knows: ${{env:NAME}} or ${{file:/absolute/path}}"
        )
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in value):
        raise AdapterConfigError(f"{where} holds a control character (a line break?)")
    return value


def _read_secret_file(path: Path, where: str) -> str:
    try:
        with path.open("rb") as handle:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise AdapterConfigError(f"{where} is not a regular file")
            if status.st_mode & 0o077:
                raise AdapterConfigError(
                    f"{where} may be read or written by others than its owner "
                    f"(mode {stat.S_IMODE(status.st_mode):04o}): chmod 600 it"
                )
            data = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise AdapterConfigError(f"{where} cannot be read ({exc.strerror or exc})") from None
    if len(data) > _MAX_FILE_BYTES:
        raise AdapterConfigError(f"{where} is larger than {_MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AdapterConfigError(f"{where} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise AdapterConfigError(f"{where} is empty")
    return text
