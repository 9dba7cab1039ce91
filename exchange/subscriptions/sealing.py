"""What the outbox keeps sealed: a subscription's webhook secret and each event's payload.

AES-256-GCM under the key schedule's ``subscriptions_at_rest`` key; stored as 96-bit nonce ‖
ciphertext, the additional data binding it to its row (``secret‖<subscription>`` or
``event‖<subscription>‖<event>``), so a ciphertext copied to another row does not open.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["OutboxSeal"]


class OutboxSeal:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal_secret(self, subscription_id: str, secret: str) -> bytes:
        return self._seal(secret.encode(), b"secret\x00" + subscription_id.encode())

    def open_secret(self, subscription_id: str, sealed: bytes) -> str:
        return self._open(sealed, b"secret\x00" + subscription_id.encode()).decode()

    def seal_event(self, subscription_id: str, event_id: str, payload: Mapping[str, Any]) -> bytes:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return self._seal(body, _event_aad(subscription_id, event_id))

    def open_event(self, subscription_id: str, event_id: str, sealed: bytes) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(
            self._open(sealed, _event_aad(subscription_id, event_id))
        )
        return payload

    def _seal(self, data: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, aad)

    def _open(self, sealed: bytes, aad: bytes) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], aad)


def _event_aad(subscription_id: str, event_id: str) -> bytes:
    return b"event\x00" + subscription_id.encode() + b"\x00" + event_id.encode()
