"""The subject map's verifier in the browser (``vmap.js``), run in headless Chromium against the
hub's Python verifier (``exchange.audit.vmap``): the pinned vector of ``tests/audit/test_vmap.py``,
every single-byte change of its proofs, changed lists, and a batch of random cases on which both
must give the same answer. Also ``merkle.js``'s checkpoint parser keeps a note's extension lines
(the subject map's root line among them)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.audit import vmap
from exchange.audit.checkpoint import Checkpoint, NoteSigner
from exchange.audit.vmap import EMPTY, Leaf, Proof
from tests.audit.test_vmap import (
    LEAF,
    VECTOR,
    VECTOR_SUBJECTS,
    Log,
    Memory,
    changed_bytes,
    flip_bit,
    fold,
    log_leaf,
    map_of_leaves,
    pseudonym,
    sha,
)
from tests.console.conftest import Tab
from tests.profiles import GM, only_under

pytestmark = [pytest.mark.serves]

SHA256_VECTOR = only_under(
    "intl",
    "the pinned vector's root and proofs are SHA-256 values (gm: security/gm/test_vmap_gm.py)",
)

VECTOR_SIZE = len(VECTOR_SUBJECTS)
VECTOR_ROOT = bytes.fromhex(str(VECTOR["root"]))

# Runs a list of cases through vmap.js; each case names its check and carries hex strings.
RUN = """async ([cases, gm]) => {
  const v = await import("/console/assets/js/vmap.js");
  const m = await import("/console/assets/js/merkle.js");
  const hash = gm ? m.sm3Hash : m.sha256;  // as the console picks it by the log key's type
  const hex = (s) => Uint8Array.from(s.match(/../g) || [], (pair) => parseInt(pair, 16));
  const out = [];
  for (const c of cases) {
    const root = hex(c.root);
    const key = c.pseudonym === undefined ? hex(c.key) : await v.subjectKey(c.pseudonym, hash);
    const proof = hex(c.proof);
    if (c.check === "complete") {
      const entries = c.entries.map(([index, leaf]) => ({ index, leaf: hex(leaf) }));
      out.push(await v.verifyComplete(root, key, entries, proof, c.size, hash));
    } else if (c.check === "inclusion") {
      out.push(await v.verifyInclusion(root, key, hex(c.value), proof, hash));
    } else {
      out.push(await v.verifyNonInclusion(root, key, proof, hash));
    }
  }
  return out;
}"""


def run(tab: Tab, cases: list[dict[str, Any]]) -> list[bool]:
    tab.open("/console")
    results: list[bool] = tab.page.evaluate(RUN, [cases, GM])
    assert len(results) == len(cases)
    return results


def complete_case(
    root: bytes, subject: str, entries: list[tuple[int, bytes]], proof: bytes, size: int | None
) -> dict[str, Any]:
    return {
        "check": "complete",
        "root": root.hex(),
        "pseudonym": subject,
        "entries": [[index, leaf.hex()] for index, leaf in entries],
        "proof": proof.hex(),
        "size": size,
    }


def vector_case(subject: int, proof: bytes | None = None, **changes: Any) -> dict[str, Any]:
    """Subject *subject* of the pinned vector, its whole list at size 10, with *changes*."""
    entries = Log(VECTOR_SUBJECTS).entries(subject, VECTOR_SIZE)
    case = complete_case(
        VECTOR_ROOT, pseudonym(subject), entries, proof or bytes.fromhex(VECTOR[subject]), 10
    )
    return {**case, **changes}


@SHA256_VECTOR
def test_vmap_js_reproduces_the_pinned_vector(tab: Tab) -> None:
    log = Log(VECTOR_SUBJECTS)
    tab.open("/console")
    found = tab.page.evaluate(
        """async (subjects) => {
          const v = await import("/console/assets/js/vmap.js");
          const hex = (s) => Uint8Array.from(s.match(/../g) || [], (p) => parseInt(p, 16));
          const text = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
          const out = [];
          for (const s of subjects) {
            const entries = s.entries.map(([index, leaf]) => ({ index, leaf: hex(leaf) }));
            const value = await v.valueOf(entries);
            out.push({ key: text(await v.subjectKey(s.pseudonym)), chain: text(value.chain),
                       value: text(value.hash), count: value.count, last: value.lastIndex });
          }
          return out;
        }""",
        [
            {"pseudonym": pseudonym(s), "entries": [[i, h.hex()] for i, h in log.entries(s, 10)]}
            for s in range(8)
        ],
    )
    for subject, js in enumerate(found):
        value = vmap.value_of(log.entries(subject, VECTOR_SIZE))
        assert js["key"] == vmap.subject_key(pseudonym(subject)).hex()
        assert (js["chain"], js["value"]) == (value.chain.hex(), value.hash.hex())
        assert (js["count"], js["last"]) == (value.count, value.last_index)
    # Subject 0's proof ends in its own leaf; 5's in subject 1's leaf; 7's in an empty subtree.
    assert run(tab, [vector_case(subject) for subject in (0, 5, 7)]) == [True, True, True]


@SHA256_VECTOR
def test_every_single_byte_change_of_a_vector_proof_is_refused(tab: Tab) -> None:
    cases = [
        vector_case(subject, bad)
        for subject in (0, 5, 7)
        for bad in changed_bytes(bytes.fromhex(VECTOR[subject]))
    ]
    assert len(cases) > 1000
    results = run(tab, cases)
    assert not any(results), [c["proof"] for c, ok in zip(cases, results, strict=True) if ok]


@SHA256_VECTOR
def test_a_dropped_added_or_reordered_entry_or_another_root_is_refused(tab: Tab) -> None:
    log = Log(VECTOR_SUBJECTS)
    entries = log.entries(0, VECTOR_SIZE)  # indexes 0, 2, 5, 9
    assert [index for index, _ in entries] == [0, 2, 5, 9]
    listed = {
        "dropped": entries[:2] + entries[3:],
        "added": sorted([*entries, (3, log_leaf(3))]),
        "added_past_the_end": [*entries, (10, log_leaf(10))],
        "reordered": [entries[1], entries[0], *entries[2:]],
        "moved": [*entries[:3], (8, entries[3][1])],
        "another_leaf": [*entries[:3], (9, sha(entries[3][1]))],
        "repeated": [*entries, entries[-1]],
        "none": [],
        "someone_elses": log.entries(1, VECTOR_SIZE),
    }
    cases = [
        vector_case(0, entries=[[i, h.hex()] for i, h in claimed]) for claimed in listed.values()
    ]
    cases.append(vector_case(0, size=9))  # the last entry is not below a size of 9
    cases.append(vector_case(5, entries=[[4, log_leaf(4).hex()]]))  # 5 has no entries
    cases += [vector_case(s, root=flip_bit(VECTOR_ROOT, 37).hex()) for s in (0, 5, 7)]
    cases += [vector_case(0, pseudonym=pseudonym(1)), vector_case(7, pseudonym=pseudonym(5))]
    cases.append(vector_case(0, size=None))  # the control: without a size it still holds
    results = run(tab, cases)
    assert results[:-1] == [False] * (len(cases) - 1)
    assert results[-1] is True


def test_malformed_input_is_false_and_never_throws(tab: Tab) -> None:
    tab.open("/console")
    good = VECTOR[0]
    outcome = tab.page.evaluate(
        """async ({good, root, pseudonym}) => {
          const v = await import("/console/assets/js/vmap.js");
          const hex = (s) => Uint8Array.from(s.match(/../g) || [], (p) => parseInt(p, 16));
          const key = await v.subjectKey(pseudonym);
          const proof = hex(good);
          const r = hex(root);
          const leaf = new Uint8Array(32);
          const emptyMarked = hex("000008" + "01" + "00".repeat(32));
          const junk = [null, undefined, "", good, 0, [proof], {}, { siblings: "x", leaf: null },
                        { siblings: [new Uint8Array(31)], leaf: null }, new Uint8Array(0),
                        hex("020000"), hex("000101"), hex("00ffff"), emptyMarked];
          const out = [];
          for (const bad of junk) {
            out.push(await v.verifyComplete(r, key, [], bad));
            out.push(await v.verifyNonInclusion(r, key, bad));
            out.push(await v.verifyInclusion(r, key, leaf, bad));
            out.push(v.decodeProof(bad) !== null);
          }
          for (const entries of ["ab", null, [{ index: true, leaf }], [{ index: -1, leaf }],
                                 [{ index: 1.5, leaf }], [{ index: 2 ** 53, leaf }],
                                 [{ index: 0, leaf: leaf.slice(1) }], [[0, leaf]], [null],
                                 [{ index: 1, leaf }, { index: 1, leaf }]]) {
            out.push(await v.verifyComplete(r, key, entries, proof));
            out.push((await v.valueOf(entries)) !== null);
          }
          for (const size of [-1, 1.5, "10", true]) {
            out.push(await v.verifyComplete(r, key, [], proof, size));
          }
          const badPairs = [[null, key], [r.slice(1), key], [r, "a"], [r, key.slice(1)]];
          for (const [badRoot, badKey] of badPairs) {
            out.push(await v.verifyNonInclusion(badRoot, badKey, proof));
          }
          const decoded = v.decodeProof(proof);
          const control = await v.verifyInclusion(r, key, decoded.leaf.value, decoded);
          return { out, control };
        }""",
        {"good": good, "root": VECTOR_ROOT.hex(), "pseudonym": pseudonym(0)},
    )
    assert outcome["control"] is True  # a decoded proof is accepted as well as its bytes
    assert not any(outcome["out"]), outcome["out"]


def test_a_path_no_honest_map_has_is_refused_even_when_it_folds_to_the_root(tab: Tab) -> None:
    key, value, sibling = sha(b"k"), sha(b"v"), sha(b"s")
    paths = {
        "leaf_below_an_empty_sibling": ("inclusion", Proof((sibling, EMPTY), Leaf(key, value))),
        "empty_beside_an_empty_sibling": ("non_inclusion", Proof((sibling, EMPTY), None)),
        "leaf_off_its_path": ("non_inclusion", Proof((sibling,), Leaf(flip_bit(key, 0), value))),
        "the_control": ("non_inclusion", Proof((sibling,), Leaf(flip_bit(key, 1), value))),
    }
    cases = [
        {
            "check": check,
            "root": fold(key, proof).hex(),
            "key": key.hex(),
            "value": value.hex(),
            "proof": proof.encode().hex(),
        }
        for check, proof in paths.values()
    ]
    # Bytes that are not one proof: a zero sibling marked present, padding bits set, a trailing
    # byte, a short leaf, an unknown kind, a depth past 256, a bitmap cut short.
    for data in (
        b"\x01\x00\x02\x40" + bytes(32) + LEAF,
        b"\x00\x00\x02\xc1" + sha(b"a") + sha(b"b"),
        b"\x00\x00\x00\x00",
        b"\x01\x00\x00" + LEAF[:63],
        b"\x02\x00\x00",
        b"\x00\x01\x01",
        b"\x00\x00\x09\xff",
    ):
        for check in ("inclusion", "non_inclusion"):
            root = sha(b"any")
            cases.append(
                {"check": check, "root": root.hex(), "key": key.hex(), "value": value.hex()}
                | {"proof": data.hex()}
            )
    expected = [python_verdict(case) for case in cases]
    assert expected == [False, False, False, True] + [False] * 14
    assert run(tab, cases) == expected


def deep_keys(rng: random.Random) -> list[bytes]:
    """Keys that share long prefixes (down to all 255 first bits): deep paths, empty siblings."""
    keys = {rng.randbytes(32)}
    for _ in range(rng.randint(0, 8)):
        keys.add(flip_bit(rng.choice(sorted(keys)), rng.choice([rng.randrange(256), 255, 254])))
    keys.update(rng.randbytes(32) for _ in range(rng.randint(0, 6)))
    return sorted(keys)


def tampered(rng: random.Random, proof: bytes) -> bytes:
    at = rng.randrange(len(proof))
    return proof[:at] + bytes([proof[at] ^ (1 << rng.randrange(8))]) + proof[at + 1 :]


def random_cases(seed: int) -> list[dict[str, Any]]:
    """Complete lists of random logs (some changed), and proofs of presence and absence in maps
    of keys with long shared prefixes (some proofs changed)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    cases: list[dict[str, Any]] = []
    for _ in range(40):
        log = Log([rng.randrange(6) for _ in range(rng.randint(1, 25))])
        size = len(log.subjects)
        memory, root = map_of_leaves(log.leaves(size)), log.root(size)
        subject = rng.randrange(7)  # subject 6 never appears
        key = vmap.subject_key(pseudonym(subject))
        entries = log.entries(subject, size)
        proof = vmap.prove(memory.get, key).encode()
        cases.append(complete_case(root, pseudonym(subject), entries, proof, size))
        claimed = list(entries)
        if claimed and rng.random() < 0.5:
            claimed.pop(rng.randrange(len(claimed)))
        else:
            claimed = sorted([*claimed, (size + rng.randrange(3), log_leaf(size))])
        cases.append(complete_case(root, pseudonym(subject), claimed, proof, size))
        cases.append(complete_case(root, pseudonym(subject), entries, tampered(rng, proof), None))
    for _ in range(30):
        keys = deep_keys(rng)
        values = {k: sha(b"value", k) for k in keys}
        memory = Memory()
        root = vmap.update(memory.get, values, memory.put)
        present = rng.choice(keys)
        absent = flip_bit(rng.choice(keys), rng.choice([255, rng.randrange(256)]))
        for key in (present, absent):
            proof = vmap.prove(memory.get, key).encode()
            value = values.get(key, sha(b"value", key))
            for data in (proof, tampered(rng, proof)):
                for check in ("inclusion", "non_inclusion"):
                    cases.append(
                        {
                            "check": check,
                            "root": root.hex(),
                            "key": key.hex(),
                            "value": value.hex(),
                            "proof": data.hex(),
                        }
                    )
    return cases


def python_verdict(case: dict[str, Any]) -> bool:
    root, proof = bytes.fromhex(case["root"]), bytes.fromhex(case["proof"])
    if case["check"] == "complete":
        key = vmap.subject_key(case["pseudonym"])
        entries = [(index, bytes.fromhex(leaf)) for index, leaf in case["entries"]]
        return vmap.verify_complete(root, key, entries, proof, size=case["size"])
    key = bytes.fromhex(case["key"])
    if case["check"] == "inclusion":
        return vmap.verify_inclusion(root, key, bytes.fromhex(case["value"]), proof)
    return vmap.verify_non_inclusion(root, key, proof)


def test_vmap_js_agrees_with_python_on_random_cases(tab: Tab) -> None:
    cases = random_cases(seed=20261206)
    expected = [python_verdict(case) for case in cases]
    assert 0.2 < sum(expected) / len(cases) < 0.8  # both verdicts are well represented
    assert run(tab, cases) == expected


def test_parse_checkpoint_keeps_the_subject_maps_root_line(tab: Tab) -> None:
    signer = NoteSigner("tongban.test/log", Ed25519PrivateKey.generate())
    line = f"tongban/vmap/v1 {'A' * 43}="
    with_map = signer.sign(Checkpoint("tongban.test/log", 12, sha(b"root"), (line,)))
    without = signer.sign(Checkpoint("tongban.test/log", 12, sha(b"root")))
    tab.open("/console")
    parsed = tab.page.evaluate(
        """async (notes) => {
          const m = await import("/console/assets/js/merkle.js");
          return notes.map((note) => {
            const c = m.parseCheckpoint(note);
            return { size: c.size, extensions: c.extensions, text: c.text };
          });
        }""",
        [with_map, without],
    )
    assert parsed[0] == {"size": 12, "extensions": [line], "text": with_map.split("\n\n")[0] + "\n"}
    assert parsed[1]["extensions"] == []
