"""The key schedule: every key derived from the master secret is in one table, and none moved.

A derived key protects data already written (pseudonyms in the audit log and consents, wrapped
signing keys, the cache, the checkpoint key witnesses know), so the values are pinned: they were
computed by the code before the schedule existed, and a change here orphans a deployed hub's data.
"""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from exchange.audit.checkpoints import CheckpointSigner
from exchange.security.custody import key_check_value
from exchange.security.errors import InvalidSubjectId
from exchange.security.secrets import SCHEDULE, KeySchedule, KeyUse, derive
from exchange.security.subjects import Pseudonyms, checked_resident_id
from exchange.sources.cache.crypto import CacheCrypto

SECRET = "k" * 8 + "pinned-test-secret-0123456789abcdef"
RESIDENT = "11010519491231002X"  # the GB 11643 example number
EXCHANGE = Path(__file__).resolve().parents[2] / "exchange"


def test_the_schedule_has_one_row_per_use_and_no_label_twice() -> None:
    assert set(SCHEDULE) == set(KeyUse)
    labels = [row.label for row in SCHEDULE.values()]
    assert len(set(labels)) == len(labels)
    assert all(row.protects for row in SCHEDULE.values())


@pytest.mark.parametrize(
    ("use", "pinned"),
    [
        (
            KeyUse.HUB_KEYS_AT_REST,
            "0de89778bdbb9c98fd6d4024fa922cf71f7c6a6333655a81125f24204a0e5b33",
        ),
        (
            KeyUse.DEV_IDP_SIGNING,
            "49e0d98666868d0be6e6c19ab4944ff55174e3789a2bd9f3f80c4cff69e405bd",
        ),
        (
            KeyUse.RELEASE_HASH,
            "0b94abfc9ccda78bed6826753bfa720afc2f2a453f2e3c069eeae1d007cdad12",
        ),
        (
            KeyUse.SECRET_CHECK_VALUE,
            "fcbe029cd4d6025f3dc38143b92fd0fcc6be2b478aae70c84c73b4b05a5b622c",
        ),
        (
            KeyUse.CORRECTION_SUBJECTS,
            "7eb682e1b91840ad40b051f8304c4eeb3a584f14f59eb00e2fce53fd12ba6cb3",
        ),
        (
            KeyUse.CORRECTION_FINGERPRINT,
            "d246a355eb09149af7c1d694dbfa03334ba5a7fbdddeddc904ff7e86e152b6a0",
        ),
        (
            KeyUse.SUBSCRIPTIONS_AT_REST,
            "622e626339803ef9f298d6ac46e3a24bdd7b2986ed2a026e55c2af72b5874f8c",
        ),
    ],
)
def test_derived_keys_are_the_ones_deployed_hubs_hold(use: KeyUse, pinned: str) -> None:
    assert KeySchedule(SECRET).key(use).hex() == pinned


def test_what_the_keys_protect_did_not_change() -> None:
    assert Pseudonyms.from_schedule(SECRET).of(RESIDENT) == (
        "dfb27049b117ff182ead9f0a45ff2bebaa79bc067ccdddd24eaea77858da7f6e"
    )
    assert CacheCrypto(SECRET).subject_mac("R-1", RESIDENT) == (
        "f86a93fb8ff0116e4918bcfe242fdc47f9db0f3f3b8128db2c9e828c2942f91b"
    )
    signer = CheckpointSigner(SECRET, "test.example/log", interval=timedelta(seconds=60))
    assert signer.vkey() == "test.example/log+6c868fda+AYb2+gx/Ybsjs/TkArnTfVnwUuuiJBxc14JkCQqqEepW"
    assert key_check_value(SECRET.encode(), bytes(8)).hex() == "7477fcf84a58"


def test_another_secret_gives_other_keys() -> None:
    for use in KeyUse:
        assert derive(b"one secret", use) != derive(b"another secret", use)


def _calls(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in names:
                found.append(f"{path.relative_to(EXCHANGE.parent)}:{node.lineno} {name}")
    return found


def test_no_module_but_the_schedule_derives_a_key_from_the_secret() -> None:
    """HKDF appears only in the schedule; a new derivation elsewhere is a second schedule."""
    strays = [
        call
        for path in sorted(EXCHANGE.rglob("*.py"))
        if path.name != "secrets.py"
        for call in _calls(path, {"HKDF"})
    ]
    assert strays == []


def test_a_resident_id_is_checked_once_and_never_echoed() -> None:
    assert checked_resident_id(RESIDENT.lower()) == RESIDENT
    pseudonyms = Pseudonyms.from_schedule(SECRET)
    assert pseudonyms.of(RESIDENT.lower()) == pseudonyms.of(RESIDENT)
    wrong = RESIDENT[:-1] + "1"
    with pytest.raises(InvalidSubjectId) as caught:
        pseudonyms.of(wrong, pointer="/subject")
    assert wrong not in str(caught.value.problem())
    assert caught.value.problem()["errors"] == [{"pointer": "/subject", "detail": "checksum"}]
    with pytest.raises(InvalidSubjectId, match="id_type must be CN-RIC"):
        pseudonyms.of(RESIDENT, id_type="passport")


def test_pseudonyms_are_computed_in_one_place() -> None:
    """Every HMAC over an ID number is in security/subjects.py: a copy elsewhere that drifts
    would silently stop a citizen's consents or access list from matching."""
    strays = []
    for path in sorted(EXCHANGE.rglob("*.py")):
        text = path.read_text("utf-8")
        if path.name != "subjects.py" and ("CN-RIC:" in text or "{ID_TYPE}:" in text):
            strays.append(str(path))
    assert strays == []
