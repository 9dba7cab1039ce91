"""The crypto profile is chosen at set-up, recorded in the database, and checked at every start:
a hub refuses to start under another profile than its data was written with, and a profile it
cannot run before it records anything."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import text

from exchange.app import create_app
from exchange.audit import merkle
from exchange.audit.checkpoints import sign_if_stale
from exchange.db import alembic_config, migrate, unit_of_work
from exchange.hub import Hub
from exchange.security.gm import profile_check
from exchange.security.gm.models import HubCryptoProfile
from exchange.security.gm.profile_check import recorded_profile
from exchange.settings import Settings, SettingsError
from tests.commands import tongban_in_process

SECRET = "the-secret-the-hub-was-built-with-" + "x1y2z3" * 4


def _hub(url: str, profile: str = "intl") -> Hub:
    settings = Settings(
        mode="dev", database_url=url, secret_key=SecretStr(SECRET), crypto_profile=profile
    )
    return Hub.from_settings(settings)


def _recorded(hub: Hub) -> str | None:
    with unit_of_work(hub.sessions) as session:
        return recorded_profile(session)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


def test_a_new_hub_records_the_intl_profile_at_its_first_start(url: str) -> None:
    with _hub(url) as hub:
        hub.migrate()
        assert _recorded(hub) is None
        hub.check_secret()
        assert _recorded(hub) == "intl"
    with _hub(url) as again:
        again.check_secret()  # the same profile starts


def test_a_new_gm_hub_records_gm_and_starts_again_under_it(url: str) -> None:
    with _hub(url, "gm") as hub:
        hub.migrate()
        hub.check_secret()
        assert _recorded(hub) == "gm"
        assert merkle.bound_profile == "gm"
    with _hub(url, "gm") as again:
        again.check_secret()
    with _hub(url) as other, pytest.raises(SettingsError, match="written under the 'gm'"):
        other.check_secret()


def test_a_new_gm_hubs_empty_log_has_the_sm3_empty_root_and_signs_its_first_checkpoint(
    url: str,
) -> None:
    """The migration gave the empty log SHA-256's empty root; recording gm makes it SM3's, so
    the first checkpoint (before any entry) signs instead of finding the tree inconsistent."""
    with _hub(url, "gm") as hub:
        hub.migrate()
        hub.check_secret()
        with unit_of_work(hub.sessions) as session:
            size, root = session.execute(text("SELECT size, root FROM audit_head")).one()
        assert (size, bytes(root)) == (0, hashlib.new("sm3", b"").digest())
        assert sign_if_stale(hub.checkpoints, hub.sessions)
        with unit_of_work(hub.sessions) as session:
            checkpoint = hub.checkpoints.latest(session)
        assert checkpoint is not None
        assert (checkpoint.size, checkpoint.root) == (0, merkle.root([]))


def test_a_profile_the_hub_cannot_run_is_refused_before_anything_is_recorded(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_check, "RUNNABLE_PROFILES", frozenset({"intl"}))
    with _hub(url, "gm") as hub:
        hub.migrate()
        with pytest.raises(SettingsError, match="cannot run on this hub") as refused:
            hub.check_secret()
        assert "docs/gm.md" in str(refused.value)
        assert _recorded(hub) is None  # nothing was written under a profile it cannot run


def test_an_intl_hub_started_under_gm_names_both_profiles(url: str) -> None:
    with _hub(url) as hub:
        hub.migrate()
        hub.check_secret()
    with _hub(url, "gm") as other, pytest.raises(SettingsError) as refused:
        other.check_secret()
    message = str(refused.value)
    assert "written under the 'intl' crypto profile" in message
    assert "configured for 'gm'" in message
    assert "docs/gm.md" in message


def test_a_gm_database_is_refused_under_intl(url: str) -> None:
    with _hub(url) as hub:
        hub.migrate()
        with unit_of_work(hub.sessions, write=True) as session:
            session.add(HubCryptoProfile(id=1, profile="gm", recorded_at=datetime.now(UTC)))
    with _hub(url) as other, pytest.raises(SettingsError, match="written under the 'gm'"):
        other.check_secret()


def test_readiness_checks_without_recording(url: str) -> None:
    with _hub(url) as hub:
        hub.migrate()
        hub.check_secret(record=False)
        assert _recorded(hub) is None


def test_readyz_is_503_under_another_profile_than_the_databases(url: str) -> None:
    with _hub(url) as hub:
        hub.migrate()
        with unit_of_work(hub.sessions, write=True) as session:
            session.add(HubCryptoProfile(id=1, profile="gm", recorded_at=datetime.now(UTC)))
    with TestClient(create_app(hub=_hub(url))) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "written under the 'gm' crypto profile" in ready.json()["detail"]


def test_the_migration_records_intl_for_a_hub_that_already_holds_data(tmp_path: Path) -> None:
    """A database written before profiles existed was written under intl; a new one is left
    for the first start to record."""
    with (
        _hub(f"sqlite:///{tmp_path / 'old.db'}") as old,
        _hub(f"sqlite:///{tmp_path / 'new.db'}") as new,
    ):
        before = ScriptDirectory.from_config(alembic_config(old.engine)).get_revision("0018")
        assert isinstance(before.down_revision, str)
        for hub in (old, new):
            migrate(hub.engine, before.down_revision)
        with old.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO hub_secret_check VALUES (1, :v, :at)"),
                {"v": "00" * 32, "at": datetime.now(UTC)},
            )
        for hub in (old, new):
            hub.migrate()
        assert _recorded(old) == "intl"
        assert _recorded(new) is None


def test_the_profile_is_a_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TONGBAN_CRYPTO_PROFILE", raising=False)  # the suite's, under gm
    monkeypatch.setenv("TONGBAN_MODE", "dev")
    monkeypatch.setenv("TONGBAN_SECRET_KEY", SECRET)
    assert Settings().crypto_profile == "intl"
    monkeypatch.setenv("TONGBAN_CRYPTO_PROFILE", "gm")
    assert Settings().crypto_profile == "gm"
    monkeypatch.setenv("TONGBAN_CRYPTO_PROFILE", "sm2")
    with pytest.raises(ValidationError, match="crypto_profile"):
        Settings()


def test_a_command_under_gm_runs_and_one_under_the_other_profile_exits_with_the_reason(
    tmp_path: Path,
) -> None:
    env = {
        "TONGBAN_MODE": "dev",
        "TONGBAN_SECRET_KEY": SECRET,
        "TONGBAN_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "TONGBAN_CRYPTO_PROFILE": "gm",
    }
    result = tongban_in_process(tmp_path, "keys", "list", "--json", env=env)
    assert result.returncode == 0, result.stderr
    result = tongban_in_process(tmp_path, "jobs", env={**env, "TONGBAN_CRYPTO_PROFILE": "intl"})
    assert result.returncode != 0
    assert "written under the 'gm' crypto profile" in result.stderr
    assert "docs/gm.md" in result.stderr
