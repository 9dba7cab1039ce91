"""Data at rest under the crypto profile: the source cache, the sealed ID numbers of correction
requests and the subscription outbox are SM4-GCM with HMAC-SM3 under ``gm`` (opened here with
GmSSL, which shares no code with the hub's ``cryptography``), refuse anything altered, and stay
byte for byte what they were under ``intl`` (AES-256-GCM, HMAC-SHA-256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from gmssl_pyx import gmsslext
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from catalogue.identifiers import make_resident_id
from exchange.corrections.models import Correction
from exchange.db import unit_of_work
from exchange.hub import Hub
from exchange.security.gm import GM, INTL, CiphertextInvalid
from exchange.security.secrets import KeySchedule
from exchange.settings import Settings
from exchange.sources.cache.crypto import CacheCrypto, record_aad
from exchange.sources.cache.models import CacheDataKey, CacheRecord, CacheSyncState
from exchange.sources.cache.reader import SourceCache
from exchange.sources.cache.sync import CacheSync
from exchange.sources.errors import CacheIntegrityError
from exchange.sources.registry import SourceRegistry
from tests import factories
from tests.cache.conftest import RESOURCE, adapters_document, make_table

SUBJECTS = [make_resident_id("330102", date(1990, 1, d), 40 + d) for d in range(1, 4)]
EMPLOYERS = ["杭州望江数据服务有限公司", "演示市第一人民医院", "望江小学"]


def _hkdf(hash_: hashes.HashAlgorithm, info: bytes, length: int) -> bytes:
    """The key schedule's HKDF row, computed here from the documented parameters."""
    secret = factories.dev_secret().encode()
    return HKDF(algorithm=hash_, length=32, salt=b"tongban", info=info).derive(secret)[:length]


def _intl(settings: Settings) -> Settings:
    """*settings* under ``intl``, whatever the suite's profile (these hubs only seal)."""
    return settings.model_copy(update={"crypto_profile": "intl"})


def _sm4_gcm_open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """GmSSL's SM4-GCM on ``nonce (12) ‖ ciphertext ‖ tag (16)``."""
    plain: bytes = gmsslext.sm4_gcm_decrypt(key, blob[:12], aad, blob[12:-16], blob[-16:])
    return plain


def _synced(sessions: sessionmaker[Session], tmp_path: Path, crypto: CacheCrypto) -> SourceRegistry:
    legacy = make_table(tmp_path / "hrss-legacy.sqlite")
    legacy.insert(
        [(s, "2", 360 + i, e, 1) for i, (s, e) in enumerate(zip(SUBJECTS, EMPLOYERS, strict=True))]
    )
    legacy.engine.dispose()
    sources = SourceRegistry.from_document(adapters_document(legacy.url))
    CacheSync(sessions, sources, crypto, batch_rows=10).run(RESOURCE)
    return sources


def test_the_cache_is_sm4_gcm_and_hmac_sm3_under_gm(
    sessions: sessionmaker[Session], demo_catalogue: None, tmp_path: Path
) -> None:
    crypto = CacheCrypto(KeySchedule(factories.dev_secret(), GM))
    sources = _synced(sessions, tmp_path, crypto)
    kek = _hkdf(hashes.SM3(), b"tongban source-cache key-encryption key v1", 16)
    subject_key = _hkdf(hashes.SM3(), b"tongban source-cache subject pseudonyms v1", 32)
    content_key = _hkdf(hashes.SM3(), b"tongban source-cache content macs v1", 32)
    with unit_of_work(sessions) as session:
        state = session.get(CacheSyncState, RESOURCE)
        assert state is not None
        wrapped = session.get(CacheDataKey, (state.department, 1))
        assert wrapped is not None
        blob = bytes(wrapped.wrapped_key)
        records = {r.subject: r for r in session.scalars(select(CacheRecord))}
    assert len(blob) == 12 + 16 + 16  # nonce ‖ SM4-GCM(16-byte SM4 data key) ‖ tag
    data_key = _sm4_gcm_open(kek, blob, f"dk\x00{state.department}\x001".encode())
    assert len(data_key) == 16
    for subject, employer in zip(SUBJECTS, EMPLOYERS, strict=True):
        mac = gmsslext.sm3_hmac(subject_key, f"{RESOURCE}\x00{subject}".encode()).hex()
        row = records[mac]
        plain = _sm4_gcm_open(data_key, bytes(row.sealed), record_aad(RESOURCE, mac, 0, 1))
        assert json.loads(plain)["current_employer_name"] == employer
        content = f"{RESOURCE}\x00{mac}\x00".encode() + plain
        assert row.content_mac == gmsslext.sm3_hmac(content_key, content).hex()
    reader = SourceCache(sessions, sources, crypto)
    found, _ = reader.read(RESOURCE, SUBJECTS[0], ["current_employer_name"])
    assert found[0].values == {"current_employer_name": EMPLOYERS[0]}
    sources.close()


def test_an_altered_cache_record_or_data_key_is_refused_under_gm(
    sessions: sessionmaker[Session], demo_catalogue: None, tmp_path: Path
) -> None:
    crypto = CacheCrypto(KeySchedule(factories.dev_secret(), GM))
    sources = _synced(sessions, tmp_path, crypto)
    mac = crypto.subject_mac(RESOURCE, SUBJECTS[1])
    with unit_of_work(sessions, write=True) as session:
        row = session.get(CacheRecord, (RESOURCE, mac, 0))
        assert row is not None
        altered = bytearray(row.sealed)
        altered[20] ^= 0x01
        row.sealed = bytes(altered)
    with pytest.raises(CacheIntegrityError, match="does not authenticate"):
        SourceCache(sessions, sources, crypto).read(RESOURCE, SUBJECTS[1], ["status"])
    with unit_of_work(sessions, write=True) as session:
        original_key = bytes(session.scalars(select(CacheDataKey.wrapped_key)).one())
        session.execute(update(CacheDataKey).values(wrapped_key=b"\x00" * 44))
    with pytest.raises(CacheIntegrityError, match="does not unwrap"):
        SourceCache(sessions, sources, crypto).read(RESOURCE, SUBJECTS[0], ["status"])
    intl = CacheCrypto(KeySchedule(factories.dev_secret(), INTL))
    with pytest.raises(CacheIntegrityError, match="does not unwrap"):  # an intl KEK: nothing
        intl.unwrap(state_department(sessions), 1, original_key)
    sources.close()


def test_the_cache_under_intl_is_aes_256_gcm_and_hmac_sha256_as_before(
    sessions: sessionmaker[Session], demo_catalogue: None, tmp_path: Path
) -> None:
    crypto = CacheCrypto(factories.dev_secret())
    _synced(sessions, tmp_path, crypto).close()
    kek = _hkdf(hashes.SHA256(), b"tongban source-cache key-encryption key v1", 32)
    subject_key = _hkdf(hashes.SHA256(), b"tongban source-cache subject pseudonyms v1", 32)
    with unit_of_work(sessions) as session:
        (wrapped,) = session.scalars(select(CacheDataKey)).all()
        blob, department = bytes(wrapped.wrapped_key), wrapped.department
        mac = hmac.new(subject_key, f"{RESOURCE}\x00{SUBJECTS[0]}".encode(), hashlib.sha256)
        row = session.get(CacheRecord, (RESOURCE, mac.hexdigest(), 0))
        assert row is not None
        sealed = bytes(row.sealed)
    assert len(blob) == 12 + 32 + 16
    data_key = AESGCM(kek).decrypt(blob[:12], blob[12:], f"dk\x00{department}\x001".encode())
    plain = AESGCM(data_key).decrypt(
        sealed[:12], sealed[12:], record_aad(RESOURCE, mac.hexdigest(), 0, 1)
    )
    assert json.loads(plain)["current_employer_name"] == EMPLOYERS[0]


def state_department(sessions: sessionmaker[Session]) -> str:
    with unit_of_work(sessions) as session:
        state = session.get(CacheSyncState, RESOURCE)
        assert state is not None
        return state.department


@pytest.fixture
def gm_hub(settings: Settings) -> Hub:
    return Hub(settings.model_copy(update={"crypto_profile": "gm"}))


def test_a_correction_requests_id_number_is_sm4_gcm_and_its_fingerprint_hmac_sm3_under_gm(
    gm_hub: Hub,
) -> None:
    desk = gm_hub.corrections
    number = SUBJECTS[0]
    sealed = desk._sealed("corr-1", number)
    key = _hkdf(hashes.SM3(), b"tongban correction subjects at rest v1", 16)
    assert _sm4_gcm_open(key, sealed, b"corr-1") == number.encode()
    row = Correction(id="corr-1", subject_sealed=sealed)
    assert desk.subject_of(row) == number
    for altered in (sealed[:-1] + bytes([sealed[-1] ^ 1]), sealed[:20]):
        with pytest.raises(CiphertextInvalid):
            desk.subject_of(Correction(id="corr-1", subject_sealed=altered))
    with pytest.raises(CiphertextInvalid):  # moved to another request
        desk.subject_of(Correction(id="corr-2", subject_sealed=sealed))
    secret = factories.dev_secret().encode()
    fingerprint_key = gmsslext.sm3_hmac(secret, b"tongban correction fingerprints v1")
    text = json.dumps(
        {"correction": "corr-1", "attribute": "household.name", "values": ["张三"]},
        sort_keys=True,
        ensure_ascii=False,
    )
    expected = base64.b64encode(gmsslext.sm3_hmac(fingerprint_key, text.encode())).decode()
    assert desk._fingerprint("corr-1", "household.name", ["张三"]) == expected


def test_a_correction_requests_id_number_under_intl_is_aes_256_gcm_as_before(
    settings: Settings,
) -> None:
    desk = Hub(_intl(settings)).corrections
    sealed = desk._sealed("corr-1", SUBJECTS[0])
    key = _hkdf(hashes.SHA256(), b"tongban correction subjects at rest v1", 32)
    assert AESGCM(key).decrypt(sealed[:12], sealed[12:], b"corr-1") == SUBJECTS[0].encode()


def test_the_outbox_is_sm4_gcm_under_gm_and_refuses_what_was_altered(gm_hub: Hub) -> None:
    seal = gm_hub.outbox_seal
    key = _hkdf(hashes.SM3(), b"tongban subscription outbox at rest v1", 16)
    sealed = seal.seal_event("sub-1", "ev-1", {"household.name": "张三"})
    plain = _sm4_gcm_open(key, sealed, b"event\x00sub-1\x00ev-1")
    assert json.loads(plain) == {"household.name": "张三"}
    assert seal.open_event("sub-1", "ev-1", sealed) == {"household.name": "张三"}
    secret = seal.seal_secret("sub-1", "whsec-一")
    assert _sm4_gcm_open(key, secret, b"secret\x00sub-1") == "whsec-一".encode()
    with pytest.raises(CiphertextInvalid):
        seal.open_event("sub-1", "ev-2", sealed)  # another event's row
    with pytest.raises(CiphertextInvalid):
        seal.open_secret("sub-1", secret[:-1] + bytes([secret[-1] ^ 0x80]))


def test_the_outbox_under_intl_is_aes_256_gcm_as_before(settings: Settings) -> None:
    sealed = Hub(_intl(settings)).outbox_seal.seal_event("sub-1", "ev-1", {"a": 1})
    key = _hkdf(hashes.SHA256(), b"tongban subscription outbox at rest v1", 32)
    plain = AESGCM(key).decrypt(sealed[:12], sealed[12:], b"event\x00sub-1\x00ev-1")
    assert plain == b'{"a":1}'
