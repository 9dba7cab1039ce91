"""The crypto profile a hub's data was written under: one row, recorded at its first start."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from catalogue.models import Base

__all__ = ["HubCryptoProfile"]


class HubCryptoProfile(Base):
    """The crypto profile (``intl`` or ``gm``), one row (``id`` 1): recorded when the hub first
    starts (or by migration 0017 for a hub that already held data), compared at every start
    (``exchange.security.gm.profile_check``)."""

    __tablename__ = "hub_crypto_profile"
    __table_args__ = (
        CheckConstraint("id = 1", name="one_row"),
        CheckConstraint("profile IN ('intl', 'gm')", name="profile"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    profile: Mapped[str] = mapped_column(String(8))
    recorded_at: Mapped[datetime]
