"""The console's files as the hub serves them (no browser): history-API routing, content
types, the Content-Security-Policy, no way out of the asset folder, nothing fetched from
elsewhere, and the two languages holding the same strings, all of those the code uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange.api.console import CONTENT_SECURITY_POLICY
from exchange.app import create_app
from exchange.settings import Settings

CONSOLE = Path(__file__).resolve().parents[2] / "exchange" / "static" / "console"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@pytest.fixture
def console(tmp_path: Path) -> TestClient:
    """The app on an empty SQLite file: the console's routes never touch the database."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/hub.db", mode="dev", adapters_file=None)
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.mark.parametrize(
    "path", ["/console", "/console/", "/console/audit", "/console/citizen/requests/cr-1"]
)
def test_every_console_path_answers_the_app_with_a_strict_policy(
    console: TestClient, path: str
) -> None:
    response = console.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<meta charset="utf-8">' in response.text
    assert 'id="app"' in response.text


@pytest.mark.parametrize(
    ("asset", "media_type"),
    [
        ("js/app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("i18n/zh.json", "application/json"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_have_their_content_types(console: TestClient, asset: str, media_type: str) -> None:
    response = console.get(f"/console/assets/{asset}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.content == (CONSOLE / asset).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/console/assets/nope.js",
        "/console/assets/..%2f..%2fapp.py",
        "/console/assets/%2e%2e/%2e%2e/settings.py",
        "/console/assets/.hidden.js",
        "/console/assets/js",
        "/console/assets/index.html.bak",
    ],
)
def test_a_missing_or_outside_asset_is_a_404_problem(console: TestClient, path: str) -> None:
    response = console.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "<html" not in response.text


def test_the_root_is_still_the_json_document(console: TestClient) -> None:
    response = console.get("/")
    assert response.status_code == 200
    assert response.json()["links"]["catalogue"].endswith("/catalogue/resources")


def _asset_texts() -> dict[str, str]:
    return {
        str(p.relative_to(CONSOLE)): p.read_text("utf-8")
        for p in CONSOLE.rglob("*")
        if p.is_file() and p.suffix in {".js", ".css", ".html", ".json", ".svg"}
    }


def test_no_asset_reaches_outside_the_hub_or_runs_inline_script() -> None:
    for name, text in _asset_texts().items():
        outside = [u for u in re.findall(r"https?://[^\s\"'`)]+", text) if u != SVG_NAMESPACE]
        assert outside == [], (name, outside)
        assert ".innerHTML" not in text, name
        assert "eval(" not in text, name
    index = (CONSOLE / "index.html").read_text("utf-8")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", index, re.S)
    assert scripts
    assert all('src="/console/assets/' in attrs and not body.strip() for attrs, body in scripts)
    assert " style=" not in index
    assert "onclick" not in index


def test_both_languages_hold_every_string_the_code_uses() -> None:
    zh = json.loads((CONSOLE / "i18n/zh.json").read_text("utf-8"))
    en = json.loads((CONSOLE / "i18n/en.json").read_text("utf-8"))
    assert zh.keys() == en.keys()
    code = "\n".join(t for n, t in _asset_texts().items() if n.endswith(".js"))
    used = set(re.findall(r"\bt\(\"([a-z_]+\.[a-z_]+)\"", code))
    used |= {f"nav.{k}" for k in re.findall(r"\"nav\.([a-z_]+)\"", code)}
    assert used, "no strings found: the pattern is wrong"
    assert sorted(used - zh.keys()) == []
    for role in ("citizen", "auditor", "department_admin", "operator"):
        assert f"role.{role}" in zh
    assert all(zh[k] != en[k] for k in ("app.title", "nav.audit", "signin.submit"))
