"""Settings: environment, TOML file, and prod refusing development secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exchange.settings import DEV_SECRET, SettingsError, load_settings


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TONGBAN_DATABASE_URL", "TONGBAN_MODE", "TONGBAN_CONFIG", "TONGBAN_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///./var/tongban.db"
    assert settings.mode == "dev"
    assert settings.dev_idp_enabled


def test_prod_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGBAN_MODE", "prod")
    monkeypatch.delenv("TONGBAN_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="TONGBAN_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("TONGBAN_SECRET_KEY", "short")
    with pytest.raises(SettingsError):
        load_settings()
    monkeypatch.setenv("TONGBAN_SECRET_KEY", DEV_SECRET)
    with pytest.raises(SettingsError):
        load_settings()


def test_prod_with_a_real_secret_turns_the_dev_idp_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGBAN_MODE", "prod")
    monkeypatch.setenv("TONGBAN_SECRET_KEY", "k" * 48)
    settings = load_settings()
    assert not settings.dev_idp_enabled
    assert "k" * 48 not in repr(settings)


def test_toml_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('database_url = "sqlite:///from-toml.db"\nhub_name = "测试平台"\n', "utf-8")
    monkeypatch.setenv("TONGBAN_CONFIG", str(config))
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
    create_app(Settings(database_url="sqlite:///:memory:"))
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
