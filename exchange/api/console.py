"""The web console (管理与查询控制台): one page app for auditors, department admins, operators
and citizens, served by the hub itself so that it works without a CDN or any outside network.

- ``/console`` and every path under it that is not an asset answer the app's ``index.html``
  (history-API routing: ``/console/citizen/requests/<id>``, the approval URL a case system hands
  a citizen, opens that request after sign-in).
- ``/console/assets/<file>`` serves the files of ``exchange/static/console/`` with their content
  type; a missing asset is a 404 problem, never the index.

Every answer carries a strict Content-Security-Policy: scripts, styles, fonts, images and API
calls from this origin only, no inline script, no framing. The app calls the hub's JSON API with
the signed-in user's ID token; this module holds no data and checks no roles (the API does).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path, PurePosixPath

from fastapi import APIRouter
from fastapi.responses import FileResponse

from catalogue.errors import NotFound

__all__ = ["CONTENT_SECURITY_POLICY", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


def _root() -> Path:
    return Path(str(resources.files("exchange").joinpath("static", "console")))


def _index() -> FileResponse:
    return FileResponse(_root() / "index.html", media_type=_TYPES[".html"], headers=_HEADERS)


@router.api_route("", methods=["GET", "HEAD"])
def console_home() -> FileResponse:
    return _index()


@router.api_route("/assets/{path:path}", methods=["GET", "HEAD"])
def console_asset(path: str) -> FileResponse:
    """A file of the app; only plain relative paths to known file types are served."""
    parts = PurePosixPath(path).parts
    suffix = PurePosixPath(path).suffix.lower()
    if not parts or any(p in {"..", "."} or p.startswith(".") for p in parts):
        raise NotFound("no such console asset")
    file = _root().joinpath(*parts)
    if suffix not in _TYPES or not file.is_file():
        raise NotFound("no such console asset")
    return FileResponse(file, media_type=_TYPES[suffix], headers=_HEADERS)


@router.api_route("/{path:path}", methods=["GET", "HEAD"])
def console_page(path: str) -> FileResponse:  # the app routes on the client
    return _index()
