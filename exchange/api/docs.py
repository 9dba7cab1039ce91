"""The OpenAPI viewer at ``/docs``, served from the hub's own files (works offline).

FastAPI's default page loads Swagger UI from a CDN; a government network often has no route to
one. The vendored swagger-ui-dist 5 renders OpenAPI 3.1.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Tongban (通办) API",
        swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger-ui/swagger-ui.css",
        swagger_favicon_url="data:,",
    )


def mount_docs(app: FastAPI) -> None:
    # Only the viewer's files: the console's are served by exchange/api/console.py, with its CSP.
    viewer = resources.files("exchange").joinpath("static", "swagger-ui")
    app.mount("/static/swagger-ui", StaticFiles(directory=str(viewer)), name="static")
    app.include_router(router)
