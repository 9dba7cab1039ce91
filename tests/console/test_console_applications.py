"""The sharing officers' applications page and the data authority's extension approvals, in a
real browser over the demo city (whose seeded applications show each clock): Chinese words, China
time, the clock stopped while materials are awaited, an extension approved by the authority and
then seen by the requester with its reason and new last day; desktop and phone screenshots."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import Hub, Tab


def _seeded(hub: Hub) -> dict[str, Any]:
    token = hub.id_token("auditor-1", "auditor")
    answer = httpx.get(
        f"{hub.base}/agreements?limit=100", headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    answer.raise_for_status()
    return {a["id"]: a for a in answer.json()["agreements"] if a["form"] == "2025"}


def test_the_provider_sees_the_clock_stopped_while_materials_are_awaited(
    tab: Tab, hub: Hub
) -> None:
    seeded = _seeded(hub)
    awaiting = next(a for a in seeded.values() if a["materials_notice"] and a["provider"] == "REG")
    tab.sign_in("sharing_officer", "reg-sharing", "REG")
    page = tab.page
    page.goto(f"{hub.base}/console/officer/applications")
    received = page.get_by_role("region", name="收到的申请（本部门为数据提供方）")
    row = received.locator("tr", has=page.get_by_text(awaiting["id"]))
    row.wait_for()
    text = row.inner_text()
    assert "待补正材料，暂停计时" in text
    assert "请说明核验涉及哪些人员" in text
    assert "使用范围" in text  # the material named in Chinese, not as a code
    assert "scope" not in text
    tab.screenshot("officer-applications")
    page.set_viewport_size({"width": 390, "height": 844})
    row.wait_for()
    tab.screenshot("officer-applications-phone")


def test_the_authority_approves_an_extension_and_the_requester_sees_why(tab: Tab, hub: Hub) -> None:
    seeded = _seeded(hub)
    asked = next(a for a in seeded.values() if (a["extension"] or {}).get("status") == "requested")
    tab.sign_in("data_authority", "dsj-reviewer")
    page = tab.page
    page.goto(f"{hub.base}/console/authority/extensions")
    row = page.locator("tr", has=page.get_by_text(asked["id"]))
    row.wait_for()
    assert "申请延期 5 个工作日" in row.inner_text()
    tab.screenshot("authority-extensions")
    row.get_by_role("button", name="同意延期", exact=True).click()
    page.get_by_text("暂无待审批的延期申请。").wait_for()
    page.get_by_role("button", name="退出登录").click()
    page.get_by_label("身份").wait_for()

    tab.sign_in("sharing_officer", "mca-sharing", "MCA")
    page.goto(f"{hub.base}/console/officer/applications")
    sent = page.get_by_role("region", name="本部门提出的申请")
    mine = sent.locator("tr", has=page.get_by_text(asked["id"]))
    mine.wait_for()
    text = mine.inner_text()
    assert "经主管部门同意延期 5 个工作日" in text
    assert "参保单位信息需与税务部门核对口径后答复" in text
    tab.screenshot("officer-applications-extended")
