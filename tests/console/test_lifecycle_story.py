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
    assert "数据使用方：" in text
    assert "数据提供方：" in text
    assert "REG" not in text.replace(AGREEMENT, "")  # departments by name, not code
    assert region.get_by_role("button", name="暂停共享").count() == 1
    tab.screenshot("stewardship-authority")
    _phone(tab, "stewardship-authority-phone")
    page.get_by_role("button", name="English").click()
    page.get_by_role("region", name=f"Agreement {AGREEMENT}").wait_for()
    shown = page.locator("main").inner_text()
    assert "Consumer:" in shown
    assert "stw." not in shown  # every string has its English
    tab.screenshot("stewardship-authority-en")


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


def _application(hub: Hub, agreement: str) -> dict[str, Any]:
    token = hub.id_token("auditor-1", "auditor")
    answer = httpx.get(
        f"{hub.base}/agreements/{agreement}",
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def test_a_sharing_officer_files_an_application_and_answers_the_notice_of_missing_materials(
    tab: Tab, hub: Hub
) -> None:
    page = tab.page
    tab.sign_in("sharing_officer", "edu-sharing", "EDU")
    page.get_by_role("link", name="共享申请").click()
    page.get_by_role("button", name="提出共享申请").click()
    form = page.get_by_role("dialog", name="提出共享申请")
    form.get_by_label("申请的数据资源").select_option("MCA-HY-0001")
    form.get_by_label("配偶姓名").check()
    assert form.get_by_label("使用系统").input_value() == "edu-enrolment"  # suggested
    form.get_by_label("用途", exact=True).fill("school-enrolment")
    form.get_by_label("使用依据").fill("《义务教育法》第十二条")
    form.get_by_label("申请理由").fill("核验适龄儿童父母婚姻关系，确定监护人")
    form.get_by_label("使用场景").fill("义务教育入学登记核验监护关系")
    form.get_by_label("服务接口").check()  # the scope is left out: a missing material
    tab.screenshot("officer-apply-form")
    form.get_by_role("button", name="提交申请").click()
    page.get_by_text("已提交，答复计时开始").first.wait_for(state="attached")
    sent = page.get_by_role("region", name="本部门提出的申请")
    row = sent.locator("tr", has=page.get_by_text("核验监护关系")).first
    row.wait_for()
    agreement = row.locator("td").first.inner_text().strip()
    text = row.inner_text()
    assert "缺少材料：使用范围" in text
    assert "前答复" in text  # the reply clock, China time
    filed = _application(hub, agreement)
    assert filed["use"]["sharing_modes"] == ["interface"]
    assert filed["missing_materials"] == ["scope"]
    assert filed["legal_basis"] == "《义务教育法》第十二条"
    page.get_by_role("button", name="退出登录").click()

    tab.sign_in("sharing_officer", "mca-sharing", "MCA")
    page.goto(f"{hub.base}/console/officer/applications")
    received = page.get_by_role("region", name="收到的申请（本部门为数据提供方）")
    row = received.locator("tr", has=page.get_by_text(agreement, exact=True))
    row.get_by_role("button", name="一次性告知补正材料").click()
    notice = page.get_by_role("dialog", name="一次性告知补正材料")
    notice.get_by_label("使用范围").fill("请说明核验涉及哪些儿童的父母")
    notice.get_by_role("button", name="发送").click()
    page.get_by_text("已一次性告知补正材料").first.wait_for(state="attached")
    page.get_by_role("button", name="退出登录").click()

    tab.sign_in("sharing_officer", "edu-sharing", "EDU")
    page.goto(f"{hub.base}/console/officer/applications")
    sent = page.get_by_role("region", name="本部门提出的申请")
    row = sent.locator("tr", has=page.get_by_text(agreement, exact=True))
    row.get_by_text("待补正材料，暂停计时").wait_for()
    assert "请说明核验涉及哪些儿童的父母" in row.inner_text()
    tab.screenshot("officer-apply-notice")
    row.get_by_role("button", name="补正材料").click()
    supply = page.get_by_role("dialog", name="补正材料")
    supply.get_by_label("使用范围").fill("本学年申请入学的适龄儿童的父母")
    supply.get_by_role("button", name="发送").click()
    page.get_by_text("材料已补正").first.wait_for(state="attached")
    row = sent.locator("tr", has=page.get_by_text(agreement, exact=True))
    row.get_by_text("前答复").wait_for()
    assert "暂停计时" not in row.inner_text()
    supplied = _application(hub, agreement)
    assert supplied["missing_materials"] == []
    assert supplied["due_by"] is not None  # the clock runs again, whole, from the supply
    _phone(tab, "officer-apply-supplied-phone")


def test_after_a_month_the_authority_finds_the_agreements_needing_attention(
    history_tab: Tab, history_hub: Hub
) -> None:
    """On the demo's month (``--traffic``) the authority's page lists the agreements with a
    running clock or an open breach, and opens one with its records."""
    page = history_tab.page
    history_tab.sign_in("data_authority", "dsj-reviewer")
    page.get_by_role("link", name="使用与销毁").click()
    listed = page.get_by_role("region", name="需关注的共享协议")
    first = listed.locator("tbody tr").first
    try:
        first.wait_for()
    finally:
        history_tab.screenshot("stewardship-authority-month")
    assert "数据交付" in listed.inner_text()  # a delivery clock, named in Chinese
    history_tab.screenshot("stewardship-authority-month")
    _phone(history_tab, "stewardship-authority-month-phone")
    agreement = first.get_by_role("link").inner_text()
    first.get_by_role("link").click()
    region = page.get_by_role("region", name=f"协议 {agreement}")
    region.wait_for()
    assert "数据使用方：" in region.inner_text()


def test_after_a_month_the_consumer_sees_a_term_ended_with_no_disposal_attested(
    history_tab: Tab, history_hub: Hub
) -> None:
    """The demo month's short-term agreement (MCA uses EDU's 学籍信息) ended with no disposal
    attested: the consumer sees it marked and attests disposal from the page."""
    page = history_tab.page
    history_tab.sign_in("sharing_officer", "mca-sharing", "MCA")
    page.goto(f"{history_hub.base}/console/department/stewardship")
    used = page.get_by_role("region", name="本部门使用的数据（本部门为数据使用方）")
    row = used.locator("tr", has=page.get_by_text("未确认销毁"))
    row.wait_for()
    assert "已到期" in row.inner_text()
    assert "义务教育学籍信息" in row.inner_text()
    history_tab.screenshot("stewardship-consumer-month")
    dropped = used.locator("tr", has=page.get_by_text("居住证信息"))
    assert "registered_on（已从目录删除）" in dropped.inner_text()  # PSB dropped it unannounced
    row.get_by_role("button", name="确认销毁").click()
    dialog = page.get_by_role("dialog", name="确认销毁")
    dialog.get_by_label("销毁的数据").fill("学籍核验结果 37 条")
    dialog.get_by_label("销毁方式").fill("从低保审核系统中删除")
    dialog.get_by_label("执行人").fill("民政局信息中心")
    dialog.get_by_role("button", name="确认销毁").click()
    page.get_by_text("销毁已确认。").first.wait_for(state="attached")
    row = used.locator("tr", has=page.get_by_text("义务教育学籍信息"))
    row.get_by_text("已于").wait_for()
    assert "未确认销毁" not in row.inner_text()
    _phone(history_tab, "stewardship-consumer-month-phone")
