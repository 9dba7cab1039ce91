"""The client SDK's ``verify_witnessed`` reads SM2 witness keys in a policy (docs/gm.md, "Witness
cosignatures with SM2"): against a served ``gm`` demo hub whose checkpoints a real ``tongban
witness serve`` with an SM2 key cosigns, a case system's receipt is found covered by a
checkpoint that meets the case system's own policy naming that witness; a policy naming another
SM2 witness is not met, an SM2 witness key with a wrong key ID or off the curve is refused as a
policy line, and a cosignature with one byte changed is not counted."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from exchange.client import EvidenceError
from exchange.client.sdk import _Policy
from tests.servers import DemoHub, demo_hub, free_port
from tests.witness.helpers import served_witness
from tests.witness.test_gm_witness import _run_tongban, _sign_checkpoint

pytestmark = pytest.mark.serves

WITNESS = "witness.test/sdk-sm2"


@dataclass
class Witnessed:
    hub: DemoHub
    policy: str
    other_vkey: str


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witnessed]:
    work = tmp_path_factory.mktemp("gm-sdk-witness")
    vkey = _run_tongban(work, "witness", "init", "--name", WITNESS, "--key-file",
                        str(work / "w.key"), "--algorithm", "sm2").strip()  # fmt: skip
    other = _run_tongban(work, "witness", "init", "--name", "witness.test/other", "--key-file",
                         str(work / "o.key"), "--algorithm", "sm2").strip()  # fmt: skip
    port = free_port()
    policy = f"witness sm2 {vkey} http://127.0.0.1:{port}\nquorum sm2\n"
    (work / "witnesses.policy").write_text(policy, "utf-8")
    with demo_hub(
        work / "hub",
        citizens=30,
        TONGBAN_CRYPTO_PROFILE="gm",
        TONGBAN_WITNESS_POLICY_FILE=str(work / "witnesses.policy"),
    ) as hub:
        log_vkey = httpx.get(f"{hub.base}/audit/checkpoint/key", timeout=10).text.strip()
        with served_witness(
            work, "--key-file", str(work / "w.key"), "--log", log_vkey,
            "--state", str(work / "state.db"), port=port,
        ):  # fmt: skip
            yield Witnessed(hub, f"witness sm2 {vkey}\nquorum sm2\n", other)


def test_the_sdk_finds_a_receipt_covered_by_an_sm2_witnessed_checkpoint(
    witnessed: Witnessed,
) -> None:
    hub = witnessed.hub
    with hub.client() as client:
        answer = client.query(
            hub.subject("no_property"), "school-enrolment", service_item="EDU-RXDJ-001"
        )
        first = _sign_checkpoint(hub)
        assert first.status_code == 200, first.text
        client.query(hub.subject("no_property"), "school-enrolment", service_item="EDU-RXDJ-001")
        second = _sign_checkpoint(hub)  # a consistency proof (SM3) from the receipt's size
        assert second.status_code == 200, second.text
        covered = client.verify_witnessed(answer.audit, witnessed.policy)
    assert covered.cosigned_by == ("sm2",)
    assert covered.witnessed_size >= answer.audit.tree_size
    assert f"\n— {WITNESS} " in covered.checkpoint


def test_a_policy_naming_another_sm2_witness_is_not_met(witnessed: Witnessed) -> None:
    hub = witnessed.hub
    with hub.client() as client:
        answer = client.query(
            hub.subject("no_property"), "school-enrolment", service_item="EDU-RXDJ-001"
        )
        assert _sign_checkpoint(hub).status_code == 200
        policy = f"witness other {witnessed.other_vkey}\nquorum other\n"
        with pytest.raises(EvidenceError, match="it needs other; cosigned by no witness"):
            client.verify_witnessed(answer.audit, policy)


def test_an_sm2_witness_key_with_a_wrong_id_or_off_the_curve_is_refused(
    witnessed: Witnessed,
) -> None:
    name, key_id, key = witnessed.policy.split()[2].split("+", 2)
    wrong_id = f"{name}+{int(key_id, 16) ^ 1:08x}+{key}"
    with pytest.raises(ValueError, match="id does not match"):
        _Policy.parse(f"witness sm2 {wrong_id}\nquorum sm2\n")
    raw = bytearray(base64.b64decode(key))
    raw[-1] ^= 1  # y changed: no longer a point of the curve
    off_curve = f"{name}+{key_id}+{base64.b64encode(bytes(raw)).decode()}"
    with pytest.raises(ValueError, match="not on the SM2 curve"):
        _Policy.parse(f"witness sm2 {off_curve}\nquorum sm2\n")


def test_an_sm2_cosignature_with_a_byte_changed_is_not_counted(witnessed: Witnessed) -> None:
    hub = witnessed.hub
    note = httpx.get(f"{hub.base}/audit/checkpoint", params={"witnessed": "true"}, timeout=10).text
    policy = _Policy.parse(witnessed.policy)
    assert policy.cosigned(note) == {"sm2"}
    text, _, lines = note.rpartition("\n\n")
    changed = []
    for line in lines.splitlines():
        if line.startswith(f"— {WITNESS} "):
            prefix, encoded = line.rsplit(" ", 1)
            blob = bytearray(base64.b64decode(encoded))
            blob[-1] ^= 1  # the last byte of s
            line = f"{prefix} {base64.b64encode(bytes(blob)).decode()}"
        changed.append(line)
    altered = f"{text}\n\n" + "\n".join(changed) + "\n"
    assert policy.cosigned(altered) == set()
