"""Hole 1 (critical): no request reads a file outside what the hub ships.

The console's asset route joined the request path onto its folder, and an absolute path escaped
it: the review read a department's property export, the adapters file and two key-custody
shares without a token. Every path an attacker might try, against a real served demo hub, must
be a 404 problem that shows nothing of the file; a fuzz pass covers the rest of the space."""

from __future__ import annotations

import json
import string
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.api.console import shipped_assets
from tests.security.attack import raw_request
from tests.servers import DemoHub

SECRET_FILES = ("var/demo/adapters.json", "var/secret.key", "var/demo/demo.json")


def _targets(absolute: str) -> list[str]:
    """Ways to name ``absolute`` under the asset route and the swagger-ui folder."""
    encoded = quote(absolute, safe="")
    up = "../" * 12 + absolute.lstrip("/")
    return [
        f"/console/assets/{absolute}",  # //abs/path
        f"/console/assets/{encoded}",  # %2Fabs%2Fpath
        f"/console/assets/{encoded.replace('%2F', '%252F')}",  # double-encoded
        f"/console/assets/{up}",
        f"/console/assets/{quote(up, safe='')}",
        f"/console/assets/js/..%2F..%2F..%2F{quote(absolute.lstrip('/'), safe='')}",
        f"/console/assets/%2e%2e/%2e%2e/{absolute.lstrip('/')}",
        f"/console/assets/.{absolute}",
        f"/static/swagger-ui/{absolute}",
        f"/static/swagger-ui/{encoded}",
        f"/static/swagger-ui/{up}",
        f"/static/swagger-ui/..%2F..%2F..%2F{quote(absolute.lstrip('/'), safe='')}",
    ]


def _assert_nothing_of(answer_body: bytes, secret: bytes) -> None:
    assert secret not in answer_body
    assert b"root:" not in answer_body


@pytest.mark.parametrize("name", SECRET_FILES)
def test_no_path_reads_the_hubs_own_files(demo: DemoHub, name: str) -> None:
    path = (demo.workdir / name).resolve()
    content = path.read_bytes()
    sample = content[:40]
    for target in _targets(str(path)):
        answer = raw_request(demo.base, target)
        assert answer.status in {400, 404}, (target, answer.status)
        _assert_nothing_of(answer.body, sample)
        if answer.status == 404 and target.startswith("/console"):
            assert answer.headers["content-type"].startswith("application/problem+json")


def test_no_path_reads_a_departments_export_or_the_system_files(demo: DemoHub) -> None:
    exports = sorted((demo.workdir / "var/demo/legacy").rglob("*.txt"))
    assert exports, "the demo world has a fixed-width export"
    host_file = Path("/etc/passwd")
    for path in [*exports, host_file]:
        sample = path.read_bytes()[:40]
        for target in _targets(str(path.resolve())):
            answer = raw_request(demo.base, target)
            assert answer.status in {400, 404}, (target, answer.status)
            _assert_nothing_of(answer.body, sample)


def test_every_shipped_asset_is_still_served(demo: DemoHub) -> None:
    shipped = shipped_assets()
    assert {"index.html", "js/app.js", "style.css", "i18n/zh.json"} <= set(shipped)
    for relative, (file, media_type) in shipped.items():
        answer = raw_request(demo.base, f"/console/assets/{relative}")
        assert answer.status == 200, relative
        assert answer.body == file.read_bytes()
        assert answer.headers["content-type"] == media_type


def test_a_symlink_planted_in_the_console_folder_is_not_served(tmp_path: Path) -> None:
    from exchange.api import console

    folder = Path(str(console._root()))
    link = folder / "planted.txt"
    link.symlink_to("/etc/passwd")  # the checkout's console folder: the tests may write it
    try:
        console.shipped_assets.cache_clear()
        assert "planted.txt" not in console.shipped_assets()
    finally:
        link.unlink()
        console.shipped_assets.cache_clear()


_SEGMENT = st.text(
    alphabet=st.sampled_from([*string.ascii_letters, *string.digits, ".", "%", "/", "\\", "~"]),
    max_size=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_SEGMENT, min_size=1, max_size=6))
def test_fuzz_asset_paths_only_ever_resolve_to_shipped_files(segments: list[str]) -> None:
    """Whatever path the route is handed, it answers a shipped file or nothing."""
    from catalogue.errors import NotFound
    from exchange.api.console import console_asset

    path = "/".join(segments)
    try:
        response = console_asset(path)
    except NotFound:
        return
    shipped = {file for file, _ in shipped_assets().values()}
    assert Path(response.path) in shipped, path


def test_the_fuzzed_route_is_the_served_route(demo: DemoHub) -> None:
    """The asset route the fuzz test calls is the one the served hub answers with."""
    answer = raw_request(demo.base, "/console/assets/no-such-file.js")
    assert answer.status == 404
    assert json.loads(answer.body)["code"] == "not_found"
