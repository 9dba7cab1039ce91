"""The citizen's completeness check (完整性核验) on "我的数据", in headless Chromium against a real
demo hub: the browser checks the signed checkpoint, the witness policy, the subject map root
line, the accesses shown against the hub's list of the citizen's entries, and the subject map
proof (``vmap.js``), and says in Chinese which step failed when the answer was tampered with.

Crafted answers: the hub's real accesses, with a completeness the test builds and signs with its
own log and witness keys (served in place of the hub's key and policy), for the cases a demo hub
does not reach by itself (a witness policy met or not, accesses after the checkpoint). The hub's
own answers: its demo citizens' lists, checked as they are and tampered with in flight."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.audit import merkle, vmap
from exchange.audit.checkpoint import Checkpoint, NoteSigner
from exchange.audit.cosignature import Cosigner
from exchange.audit.vmap import Leaf
from exchange.security.gm import SoftwareSm2Signer
from tests.console.conftest import Hub, Tab
from tests.profiles import GM

pytestmark = [pytest.mark.serves]

STEPS = ["signature", "witnesses", "map_root", "entries", "listed", "shown", "map_proof"]


def _key() -> Ed25519PrivateKey | SoftwareSm2Signer:
    """A key of the suite's profile: the console checks a gm hub's checkpoints with SM2 over
    an SM3 tree, and an Ed25519 signature over SM3 hashes is no checkpoint of either."""
    return SoftwareSm2Signer.generate() if GM else Ed25519PrivateKey.generate()


LOG = NoteSigner("tongban.test/crafted-log", _key())
WITNESS = Cosigner("witness.test/w", _key())
NO_WITNESS = f"log {LOG.vkey()}\nquorum none\n"  # a policy that asks for no witness
Change = Callable[[dict[str, Any]], None]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def accesses_of(hub: Hub, citizen: str) -> dict[str, Any]:
    token = hub.id_token(citizen, "citizen")
    answer = httpx.get(
        f"{hub.base}/citizen/accesses",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    page: dict[str, Any] = answer.json()
    return page


def crafted(
    page: dict[str, Any],
    *,
    size: int | None = None,
    witnessed: bool = False,
    lines: Callable[[str], tuple[str, ...]] = lambda line: (line,),
    texts: bool = True,
) -> dict[str, Any]:
    """A completeness for the accesses of *page* below *size* (default: all of them), with two
    consent entries of the citizen besides, in a map with three other subjects, signed by LOG
    (and cosigned by WITNESS when *witnessed*); *lines* makes the extension lines from the
    map's root line; the consent entries carry their text, as the hub gives it, unless *texts*
    is false."""
    accesses = sorted(page["accesses"], key=lambda a: a["index"])
    subject = json.loads(accesses[0]["entry"])["subject"]
    size = size if size is not None else accesses[-1]["index"] + 1
    listed = [
        {"index": a["index"], "leaf_hash": a["proof"]["leaf_hash"], "kind": a["kind"]}
        for a in accesses
        if a["index"] < size
    ]
    taken = {e["index"] for e in listed}
    for index in [i for i in range(size) if i not in taken][:2]:
        text = json.dumps({"kind": "consent", "subject": subject, "event": "given", "n": index})
        consent = {
            "index": index,
            "leaf_hash": b64(merkle.leaf_hash(text.encode())),
            "kind": "consent",
        }
        listed.append({**consent, "entry": text} if texts else consent)
    listed.sort(key=lambda e: e["index"])
    entries = [(e["index"], base64.b64decode(e["leaf_hash"])) for e in listed]
    key = vmap.subject_key(subject)
    leaves = [Leaf(key, vmap.value_of(entries).hash)]
    leaves += [Leaf(vmap.subject_key(f"other-{n}"), bytes([n + 1]) * 32) for n in range(3)]
    nodes: dict[tuple[int, bytes], vmap.Node] = {}
    root = vmap.build(leaves, lambda d, p, n: nodes.__setitem__((d, p), n))
    proof = vmap.prove(lambda d, p: nodes.get((d, p)), key).encode()
    extensions = lines(f"tongban/vmap/v1 {b64(root)}")  # the checkpoint's extension lines
    checkpoint = Checkpoint(LOG.name, size, bytes(32), extensions)
    note = LOG.sign(checkpoint)
    if witnessed:
        note += WITNESS.cosign(checkpoint, int(datetime.now(UTC).timestamp()))
    return {
        "checkpoint": note,
        "tree_size": size,
        "witnessed": witnessed,
        "subject": subject,
        "map_root": b64(root),
        "map_proof": b64(proof),
        "entries": listed,
    }


def serve(tab: Tab, change: Change, *, policy: str | None = None) -> None:
    """The hub's answers to /citizen/accesses, changed by *change*; with *policy*, LOG's key and
    that witness policy in place of the hub's."""
    page = tab.page

    def accesses(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        change(body)
        route.fulfill(response=response, json=body)

    page.route("**/citizen/accesses*", accesses)
    if policy is not None:
        page.route("**/audit/checkpoint/key", lambda r: r.fulfill(body=LOG.vkey() + "\n"))
        page.route("**/audit/witness-policy", lambda r: r.fulfill(body=policy))


def policy_of(quorum: str) -> str:
    return f"log {LOG.vkey()}\nwitness W {WITNESS.vkey()}\nquorum {quorum}\n"


def check(tab: Tab, citizen: str) -> tuple[dict[str, str], str]:
    """Sign in as *citizen*, wait for the completeness verdict: each step's class, the verdict."""
    page = tab.page
    tab.sign_in("citizen", citizen)
    block = page.locator("section.completeness")
    block.locator(".verdict p:not(.loading)").first.wait_for()
    states = {s: block.locator(f'[data-step="{s}"]').get_attribute("class") or "" for s in STEPS}
    return states, block.locator(".verdict").inner_text()


def step_text(tab: Tab, step: str) -> str:
    return tab.page.locator(f'section.completeness [data-step="{step}"]').inner_text()


def failed_at(states: dict[str, str], step: str) -> None:
    at = STEPS.index(step)
    assert [states[s] for s in STEPS] == ["pass"] * at + ["fail"] + ["skipped"] * (
        len(STEPS) - at - 1
    ), states


def covered(body: dict[str, Any]) -> dict[str, Any]:
    """The newest access the checkpoint covers."""
    size = body["completeness"]["tree_size"]
    return next(a for a in body["accesses"] if a["index"] < size)


def drop_entry(body: dict[str, Any]) -> None:
    index = covered(body)["index"]
    c = body["completeness"]
    c["entries"] = [e for e in c["entries"] if e["index"] != index]


def drop_access(body: dict[str, Any]) -> None:
    body["accesses"].remove(covered(body))


def flip_proof_byte(body: dict[str, Any]) -> None:
    c = body["completeness"]
    proof = bytearray(base64.b64decode(c["map_proof"]))
    proof[len(proof) // 2] ^= 0x01
    c["map_proof"] = b64(bytes(proof))


def change_map_root(body: dict[str, Any]) -> None:
    c = body["completeness"]
    c["map_root"] = b64(vmap.node_hash(base64.b64decode(c["map_root"]), bytes(32)))


# Each tampering, the step it fails and what that step then says.
TAMPERINGS = {
    "an_entry_dropped_from_the_list": (drop_entry, "listed", "不在平台承诺的清单中"),
    "an_access_dropped_from_the_accesses": (drop_access, "shown", "没有显示给您"),
    "a_byte_of_the_map_proof_flipped": (flip_proof_byte, "map_proof", "主体索引证明不成立"),
    "another_map_root": (change_map_root, "map_root", "与平台给出的证明所用的根不同"),
}


# -- crafted answers: the page's checks, whatever the hub's backend --------------------------


def test_a_crafted_complete_list_is_shown_complete_and_says_no_witness_vouches(
    tab: Tab, hub: Hub
) -> None:
    citizen = hub.queried[0]
    made = crafted(accesses_of(hub, citizen))
    serve(tab, lambda body: body.update(completeness=made), policy=NO_WITNESS)
    states, verdict = check(tab, citizen)
    assert set(states.values()) == {"pass"}, states
    count = sum(e["kind"] in ("query", "verify") for e in made["entries"])
    size = made["tree_size"]
    assert f"截至第 {size} 条记录（检查点 {LOG.name}，根哈希" in verdict
    assert f"您的访问记录完整，共 {count} 条。" in verdict
    assert "没有任何见证为此日志担保" in verdict
    assert "另有 2 条授权或纠错记录，不属于访问。" in step_text(tab, "shown")


def test_a_witness_policy_is_met_with_the_witness_cosignature(tab: Tab, hub: Hub) -> None:
    citizen = hub.queried[0]
    cosigned = crafted(accesses_of(hub, citizen), witnessed=True)
    serve(tab, lambda body: body.update(completeness=cosigned), policy=policy_of("W"))
    states, verdict = check(tab, citizen)
    assert set(states.values()) == {"pass"}, states
    assert "已联署：W" in step_text(tab, "witnesses")
    assert "您的访问记录完整" in verdict
    assert "没有任何见证" not in verdict


def test_a_witness_policy_not_met_fails_whatever_the_hub_says(tab: Tab, hub: Hub) -> None:
    citizen = hub.queried[0]
    alone = crafted(accesses_of(hub, citizen), witnessed=False)
    claimed = {**alone, "witnessed": True}  # the hub's word is not believed
    serve(tab, lambda body: body.update(completeness=claimed), policy=policy_of("W"))
    states, verdict = check(tab, citizen)
    failed_at(states, "witnesses")
    assert "不满足平台公布的见证策略" in step_text(tab, "witnesses")
    assert "未联署：W" in step_text(tab, "witnesses")
    assert "未能证明您的访问记录完整：“见证：检查点满足平台公布的见证策略”这一步未通过。" in verdict


@pytest.fixture(scope="module")
def twice(hub: Hub) -> str:
    """A citizen whose data was queried twice (by no other test)."""
    citizen = hub.subject("divorced")
    with hub.client() as client:
        for _ in range(2):
            client.query(citizen, "school-enrolment", service_item="EDU-RXDJ-001")
    return citizen


def test_accesses_after_the_checkpoint_are_marked_and_not_counted(
    tab: Tab, hub: Hub, twice: str
) -> None:
    page = accesses_of(hub, twice)
    assert len(page["accesses"]) == 2
    newest = max(a["index"] for a in page["accesses"])
    made = crafted(page, size=newest)  # the newest access is after the checkpoint
    serve(tab, lambda body: body.update(completeness=made), policy=NO_WITNESS)
    states, verdict = check(tab, twice)
    assert set(states.values()) == {"pass"}, states
    later = tab.page.locator("tr.later")
    assert later.count() == 1
    assert later.get_attribute("data-index") == str(newest)
    assert "晚于检查点，尚未纳入完整性证明" in later.inner_text()
    assert "您的访问记录完整，共 1 条。" in verdict
    assert "另有 1 条访问晚于此检查点" in verdict


def test_consent_entries_given_with_their_text_are_checked(tab: Tab, hub: Hub) -> None:
    citizen = hub.queried[0]
    made = crafted(accesses_of(hub, citizen), texts=True)
    serve(tab, lambda body: body.update(completeness=made), policy=NO_WITNESS)
    states, _ = check(tab, citizen)
    assert set(states.values()) == {"pass"}, states
    assert "另有 2 条授权或纠错记录，不属于访问。" in step_text(tab, "shown")


def test_consent_entries_without_their_text_fail_as_possibly_hidden_accesses(
    tab: Tab, hub: Hub
) -> None:
    citizen = hub.queried[0]
    made = crafted(accesses_of(hub, citizen), texts=False)
    serve(tab, lambda body: body.update(completeness=made), policy=NO_WITNESS)
    states, _ = check(tab, citizen)
    failed_at(states, "shown")
    assert "平台未提供其原文" in step_text(tab, "shown")


def test_an_access_passed_off_as_a_consent_event_is_caught_by_its_text(tab: Tab, hub: Hub) -> None:
    citizen = hub.queried[0]
    page = accesses_of(hub, citizen)
    made = crafted(page)
    access = page["accesses"][0]  # not shown, and labelled a consent event in the list
    listed = next(e for e in made["entries"] if e["index"] == access["index"])
    listed.update(kind="consent", entry=access["entry"])

    def hidden(body: dict[str, Any]) -> None:
        body["accesses"] = [a for a in body["accesses"] if a["index"] != access["index"]]
        body["completeness"] = made

    serve(tab, hidden, policy=NO_WITNESS)
    states, _ = check(tab, citizen)
    failed_at(states, "shown")
    assert f"清单中的第 {access['index']} 条记录与其原文不符" in step_text(tab, "shown")


def test_no_checkpoint_yet_is_said_plainly(tab: Tab, hub: Hub) -> None:
    serve(tab, lambda body: body.update(completeness=None))
    tab.sign_in("citizen", hub.queried[0])
    block = tab.page.locator("section.completeness")
    block.get_by_text("尚无检查点覆盖您的访问记录").wait_for()
    assert block.locator(".steps").count() == 0


def test_a_checkpoint_signed_by_another_key_fails_the_first_step(tab: Tab, hub: Hub) -> None:
    citizen = hub.queried[0]
    made = crafted(accesses_of(hub, citizen))
    serve(tab, lambda body: body.update(completeness=made))  # the hub's own key, not LOG's
    states, verdict = check(tab, citizen)
    failed_at(states, "signature")
    assert "检查点没有平台公布的验证密钥" in step_text(tab, "signature")
    assert "“检查点的平台签名有效（用平台公布的验证密钥）”这一步未通过" in verdict


def test_the_check_fits_a_phone_screen(tab: Tab, hub: Hub, twice: str) -> None:
    page = accesses_of(hub, twice)
    made = crafted(page, size=max(a["index"] for a in page["accesses"]))
    serve(tab, lambda body: body.update(completeness=made), policy=NO_WITNESS)
    tab.page.set_viewport_size({"width": 375, "height": 812})
    states, _ = check(tab, twice)
    assert set(states.values()) == {"pass"}, states
    page_width = tab.page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 375  # each access is a card of labelled lines: nothing widens the page
    later = tab.page.locator("tr.later")
    assert later.locator(".badge.later").is_visible()
    assert "时间" in later.locator("td").first.evaluate(
        "td => getComputedStyle(td, '::before').content"
    )


MAP_LINES = {
    "no_line": (lambda line: (), "检查点中没有主体索引根"),
    "two_lines": (lambda line: (line, line), "检查点中有 2 行主体索引根"),
    "not_base64": (lambda line: (line[:-2] + "!",), "主体索引根格式有误"),
    "not_32_bytes": (lambda line: (f"tongban/vmap/v1 {b64(bytes(31))}",), "主体索引根格式有误"),
}


@pytest.mark.parametrize("case", MAP_LINES, ids=list(MAP_LINES))
def test_a_checkpoint_without_one_good_map_root_line_fails_that_step(
    tab: Tab, hub: Hub, case: str
) -> None:
    lines, words = MAP_LINES[case]
    citizen = hub.queried[0]
    made = crafted(accesses_of(hub, citizen), lines=lines)
    serve(tab, lambda body: body.update(completeness=made), policy=NO_WITNESS)
    states, _ = check(tab, citizen)
    failed_at(states, "map_root")
    assert words in step_text(tab, "map_root")


@pytest.mark.parametrize("tampering", TAMPERINGS, ids=list(TAMPERINGS))
def test_a_tampered_crafted_answer_fails_at_the_step_it_breaks(
    tab: Tab, hub: Hub, tampering: str
) -> None:
    change, step, words = TAMPERINGS[tampering]
    citizen = hub.queried[0]
    made = crafted(accesses_of(hub, citizen))

    def tampered(body: dict[str, Any]) -> None:
        body["completeness"] = json.loads(json.dumps(made))
        change(body)

    serve(tab, tampered, policy=NO_WITNESS)
    states, verdict = check(tab, citizen)
    failed_at(states, step)
    assert words in step_text(tab, step)
    assert "未能证明您的访问记录完整" in verdict


# -- the hub's own answers ----------------------------------------------------------------------


def sign_checkpoint(hub: Hub) -> int:
    """POST /audit/checkpoint as an operator: a checkpoint of the whole log now; its size."""
    token = hub.id_token("OPS-001", "operator")
    answer = httpx.post(
        f"{hub.base}/audit/checkpoint", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return int(answer.text.split("\n")[1])


def test_the_demo_citizens_list_is_shown_complete(tab: Tab, hub: Hub) -> None:
    citizen = hub.queried[0]
    size = sign_checkpoint(hub)
    states, verdict = check(tab, citizen)
    assert set(states.values()) == {"pass"}, states
    body = accesses_of(hub, citizen)
    assert body["completeness"]["tree_size"] == size
    count = len(body["accesses"])
    assert count >= 1
    assert f"截至第 {size} 条记录（检查点 " in verdict
    assert f"您的访问记录完整，共 {count} 条。" in verdict
    assert "平台公布的见证策略不要求任何见证" in step_text(tab, "witnesses")  # the demo has none
    assert "没有任何见证为此日志担保" in verdict


def test_a_citizens_consent_events_are_in_the_list_but_not_among_the_accesses(
    tab: Tab, hub: Hub
) -> None:
    citizen = hub.subject("receives_dibao", 1)  # used by no other test
    request = httpx.post(
        f"{hub.base}/consent-requests",
        json={
            "subject": {"id_type": "CN-RIC", "id": citizen},
            "purpose": "school-enrolment",
            "purpose_text": "义务教育入学登记：核验户籍",
            "attributes": ["household.name", "household.registered_address"],
            "retention_days": 365,
        },
        headers={"Authorization": f"Bearer {hub.system_token()}"},
        timeout=10,
    )
    assert request.status_code == 201, request.text
    token = hub.id_token(citizen, "citizen")
    approved = httpx.post(
        f"{hub.base}/citizen/consent-requests/{request.json()['id']}/approve",
        json={"fields": ["household.name", "household.registered_address"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert approved.status_code == 201, approved.text
    with hub.client() as client:
        client.query(citizen, "school-enrolment", service_item="EDU-RXDJ-001")
    sign_checkpoint(hub)
    states, verdict = check(tab, citizen)
    assert set(states.values()) == {"pass"}, states
    listed = accesses_of(hub, citizen)["completeness"]["entries"]
    kinds = [e["kind"] for e in listed]
    others = kinds.count("consent")
    assert others >= 1
    assert kinds.count("query") == 1
    # the hub gives each consent event's text (an access's is among the accesses)
    assert all((e["entry"] is None) == (e["kind"] == "query") for e in listed)
    assert f"另有 {others} 条授权或纠错记录，不属于访问。" in step_text(tab, "shown")
    assert "您的访问记录完整，共 1 条。" in verdict


@pytest.mark.parametrize("tampering", TAMPERINGS, ids=list(TAMPERINGS))
def test_a_tampered_answer_of_the_hub_fails_at_the_step_it_breaks(
    tab: Tab, hub: Hub, tampering: str
) -> None:
    change, step, words = TAMPERINGS[tampering]
    sign_checkpoint(hub)
    serve(tab, change)
    states, verdict = check(tab, hub.queried[0])
    failed_at(states, step)
    assert words in step_text(tab, step)
    assert "未能证明您的访问记录完整" in verdict


def test_screenshots_of_a_complete_list_with_one_access_after_the_checkpoint(
    tab: Tab, hub: Hub
) -> None:
    citizen = hub.subject("multiple_properties")  # queried by no other test
    with hub.client() as client:
        for _ in range(2):
            client.query(citizen, "school-enrolment", service_item="EDU-RXDJ-001")
        sign_checkpoint(hub)
        client.query(citizen, "school-enrolment", service_item="EDU-RXDJ-001")  # after it
    states, verdict = check(tab, citizen)
    assert set(states.values()) == {"pass"}, states
    assert "您的访问记录完整，共 2 条。" in verdict
    assert tab.page.locator("tr.later").count() == 1
    tab.screenshot("citizen-completeness")
    tab.page.set_viewport_size({"width": 375, "height": 812})
    tab.page.locator("section.completeness .verdict p.ok").wait_for()
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= 375
    tab.screenshot("citizen-completeness-phone")


def test_the_check_speaks_english_in_english(tab: Tab, hub: Hub) -> None:
    citizen = hub.queried[0]
    sign_checkpoint(hub)
    check(tab, citizen)
    page = tab.page
    page.get_by_role("button", name="English").click()
    block = page.locator("section.completeness")
    block.get_by_role("heading", name="Completeness check").wait_for()
    block.locator(".verdict p.ok").wait_for()
    count = len(accesses_of(hub, citizen)["accesses"])
    assert f"your list of accesses is complete: {count} in all." in block.inner_text()
    assert "The checkpoint's hub signature is valid" in block.inner_text()
