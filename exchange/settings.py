"""Settings from environment variables (``TONGBAN_*``) and an optional TOML file.

Environment variables win over the file. The file is ``TONGBAN_CONFIG`` if set, else
``./tongban.toml`` if present. ``prod`` mode refuses the development defaults for secrets and
turns off the development identity provider.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from schemas import TongbanError

__all__ = ["DEV_SECRET", "Settings", "SettingsError", "load_settings"]

DEV_SECRET = "tongban-development-secret-do-not-use-in-production"  # noqa: S105 - refused in prod


class SettingsError(TongbanError):
    code = "invalid_settings"
    title = "Invalid settings"


class Settings(BaseSettings):
    """Hub configuration. Construct through :func:`load_settings`, never at import time."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_", extra="forbid")

    mode: Literal["dev", "prod"] = "dev"
    database_url: str = "sqlite:///./var/tongban.db"
    public_url: str | None = Field(
        default=None,
        description="Base URL the hub is reached at; links use the request URL if unset.",
    )
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
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
    scheduler: Literal["on", "off"] = Field(
        default="on",
        description="Run the job scheduler inside `tongban serve`; `off` leaves the jobs to "
        "`tongban worker` (docs/jobs.md).",
    )
    job_history_days: int = Field(default=30, ge=1)
    idp_issuer: str | None = None
    idp_jwks_file: Path | None = None
    hub_name: str = "通办 政务数据共享交换平台"
    operator_name: str = "通办平台运营方"

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.mode == "prod":
            secret = self.secret_key.get_secret_value()
            if secret == DEV_SECRET or len(secret) < 32:
                raise ValueError(
                    "prod mode needs TONGBAN_SECRET_KEY set to a random value of 32+ characters"
                )
        return self

    @property
    def dev_idp_enabled(self) -> bool:
        return self.mode == "dev"

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


def _config_path() -> Path | None:
    named = os.environ.get("TONGBAN_CONFIG")
    if named:
        return Path(named)
    default = Path("tongban.toml")
    return default if default.is_file() else None


def load_settings(**overrides: object) -> Settings:
    """Read settings now; a bad value becomes a :class:`SettingsError` with a one-line reason."""
    from pydantic import ValidationError

    named = os.environ.get("TONGBAN_CONFIG")
    if named and not Path(named).is_file():
        raise SettingsError(f"TONGBAN_CONFIG names a file that does not exist: {named}")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "settings"
        raise SettingsError(f"{where}: {first['msg']}") from None
