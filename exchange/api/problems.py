"""One place where errors become RFC 9457 problem+json, for the whole app.

Deliberate errors (:class:`TongbanError`) render their own safe message. Framework errors
(unknown route, wrong method, a malformed request) get a fixed wording. Anything unexpected is
logged with the request id and answered with a bare 500 that says nothing about the cause.

Standard clients read more than the problem, so the answers also speak their protocols:

- a 401 carries its ``WWW-Authenticate`` challenge: a bare ``Bearer`` when the request brought
  no credentials, ``Bearer error="invalid_token"`` when it brought ones that were refused
  (RFC 6750 3.1), and the error's own challenge where it names one;
- every 4xx of the token endpoint also carries the RFC 6749 5.2 members ``error`` and
  ``error_description``, so an OAuth client reads a refusal as one, never as a token;
- a 405 carries ``Allow``, the methods the path does accept (RFC 9110 15.5.6).
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi import HTTPException as FastAPIHTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange import changes
from exchange.errors import (
    BodyTooLarge,
    Forbidden,
    MalformedRequest,
    Unauthenticated,
    UnsupportedMediaType,
)
from schemas import ProblemDetail, TongbanError

__all__ = [
    "PROBLEM_JSON",
    "PROBLEM_SCHEMA",
    "TOKEN_ENDPOINT",
    "BodyTooLarge",
    "Forbidden",
    "Unauthenticated",
    "install_problem_handlers",
    "problem_responses",
]

PROBLEM_JSON = "application/problem+json"
TOKEN_ENDPOINT = "/oauth/token"  # noqa: S105 - a path, not a secret
# RFC 6749 5.2: the error codes a token endpoint answers with.
OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
log = logging.getLogger("tongban.http")


_HTTP_CODES = {
    404: ("not_found", "Not found", "no such path"),
    405: ("method_not_allowed", "Method not allowed", "this path does not accept that method"),
    406: ("not_acceptable", "Not acceptable", "no representation matches the Accept header"),
    413: (BodyTooLarge.code, BodyTooLarge.title, "the request body is over the size limit"),
    415: (UnsupportedMediaType.code, UnsupportedMediaType.title, "send JSON or YAML"),
}
"""The framework's refusals, by status: (code, title, detail). A code here that a
:class:`TongbanError` subclass also has keeps that class's status (tests/test_error_codes.py)."""


def request_id(request: Request) -> str:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else str(uuid.uuid4())


def problem_response(
    request: Request, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    body = _for_path(_route_path(request.scope), {**body, "request_id": request_id(request)})
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def _route_path(scope: Scope) -> str:
    """The path the app routes on: without the ``root_path`` a proxy mounts the hub under."""
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def _for_path(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as the path answers it: on the token endpoint, a 4xx also carries the RFC 6749
    5.2 ``error`` (the problem's code when it is an OAuth one, else ``invalid_client`` for a 401
    and ``invalid_request`` for the rest) and ``error_description`` (the detail, in the
    characters that member allows)."""
    if path != TOKEN_ENDPOINT or not 400 <= body["status"] < 500:
        return body
    error = body["code"] if body["code"] in OAUTH_ERRORS else None
    error = error or ("invalid_client" if body["status"] == 401 else "invalid_request")
    description = "".join(
        c if " " <= c <= "~" and c not in '"\\' else "?" for c in str(body["detail"])
    )
    return {**body, "error": error, "error_description": description}


def _challenge(exc: TongbanError) -> dict[str, str] | None:
    """The ``WWW-Authenticate`` header of a 401: the error's own challenge where it names one,
    else the refused bearer token's."""
    if exc.status != 401:
        return None
    challenge = getattr(exc, "challenge", None)
    if not isinstance(challenge, str):
        challenge = 'Bearer error="invalid_token"'
    return {"WWW-Authenticate": challenge}


def _allow(request: Request) -> str | None:
    """The methods the app's routes accept on the request's path (RFC 9110 10.2.1), asked of
    the router one method at a time; ``None`` when only a mounted app could say."""
    allowed = [
        method
        for method in _METHODS
        if any(
            not isinstance(route, Mount)
            and route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed) if allowed else None


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(TongbanError)
    async def _tongban(request: Request, exc: TongbanError) -> Response:
        return problem_response(request, exc.problem(), _challenge(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            ProblemDetail(
                pointer="/" + "/".join(str(p) for p in err.get("loc", ())[1:]),
                detail=str(err.get("msg", "invalid")),
            )
            for err in exc.errors()[:20]
        ]
        error = MalformedRequest("the request is not valid", errors=problems)
        return problem_response(request, error.problem())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:
            # FastAPI's 400 for a body it cannot even decode (bytes that are not UTF-8) is the
            # same mistake as JSON that does not parse, which it answers 422: one code, one status.
            undecodable = MalformedRequest("the request body could not be decoded")
            return problem_response(request, undecodable.problem())
        code, title, detail = _HTTP_CODES.get(
            exc.status_code, ("http_error", "HTTP error", "request refused")
        )
        body = {
            "type": f"https://tongban.example/problems/{code.replace('_', '-')}",
            "title": title,
            "status": exc.status_code,
            "detail": detail,
            "code": code,
        }
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the methods of the first route on the path; ask them all.
            allowed = _allow(request)
            if allowed is not None:
                headers["Allow"] = allowed
        return problem_response(request, body, headers or None)


class RequestContext:
    """ASGI middleware: assigns the request id, refuses bodies over the limit, and is the last
    resort for unexpected errors.

    The body limit is enforced while streaming, so a client that lies in Content-Length (or sends
    none) is cut off at the limit instead of being buffered. An unexpected exception is logged by
    type with the request id (its message may hold personal data, so only the traceback's
    frames go to the log) and answered with a bare 500 problem that says nothing of the cause.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = rid
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            too_large = _for_path(_route_path(scope), _too_large(self.max_body_bytes))
            await _send_problem(send, rid, too_large)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            with changes.per_request():
                await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                too_large = _for_path(_route_path(scope), _too_large(self.max_body_bytes))
                await _send_problem(send, rid, too_large)
        except Exception as exc:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("unexpected %s in request %s\n%s", type(exc).__name__, rid, frames)
            if started:
                raise
            await _send_problem(send, rid, _INTERNAL)


class _TooLarge(FastAPIHTTPException):
    """Raised from ``receive`` once the streamed body passes the limit; an HTTPException so that
    the framework's body parsing passes it through to the problem handler unchanged."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


_INTERNAL: dict[str, Any] = {
    "type": "https://tongban.example/problems/internal-error",
    "title": "Internal error",
    "status": 500,
    "detail": "the hub could not complete the request; quote the request_id to support",
    "code": "internal_error",
}


def _too_large(limit: int) -> dict[str, Any]:
    return BodyTooLarge(f"the request body is larger than {limit} bytes").problem()


async def _send_problem(send: Send, rid: str, problem: dict[str, Any]) -> None:
    payload = json.dumps({**problem, "request_id": rid}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": problem["status"],
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", rid.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "request_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem+json answers a route can give."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }
