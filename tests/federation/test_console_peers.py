"""The operator's 级联枢纽 page in headless Chromium against a real demo hub with one peer
registered by ``tongban peers add``: the peer, its pinned keys, a refused harvest with the
pointer of each problem, suspending and resuming it; at desktop and phone widths, in Chinese,
China time."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.conftest import SCREENSHOTS, Tab, tab_on
from tests.servers import TONGBAN, DemoHub, demo_hub, dev_environment

pytestmark = [pytest.mark.serves, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoHub]:
    """A demo hub that registered itself as a source peer (so that its harvest conflicts with
    its own catalogue and is refused, with problems to show)."""
    with demo_hub(tmp_path_factory.mktemp("peers-console")) as served:
        env = dev_environment(TONGBAN_PUBLIC_URL=served.base)

        def tongban(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [TONGBAN, *args], cwd=served.workdir, env=env, capture_output=True, text=True
            )

        added = tongban(
            *("peers", "add", "--id", "province", "--url", served.base, "--name", "省级枢纽"),
            *("--client-id", "edu-enrolment", "--key", "var/demo/keys/edu-enrolment.jwk"),
        )
        assert added.returncode == 0, added.stderr
        assert tongban("peers", "harvest", "province").returncode != 0
        yield served


@pytest.fixture
def tab(browser: Any, hub: DemoHub) -> Iterator[Tab]:
    with tab_on(browser, hub) as opened:
        yield opened


def test_the_operator_sees_the_peer_its_keys_and_why_a_harvest_was_refused(tab: Tab) -> None:
    page = tab.page
    tab.sign_in("operator", "OPS-001")
    page.get_by_role("link", name="级联枢纽").click()
    page.get_by_role("heading", name="级联枢纽", level=1).wait_for()
    section = page.locator("section", has=page.get_by_role("heading", name="省级枢纽（province）"))
    section.get_by_text("指纹").first.wait_for()
    harvests = section.locator("tbody tr")
    assert "已拒绝" in harvests.first.inner_text()
    assert "/resources/PSB-HJ-0001" in harvests.first.inner_text()
    assert "年" in harvests.first.inner_text()  # China time, in Chinese
    tab.screenshot("peers-desktop")

    section.get_by_role("button", name="暂停").click()
    page.get_by_role("button", name="恢复").wait_for()
    assert "已暂停" in page.locator("main table").first.inner_text()
    page.get_by_role("button", name="恢复").click()
    page.get_by_role("button", name="暂停").wait_for()


@pytest.mark.parametrize("width", [360, 390])
def test_the_peers_page_fits_a_phone(tab: Tab, width: int) -> None:
    page = tab.page
    page.set_viewport_size({"width": width, "height": 800})
    tab.sign_in("operator", "OPS-001")
    tab.open("/console/operator/peers")
    page.get_by_role("heading", name="级联枢纽", level=1).wait_for()
    page.locator("main tbody tr").first.wait_for()
    page.wait_for_load_state("networkidle")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"the page is {wide} px wide on a {width} px screen"
    tab.screenshot(f"peers-phone-{width}")
    assert (SCREENSHOTS / f"peers-phone-{width}.png").exists()


def test_another_role_is_not_shown_the_page(tab: Tab) -> None:
    tab.sign_in("auditor", "AUD-001")
    tab.open("/console/operator/peers")
    assert tab.page.get_by_role("heading", name="级联枢纽").count() == 0
