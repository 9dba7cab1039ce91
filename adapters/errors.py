"""Errors an adapter raises. Each names the adapter and the cause, never a value it read."""

from __future__ import annotations

from schemas import TongbanError


class AdapterError(TongbanError):
    """A department's source could not answer as it should; the base of the source errors.

    ``adapter`` is the configured adapter's name."""

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
    """The source did not answer within the adapter's timeout; the call was abandoned."""

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
    """The source's answer is larger than the adapter's limits allow (records, bytes)."""

    code = "source_limit_exceeded"
    title = "Source limit exceeded"


class MappingError(AdapterError):
    """The mapping is wrong for this source; raised when it is loaded, not at the first query."""

    code = "invalid_mapping"
    status = 422
    title = "Invalid adapter mapping"


class UnmappedField(AdapterError):
    """A caller asked the source for a field its mapping does not map.

    Not ``unknown_field``: that one is a field the catalogue does not know (an agreement
    application's input problem); this one is a field the hub's mapping of the source lacks."""

    code = "unmapped_field"
    status = 422
    title = "Field not mapped"
