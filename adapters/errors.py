"""Errors an adapter raises. Each names the adapter and the cause, never a value it read."""

from __future__ import annotations

from schemas import TongbanError


class AdapterError(TongbanError):
    """Base of source errors; ``adapter`` is the configured adapter's name."""

    code = "source_error"
    status = 502
    title = "Source error"

    def __init__(self, adapter: str, cause: str) -> None:
        super().__init__(f"adapter {adapter!r}: {cause}")
        self.adapter = adapter
        self.cause = cause


class SourceUnavailable(AdapterError):
    """The source could not be reached or refused the query (driver and network errors)."""

    code = "unavailable"
    status = 503
    title = "Source unavailable"


class SourceTimeout(AdapterError):
    code = "source_timeout"
    status = 504
    title = "Source timed out"


class SourceDataError(AdapterError):
    """The source answered with data the mapping or the field's schema cannot accept."""

    code = "source_data_invalid"
    title = "Source data invalid"


class AmbiguousSubject(AdapterError):
    """More than one record for one subject: nothing is released rather than a guess."""

    code = "source_ambiguous"
    title = "Ambiguous source record"


class SourceLimitExceeded(AdapterError):
    code = "source_limit_exceeded"
    title = "Source limit exceeded"


class MappingError(AdapterError):
    """The mapping is wrong for this source; raised when it is loaded, not at the first query."""

    code = "invalid_mapping"
    status = 422
    title = "Invalid adapter mapping"


class UnknownField(AdapterError):
    """A caller asked for a field the mapping does not map."""

    code = "unknown_field"
    status = 422
    title = "Unknown field"
