"""The department admin's (部门管理员) pages in headless Chromium against a real demo hub:
publishing the latest descriptor unchanged works (its source is there) and a refused publish
is explained in Chinese with the member it names; an approval with a quota, a row condition,
consent and a shorter validity is stored with those terms and shown afterwards, dates in China
time; a version diff shows each changed member's old and new value; and the pages fit a phone.
An application reads in the registry's names (the applicant's department and system, the
purposes, the resource and its fields), codes only as tooltips; every day on the page is written
one way, and a validity shows its last whole day in China, not the midnight after it.
Screenshots go to $TONGBAN_SCREENSHOTS_DIR (docs/screenshots/ to refresh the README's)."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import httpx
import pytest

from tests.console.conftest import Hub, Tab, apply_for_marriage_data

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
MARRIAGE = "MCA-HY-0001"
DEATH = "MCA-SW-0001"
APPLICANT = "演示市教育局 · 义务教育入学登记系统"  # EDU's edu-enrolment, as the registry names them
ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _day(iso: str) -> str:
    """A day as the console writes it in Chinese: 2026年12月18日."""
    d = date.fromisoformat(iso[:10])
    return f"{d.year}年{d.month}月{d.day}日"


def _admin(hub: Hub) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.id_token('MCA-ADMIN', 'department_admin', 'MCA')}"}


def _publish(tab: Tab, descriptor: str) -> Any:
    page = tab.page
    page.get_by_label("资源描述").fill(descriptor)
    page.get_by_role("button", name="发布", exact=True).click()
    return page


def test_publishing_the_prefilled_descriptor_unchanged_succeeds(tab: Tab, hub: Hub) -> None:
    tab.sign_in("department_admin", "MCA-ADMIN", "MCA")
    page = tab.page
    page.goto(f"{hub.base}/console/department/resources/{MARRIAGE}")
    document = json.loads(page.get_by_label("资源描述").input_value())
    assert "source" in document  # the whole latest descriptor, source binding included
    page.get_by_role("button", name="发布", exact=True).click()
    page.locator("p.ok", has_text="与最新版本相同，未发布新版本。").wait_for()
    assert page.locator(".problem").count() == 0


def test_a_refused_publish_names_the_missing_member_in_chinese(tab: Tab, hub: Hub) -> None:
    tab.sign_in("department_admin", "MCA-ADMIN", "MCA")
    page = tab.page
    page.goto(f"{hub.base}/console/department/resources/{MARRIAGE}")
    document = json.loads(page.get_by_label("资源描述").input_value())
    del document["source"]
    _publish(tab, json.dumps(document, ensure_ascii=False))
    problem = page.locator(".problem[role=alert]")
    problem.wait_for()
    text = problem.inner_text()
    assert "未能发布" in text
    assert "数据来源" in text
    assert "/source" in text
    assert "缺少这一项" in text
    assert "is required" not in text  # the hub's English stays out of the words


def test_a_version_diff_shows_each_changed_members_old_and_new_value(tab: Tab, hub: Hub) -> None:
    tab.sign_in("department_admin", "MCA-ADMIN", "MCA")
    page = tab.page
    page.goto(f"{hub.base}/console/department/resources/{MARRIAGE}")
    document = json.loads(page.get_by_label("资源描述").input_value())
    old_summary = document["summary"]
    new_summary = "演示市婚姻登记机关登记的婚姻状况。" * 8  # long: cut short, whole on demand
    document["summary"] = new_summary
    document["fields"][2]["title"] = "最近登记日期"
    _publish(tab, json.dumps(document, ensure_ascii=False))
    page.locator("p.ok", has_text="已发布 v").wait_for()
    latest = httpx.get(f"{hub.base}/catalogue/resources/{MARRIAGE}", timeout=10).json()
    page.reload()
    page.get_by_label("旧版本", exact=True).select_option(f"{latest['version'] - 1}")
    page.get_by_label("新版本", exact=True).select_option(f"{latest['version']}")
    page.get_by_role("button", name="比较").click()
    diff = page.locator(".diff")
    diff.get_by_text("摘要").wait_for()
    text = diff.inner_text()
    assert old_summary[:40] in text  # from…
    assert new_summary[:40] in text  # …and to
    assert "登记日期 → 最近登记日期" in text  # a field's member: from → to
    whole = diff.locator("details.whole").last
    assert new_summary not in whole.inner_text()  # long text cut short…
    whole.locator("summary").click()
    assert new_summary in whole.inner_text()  # …the whole of it on demand


def test_an_approval_with_a_quota_and_validity_is_stored_and_shown(tab: Tab, hub: Hub) -> None:
    application = apply_for_marriage_data(hub)
    tab.sign_in("department_admin", "MCA-ADMIN", "MCA")
    page = tab.page
    page.goto(f"{hub.base}/console/department/applications/{application['id']}")
    # the validity asked for ends with 2027-08-31 in China (the hub stores the midnight after)
    assert "至 2027年8月31日" in page.locator("dl.facts").inner_text()
    assert "2027年9月1日" not in page.locator("main").inner_text()
    assert "T16:00" not in page.locator("main").inner_text()
    page.get_by_label("登记日期").uncheck()  # a field by its title (registered_on)
    page.get_by_label("每日调用上限").fill("500")
    page.get_by_label("按哪个字段限定").select_option("status")
    page.get_by_label("字段值须以此开头").fill("married")
    page.get_by_label("每次调用须经数据所涉本人授权").check()
    page.get_by_label("有效期至（含当日）").fill("2027-06-30")
    page.get_by_role("button", name="批准", exact=True).click()
    page.locator(".badge.status-approved").wait_for()

    decided = httpx.get(
        f"{hub.base}/agreements/{application['id']}", headers=_admin(hub), timeout=10
    ).json()["decision"]
    assert list(decided["fields"]) == ["spouse_name"]
    assert decided["daily_quota"] == 500
    assert decided["row_condition"] == {"field": "status", "prefix": "married"}
    assert decided["requires_consent"] is True
    assert decided["valid_until"] == "2027-06-30T16:00:00+00:00"  # the end of the day in China

    terms = page.get_by_role("region", name="批准的共享条件")
    text = terms.inner_text()
    assert "配偶姓名" in text
    assert "登记日期" not in text
    assert "每天最多 500 次" in text
    assert "仅限婚姻状况以“married”开头的记录" in text
    assert "须经本人授权" in text
    assert "至 2027年6月30日" in text  # the last day granted, not the midnight after it
    assert "2027年7月1日" not in text
    assert "T16:00" not in text
    tab.screenshot("department")


def test_a_refused_decision_is_explained_in_chinese(tab: Tab, hub: Hub) -> None:
    application = apply_for_marriage_data(hub)
    tab.sign_in("department_admin", "MCA-ADMIN", "MCA")
    page = tab.page
    page.goto(f"{hub.base}/console/department/applications/{application['id']}")
    page.get_by_label("有效期至（含当日）").evaluate("el => el.removeAttribute('max')")
    page.get_by_label("有效期至（含当日）").fill("2028-12-31")  # later than applied for
    page.get_by_role("button", name="批准", exact=True).click()
    problem = page.locator(".problem[role=alert]")
    problem.wait_for()
    assert "未能批准" in problem.inner_text()
    assert "/valid_until" in problem.inner_text()
    assert page.locator(".badge.status-pending").count() == 1


def test_an_application_reads_in_names_and_days_not_codes(tab: Tab, hub: Hub) -> None:
    application = apply_for_marriage_data(hub)
    due = _day(application["due_by"])
    tab.sign_in("department_admin", "MCA-ADMIN", "MCA")
    page = tab.page
    page.goto(f"{hub.base}/console/department/applications")
    pending = page.get_by_role("region", name="待审核")
    row = pending.locator("tr", has=page.get_by_role("link", name=application["id"]))
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    resource = httpx.get(f"{hub.base}/catalogue/resources/{MARRIAGE}", timeout=10).json()
    titles = {f["name"]: f["title"] for f in resource["descriptor"]["fields"]}
    fields = "、".join(titles[name] for name in application["fields"])  # 配偶姓名、登记日期
    assert cells[1:4] == [APPLICANT, "婚姻登记信息", fields]
    assert cells[5].startswith(f"{due}前")  # the deadline as every other day on the page
    applicant = row.locator("td").nth(1).locator("[title]")
    assert applicant.get_attribute("title") == "EDU · edu-enrolment"  # the codes, as a tooltip
    listed = page.locator("main").inner_text()
    for code in ("edu-enrolment", "EDU ·", MARRIAGE, "spouse_name"):
        assert code not in listed
    assert not ISO_DAY.search(listed)

    row.get_by_role("link", name=application["id"]).click()
    facts = page.locator("dl.facts")
    facts.get_by_text("义务教育入学登记", exact=True).wait_for()  # the purpose's name
    text = facts.inner_text()
    assert APPLICANT in text
    assert "批准时起 至 2027年8月31日" in text
    assert f"{due}前" in text
    main = page.locator("main").inner_text()
    for code in ("school-enrolment", "edu-enrolment", "EDU ·", "spouse_name", "registered_on"):
        assert code not in main
    assert facts.get_by_title("spouse_name, registered_on").count() == 1  # fields' codes
    assert "不能晚于申请的截止日 2027年8月31日" in main  # the hint, the same way
    assert not ISO_DAY.search(main)
    assert "00:00:00" not in main  # no validity shown as the midnight after its last day


def test_the_directory_health_and_resource_name_the_department_and_fields(
    tab: Tab, hub: Hub
) -> None:
    from playwright.sync_api import expect  # imported here: conftest skips without it

    tab.sign_in("department_admin", "MCA-ADMIN", "MCA")
    page = tab.page
    page.goto(f"{hub.base}/console/department")
    page.get_by_role("heading", name="演示市民政局资源目录").wait_for()
    who = page.locator("header .identity")
    expect(who).to_have_text("部门管理员 · 演示市民政局")  # the header names the department too
    assert who.get_by_title("MCA").count() == 1
    row = page.locator("tr", has=page.get_by_role("link", name=DEATH))
    fields = row.locator("td").nth(4)
    assert fields.inner_text() == "是否死亡（无条件共享）、死亡日期（有条件共享）"
    assert fields.locator("[title=date_of_death]").count() == 1  # the field's code, as a tooltip

    page.goto(f"{hub.base}/console/department/health")
    health = page.locator("main table")
    health.get_by_text("婚姻登记信息", exact=True).wait_for()
    assert MARRIAGE not in health.inner_text()
    assert health.get_by_title(MARRIAGE).count() == 1

    page.goto(f"{hub.base}/console/department/resources/{MARRIAGE}")
    page.locator("dl.facts").get_by_text("演示市民政局", exact=True).wait_for()  # the provider


@pytest.mark.parametrize("where", ["resource", "application"])
def test_the_department_pages_fit_a_phone(tab: Tab, hub: Hub, where: str) -> None:
    application = apply_for_marriage_data(hub)
    tab.sign_in("department_admin", "MCA-ADMIN", "MCA")
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 800})
    if where == "resource":
        page.goto(f"{hub.base}/console/department/resources/{MARRIAGE}")
        page.get_by_role("button", name="比较").click()
        page.locator(".diff p").first.wait_for()
    else:
        page.goto(f"{hub.base}/console/department/applications/{application['id']}")
        page.get_by_role("button", name="批准", exact=True).wait_for()
    page.wait_for_load_state("networkidle")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 390, f"the {where} page is {wide} px wide on a 390 px screen"
    if where == "application":
        tab.screenshot("department-phone")


def test_only_the_providers_admin_reads_the_whole_descriptor(hub: Hub) -> None:
    url = f"{hub.base}/catalogue/resources/{MARRIAGE}/descriptor"
    mine = httpx.get(url, headers=_admin(hub), timeout=10)
    assert mine.status_code == 200
    assert "source" in mine.json()
    other = hub.id_token("REG-ADMIN", "department_admin", "REG")
    refused = httpx.get(url, headers={"Authorization": f"Bearer {other}"}, timeout=10)
    assert refused.status_code == 403
    assert httpx.get(url, timeout=10).status_code == 401
    public = httpx.get(f"{hub.base}/catalogue/resources/{MARRIAGE}", timeout=10).json()
    assert "source" not in public["descriptor"]  # the public view still leaves it out
