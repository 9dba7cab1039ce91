"""Rating comments at rest: sealed with the crypto profile's AEAD (AES-256-GCM under ``intl``,
SM4-GCM under ``gm``, docs/gm.md), as the hub seals the other personal text it keeps.

The key is derived from the hub's key schedule: the profile's MAC (HMAC-SHA-256 / HMAC-SM3),
keyed with the schedule's key for sealed personal data of issue 17
(``KeyUse.CORRECTION_SUBJECTS``), over :data:`LABEL`, so it is a key of its own, cut to the
AEAD's length. The associated data binds a sealed comment to its rating: moved to another row,
it does not open.
"""

from __future__ import annotations

from typing import Final

from exchange.security.secrets import KeySchedule, KeyUse, schedule_of

__all__ = ["LABEL", "CommentSeal"]

LABEL: Final = b"tongban rating comments at rest v1"


class CommentSeal:
    """Seals and opens the free-text comment of a rating (好差评)."""

    def __init__(self, secret: str | KeySchedule) -> None:
        schedule = schedule_of(secret)
        key = schedule.mac(KeyUse.CORRECTION_SUBJECTS)(LABEL)
        self._aead = schedule.profile.aead(key[: schedule.profile.aead_key_bytes])

    def seal(self, rating_id: str, comment: str) -> bytes:
        return self._aead.encrypt(comment.encode("utf-8"), _aad(rating_id))

    def open(self, rating_id: str, sealed: bytes) -> str:
        return self._aead.decrypt(sealed, _aad(rating_id)).decode("utf-8")


def _aad(rating_id: str) -> bytes:
    return b"rating-comment\x00" + rating_id.encode("ascii")
