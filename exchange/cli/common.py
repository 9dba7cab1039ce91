"""What every ``tongban`` sub-command shares: the console, the ``--json`` flag, a migrated
database session for one command, and JSON printing. Imports nothing from ``exchange.cli``,
so every sub-command module can be mounted there."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from exchange.agreements.workdays import CHINA_TZ
from exchange.db import unit_of_work
from exchange.hub import Hub
from exchange.settings import Settings, load_settings

__all__ = [
    "JsonFlag",
    "china_time",
    "command_hub",
    "command_session",
    "demo_config",
    "out",
    "print_json",
    "safe_url",
]

out = Console()


def china_time(value: datetime | date | str | None, *, short: bool = False) -> str:
    """A moment as the console shows it, in China time (UTC+8): ``2026年12月6日 10:58:09``;
    *short* leaves out the year. ``-`` for none; a date alone is shown as the date; text that
    is no ISO 8601 time is shown as it is. JSON output keeps ISO 8601 (``--json``), for
    programs."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        try:
            parsed: datetime | date = (
                date.fromisoformat(value)
                if len(value) == 10
                else datetime.fromisoformat(value.replace("Z", "+00:00"))
            )
        except ValueError:
            return value
        value = parsed
    if not isinstance(value, datetime):
        return f"{value.year}年{value.month}月{value.day}日"
    moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(CHINA_TZ)
    day = f"{moment.month}月{moment.day}日"
    return f"{day if short else f'{moment.year}年{day}'} {moment:%H:%M:%S}"


JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@contextmanager
def command_hub(settings: Settings | None = None) -> Iterator[Hub]:
    """The hub of the configured settings, its database migrated to head and its master secret
    checked against the database's (recorded on a new database), for one command."""
    with Hub.from_settings(settings or load_settings()) as hub:
        hub.migrate()
        hub.check_secret()
        yield hub


@contextmanager
def command_session(settings: Settings, *, write: bool = True) -> Iterator[Session]:
    """One unit of work on the configured database, migrated to head first."""
    with command_hub(settings) as hub, unit_of_work(hub.sessions, write=write) as session:
        yield session


def demo_config(data: Path) -> Path:
    """The configuration ``tongban demo --data DIR`` writes into DIR, and ``tongban serve
    --data DIR`` reads: what serving that demo needs, with absolute paths."""
    return data / "tongban.toml"


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def safe_url(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)
