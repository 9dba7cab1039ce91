"""Settings from environment variables (``TONGBAN_*``) and an optional TOML file.

Environment variables win over the file. The file is the one the command names (``tongban
serve --data DIR`` names ``DIR/tongban.toml``), else ``TONGBAN_CONFIG`` if set, else
``./tongban.toml`` if present.

Safe when nothing is configured (docs/security.md):

- the mode is ``prod`` unless ``dev`` is asked for (``TONGBAN_MODE=dev``; ``tongban demo`` and
  ``./dev demo`` ask);
- ``prod`` needs ``TONGBAN_SECRET_KEY`` with enough entropy (:func:`secret_problem`) and
  ``TONGBAN_PUBLIC_URL``, the hub's only identity (token issuer, assertion audience, links); the
  development identity provider is not mounted;
- ``dev`` without a secret generates one per installation on first use and keeps it in
  ``TONGBAN_SECRET_FILE`` (default ``var/secret.key``, mode 0600), so no two installations
  share a secret and none is a constant in the source; its public URL defaults to
  ``http://127.0.0.1:8000``.
"""

from __future__ import annotations

import math
import os
import secrets
import tomllib
from collections import Counter
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from schemas import TongbanError

__all__ = [
    "DEV_PUBLIC_URL",
    "MIN_SECRET_BITS",
    "Settings",
    "SettingsError",
    "configured",
    "load_settings",
    "secret_problem",
]

DEV_PUBLIC_URL = "http://127.0.0.1:8000"
MIN_SECRET_CHARACTERS = 32
MIN_SECRET_BITS = 96
# Secrets that are public: the constant earlier versions shipped as the development default.
PUBLISHED_SECRETS = frozenset({"tongban-development-secret-do-not-use-in-production"})
_NAMED_CONFIG: ContextVar[Path | None] = ContextVar("tongban_named_config", default=None)


class SettingsError(TongbanError):
    """The hub's configuration (environment or TOML file) is missing, unreadable or not safe to run
    with."""

    code = "invalid_settings"
    title = "Invalid settings"


class Settings(BaseSettings):
    """Hub configuration. Construct through :func:`load_settings`, never at import time."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_", extra="forbid")

    mode: Literal["dev", "prod"] = "prod"
    database_url: str = "sqlite:///./var/tongban.db"
    public_url: str = Field(
        default="",
        description="The hub's own public URL: token issuer, the audience client assertions "
        "name, the base of every link. Required in prod; http://127.0.0.1:8000 in dev.",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="The hub master secret; required in prod; generated per installation in dev.",
    )
    secret_file: Path = Field(
        default=Path("var/secret.key"),
        description="Where a dev installation keeps the secret it generated (0600).",
    )
    crypto_profile: Literal["intl", "gm"] = Field(
        default="intl",
        description="The crypto profile (docs/gm.md): `intl` (Ed25519, SHA-256, AES-GCM) or `gm` "
        "(SM2, SM3, SM4). Chosen at set-up and recorded in the database; a hub refuses to start "
        "under another profile than its data was written with.",
    )
    sm2_module: str = Field(
        default="",
        description="Under `gm`, a certified cryptographic module (密码机, HSM) that holds and "
        "uses the hub's SM2 keys, as `package.module:factory` (docs/gm.md, A certified "
        "module); empty: the software signer (GmSSL).",
    )
    sm2_checkpoint_key: str = Field(
        default="tongban-audit-checkpoint",
        description="With `sm2_module`, the label of the log's checkpoint key inside the module.",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A connection that has not sent a request's headers this long after it "
        "opened (or after the previous response) is closed.",
    )
    admission: Literal["on", "off"] | None = Field(
        default=None,
        description="Admission control per worker (docs/deployment.md): past max_in_flight "
        "running and max_queue waiting, a request is refused at once with 503 and Retry-After. "
        "Unset: on in prod, off in dev (the demo, and the tests that race requests on purpose).",
    )
    max_in_flight: int = Field(
        default=4, ge=1, le=1000, description="Requests one worker runs at once."
    )
    max_queue: int = Field(
        default=16, ge=0, le=10000, description="Requests one worker keeps waiting for a slot."
    )
    queue_wait_ms: int = Field(
        default=50,
        ge=0,
        le=60000,
        description="The longest a request waits for a slot before it is refused (503).",
    )
    adapters_file: Path | None = Field(
        default=Path("var/demo/adapters.json"),
        description="Adapter configuration (connections, mappings, resource bindings); "
        "resources without a binding answer `unavailable`.",
    )
    audit_origin: str = Field(
        default="tongban.local/audit-log",
        description="The audit log's origin: first line of its checkpoints, name of its key.",
    )
    checkpoint_interval_s: int = Field(default=60, ge=1)
    witness_policy_file: Path | None = Field(
        default=None,
        description="The witness policy (c2sp.org/tlog-policy): the witnesses the hub submits "
        "each checkpoint to, and the quorum that makes one count as published "
        "(docs/witness.md). Unset: no witness, and every verifier is told so.",
    )
    verify_no_match_budget: int = Field(
        default=5,
        ge=1,
        description="`no_match` answers one system may get about one field of one person in "
        "the budget window before verification is refused (429).",
    )
    predicate_argument_budget: int = Field(
        default=4,
        ge=1,
        description="Distinct arguments one system may ask of one derived predicate of one "
        "person in the budget window.",
    )
    budget_window_h: int = Field(default=24, ge=1, le=24 * 366)
    scheduler: Literal["on", "off"] = Field(
        default="on",
        description="Run the job scheduler inside `tongban serve`; `off` leaves the jobs to "
        "`tongban worker` (docs/jobs.md).",
    )
    job_history_days: int = Field(default=30, ge=1)
    correction_reply_working_days: int = Field(
        default=10,
        ge=1,
        le=10,
        description="Working days (State Council calendar) a source department has to answer a "
        "correction request (校核纠错, 《政务数据共享条例》 art. 26: 10 nationally; a province "
        "may set fewer).",
    )
    dispute_negotiation_working_days: int = Field(
        default=10,
        ge=1,
        le=60,
        description="Working days two departments have to negotiate a dispute (协商, "
        "《政务数据共享条例》 art. 28 sets no number; 10 is the hub's default) before either may "
        "take it to the data authority without both having stated a position.",
    )
    dispute_authority_working_days: int = Field(
        default=10,
        ge=1,
        le=60,
        description="Working days the data authority has to coordinate a dispute and decide it "
        "with reasons, or refer it on (art. 28 sets no number; 10 is the hub's default).",
    )
    dispute_superior_working_days: int = Field(
        default=20,
        ge=1,
        le=120,
        description="Working days the common superior (上级共同主管部门) is expected to take "
        "on a referred dispute, shown as a clock (art. 28 sets no number; default 20).",
    )
    dispute_government_working_days: int = Field(
        default=20,
        ge=1,
        le=120,
        description="Working days the government at that level (本级人民政府) is expected to "
        "take on a referred dispute, shown as a clock (art. 28 sets no number; default 20).",
    )
    usage_record_retention_years: int = Field(
        default=3,
        ge=3,
        le=30,
        description="Years a consumer's usage records (使用记录) are kept after filing "
        "(《政务数据共享条例》 art. 25: at least 3; it cannot be set lower).",
    )
    agreement_lapse_days: int | None = Field(
        default=None,
        ge=30,
        le=3660,
        description="Days after which an approved agreement not used in that time lapses "
        "(job stewardship.lapse; 《政务数据共享条例》 art. 29 names no period); unset, nothing "
        "lapses. Access comes back through a new application.",
    )
    application_unconditional_reply_working_days: int = Field(
        default=1,
        ge=1,
        le=1,
        description="Working days a provider has to answer an application for unconditional "
        "data (无条件共享, 《政务数据共享条例》 art. 21: 1 nationally).",
    )
    application_conditional_reply_working_days: int = Field(
        default=10,
        ge=1,
        le=10,
        description="Working days a provider has to answer an application for conditional "
        "data (有条件共享, art. 21: 10 nationally; 黑龙江 sets 1).",
    )
    application_extension_working_days: int = Field(
        default=10,
        ge=1,
        le=10,
        description="The most working days the one extension of a conditional application's "
        "reply clock may add, with the data authority's approval (art. 21: 10).",
    )
    delivery_working_days: int = Field(
        default=20,
        ge=1,
        le=20,
        description="Working days a provider has, once an application is approved, to deliver "
        "the data through an agreed channel (art. 22: 20).",
    )
    batch_extract_ttl_h: int = Field(
        default=72,
        ge=1,
        le=24 * 30,
        description="Hours a batch extract can be downloaded; then its chunks are deleted "
        "(docs/lifecycle.md, Batch channel).",
    )
    batch_max_subjects: int = Field(
        default=1000, ge=1, le=100_000, description="The most people one batch extract names."
    )
    batch_chunk_subjects: int = Field(
        default=100, ge=1, le=10_000, description="People per encrypted chunk of an extract."
    )
    citizen_objections: bool = Field(
        default=True,
        description="Citizens may object (异议) to their own data from the console; a province "
        "that does not take objections sets false.",
    )
    correction_notice_days: int = Field(
        default=1096,
        ge=1,
        description="How far back the audit log is searched for the systems that received a "
        "corrected attribute (usage records are kept 3 years).",
    )
    feedback_comment_retention_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="Days a rating's free-text comment (好差评) is kept, sealed; the "
        "feedback.comments job erases it after that (the rating itself stays).",
    )
    catalogue_review: Literal["required", "direct"] | None = Field(
        default=None,
        description="How a department's `PUT /catalogue/resources/{code}` publishes: `required` "
        "makes it a draft submission the data authority reviews (docs/lifecycle.md), `direct` "
        "publishes at once as before the review existed. Unset: required in prod, direct in dev "
        "(the demo's department pages and the tests written before the review).",
    )
    catalogue_review_working_days: int = Field(
        default=2,
        ge=1,
        le=2,
        description="Working days the data authority has to review a submitted catalogue entry "
        "(《政务数据共享条例》 art. 15: 2 nationally).",
    )
    catalogue_update_working_days: int = Field(
        default=10,
        ge=1,
        le=10,
        description="Working days a department has to update a catalogue entry after a change of "
        "law or duties (art. 16: 10 nationally).",
    )
    catalogue_update_extension_working_days: int = Field(
        default=5,
        ge=1,
        le=5,
        description="Working days the one extension of an update duty adds, with the data "
        "authority's consent (art. 16: 5 nationally).",
    )
    demand_route_working_days: int = Field(
        default=5,
        ge=1,
        le=60,
        description="Working days the data authority has to route a supply-demand request "
        "(供需对接, art. 20) to a provider. The regulation sets no number; 5 is this hub's "
        "default.",
    )
    demand_reply_working_days: int = Field(
        default=10,
        ge=1,
        le=60,
        description="Working days a provider has to catalogue and connect, or refuse with "
        "reasons, a supply-demand request routed to it. The regulation sets no number; 10 (the "
        "clock of a conditional application, art. 21) is this hub's default.",
    )
    webhook_allowed_cidrs: str | None = Field(
        default=None,
        description="Networks a subscription's webhook may point into although they are "
        "loopback, link-local or private (comma-separated CIDRs). Unset: none in prod, loopback "
        "in dev (docs/subscriptions.md).",
    )
    subscription_max_attempts: int = Field(
        default=12,
        ge=1,
        le=100,
        description="Webhook attempts of one event before it is dead-lettered.",
    )
    subscription_retry_first_s: float = Field(
        default=2.0,
        ge=0,
        le=3600,
        description="Wait after an event's first failed delivery; doubles after each failure.",
    )
    subscription_retry_max_s: float = Field(
        default=3600.0, ge=0, le=86400, description="The longest wait between two attempts."
    )
    subscription_broker_url: SecretStr | None = Field(
        default=None,
        description="The broker subscriptions with delivery `broker` are published to: "
        "nats://host:4222 (NATS JetStream) or amqp://user:password@host:5672/vhost (RabbitMQ; "
        "amqps:// with TLS). Unset: no broker (docs/subscriptions.md).",
    )
    subscription_broker_topic: str = Field(
        default="tongban.events",
        max_length=100,
        pattern=r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$",
        description="NATS: events go to <topic>.<subscription id> in the stream that captures "
        "it (made as TONGBAN_EVENTS if none does); RabbitMQ: the durable direct exchange and "
        "the prefix of each subscription's queue.",
    )
    idp_issuer: str | None = None
    idp_jwks_file: Path | None = None
    idp_authorization_endpoint: str | None = Field(
        default=None,
        description="The external IdP's OpenID Connect authorisation endpoint, where the "
        "console sends people to sign in (with TONGBAN_IDP_CLIENT_ID).",
    )
    idp_client_id: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9._:/@-]+$")
    idp_client_secret: SecretStr | None = Field(
        default=None,
        description="The hub's secret at the OpenID provider (client_secret_basic) when it "
        "exchanges the console's authorization code; unset: a public client (PKCE only).",
    )
    idp_scope: str = Field(
        default="openid",
        pattern=r"^openid( [A-Za-z0-9_.:/-]+)*$",
        description="The scopes the console asks for; the provider must put `role` (and "
        "`department`) into the ID token for them (docs/sign-in.md).",
    )
    idp_jwks_max_age_s: int = Field(
        default=300,
        ge=1,
        le=86400,
        description="How long the provider's keys (from its JWKS URL) are used before they are "
        "fetched again.",
    )
    idp_jwks_refetch_interval_s: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="The least time between two fetches of the provider's keys: a token with an "
        "unknown key id fetches them again at most this often.",
    )
    _public_url_defaulted: bool = PrivateAttr(default=False)
    hub_name: str = "通办 政务数据共享交换平台"
    operator_name: str = "通办平台运营方"

    @model_validator(mode="after")
    def _safe_by_default(self) -> Settings:
        if self.mode == "prod":
            problem = secret_problem(self.secret_key.get_secret_value())
            if problem:
                raise ValueError(f"prod mode needs TONGBAN_SECRET_KEY: {problem}")
            if not self.public_url:
                raise ValueError(
                    "prod mode needs TONGBAN_PUBLIC_URL, the hub's own public URL "
                    "(e.g. https://tongban.example.gov.cn)"
                )
        else:
            if not self.secret_key.get_secret_value():
                self.secret_key = SecretStr(_installation_secret(self.secret_file))
            if not self.public_url:
                self.public_url = DEV_PUBLIC_URL
                self._public_url_defaulted = True
        self.public_url = _checked_public_url(self.public_url)
        if self.idp_authorization_endpoint is not None:
            endpoint = urlsplit(self.idp_authorization_endpoint)
            if (
                endpoint.scheme not in {"https", "http"}
                or not endpoint.hostname
                or (self.mode == "prod" and endpoint.scheme != "https")
            ):
                raise ValueError("TONGBAN_IDP_AUTHORIZATION_ENDPOINT must be an absolute https URL")
        return self

    @model_validator(mode="after")
    def _broker_url_parses(self) -> Settings:
        if self.subscription_broker_url is not None:
            _check_broker_url(self.subscription_broker_url.get_secret_value())
        return self

    @model_validator(mode="after")
    def _webhook_networks_parse(self) -> Settings:
        for cidr in _cidrs(self.webhook_allowed_cidrs or ""):
            try:
                ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(
                    "TONGBAN_WEBHOOK_ALLOWED_CIDRS must list networks such as 10.8.0.0/16"
                ) from None
        return self

    @property
    def webhook_allowed_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The networks webhooks may reach despite being loopback, link-local or private."""
        cidrs: tuple[str, ...]
        if self.webhook_allowed_cidrs is None:
            cidrs = ("127.0.0.0/8", "::1/128") if self.mode == "dev" else ()
        else:
            cidrs = _cidrs(self.webhook_allowed_cidrs)
        return tuple(ip_network(c, strict=False) for c in cidrs)

    @model_validator(mode="after")
    def _admission_by_mode(self) -> Settings:
        if self.admission is None:
            self.admission = "on" if self.mode == "prod" else "off"
        return self

    @model_validator(mode="after")
    def _catalogue_review_by_mode(self) -> Settings:
        if self.catalogue_review is None:
            self.catalogue_review = "required" if self.mode == "prod" else "direct"
        return self

    @model_validator(mode="after")
    def _idp_issuer_is_https(self) -> Settings:
        """The provider's keys are fetched from its issuer URL: https, or http on loopback
        (a provider on the same machine, as in the tests)."""
        if self.idp_issuer is not None and self.idp_jwks_file is None:
            issuer = urlsplit(self.idp_issuer)
            loopback = issuer.hostname in {"127.0.0.1", "localhost", "::1"}
            if not issuer.hostname or not (
                issuer.scheme == "https" or (issuer.scheme == "http" and loopback)
            ):
                raise ValueError("TONGBAN_IDP_ISSUER must be an https URL (the provider's issuer)")
        return self

    @property
    def dev_idp_enabled(self) -> bool:
        return self.mode == "dev"

    def served_at(self, host: str, port: int) -> Settings:
        """These settings for ``tongban serve --host --port``: a dev hub with no configured
        public URL is known by the address it listens on; otherwise nothing changes."""
        if not self._public_url_defaulted:
            return self
        shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
        shown = f"[{shown}]" if ":" in shown else shown
        return self.model_copy(update={"public_url": f"http://{shown}:{port}"})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` is too weak to be the hub master secret, or ``None``.

    At least 32 characters, and at least 128 bits by the empirical Shannon entropy of its
    characters, an estimate that a random string reaches and ``'a' * 32`` (none) or a repeated
    short pattern (``'abcd' * 8``: 64 bits) does not: 32 random bytes in base64
    (``openssl rand -base64 32``) or hex (``openssl rand -hex 32``) pass.
    """
    if secret in PUBLISHED_SECRETS:
        return "it is a published development value; generate one with `openssl rand -base64 32`"
    if len(secret) < MIN_SECRET_CHARACTERS:
        return f"it must be at least {MIN_SECRET_CHARACTERS} characters of random data"
    counts = Counter(secret)
    per_char = sum(n / len(secret) * math.log2(len(secret) / n) for n in counts.values())
    if per_char * len(secret) < MIN_SECRET_BITS:
        return (
            f"it has too little entropy (about {per_char * len(secret):.0f} bits, "
            f"{MIN_SECRET_BITS} needed); generate one with `openssl rand -base64 32`"
        )
    return None


def _installation_secret(path: Path) -> str:
    """This dev installation's own secret: read from ``path``, or generated there (0600) on
    first use. Never a constant: two installations never share one."""
    try:
        existing = path.read_text("ascii").strip()
    except FileNotFoundError:
        existing = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the dev secret file {path}: {exc}") from None
    if existing:
        return existing
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    generated = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first: use theirs
        return path.read_text("ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(generated + "\n")
    return generated


def _checked_public_url(url: str) -> str:
    """An absolute http(s) URL with a host and no query, fragment or credentials; no trailing
    slash. It becomes the token issuer and the base of every link, so it is checked here."""
    parts = urlsplit(url)
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
        or any(c.isspace() or ord(c) < 0x20 for c in url)
    ):
        raise ValueError(f"TONGBAN_PUBLIC_URL must be an absolute http(s) URL, not {url!r}")
    return url.rstrip("/")


def _config_path() -> Path | None:
    chosen = _NAMED_CONFIG.get()
    if chosen is not None:
        return chosen
    named = os.environ.get("TONGBAN_CONFIG")
    if named:
        return Path(named)
    default = Path("tongban.toml")
    return default if default.is_file() else None


def load_settings(
    *,
    default_mode: Literal["dev", "prod"] = "prod",
    config_file: Path | None = None,
    **overrides: object,
) -> Settings:
    """Read settings now; a bad value becomes a :class:`SettingsError` with a one-line reason.

    ``default_mode`` is the mode when neither the environment nor the file names one: ``prod``
    everywhere except ``tongban demo``, which asks for ``dev``. ``config_file`` is the file to
    read instead of ``TONGBAN_CONFIG`` or ``./tongban.toml``.
    """
    if config_file is None:
        return _load(default_mode, overrides)
    if not config_file.is_file():
        raise SettingsError(f"the configuration file {config_file} does not exist")
    chosen = _NAMED_CONFIG.set(config_file)
    try:
        return _load(default_mode, overrides)
    finally:
        _NAMED_CONFIG.reset(chosen)


def configured(name: str) -> bool:
    """Whether the setting ``name`` comes from the environment or the configuration file
    (rather than its default)."""
    if os.environ.get(f"TONGBAN_{name.upper()}"):
        return True
    path = _config_path()
    if path is None:
        return False
    try:
        with path.open("rb") as handle:
            return name in tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return False  # Settings reports the file's problem itself


def _load(default_mode: Literal["dev", "prod"], overrides: dict[str, object]) -> Settings:
    from pydantic import ValidationError

    named = os.environ.get("TONGBAN_CONFIG")
    if _NAMED_CONFIG.get() is None and named and not Path(named).is_file():
        raise SettingsError(f"TONGBAN_CONFIG names a file that does not exist: {named}")
    if default_mode != "prod" and "mode" not in overrides and not configured("mode"):
        overrides["mode"] = default_mode
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{where}: {message}") from None


def _cidrs(listed: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in listed.split(",") if part.strip())


BROKER_SCHEMES = frozenset({"nats", "tls", "amqp", "amqps"})


def _check_broker_url(url: str) -> None:
    """Refuse a broker URL the hub could not publish to (the message never echoes the URL: it
    may hold a password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in BROKER_SCHEMES or not parts.hostname:
        raise ValueError(
            "TONGBAN_SUBSCRIPTION_BROKER_URL must be nats://host:port (NATS JetStream) or "
            "amqp://user:password@host:port/vhost (RabbitMQ; amqps:// with TLS)"
        )
    if port == 0 or parts.query or parts.fragment:
        raise ValueError(
            "TONGBAN_SUBSCRIPTION_BROKER_URL: a port from 1 to 65535, and no query or fragment"
        )
    if parts.scheme in {"nats", "tls"} and parts.path not in {"", "/"}:
        raise ValueError("TONGBAN_SUBSCRIPTION_BROKER_URL: a NATS URL has no path")
