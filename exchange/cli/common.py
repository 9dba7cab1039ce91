"""What every ``tongban`` sub-command shares: the console, the ``--json`` flag, a migrated
database session for one command, and JSON printing. Imports nothing from ``exchange.cli``,
so every sub-command module can be mounted there."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work
from exchange.settings import Settings

__all__ = ["JsonFlag", "command_session", "out", "print_json"]

out = Console()
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@contextmanager
def command_session(settings: Settings, *, write: bool = True) -> Iterator[Session]:
    """One unit of work on the configured database, migrated to head first."""
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        with unit_of_work(make_sessionmaker(engine), write=write) as session:
            yield session
    finally:
        engine.dispose()


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
