"""What the security room refuses: a client that does not authenticate, a malformed token request,
an unavailable hub key, a custody split or join that cannot be done, an invalid resident ID.

(A caller with no acceptable credentials, or one that may not do what it asks, is
:class:`exchange.errors.Unauthenticated` / :class:`exchange.errors.Forbidden`: every room raises
those.)
"""

from __future__ import annotations

from typing import ClassVar

from schemas import TongbanError

__all__ = [
    "CustodyError",
    "DuplicateShare",
    "HubKeyUnavailable",
    "IdentityProviderUnavailable",
    "InvalidClient",
    "InvalidRequest",
    "InvalidSplit",
    "InvalidSubjectId",
    "KeyRotationConflict",
    "NotEnoughShares",
    "ShareCorrupted",
    "ShareMalformed",
    "SharesMixed",
    "UnsupportedGrantType",
    "WrongShare",
]


class InvalidClient(TongbanError):
    """Client authentication failed (RFC 6749 5.2 ``invalid_client``, 401).

    A 401 names a challenge (RFC 9110 15.5.2), yet no HTTP authentication scheme carries a
    client assertion; the challenge names the one method this endpoint accepts."""

    code = "invalid_client"
    status = 401
    title = "Client authentication failed"
    challenge: ClassVar[str] = "private_key_jwt"


class InvalidRequest(TongbanError):
    """A token request that is not well formed (RFC 6749 5.2 ``invalid_request``): a parameter
    missing, repeated or of the wrong value, or a body that is not a UTF-8 form."""

    code = "invalid_request"
    status = 400
    title = "Invalid token request"


class UnsupportedGrantType(TongbanError):
    """A token request for a grant other than ``client_credentials`` (RFC 6749 5.2)."""

    code = "unsupported_grant_type"
    status = 400
    title = "Unsupported grant type"


class HubKeyUnavailable(TongbanError):
    code = "hub_key_unavailable"
    status = 500
    title = "Hub signing key unavailable"


class KeyRotationConflict(TongbanError):
    code = "key_rotation_conflict"
    status = 409
    title = "Key rotation conflict"


class CustodyError(TongbanError):
    """A split or join refused; the message never holds the secret or a share's text."""

    code = "custody_error"
    status = 422
    title = "Key custody error"


class InvalidSplit(CustodyError):
    """A split asked for impossible numbers: a threshold below 2 or above the share count, too many
    shares, or a secret of the wrong length."""

    code = "invalid_split"
    title = "Invalid split"


class ShareMalformed(CustodyError):
    """A text that is not a Tongban key share, or one of a format this version does not read."""

    code = "share_malformed"
    title = "Malformed share"


class ShareCorrupted(CustodyError):
    """A share whose checksum does not match: it was altered or mistyped."""

    code = "share_corrupted"
    title = "Corrupted share"


class SharesMixed(CustodyError):
    """Shares of different splits, or shares that disagree on what their split was."""

    code = "shares_mixed"
    title = "Shares from different splits"


class DuplicateShare(CustodyError):
    """The same share number given twice."""

    code = "share_duplicate"
    title = "Duplicate share"


class NotEnoughShares(CustodyError):
    """Fewer shares than the split's threshold."""

    code = "shares_insufficient"
    title = "Not enough shares"


class WrongShare(CustodyError):
    """The shares do not rebuild the key that the split's check value names: at least one is
    wrong."""

    code = "share_wrong"
    title = "Wrong share"


class InvalidSubjectId(TongbanError):
    """The subject is not a valid GB 11643 resident identity number (checksum, date, division), or
    its ``id_type`` is not ``CN-RIC``."""

    code = "invalid_subject_id"
    status = 422
    title = "Invalid subject identifier"


class IdentityProviderUnavailable(TongbanError):
    """The configured OpenID provider could not be asked (its discovery document or token
    endpoint did not answer usefully), so no sign-in can start or complete now."""

    code = "identity_provider_unavailable"
    status = 503
    title = "Identity provider unavailable"
