"""Feedback and scorecards in the console (headless Chromium against real demo hubs): the data
authority reads a month of the demo's history (``--traffic``) with its charts and tables, opens
the printable report and is refused the auditor's pages; a citizen rates a handled service item;
a department admin rates a provider's data; the public statistics page opens without signing in;
every page fits a phone. Screenshots go to $TONGBAN_SCREENSHOTS_DIR."""

from __future__ import annotations

import httpx
import pytest

from tests.console.conftest import SCREENSHOTS, Hub, Tab
from tests.console.conftest import history_hub as history_hub
from tests.console.conftest import history_tab as history_tab
from tests.console.conftest import hub as hub
from tests.console.conftest import tab as tab

pytestmark = [pytest.mark.serves, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _fits(tab: Tab, width: int) -> None:
    scroll = tab.page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll}px wide on a {width}px phone"


def test_the_authority_reads_the_months_scorecards_with_charts_and_prints_the_report(
    history_tab: Tab,
) -> None:
    tab = history_tab
    tab.sign_in("data_authority", "dsj-reviewer")
    page = tab.page
    page.get_by_role("heading", name="共享评价", exact=True).wait_for()
    charts = page.locator("figure.chart")
    charts.nth(5).wait_for()
    assert charts.count() == 6
    on_time = charts.first.inner_text()  # only the providers with something answered
    token = tab.hub.id_token("dsj-reviewer", "data_authority")
    cards = httpx.get(
        f"{tab.hub.base}/authority/scorecards",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    for card in cards["providers"]:
        answered = card["corrections"]["answered"] + card["applications"]["answered"]
        assert (card["name"] in on_time) == (answered > 0), card["name"]
    assert "演示市公安局" in on_time
    assert page.locator("figure.chart svg rect").count() > 10
    providers = page.get_by_role("region", name="提供部门")
    assert "演示市公安局" in providers.inner_text()
    consumers = page.get_by_role("region", name="使用部门")
    assert "未建立" in consumers.inner_text()  # usage records: none kept yet, said so
    assert "演示市教育局" in consumers.inner_text()
    tab.screenshot("authority-scorecards")
    page.get_by_role("link", name="打印报表").click()
    page.get_by_role("heading", name="政务数据共享评价报表").wait_for()
    page.get_by_role("button", name="打印").wait_for()
    assert "查看评价" not in page.inner_text("main")  # no links on paper
    tab.screenshot("authority-report")
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()  # on paper: the report alone
    assert page.get_by_role("button", name="打印").is_hidden()
    assert page.get_by_role("heading", name="提供部门").is_visible()
    page.emulate_media(media="screen")
    page.goto(f"{tab.hub.base}/console/audit")
    page.get_by_role("heading", name="无权访问").wait_for()
    page.goto(f"{tab.hub.base}/console/authority")
    page.set_viewport_size({"width": 360, "height": 800})
    page.reload()
    page.locator("figure.chart").nth(5).wait_for()
    _fits(tab, 360)
    tab.screenshot("authority-scorecards-phone-360")


def test_a_citizen_rates_a_handled_service_item(tab: Tab, hub: Hub) -> None:
    subject = hub.queried[0]
    tab.sign_in("citizen", subject)
    page = tab.page
    page.get_by_role("link", name="办事评价").click()
    card = page.locator("article.card", has_text="义务教育入学登记").first
    card.wait_for()
    card.get_by_label("4 · 满意").check()
    wrong = card.locator("fieldset", has_text="以下共享的数据是否有误")
    wrong.get_by_label("户籍地址 · 演示市公安局").check()
    card.get_by_label("评价意见（选填）").fill("地址是旧门牌号，窗口还让我带了户口簿。")
    tab.screenshot("citizen-feedback")
    card.get_by_role("button", name="提交评价").click()
    card.get_by_text("已评价：4 分").wait_for()
    page.set_viewport_size({"width": 360, "height": 800})
    page.reload()
    page.get_by_text("已评价：4 分").first.wait_for()
    _fits(tab, 360)
    tab.screenshot("citizen-feedback-phone-360")


def test_a_department_admin_rates_a_providers_data(tab: Tab, hub: Hub) -> None:
    tab.sign_in("department_admin", "EDU-ADMIN", "EDU")
    page = tab.page
    page.get_by_role("link", name="数据质量评价").click()
    card = page.locator("article.card", has_text="常住人口户籍信息")
    card.wait_for()
    assert "演示市公安局" in card.inner_text()
    card.get_by_label("3 · 一般").check()
    card.get_by_role("button", name="提交评价").click()
    made = page.get_by_role("region", name="本部门的评价")
    made.get_by_text("PSB-HJ-0001").wait_for()
    page.set_viewport_size({"width": 360, "height": 800})
    page.reload()
    page.get_by_role("region", name="本部门的评价").get_by_text("PSB-HJ-0001").wait_for()
    _fits(tab, 360)


def test_the_public_statistics_page_opens_without_signing_in(tab: Tab) -> None:
    page = tab.page
    tab.open("/statistics")
    page.get_by_role("heading", name="政务数据共享公开统计").wait_for()
    assert page.locator("svg rect").count() >= 1
    assert "<10" in page.inner_text("main")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot("public-statistics")
    page.set_viewport_size({"width": 360, "height": 800})
    page.reload()
    page.get_by_role("heading", name="政务数据共享公开统计").wait_for()
    _fits(tab, 360)
    tab.screenshot("public-statistics-phone-360")
