"""What the outbox keeps sealed: a subscription's webhook secret and each event's payload.

The crypto profile's AEAD (AES-256-GCM under ``intl``, SM4-GCM under ``gm``; docs/gm.md) under
the key schedule's ``subscriptions_at_rest`` key; stored as 96-bit nonce ‖ ciphertext ‖ tag, the
additional data binding it to its row (``secret‖<subscription>`` or
``event‖<subscription>‖<event>``), so a ciphertext copied to another row does not open
(:class:`~exchange.security.gm.errors.CiphertextInvalid`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from exchange.security.gm.profile import Aead

__all__ = ["OutboxSeal"]


class OutboxSeal:
    def __init__(self, aead: Aead) -> None:
        self._aead = aead

    def seal_secret(self, subscription_id: str, secret: str) -> bytes:
        return self._aead.encrypt(secret.encode(), b"secret\x00" + subscription_id.encode())

    def open_secret(self, subscription_id: str, sealed: bytes) -> str:
        return self._aead.decrypt(sealed, b"secret\x00" + subscription_id.encode()).decode()

    def seal_event(self, subscription_id: str, event_id: str, payload: Mapping[str, Any]) -> bytes:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return self._aead.encrypt(body, _event_aad(subscription_id, event_id))

    def open_event(self, subscription_id: str, event_id: str, sealed: bytes) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(
            self._aead.decrypt(sealed, _event_aad(subscription_id, event_id))
        )
        return payload


def _event_aad(subscription_id: str, event_id: str) -> bytes:
    return b"event\x00" + subscription_id.encode() + b"\x00" + event_id.encode()
