"""Settings: environment, TOML file, and prod refusing development secrets."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.settings import SettingsError, load_settings, secret_problem


def _no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("TONGBAN_") and not name.startswith("TONGBAN_TEST_"):
            monkeypatch.delenv(name)


def test_a_hub_with_no_settings_is_prod_and_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_settings(monkeypatch, tmp_path)
    with pytest.raises(SettingsError, match="TONGBAN_SECRET_KEY"):
        load_settings()
    assert not (tmp_path / "var").exists()


def test_dev_must_be_asked_for_and_generates_its_own_secret_0600(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("TONGBAN_MODE", "dev")
    settings = load_settings()
    assert settings.database_url == "sqlite:///./var/tongban.db"
    assert settings.dev_idp_enabled
    assert settings.public_url == "http://127.0.0.1:8000"
    secret_file = tmp_path / "var/secret.key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
    generated = settings.secret_key.get_secret_value()
    assert secret_problem(generated) is None
    assert load_settings().secret_key.get_secret_value() == generated  # kept across runs
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    assert load_settings().secret_key.get_secret_value() != generated  # per installation


def test_demo_asks_for_dev_unless_a_mode_is_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_settings(monkeypatch, tmp_path)
    assert load_settings(default_mode="dev").mode == "dev"
    monkeypatch.setenv("TONGBAN_MODE", "prod")
    with pytest.raises(SettingsError, match="TONGBAN_SECRET_KEY"):
        load_settings(default_mode="dev")


@pytest.mark.parametrize(
    "weak",
    [
        "short",
        "a" * 32,
        "k" * 48,
        "abcd" * 8,
        "01" * 40,
        "tongban-development-secret-do-not-use-in-production",
    ],
)
def test_prod_refuses_a_weak_secret(monkeypatch: pytest.MonkeyPatch, weak: str) -> None:
    monkeypatch.setenv("TONGBAN_MODE", "prod")
    monkeypatch.setenv("TONGBAN_PUBLIC_URL", "https://hub.example.gov.cn")
    monkeypatch.setenv("TONGBAN_SECRET_KEY", weak)
    with pytest.raises(SettingsError, match="TONGBAN_SECRET_KEY") as refused:
        load_settings()
    assert weak not in str(refused.value)


def test_prod_needs_its_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGBAN_MODE", "prod")
    monkeypatch.setenv("TONGBAN_SECRET_KEY", secrets.token_urlsafe(32))
    monkeypatch.delenv("TONGBAN_PUBLIC_URL", raising=False)
    with pytest.raises(SettingsError, match="TONGBAN_PUBLIC_URL"):
        load_settings()
    for bad in ("hub.example.gov.cn", "ftp://hub", "https://hub/?x=1", "https://u:p@hub"):
        monkeypatch.setenv("TONGBAN_PUBLIC_URL", bad)
        with pytest.raises(SettingsError, match="TONGBAN_PUBLIC_URL"):
            load_settings()


def test_prod_with_a_real_secret_turns_the_dev_idp_off(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_urlsafe(32)
    monkeypatch.setenv("TONGBAN_MODE", "prod")
    monkeypatch.setenv("TONGBAN_SECRET_KEY", secret)
    monkeypatch.setenv("TONGBAN_PUBLIC_URL", "https://hub.example.gov.cn/")
    settings = load_settings()
    assert not settings.dev_idp_enabled
    assert settings.public_url == "https://hub.example.gov.cn"
    assert secret not in repr(settings)
    every_interface = "0.0.0.0"  # noqa: S104 - the address serve might listen on
    assert settings.served_at(every_interface, 9000).public_url == "https://hub.example.gov.cn"


def test_toml_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('database_url = "sqlite:///from-toml.db"\nhub_name = "测试平台"\n', "utf-8")
    monkeypatch.setenv("TONGBAN_CONFIG", str(config))
    monkeypatch.setenv("TONGBAN_MODE", "dev")
    monkeypatch.delenv("TONGBAN_DATABASE_URL", raising=False)
    assert load_settings().database_url == "sqlite:///from-toml.db"
    monkeypatch.setenv("TONGBAN_DATABASE_URL", "sqlite:///from-env.db")
    settings = load_settings()
    assert settings.database_url == "sqlite:///from-env.db"
    assert settings.hub_name == "测试平台"


def test_a_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TONGBAN_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings()


def test_unknown_mode_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGBAN_MODE", "staging")
    with pytest.raises(SettingsError, match="mode"):
        load_settings()


@pytest.mark.serves
def test_importing_the_app_creates_no_engine_and_reads_no_settings(tmp_path: Path) -> None:
    code = (
        "import sqlalchemy, exchange.app, exchange.cli\n"
        "from sqlalchemy import pool\n"
        "import gc\n"
        "engines = [o for o in gc.get_objects() if isinstance(o, sqlalchemy.engine.Engine)]\n"
        "assert not engines, engines\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"TONGBAN_MODE": "prod", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "var").exists()


def test_the_hub_keeps_http_request_urls_out_of_its_logs() -> None:
    import logging

    from exchange.app import create_app
    from exchange.settings import Settings

    logging.getLogger("httpx").setLevel(logging.DEBUG)
    create_app(Settings(database_url="sqlite:///:memory:", mode="dev"))
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
