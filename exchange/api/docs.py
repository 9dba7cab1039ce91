"""The OpenAPI viewer at ``/docs``, served from the hub's own files (works offline).

FastAPI's default page loads Swagger UI from a CDN and starts it with an inline script; a
government network often has no route to a CDN, and an inline script would need a weaker
Content-Security-Policy. This page loads the vendored swagger-ui-dist 5 (it renders OpenAPI
3.1) and starts it from ``tongban-docs.js``, so it runs under :data:`DOCS_CSP`: scripts from
this origin only, no framing.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["DOCS_CSP", "mount_docs"]

router = APIRouter(include_in_schema=False)

# Swagger UI sets inline style attributes, so styles allow them; scripts never run inline.
DOCS_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Tongban (通办) API</title>
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">
<link rel="icon" href="data:,">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/swagger-ui/tongban-docs.js"></script>
</body>
</html>
"""


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(
        _PAGE,
        headers={
            "Content-Security-Policy": DOCS_CSP,
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
        },
    )


def mount_docs(app: FastAPI) -> None:
    # Only the viewer's files: the console's are served by exchange/api/console.py, with its CSP.
    viewer = resources.files("exchange").joinpath("static", "swagger-ui")
    app.mount("/static/swagger-ui", StaticFiles(directory=str(viewer)), name="static")
    app.include_router(router)
