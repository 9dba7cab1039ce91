"""The hub, composed once: everything the app, every ``tongban`` command and the worker use.

:meth:`Hub.from_settings` is the only place that turns settings into running parts, in this
order (each part uses only those before it):

1. the database engine and its sessions (``exchange.db``);
2. the key schedule (``security.secrets``), and from it the subject pseudonyms, the hub's
   signing keys, the identity providers, the audit checkpoint signer and the witness policy;
3. the sources the resources are bound to (``sources.registry``) with the encrypted hub-side
   cache attached (``sources.cache``);
4. the exchange pipeline (``query.pipeline``);
5. the scheduled jobs, each declared by its domain's ``jobs.py`` (``jobs/`` itself imports no
   domain; it only runs what it is handed).

Nothing is built at import time, and a part only when it is first used (the app builds them
all at start-up). A command that needs the database schema calls :meth:`Hub.migrate` first;
:meth:`Hub.close` releases the pools, sources and engine.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from exchange.agreements import jobs as agreement_jobs
from exchange.agreements.applications import ReplyClocks
from exchange.audit import jobs as audit_jobs
from exchange.audit import merkle, vmap
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.witnessing import Witnessing
from exchange.batch import jobs as batch_jobs
from exchange.consent import jobs as consent_jobs
from exchange.corrections.service import CorrectionDesk
from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work
from exchange.disputes.service import DisputeClocks, DisputeDesk
from exchange.federation import jobs as federation_jobs
from exchange.federation.relay import HubRelay
from exchange.federation.subscriptions import PeerFeed, PeerSubscriptions
from exchange.feedback import jobs as feedback_jobs
from exchange.feedback.sealing import CommentSeal
from exchange.jobs import sweeps as job_housekeeping
from exchange.jobs.scheduler import HubScheduler
from exchange.jobs.spec import JobSpec
from exchange.notice import jobs as notice_jobs
from exchange.query import jobs as query_jobs
from exchange.query.budget import VerifyBudget
from exchange.query.pipeline import ExchangePipeline
from exchange.query.reread import SourceReader
from exchange.scorecards import jobs as scorecard_jobs
from exchange.security import jobs as security_jobs
from exchange.security.gm.profile import profile_named
from exchange.security.gm.profile_check import check_crypto_profile
from exchange.security.identity import IdentityProviders
from exchange.security.keys import HubKeys, sm2_module_of
from exchange.security.secret_check import check_master_secret
from exchange.security.secrets import KeySchedule, KeyUse
from exchange.security.subjects import Pseudonyms
from exchange.settings import Settings
from exchange.sources.cache.crypto import CacheCrypto
from exchange.sources.cache.jobs import sync_jobs
from exchange.sources.cache.reader import SourceCache
from exchange.sources.registry import SourceRegistry
from exchange.stewardship import jobs as stewardship_jobs
from exchange.stewardship.service import StewardshipDesk
from exchange.subscriptions import jobs as subscription_jobs
from exchange.subscriptions.brokers import BrokerAddress, BrokerTransport
from exchange.subscriptions.delivery import Courier, RetryBudget, WebhookTransport
from exchange.subscriptions.models import DeliveryChannel
from exchange.subscriptions.outbox import ChangeReader
from exchange.subscriptions.sealing import OutboxSeal
from exchange.subscriptions.service import Subscriptions
from exchange.subscriptions.signed import EventSigner
from exchange.subscriptions.webhooks import WebhookPolicy
from policies.transforms import HashKey

__all__ = ["Hub"]


class Hub:
    """One hub's running parts, built from its settings by :meth:`from_settings`.

    The database and the key schedule are built at once; every other part on first use, each
    from the parts before it, so a command that only needs the database reads neither the
    adapters file nor the identity provider's keys. :meth:`build` builds them all (the app
    does, so a misconfigured part stops it at start-up)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.database_url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        profile = profile_named(settings.crypto_profile)
        self.secrets = KeySchedule(settings.secret_key.get_secret_value(), profile)
        merkle.use_profile(profile)  # the audit tree's hash, bound once (docs/gm.md)
        vmap.use_profile(profile)  # and the subject map's
        self._secret_checked = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        return cls(settings)

    def build(self) -> Hub:
        """Every part now (the pipeline and the jobs need all the others)."""
        _ = (self.identity, self.witnessing, self.pipeline, self.jobs)
        return self

    @cached_property
    def pseudonyms(self) -> Pseudonyms:
        return Pseudonyms.from_schedule(self.secrets)

    @cached_property
    def keys(self) -> HubKeys:
        return HubKeys(self.settings)

    @cached_property
    def identity(self) -> IdentityProviders:
        return IdentityProviders(self.settings)

    @cached_property
    def checkpoints(self) -> CheckpointSigner:
        interval = timedelta(seconds=self.settings.checkpoint_interval_s)
        module = sm2_module_of(self.settings)
        return CheckpointSigner(
            self.secrets,
            self.settings.audit_origin,
            interval=interval,
            module=(module, self.settings.sm2_checkpoint_key) if module is not None else None,
        )

    @cached_property
    def witnessing(self) -> Witnessing:
        """The witness policy and the submissions of checkpoints to its witnesses."""
        return Witnessing.from_file(self.checkpoints, self.settings.witness_policy_file)

    def witnessing_against(self, policy_file: Path) -> Witnessing:
        """Someone else's witness policy over this hub's log (``tongban audit verify
        --policy``): it must list this hub's log key, or no log at all."""
        return Witnessing.from_file(self.checkpoints, policy_file)

    @cached_property
    def cache_crypto(self) -> CacheCrypto:
        return CacheCrypto(self.secrets)

    @cached_property
    def sources(self) -> SourceRegistry:
        sources = SourceRegistry.from_file(self.settings.adapters_file)
        sources.cache = SourceCache(self.sessions, sources, self.cache_crypto)
        return sources

    @cached_property
    def corrections(self) -> CorrectionDesk:
        """Correction requests (校核纠错, 异议): filed, answered on the clock, notices owed."""
        settings = self.settings
        return CorrectionDesk(
            self.sessions,
            self.pseudonyms,
            SourceReader(self.sessions, self.sources),
            subject_key=self.secrets.key(KeyUse.CORRECTION_SUBJECTS),
            fingerprint_key=self.secrets.key(KeyUse.CORRECTION_FINGERPRINT),
            profile=self.secrets.profile,
            reply_working_days=settings.correction_reply_working_days,
            notice_days=settings.correction_notice_days,
        )

    @cached_property
    def disputes(self) -> DisputeDesk:
        """Disputes between departments (《政务数据共享条例》 art. 28), each level on its clock."""
        settings = self.settings
        return DisputeDesk(
            self.sessions,
            DisputeClocks(
                negotiation=settings.dispute_negotiation_working_days,
                authority=settings.dispute_authority_working_days,
                superior=settings.dispute_superior_working_days,
                government=settings.dispute_government_working_days,
            ),
        )

    @cached_property
    def stewardship(self) -> StewardshipDesk:
        """Usage records, disposal and suspensions of agreements (art. 25, 27, 29)."""
        return StewardshipDesk(self.sessions, self.settings.usage_record_retention_years)

    @cached_property
    def application_clocks(self) -> ReplyClocks:
        """The clocks of applications and replies (《政务数据共享条例》 art. 21-22)."""
        settings = self.settings
        return ReplyClocks(
            unconditional=settings.application_unconditional_reply_working_days,
            conditional=settings.application_conditional_reply_working_days,
            extension=settings.application_extension_working_days,
            delivery=settings.delivery_working_days,
        )

    @cached_property
    def pipeline(self) -> ExchangePipeline:
        settings = self.settings
        return ExchangePipeline(
            self.sessions,
            self.sources,
            self.keys,
            checkpoints=self.checkpoints,
            pseudonyms=self.pseudonyms,
            release_hash_key=self.release_hash_key,
            issuer=settings.public_url,
            budget=VerifyBudget(
                no_match=settings.verify_no_match_budget,
                distinct_arguments=settings.predicate_argument_budget,
                window=timedelta(hours=settings.budget_window_h),
            ),
            relay=self.relay,
        )

    @cached_property
    def release_hash_key(self) -> HashKey:
        """The key each consumer's ``hash`` releases are derived from, with the profile's keyed
        hash (HMAC-SHA-256 under ``intl``, HMAC-SM3 under ``gm``; docs/gm.md)."""
        return HashKey(self.secrets.key(KeyUse.RELEASE_HASH), self.secrets.profile.release_hash)

    @cached_property
    def relay(self) -> HubRelay:
        """Queries for resources other hubs hold, relayed to them (docs/federation.md)."""
        return HubRelay(self.sessions)

    @cached_property
    def outbox_seal(self) -> OutboxSeal:
        return OutboxSeal(self.secrets.aead(KeyUse.SUBSCRIPTIONS_AT_REST))

    @cached_property
    def webhooks(self) -> WebhookPolicy:
        """Where subscription webhooks may point (docs/subscriptions.md)."""
        settings = self.settings
        public = urlsplit(settings.public_url or "")
        return WebhookPolicy(
            allow_http=settings.mode == "dev",
            hub_host=(public.hostname or "").lower(),
            hub_port=public.port or (443 if public.scheme == "https" else 80),
            allowed=settings.webhook_allowed_networks,
        )

    @cached_property
    def subscriptions(self) -> Subscriptions:
        """Subscriptions to attribute changes (订阅): made, read, acknowledged, replayed."""
        return Subscriptions(
            self.pseudonyms,
            self.outbox_seal,
            self.webhooks,
            broker=self.broker is not None,
            peers=self.peer_subscriptions,
            retire=BrokerTransport(self.broker).retire if self.broker is not None else None,
        )

    @cached_property
    def peer_subscriptions(self) -> PeerSubscriptions:
        """Subscriptions held at other hubs for the resources they hold (回流)."""
        return PeerSubscriptions(self.relay, self.settings.public_url)

    @cached_property
    def peer_feed(self) -> PeerFeed:
        """The events of subscriptions held at other hubs, into the outbox (回流)."""
        return PeerFeed(
            self.sessions,
            self.relay,
            self.pseudonyms,
            self.outbox_seal,
            self.release_hash_key,
            self.settings.public_url,
        )

    @cached_property
    def event_signer(self) -> EventSigner:
        """Signs the pulled events of subscriptions peer hubs hold here (回流)."""
        return EventSigner(self.sessions, self.keys, self.checkpoints, self.settings.public_url)

    @cached_property
    def broker(self) -> BrokerAddress | None:
        """The broker events of ``broker`` subscriptions are published to, if any."""
        url = self.settings.subscription_broker_url
        if url is None:
            return None
        return BrokerAddress(url.get_secret_value(), self.settings.subscription_broker_topic)

    @cached_property
    def change_reader(self) -> ChangeReader:
        return ChangeReader(
            self.sessions,
            self.sources,
            self.pseudonyms,
            self.outbox_seal,
            self.release_hash_key,
            peers=self.peer_subscriptions,
        )

    @cached_property
    def _delivery_budget(self) -> RetryBudget:
        settings = self.settings
        return RetryBudget(
            settings.subscription_max_attempts,
            settings.subscription_retry_first_s,
            settings.subscription_retry_max_s,
        )

    @cached_property
    def courier(self) -> Courier:
        transport = WebhookTransport(self.webhooks)
        channel = DeliveryChannel.WEBHOOK
        return Courier(self.sessions, self.outbox_seal, channel, transport, self._delivery_budget)

    @cached_property
    def broker_courier(self) -> Courier | None:
        """Publishes ``broker`` subscriptions' events (docs/subscriptions.md), if a broker is
        configured."""
        if self.broker is None:
            return None
        transport = BrokerTransport(self.broker)
        channel = DeliveryChannel.BROKER
        return Courier(self.sessions, self.outbox_seal, channel, transport, self._delivery_budget)

    @cached_property
    def jobs(self) -> list[JobSpec]:
        """Every domain's scheduled work, by id."""
        jobs = [
            *security_jobs.jobs(),
            *query_jobs.jobs(),
            *agreement_jobs.jobs(),
            *stewardship_jobs.jobs(),
            *batch_jobs.jobs(),
            *consent_jobs.jobs(),
            *notice_jobs.jobs(),
            *feedback_jobs.jobs(
                lambda: CommentSeal(self.secrets),
                lambda: self.settings.feedback_comment_retention_days,
            ),
            *audit_jobs.jobs(
                self.checkpoints, self.witnessing, self.settings.checkpoint_interval_s
            ),
            *job_housekeeping.jobs(self.settings),
            *sync_jobs(self.sources, self.cache_crypto),
            *subscription_jobs.jobs(
                lambda: self.change_reader, lambda: self.courier, lambda: self.broker_courier
            ),
            *scorecard_jobs.jobs(lambda: self.sources),
            *federation_jobs.jobs(lambda: self.peer_feed),
        ]
        return sorted(jobs, key=lambda spec: spec.id)

    def migrate(self) -> None:
        """Bring the hub database to the newest schema (idempotent)."""
        migrate(self.engine)

    def check_secret(self, *, record: bool = True) -> None:
        """Refuse a master secret other than the one this database was built with, and a crypto
        profile other than the one its data was written under (or one that cannot run yet),
        recording both on a new database (``security/secret_check.py``,
        ``security/gm/profile_check.py``); once per process."""
        if self._secret_checked:
            return
        with unit_of_work(self.sessions, write=record) as session:
            # the profile first: under another profile the secret's check value (derived with
            # the profile's hash) would not match either, and say less
            check_crypto_profile(session, self.settings.crypto_profile, record=record)
            check_master_secret(session, self.secrets, self.keys, record=record)
        self._secret_checked = True

    def scheduler(self) -> HubScheduler:
        """A scheduler for this hub's jobs (not started)."""
        return HubScheduler(self.settings, self.engine, self.sessions, self.jobs)

    def close(self) -> None:
        """Release what was built: the sources (their adapters' pools), the engine."""
        if "sources" in self.__dict__:
            self.sources.close()
        if "relay" in self.__dict__:
            self.relay.close()
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
