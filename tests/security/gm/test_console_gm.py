"""The console's in-browser checks on a real ``gm`` hub (``tongban demo`` + ``tongban serve``
under ``TONGBAN_CRYPTO_PROFILE=gm``), in headless Chromium: the auditor's check of one entry
(leaf, checkpoint, signature, witnesses, proof, root) and the citizen's completeness check pass
with SM3 and SM2 in the browser (``exchange/static/console/js/gm.js``), and fail at the step
where one byte of the hub's answer was changed. ``gm.js`` itself is checked against the GB/T
32905 SM3 vectors and against SM2 signatures made by the hub's signer (GmSSL), by the OpenSSL 3
command line and by npm's sm-crypto, none of which shares code with it."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.security.gm import SoftwareSm2Signer, signature_from_der
from tests.console.conftest import SCREENSHOTS, Tab, tab_on
from tests.security.gm.test_interop import DISTID, _openssl, _run, _sm_crypto
from tests.servers import DemoHub, demo_hub

pytestmark = [pytest.mark.serves, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ENTRY_STEPS = ["leaf", "checkpoint", "signature", "witnesses", "proof", "root"]
COMPLETE_STEPS = ["signature", "witnesses", "map_root", "entries", "listed", "shown", "map_proof"]


@pytest.fixture(scope="module")
def gm_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoHub]:
    with demo_hub(tmp_path_factory.mktemp("gm-console"), TONGBAN_CRYPTO_PROFILE="gm") as served:
        with served.client() as client:
            for kind in ("has_property", "no_property"):
                subject = served.subject(kind)
                for _ in range(2):  # a proof that is not empty, two accesses per citizen
                    client.query(subject, "school-enrolment", service_item="EDU-RXDJ-001")
                served.queried.append(subject)
        yield served


@pytest.fixture
def gm_tab(browser: Any, gm_hub: DemoHub) -> Iterator[Tab]:
    with tab_on(browser, gm_hub) as opened:
        yield opened


def _flip(text: str, at: int | None = None) -> str:
    data = bytearray(base64.b64decode(text))
    data[len(data) // 2 if at is None else at] ^= 0x01
    return base64.b64encode(bytes(data)).decode()


def _flip_note_signature(note: str) -> str:
    """The note with one byte of its (last) signature line's signature flipped."""
    head, _, line = note.rstrip("\n").rpartition("\n")
    prefix, _, blob = line.rpartition(" ")
    return f"{head}\n{prefix} {_flip(blob, 10)}\n"


# -- the auditor's check of one entry ----------------------------------------------------------


def _verify_entry(tab: Tab, index: int) -> dict[str, str]:
    page = tab.page
    tab.sign_in("auditor", "AUD-001")
    page.goto(f"{tab.hub.base}/console/audit/entries/{index}")
    page.get_by_role("button", name="验证", exact=True).click()
    page.locator(".verdict .ok, .verdict .problem").first.wait_for(timeout=30_000)
    return {s: page.locator(f'[data-step="{s}"]').get_attribute("class") or "" for s in ENTRY_STEPS}


def test_the_auditor_verifies_a_gm_entry_in_the_browser(gm_tab: Tab) -> None:
    states = _verify_entry(gm_tab, 1)
    assert states == dict.fromkeys(ENTRY_STEPS, "pass"), states
    gm_tab.screenshot("gm-auditor-verify")


def test_one_byte_of_a_gm_inclusion_proof_changed_fails_at_the_root(gm_tab: Tab) -> None:
    def flip_a_byte(route: Any) -> None:
        answer = route.fetch()
        body = answer.json()
        body["proof"][0] = _flip(body["proof"][0])
        route.fulfill(response=answer, body=json.dumps(body))

    gm_tab.page.route("**/audit/proof/inclusion?*", flip_a_byte)
    states = _verify_entry(gm_tab, 1)
    assert states["proof"] == "pass"
    assert states["root"] == "fail", states


def test_one_byte_of_a_gm_checkpoint_signature_changed_fails_at_the_signature(
    gm_tab: Tab,
) -> None:
    def flip_a_byte(route: Any) -> None:
        answer = route.fetch()
        route.fulfill(response=answer, body=_flip_note_signature(answer.text()))

    gm_tab.page.route("**/audit/checkpoint", flip_a_byte)
    states = _verify_entry(gm_tab, 1)
    assert states["leaf"] == states["checkpoint"] == "pass", states
    assert states["signature"] == "fail", states


def test_an_entry_checked_with_sha256_does_not_pass_on_a_gm_hub(gm_tab: Tab) -> None:
    """The tree's hash comes from the log key's type: served an Ed25519 key for the same log
    name, the browser takes the tree as SHA-256, the leaf hash differs, and the check stops."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from exchange.audit.checkpoint import NoteSigner

    def ed25519_key(route: Any) -> None:
        name = route.fetch().text().split("+")[0]
        route.fulfill(body=NoteSigner(name, Ed25519PrivateKey.generate()).vkey() + "\n")

    gm_tab.page.route("**/audit/checkpoint/key", ed25519_key)
    states = _verify_entry(gm_tab, 1)
    assert states["leaf"] == "fail", states


# -- the citizen's completeness check ----------------------------------------------------------


def _completeness(tab: Tab, citizen: str) -> tuple[dict[str, str], str]:
    page = tab.page
    tab.sign_in("citizen", citizen)
    block = page.locator("section.completeness")
    block.locator(".verdict p:not(.loading)").first.wait_for(timeout=30_000)
    states = {
        s: block.locator(f'[data-step="{s}"]').get_attribute("class") or "" for s in COMPLETE_STEPS
    }
    return states, block.locator(".verdict").inner_text()


def _tampered(tab: Tab, change: Any) -> None:
    def accesses(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        change(body)
        route.fulfill(response=response, json=body)

    tab.page.route("**/citizen/accesses*", accesses)


def test_a_citizen_proves_their_gm_access_list_complete(gm_tab: Tab, gm_hub: DemoHub) -> None:
    states, verdict = _completeness(gm_tab, gm_hub.queried[0])
    assert states == dict.fromkeys(COMPLETE_STEPS, "pass"), (states, verdict)
    assert "您的访问记录完整" in verdict
    gm_tab.screenshot("gm-citizen-complete")
    gm_tab.page.set_viewport_size({"width": 390, "height": 844})  # a phone
    section = gm_tab.page.locator("section.completeness")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    section.screenshot(path=str(SCREENSHOTS / "gm-citizen-complete-phone.png"))


def _failed_at(states: dict[str, str], step: str) -> None:
    at = COMPLETE_STEPS.index(step)
    expected = ["pass"] * at + ["fail"] + ["skipped"] * (len(COMPLETE_STEPS) - at - 1)
    assert [states[s] for s in COMPLETE_STEPS] == expected, states


def _flip_entry_text(body: dict[str, Any]) -> None:
    access = body["accesses"][0]
    text = access["entry"]
    at = text.index('"kind"')  # one byte of the entry's text: a key's first letter
    access["entry"] = text[:at] + '"Kind"' + text[at + 6 :]


def test_one_byte_of_a_gm_entry_changed_fails_its_completeness(
    gm_tab: Tab, gm_hub: DemoHub
) -> None:
    _tampered(gm_tab, _flip_entry_text)
    states, _ = _completeness(gm_tab, gm_hub.queried[0])
    _failed_at(states, "entries")


def test_one_byte_of_a_gm_checkpoint_signature_fails_its_completeness(
    gm_tab: Tab, gm_hub: DemoHub
) -> None:
    def change(body: dict[str, Any]) -> None:
        c = body["completeness"]
        c["checkpoint"] = _flip_note_signature(c["checkpoint"])

    _tampered(gm_tab, change)
    states, _ = _completeness(gm_tab, gm_hub.queried[0])
    _failed_at(states, "signature")


def test_one_byte_of_a_gm_map_proof_changed_fails_its_completeness(
    gm_tab: Tab, gm_hub: DemoHub
) -> None:
    def change(body: dict[str, Any]) -> None:
        c = body["completeness"]
        c["map_proof"] = _flip(c["map_proof"])

    _tampered(gm_tab, change)
    states, _ = _completeness(gm_tab, gm_hub.queried[0])
    _failed_at(states, "map_proof")


# -- gm.js against the standards' vectors and three other implementations ---------------------


def _gm_js(tab: Tab, cases: list[dict[str, str]]) -> list[Any]:
    tab.open("/console")
    results: list[Any] = tab.page.evaluate(
        """async (cases) => {
          const gm = await import("/console/assets/js/gm.js");
          const bytes = (hex) => Uint8Array.from(hex.match(/../g) || [], (p) => parseInt(p, 16));
          const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
          return cases.map((c) => c.op === "sm3"
            ? hex(gm.sm3(bytes(c.message)))
            : gm.sm2Verify(bytes(c.point), bytes(c.message), bytes(c.signature)));
        }""",
        cases,
    )
    return results


def test_gm_js_sm3_matches_the_gb_t_32905_vectors(gm_tab: Tab) -> None:
    cases = [
        {"op": "sm3", "message": b"abc".hex()},
        {"op": "sm3", "message": (b"abcd" * 16).hex()},
        *({"op": "sm3", "message": bytes(range(n)).hex()} for n in (0, 55, 56, 64, 65, 200)),
    ]
    expected = [
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
        *(hashlib.new("sm3", bytes(range(n))).hexdigest() for n in (0, 55, 56, 64, 65, 200)),
    ]
    assert _gm_js(gm_tab, cases) == expected


def test_gm_js_verifies_sm2_signatures_of_gmssl_openssl_and_sm_crypto(
    gm_tab: Tab, tmp_path: Path
) -> None:
    message = "检查点 checkpoint".encode()
    cases: list[dict[str, str]] = []

    hub = SoftwareSm2Signer.generate()
    cases.append({"point": hub.public_key.uncompressed.hex(), "signature": hub.sign(message).hex()})

    pair = _sm_crypto({"op": "keypair"})
    signed = _sm_crypto(
        {
            "op": "sign",
            "private": str(pair["private"]),
            "public": str(pair["public"]),
            "message": message.hex(),
        }
    )
    cases.append({"point": str(pair["public"]), "signature": str(signed["signature"])})

    openssl = _openssl()
    key, data, signature = tmp_path / "key.pem", tmp_path / "message", tmp_path / "sig.der"
    data.write_bytes(message)
    assert _run(openssl, "genpkey", "-algorithm", "SM2", "-out", str(key)).returncode == 0
    signing = _run(
        openssl, "dgst", "-sm3", "-sign", str(key), "-sigopt", DISTID, "-out", str(signature),
        str(data),
    )  # fmt: skip
    assert signing.returncode == 0, signing.stderr
    spki = subprocess.run(
        [openssl, "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    raw = signature_from_der(signature.read_bytes())
    cases.append({"point": spki[-65:].hex(), "signature": raw.hex()})

    good = [{**c, "op": "sm2", "message": message.hex()} for c in cases]
    flipped_signature = [
        {
            **c,
            "signature": c["signature"][:20]
            + f"{int(c['signature'][20], 16) ^ 1:x}"
            + c["signature"][21:],
        }
        for c in good
    ]
    other_message = [{**c, "message": b"another message".hex()} for c in good]
    assert _gm_js(gm_tab, good) == [True, True, True]
    assert _gm_js(gm_tab, flipped_signature) == [False, False, False]
    assert _gm_js(gm_tab, other_message) == [False, False, False]


def test_the_browser_counts_an_sm2_witness_cosignature_and_refuses_a_forged_one(
    gm_tab: Tab,
) -> None:
    """policy.js and merkle.js on a gm log's note cosigned by an SM2 witness (the cosignature
    form of docs/gm.md): the policy is met; with one byte of the cosignature changed it is
    not, and the witness is named as forged."""
    from datetime import UTC, datetime

    from exchange.audit.checkpoint import Checkpoint, NoteSigner
    from exchange.audit.cosignature import Cosigner

    log = NoteSigner("tongban.test/gm-browser-log", SoftwareSm2Signer.generate())
    witness = Cosigner("witness.test/sm2", SoftwareSm2Signer.generate())
    checkpoint = Checkpoint(log.name, 3, bytes(range(32)), ("tongban/vmap/v1 " + "A" * 43 + "=",))
    note = log.sign(checkpoint) + witness.cosign(checkpoint, int(datetime.now(UTC).timestamp()))
    policy = f"log {log.vkey()}\nwitness W {witness.vkey()}\nquorum W\n"
    gm_tab.open("/console")
    verdicts = gm_tab.page.evaluate(
        """async ([policyText, note, forged]) => {
          const m = await import("/console/assets/js/merkle.js");
          const p = await import("/console/assets/js/policy.js");
          const policy = await p.parsePolicy(policyText);
          const out = [];
          for (const text of [note, forged]) {
            const v = await p.checkNote(policy, m.parseCheckpoint(text));
            out.push({met: v.met, cosigned: v.cosigned, invalid: v.invalid});
          }
          return out;
        }""",
        [policy, note, _flip_note_signature(note)],
    )
    assert verdicts == [
        {"met": True, "cosigned": ["W"], "invalid": []},
        {"met": False, "cosigned": [], "invalid": ["W"]},
    ]
