"""RFC 3339 date-times in requests: what ``format: date-time`` promises, and nothing else.

Pydantic's lax ``datetime`` takes a number, or a string of digits, as Unix time, so ``?until=0``
was read as 1970 while the OpenAPI document said ``format: date-time``. :data:`DateTime` takes
only an RFC 3339 date-time, with its offset (``Z`` or ``+08:00``): the server refuses exactly
what the document calls invalid. A ``datetime`` handed over in Python passes unchanged.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator

__all__ = ["DateTime"]

# RFC 3339 section 5.6 date-time; "T" and "Z" may be lower case (section 5.6, note).
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    raise ValueError("give an RFC 3339 date-time with its offset, e.g. 2026-11-01T08:00:00+08:00")


DateTime = Annotated[datetime, BeforeValidator(_rfc3339)]
