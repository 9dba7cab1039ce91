"""Issue 16's story in the console, in a real browser over the demo city: the consumer's sharing
officer records its use of shared data and the provider inspects it, suspends the agreement with
a remedy deadline and reinstates it; the data authority opens the same agreement by its number;
the provider announces a service change with its reason and the consumer sees it; a sharing
officer files an application with its use (使用依据、场景、范围、方式、时限), the provider sends
the one notice of missing materials, and the applicant answers it and sees the clock start
again. Chinese words, China time; screenshots at 1280 and 390 px."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.console.conftest import Hub, Tab

AGREEMENT = "AG-DEMO-EDU-REG-0001"  # EDU consumes REG's property data (exchange/demo agreements)


def _records(hub: Hub, agreement: str) -> dict[str, Any]:
    token = hub.id_token("dsj-reviewer", "data_authority")
    answer = httpx.get(
        f"{hub.base}/authority/agreements/{agreement}/usage-records",
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def _phone(tab: Tab, name: str) -> None:
    tab.page.set_viewport_size({"width": 390, "height": 844})
    tab.page.wait_for_timeout(0)
    tab.screenshot(name)
    width = tab.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at phone width"
    tab.page.set_viewport_size({"width": 1280, "height": 900})


def test_the_consumer_records_its_use_and_the_provider_suspends_and_reinstates(
    tab: Tab, hub: Hub
) -> None:
    before = len(_records(hub, AGREEMENT)["usage_records"])
    page = tab.page
    tab.sign_in("sharing_officer", "edu-sharing", "EDU")
    page.get_by_role("link", name="使用与销毁").click()
    used = page.get_by_role("region", name="本部门使用的数据（本部门为数据使用方）")
    row = used.locator("tr", has=page.get_by_text(AGREEMENT, exact=True))
    row.wait_for()
    assert "不动产登记中心" in row.inner_text() or "不动产" in row.inner_text()
    row.get_by_role("button", name="记录使用情况").click()
    dialog = page.get_by_role("dialog", name="记录使用情况")
    for what, text in (
        ("使用场景", "义务教育入学登记核验房产"),
        ("使用过程", "入学登记系统按申请逐件查询"),
        ("应用成效", "家长免交房产证复印件"),
        ("存储情况", "核验结果加密存于入学登记库"),
        ("销毁情况", "学年结束后删除核验明细"),
    ):
        dialog.get_by_label(what, exact=True).fill(text)
    dialog.get_by_role("button", name="提交记录").click()
    page.get_by_text("使用记录已保存。").first.wait_for(state="attached")
    row = used.locator("tr", has=page.get_by_text(AGREEMENT, exact=True))
    row.get_by_text(f"使用记录 {before + 1} 条").wait_for()
    row.get_by_text(f"使用记录 {before + 1} 条").click()  # unfold
    assert "家长免交房产证复印件" in row.inner_text()
    assert "保存至" in row.inner_text()  # kept at least three years
    tab.screenshot("stewardship-consumer")
    _phone(tab, "stewardship-consumer-phone")
    assert len(_records(hub, AGREEMENT)["usage_records"]) == before + 1

    page.get_by_role("button", name="退出登录").click()
    tab.sign_in("department_admin", "reg-admin", "REG")
    page.goto(f"{hub.base}/console/department/stewardship")
    provided = page.get_by_role("region", name="本部门提供的数据（本部门为数据提供方）")
    row = provided.locator("tr", has=page.get_by_text(AGREEMENT, exact=True))
    row.wait_for()
    row.get_by_text(f"使用记录 {before + 1} 条").click()
    assert "家长免交房产证复印件" in row.inner_text()  # the provider inspects
    row.get_by_role("button", name="暂停共享").click()
    dialog = page.get_by_role("dialog", name="暂停共享")
    dialog.get_by_label("暂停理由").fill("核验结果被用于非入学事项")
    dialog.get_by_role("button", name="暂停共享").click()
    row = provided.locator("tr", has=page.get_by_text(AGREEMENT, exact=True))
    row.get_by_text("暂停共享，限").wait_for()
    assert "暂停理由：核验结果被用于非入学事项" in row.inner_text()
    assert "整改期限" in row.inner_text()  # terminate waits for the deadline
    tab.screenshot("stewardship-provider-suspended")
    _phone(tab, "stewardship-provider-suspended-phone")
    suspensions = _records(hub, AGREEMENT)["suspensions"]
    assert suspensions[-1]["status"] == "suspended"
    remedy = datetime.fromisoformat(suspensions[-1]["remedy_by"]).date()
    assert remedy > datetime.now(UTC).date()

    row.get_by_role("button", name="恢复共享").click()
    dialog = page.get_by_role("dialog", name="恢复共享")
    dialog.get_by_label("说明").fill("已停止非入学使用并提交整改报告")
    dialog.get_by_role("button", name="恢复共享").click()
    page.get_by_text("已恢复共享。").first.wait_for(state="attached")
    assert _records(hub, AGREEMENT)["suspensions"][-1]["status"] == "reinstated"


def test_the_authority_opens_an_agreement_by_its_number(tab: Tab, hub: Hub) -> None:
    page = tab.page
    tab.sign_in("data_authority", "dsj-reviewer")
    page.get_by_role("link", name="使用与销毁").click()
    page.get_by_label("协议编号").fill(AGREEMENT)
    page.get_by_role("button", name="查看").click()
    region = page.get_by_role("region", name=f"协议 {AGREEMENT}")
    region.wait_for()
    text = region.inner_text()
    assert "数据使用方：" in text and "数据提供方：" in text
    assert "REG" not in text.replace(AGREEMENT, "")  # departments by name, not code
    assert region.get_by_role("button", name="暂停共享").count() == 1
    tab.screenshot("stewardship-authority")
    _phone(tab, "stewardship-authority-phone")


def test_the_provider_announces_a_service_change_and_the_consumer_sees_it(
    tab: Tab, hub: Hub
) -> None:
    page = tab.page
    tab.sign_in("department_admin", "reg-admin", "REG")
    page.goto(f"{hub.base}/console/department/stewardship")
    changes = page.get_by_role("region", name="共享服务变更告知")
    changes.get_by_role("button", name="发布服务变更告知").click()
    dialog = page.get_by_role("dialog", name="发布服务变更告知")
    dialog.get_by_label("变更类型").select_option("stop")
    effective = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    dialog.get_by_label("生效日期").fill(effective)
    dialog.get_by_label("理由").fill("不动产登记系统迁移至省级平台，本接口停止服务")
    dialog.get_by_role("button", name="发布告知").click()
    page.get_by_text("服务变更告知已发布").first.wait_for(state="attached")
    page.get_by_role("button", name="退出登录").click()

    tab.sign_in("sharing_officer", "edu-sharing", "EDU")
    page.goto(f"{hub.base}/console/department/stewardship")
    changes = page.get_by_role("region", name="共享服务变更告知")
    notice = changes.locator("tr", has=page.get_by_text("本接口停止服务"))
    notice.first.wait_for()
    text = notice.first.inner_text()
    assert "停止服务" in text
    assert "全部信息项" in text
    assert "stop" not in text
