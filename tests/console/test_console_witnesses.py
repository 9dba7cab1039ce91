"""The witnesses (见证) step of verify-in-the-browser and the witness gap, in headless Chromium
against a real hub whose witness policy names two Ed25519 witnesses with a quorum of 2.

Witness A is a real ``tongban witness serve`` that trusts the hub's log key: the hub's
submissions get its cosignatures. Witness B's URL has nothing listening, so the hub's
submissions to it fail and are recorded. Each test then sets the real cosignatures the hub holds
(``audit_cosignatures``, made with the witnesses' own keys, ``exchange.audit.cosignature``) for
the case it checks. The browser checks every cosignature
itself (WebCrypto) against the policy the auditor chose: their own, pasted and kept in the
browser, or else the hub's published one. ``policy.js`` is also checked against the hub's
Python policy code (``exchange.audit.policy``) on the same texts and notes."""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session

from exchange.audit.checkpoint import Checkpoint, NoteSigner, parse_checkpoint, split_note
from exchange.audit.cosignature import Cosigner
from exchange.audit.errors import CheckpointError, WitnessPolicyError
from exchange.audit.models import AuditCheckpoint, AuditCosignature
from exchange.audit.policy import parse_policy
from exchange.witness.keys import create_key_file
from tests.console.conftest import Tab
from tests.servers import DemoHub, demo_hub, free_port
from tests.witness.helpers import served_witness

pytestmark = [pytest.mark.serves, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

STEPS = ["leaf", "checkpoint", "signature", "witnesses", "proof", "root"]
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass
class WitnessedHub:
    """A served demo hub with a two-witness policy, two signed checkpoints (``first`` and
    ``second``, each covering all entries made before it) and the witnesses' keys."""

    served: DemoHub
    witnesses: dict[str, Cosigner]
    first: int
    second: int
    database: Path
    unreachable: str

    @property
    def base(self) -> str:
        return self.served.base

    def cosign(self, sizes: dict[int, tuple[str, ...]]) -> None:
        """Exactly these cosignatures in the hub's store: {checkpoint size: witness names}."""
        engine = create_engine(f"sqlite:///{self.database}")
        with Session(engine) as session, session.begin():
            session.execute(delete(AuditCosignature))
            for size, names in sizes.items():
                for name in names:
                    session.add(self._cosignature(session, size, self.witnesses[name]))
        engine.dispose()

    def _cosignature(self, session: Session, size: int, witness: Cosigner) -> AuditCosignature:
        checkpoint = self.checkpoint(session, size)
        timestamp = int(datetime.now(UTC).timestamp())
        line = witness.cosign(checkpoint, timestamp).rstrip("\n")
        return AuditCosignature(
            size=size,
            cosigner=witness.name,
            key_id=witness.key_id.hex(),
            timestamp=timestamp,
            line=line,
            received_at=datetime.now(UTC),
        )

    @staticmethod
    def checkpoint(session: Session, size: int) -> Checkpoint:
        query = select(AuditCheckpoint.note).where(AuditCheckpoint.size == size)
        note = session.scalars(query).one()
        return parse_checkpoint(split_note(note)[0])

    def note(self, size: int) -> Checkpoint:
        engine = create_engine(f"sqlite:///{self.database}")
        with Session(engine) as session:
            found = self.checkpoint(session, size)
        engine.dispose()
        return found

    def witnesses_report(self) -> dict[str, Any]:
        report: dict[str, Any] = httpx.get(f"{self.base}/audit/witnesses", timeout=10).json()
        return report


def _traffic(served: DemoHub, kinds: tuple[str, ...]) -> None:
    with served.client() as client:
        for kind in kinds:
            subject = served.subject(kind)
            client.query(subject, "school-enrolment", service_item="EDU-RXDJ-001")
            served.queried.append(subject)


def _sign(served: DemoHub) -> int:
    """POST /audit/checkpoint as an operator (the hub then submits it to its witnesses)."""
    token = served.id_token("OPS-001", "operator")
    answer = httpx.post(
        f"{served.base}/audit/checkpoint", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return int(answer.text.split("\n")[1])


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WitnessedHub]:
    """Overrides the console's demo hub for this module (the tab fixture serves this one)."""
    witness_a = tmp_path_factory.mktemp("witness-a")
    witnesses = {
        "A": create_key_file(witness_a / "w.key", "witness-a.example/w", "ed25519"),
        "B": Cosigner("witness-b.example/w", Ed25519PrivateKey.generate()),
    }
    a_port = free_port()  # A serves there once the hub's log key is known
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    policy = tmp_path_factory.mktemp("witness-policy") / "witnesses.txt"
    policy.write_text(
        "# The hub's witnesses: both must cosign.\n"
        f"witness A {witnesses['A'].vkey()} http://127.0.0.1:{a_port}\n"
        f"witness B\t{witnesses['B'].vkey()} {unreachable}\n"
        "group both 2 A B\n"
        "quorum both\n",
        "utf-8",
    )
    workdir = tmp_path_factory.mktemp("witnessed-hub")
    with demo_hub(workdir, TONGBAN_WITNESS_POLICY_FILE=str(policy)) as served:
        log_key = httpx.get(f"{served.base}/audit/checkpoint/key", timeout=10).text.strip()
        args = ("--key-file", "w.key", "--log", log_key, "--state", "state.db")
        with served_witness(witness_a, *args, port=a_port):
            _traffic(served, ("has_property", "school_age_with_property"))
            first = _sign(served)
            _traffic(served, ("no_property",))
            second = _sign(served)
            assert 0 < first < second
            yield WitnessedHub(
                served, witnesses, first, second, workdir / "var/tongban.db", unreachable
            )


def _verify(tab: Tab, index: int) -> dict[str, str]:
    """Open entry #index as an auditor, press 验证 and wait for the verdict: each step's class."""
    page = tab.page
    page.goto(f"{tab.hub.base}/console/audit/entries/{index}")
    page.get_by_role("button", name="验证", exact=True).click()
    page.locator(".verdict p").first.wait_for()
    return {s: page.locator(f'[data-step="{s}"]').get_attribute("class") or "" for s in STEPS}


def _step_text(tab: Tab, step: str) -> str:
    return tab.page.locator(f'[data-step="{step}"]').inner_text()


def _paste_policy(tab: Tab, text: str) -> None:
    page = tab.page
    page.get_by_text("审计机关的见证策略").click()  # the <summary> opens the form
    page.get_by_label("见证策略（c2sp.org/tlog-policy 文本）").fill(text)
    page.get_by_role("button", name="保存策略").click()
    page.get_by_text("已保存：此后的验证使用此策略。").wait_for()


def _hub_vkey(hub: WitnessedHub) -> str:
    return httpx.get(f"{hub.base}/audit/checkpoint/key", timeout=10).text.strip()


def test_both_witnesses_cosigned_the_newest_checkpoint_so_the_witnesses_step_passes(
    tab: Tab, hub: WitnessedHub
) -> None:
    hub.cosign({hub.second: ("A", "B")})
    tab.sign_in("auditor", "AUD-001")
    classes = _verify(tab, hub.second - 1)
    assert classes == dict.fromkeys(STEPS, "pass")
    page = tab.page
    # No policy pasted: the hub's is used, and the page says an auditor should keep their own.
    hubs_policy = "使用平台公布的见证策略；审计机关应使用自己保存的策略"
    assert page.get_by_text(hubs_policy).first.is_visible()
    witnesses = _step_text(tab, "witnesses")
    met = f"检查点（{hub.second} 条记录）满足见证策略：需要 A、B 全部联署；已联署：A、B"
    assert met in witnesses
    assert page.locator(".verdict .ok").inner_text().startswith("验证通过")
    _no_english(page.locator("main").inner_text())


def test_one_witness_is_not_enough_and_the_step_says_how_many_entries_wait(
    tab: Tab, hub: WitnessedHub
) -> None:
    hub.cosign({hub.first: ("A",), hub.second: ("A",)})  # what the hub's submissions got
    tab.sign_in("auditor", "AUD-001")
    classes = _verify(tab, hub.second - 1)
    assert classes["witnesses"] == "fail"
    assert (classes["proof"], classes["root"]) == ("skipped", "skipped")
    waiting = hub.witnesses_report()["unwitnessed_entries"]
    assert waiting == hub.second  # nothing is witnessed: every entry waits
    witnesses = _step_text(tab, "witnesses")
    assert "此记录尚未被满足见证策略的检查点覆盖" in witnesses
    assert "已联署：A；未联署：B" in witnesses
    assert f"平台报告有 {waiting} 条记录在等待见证" in witnesses
    verdict = tab.page.locator(".verdict [role=alert]").inner_text()
    assert verdict.startswith("验证未通过：检查点不满足见证策略")
    page = tab.page
    _no_english(page.locator("main").inner_text())
    tab.screenshot("auditor-witnesses")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_text("审计机关的见证策略").click()  # the form to paste one's own policy, open
    page.get_by_label("见证策略（c2sp.org/tlog-policy 文本）").wait_for()
    tab.screenshot("auditor-witnesses-phone")
    assert _overflowing(page) == []


def test_the_witness_words_are_english_in_english(tab: Tab, hub: WitnessedHub) -> None:
    hub.cosign({hub.second: ("A",)})
    tab.sign_in("auditor", "AUD-001")
    page = tab.page
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Audit log", level=1).wait_for()
    page.goto(f"{hub.base}/console/audit/entries/{hub.second - 1}")
    page.get_by_role("button", name="Verify", exact=True).click()
    page.locator(".verdict p").first.wait_for()
    witnesses = _step_text(tab, "witnesses")
    assert "Using the witness policy the hub publishes" in witnesses
    assert "No checkpoint that meets the witness policy covers this entry yet" in witnesses
    assert "needs all of A, B to cosign" in witnesses
    main = page.locator("main").inner_text()
    assert "Unwitnessed entries" in main
    assert not re.search(r"\b(witness|witness_reason|check|verify)\.[a-z_]+\b", main)  # no raw keys
    assert not re.search(
        r"[\u4e00-\u9fff]", page.locator("section", has_text="Verify in the browser").inner_text()
    )


def test_an_entry_an_older_witnessed_checkpoint_covers_is_verified_against_that_one(
    tab: Tab, hub: WitnessedHub
) -> None:
    hub.cosign({hub.first: ("A", "B"), hub.second: ("A",)})
    tab.sign_in("auditor", "AUD-001")
    classes = _verify(tab, hub.first - 1)  # in the first, witnessed checkpoint
    assert classes == dict.fromkeys(STEPS, "pass")
    older = (
        f"最新检查点（{hub.second} 条记录）尚未满足见证策略，"
        f"改用满足策略的检查点（{hub.first} 条记录）"
    )
    assert older in _step_text(tab, "witnesses")
    classes = _verify(tab, hub.second - 1)  # only in the second: not witnessed yet
    assert classes["witnesses"] == "fail"
    waiting = hub.second - hub.first
    assert hub.witnesses_report()["unwitnessed_entries"] == waiting
    assert f"平台报告有 {waiting} 条记录在等待见证" in _step_text(tab, "witnesses")


def test_a_forged_cosignature_fails_the_step_even_when_it_would_complete_the_quorum(
    tab: Tab, hub: WitnessedHub
) -> None:
    """The hub (or anyone in between) adds a line of witness A's name and key id whose signature
    is not A's: the browser refuses the checkpoint instead of counting A."""
    hub.cosign({hub.second: ("B",)})
    witness = hub.witnesses["A"]
    checkpoint = hub.note(hub.second)
    genuine = witness.cosign(checkpoint, int(datetime.now(UTC).timestamp()))
    name, blob = genuine.rstrip("\n").removeprefix("— ").split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 0x01  # the key id and timestamp stay; the signature no longer verifies
    forged = f"— {name} {base64.b64encode(bytes(raw)).decode()}\n"

    def add_forged_line(route: Any) -> None:
        answer = route.fetch()
        route.fulfill(response=answer, body=answer.text() + forged)

    tab.sign_in("auditor", "AUD-001")
    tab.page.route(re.compile(r".*/audit/checkpoint$"), add_forged_line)
    classes = _verify(tab, hub.second - 1)
    assert classes["signature"] == "pass"  # the hub's own signature is fine
    assert classes["witnesses"] == "fail"
    assert "见证 A 的联署签名无效（可能是伪造的），此检查点不予采信" in _step_text(tab, "witnesses")


def test_the_auditors_own_policy_is_used_and_a_witness_the_hub_does_not_have_fails(
    tab: Tab, hub: WitnessedHub
) -> None:
    hub.cosign({hub.second: ("A", "B")})
    answer = httpx.get(f"{hub.base}/audit/checkpoint", timeout=10)
    assert answer.headers["Tongban-Witness-Policy"] == "met"  # the hub's own policy is met
    bureau = Cosigner("bureau-witness.example/w", Ed25519PrivateKey.generate())
    tab.sign_in("auditor", "AUD-001")
    tab.open("/console/audit/entries/0")
    _paste_policy(
        tab,
        f"# 审计机关下发\nlog {_hub_vkey(hub)}\n"
        f"witness A {hub.witnesses['A'].vkey()}\nwitness C {bureau.vkey()}\n"
        "group ours all A C\nquorum ours\n",
    )
    page = tab.page
    assert page.get_by_text("使用您保存的见证策略").first.is_visible()
    classes = _verify(tab, hub.second - 1)
    assert classes["witnesses"] == "fail"
    witnesses = _step_text(tab, "witnesses")
    assert "使用您保存的见证策略" in witnesses
    assert "需要 A、C 全部联署" in witnesses
    assert "未联署：C" in witnesses
    # Kept in this browser: a reload still uses it; clearing goes back to the hub's.
    page.reload()
    page.get_by_text("使用您保存的见证策略").first.wait_for()
    page.get_by_text("审计机关的见证策略").click()
    page.get_by_role("button", name="清除").click()
    page.get_by_text("已清除：验证将使用平台公布的策略。").wait_for()
    assert page.get_by_text("使用平台公布的见证策略").first.is_visible()
    assert _verify(tab, hub.second - 1)["witnesses"] == "pass"


def test_an_own_policy_pinning_another_log_key_fails(tab: Tab, hub: WitnessedHub) -> None:
    hub.cosign({hub.second: ("A", "B")})
    origin = _hub_vkey(hub).split("+")[0]
    impostor = NoteSigner(origin, Ed25519PrivateKey.generate())
    tab.sign_in("auditor", "AUD-001")
    tab.open("/console/audit/entries/0")
    _paste_policy(tab, f"log {impostor.vkey()}\nwitness A {hub.witnesses['A'].vkey()}\nquorum A\n")
    classes = _verify(tab, 0)
    assert classes["witnesses"] == "fail"
    assert f"检查点没有见证策略所列日志密钥（{origin}）的有效签名" in _step_text(tab, "witnesses")


def test_a_quorum_of_none_passes_but_says_no_witness_vouches(tab: Tab, hub: WitnessedHub) -> None:
    hub.cosign({})
    tab.sign_in("auditor", "AUD-001")
    tab.open("/console/audit/entries/0")
    _paste_policy(tab, f"log {_hub_vkey(hub)}\nquorum none\n")
    assert _verify(tab, 0) == dict.fromkeys(STEPS, "pass")
    assert "没有见证为此日志担保" in _step_text(tab, "witnesses")
    notice = tab.page.locator(".verdict .notice").inner_text()
    assert "没有任何见证为此日志担保" in notice


def test_an_ml_dsa_witness_cannot_be_checked_here_and_does_not_count(
    tab: Tab, hub: WitnessedHub
) -> None:
    quantum = Cosigner("pq-witness.example/w", MLDSA44PrivateKey.generate())
    hub.witnesses["PQ"] = quantum
    hub.cosign({hub.second: ("A", "B", "PQ")})  # a real ML-DSA-44 cosignature, served by the hub
    tab.sign_in("auditor", "AUD-001")
    tab.open("/console/audit/entries/0")
    _paste_policy(
        tab,
        f"log {_hub_vkey(hub)}\nwitness A {hub.witnesses['A'].vkey()}\n"
        f"witness PQ {quantum.vkey()}\ngroup both all A PQ\nquorum both\n",
    )
    classes = _verify(tab, hub.second - 1)
    assert classes["witnesses"] == "fail"
    text = _step_text(tab, "witnesses")
    assert "此浏览器无法核验 ML-DSA-44 见证签名：PQ（不计入）" in text
    assert "已联署：A；" in text


def test_a_pasted_policy_that_does_not_parse_is_refused_naming_its_line(
    tab: Tab, hub: WitnessedHub
) -> None:
    tab.sign_in("auditor", "AUD-001")
    tab.open("/console/audit/entries/0")
    page = tab.page
    page.get_by_text("审计机关的见证策略").click()
    page.get_by_label("见证策略（c2sp.org/tlog-policy 文本）").fill(
        f"witness A {hub.witnesses['A'].vkey()}\ngroup G 3 A\nquorum G\n"
    )
    page.get_by_role("button", name="保存策略").click()
    assert page.locator(".policy-status [role=alert]").inner_text() == "第 2 行：组的门槛大于成员数"
    assert page.get_by_text("使用平台公布的见证策略").first.is_visible()  # nothing was kept


def test_the_operator_sees_the_witness_gap_and_why_a_witness_fails(
    tab: Tab, hub: WitnessedHub
) -> None:
    hub.cosign({hub.first: ("A",), hub.second: ("A",)})  # what the hub's submissions got
    report = hub.witnesses_report()
    assert (report["witnessed_size"], report["unwitnessed_entries"]) == (0, hub.second)
    tab.sign_in("operator", "OPS-001")
    page = tab.page
    panel = page.get_by_role("region", name="审计日志见证")
    panel.locator("li.witness").first.wait_for()
    text = panel.inner_text()
    assert "平台的见证策略：需要 A、B 全部联署" in text
    assert re.search(rf"未见证的记录\s*{hub.second}\b", text)
    assert re.search(r"已见证的检查点覆盖\s*0\b", text)
    answering = panel.locator("li.witness", has_text="witness-a.example/w")
    assert "正常" in answering.inner_text()
    assert re.search(rf"已联署到的记录数\s*{hub.second}\b", answering.inner_text())
    failing = panel.locator("li.witness", has_text="witness-b.example/w")
    assert "失败" in failing.inner_text()
    assert "无法连接见证服务器（ConnectError）" in failing.inner_text()
    assert hub.unreachable in failing.inner_text()
    attempted = next(w for w in report["witnesses"] if w["name"] == "B")["last_attempt_at"]
    local = datetime.fromisoformat(attempted).astimezone(CHINA)  # China time, not UTC
    assert f"{local.year}年{local.month}月{local.day}日 {local:%H:%M:%S}" in failing.inner_text()
    _no_english(text)
    tab.screenshot("operator-witnesses")
    page.set_viewport_size({"width": 390, "height": 844})
    tab.screenshot("operator-witnesses-phone")
    assert _overflowing(page) == []


def _overflowing(page: Any) -> list[str]:
    """The elements that widen the page past the window (nothing may scroll the whole page
    sideways on a phone; a wide table may scroll inside itself)."""
    found: list[str] = page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const clipped = (e) => {
            for (let p = e.parentElement; p; p = p.parentElement) {
              if (["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX)) return true;
            }
            return false;
          };
          const wide = [...document.querySelectorAll("body *")].filter(
            (e) => e.getBoundingClientRect().right > width + 1 && !clipped(e),
          );
          const scrolls = document.documentElement.scrollWidth > width;
          if (scrolls && !wide.length) wide.push(document.body);
          return wide.map((e) => `${e.tagName.toLowerCase()}.${e.className}`);
        }"""
    )
    return found


def _no_english(text: str) -> None:
    """Nothing but names, keys, numbers and code in Latin letters: no English sentence leaks."""
    words = re.findall(r"\b[a-z]{4,}\b(?: [a-z]{2,}\b){2,}", text)
    assert words == [], words


# -- policy.js against exchange.audit.policy ---------------------------------------------------

ORIGIN = "hub.example.gov.cn/audit-log"
CHECKPOINT = Checkpoint(ORIGIN, 42, bytes(range(32)))
TIME = 1_780_000_000


def _seeded(n: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)


LOG = NoteSigner(ORIGIN, _seeded(1))
X = [Cosigner(f"x{i}.example/w", _seeded(10 + i)) for i in range(3)]
Y = [Cosigner(f"y{i}.example/w", _seeded(20 + i)) for i in range(3)]
TWO_LEVELS = (
    f"log {LOG.vkey()}\n\n"
    + "".join(f"witness X{i} {w.vkey()}\n" for i, w in enumerate(X))
    + "group X-witnesses 2 X0 X1 X2\n  # a comment\n\n"
    + "".join(f"\twitness Y{i}  {w.vkey()}\n" for i, w in enumerate(Y))
    + "group Y-witnesses any Y0 Y1 Y2\ngroup X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n"
)
REFUSED = [
    "quorum none\nquorum none\n",
    f"witness A {X[0].vkey()}\n",
    "frobnicate\nquorum none\n",
    "group G any A\nquorum none\n",
    "quorum A\n",
    f"witness none {X[0].vkey()}\nquorum none\n",
    f"witness A {X[0].vkey()}\nwitness A {X[1].vkey()}\nquorum A\n",
    f"witness A {X[0].vkey()}\nwitness B {X[0].vkey()}\nquorum A\n",
    f"witness A {X[0].vkey()}\ngroup G 2 A\nquorum G\n",
    f"witness A {X[0].vkey()}\ngroup G 0 A\nquorum G\n",
    f"witness A {X[0].vkey()}\ngroup G 02 A\nquorum G\n",
    f"witness A {X[0].vkey()}\ngroup G any A A\nquorum G\n",
    f"witness A {LOG.vkey()}\nquorum A\n",
    f"log {X[0].vkey()}\nquorum none\n",
    f"witness A {X[0].vkey()} ftp://x.example\nquorum A\n",
    f"witness A {X[0].vkey()}\t\thttps://\nquorum A\n",
    f"witness A {X[0].vkey()[:-4]}AAA=\nquorum A\n",
    f"witness A {X[0].vkey()} https://w.example extra\nquorum A\n",
    f"log {LOG.vkey()}\nlog {LOG.vkey()}\nquorum none\n",
    f"witness A {X[0].vkey()}\nquorum A B\n",
    "group G\nquorum none\n",
    f"# all good so far\nwitness A {X[0].vkey()}\nwitness A\u00a0B {X[1].vkey()}\nquorum A\n",
]


def _python_line(text: str) -> int | None:
    """The line Python's parser refuses *text* at (None: the whole policy)."""
    with pytest.raises(WitnessPolicyError) as refused:
        parse_policy(text)
    found = re.match(r"line (\d+):", str(refused.value))
    return int(found.group(1)) if found else None


def test_policy_js_refuses_what_the_hubs_parser_refuses_at_the_same_line(tab: Tab) -> None:
    expected = [_python_line(text) for text in REFUSED]
    tab.open("/console")
    results = tab.page.evaluate(
        """async (texts) => {
          const p = await import("/console/assets/js/policy.js");
          const out = [];
          for (const text of texts) {
            try { await p.parsePolicy(text); out.push({accepted: true}); }
            catch (e) { out.push({code: e.code || String(e), line: (e.vars || {}).line ?? null}); }
          }
          return out;
        }""",
        REFUSED,
    )
    for text, line, result in zip(REFUSED, expected, results, strict=True):
        assert "code" in result, text
        assert result["line"] == line, (text, result)


def test_policy_js_gives_the_hubs_verdict_for_every_set_of_cosigners(tab: Tab) -> None:
    """Every subset of the six witnesses of the two-level example, plus a stranger's key under
    a listed name and a forged line: the browser's verdict is Python's."""
    python = parse_policy(TWO_LEVELS)
    everyone = X + Y
    cases: list[dict[str, Any]] = []
    for count in range(len(everyone) + 1):
        for chosen in itertools.combinations(everyone, count):
            note = LOG.sign(CHECKPOINT) + "".join(
                c.cosign(CHECKPOINT, TIME + i) for i, c in enumerate(chosen)
            )
            cases.append({"note": note, "met": python.check(note).met, "forged": False})
    stranger = Cosigner("x0.example/w", _seeded(99))  # a listed name, another key
    note = LOG.sign(CHECKPOINT) + "".join(
        c.cosign(CHECKPOINT, TIME) for c in (stranger, X[1], Y[0])
    )
    cases.append({"note": note, "met": python.check(note).met, "forged": False})
    forged = LOG.sign(CHECKPOINT) + X[0].cosign(Checkpoint(ORIGIN, 43, CHECKPOINT.root), TIME)
    forged += X[1].cosign(CHECKPOINT, TIME) + Y[0].cosign(CHECKPOINT, TIME)
    with pytest.raises(CheckpointError):
        python.check(forged)
    cases.append({"note": forged, "met": False, "forged": True})
    other_log = NoteSigner(ORIGIN, _seeded(2)).sign(CHECKPOINT) + X[0].cosign(CHECKPOINT, TIME)
    with pytest.raises(CheckpointError, match="no log of the witness policy signed"):
        python.check(other_log)

    tab.open("/console")
    results = tab.page.evaluate(
        """async ({policyText, cases, otherLog}) => {
          const p = await import("/console/assets/js/policy.js");
          const m = await import("/console/assets/js/merkle.js");
          const policy = await p.parsePolicy(policyText);
          const out = [];
          for (const c of cases) {
            const v = await p.checkNote(policy, m.parseCheckpoint(c.note));
            out.push({met: v.met, invalid: v.invalid});
          }
          let refusal = null;
          try { await p.checkNote(policy, m.parseCheckpoint(otherLog)); }
          catch (e) { refusal = e.code; }
          return {out, refusal};
        }""",
        {"policyText": TWO_LEVELS, "cases": cases, "otherLog": other_log},
    )
    assert len(results["out"]) == len(cases) == 2**6 + 2
    assert sum(c["met"] for c in cases) > 0  # some sets meet the quorum, most do not
    for case, result in zip(cases, results["out"], strict=True):
        assert result["met"] == case["met"], case["note"]
        assert bool(result["invalid"]) == case["forged"], case["note"]
    assert results["out"][-1]["invalid"] == ["X0"]
    assert results["refusal"] == "policy_log_unsigned"
