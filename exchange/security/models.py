"""The security room's tables: the replay store of client assertions and the hub's signing keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = ["MAX_JTI_CHARS", "ClientAssertionJti", "HubSigningKey"]

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
    __table_args__ = (CheckConstraint("alg IN ('EdDSA', 'ES256')", name="alg"),)

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, unique=True, autoincrement=False)
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]]
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
