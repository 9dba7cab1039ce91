"""Client systems (数据使用方系统) and their public keys.

A system belongs to one department, names the purposes it may ask for, and signs its client
assertions with keys registered here. Only public keys are accepted: a JWK carrying private
members is refused, so a leaked registration file never leaks a key.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue.errors import InvalidSystem
from catalogue.models import Department, System, SystemKey
from catalogue.vocabulary import SystemStatus
from schemas import ProblemDetail, explain_all, validator

__all__ = ["keys_from_document", "register_system", "system_view"]

_ALG_BY_CURVE = {("OKP", "Ed25519"): "EdDSA", ("EC", "P-256"): "ES256", ("EC", "SM2"): "SM2SM3"}
# sm2p256v1 (GB/T 32918.5-2017): an SM2 key (a gm hub's SM2SM3 client assertions, docs/gm.md) is
# checked to be a point of the curve here; PyJWT has no SM2 to check it with.
_SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_SM2_A = _SM2_P - 3
_SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93


def keys_from_document(data: bytes) -> list[dict[str, Any]]:
    """The JWKs in a JWK or JWKS file (JSON)."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidSystem("the key file is not JSON (a JWK or a JWKS)") from None
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        return list(document["keys"])
    if isinstance(document, dict):
        return [document]
    raise InvalidSystem("the key file is neither a JWK nor a JWKS")


def register_system(
    session: Session,
    registration: dict[str, Any],
    *,
    now: datetime,
    algorithms: frozenset[str] | None = None,
) -> System:
    """Add a system, or add keys and purposes to an existing one of the same department.
    With *algorithms* (the hub's crypto profile's: a ``gm`` hub takes SM2SM3 keys only), a key
    of another algorithm is refused and nothing is stored."""
    problems = _private_members(registration) or explain_all(
        validator("system").iter_errors(registration)
    )
    if problems:
        raise InvalidSystem("the system registration is not valid", errors=problems)
    if session.get(Department, registration["department"]) is None:
        raise InvalidSystem(
            "no such department; publish the department first",
            errors=[ProblemDetail(pointer="/department", detail="unknown department")],
        )
    system = session.get(System, registration["id"], with_for_update=True)
    if system is None:
        system = System(
            id=registration["id"],
            department_code=registration["department"],
            status=SystemStatus.ACTIVE,
            purposes=[],
            created_at=now,
        )
        session.add(system)
    elif system.department_code != registration["department"]:
        raise InvalidSystem(
            "the system is registered to another department",
            errors=[ProblemDetail(pointer="/department", detail="does not match")],
        )
    system.name = registration.get("name", system.name)
    system.purposes = sorted(set(system.purposes) | set(registration.get("purposes", [])))
    system.updated_at = now
    session.flush()
    _add_keys(session, system, registration["keys"], now, algorithms)
    return system


_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


def _private_members(registration: dict[str, Any]) -> list[ProblemDetail]:
    """Private key material is refused by name, and its value is never repeated."""
    keys = registration.get("keys")
    if not isinstance(keys, list):
        return []
    return [
        ProblemDetail(
            pointer=f"/keys/{i}/{member}",
            detail="private key material; register the public key only",
        )
        for i, jwk in enumerate(keys)
        if isinstance(jwk, dict)
        for member in _PRIVATE_MEMBERS
        if member in jwk
    ]


def _add_keys(
    session: Session,
    system: System,
    keys: list[dict[str, Any]],
    now: datetime,
    algorithms: frozenset[str] | None = None,
) -> None:
    existing = {
        k.kid: k for k in session.scalars(select(SystemKey).where(SystemKey.system_id == system.id))
    }
    for i, jwk in enumerate(keys):
        alg = _ALG_BY_CURVE[(jwk["kty"], jwk["crv"])]
        if algorithms is not None and alg not in algorithms:
            accepted = " or ".join(sorted(algorithms))
            raise InvalidSystem(
                f"this hub's crypto profile registers {accepted} keys only",
                errors=[
                    ProblemDetail(
                        pointer=f"/keys/{i}/crv",
                        detail=f"{jwk['crv']} key ({alg}); this hub takes {accepted} keys",
                    )
                ],
            )
        if jwk.get("alg", alg) != alg:
            raise InvalidSystem(
                "the key's alg does not match its curve",
                errors=[ProblemDetail(pointer=f"/keys/{i}/alg", detail=f"expected {alg}")],
            )
        public = {k: v for k, v in jwk.items() if k in {"kty", "crv", "x", "y", "kid", "use"}}
        public["alg"] = alg
        _require_usable(public, i)
        held = existing.get(jwk["kid"])
        if held is not None:
            if held.jwk != public:
                raise InvalidSystem(
                    "a different key is already registered under this kid",
                    errors=[ProblemDetail(pointer=f"/keys/{i}/kid", detail="kid in use")],
                )
            continue
        session.add(
            SystemKey(system_id=system.id, kid=jwk["kid"], alg=alg, jwk=public, added_at=now)
        )
    session.flush()


def _require_usable(public: dict[str, Any], index: int) -> None:
    try:
        if public.get("crv") == "SM2":
            _require_sm2_point(public)
        else:
            jwt.PyJWK(public)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError):
        raise InvalidSystem(
            "the key is not a valid public key for its curve",
            errors=[ProblemDetail(pointer=f"/keys/{index}", detail="unusable key material")],
        ) from None


def _require_sm2_point(public: dict[str, Any]) -> None:
    """ValueError unless x and y are 32 bytes of unpadded base64url each, a point of
    sm2p256v1."""
    coordinates = []
    for name in ("x", "y"):
        text = public.get(name)
        if not isinstance(text, str) or "=" in text:
            raise ValueError(f"{name} is not unpadded base64url")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) != 32 or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
            raise ValueError(f"{name} is not 32 bytes of base64url")
        coordinates.append(int.from_bytes(raw, "big"))
    x, y = coordinates
    if x >= _SM2_P or y >= _SM2_P or (y * y - (x**3 + _SM2_A * x + _SM2_B)) % _SM2_P:
        raise ValueError("the point is not on the SM2 curve")


def system_view(session: Session, system: System) -> dict[str, Any]:
    keys = session.scalars(
        select(SystemKey)
        .where(SystemKey.system_id == system.id, SystemKey.retired_at.is_(None))
        .order_by(SystemKey.id)
    )
    return {
        "id": system.id,
        "department": system.department_code,
        "name": system.name,
        "status": system.status,
        "purposes": system.purposes,
        "keys": [k.kid for k in keys],
    }
