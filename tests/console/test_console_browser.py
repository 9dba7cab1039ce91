"""Each role's main task, walked in headless Chromium against a real hub over real HTTP:
an auditor finds an access and verifies it in the browser (and a tampered proof fails), a
department admin approves an application, a citizen narrows and approves a consent request
then revokes the consent; the language switch, keyboard-only sign-in, and every page loading
with nothing but the hub's origin reachable. Screenshots go to $TONGBAN_SCREENSHOTS_DIR
(docs/screenshots/ to refresh the README's), else to a temporary directory."""

from __future__ import annotations

import base64
import json
import re
from datetime import date
from typing import Any

import httpx
import pytest

from tests.console.conftest import Hub, Tab, apply_for_marriage_data
from tests.profiles import GM

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
STEPS = ["leaf", "checkpoint", "signature", "proof", "root"]


def test_an_auditor_finds_an_access_by_citizen_id_and_verifies_it(tab: Tab, hub: Hub) -> None:
    page = tab.page
    tab.sign_in("auditor", "AUD-001")
    page.get_by_role("heading", name="审计日志", level=1).wait_for()
    subject = hub.queried[1]
    page.get_by_label("公民身份号码").fill(subject)
    page.get_by_label("公民身份号码").press("Enter")  # Enter submits the search
    results = page.locator(".results table tbody tr")
    results.first.wait_for(timeout=30_000)  # the first search of a busy CI machine's hub
    assert results.count() == 1  # the one query about this citizen
    row = results.first.inner_text()
    assert "义务教育入学登记系统" in row  # the system and purpose by name, not code
    assert "edu-enrolment" not in row
    assert "school-enrolment" not in row
    assert subject not in page.content()  # the ID number is never shown back
    assert page.evaluate("location.pathname") == "/console/audit"  # nor put in the URL
    results.first.get_by_role("link").click()
    page.get_by_role("heading", name=re.compile(r"审计记录 #\d+")).wait_for()
    page.get_by_role("button", name="验证", exact=True).click()
    page.locator(".verdict .ok").wait_for()
    for step in STEPS:
        assert page.locator(f'[data-step="{step}"]').get_attribute("class") == "pass", step
    tab.screenshot("auditor-verify")


def test_a_tampered_proof_fails_verification(tab: Tab, hub: Hub) -> None:
    page = tab.page

    def flip_a_byte(route: Any) -> None:
        answer = route.fetch()
        body = answer.json()
        first = bytearray(base64.b64decode(body["proof"][0]))
        first[0] ^= 0x01
        body["proof"][0] = base64.b64encode(bytes(first)).decode()
        route.fulfill(response=answer, body=json.dumps(body))

    tab.sign_in("auditor", "AUD-001")
    page.route("**/audit/proof/inclusion?*", flip_a_byte)
    page.goto(f"{hub.base}/console/audit/entries/0")
    page.get_by_role("button", name="验证", exact=True).click()
    page.locator(".verdict .problem").wait_for()
    classes = {s: page.locator(f'[data-step="{s}"]').get_attribute("class") for s in STEPS}
    assert classes == {
        "leaf": "pass",
        "checkpoint": "pass",
        "signature": "pass",
        "proof": "pass",
        "root": "fail",
    }


def test_the_auditor_sees_a_month_of_statistics_and_both_anomalies(history_tab: Tab) -> None:
    """On the demo with its four weeks of history (``tongban demo --traffic``)."""
    tab = history_tab
    page = tab.page
    tab.sign_in("auditor", "AUD-001")
    page.locator("figure.chart").first.wait_for()
    # the first chart (accesses per day per department) draws only the days with accesses:
    # on most of the month's days, weekends included
    assert page.locator("figure.chart").first.locator("svg rect").count() >= 20
    assert page.get_by_role("heading", name="异常访问").is_visible()
    flagged = page.locator(".anomaly strong").all_inner_texts()
    assert sorted(flagged) == sorted(["夜间批量访问", "访问量异常"])
    # systems and purposes by their registered names, not their codes
    shown = page.locator("main").inner_text()
    assert "义务教育入学登记系统" in page.locator(".anomalies").inner_text()
    assert "最低生活保障申请系统" in shown
    assert "义务教育入学登记" in page.locator("figure.chart").nth(2).text_content()
    for code in ("edu-enrolment", "mca-dibao", "school-enrolment", "minimum-living-allowance"):
        assert code not in shown
    tab.screenshot("auditor")


def test_the_operator_sees_the_jobs_of_a_month_run_every_night(history_tab: Tab) -> None:
    tab = history_tab
    page = tab.page
    tab.sign_in("operator", "OPS-001")
    page.get_by_role("heading", name="运行状态", level=1).wait_for()
    jobs = page.get_by_role("region", name="定时任务")
    jobs.locator("tbody tr").first.wait_for()
    outcomes = {
        row.locator(".job-name").inner_text(): row.locator(".badge").inner_text()
        for row in jobs.locator("tbody tr").all()
    }
    assert outcomes
    # the nightly jobs all succeeded; the subscriptions' jobs run every few seconds, so one of
    # them may be running as the page is read
    every_few_seconds = {
        "读取所订阅资源的变更流，生成订阅事件",
        "按顺序向订阅方的 Webhook 推送到期的订阅事件",
    }
    assert every_few_seconds <= set(outcomes)
    for name, outcome in outcomes.items():
        assert outcome in ({"成功", "运行中"} if name in every_few_seconds else {"成功"}), name
    # sources and the cache's sync jobs by their resource's name (its code beneath)
    assert "同步“不动产权属登记信息”的缓存" in jobs.inner_text()
    sources = page.get_by_role("region", name="就绪状态")
    assert "常住人口户籍信息" in sources.inner_text()
    tab.screenshot("operator")


def test_a_department_admin_approves_a_pending_application(tab: Tab, hub: Hub) -> None:
    application = apply_for_marriage_data(hub)
    page = tab.page
    tab.sign_in("department_admin", "MCA-ADMIN", "MCA")
    page.get_by_role("link", name="共享申请").click()
    pending = page.get_by_role("region", name="待审核")
    row = pending.locator("tr", has=page.get_by_role("link", name=application["id"]))
    row.wait_for()
    due = date.fromisoformat(application["due_by"])
    assert f"{due.year}年{due.month}月{due.day}日前" in row.inner_text()  # the 10-working-day clock
    assert "剩" in row.inner_text()
    tab.screenshot("department-applications")
    row.get_by_role("link", name=application["id"]).click()
    page.get_by_label("登记日期").uncheck()  # grant only one of the two fields (registered_on)
    page.get_by_role("button", name="批准", exact=True).click()
    page.locator(".badge.status-approved").wait_for()
    token = hub.id_token("MCA-ADMIN", "department_admin", "MCA")
    decided = httpx.get(
        f"{hub.base}/agreements/{application['id']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert decided["status"] == "approved"
    assert list(decided["decision"]["fields"]) == ["spouse_name"]


def test_a_department_admin_sees_a_refusal_explained_and_a_publish_problem(
    tab: Tab, hub: Hub
) -> None:
    application = apply_for_marriage_data(hub)
    page = tab.page
    tab.sign_in("department_admin", "MCA-ADMIN", "MCA")
    page.goto(f"{hub.base}/console/department/applications/{application['id']}")
    page.get_by_role("button", name="不予批准").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("理由").fill("婚姻登记信息不用于入学登记。")
    dialog.get_by_label("理由").press("Escape")  # Escape closes without refusing
    assert not dialog.is_visible()
    page.get_by_role("button", name="不予批准").click()
    dialog.get_by_label("理由").fill("婚姻登记信息不用于入学登记。")
    dialog.get_by_role("button", name="不予批准").click()
    page.locator(".badge.status-refused").wait_for()

    page.goto(f"{hub.base}/console/department/resources/MCA-HY-0001")
    descriptor = page.get_by_label("资源描述")
    document = json.loads(descriptor.input_value())
    document["fields"][0]["sharing"] = {"type": "sometimes"}
    descriptor.fill(json.dumps(document, ensure_ascii=False))
    page.get_by_role("button", name="发布").click()
    problem = page.locator(".problem[role=alert]")
    problem.wait_for()
    assert "/fields/0/sharing" in problem.inner_text()  # the pointer of the bad value


def _consent_request(hub: Hub, subject: str) -> dict[str, Any]:
    response = httpx.post(
        f"{hub.base}/consent-requests",
        json={
            "subject": {"id_type": "CN-RIC", "id": subject},
            "purpose": "school-enrolment",
            "purpose_text": "义务教育入学登记：核验户籍、住房，以及父母社保缴费情况",
            "attributes": [
                "household.name",
                "household.registered_address",
                "property.address",
                "social_insurance.months_paid",
            ],
            "optional": ["social_insurance.months_paid"],
            "retention_days": 365,
        },
        headers={"Authorization": f"Bearer {hub.system_token()}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    request: dict[str, Any] = response.json()
    return request


def test_a_citizen_narrows_and_approves_a_request_then_revokes_the_consent(
    tab: Tab, hub: Hub
) -> None:
    subject = hub.queried[1]  # a citizen whose data was accessed, for a fuller screenshot
    request = _consent_request(hub, subject)
    page = tab.page
    # The approval URL the case system hands the citizen opens the preview after sign-in.
    page.goto(request["approval_url"])
    page.get_by_label("身份").select_option("citizen")
    page.get_by_label("账号").fill(subject)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="授权请求").wait_for()
    necessary = page.get_by_role("checkbox", name=re.compile("姓名"))
    assert necessary.is_disabled()
    assert necessary.is_checked()
    assert page.locator(".facts").get_by_text("待答复").is_visible()
    assert "edu-enrolment" not in page.locator("main").inner_text()  # names, not codes
    assert "(school enrolment" not in page.locator("main").inner_text()  # nor English
    assert "PIPL" not in page.locator("main").inner_text()  # the legal basis in Chinese
    assert "个人信息保护法" in page.locator("main").inner_text()
    page.get_by_role("checkbox", name=re.compile("累计缴费月数")).uncheck()
    page.get_by_role("button", name="同意", exact=True).click()
    page.locator("main").get_by_text("已同意，授权已生效。").wait_for()
    assert page.locator(".facts .badge").inner_text() == "已同意"  # no longer 待答复

    page.get_by_role("link", name="返回我的数据").click()
    consents = page.locator("section", has=page.get_by_role("heading", name="我的授权"))
    consents.locator("tbody tr").first.wait_for()
    row = consents.locator("tbody tr").first
    assert "累计缴费月数" not in row.inner_text()  # left out on approval
    assert "户籍地址" in row.inner_text()
    accesses = page.locator("section", has=page.get_by_role("heading", name="我的数据被谁用过"))
    accesses.get_by_text("义务教育入学登记").first.wait_for()  # the list has loaded
    tab.screenshot("citizen")
    row.get_by_role("button", name=re.compile("^撤回对")).click()
    page.get_by_role("dialog").get_by_role("button", name="撤回授权").click()
    consents.get_by_text("授权已撤回").first.wait_for()
    assert "已撤回" in consents.locator("tbody tr").first.inner_text()

    token = hub.id_token(subject, "citizen")
    mine = httpx.get(
        f"{hub.base}/citizen/consents", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()["consents"]
    assert [c["status"] for c in mine] == ["revoked"]


def test_a_citizen_narrows_a_consent_from_its_row_after_confirming(tab: Tab, hub: Hub) -> None:
    subject = hub.queried[2]
    request = _consent_request(hub, subject)
    token = hub.id_token(subject, "citizen")
    approved = httpx.post(
        f"{hub.base}/citizen/consent-requests/{request['id']}/approve",
        json={},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert approved.status_code == 201, approved.text
    page = tab.page
    tab.sign_in("citizen", subject)
    consents = page.locator("section", has=page.get_by_role("heading", name="我的授权"))
    row = consents.locator("tbody tr").first
    row.wait_for()
    assert "累计缴费月数" in row.inner_text()
    row.get_by_role("button", name=re.compile("^缩小对")).click()
    dialog = page.get_by_role("dialog")
    assert dialog.get_by_role("checkbox", name=re.compile("姓名")).is_disabled()  # necessary
    dialog.get_by_role("checkbox", name=re.compile("累计缴费月数")).uncheck()
    dialog.get_by_role("button", name="取消").click()  # cancelling changes nothing
    assert not dialog.is_visible()
    row.get_by_role("button", name=re.compile("^缩小对")).click()
    dialog.get_by_role("button", name="确认缩小").click()  # nothing changed: said, not sent
    assert dialog.get_by_role("alert").inner_text().startswith("没有改动")
    dialog.get_by_role("checkbox", name=re.compile("累计缴费月数")).uncheck()
    dialog.get_by_role("button", name="确认缩小").click()
    consents.get_by_text("授权已缩小，新的授权已生效。").wait_for()
    rows = consents.locator("tbody tr")
    assert "累计缴费月数" not in rows.first.inner_text()
    assert "有效" in rows.first.inner_text()
    assert "已被替代" in rows.nth(1).inner_text()

    mine = httpx.get(
        f"{hub.base}/citizen/consents", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()["consents"]
    assert [c["status"] for c in mine] == ["given", "superseded"]
    assert [f["attribute"] for f in mine[0]["fields"]] == [
        "household.name",
        "household.registered_address",
        "property.address",
    ]


def test_a_refused_change_is_explained_in_chinese(tab: Tab, hub: Hub) -> None:
    subject = hub.subject("id_card_expired")  # used by no other test
    request = _consent_request(hub, subject)
    token = hub.id_token(subject, "citizen")
    mine = {"Authorization": f"Bearer {token}"}
    approved = httpx.post(
        f"{hub.base}/citizen/consent-requests/{request['id']}/approve",
        json={},
        headers=mine,
        timeout=10,
    )
    assert approved.status_code == 201, approved.text
    page = tab.page
    tab.sign_in("citizen", subject)
    consents = page.locator("section", has=page.get_by_role("heading", name="我的授权"))
    consents.locator("tbody tr").first.wait_for()
    # Withdrawn elsewhere (another device) while this page is open: the hub refuses the change.
    consent = approved.json()["consent"]["id"]
    assert httpx.delete(f"{hub.base}/citizen/consents/{consent}", headers=mine).is_success
    consents.get_by_role("button", name=re.compile("^缩小对")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("checkbox", name=re.compile("累计缴费月数")).uncheck()
    dialog.get_by_role("button", name="确认缩小").click()
    problem = dialog.locator(".problem[role=alert]")
    problem.wait_for()
    assert problem.inner_text() == "这项授权已不在有效状态，不能再更改。"


def test_a_citizen_sees_every_access_to_their_data_by_name(tab: Tab, hub: Hub) -> None:
    page = tab.page
    tab.sign_in("citizen", hub.queried[0])
    accesses = page.locator("section", has=page.get_by_role("heading", name="我的数据被谁用过"))
    accesses.locator("tbody tr").first.wait_for()
    assert accesses.locator("tbody tr").count() == 1
    row = accesses.locator("tbody tr").first.inner_text()
    # The catalogue's titles, the department's, system's and purpose's names, the agreement's
    # title: no code, no English.
    for name in ("出生日期", "户籍地址", "义务教育入学登记系统", "义务教育入学登记"):
        assert name in row, name
    assert "使用不动产权属登记信息共享协议" in row  # the agreement document's title
    assert "《中华人民共和国义务教育法》第十二条" in row
    for code in ("school-enrolment", "edu-enrolment", "household.", "EDU ·", "AG-DEMO", "(school"):
        assert code not in row, code
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}:\d{2}", row)  # China time
    field = accesses.locator("[data-attribute='household.birth_date']")
    assert field.inner_text().startswith("出生日期")


def test_the_language_switch_changes_labels_and_is_remembered(tab: Tab, hub: Hub) -> None:
    from playwright.sync_api import expect  # imported here: conftest skips without it

    page = tab.page
    tab.sign_in("auditor", "AUD-001")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Audit log", level=1).wait_for()
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.get_by_label("Citizen ID number").is_visible()
    expect(page.get_by_role("button", name="中文")).to_be_focused()  # focus stays on the switch
    page.locator("figure.chart").first.wait_for()
    tab.screenshot("auditor-en")
    page.reload()
    page.get_by_role("link", name="Catalogue").wait_for()
    page.get_by_role("button", name="中文").click()
    page.get_by_role("link", name="目录浏览").wait_for()


def test_keyboard_only_sign_in(tab: Tab, hub: Hub) -> None:
    from playwright.sync_api import expect  # imported here: conftest skips without it

    page = tab.page
    tab.open()
    page.get_by_label("账号").wait_for()
    expect(page.get_by_label("账号")).to_be_focused()  # the form starts where typing goes
    page.keyboard.type("OPS-001")
    page.keyboard.press("Shift+Tab")  # back to the role
    expect(page.get_by_label("身份")).to_be_focused()
    page.keyboard.press("End")  # the last role: operator
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Enter submits
    page.get_by_role("heading", name="运行状态", level=1).wait_for()
    page.locator("table tbody tr").first.wait_for()
    # The skip link is the first stop and moves focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"


def test_the_catalogue_searches_with_facets(tab: Tab, hub: Hub) -> None:
    page = tab.page
    tab.sign_in("citizen", hub.queried[0])
    page.get_by_role("link", name="目录浏览").click()
    page.locator("main").get_by_text("共 7 个资源").wait_for()
    # The sharing facet counts resources, each once: its counts add up to the 7 found.
    sharing = page.locator("fieldset", has=page.get_by_text("共享类型", exact=True))
    counts = [int(n) for n in re.findall(r"\((\d+)\)", sharing.inner_text())]
    assert sum(counts) == 7, sharing.inner_text()
    # The badge says what is true of all the fields: 5 of HRSS's 6 are conditional.
    hrss = page.locator(".results .cards > li", has=page.get_by_text("社会保险参保缴费信息"))
    assert "部分无条件共享" in hrss.inner_text()
    assert "6 个信息项：1 项无条件共享、5 项有条件共享" in hrss.inner_text()
    badges = page.locator(".results .cards > li .tags .badge").all_inner_texts()
    assert len(badges) == 7
    assert 1 <= badges.count("无条件共享") < 7  # the identity card resource, all unconditional
    # Folded YAML left no space between two Chinese characters of a summary.
    household = page.locator(".results .cards > li", has=page.get_by_text("PSB-HJ-0001"))
    assert "出生日期、民族" in household.inner_text()
    sharing.get_by_label(re.compile(r"^部分无条件共享 \(\d+\)$")).check()
    page.locator("main").get_by_text(f"共 {counts[1]} 个资源").wait_for()
    tab.screenshot("catalogue-partly")
    sharing.get_by_label("全部").check()
    page.locator("main").get_by_text("共 7 个资源").wait_for()
    tab.screenshot("catalogue")
    facet = page.get_by_label(re.compile(r"^敏感个人信息 \(\d+\)$"))
    count = int(re.findall(r"\d+", facet.evaluate("e => e.labels[0].textContent"))[-1])
    assert 1 <= count < 7
    facet.check()
    page.locator("main").get_by_text(f"共 {count} 个资源").wait_for()
    assert page.locator(".results .cards > li").count() == count
    page.get_by_role("link", name="社会保险参保缴费信息").click()
    page.get_by_role("heading", name="社会保险参保缴费信息").wait_for()
    assert page.get_by_text("pension_amount").is_visible()
    facts = page.locator(".facts").inner_text()
    assert "部分无条件共享" in facts
    assert "人力资源和社会保障局" in facts  # the provider by name, not HRSS
    tab.screenshot("catalogue-resource")


ROLE_PAGES = {
    ("auditor", "AUD-001", None): [
        "/console/audit",
        "/console/audit/entries/0",
        "/console/catalogue",
    ],
    ("department_admin", "REG-ADMIN", "REG"): [
        "/console/department",
        "/console/department/resources/REG-BDC-0001",
        "/console/department/applications",
        "/console/department/health",
        "/console/catalogue/REG-BDC-0001",
    ],
    ("operator", "OPS-001", None): ["/console/operator", "/console/catalogue"],
}


@pytest.mark.parametrize(
    ("who", "paths"),
    list(ROLE_PAGES.items()),
    ids=lambda v: str(v[0]) if isinstance(v, tuple) else "",
)
def test_every_page_loads_from_the_hub_alone(
    tab: Tab, hub: Hub, who: tuple[str, str, str | None], paths: list[str]
) -> None:
    page = tab.page
    tab.sign_in(*who)
    for path in paths:
        page.goto(hub.base + path)
        page.locator("main h1").first.wait_for()
        page.wait_for_load_state("networkidle")
        assert page.locator(".loading").count() == 0, path
        assert page.locator(".problem").count() == 0, (
            path,
            page.locator(".problem").all_inner_texts(),
        )
    # The tab fixture asserts that nothing outside the hub was asked for.


def test_a_role_cannot_open_another_roles_pages(tab: Tab, hub: Hub) -> None:
    page = tab.page
    tab.sign_in("operator", "OPS-001")
    page.goto(f"{hub.base}/console/audit")
    page.get_by_role("heading", name="无权访问").wait_for()
    # And the API itself refuses, whatever the console shows.
    token = hub.id_token("OPS-001", "operator")
    answer = httpx.get(
        f"{hub.base}/audit/entries", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 403


def test_the_browsers_merkle_code_agrees_with_the_hubs_for_every_leaf_of_small_trees(
    tab: Tab,
) -> None:
    """merkle.js against exchange.audit.merkle: every index of every tree of 1..33 leaves
    leads to the tree's root; a proof one hash short, or for another index, does not."""
    from exchange.audit import merkle

    leaves = [merkle.leaf_hash(f"entry {n}".encode()) for n in range(33)]

    def subtree(level: int, index: int) -> bytes:
        return merkle.root(leaves[index << level : (index + 1) << level])

    cases = []
    for size in range(1, 34):
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, subtree)
            cases.append(
                {
                    "index": index,
                    "size": size,
                    "leaf": base64.b64encode(leaves[index]).decode(),
                    "proof": [base64.b64encode(p).decode() for p in proof],
                    "root": base64.b64encode(merkle.root(leaves[:size])).decode(),
                }
            )
    tab.open("/console")
    results = tab.page.evaluate(
        """async ([cases, gm]) => {
          const m = await import("/console/assets/js/merkle.js");
          const hash = gm ? m.sm3Hash : m.sha256;  // the tree's hash, as the profile's log key
          const out = [];
          for (const c of cases) {
            const proof = c.proof.map(m.b64decode);
            const leaf = m.b64decode(c.leaf);
            const at = (index, path) => m.rootFromInclusionProof(index, c.size, leaf, path, hash);
            const root = m.b64encode(await at(c.index, proof));
            let short = "refused";
            if (proof.length) {
              try {
                const r = await at(c.index, proof.slice(1));
                short = m.b64encode(r);
              } catch { short = "refused"; }
            }
            let moved = "refused";
            if (c.size > 1) {
              try {
                const other = (c.index + 1) % c.size;
                moved = m.b64encode(await at(other, proof));
              } catch { moved = "refused"; }
            }
            out.push({root, short, moved});
          }
          return out;
        }""",
        [cases, GM],
    )
    assert len(results) == len(cases) == sum(range(1, 34))
    for case, result in zip(cases, results, strict=True):
        assert result["root"] == case["root"], case
        assert result["short"] != case["root"], case
        assert result["moved"] != case["root"], case


def test_the_department_health_page_shows_adapter_health_and_freshness(tab: Tab, hub: Hub) -> None:
    page = tab.page
    tab.sign_in("department_admin", "REG-ADMIN", "REG")
    page.get_by_role("link", name="接口与时效").click()
    row = page.locator("tbody tr", has=page.get_by_title("REG-BDC-0001"))  # code as tooltip
    row.wait_for()
    assert "不动产权属登记信息" in row.inner_text()  # the resource by its name
    assert "正常" in row.inner_text()  # the source answers /readyz
    token = hub.id_token("REG-ADMIN", "department_admin", "REG")
    freshness = httpx.get(
        f"{hub.base}/catalogue/freshness",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    if freshness.status_code == 200:  # rendered when the hub reports it, "—" otherwise
        assert "每日" in row.inner_text()  # REG's declared update frequency
    else:
        assert page.get_by_text("枢纽暂未提供数据时效信息").is_visible()
