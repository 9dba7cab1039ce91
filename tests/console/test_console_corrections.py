"""Correction requests in the console (headless Chromium against a real demo hub): a citizen
sees each attribute released about them with its source department's Chinese name, objects with
an explanation and follows it to the refusal's reasons; the source department's admin sees the
queue with the clock (China time) and confirms or refuses with reasons; both pages fit a phone.
Screenshots go to $TONGBAN_SCREENSHOTS_DIR (docs/screenshots/ to refresh the README's)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.console.conftest import SCREENSHOTS, Hub, Tab
from tests.console.test_console_completeness import STEPS, sign_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ADDRESS = "household.registered_address"
PSB = "演示市公安局"


def _released(hub: Hub, subject: str) -> dict[str, Any]:
    """The school enrolment system receives the subject's registered address."""
    answer = httpx.post(
        f"{hub.base}/exchange/query",
        json={
            "subject": {"id_type": "CN-RIC", "id": subject},
            "purpose": "school-enrolment",
            "attributes": [ADDRESS],
        },
        headers={"Authorization": f"Bearer {hub.system_token()}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _file(hub: Hub, subject: str, request_id: str) -> dict[str, Any]:
    filed = httpx.post(
        f"{hub.base}/corrections",
        json={
            "subject": {"id_type": "CN-RIC", "id": subject},
            "attribute": ADDRESS,
            "request_id": request_id,
            "evidence": "申请人提供的房产证地址与户籍地址门牌号不一致",
        },
        headers={"Authorization": f"Bearer {hub.system_token()}"},
        timeout=10,
    )
    assert filed.status_code == 201, filed.text
    body: dict[str, Any] = filed.json()
    return body


def _fits(tab: Tab, width: int) -> None:
    scroll = tab.page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll}px wide on a {width}px phone"


def test_a_citizen_objects_and_sees_the_refusals_reasons(tab: Tab, hub: Hub) -> None:
    subject = hub.subject("school_age_without_property")
    _released(hub, subject)
    tab.sign_in("citizen", subject)
    page = tab.page
    released = page.get_by_role("region", name="平台共享过我的哪些数据")
    row = released.locator("tr", has_text="户籍地址")
    row.wait_for()
    assert PSB in row.inner_text()  # the source department by its Chinese name
    assert "PSB" not in row.inner_text()
    row.get_by_role("button", name="提出异议").click()
    page.get_by_label("哪里不对").fill("门牌号已调整，户籍地址仍是旧门牌号")
    page.get_by_role("button", name="提交异议").click()
    mine = page.get_by_role("region", name="我的异议与纠错进度")
    mine.get_by_text("处理中").wait_for()
    assert PSB in mine.inner_text()
    tab.screenshot("citizen-objection")

    page.get_by_role("button", name="退出登录").click()
    tab.sign_in("department_admin", "PSB-ADMIN", "PSB")
    page.goto(f"{hub.base}/console/department/corrections")
    queue = page.get_by_role("region", name="待处理")
    line = queue.locator("tr", has_text="门牌号已调整")
    line.wait_for()
    assert "本人（群众异议）" in line.inner_text()
    assert "日前" in line.inner_text()  # the last day to answer, in Chinese (China time)
    line.get_by_role("button", name="不予更正").click()
    page.get_by_label("理由").fill("经核查，门牌号调整尚未办理户籍变更，请到派出所办理")
    page.get_by_role("dialog").get_by_role("button", name="不予更正").click()
    page.get_by_role("region", name="已答复").get_by_text("不予更正").wait_for()

    page.get_by_role("button", name="退出登录").click()
    sign_checkpoint(hub)  # the objection's entries are the citizen's, in the subject map
    tab.sign_in("citizen", subject)
    mine = page.get_by_role("region", name="我的异议与纠错进度")
    mine.get_by_text("经核查，门牌号调整尚未办理户籍变更").wait_for()
    assert "不予更正" in mine.inner_text()
    # the completeness check counts the correction's entries as the citizen's, not as accesses
    block = page.locator("section.completeness")
    block.locator(".verdict p:not(.loading)").first.wait_for()
    states = {s: block.locator(f'[data-step="{s}"]').get_attribute("class") for s in STEPS}
    assert all("pass" in (state or "") for state in states.values()), states
    assert "纠错记录，不属于访问" in block.locator('[data-step="shown"]').inner_text()


def test_the_department_queue_shows_the_clock_and_fits_a_phone(tab: Tab, hub: Hub) -> None:
    subject = hub.subject("has_property")
    _file(hub, subject, _released(hub, subject)["request_id"])
    tab.sign_in("department_admin", "PSB-ADMIN", "PSB")
    page = tab.page
    page.get_by_role("link", name="纠错请求").click()
    page.get_by_role("heading", name="纠错请求（校核与异议）").wait_for()
    queue = page.get_by_role("region", name="待处理")
    line = queue.locator("tr", has_text="房产证地址")
    line.wait_for()
    text = line.inner_text()
    assert subject in text  # the source department needs the number to find the record
    assert "演示市教育局 · 义务教育入学登记系统" in text  # the filer by name
    assert "edu-enrolment" not in text
    assert "前" in text  # the last working day to answer
    tab.screenshot("department-corrections")
    for width in (360, 414):
        page.set_viewport_size({"width": width, "height": 800})
        page.reload()
        page.get_by_role("region", name="待处理").locator("tr", has_text="房产证地址").wait_for()
        _fits(tab, width)
    tab.screenshot("department-corrections-phone-360")


def test_a_citizens_page_with_released_attributes_fits_a_phone(tab: Tab, hub: Hub) -> None:
    subject = hub.subject("no_property")
    _released(hub, subject)
    tab.page.set_viewport_size({"width": 360, "height": 800})
    tab.sign_in("citizen", subject)
    released = tab.page.get_by_role("region", name="平台共享过我的哪些数据")
    released.locator("tr", has_text="户籍地址").wait_for()
    _fits(tab, 360)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the section only: the page is long
    released.screenshot(path=str(SCREENSHOTS / "citizen-released-phone-360.png"))
