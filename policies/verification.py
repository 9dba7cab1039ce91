"""Verification (交互核验): which claims a verify may check, and in what shape.

A verify answers ``match`` or ``no_match`` and never the value, but every answer is information:
asked often enough, "is it 1976-03-02? 1976-03-03? …" recovers what a year-only release hides.
So verify confirms no more than the release the decision allows. The claim is compared with the
actual value *after* the same transform, and the claim must itself be in the released shape:

* ``clear``: any claim, compared with the value;
* ``year``: a year (``1976`` or ``"1976"``), compared with the value's year;
* ``mask_name`` / ``mask_id``: the masked form (``张*``, ``110105********002X``);
* ``hash``: the keyed hash this consumer was given (``hmac-sha256:…``; ``hmac-sm3:…`` under
  the ``gm`` crypto profile), compared with the hash of the value under the same per-consumer
  key; the hub never hashes a clear claim for it;
* ``derived``: ``true`` or ``false``, compared with the predicate's answer.

A claim in a finer shape than the release (a full date against ``year``, a full name against
``mask_name``, a clear value against ``hash``) is refused ``release_too_coarse`` before anything
is read from the source: it is not reduced to the released shape, so the caller learns that it
asked for more than its grant confirms. ``None`` claims "no value", in any shape but ``derived``.

Nothing here reads a database or a clock; the exchange compares, this module says what with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from policies.model import Decision, DenyReason, FieldDecision, Release
from policies.transforms import mask_id, mask_name

__all__ = ["ClaimTooPrecise", "confirms", "released_claim", "screen_claims"]

_HASHED: Final = re.compile(r"hmac-(?:sha256|sm3):[A-Za-z0-9_-]{43}")
_YEAR: Final = re.compile(r"[0-9]{4}")
_ID_HEAD: Final = 6
_ID_TAIL: Final = 4
_ID_MIN_LENGTH: Final = 15
RULE: Final = "verify.release_too_coarse"


class ClaimTooPrecise(ValueError):
    """The claim is not in the shape its release confirms (never holds the claim)."""


def released_claim(release: Release, claim: Any) -> Any:
    """*claim* as the release shapes values (a year as an int), ready to compare with the
    released value; :class:`ClaimTooPrecise` when it is finer than the release confirms."""
    if release is Release.CLEAR:
        return claim
    if release is Release.DERIVED:
        if isinstance(claim, bool):
            return claim
        raise ClaimTooPrecise("a derived attribute confirms true or false only")
    if claim is None:
        return None
    if isinstance(claim, list | tuple):
        return [released_claim(release, item) for item in claim]
    return _one(release, claim)


def confirms(release: Release, claim: Any, released: Any) -> bool:
    """Whether *claim* is the *released* value (one record's value, already shaped by
    *release*): the claim is put in the released shape first (:func:`released_claim`; it
    raises :class:`ClaimTooPrecise` for a claim finer than that), then compared. Text is
    compared without surrounding blanks, numbers within 1e-9, booleans as booleans."""
    return _same(released_claim(release, claim), released)


def _same(claimed: Any, actual: Any) -> bool:
    if isinstance(claimed, str) and isinstance(actual, str):
        return claimed.strip() == actual.strip()
    if isinstance(claimed, bool) or isinstance(actual, bool):
        return claimed is actual
    if isinstance(claimed, int | float) and isinstance(actual, int | float):
        return abs(claimed - actual) < 1e-9
    return bool(claimed == actual)


def _one(release: Release, claim: Any) -> Any:
    if release is Release.YEAR:
        if isinstance(claim, int) and not isinstance(claim, bool) and 0 < claim <= 9999:
            return claim
        if isinstance(claim, str) and _YEAR.fullmatch(claim.strip()):
            return int(claim.strip())
        raise ClaimTooPrecise("a year-only release confirms a year (e.g. 1976) only")
    if release is Release.HASH:
        if isinstance(claim, str) and _HASHED.fullmatch(claim.strip()):
            return claim.strip()
        raise ClaimTooPrecise("a hash release confirms the keyed hash it gave only")
    if (
        release is Release.MASK_NAME
        and isinstance(claim, str)
        and mask_name(claim) == claim.strip()
    ):
        return claim.strip()
    if release is Release.MASK_ID and isinstance(claim, str) and _is_masked_id(claim.strip()):
        return claim.strip()
    raise ClaimTooPrecise(f"a {release.value} release confirms the masked form only")


def _is_masked_id(claim: str) -> bool:
    """Whether *claim* is what :func:`~policies.transforms.mask_id` gives out: all ``*``, or
    its kept head and tail around ``*`` only (the mask of a value of that shape)."""
    if claim and set(claim) == {"*"}:
        return True
    head, middle, tail = claim[:_ID_HEAD], claim[_ID_HEAD:-_ID_TAIL], claim[-_ID_TAIL:]
    return (
        len(claim) >= _ID_MIN_LENGTH
        and set(middle) == {"*"}
        and mask_id(head + "0" * len(middle) + tail) == claim
    )


def screen_claims(decision: Decision, claims: Mapping[str, Any]) -> Decision:
    """The decision with every allowed attribute whose claim is finer than its release denied
    ``release_too_coarse`` [``verify.release_too_coarse``], so that it is neither read nor
    compared. Obligations stay: the exchange carries them out for released attributes only."""
    return replace(decision, fields=tuple(_screened(d, claims) for d in decision.fields))


def _screened(decision: FieldDecision, claims: Mapping[str, Any]) -> FieldDecision:
    if decision.release is None or decision.attribute not in claims:
        return decision
    try:
        released_claim(decision.release, claims[decision.attribute])
    except ClaimTooPrecise:
        return replace(
            decision,
            release=None,
            reason=DenyReason.RELEASE_TOO_COARSE,
            rules=(*decision.rules, RULE),
            consent_id=None,
        )
    return decision
