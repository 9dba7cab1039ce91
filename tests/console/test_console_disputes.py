"""Disputes between departments in the console (headless Chromium against a real demo hub): the
school enrolment department's admin opens a dispute with the property registry over their
agreement and sees it on the negotiation clock (China time); once the registry has stated its
position and taken it to the data authority, the authority sees it on its own clock and decides
it with reasons; both pages fit a phone. Screenshots go to $TONGBAN_SCREENSHOTS_DIR."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.console.conftest import Hub, Tab

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
AGREEMENT = "AG-DEMO-EDU-REG-0001"
REG = "演示市不动产登记中心"
STATEMENT = "登记中心未按协议提供房屋坐落字段"


def _post(hub: Hub, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(
        f"{hub.base}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code in (200, 201), answer.text
    found: dict[str, Any] = answer.json()
    return found


def _fits(tab: Tab, width: int) -> None:
    scroll = tab.page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll}px wide on a {width}px phone"


def test_a_department_opens_a_dispute_and_the_authority_decides_it(tab: Tab, hub: Hub) -> None:
    tab.sign_in("department_admin", "EDU-ADMIN", "EDU")
    page = tab.page
    page.get_by_role("link", name="共享争议").click()
    page.get_by_role("heading", name="数据共享争议").wait_for()
    page.get_by_label("对方部门").select_option(label=REG)
    page.get_by_label("争议事项类型").select_option("agreement")
    page.get_by_label("事项编号").fill(AGREEMENT)
    page.get_by_label("争议陈述").fill(STATEMENT)
    page.get_by_role("button", name="提出争议", exact=True).click()
    row = page.get_by_role("region", name="处理中的争议").locator("tr", has_text=STATEMENT)
    row.wait_for()
    text = row.inner_text()
    assert REG in text
    assert "期限至" in text  # the negotiation clock: its last working day, in Chinese
    assert "双方协商" in text
    assert "REG" not in text.replace(AGREEMENT, "")  # departments by name, not code
    tab.screenshot("department-disputes")
    for width in (360, 414):
        page.set_viewport_size({"width": width, "height": 800})
        page.reload()
        page.get_by_role("region", name="处理中的争议").locator("tr", has_text=STATEMENT).wait_for()
        _fits(tab, width)
    tab.screenshot("department-disputes-phone-360")

    registry = hub.id_token("REG-ADMIN", "department_admin", "REG")
    listed = httpx.get(
        f"{hub.base}/department/disputes",
        headers={"Authorization": f"Bearer {registry}"},
        timeout=10,
    ).json()["disputes"]
    dispute = next(d for d in listed if d["statement"] == STATEMENT)
    path = f"/department/disputes/{dispute['id']}"
    _post(hub, registry, f"{path}/positions", {"text": "坐落字段按协议第二条不在共享范围内"})
    _post(hub, registry, f"{path}/escalate", {"to": "authority", "reasons": "双方理解不一致"})

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="退出登录").click()
    tab.sign_in("data_authority", "DSJ-001")
    page.goto(f"{hub.base}/console/authority/disputes")
    row = page.get_by_role("region", name="处理中的争议").locator("tr", has_text=STATEMENT)
    row.wait_for()
    assert "期限至" in row.inner_text()
    assert "主管部门协调" in row.inner_text()
    tab.screenshot("authority-disputes")
    row.get_by_role("button", name="作出协调决定").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("协调决定").fill("登记中心自本月起提供房屋坐落字段")
    dialog.get_by_label("理由").fill("   ")
    dialog.get_by_role("button", name="记录").click()
    dialog.get_by_role("alert").wait_for()  # blank reasons: refused, said in Chinese
    assert "须说明理由" in dialog.get_by_role("alert").inner_text()
    dialog.get_by_label("理由").fill("入学登记须核验房屋坐落，属于协议约定的使用场景")
    dialog.get_by_role("button", name="记录").click()
    closed = page.get_by_role("region", name="已办结的争议").locator("tr", has_text=STATEMENT)
    closed.wait_for()
    assert "已协调" in closed.inner_text()
    for width in (360, 414):
        page.set_viewport_size({"width": width, "height": 800})
        page.reload()
        page.get_by_role("region", name="已办结的争议").locator("tr", has_text=STATEMENT).wait_for()
        _fits(tab, width)
    tab.screenshot("authority-disputes-phone-360")
