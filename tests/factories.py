"""Descriptor factories with named traits, so tests say what is special about their data."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.profiles import CLIENT_ALG

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from catalogue.models import System


def department(code: str = "PSB", **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"kind": "department", "code": code, "name": f"{code} 测试部门"}
    document.update(overrides)
    return document


def field(name: str, title: str, **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": name,
        "title": title,
        "data_type": "string",
        "sharing": {"type": "unconditional"},
        "sensitivity": "personal",
        "schema": {"type": "string", "maxLength": 100},
    }
    document.update(overrides)
    return document


def resource(
    code: str = "PSB-HJ-0001",
    *,
    namespace: str = "household",
    provider: str = "PSB",
    traits: tuple[str, ...] = (),
    **overrides: Any,
) -> dict[str, Any]:
    """A valid resource descriptor. Traits: ``with_not_shared`` (a not-shared field with its
    legal basis), ``with_conditional`` (a conditional sensitive field), ``full`` (every
    optional element)."""
    document: dict[str, Any] = {
        "kind": "resource",
        "code": code,
        "namespace": namespace,
        "name": "常住人口户籍信息",
        "summary": "公安机关登记的常住人口户籍基本信息。",
        "provider": provider,
        "classification": {"class": "basic", "item": "人口"},
        "format": {"type": "database"},
        "update_frequency": "daily",
        "open_to_public": {"open": False},
        "sharing": {"method": ["interface"]},
        "fields": [
            field("name", "姓名", transform="mask_name"),
            field("registered_address", "户籍地址"),
        ],
        "source": {"adapter": "sql", "mapping": "psb/household"},
    }
    if "with_not_shared" in traits:
        document["fields"].append(
            field(
                "criminal_record",
                "违法犯罪记录",
                data_type="boolean",
                schema={"type": "boolean"},
                sharing={
                    "type": "not_shared",
                    "legal_basis": "《公安机关办理犯罪记录查询工作规定》",
                },
                sensitivity="sensitive_personal",
            )
        )
    if "with_conditional" in traits:
        document["fields"].append(
            field(
                "ethnicity",
                "民族",
                sharing={"type": "conditional"},
                sensitivity="sensitive_personal",
            )
        )
    if "full" in traits:
        document.update(
            {
                "name_en": "Household register",
                "classification": {
                    "class": "basic",
                    "item": "人口",
                    "category": "户籍",
                    "subcategory": "常住人口",
                },
                "format": {"type": "database", "media_type": "application/json"},
                "issued": "2020-01-01",
                "related": ["PSB-SFZ-0002"],
                "keywords": ["户籍", "household"],
                "open_to_public": {"open": False, "condition": "仅限政务共享"},
                "sharing": {"condition": "凭共享协议", "method": ["interface", "verification"]},
            }
        )
    document.update(overrides)
    return copy.deepcopy(document)


def service_item(
    code: str = "EDU-RXDJ-001", owner: str = "EDU", **overrides: Any
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "kind": "service_item",
        "code": code,
        "name": "义务教育入学登记",
        "owner": owner,
        "attributes": [
            {
                "attribute": "household.registered_address",
                "purpose": "school-enrolment",
                "legal_basis": "《中华人民共和国义务教育法》第十二条",
                "material": "户口簿",
            }
        ],
    }
    document.update(overrides)
    return document


def client_assertion(
    private_jwk: dict[str, Any], system_id: str, audience: str, **overrides: Any
) -> str:
    """A client assertion (RFC 7523) signed with ``private_jwk`` (EdDSA, ES256, or SM2SM3 for
    an SM2 key, :mod:`tests.profiles`): ``iss`` = ``sub`` = ``system_id``, a fresh ``jti``,
    ``exp`` two minutes ahead. ``overrides`` replace claims; an override of ``None`` leaves
    the claim out."""
    import time
    import uuid

    import jwt

    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": system_id,
        "sub": system_id,
        "aud": audience,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    headers = {"kid": private_jwk["kid"]} if "kid" in private_jwk else {}
    if private_jwk.get("crv") == "SM2":
        from tests.profiles import sm2_signer

        return jwt.encode(claims, sm2_signer(private_jwk), algorithm="SM2SM3", headers=headers)
    key = jwt.PyJWK(private_jwk)
    return jwt.encode(claims, key, algorithm=key.algorithm_name, headers=headers)


def dev_secret() -> str:
    """The secret the tests' in-process dev hubs use (generated once per test session)."""
    from exchange.settings import Settings

    return Settings(mode="dev", database_url="sqlite://").secret_key.get_secret_value()


def public_jwk(kid: str = "k1", *, alg: str = CLIENT_ALG) -> dict[str, Any]:
    """A fresh public JWK: Ed25519 (``EdDSA``), P-256 (``ES256``) or SM2 (``SM2SM3``); its
    private half is lost. By default, a key of the suite's profile (:mod:`tests.profiles`)."""
    import base64

    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    if alg == "SM2SM3":
        from exchange.security.gm import SoftwareSm2Signer

        return {**SoftwareSm2Signer.generate().public_key.to_jwk(), "kid": kid}
    if alg == "ES256":
        numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        x, y = (b64(n.to_bytes(32, "big")) for n in (numbers.x, numbers.y))
        return {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid}
    raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw), "kid": kid}


SYSTEM_TRAITS = frozenset({"no_keys", "two_keys", "es256", "with_purposes"})


def system_document(
    system_id: str = "psb-portal",
    department: str = "PSB",
    *,
    traits: tuple[str, ...] = (),
    **overrides: Any,
) -> dict[str, Any]:
    """A client system's registration with one fresh key ``<id>-1`` of the suite's profile
    (Ed25519 under ``intl``, SM2 under ``gm``: :mod:`tests.profiles`). Traits: ``no_keys`` (an
    empty key set), ``two_keys`` (a second key ``<id>-2``), ``es256`` (the keys are P-256),
    ``with_purposes`` (registered for ``identity-check``)."""
    unknown = set(traits) - SYSTEM_TRAITS
    if unknown:
        raise ValueError(f"unknown system traits: {sorted(unknown)}")
    alg = "ES256" if "es256" in traits else CLIENT_ALG
    kids = [f"{system_id}-1", f"{system_id}-2"] if "two_keys" in traits else [f"{system_id}-1"]
    document: dict[str, Any] = {
        "id": system_id,
        "department": department,
        "keys": [] if "no_keys" in traits else [public_jwk(kid, alg=alg) for kid in kids],
    }
    if "with_purposes" in traits:
        document["purposes"] = ["identity-check"]
    document.update(overrides)
    return document


def system(
    session: Session,
    system_id: str = "psb-portal",
    department: str = "PSB",
    *,
    now: datetime,
    traits: tuple[str, ...] = (),
    **overrides: Any,
) -> System:
    """:func:`system_document` registered in ``session`` (the caller commits)."""
    from catalogue.systems import register_system

    document = system_document(system_id, department, traits=traits, **overrides)
    return register_system(session, document, now=now)


def agreement(
    agreement_id: str,
    provider: str,
    resource: str,
    fields: list[Any],
    *,
    traits: tuple[str, ...] = (),
    **overrides: Any,
) -> dict[str, Any]:
    """A signed sharing agreement document (the YAML ``tongban agreements load`` reads) that
    lets the demo's school enrolment system read ``fields`` of ``resource`` for school enrolment
    until 2030, approved by the provider's admin. Traits: ``mca_dibao`` (the consumer is the
    minimum living allowance system, for its purpose)."""
    consumer, purpose = ("edu-enrolment", "EDU"), "school-enrolment"
    if "mca_dibao" in traits:
        consumer, purpose = ("mca-dibao", "MCA"), "minimum-living-allowance"
    document: dict[str, Any] = {
        "kind": "agreement",
        "id": agreement_id,
        "consumer": {"system": consumer[0], "department": consumer[1]},
        "provider": provider,
        "resource": resource,
        "fields": fields,
        "purposes": [purpose],
        "legal_basis": "测试协议",
        "validity": {"from": "2026-01-01", "until": "2030-12-31"},
        "approved_by": f"{provider}-admin-001",
    }
    document.update(overrides)
    return document


PENSION = "social_insurance.pension_amount"
MONTHS_PAID = "social_insurance.months_paid"
EMPLOYER = "social_insurance.current_employer_name"


def consent_request(
    subject: str, /, *, traits: tuple[str, ...] = (), **overrides: Any
) -> dict[str, Any]:
    """What the minimum living allowance system (mca-dibao) sends to ``POST /consent-requests``
    for ``subject``: the pension, the months paid and, optionally, the employer, kept 180 days,
    one-time. Traits: ``standing`` (a standing consent), ``pension_only`` (the pension alone,
    nothing optional)."""
    document: dict[str, Any] = {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": "minimum-living-allowance",
        "purpose_text": "最低生活保障家庭经济状况核对",
        "attributes": [PENSION, MONTHS_PAID, EMPLOYER],
        "optional": [EMPLOYER],
        "retention_days": 180,
    }
    if "standing" in traits:
        document["mode"] = "standing"
    if "pension_only" in traits:
        document["attributes"] = [PENSION]
        del document["optional"]
    document.update(overrides)
    return document
