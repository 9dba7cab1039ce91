"""The hub's other keyed and plain hashes follow the crypto profile: an audit lifecycle entry's
artefact digest is SM3 and the verification budgets' argument tags HMAC-SM3 under ``gm``
(recomputed here with GmSSL), SHA-256 and HMAC-SHA-256 as before under ``intl``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator

import pytest
from gmssl_pyx import gmsslext

from exchange.audit import merkle
from exchange.audit.canonical import canonical_json
from exchange.audit.lifecycle import artefact_digest
from exchange.query.budget import BudgetLedger, VerifyBudget
from exchange.security.gm import GM, INTL
from exchange.security.secrets import KeySchedule, KeyUse
from exchange.security.subjects import Pseudonyms
from policies.model import Derivation

SECRET = "gm-keyed-hashes-secret-" + "z" * 24
RECEIPT = {"consent_id": "c-1", "purposes": ["school-enrolment"], "subject": "ab" * 32}


@pytest.fixture
def gm_log() -> Iterator[None]:
    merkle.use_profile(GM)
    try:
        yield
    finally:
        merkle.use_profile(INTL)


def test_an_artefact_digest_is_sm3_under_gm(gm_log: None) -> None:
    expected = base64.b64encode(gmsslext.sm3_hash(canonical_json(RECEIPT))).decode()
    assert artefact_digest(RECEIPT) == expected


def test_an_artefact_digest_is_sha256_under_intl() -> None:
    merkle.use_profile(INTL)
    expected = base64.b64encode(hashlib.sha256(canonical_json(RECEIPT)).digest()).decode()
    assert artefact_digest(RECEIPT) == expected


def test_budget_argument_tags_are_hmac_sm3_under_gm_and_hmac_sha256_under_intl() -> None:
    derivation = Derivation("resides_in", "330102")
    message = b"budget-argument:resides_in(330102)"
    gm = Pseudonyms.from_schedule(KeySchedule(SECRET, GM))
    tag = BudgetLedger(VerifyBudget(), gm.key, gm.mac).argument_tag(derivation)
    key = KeySchedule(SECRET, GM).key(KeyUse.SUBJECT_PSEUDONYM)
    assert tag == gmsslext.sm3_hmac(key, message).hex()[:32]
    intl = Pseudonyms.from_schedule(KeySchedule(SECRET, INTL))
    tag = BudgetLedger(VerifyBudget(), intl.key, intl.mac).argument_tag(derivation)
    assert tag == hmac.new(intl.key, message, hashlib.sha256).hexdigest()[:32]
    assert BudgetLedger(VerifyBudget(), intl.key).argument_tag(derivation) == tag
