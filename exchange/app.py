"""The app factory: everything is built here, from settings, when the app is created."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from exchange.api import (
    agreements,
    audit,
    audit_stats,
    catalogue,
    checkpoints,
    consent,
    console,
    dev_idp,
    exchange,
    health,
    oauth,
)
from exchange.api import jobs as jobs_api
from exchange.api import metrics as metrics_api
from exchange.api.deps import HubState
from exchange.api.docs import mount_docs
from exchange.api.freshness import router as freshness_router
from exchange.api.headers import SecurityHeaders
from exchange.api.openapi import install_openapi
from exchange.api.problems import RequestContext, install_problem_handlers
from exchange.audit.checkpoints import CheckpointSigner
from exchange.db import make_engine, make_sessionmaker
from exchange.jobs.registry import all_jobs
from exchange.jobs.scheduler import HubScheduler
from exchange.logs import install_log_redaction
from exchange.query.budget import VerifyBudget
from exchange.query.pipeline import ExchangePipeline
from exchange.security.identity import IdentityProviders
from exchange.settings import Settings, load_settings
from exchange.sources.cache.crypto import CacheCrypto
from exchange.sources.cache.reader import SourceCache
from exchange.sources.registry import SourceRegistry

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """A hub app on ``settings`` (read from the environment when not given)."""
    settings = settings or load_settings()
    # httpx logs every request URL at INFO; an HTTP source's URL carries the subject's ID.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    engine = make_engine(settings.database_url)
    sources = SourceRegistry.from_file(settings.adapters_file)
    hub = HubState(
        settings, engine, make_sessionmaker(engine), IdentityProviders(settings), sources
    )
    sources.cache = SourceCache(
        hub.sessions, sources, CacheCrypto(settings.secret_key.get_secret_value())
    )

    pipeline = ExchangePipeline(
        hub.sessions,
        sources,
        hub.keys,
        secret=settings.secret_key.get_secret_value(),
        issuer=settings.public_url,
        budget=VerifyBudget(
            no_match=settings.verify_no_match_budget,
            distinct_arguments=settings.predicate_argument_budget,
            window=timedelta(hours=settings.budget_window_h),
        ),
    )

    signer = CheckpointSigner(
        settings.secret_key.get_secret_value(),
        settings.audit_origin,
        interval=timedelta(seconds=settings.checkpoint_interval_s),
    )
    jobs = all_jobs(settings, sources)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()  # after the server has configured its loggers
        scheduler = None  # docs/jobs.md: in `serve` unless TONGBAN_SCHEDULER=off
        if settings.scheduler == "on":
            scheduler = HubScheduler(settings, engine, hub.sessions, sources, jobs)
            await asyncio.to_thread(scheduler.start)
        yield
        if scheduler is not None:
            await asyncio.to_thread(scheduler.shutdown)
        pipeline.close()
        sources.close()
        engine.dispose()

    app = FastAPI(
        title="Tongban (通办) data-sharing exchange hub",
        version="0.1.0",
        summary="Catalogue registry and brokered exchange for inter-department data sharing",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.hub = hub
    app.state.exchange = pipeline
    app.state.checkpoints = signer
    app.state.jobs = jobs
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # outermost: errors of RequestContext get them too
    install_problem_handlers(app)
    mount_docs(app)
    app.include_router(health.router)
    app.include_router(freshness_router)
    app.include_router(catalogue.router)
    app.include_router(oauth.router)
    app.include_router(agreements.router)
    app.include_router(exchange.router)
    app.include_router(consent.router)
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
