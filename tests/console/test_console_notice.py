"""Deferred notice in the console (headless Chromium against a real demo hub): a department
admin asks to defer the notice of an access, a second admin approves it; the citizen's list no
longer shows it and the browser still proves the list complete; once the event is recorded the
access is back with the mark that its notice was deferred and why, and each access shows its kind
of legal basis; the auditor's page lists the deferrals in Chinese, China time, on a phone too.
Screenshots go to $TONGBAN_SCREENSHOTS_DIR."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.console.conftest import Hub, Tab
from tests.console.test_console_completeness import STEPS, check, sign_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
LAW = "《中华人民共和国刑事诉讼法》第一百五十二条"


def _accessed(hub: Hub, subject: str) -> int:
    answer = httpx.post(
        f"{hub.base}/exchange/query",
        json={
            "subject": {"id_type": "CN-RIC", "id": subject},
            "purpose": "school-enrolment",
            "attributes": ["household.registered_address"],
        },
        headers={"Authorization": f"Bearer {hub.system_token()}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["audit"]["index"])


def _staff(hub: Hub, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.id_token(sub, 'department_admin', 'EDU')}"}


def _fits(tab: Tab, width: int) -> None:
    scroll = tab.page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll}px wide on a {width}px phone"


def _rows(tab: Tab) -> list[str]:
    rows = tab.page.locator("table.access-list tbody tr")
    return [rows.nth(i).get_attribute("data-index") or "" for i in range(rows.count())]


def test_an_access_deferred_in_the_console_is_hidden_then_shown_with_its_mark(
    tab: Tab, hub: Hub
) -> None:
    citizen = hub.subject("no_property", 1)
    sign_checkpoint(hub)  # the hub signs one a minute; the list is proven against one before
    index = _accessed(hub, citizen)
    tab.sign_in("department_admin", "EDU-ADMIN", "EDU")
    page = tab.page
    page.get_by_role("link", name="延迟告知").click()
    form = page.get_by_role("region", name="申请延迟告知")
    form.get_by_label("访问（审计序号）").fill(str(index))
    form.get_by_label("原因", exact=True).fill("案件侦查中，告知当事人将妨碍侦查")
    form.get_by_label("法律依据").fill(LAW)
    form.get_by_label("或等待事件").fill("侦查终结")
    form.get_by_role("button", name="提交申请").click()
    page.get_by_text("待审批").first.wait_for()
    approve = page.get_by_role("button", name="批准", exact=True)
    assert approve.count() == 1
    approve.click()  # by the admin who asked: refused, and it stays awaiting approval
    page.locator(".problem").first.wait_for()
    assert page.get_by_text("待审批").count() >= 1
    page.get_by_role("button", name="退出登录").click()

    tab.sign_in("department_admin", "EDU-ADMIN-2", "EDU")
    page.get_by_role("link", name="延迟告知").click()
    page.get_by_role("button", name="批准", exact=True).click()
    page.get_by_text("生效中").first.wait_for()
    assert page.get_by_role("button", name="登记事件已发生").count() == 1
    tab.screenshot("department-deferrals")
    page.set_viewport_size({"width": 360, "height": 800})
    _fits(tab, 360)
    tab.screenshot("department-deferrals-phone-360")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="退出登录").click()

    sign_checkpoint(hub)
    states, verdict = check(tab, citizen)
    assert set(states.values()) == {"pass"}, (states, verdict)
    assert str(index) not in _rows(tab)
    assert "曾延迟告知" not in page.inner_text("main")
    page.get_by_role("button", name="退出登录").click()

    deferrals = httpx.get(
        f"{hub.base}/department/deferrals", headers=_staff(hub, "EDU-ADMIN"), timeout=10
    ).json()["deferrals"]
    made = next(d for d in deferrals if d["access"] == index)
    ended = httpx.post(
        f"{hub.base}/department/deferrals/{made['id']}/event",
        headers=_staff(hub, "EDU-ADMIN"),
        timeout=10,
    )
    assert ended.status_code == 200, ended.text
    sign_checkpoint(hub)
    states, _ = check(tab, citizen)
    assert set(states.values()) == {"pass"}, states
    row = page.locator(f'table.access-list tr[data-index="{index}"]')
    row.wait_for()
    text = row.inner_text()
    assert "曾延迟告知" in text
    assert "刑事侦查" in text
    assert LAW in text
    assert "法定职责" in text
    assert "妨碍侦查" not in page.inner_text("main")  # never the reason's details
    tab.screenshot("citizen-deferred-shown")
    page.set_viewport_size({"width": 360, "height": 800})
    _fits(tab, 360)
    tab.screenshot("citizen-deferred-shown-phone-360")
    assert len(STEPS) == 7


def test_the_auditors_deferrals_page_is_chinese_china_time_and_fits_a_phone(
    tab: Tab, hub: Hub
) -> None:
    index = _accessed(hub, hub.subject("no_property", 1))
    body: dict[str, Any] = {
        "access": index,
        "reason_kind": "administrative_investigation",
        "reason": "执法检查中",
        "legal_basis": "《中华人民共和国行政处罚法》第五十五条",
        "until": "2099-01-01",
    }
    asked = httpx.post(
        f"{hub.base}/department/deferrals", json=body, headers=_staff(hub, "A1"), timeout=10
    )
    assert asked.status_code == 201, asked.text
    tab.sign_in("auditor", "AUD-001")
    page = tab.page
    page.get_by_role("link", name="延迟告知").click()
    waiting = page.get_by_role("region", name="待审批")
    waiting.get_by_text("行政调查").first.wait_for()
    text = waiting.inner_text()
    assert "执法检查中" in text  # the auditor reads the reason
    assert "2099年1月1日" in text  # the end day, in Chinese
    assert "A1 于 " in text  # who asked, when (China time)
    assert page.get_by_role("region", name="生效中").count() == 1
    tab.screenshot("auditor-deferrals")
    for width in (360, 390):
        page.set_viewport_size({"width": width, "height": 800})
        _fits(tab, width)
    tab.screenshot("auditor-deferrals-phone-360")


def test_a_standing_deferral_declared_in_the_console_hides_the_next_access_at_once(
    tab: Tab, hub: Hub
) -> None:
    citizen = hub.subject("has_property", 1)
    before = _accessed(hub, citizen)
    sign_checkpoint(hub)  # the list is proven against a checkpoint below the hidden access
    tab.sign_in("department_admin", "EDU-ADMIN", "EDU")
    page = tab.page
    page.get_by_role("link", name="延迟告知").click()
    form = page.get_by_role("region", name="预先声明延迟告知")
    form.get_by_label("当事人身份证号").fill(citizen)
    form.get_by_label("原因", exact=True).fill("立案侦查中，告知当事人将妨碍侦查")
    form.get_by_label("法律依据").fill(LAW)
    form.get_by_label("或等待事件").fill("侦查终结")
    assert form.get_by_role("checkbox").first.is_checked()  # the department's one system
    form.get_by_role("button", name="提交声明").click()
    mine = page.get_by_role("region", name="本部门预先声明的延迟告知")
    mine.get_by_text("待审批").first.wait_for()
    assert citizen not in page.inner_text("main")  # the number is never shown back
    page.get_by_role("button", name="退出登录").click()

    tab.sign_in("department_admin", "EDU-ADMIN-2", "EDU")
    page.get_by_role("link", name="延迟告知").click()
    mine = page.get_by_role("region", name="本部门预先声明的延迟告知")
    mine.get_by_role("button", name="批准", exact=True).click()
    mine.get_by_text("生效中").first.wait_for()
    hidden = _accessed(hub, citizen)  # the first access after approval: hidden at once
    page.reload()
    mine = page.get_by_role("region", name="本部门预先声明的延迟告知")
    mine.get_by_text("已涵盖 1 次访问").first.wait_for()
    tab.screenshot("department-standing-deferrals")
    page.set_viewport_size({"width": 360, "height": 800})
    _fits(tab, 360)
    tab.screenshot("department-standing-deferrals-phone-360")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="退出登录").click()

    sign_checkpoint(hub)
    states, verdict = check(tab, citizen)
    assert set(states.values()) == {"pass"}, (states, verdict)
    assert str(before) in _rows(tab)
    assert str(hidden) not in _rows(tab)
    page.get_by_role("button", name="退出登录").click()

    tab.sign_in("auditor", "AUD-001")
    page.get_by_role("link", name="延迟告知").click()
    standing = page.get_by_role("region", name="预先声明的延迟告知")
    standing.get_by_text("核验通过").first.wait_for()
    assert f"#{hidden}" in standing.inner_text()
    assert citizen not in page.inner_text("main")
    page.set_viewport_size({"width": 360, "height": 800})
    _fits(tab, 360)
    tab.screenshot("auditor-standing-deferrals-phone-360")
