"""The hub, composed once: everything the app, every ``tongban`` command and the worker use.

:meth:`Hub.from_settings` is the only place that turns settings into running parts, in this
order (each part uses only those before it):

1. the database engine and its sessions (``exchange.db``);
2. the key schedule (``security.secrets``), and from it the subject pseudonyms, the hub's
   signing keys, the identity providers and the audit checkpoint signer;
3. the sources the resources are bound to (``sources.registry``) with the encrypted hub-side
   cache attached (``sources.cache``);
4. the exchange pipeline (``query.pipeline``);
5. the scheduled jobs, each declared by its domain's ``jobs.py`` (``jobs/`` itself imports no
   domain; it only runs what it is handed).

Nothing is built at import time. A command that needs the database schema calls
:meth:`Hub.migrate` first; :meth:`Hub.close` releases the pools, sources and engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from exchange.agreements import jobs as agreement_jobs
from exchange.audit import jobs as audit_jobs
from exchange.audit.checkpoints import CheckpointSigner
from exchange.consent import jobs as consent_jobs
from exchange.db import make_engine, make_sessionmaker, migrate
from exchange.jobs import sweeps as job_housekeeping
from exchange.jobs.scheduler import HubScheduler
from exchange.jobs.spec import JobSpec
from exchange.query import jobs as query_jobs
from exchange.query.budget import VerifyBudget
from exchange.query.pipeline import ExchangePipeline
from exchange.security import jobs as security_jobs
from exchange.security.identity import IdentityProviders
from exchange.security.keys import HubKeys
from exchange.security.secrets import KeySchedule
from exchange.security.subjects import Pseudonyms
from exchange.settings import Settings
from exchange.sources.cache.crypto import CacheCrypto
from exchange.sources.cache.jobs import sync_jobs
from exchange.sources.cache.reader import SourceCache
from exchange.sources.registry import SourceRegistry

__all__ = ["Hub"]


@dataclass(eq=False)
class Hub:
    """One hub's running parts, built from its settings by :meth:`from_settings`."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secrets: KeySchedule
    pseudonyms: Pseudonyms
    keys: HubKeys
    identity: IdentityProviders
    checkpoints: CheckpointSigner
    sources: SourceRegistry
    cache_crypto: CacheCrypto
    pipeline: ExchangePipeline
    jobs: list[JobSpec]

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        secrets = KeySchedule(settings.secret_key.get_secret_value())
        pseudonyms = Pseudonyms.from_schedule(secrets)
        keys = HubKeys(settings)
        checkpoints = CheckpointSigner(
            secrets,
            settings.audit_origin,
            interval=timedelta(seconds=settings.checkpoint_interval_s),
        )
        sources = SourceRegistry.from_file(settings.adapters_file)
        cache_crypto = CacheCrypto(secrets)
        sources.cache = SourceCache(sessions, sources, cache_crypto)
        pipeline = ExchangePipeline(
            sessions,
            sources,
            keys,
            secrets=secrets,
            issuer=settings.public_url,
            budget=VerifyBudget(
                no_match=settings.verify_no_match_budget,
                distinct_arguments=settings.predicate_argument_budget,
                window=timedelta(hours=settings.budget_window_h),
            ),
        )
        jobs = [
            *security_jobs.jobs(),
            *query_jobs.jobs(),
            *agreement_jobs.jobs(),
            *consent_jobs.jobs(),
            *audit_jobs.jobs(checkpoints, settings.checkpoint_interval_s),
            *job_housekeeping.jobs(settings),
            *sync_jobs(sources, cache_crypto),
        ]
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            secrets=secrets,
            pseudonyms=pseudonyms,
            keys=keys,
            identity=IdentityProviders(settings),
            checkpoints=checkpoints,
            sources=sources,
            cache_crypto=cache_crypto,
            pipeline=pipeline,
            jobs=sorted(jobs, key=lambda spec: spec.id),
        )

    def migrate(self) -> None:
        """Bring the hub database to the newest schema (idempotent)."""
        migrate(self.engine)

    def scheduler(self) -> HubScheduler:
        """A scheduler for this hub's jobs (not started)."""
        return HubScheduler(self.settings, self.engine, self.sessions, self.jobs)

    def close(self) -> None:
        self.pipeline.close()
        self.sources.close()
        self.engine.dispose()

    def __enter__(self) -> Hub:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
