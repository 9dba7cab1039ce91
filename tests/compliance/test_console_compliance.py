"""The compliance view in the console (headless Chromium against a served demo hub with the
story of :mod:`tests.compliance.conftest` added to its database): the data authority reads the
running clocks, the open breaches with their articles and cases, each department's figures and
the twelve months' charts, opens the monthly report, prints it (the report alone on paper) and
downloads its CSV; every other role is refused; it all fits a phone. Screenshots (1280 and
390 px) go to $TONGBAN_SCREENSHOTS_DIR."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange.agreements.workdays import CHINA_TZ
from exchange.hub import Hub as InProcessHub
from exchange.settings import load_settings
from tests.compliance.conftest import Story, tell_story
from tests.console.conftest import SCREENSHOTS, Hub, Tab, tab_on
from tests.servers import demo_hub, dev_environment

pytestmark = [pytest.mark.serves, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PHONE = 390


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, Story]]:
    """A served demo hub whose database also holds the story, told in this process over the
    same database, secret and settings as the served hub's."""
    with demo_hub(tmp_path_factory.mktemp("compliance-hub")) as hub:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(hub.workdir)
            wanted = dev_environment(TONGBAN_PUBLIC_URL=hub.base)
            for key in [k for k in os.environ if k.startswith("TONGBAN_") and k not in wanted]:
                patch.delenv(key)  # the suite's own (its secret file among them)
            for key, value in wanted.items():
                patch.setenv(key, value)
            local = InProcessHub(load_settings())
            try:
                story = tell_story(local)
            finally:
                local.engine.dispose()
        yield hub, story


@pytest.fixture
def tab(browser: Any, served: tuple[Hub, Story]) -> Iterator[Tab]:
    with tab_on(browser, served[0]) as opened:
        yield opened


def _api(hub: Hub, path: str, **params: str) -> Any:
    token = hub.id_token("dsj-reviewer", "data_authority")
    answer = httpx.get(
        f"{hub.base}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    answer.raise_for_status()
    return answer


def _fits(tab: Tab, width: int) -> None:
    """No wider than the phone, and no table cell squeezed under half of it (the rule of
    tests/console/test_console_phone.py)."""
    scroll = tab.page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll}px wide on a {width}px phone"
    cells: list[dict[str, Any]] = tab.page.evaluate(
        """() => [...document.querySelectorAll("main td")]
              .filter((td) => td.offsetParent !== null && td.textContent.trim())
              .map((td) => ({ text: td.textContent.trim().slice(0, 40), width: td.clientWidth }))"""
    )
    narrow = [c for c in cells if c["width"] < width / 2]
    assert narrow == [], f"squeezed cells {narrow[:5]}"


def test_the_authority_reads_clocks_breaches_and_trend(tab: Tab, served: tuple[Hub, Story]) -> None:
    hub, story = served
    view = _api(hub, "/authority/compliance").json()
    tab.sign_in("data_authority", "dsj-reviewer")
    page = tab.page
    page.get_by_role("link", name="合规监督").click()
    page.get_by_role("heading", name="合规监督", exact=True).wait_for()
    page.locator("figure.chart").nth(1).wait_for()
    assert page.locator("figure.chart svg rect").count() >= 2
    open_region = page.get_by_role("region", name="未纠正的违规")
    text = open_region.inner_text()
    assert "未按时答复共享申请" in text
    assert "第三十九条" in text
    assert "未按时审核目录" in text
    assert "数据主管部门" in text
    assert story.late_reply in text
    assert open_region.locator("tbody tr").count() == len(view["open_breaches"])
    clocks = page.get_by_role("region", name="运行中的时限")
    assert clocks.locator("tbody tr").count() == len(view["clocks"])
    assert "逾期" in clocks.inner_text()
    assert "剩 " in clocks.inner_text()  # the application filed today
    departments = page.get_by_role("region", name="各部门情况").inner_text()
    assert "演示市不动产登记中心" in departments
    tab.screenshot("authority-compliance")
    # a case links to where the authority follows it up
    open_region.get_by_role("link", name=f"共享争议 {story.dispute}").click()
    page.get_by_role("heading", name="共享争议").first.wait_for()
    page.go_back()
    page.get_by_role("region", name="未纠正的违规").wait_for()
    # one department
    page.get_by_label("部门", exact=True).select_option("REG")
    page.wait_for_url("**/authority/compliance?department=REG")
    page.get_by_role("region", name="未纠正的违规").wait_for()
    assert "数据主管部门" not in page.get_by_role("region", name="未纠正的违规").inner_text()
    assert page.get_by_label("部门", exact=True).locator("option").count() >= 5  # all of them
    page.set_viewport_size({"width": PHONE, "height": 844})
    tab.open("/console/authority/compliance")
    page.locator("figure.chart").nth(1).wait_for()
    _fits(tab, PHONE)
    tab.screenshot("authority-compliance-phone-390")
    page.get_by_role("region", name="未纠正的违规").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "authority-compliance-phone-390-breaches.png"))


def test_the_monthly_report_prints_on_its_own_and_downloads_as_csv(
    tab: Tab, served: tuple[Hub, Story]
) -> None:
    hub, story = served
    month = (story.start.astimezone(CHINA_TZ)).strftime("%Y-%m")
    year, number = (int(x) for x in month.split("-"))
    report = _api(hub, "/authority/compliance/report", month=month).json()
    tab.sign_in("data_authority", "dsj-reviewer")
    page = tab.page
    tab.open(f"/console/authority/compliance/report/{month}")
    title = f"政务数据共享合规情况月报（{year}年{number}月）"
    page.get_by_role("heading", name=title).wait_for()
    by_department = page.get_by_role("table", name="按部门统计")
    city = by_department.locator("tbody tr").last.inner_text()
    assert "全市" in city
    assert str(report["total"]["total"]) in city
    details = page.get_by_role("table", name="本月违规明细")
    assert details.locator("tbody tr").count() == len(report["breaches"]) > 0
    assert "生成于" in page.inner_text("main")
    tab.screenshot("authority-compliance-report")
    with page.expect_download() as downloading:
        page.get_by_role("button", name="下载 CSV").click()
    download = downloading.value
    assert download.suggested_filename == f"tongban-compliance-{month}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8-sig"))))
    assert int(next(r for r in rows if r["类别"] == "全市")["违规合计"]) == report["total"]["total"]
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()
    assert page.get_by_role("button", name="打印").is_hidden()
    assert page.get_by_role("heading", name=title).is_visible()
    page.pdf(path=str(Path(download.path()).with_suffix(".pdf")), format="A4")
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    tab.screenshot("authority-compliance-report-print-a4")
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.reload()
    page.get_by_role("heading", name=title).wait_for()
    _fits(tab, PHONE)
    tab.screenshot("authority-compliance-report-phone-390")
    page.screenshot(path=str(SCREENSHOTS / "authority-compliance-report-phone-390-top.png"))


@pytest.mark.parametrize(
    ("role", "sub", "department"),
    [
        ("department_admin", "REG-ADMIN", "REG"),
        ("auditor", "AUD-1", None),
        ("operator", "OPS-1", None),
    ],
)
def test_other_roles_are_refused_the_page(
    tab: Tab, role: str, sub: str, department: str | None
) -> None:
    tab.sign_in(role, sub, department)
    page = tab.page
    assert page.get_by_role("link", name="合规监督").count() == 0
    tab.open("/console/authority/compliance")
    page.get_by_role("heading", name="无权访问").wait_for()


def test_the_month_now_is_the_reports_default(served: tuple[Hub, Story]) -> None:
    hub, _ = served
    now = datetime.now(UTC).astimezone(CHINA_TZ).strftime("%Y-%m")
    assert _api(hub, "/authority/compliance/report").json()["month"] == now


def test_the_page_reads_in_english_too(tab: Tab) -> None:
    tab.sign_in("data_authority", "dsj-reviewer")
    page = tab.page
    tab.open("/console/authority/compliance")
    page.get_by_role("region", name="未纠正的违规").wait_for()
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Compliance", exact=True).wait_for()
    open_region = page.get_by_role("region", name="Breaches not put right")
    open_region.wait_for()
    text = open_region.inner_text()
    assert "Art. 39" in text
    assert "Application not answered in time" in text
    assert "comp." not in page.inner_text("main")  # no key shown for a missing string
