"""The citizen's pages, the catalogue, the auditor's pages and the operator's page at a phone's
width (360 and 390 CSS pixels), in headless Chromium against a real demo hub: nothing is wider
than the screen (the page never scrolls sideways), every table is a card of labelled lines
whose text has room (no column one character wide), the charts fit with labels that can be read
and do not overlap, and the actions (verifying an audit entry among them) still work there.
Screenshots go to $TONGBAN_SCREENSHOTS_DIR (docs/screenshots/ to refresh the README's)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.console.conftest import Hub, Tab

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
WIDTHS = [360, 390]


def on_a_phone(tab: Tab, width: int) -> None:
    tab.page.set_viewport_size({"width": width, "height": 800})


def assert_fits(tab: Tab, width: int, where: str) -> None:
    """The page is no wider than the screen, and every table cell shown has at least half of
    it (a squeezed column shows one character per line)."""
    page = tab.page
    page.wait_for_load_state("networkidle")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"{where}: the page is {wide} px wide on a {width} px screen"
    cells: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll("main td")]
              .filter((td) => td.offsetParent !== null && td.textContent.trim())
              .map((td) => ({ text: td.textContent.trim().slice(0, 40), width: td.clientWidth }))"""
    )
    narrow = [c for c in cells if c["width"] < width / 2]
    assert narrow == [], f"{where}: squeezed cells {narrow[:5]}"


def _ask_consent(hub: Hub, subject: str) -> dict[str, Any]:
    response = httpx.post(
        f"{hub.base}/consent-requests",
        json={
            "subject": {"id_type": "CN-RIC", "id": subject},
            "purpose": "school-enrolment",
            "purpose_text": "义务教育入学登记：核验户籍和住房情况",
            "attributes": ["household.name", "household.registered_address", "property.address"],
            "optional": ["property.address"],
            "retention_days": 365,
        },
        headers={"Authorization": f"Bearer {hub.system_token()}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    request: dict[str, Any] = response.json()
    return request


@pytest.mark.parametrize("width", WIDTHS)
def test_every_citizen_page_fits_a_phone(tab: Tab, hub: Hub, width: int) -> None:
    subject = hub.subject("old_division_code", 0 if width == 360 else 1)  # used by no other test
    with hub.client() as client:  # an access, so the access list has a card
        client.query(subject, "school-enrolment", service_item="EDU-RXDJ-001")
    given = _ask_consent(hub, subject)
    token = hub.id_token(subject, "citizen")
    approved = httpx.post(
        f"{hub.base}/citizen/consent-requests/{given['id']}/approve",
        json={},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert approved.status_code == 201, approved.text
    pending = _ask_consent(hub, subject)
    page = tab.page
    on_a_phone(tab, width)
    tab.sign_in("citizen", subject)

    # 我的数据: a pending request, the consents table and the access list, each as cards.
    page.locator("section", has=page.get_by_role("heading", name="我的授权")).locator(
        "tbody tr"
    ).first.wait_for()
    accesses = page.locator("section", has=page.get_by_role("heading", name="我的数据被谁用过"))
    accesses.locator("tbody tr").first.wait_for()
    page.locator("section.completeness .verdict .ok").wait_for()
    assert_fits(tab, width, "我的数据")
    consent = page.locator("section", has=page.get_by_role("heading", name="我的授权"))
    first = consent.locator("tbody td").first
    assert first.evaluate("td => getComputedStyle(td, '::before').content") == '"使用系统"'
    tab.screenshot(f"citizen-phone-{width}")

    # Narrowing from the row, at this width too.
    consent.get_by_role("button", name=re.compile("^缩小对")).first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("checkbox", name=re.compile("坐落")).wait_for()
    box = dialog.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= width
    tab.screenshot(f"citizen-narrow-phone-{width}")
    dialog.get_by_role("button", name="取消").click()

    # A consent request: its facts, the preview to choose from, the answer.
    page.goto(pending["approval_url"])
    page.get_by_role("heading", name="授权请求").wait_for()
    assert_fits(tab, width, "授权请求")
    tab.screenshot(f"citizen-request-phone-{width}")
    page.get_by_role("button", name="同意", exact=True).click()
    page.locator("main").get_by_text("已同意，授权已生效。").wait_for()
    assert page.locator(".facts .badge").first.inner_text() == "已同意"
    assert_fits(tab, width, "授权请求（已同意）")

    # The answered request shows its preview as a table: cards here too.
    page.reload()
    page.get_by_role("heading", name="授权请求").wait_for()
    page.locator("main table").wait_for()
    assert_fits(tab, width, "授权请求（只读）")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_catalogue_fits_a_phone(tab: Tab, hub: Hub, width: int) -> None:
    page = tab.page
    on_a_phone(tab, width)
    tab.sign_in("citizen", hub.queried[0])
    page.goto(f"{hub.base}/console/catalogue")
    page.locator("main").get_by_text("共 7 个资源").wait_for()
    assert_fits(tab, width, "目录浏览")
    tab.screenshot(f"catalogue-phone-{width}")
    page.goto(f"{hub.base}/console/catalogue/HRSS-SB-0001")
    page.get_by_role("heading", name="社会保险参保缴费信息").wait_for()
    page.locator("main table").wait_for()
    assert_fits(tab, width, "资源")
    tab.screenshot(f"catalogue-resource-phone-{width}")


def assert_within(tab: Tab, selector: str, width: int) -> int:
    """Every element *selector* matches is shown and lies inside the screen; how many there are."""
    boxes: list[dict[str, Any]] = tab.page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].map((e) => {
              const box = e.getBoundingClientRect();
              return { what: `${e.tagName.toLowerCase()}.${e.className.baseVal ?? e.className}`,
                       left: box.left, right: box.right, width: box.width };
            })""",
        selector,
    )
    assert boxes, f"nothing matches {selector}"
    outside = [b for b in boxes if b["width"] == 0 or b["left"] < 0 or b["right"] > width + 0.5]
    assert outside == [], f"{selector}: not inside the {width} px screen: {outside[:5]}"
    return len(boxes)


def assert_charts_readable(tab: Tab, width: int) -> None:
    """Each chart fits the screen, its axis labels are at least 10 px tall (not a desktop chart
    shrunk to half size) and no two of them overlap."""
    assert_within(tab, "figure.chart svg", width)
    charts: list[dict[str, Any]] = tab.page.evaluate(
        """() => [...document.querySelectorAll("figure.chart")].map((figure) => ({
              name: figure.querySelector("figcaption").textContent,
              labels: [...figure.querySelectorAll("svg text")].map((text) => {
                const box = text.getBoundingClientRect();
                return { text: text.textContent, left: box.left, right: box.right,
                         top: box.top, bottom: box.bottom, height: box.height };
              }),
            }))"""
    )
    for chart in charts:
        labels = chart["labels"]
        assert labels, f"{chart['name']}: no labels"
        small = [label["text"] for label in labels if label["height"] < 10]
        assert small == [], f"{chart['name']}: labels too small to read: {small[:5]}"
        overlapping = [
            (a["text"], b["text"])
            for i, a in enumerate(labels)
            for b in labels[i + 1 :]
            if a["left"] < b["right"] - 0.5
            and b["left"] < a["right"] - 0.5
            and a["top"] < b["bottom"] - 0.5
            and b["top"] < a["bottom"] - 0.5
        ]
        assert overlapping == [], f"{chart['name']}: overlapping labels {overlapping[:5]}"


# The staff pages on a fresh demo (a log of a few entries: charts nearly empty) and on the demo
# with a month of history (tongban demo --traffic: a column on most days, anomalies, every job
# run), whose pages are the screenshots.
HUBS = {"fresh": "tab", "month": "history_tab"}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("log", list(HUBS))
def test_the_auditors_pages_fit_a_phone(request: Any, log: str, width: int) -> None:
    tab: Tab = request.getfixturevalue(HUBS[log])
    page = tab.page
    on_a_phone(tab, width)
    tab.sign_in("auditor", "AUD-001")

    # 审计日志: a search for the denials, its results as cards, the anomalies, the charts and
    # the table of denials per system.
    page.get_by_role("heading", name="审计日志", level=1).wait_for()
    page.get_by_label("结果", exact=True).select_option("denied")
    page.get_by_role("button", name="检索", exact=True).click()
    page.locator(".results table tbody tr").first.wait_for()
    page.locator("figure.chart").first.wait_for()
    assert_fits(tab, width, "审计日志")
    assert_within(tab, ".results tbody tr", width)
    assert_within(tab, "main section table tbody tr", width)
    assert assert_within(tab, "figure.chart", width) == 3
    assert_charts_readable(tab, width)
    assert_within(tab, "form[role=search] button", width)
    if log == "month":
        assert assert_within(tab, ".anomaly", width) == 2
        for anomaly in page.locator(".anomaly").all_inner_texts():  # its day as a date
            assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", anomaly), anomaly
        tab.screenshot(f"auditor-phone-{width}")

    # One entry: its facts (hashes wrap), its fields, and verifying it in the browser.
    page.locator(".results tbody tr").first.get_by_role("link").click()
    page.get_by_role("heading", name=re.compile(r"审计记录 #\d+")).wait_for()
    verify = page.get_by_role("button", name="验证", exact=True)
    verify.wait_for()
    assert_within(tab, ".facts dd", width)
    verify.click()
    page.locator(".verdict .ok").wait_for()
    assert page.locator('[data-step="root"]').get_attribute("class") == "pass"
    page.locator(".witness-gap .facts").wait_for()
    assert_fits(tab, width, "审计记录")
    assert_within(tab, "main section > button", width)  # the verify button
    assert_within(tab, ".steps li", width)
    assert_within(tab, ".verdict .ok", width)
    assert_within(tab, ".witness-gap dd", width)
    if log == "month":
        tab.screenshot(f"auditor-verify-phone-{width}")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("log", list(HUBS))
def test_the_operators_page_fits_a_phone(request: Any, log: str, width: int) -> None:
    tab: Tab = request.getfixturevalue(HUBS[log])
    page = tab.page
    on_a_phone(tab, width)
    tab.sign_in("operator", "OPS-001")
    page.get_by_role("heading", name="运行状态", level=1).wait_for()
    jobs = page.locator("section", has=page.get_by_role("heading", name="定时任务"))
    jobs.locator("tbody tr").first.wait_for()
    assert_fits(tab, width, "运行状态")
    assert assert_within(tab, "main tbody tr", width) >= 2
    assert_within(tab, ".witness-gap dd", width)
    names = jobs.locator(".job-name").all_inner_texts()
    assert names
    assert all(re.search("[\u4e00-\u9fff]", name) for name in names), names
    if log == "month":
        assert_within(tab, "main tbody .badge", width)  # each job's last run, in words
        tab.screenshot(f"operator-phone-{width}")
