"""The HTTP face of a witness (c2sp.org/tlog-witness), an app of its own: no hub, no hub
settings, no problem+json.

- ``POST <prefix>/add-checkpoint``: the body is read up to
  :data:`exchange.witness.request.MAX_BODY_BYTES` (a larger one is refused, 400, unread);
  the answer is the cosignature line(s), ``text/plain; charset=utf-8``. A refusal is one line of
  plain text with the protocol's status; a 409 is the latest size alone, ``text/x.tlog.size``.
  No authentication: the log's signature on the checkpoint is the authentication.
- ``GET <prefix>/<lowercase hex SHA-256 of the origin>/checkpoint``: the latest cosigned
  checkpoint, with the log's and the witness's signatures; 404 if it never cosigned one.
- ``GET <prefix>/``: the witness's name, its vkey and the logs it trusts (JSON), for operators;
  ``GET /healthz``: whether its state answers.

Every other path or method is answered in one line of plain text too (404, 405 with
``Allow``). A request's body is never repeated in an answer.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from exchange.witness.errors import MalformedWitnessRequest, OldSizeMismatch, WitnessRefusal
from exchange.witness.request import MAX_BODY_BYTES
from exchange.witness.service import Witness

__all__ = ["create_witness_app"]

log = logging.getLogger("tongban.witness")

TEXT = "text/plain; charset=utf-8"
TLOG_SIZE = "text/x.tlog.size"
_ORIGIN_HASH = re.compile(r"[0-9a-f]{64}")
_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*")


def create_witness_app(witness: Witness, *, prefix: str = "") -> FastAPI:
    """The app serving *witness* under *prefix* (``""`` or ``/a/b``, no trailing slash)."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError("a prefix is empty or /segment/…, without a trailing slash")
    app = FastAPI(title="Tongban witness", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.witness = witness
    app.include_router(_router(witness, prefix))
    _install_handlers(app)
    return app


def _router(witness: Witness, prefix: str) -> APIRouter:
    router = APIRouter()

    @router.post(f"{prefix}/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        body = await _bounded_body(request)
        cosignatures = await run_in_threadpool(witness.add_checkpoint, body)
        return PlainTextResponse(cosignatures, media_type=TEXT)

    @router.get(f"{prefix}/{{origin_hash}}/checkpoint")
    def latest_checkpoint(origin_hash: str) -> Response:
        note = witness.latest_note(origin_hash) if _ORIGIN_HASH.fullmatch(origin_hash) else None
        if note is None:
            return _text(404, "this witness has cosigned no checkpoint of that log")
        return PlainTextResponse(note, media_type=TEXT, headers={"Cache-Control": "no-cache"})

    @router.get(f"{prefix}/")
    def about() -> dict[str, Any]:
        return {
            "name": witness.name,
            "vkey": witness.vkey(),
            "algorithm": witness.cosigner.algorithm,
            "logs": witness.logs.origins,
            "add_checkpoint": f"{prefix}/add-checkpoint",
            "checkpoint": f"{prefix}/<lowercase hex SHA-256 of the origin>/checkpoint",
        }

    @router.get("/healthz")
    def healthz() -> Response:
        try:
            witness.state.ping()
        except SQLAlchemyError:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "name": witness.name, "vkey": witness.vkey()})

    return router


async def _bounded_body(request: Request) -> bytes:
    """The request body, or a refusal as soon as it is known to be over the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise MalformedWitnessRequest(f"the request is larger than {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise MalformedWitnessRequest(f"the request is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _text(status: int, line: str, headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(f"{line}\n", status_code=status, media_type=TEXT, headers=headers)


_REASONS = {404: "not found", 405: "method not allowed"}


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(WitnessRefusal)
    async def _refusal(_request: Request, exc: WitnessRefusal) -> Response:
        if isinstance(exc, OldSizeMismatch):  # exactly text/x.tlog.size, no charset added
            size = f"{exc.latest_size}\n".encode("ascii")
            return Response(size, status_code=409, headers={"Content-Type": TLOG_SIZE})
        return _text(exc.status, exc.detail)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> Response:
        reason = _REASONS.get(exc.status_code, "the request cannot be served")
        return _text(exc.status_code, reason, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.error("witness request failed: %s %s", request.method, request.url.path, exc_info=exc)
        return _text(500, "internal error")
