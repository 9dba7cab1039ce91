"""The security room's tables: the replay store of client assertions, the hub's signing keys
and the master secret's check value."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = ["MAX_JTI_CHARS", "ClientAssertionJti", "HubSecretCheck", "HubSigningKey"]

MAX_JTI_CHARS = 200
"""The longest client-assertion ``jti`` the hub stores (and so accepts)."""


class ClientAssertionJti(Base):
    """A client assertion's ``jti``, kept until the assertion expires, so it is used once."""

    __tablename__ = "client_assertion_jtis"

    system_id: Mapped[str] = mapped_column(ForeignKey("systems.id"), primary_key=True)
    jti: Mapped[str] = mapped_column(String(MAX_JTI_CHARS), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class HubSigningKey(Base):
    """One hub signing key: public JWK in clear, private key encrypted (nonce ‖ ciphertext)."""

    __tablename__ = "hub_signing_keys"
    __table_args__ = (CheckConstraint("alg IN ('EdDSA', 'ES256', 'SM2SM3')", name="alg"),)

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, unique=True, autoincrement=False)
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]]
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class HubSecretCheck(Base):
    """The master secret's check value, one row (``id`` 1): recorded at the hub's first start,
    compared at every start (``exchange.security.secret_check``)."""

    __tablename__ = "hub_secret_check"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    check_value: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]
