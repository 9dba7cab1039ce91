"""The app factory: the HTTP face of one :class:`exchange.hub.Hub`, built from settings when the
app is created."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from exchange.api import (
    agreements,
    audit,
    audit_stats,
    catalogue,
    checkpoints,
    consent,
    console,
    corrections,
    dev_idp,
    disputes,
    exchange,
    feedback,
    health,
    notice,
    oauth,
    public_stats,
    scorecards,
    sign_in,
    stewardship,
    subscriptions,
)
from exchange.api import batch as batch_api
from exchange.api import compliance as compliance_api
from exchange.api import federation as federation_api
from exchange.api import jobs as jobs_api
from exchange.api import lifecycle as lifecycle_api
from exchange.api import metrics as metrics_api
from exchange.api.admission import Admission, AdmissionGate, AdmissionLimits
from exchange.api.docs import mount_docs
from exchange.api.freshness import router as freshness_router
from exchange.api.headers import SecurityHeaders
from exchange.api.openapi import install_openapi
from exchange.api.problems import RequestContext, install_problem_handlers
from exchange.api.protocol import WorkerHeaderDeadlineProtocol
from exchange.hub import Hub
from exchange.logs import install_log_redaction
from exchange.settings import Settings, load_settings

__all__ = ["SERVED_AT", "create_app", "worker_app"]

SERVED_AT = "_TONGBAN_SERVED_AT"
"""Set by ``tongban serve --workers N`` for its workers: the ``host:port`` it listens on."""


def create_app(settings: Settings | None = None, *, hub: Hub | None = None) -> FastAPI:
    """The app of ``hub``, or of a hub composed from ``settings`` (read from the environment
    when neither is given). The app closes the hub when it shuts down."""
    if hub is None:
        hub = Hub.from_settings(settings or load_settings())
    hub.build()  # a misconfigured part (adapters file, IdP keys) stops the app here
    settings = hub.settings
    # httpx logs every request URL at INFO; an HTTP source's URL carries the subject's ID.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()  # after the server has configured its loggers
        scheduler = None  # docs/jobs.md: in `serve` unless TONGBAN_SCHEDULER=off
        if settings.scheduler == "on":
            scheduler = hub.scheduler()
            await asyncio.to_thread(scheduler.start)
        yield
        if scheduler is not None:
            await asyncio.to_thread(scheduler.shutdown)
        hub.close()

    app = FastAPI(
        title="Tongban (通办) data-sharing exchange hub",
        version="0.1.0",
        summary="Catalogue registry and brokered exchange for inter-department data sharing",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.hub = hub
    app.state.admission = None
    if settings.admission == "on":  # innermost: a refusal gets the request id and the headers
        limits = AdmissionLimits(settings.max_in_flight, settings.max_queue, settings.queue_wait_ms)
        app.state.admission = AdmissionGate(limits)
        app.add_middleware(Admission, gate=app.state.admission)
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # outermost: errors of RequestContext get them too
    install_problem_handlers(app)
    mount_docs(app)
    # The exchange's routes first: a request is matched against the routers in this order, and
    # nearly every request a hub serves is a query (matching the others first cost 0.2 ms of CPU).
    app.include_router(exchange.router)
    app.include_router(health.router)
    app.include_router(freshness_router)
    app.include_router(catalogue.router)
    app.include_router(oauth.router)
    app.include_router(sign_in.router)
    app.include_router(agreements.router)
    app.include_router(batch_api.router)
    app.include_router(consent.router)
    app.include_router(corrections.router)
    app.include_router(disputes.router)
    app.include_router(stewardship.router)
    app.include_router(lifecycle_api.router)
    app.include_router(notice.router)
    app.include_router(feedback.router)
    app.include_router(scorecards.router)
    app.include_router(compliance_api.router)
    app.include_router(public_stats.router)
    app.include_router(subscriptions.router)
    app.include_router(federation_api.router)
    app.include_router(checkpoints.router)
    app.include_router(audit.router)
    app.include_router(audit_stats.router)
    app.include_router(jobs_api.router)
    app.include_router(metrics_api.router)
    app.include_router(console.router)
    if settings.dev_idp_enabled:
        app.include_router(dev_idp.router)
    install_openapi(app)
    return app


def worker_app() -> FastAPI:
    """The app of one worker process of ``tongban serve --workers N`` (uvicorn's app factory,
    called in the worker): the settings ``serve`` read, from the environment it passed down
    (``TONGBAN_CONFIG`` for ``--data``), at the address it listens on. ``serve`` migrated the
    database and checked the master secret before it started the workers."""
    settings = load_settings()
    host, _, port = os.environ.get(SERVED_AT, "").rpartition(":")
    if host and port.isdigit():
        settings = settings.served_at(host, int(port))
    WorkerHeaderDeadlineProtocol.header_timeout_s = settings.header_timeout_s
    return create_app(settings)
