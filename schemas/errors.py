"""The root of Tongban's error tree and the problem-details shape it renders to (RFC 9457).

Every error the project raises on purpose derives from :class:`TongbanError`. Each subclass has a
stable ``code`` and an HTTP ``status``; its message is written to be safe to show to a caller:
no personal data, no SQL, no file paths. The HTTP layer turns any of them into problem+json.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypedDict


class ProblemDetail(TypedDict, total=False):
    """One entry of an error's ``errors`` list: where in the input, and what is wrong there."""

    pointer: str
    detail: str


class TongbanError(Exception):
    """Base of every deliberate error. Subclasses set ``code``, ``status`` and ``title``."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[ProblemDetail] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])
        self.extensions = dict(extensions or {})  # RFC 9457 extension members; safe to show

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 body, without ``request_id`` (the HTTP layer adds it)."""
        body: dict[str, Any] = {
            "type": f"https://tongban.example/problems/{self.code.replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = [dict(e) for e in self.errors]
        return {**self.extensions, **body}

    def explain(self) -> str:
        """One line for a terminal: the detail and the first located problem, if any."""
        if not self.errors or self.errors[0].get("detail") == self.detail:
            return self.detail
        first = self.errors[0]
        return f"{self.detail}: {first.get('pointer') or '/'}: {first.get('detail', '')}"
