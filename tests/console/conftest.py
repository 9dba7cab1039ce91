"""Fixtures for the console's browser tests: a real hub (``tongban demo`` + ``tongban serve``
as processes on a free loopback port), some real traffic through it, and headless Chromium
(Debian's ``/usr/bin/chromium``, driven by Playwright; ``playwright install`` is never run).

Every page the tests open has its network limited to the hub's origin: a request anywhere else
is aborted and recorded, and each test fails if one was (the console must work offline)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import DemoHub, demo_hub

# The README's screenshots are refreshed with TONGBAN_SCREENSHOTS_DIR=docs/screenshots; other
# runs (CI among them) write theirs to a temporary directory and leave the checkout alone.
SCREENSHOTS = Path(
    os.environ.get("TONGBAN_SCREENSHOTS_DIR")
    or Path(tempfile.gettempdir()) / f"tongban-screenshots-{os.getpid()}"
)
EDU = "edu-enrolment"


Hub = DemoHub


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with demo_hub(tmp_path_factory.mktemp("console-hub")) as served:
        with served.client() as client:  # real traffic for the audit log
            for kind in ("has_property", "school_age_with_property", "no_property"):
                subject = served.subject(kind)
                client.query(subject, "school-enrolment", service_item="EDU-RXDJ-001")
                served.queried.append(subject)
            # A denial too: a field no agreement grants the school enrolment system.
            client.query(
                served.subject("no_property", 1),
                "school-enrolment",
                attributes=["household.relation_to_head"],
            )
        with served.client("mca-dibao") as client:
            for kind in ("receives_dibao", "consent_candidate"):
                client.query(
                    served.subject(kind), "minimum-living-allowance", service_item="MCA-DBSQ-001"
                )
        yield served


@dataclass
class Tab:
    """A page in a fresh browser context, its network limited to the hub's origin."""

    page: Any
    hub: Hub
    aborted: list[str]
    errors: list[str]

    def open(self, path: str = "/console") -> None:
        self.page.goto(self.hub.base + path)

    def sign_in(self, role: str, sub: str, department: str | None = None) -> None:
        """Sign in through the console's own sign-in form (the dev IdP)."""
        self.open()
        page = self.page
        page.get_by_label("身份").select_option(role)
        page.get_by_label("账号").fill(sub)
        if department:
            page.get_by_label("所属部门").select_option(department)
        page.get_by_role("button", name="登录").click()
        page.wait_for_selector("button:has-text('退出登录')")

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="session")
def history_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A demo hub built with ``--traffic``: four weeks of history (exchange/demo/history.py),
    for the auditor's and operator's pages as a city sees them after a month."""
    with demo_hub(tmp_path_factory.mktemp("history-hub"), traffic=True) as served:
        yield served


@pytest.fixture
def tab(browser: Any, hub: Hub) -> Iterator[Tab]:
    with tab_on(browser, hub) as opened:
        yield opened


@pytest.fixture
def history_tab(browser: Any, history_hub: Hub) -> Iterator[Tab]:
    """A :class:`Tab` on :func:`history_hub`."""
    with tab_on(browser, history_hub) as opened:
        yield opened


@contextmanager
def tab_on(browser: Any, hub: Hub) -> Iterator[Tab]:
    """A desktop-sized page in a fresh browser context, Chinese locale, China time; on leaving,
    fails if the console reached outside *hub* or raised errors."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    aborted: list[str] = []
    errors: list[str] = []

    def only_the_hub(route: Any) -> None:
        if route.request.url.startswith(hub.base + "/"):
            route.fallback()
        else:
            aborted.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_hub)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    opened = Tab(page, hub, aborted, errors)
    yield opened
    context.close()
    assert aborted == [], f"the console reached outside the hub: {aborted}"
    assert errors == [], f"the console raised errors: {errors}"


def apply_for_marriage_data(hub: Hub) -> dict[str, Any]:
    """EDU's admin applies to MCA for two conditional fields until 2027-08-31: pending."""
    token = hub.id_token("EDU-ADMIN", "department_admin", "EDU")
    response = httpx.post(
        f"{hub.base}/agreements",
        json={
            "system": EDU,
            "resource": "MCA-HY-0001",
            "fields": ["spouse_name", "registered_on"],
            "purpose": "school-enrolment",
            "legal_basis": "《中华人民共和国义务教育法》第十二条",
            "justification": "核验适龄儿童监护人婚姻关系，免交结婚证复印件。",
            "valid_until": "2027-08-31",
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    application: dict[str, Any] = response.json()
    return application
