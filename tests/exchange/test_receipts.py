"""Signed receipts over real HTTP (``tongban demo`` + ``tongban serve``, the client SDK): every
answer's ``audit`` carries the hub's signed checkpoint of a tree that holds its entry and the
inclusion proof; the SDK verifies both against the key served at ``GET /audit/checkpoint/key``
(or one pinned) and refuses a tampered proof, a tampered note and a wrong key in plain words;
and an entry an operator cuts off the log afterwards leaves its receipt holder with a signed
root that the hub's later checkpoint is provably not consistent with (``GET
/audit/proof/consistency``)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from exchange.audit import merkle
from exchange.audit.checkpoint import Checkpoint, NoteSigner, parse_vkey
from exchange.client import AuditReceipt, EvidenceError, TongbanClient, TongbanClientError
from exchange.db import make_engine
from tests.audit.test_receipts import cut_the_tail
from tests.exchange.test_client import Recorder, tampering
from tests.servers import DemoHub, demo_hub

EDU = "edu-enrolment"
PURPOSE = "school-enrolment"
ENROLMENT = "EDU-RXDJ-001"
KEY_PATH = "/audit/checkpoint/key"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoHub]:
    with demo_hub(tmp_path_factory.mktemp("hub")) as hub:
        yield hub


def sdk(
    served: DemoHub, *, transport: httpx.BaseTransport | None = None, **options: str
) -> tuple[TongbanClient, Recorder]:
    recorder = Recorder()
    http = httpx.Client(transport=transport, event_hooks={"request": [recorder]})
    return TongbanClient(served.base, EDU, served.key(), http=http, **options), recorder


def served_key(served: DemoHub) -> str:
    return httpx.get(f"{served.base}{KEY_PATH}", timeout=10).text.strip()


def ask_name(client: TongbanClient, served: DemoHub) -> AuditReceipt:
    return client.query(served.subject("no_property"), PURPOSE, attributes=["household.name"]).audit


@pytest.fixture(scope="module")
def receipt(served: DemoHub) -> AuditReceipt:
    """A verified receipt of an entry that is not the log's first (its proof is not empty)."""
    client, _ = sdk(served)
    ask_name(client, served)
    found = ask_name(client, served)
    assert found.index >= 1
    assert found.inclusion_proof
    return found


def test_a_querys_receipt_verifies_with_the_sdk_against_the_served_key(served: DemoHub) -> None:
    client, recorder = sdk(served)
    result = client.query(served.subject("has_property"), PURPOSE, service_item=ENROLMENT)
    receipt = result.audit
    assert receipt.tree_size > receipt.index
    assert result.evidence_claims is not None
    assert result.evidence_claims["audit"]["checkpoint"] == receipt.checkpoint  # signed twice
    assert client.verify_receipt(receipt) == receipt
    # the same, by the hub's own library: the note verifies with the served key ...
    key = served_key(served)
    checkpoint = parse_vkey(key).verify(receipt.checkpoint, origin=key.split("+")[0])
    assert checkpoint.size == receipt.tree_size
    # ... and the proof leads from the leaf to the note's root
    proof = [base64.b64decode(h) for h in receipt.inclusion_proof]
    leaf = base64.b64decode(receipt.leaf_hash)
    assert merkle.verify_inclusion(leaf, receipt.index, checkpoint.size, proof, checkpoint.root)
    # a verify's receipt is checked too, and the key was fetched once for all of them
    checked = client.verify(served.subject("has_property"), PURPOSE, {"household.name": "某某"})
    assert checked.audit.index > receipt.index
    assert recorder.count(KEY_PATH) == 1


def test_a_pinned_key_is_used_without_asking_the_hub(served: DemoHub) -> None:
    client, recorder = sdk(served, checkpoint_key=served_key(served))
    assert ask_name(client, served).checkpoint
    assert recorder.count(KEY_PATH) == 0


def test_a_refusals_receipt_verifies_too(served: DemoHub) -> None:
    client, _ = sdk(served)
    with pytest.raises(TongbanClientError) as raised:
        client.query(served.subject("has_property"), "marketing", attributes=["household.name"])
    refused = raised.value
    assert (refused.status, refused.code) == (403, "purpose_not_registered")
    receipt = client.verify_receipt(refused.body["audit"], request_id=refused.request_id)
    assert receipt.tree_size > receipt.index


# -- tampered receipts ---------------------------------------------------------------------

IMPOSTOR = Ed25519PrivateKey.generate()
Tamper = Callable[[AuditReceipt, str], AuditReceipt]


def _flip(hash_b64: str) -> str:
    raw = bytearray(base64.b64decode(hash_b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _unverified(note: str) -> Checkpoint:
    """The checkpoint a note holds, read without checking its signature."""
    origin, size, root = note.split("\n")[:3]
    return Checkpoint(origin, int(size), base64.b64decode(root))


def _resigned(receipt: AuditReceipt, name: str, *, size: int | None = None) -> str:
    """The receipt's checkpoint signed again by the impostor's key under *name*."""
    found = _unverified(receipt.checkpoint)
    return NoteSigner(name, IMPOSTOR).sign(
        Checkpoint(found.origin, found.size if size is None else size, found.root)
    )


def flipped_proof_hash(r: AuditReceipt, _key: str) -> AuditReceipt:
    return dataclasses.replace(
        r, inclusion_proof=(_flip(r.inclusion_proof[0]), *r.inclusion_proof[1:])
    )


def dropped_proof_hash(r: AuditReceipt, _key: str) -> AuditReceipt:
    return dataclasses.replace(r, inclusion_proof=r.inclusion_proof[:-1])


def another_leaf(r: AuditReceipt, _key: str) -> AuditReceipt:
    return dataclasses.replace(r, leaf_hash=_flip(r.leaf_hash))


def another_index(r: AuditReceipt, _key: str) -> AuditReceipt:
    return dataclasses.replace(r, index=r.index - 1)


def grown_note(r: AuditReceipt, _key: str) -> AuditReceipt:
    """The note's tree size edited (and the receipt's with it): the signature no longer holds."""
    origin, size, rest = r.checkpoint.split("\n", 2)
    return dataclasses.replace(
        r, tree_size=int(size) + 1, checkpoint=f"{origin}\n{int(size) + 1}\n{rest}"
    )


def flipped_signature(r: AuditReceipt, _key: str) -> AuditReceipt:
    body, signature = r.checkpoint.rsplit(" ", 1)
    blob = bytearray(base64.b64decode(signature))
    blob[-1] ^= 1
    return dataclasses.replace(r, checkpoint=f"{body} {base64.b64encode(bytes(blob)).decode()}\n")


def forged_key_id(r: AuditReceipt, key: str) -> AuditReceipt:
    """Signed by another key under the hub's name, the hub's key id put in front."""
    name, key_id = key.split("+")[:2]
    note = _resigned(r, name)
    body, signature = note.rsplit(" ", 1)
    blob = bytes.fromhex(key_id) + base64.b64decode(signature)[4:]
    return dataclasses.replace(r, checkpoint=f"{body} {base64.b64encode(blob).decode()}\n")


def impostors_key(r: AuditReceipt, key: str) -> AuditReceipt:
    return dataclasses.replace(r, checkpoint=_resigned(r, key.split("+")[0]))


def no_checkpoint(r: AuditReceipt, _key: str) -> AuditReceipt:
    return dataclasses.replace(r, checkpoint="")


def other_size(r: AuditReceipt, _key: str) -> AuditReceipt:
    return dataclasses.replace(r, tree_size=r.tree_size + 1)


def size_below_index(r: AuditReceipt, _key: str) -> AuditReceipt:
    return dataclasses.replace(r, tree_size=r.index)


def malformed_hash(r: AuditReceipt, _key: str) -> AuditReceipt:
    return dataclasses.replace(r, leaf_hash=r.leaf_hash[:-2])


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (flipped_proof_hash, "inclusion proof does not lead to the checkpoint's root"),
        (dropped_proof_hash, "inclusion proof does not lead to the checkpoint's root"),
        (another_leaf, "inclusion proof does not lead to the checkpoint's root"),
        (another_index, "inclusion proof does not lead to the checkpoint's root"),
        (grown_note, "checkpoint's signature does not verify"),
        (flipped_signature, "checkpoint's signature does not verify"),
        (forged_key_id, "checkpoint's signature does not verify"),
        (impostors_key, "checkpoint is not signed by the hub's key"),
        (no_checkpoint, "carries no signed checkpoint"),
        (other_size, "checkpoint is not of the receipt's size"),
        (size_below_index, "tree does not hold its entry"),
        (malformed_hash, "hashes are malformed"),
    ],
)
def test_a_tampered_receipt_is_refused_in_plain_words(
    served: DemoHub, receipt: AuditReceipt, tamper: Tamper, says: str
) -> None:
    key = served_key(served)
    client, _ = sdk(served, checkpoint_key=key)
    assert client.verify_receipt(receipt) == receipt
    with pytest.raises(EvidenceError) as raised:
        client.verify_receipt(tamper(receipt, key), request_id="r-1")
    assert says in str(raised.value)
    assert raised.value.code == "invalid_evidence"
    assert raised.value.request_id == "r-1"


def test_a_note_of_another_log_is_refused_even_by_its_own_key(
    served: DemoHub, receipt: AuditReceipt
) -> None:
    other = NoteSigner("other.example/log", IMPOSTOR)
    client, _ = sdk(served, checkpoint_key=other.vkey())
    resigned = dataclasses.replace(
        receipt, checkpoint=_resigned(receipt, "other.example/log")
    )  # the hub's origin line, the other log's key
    with pytest.raises(EvidenceError, match="checkpoint is for another log"):
        client.verify_receipt(resigned)


def test_a_client_holding_another_key_refuses_the_hubs_answers(served: DemoHub) -> None:
    name = served_key(served).split("+")[0]
    client, recorder = sdk(served, checkpoint_key=NoteSigner(name, IMPOSTOR).vkey())
    with pytest.raises(EvidenceError, match="checkpoint is not signed by the hub's key"):
        ask_name(client, served)
    assert recorder.count(KEY_PATH) == 0  # a pinned key is never replaced


def test_a_served_key_that_signs_no_note_is_refused_then_fetched_again_once(
    served: DemoHub,
) -> None:
    name = served_key(served).split("+")[0]
    served_keys = [NoteSigner(name, IMPOSTOR).vkey(), served_key(served)]  # swapped, then put right
    real = httpx.HTTPTransport()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == KEY_PATH:
            return httpx.Response(200, text=served_keys.pop(0) + "\n")
        return real.handle_request(request)

    client, recorder = sdk(served, transport=httpx.MockTransport(handle))
    with pytest.raises(EvidenceError, match="checkpoint is not signed by the hub's key"):
        ask_name(client, served)
    assert recorder.count(KEY_PATH) == 1
    assert ask_name(client, served).checkpoint  # the cached key signs nothing: asked again
    assert ask_name(client, served).checkpoint
    assert recorder.count(KEY_PATH) == 2


def test_a_receipt_edited_in_the_answer_is_refused_by_the_evidence(served: DemoHub) -> None:
    def grow(body: dict[str, object]) -> None:
        audit = body["audit"]
        assert isinstance(audit, dict)
        audit["tree_size"] += 1

    client, _ = sdk(served, transport=tampering("/exchange/query", grow))
    with pytest.raises(EvidenceError, match="audit does not match"):
        ask_name(client, served)


# -- an answered entry removed -------------------------------------------------------------


def test_an_entry_cut_off_the_log_leaves_its_holder_a_note_no_later_checkpoint_extends(
    tmp_path: Path,
) -> None:
    with demo_hub(tmp_path / "hub") as served:
        client, _ = sdk(served)
        earlier = ask_name(client, served)
        kept = ask_name(client, served)  # the newest entry: the tail of old
        engine = make_engine(f"sqlite:///{served.workdir}/var/tongban.db")
        try:
            with engine.begin() as connection:  # the operator drops what stands in the way
                for table in ("audit_entries", "audit_nodes", "audit_map_nodes"):
                    connection.execute(text(f"DROP TRIGGER {table}_no_delete"))
            cut_the_tail(engine)
        finally:
            engine.dispose()
        for _ in range(3):  # the hub carries on, signing receipts of a tree without it
            assert client.verify_receipt(ask_name(client, served))
        staff = served.id_token("auditor-1", "auditor")
        signed = httpx.post(
            f"{served.base}/audit/checkpoint",
            headers={"authorization": f"Bearer {staff}"},
            timeout=10,
        )
        assert signed.status_code == 200, signed.text
        key = parse_vkey(served_key(served))
        now = key.verify(signed.text)
        holder = key.verify(client.verify_receipt(kept).checkpoint)  # still a valid signature

        def extends(old: Checkpoint) -> bool:
            answer = httpx.get(
                f"{served.base}/audit/proof/consistency",
                params={"from": old.size, "to": now.size},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            proof = [base64.b64decode(h) for h in answer.json()["proof"]]
            return merkle.verify_consistency(old.size, now.size, proof, old.root, now.root)

        assert now.size == holder.size + 2
        assert not extends(holder)  # the hub can show no tree that extends the holder's note
        assert extends(key.verify(earlier.checkpoint))  # an untouched receipt's note it can
