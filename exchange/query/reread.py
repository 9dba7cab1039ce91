"""Read one field of one person at its source again, outside any query: for a correction
request (校核纠错), the hub fingerprints what the source holds when the request is filed and once
the source department says it corrected it (``exchange.corrections``). Nothing is released and
nothing is kept: the caller turns the values into a keyed fingerprint at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from exchange.db import unit_of_work
from exchange.query.resolve import resolve_query
from exchange.query.sourcing import fetch_permitted
from exchange.sources.registry import SourceRegistry

__all__ = ["SourceReader"]


class SourceReader:
    """Reads a field (``namespace.field``) of a person from the resource's source."""

    def __init__(self, sessions: sessionmaker[Session], sources: SourceRegistry) -> None:
        self._sessions = sessions
        self._sources = sources

    def __call__(self, subject: str, attribute: str) -> Sequence[Any] | None:
        """The field's values in the subject's records (one per record; empty when the source
        has none), or None when the source could not be read."""
        with unit_of_work(self._sessions) as session:
            resolved = resolve_query(
                session, attributes=[attribute], service_item=None, department="-"
            )
        field = resolved.requests[0].field
        fetched = fetch_permitted(
            self._sources,
            subject,
            resolved.resources,
            {field.resource: {field.name}},
        )[field.resource]
        if fetched.failure is not None:
            return None
        return [record.values.get(field.name) for record in fetched.records]
