"""The hub's own errors that are not any one domain's: who may call, and what a request may be.

Every error is a :class:`schemas.TongbanError` with a stable ``code`` and one HTTP ``status``;
``exchange/api/problems.py`` renders them as problem+json and ``tongban`` prints one line.
Domain errors live with their domain (``<domain>/errors.py``); the whole tree, code by code,
is in docs/errors.md.
"""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "BodyTooLarge",
    "CommandFailed",
    "Forbidden",
    "MalformedRequest",
    "PurposeNotRegistered",
    "Unauthenticated",
    "UnsupportedMediaType",
]


class Unauthenticated(TongbanError):
    """No acceptable credentials. ``missing=True`` when the request brought none at all: its
    challenge then names no error (RFC 6750 3.1); the problem's ``code`` is the same."""

    code = "invalid_token"
    status = 401
    title = "Authentication required"

    def __init__(self, detail: str, *, missing: bool = False) -> None:
        super().__init__(detail)
        self.challenge = "Bearer" if missing else 'Bearer error="invalid_token"'


class Forbidden(TongbanError):
    """The caller is authenticated but its role or department may not do this."""

    code = "forbidden"
    status = 403
    title = "Forbidden"


class BodyTooLarge(TongbanError):
    """The request body is over the hub's size limit (``TONGBAN_MAX_BODY_BYTES``)."""

    code = "body_too_large"
    status = 413
    title = "Request body too large"


class UnsupportedMediaType(TongbanError):
    """The request body is of a media type this route does not take."""

    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class MalformedRequest(TongbanError):
    """The request does not have the shape the route takes: a body that is not JSON (or not
    UTF-8), a member missing or of the wrong type, a query parameter out of range.

    ``errors`` point at each problem. The web framework's own 400 for a body it cannot decode
    is answered with this code and status too: to a client it is the same mistake."""

    code = "malformed_request"
    status = 422
    title = "Malformed request"


class CommandFailed(TongbanError):
    """A ``tongban`` command could not do what it was asked (the reason is the detail)."""

    code = "command_failed"
    title = "Command failed"


class PurposeNotRegistered(TongbanError):
    """The calling system asks under a purpose it never registered (a query, a verification, a
    consent request); nothing is released."""

    code = "purpose_not_registered"
    status = 403
    title = "Purpose not registered for this system"
