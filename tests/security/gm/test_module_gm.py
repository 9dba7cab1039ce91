"""A certified module stands in for the software SM2 signer (docs/gm.md, "A certified module"):
``TONGBAN_SM2_MODULE`` names a factory, and the key store and the checkpoint signer sign through
it without a change to the hub's code. The module of these tests (``openssl_module``) keeps its
keys in PEM files of its own directory and signs in another process (the OpenSSL 3 command
line): a served ``gm`` demo hub on it publishes the module's key in its JWKS and its checkpoint
key as the log key, its evidence and checkpoints verify with OpenSSL against those, and every
signature was made by OpenSSL. A module that cannot be started, hands back another key than
the stored one, or signs unverifiably stops the hub; a module under ``intl`` is refused."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from exchange.security.errors import HubKeyUnavailable
from exchange.security.gm import Sm2PublicKey, SoftwareSm2Signer
from exchange.security.gm.module import MODULE_HANDLE, load_module, module_signer
from exchange.security.keys import sm2_module_of
from exchange.settings import Settings
from tests.security.gm.openssl_module import OpensslModule
from tests.security.gm.test_gm_hub_http import (
    SM2_NOTE_TYPE,
    _jwks_point,
    _jws_parts,
    _openssl_verifies,
)
from tests.security.gm.test_interop import _openssl
from tests.servers import (
    DemoHub,
    _demo_template,
    _url,
    copy_demo,
    dev_environment,
    free_port,
    serving,
)

REPOSITORY = Path(__file__).resolve().parents[3]
FACTORY = "tests.security.gm.openssl_module:module"
CHECKPOINT_KEY = "tongban-audit-checkpoint"


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sm2-module")
    directory.chmod(0o700)
    _openssl()  # skips without OpenSSL 3
    OpensslModule(directory).generate(CHECKPOINT_KEY)  # provisioned before the hub starts
    return directory


@pytest.fixture(scope="module")
def module_hub(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[DemoHub]:
    """As :func:`tests.servers.demo_hub`, with more time to come up: every signature of the
    demo's build and of the hub's start is an OpenSSL process, slow on a loaded machine."""
    pythonpath = os.pathsep.join(p for p in (str(REPOSITORY), os.environ.get("PYTHONPATH")) if p)
    port = free_port()
    settings = {
        **_url(port),
        "TONGBAN_CRYPTO_PROFILE": "gm",
        "TONGBAN_SM2_MODULE": FACTORY,
        "TONGBAN_TEST_SM2_KEYS": str(keys_dir),
        "PYTHONPATH": pythonpath,
    }
    workdir = tmp_path_factory.mktemp("gm-module-hub")
    copy_demo(_demo_template(port, 30, False, settings), workdir)
    with serving(workdir, dev_environment(**settings), port=port, within_s=120) as base:
        manifest = json.loads((workdir / "var/demo/demo.json").read_text("utf-8"))
        yield DemoHub(base, workdir, manifest)


def _point_of(keys_dir: Path, label: str) -> bytes:
    return OpensslModule(keys_dir).signer(label).public_key.uncompressed


def test_the_hub_signs_evidence_and_checkpoints_in_the_module(
    module_hub: DemoHub, keys_dir: Path, tmp_path: Path
) -> None:
    with module_hub.client() as client:  # the SDK verifies the evidence and the receipt
        client.query(module_hub.subject("no_property"), "school-enrolment",
                     service_item="EDU-RXDJ-001")  # fmt: skip
    token = module_hub.system_token()
    answer = httpx.post(
        f"{module_hub.base}/exchange/query",
        json={
            "subject": {"id_type": "CN-RIC", "id": module_hub.subject("no_property")},
            "purpose": "school-enrolment",
            "attributes": ["household.name"],
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ).json()

    # The evidence's key is a key of the module's directory, and OpenSSL verifies it.
    header, signing_input, signature = _jws_parts(answer["evidence"])
    point = _jwks_point(module_hub, header["kid"])
    hub_keys = sorted(p.stem for p in keys_dir.glob("tongban-hub-key-*.pem"))
    assert [label for label in hub_keys if _point_of(keys_dir, label) == point] != []
    assert _openssl_verifies(tmp_path, point, signature, signing_input)
    assert not _openssl_verifies(tmp_path, point, signature, signing_input + b" ")

    # The log's key is the module's checkpoint key; the answer's checkpoint verifies with it.
    vkey = httpx.get(f"{module_hub.base}/audit/checkpoint/key", timeout=10).text.strip()
    typed = base64.b64decode(vkey.split("+", 2)[2])
    assert typed == SM2_NOTE_TYPE + _point_of(keys_dir, CHECKPOINT_KEY)
    text, _, lines = answer["audit"]["checkpoint"].rpartition("\n\n")
    name = vkey.split("+")[0]
    (line,) = [s for s in lines.splitlines() if s.startswith(f"— {name} ")]
    blob = base64.b64decode(line.rsplit(" ", 1)[1])
    assert _openssl_verifies(
        tmp_path, typed[len(SM2_NOTE_TYPE) :], blob[4:], (text + "\n").encode()
    )

    # Every signature came out of the module's process: both keys signed there.
    signed = (keys_dir / "signatures.log").read_text("utf-8").split()
    assert CHECKPOINT_KEY in signed
    assert any(label.startswith("tongban-hub-key-") for label in signed)


def test_the_key_store_keeps_the_modules_label_not_a_private_key(
    module_hub: DemoHub, keys_dir: Path
) -> None:
    """The hub's database (dev mode: its secret in var/secret.key) holds, sealed, only the
    module's labels of its signing keys."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from exchange.security.gm.profile import GM
    from exchange.security.models import HubSigningKey
    from exchange.security.secrets import KeySchedule, KeyUse

    database = next(module_hub.workdir.glob("var/*.db"))
    secret = (module_hub.workdir / "var/secret.key").read_text("utf-8").strip()
    engine = create_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            rows = session.scalars(select(HubSigningKey)).all()
    finally:
        engine.dispose()
    assert rows
    wrapping = KeySchedule(secret, GM).key(KeyUse.HUB_KEYS_AT_REST)
    aead = GM.aead(wrapping[: GM.aead_key_bytes])
    for row in rows:
        kept = aead.decrypt(row.private_key, f"tongban-hub-key\n{row.kid}\n{row.alg}".encode())
        assert kept.startswith(MODULE_HANDLE)
        assert (keys_dir / f"{kept[len(MODULE_HANDLE) :].decode()}.pem").is_file()


# -- refusals, in process ----------------------------------------------------------------------


class _WrongKeyModule:
    """Hands back a software key whatever the label: not the stored one."""

    def generate(self, label: str) -> SoftwareSm2Signer:
        return SoftwareSm2Signer.generate()

    def signer(self, label: str) -> SoftwareSm2Signer:
        return SoftwareSm2Signer.generate()


class _BadSignature:
    def __init__(self) -> None:
        self.public_key = SoftwareSm2Signer.generate().public_key

    def sign(self, message: bytes) -> bytes:
        return SoftwareSm2Signer.generate().sign(message)  # another key's signature


class _UnverifiableModule:
    def generate(self, label: str) -> _BadSignature:
        return _BadSignature()

    def signer(self, label: str) -> _BadSignature:
        return _BadSignature()


def test_a_module_key_that_is_not_the_stored_one_is_refused() -> None:
    stored: Sm2PublicKey = SoftwareSm2Signer.generate().public_key
    with pytest.raises(HubKeyUnavailable, match="not the stored public key"):
        module_signer(_WrongKeyModule(), "k", expected=stored)


def test_a_module_key_that_signs_unverifiably_is_refused() -> None:
    with pytest.raises(HubKeyUnavailable, match="does not sign verifiably"):
        module_signer(_UnverifiableModule(), "k")


def test_a_module_that_cannot_start_or_is_misnamed_is_refused() -> None:
    with pytest.raises(HubKeyUnavailable, match=r"package\.module:factory"):
        load_module("no-colon-here")
    with pytest.raises(HubKeyUnavailable, match="could not be started"):
        load_module("tests.security.gm.no_such_module:module")


def test_a_module_under_the_intl_profile_is_refused() -> None:
    intl = Settings(secret_key=SecretStr("x" * 40), crypto_profile="intl", sm2_module=FACTORY)
    with pytest.raises(HubKeyUnavailable, match="not gm"):
        sm2_module_of(intl)
    assert sm2_module_of(Settings(secret_key=SecretStr("x" * 40), crypto_profile="intl")) is None


def test_a_missing_key_label_is_refused(keys_dir: Path) -> None:
    with pytest.raises(HubKeyUnavailable, match="no usable key"):
        module_signer(OpensslModule(keys_dir), "never-provisioned")
