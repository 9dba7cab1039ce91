"""A real gm hub over HTTP (``tongban demo`` and ``tongban serve`` under
``TONGBAN_CRYPTO_PROFILE=gm``): a case system gets an SM2SM3 access token, queries, and the
evidence and the checkpoint it receives verify with the OpenSSL 3 command line and npm's
sm-crypto, which share no code with the hub's signer; the inclusion proof is checked with an SM3
of its own (hashlib over the system's OpenSSL, not the hub's merkle module); a token of the intl
algorithms is refused."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from exchange.client import EvidenceError
from tests.security.gm.test_interop import DISTID, _openssl, _run, _sm_crypto
from tests.servers import TONGBAN, DemoHub, demo_hub, dev_environment

PURPOSE = "school-enrolment"
SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
SM2_NOTE_TYPE = b"\xfftongban/sm2-sm3"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoHub]:
    with demo_hub(tmp_path_factory.mktemp("gm-hub"), TONGBAN_CRYPTO_PROFILE="gm") as served:
        yield served


@pytest.fixture(scope="module")
def answer(hub: DemoHub) -> dict[str, Any]:
    token = hub.system_token()
    ask = {
        "subject": {"id_type": "CN-RIC", "id": hub.subject("no_property")},
        "purpose": PURPOSE,
        "attributes": ["household.name"],
    }
    for _ in range(2):  # the second entry's proof is not empty
        response = httpx.post(
            f"{hub.base}/exchange/query",
            json=ask,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _der(raw: bytes) -> bytes:
    def integer(value: bytes) -> bytes:
        value = value.lstrip(b"\0")
        if not value or value[0] & 0x80:
            value = b"\0" + value
        return bytes([0x02, len(value)]) + value

    body = integer(raw[:32]) + integer(raw[32:])
    return bytes([0x30, len(body)]) + body


def _pem(point: bytes) -> str:
    body = base64.encodebytes(SPKI_PREFIX + point).decode()
    return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"


def _openssl_verifies(tmp: Path, point: bytes, signature: bytes, message: bytes) -> bool:
    openssl = _openssl()
    (tmp / "key.pem").write_text(_pem(point))
    (tmp / "signature.der").write_bytes(_der(signature))
    (tmp / "message").write_bytes(message)
    done = _run(
        openssl, "dgst", "-sm3", "-verify", str(tmp / "key.pem"), "-sigopt", DISTID,
        "-signature", str(tmp / "signature.der"), str(tmp / "message"),
    )  # fmt: skip
    return done.returncode == 0 and done.stdout.strip() == "Verified OK"


def _jwks_point(hub: DemoHub, kid: str) -> bytes:
    keys = httpx.get(f"{hub.base}/.well-known/jwks.json", timeout=10).json()["keys"]
    (jwk,) = [k for k in keys if k["kid"] == kid]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "SM2", "SM2SM3", "sig")
    assert "d" not in jwk
    return b"\x04" + _unb64url(jwk["x"]) + _unb64url(jwk["y"])


def _jws_parts(token: str) -> tuple[dict[str, Any], bytes, bytes]:
    header, payload, signature = token.split(".")
    return json.loads(_unb64url(header)), f"{header}.{payload}".encode(), _unb64url(signature)


def test_the_access_token_is_sm2sm3_and_verifies_with_openssl(hub: DemoHub, tmp_path: Path) -> None:
    header, signing_input, signature = _jws_parts(hub.system_token())
    assert header["alg"] == "SM2SM3"
    point = _jwks_point(hub, header["kid"])
    assert _openssl_verifies(tmp_path, point, signature, signing_input)
    assert not _openssl_verifies(tmp_path, point, signature, signing_input + b"x")


def test_the_evidence_verifies_with_openssl_and_sm_crypto(
    hub: DemoHub, answer: dict[str, Any], tmp_path: Path
) -> None:
    header, signing_input, signature = _jws_parts(answer["evidence"])
    assert header["alg"] == "SM2SM3"
    assert header["typ"] == "tongban-evidence+jwt"
    point = _jwks_point(hub, header["kid"])
    assert _openssl_verifies(tmp_path, point, signature, signing_input)
    request = {"public": point.hex(), "message": signing_input.hex()}
    assert _sm_crypto({"op": "verify", **request, "signature": signature.hex()}) == {"valid": True}
    claims = json.loads(_unb64url(answer["evidence"].split(".")[1]))
    assert claims["attributes"] == answer["attributes"]
    assert claims["audit"] == answer["audit"]


def test_the_checkpoint_verifies_with_openssl_and_the_proof_with_an_sm3_of_its_own(
    hub: DemoHub, answer: dict[str, Any], tmp_path: Path
) -> None:
    vkey = httpx.get(f"{hub.base}/audit/checkpoint/key", timeout=10).text.strip()
    name, key_id_hex, typed_b64 = vkey.split("+", 2)
    typed = base64.b64decode(typed_b64)
    assert typed.startswith(SM2_NOTE_TYPE)
    point = typed[len(SM2_NOTE_TYPE) :]
    assert hashlib.sha256(name.encode() + b"\n" + typed).digest()[:4].hex() == key_id_hex
    audit = answer["audit"]
    note: str = audit["checkpoint"]
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    (line,) = [s for s in signatures.splitlines() if s.startswith(f"— {name} ")]
    blob = base64.b64decode(line.rsplit(" ", 1)[1])
    assert blob[:4].hex() == key_id_hex
    assert _openssl_verifies(tmp_path, point, blob[4:], text.encode())
    assert _sm_crypto(
        {"op": "verify", "public": point.hex(), "message": text.encode().hex(),
         "signature": blob[4:].hex()}
    ) == {"valid": True}  # fmt: skip
    origin, size, root = text.splitlines()[:3]
    assert origin == name
    assert int(size) == audit["tree_size"]
    proof = [base64.b64decode(h) for h in audit["inclusion_proof"]]
    assert proof  # not the log's first entry
    leaf = base64.b64decode(audit["leaf_hash"])
    assert _rfc9162_root(leaf, audit["index"], int(size), proof) == base64.b64decode(root)


def _sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def _rfc9162_root(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 with SM3 (hashlib over the system's OpenSSL)."""
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if fn & 1 or fn == sn:
            r = _sm3(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _sm3(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0
    return r


def test_the_gm_hub_refuses_a_token_of_the_intl_algorithms(hub: DemoHub) -> None:
    kid = jwt.get_unverified_header(hub.system_token())["kid"]
    now = int(time.time())
    claims = {
        "iss": hub.base, "aud": "tongban-exchange", "sub": "edu-enrolment",
        "client_id": "edu-enrolment", "jti": str(uuid.uuid4()), "iat": now, "exp": now + 300,
    }  # fmt: skip
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
        headers={"kid": kid, "typ": "at+jwt"},
    )  # fmt: skip
    response = httpx.post(
        f"{hub.base}/exchange/query",
        json={"subject": {"id_type": "CN-RIC", "id": hub.subject("no_property")},
              "purpose": PURPOSE, "attributes": ["household.name"]},
        headers={"Authorization": f"Bearer {forged}"},
        timeout=30,
    )  # fmt: skip
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_case_system_with_an_sm2_key_made_by_sm_crypto_gets_a_token_and_queries(
    hub: DemoHub, tmp_path: Path
) -> None:
    """The key pair and the assertion's signature come from sm-crypto; the system is
    registered with ``tongban system add`` on the running hub."""
    pair = _sm_crypto({"op": "keypair"})
    point = bytes.fromhex(str(pair["public"]))
    jwk = {"kty": "EC", "crv": "SM2", "kid": "sm2-1", "x": _b64url(point[1:33]),
           "y": _b64url(point[33:])}  # fmt: skip
    (tmp_path / "sm2.jwk").write_text(json.dumps(jwk))
    added = subprocess.run(
        [TONGBAN, "system", "add", "--id", "sm2-system", "--department", "EDU",
         "--jwk", str(tmp_path / "sm2.jwk"), "--purpose", PURPOSE],
        cwd=hub.workdir, env=dev_environment(), capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    now = int(time.time())
    header = {"alg": "SM2SM3", "typ": "JWT", "kid": "sm2-1"}
    claims = {"iss": "sm2-system", "sub": "sm2-system", "aud": f"{hub.base}/oauth/token",
              "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex}  # fmt: skip
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signed = _sm_crypto(
        {"op": "sign", "private": str(pair["private"]), "public": str(pair["public"]),
         "message": signing_input.encode().hex()}
    )  # fmt: skip
    assertion = f"{signing_input}.{_b64url(bytes.fromhex(str(signed['signature'])))}"
    form = {
        "grant_type": "client_credentials",
        "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    token = httpx.post(f"{hub.base}/oauth/token", data=form, timeout=30)
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    assert jwt.get_unverified_header(access)["alg"] == "SM2SM3"
    replayed = httpx.post(f"{hub.base}/oauth/token", data=form, timeout=30)
    assert replayed.status_code == 401  # the jti is spent
    response = httpx.post(
        f"{hub.base}/exchange/query",
        json={"subject": {"id_type": "CN-RIC", "id": hub.subject("no_property")},
              "purpose": PURPOSE, "attributes": ["household.name"]},
        headers={"Authorization": f"Bearer {access}"},
        timeout=30,
    )  # fmt: skip
    assert response.status_code == 200, response.text


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_client_sdk_verifies_a_gm_hubs_evidence_and_receipt(hub: DemoHub) -> None:
    """The SDK (standalone: SM2 verified in Python over public values, SM3 from cryptography)
    accepts a gm hub's answer only after its SM2SM3 evidence, SM2 checkpoint and SM3 inclusion
    proof check."""
    with hub.client() as client:
        result = client.query(hub.subject("no_property"), PURPOSE, attributes=["household.name"])
        assert result.evidence_claims is not None
        assert client.verify_receipt(result.audit) == result.audit
        tampered = dataclasses.replace(
            result.audit, leaf_hash=base64.b64encode(b"\0" * 32).decode()
        )
        with pytest.raises(EvidenceError, match="inclusion proof"):
            client.verify_receipt(tampered)


def test_tongban_audit_verify_recomputes_the_gm_log(hub: DemoHub, answer: dict[str, Any]) -> None:
    """The served hub's log, recomputed from storage under gm (SM3 leaves and nodes, SM2
    checkpoints and signed receipts and agreement terms), verifies."""
    done = subprocess.run(
        [TONGBAN, "audit", "verify", "--json"], cwd=hub.workdir, env=dev_environment(),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["entries"] >= answer["audit"]["index"] + 1
