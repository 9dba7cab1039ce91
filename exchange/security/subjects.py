"""The one place a resident ID is checked and turned into the subject's pseudonym.

The hub never stores a citizen's ID number (居民身份证号码, GB 11643): the audit log, consents,
verification budgets and a citizen's own access list all hold its keyed pseudonym, HMAC-SHA-256 of
``CN-RIC:<number>`` under the key schedule's subject-pseudonym key (HMAC-SM3 under the ``gm``
crypto profile; lowercase hex either way, 64 characters). Every lookup must compute it
exactly as every write did, or a citizen's consent or access list silently stops matching, so
the query pipeline, the consent and audit routes and the demo all come here.

Order of checks: the ID type is ``CN-RIC``; the number parses (length, characters, division,
birth date, check character, :func:`catalogue.identifiers.parse_resident_id`); only then is
the pseudonym computed, over the normalised number (upper-case ``X``). The error never echoes the
number.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Final

from catalogue.identifiers import ResidentIdError, parse_resident_id
from exchange.security.errors import InvalidSubjectId
from exchange.security.secrets import KeySchedule, KeyUse, schedule_of
from schemas import ProblemDetail

__all__ = ["ID_TYPE", "InvalidSubjectId", "Pseudonyms", "checked_resident_id"]

ID_TYPE: Final = "CN-RIC"
"""The one identifier type the hub accepts: the GB 11643 resident identity number."""


def checked_resident_id(number: str, *, id_type: str = ID_TYPE, pointer: str | None = None) -> str:
    """``number`` normalised, if it is a valid resident ID of type ``id_type``; otherwise
    :class:`InvalidSubjectId` (with ``pointer`` into the request when given)."""
    if id_type != ID_TYPE:
        raise InvalidSubjectId(f"id_type must be {ID_TYPE} (GB 11643 resident identity number)")
    try:
        return parse_resident_id(number).number
    except ResidentIdError as exc:
        errors = [ProblemDetail(pointer=pointer, detail=exc.reason)] if pointer else None
        raise InvalidSubjectId(
            f"the subject id is not a valid resident ID ({exc.reason})", errors=errors
        ) from None


class Pseudonyms:
    """Subject pseudonyms under one master secret: HMAC-SHA-256, or the *mac* given (the
    ``gm`` profile's HMAC-SM3, which :meth:`from_schedule` takes from the schedule)."""

    def __init__(self, key: bytes, mac: Callable[[bytes, bytes], bytes] | None = None) -> None:
        self.key = key
        self._mac = mac

    @classmethod
    def from_schedule(cls, secret: str | KeySchedule) -> Pseudonyms:
        schedule = schedule_of(secret)
        profile = schedule.profile
        mac = None if profile.name == "intl" else profile.mac
        return cls(schedule.key(KeyUse.SUBJECT_PSEUDONYM), mac)

    @property
    def mac(self) -> Callable[[bytes, bytes], bytes]:
        """The crypto profile's MAC these pseudonyms are made with (HMAC-SHA-256; HMAC-SM3
        under ``gm``), for the other keyed digests made under the pseudonym key."""
        return self._mac or _hmac_sha256

    def of_number(self, number: str) -> str:
        """The pseudonym of a number already checked by :func:`checked_resident_id`."""
        message = f"{ID_TYPE}:{number}".encode()
        if self._mac is None:
            return hmac.new(self.key, message, hashlib.sha256).hexdigest()
        return self._mac(self.key, message).hex()

    def of(self, number: str, *, id_type: str = ID_TYPE, pointer: str | None = None) -> str:
        """Check ``number`` and return its pseudonym (:class:`InvalidSubjectId` if invalid)."""
        return self.of_number(checked_resident_id(number, id_type=id_type, pointer=pointer))


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()
