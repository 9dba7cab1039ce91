"""The web console (管理与查询控制台): one page app for auditors, department admins, operators
and citizens, served by the hub itself so that it works without a CDN or any outside network.

- ``/console`` and every path under it that is not an asset answer the app's ``index.html``
  (history-API routing: ``/console/citizen/requests/<id>``, the approval URL a case system hands
  a citizen, opens that request after sign-in).
- ``/console/assets/<file>`` serves the files that ship in ``exchange/static/console/``, with
  their content type, and nothing else: the request path is looked up in an allow-list of
  those files made once, when first needed, and never joined onto a directory, so no path
  (absolute, ``..``, ``%2F``, a symlink) reaches any other file. Anything not in the list is a
  404 problem, never the index.

Every answer carries a strict Content-Security-Policy: scripts, styles, fonts, images and API
calls from this origin only, no inline script, no framing. The app calls the hub's JSON API with
the signed-in user's ID token; this module holds no data and checks no roles (the API does).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from catalogue.errors import NotFound

__all__ = ["CONTENT_SECURITY_POLICY", "router", "shipped_assets"]

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
    return Path(str(resources.files("exchange").joinpath("static", "console"))).resolve()


@cache
def shipped_assets() -> dict[str, tuple[Path, str]]:
    """Every file of the console folder by its relative POSIX path, with its content type:
    regular files of a known type, no hidden names, no symlinks."""
    root = _root()
    assets: dict[str, tuple[Path, str]] = {}
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root)
        if (
            file.is_symlink()
            or not file.is_file()
            or any(part.startswith(".") for part in relative.parts)
            or file.suffix.lower() not in _TYPES
        ):
            continue
        assets[relative.as_posix()] = (file, _TYPES[file.suffix.lower()])
    return assets


def _index() -> FileResponse:
    file, media_type = shipped_assets()["index.html"]
    return FileResponse(file, media_type=media_type, headers=_HEADERS)


@router.api_route("", methods=["GET", "HEAD"])
def console_home() -> FileResponse:
    return _index()


@router.api_route("/assets/{path:path}", methods=["GET", "HEAD"])
def console_asset(path: str) -> FileResponse:
    """A file that ships with the console, looked up by its exact relative path."""
    shipped = shipped_assets().get(path)
    if shipped is None:
        raise NotFound("no such console asset")
    file, media_type = shipped
    return FileResponse(file, media_type=media_type, headers=_HEADERS)


@router.api_route("/{path:path}", methods=["GET", "HEAD"])
def console_page(path: str) -> FileResponse:  # the app routes on the client
    return _index()
