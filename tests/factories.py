"""Descriptor factories with named traits, so tests say what is special about their data."""

from __future__ import annotations

import copy
from typing import Any


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
    """A client assertion (RFC 7523) signed with ``private_jwk`` (EdDSA or ES256): ``iss`` =
    ``sub`` = ``system_id``, a fresh ``jti``, ``exp`` two minutes ahead. ``overrides`` replace
    claims; an override of ``None`` leaves the claim out."""
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
    key = jwt.PyJWK(private_jwk)
    headers = {"kid": private_jwk["kid"]} if "kid" in private_jwk else {}
    return jwt.encode(claims, key, algorithm=key.algorithm_name, headers=headers)


def dev_secret() -> str:
    """The secret the tests' in-process dev hubs use (generated once per test session)."""
    from exchange.settings import Settings

    return Settings(mode="dev", database_url="sqlite://").secret_key.get_secret_value()
