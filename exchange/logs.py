"""Keep personal data out of the server's logs.

Some requests carry an ID number in the query string (an auditor's ``/audit/entries?subject=``
search, as CONTRACT.md has it); uvicorn's access log would write the whole URL. The filter
below drops every query string from access-log lines: the path and status stay.
"""

from __future__ import annotations

import logging

__all__ = ["install_log_redaction"]


class _WithoutQuery(logging.Filter):
    """uvicorn.access records carry (client, method, full path, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if query:
                record.args = (*args[:2], f"{path}?…", *args[3:])
        return True


def install_log_redaction() -> None:
    """Install the filter once (safe to call again, e.g. for each app startup)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _WithoutQuery) for f in access.filters):
        access.addFilter(_WithoutQuery())
