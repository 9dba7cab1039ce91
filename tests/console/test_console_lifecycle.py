"""The sharing lifecycle in the console (headless Chromium against a real demo hub, whose demo
seeds the lifecycle): the data authority's review queue with its clocks, overdue in red, and a
publication; a department's draft completed in the browser (both assessments uploaded, the
head's sign-off, submitted); a returned entry's reasons; both pages fit a phone. Screenshots go
to $TONGBAN_SCREENSHOTS_DIR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange.demo.build import demo_descriptors
from tests.console.conftest import Hub, Tab

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _fits(tab: Tab, width: int) -> None:
    scroll = tab.page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll}px wide on a {width}px phone"


def _token(hub: Hub, sub: str, role: str, department: str) -> str:
    body = {"sub": sub, "role": role, "department": department}
    answer = httpx.post(f"{hub.base}/dev/idp/token", json=body, timeout=10)
    answer.raise_for_status()
    token: str = answer.json()["id_token"]
    return token


def _draft(hub: Hub) -> str:
    """A new MCA entry drafted over the API; its id."""
    content: dict[str, Any] = dict(
        next(d for d in demo_descriptors() if d.code == "MCA-SW-0001").content
    )
    content.update(code="MCA-SW-0009", namespace="death_console")
    token = _token(hub, "mca-admin", "department_admin", "MCA")
    answer = httpx.post(
        f"{hub.base}/catalogue/submissions",
        content=json.dumps(content, ensure_ascii=False),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_the_authority_sees_the_queue_on_its_clock_and_publishes(tab: Tab, hub: Hub) -> None:
    tab.sign_in("data_authority", "dsj-001")
    page = tab.page
    page.get_by_role("link", name="目录审核").click()
    page.get_by_role("heading", name="目录审核与供需分派").wait_for()
    queue = page.get_by_role("region", name="待审核目录（按时限排序）")
    late = queue.locator("tr", has_text="REG-DY-0001")
    late.wait_for()
    assert "已逾期" in late.inner_text()
    assert "演示市不动产登记中心" in late.inner_text()  # the department by its Chinese name
    assert "保密风险评估" in late.inner_text()
    duties = page.get_by_role("region", name="目录更新责任")
    assert "已逾期" in duties.locator("tr", has_text="PSB-HJ-0001").inner_text()
    tab.screenshot("authority-review")
    for width in (360, 414):
        page.set_viewport_size({"width": width, "height": 800})
        page.reload()
        page.get_by_role("region", name="待审核目录（按时限排序）").locator(
            "tr", has_text="REG-DY-0001"
        ).wait_for()
        _fits(tab, width)
    tab.screenshot("authority-review-phone-360")
    row = page.get_by_role("region", name="待审核目录（按时限排序）").locator(
        "tr", has_text="REG-DY-0001"
    )
    row.get_by_role("button", name="审核通过并发布").click()
    page.get_by_role("region", name="待审核目录（按时限排序）").locator(
        "tr", has_text="REG-DY-0001"
    ).wait_for(state="detached")
    published = httpx.get(f"{hub.base}/catalogue/resources/REG-DY-0001", timeout=10).json()
    assert published["version"] == 1


def test_a_department_completes_its_draft_and_sees_a_return(
    tab: Tab, hub: Hub, tmp_path: Path
) -> None:
    _draft(hub)
    pdf = tmp_path / "评估报告.pdf"
    pdf.write_bytes(b"%PDF-1.7\n% assessment\n")
    tab.sign_in("department_admin", "mca-admin", "MCA")
    page = tab.page
    page.goto(f"{hub.base}/console/department/lifecycle")
    mine = page.get_by_role("region", name="我部门的目录提交")
    row = mine.locator("tr", has_text="MCA-SW-0009")
    row.wait_for()
    for what in ("保密风险评估", "个人信息保护影响评估"):
        row.get_by_label(what).set_input_files(str(pdf))
        row.get_by_role("button", name=f"上传{what}").click()
        page.get_by_role("region", name="我部门的目录提交").locator(
            "tr", has_text="MCA-SW-0009"
        ).get_by_text(f"{what}：评估报告.pdf").wait_for()
        row = page.get_by_role("region", name="我部门的目录提交").locator(
            "tr", has_text="MCA-SW-0009"
        )
    row.get_by_role("button", name="提交审核").click()
    assert "部门负责人" in row.locator(".problem").inner_text()  # not signed off yet

    page.get_by_role("button", name="退出登录").click()
    tab.sign_in("department_head", "mca-head", "MCA")
    row = page.get_by_role("region", name="我部门的目录提交").locator("tr", has_text="MCA-SW-0009")
    row.get_by_role("button", name="审核同意并签发").click()
    page.get_by_role("region", name="我部门的目录提交").locator(
        "tr", has_text="mca-head"
    ).wait_for()

    page.get_by_role("button", name="退出登录").click()
    tab.sign_in("department_admin", "mca-admin", "MCA")
    page.goto(f"{hub.base}/console/department/lifecycle")
    row = page.get_by_role("region", name="我部门的目录提交").locator("tr", has_text="MCA-SW-0009")
    row.get_by_role("button", name="提交审核").click()
    page.get_by_role("region", name="我部门的目录提交").locator(
        "tr", has_text="MCA-SW-0009"
    ).get_by_text("待审核").wait_for()

    page.get_by_role("button", name="退出登录").click()
    tab.sign_in("department_admin", "hrss-admin", "HRSS")
    page.goto(f"{hub.base}/console/department/lifecycle")
    returned = page.get_by_role("region", name="我部门的目录提交").locator(
        "tr", has_text="HRSS-JY-0001"
    )
    returned.wait_for()
    assert "退回理由：使用用途" in returned.inner_text()
    tab.screenshot("department-lifecycle")
    page.set_viewport_size({"width": 360, "height": 800})
    page.reload()
    page.get_by_role("region", name="我部门的目录提交").wait_for()
    _fits(tab, 360)
    tab.screenshot("department-lifecycle-phone-360")
