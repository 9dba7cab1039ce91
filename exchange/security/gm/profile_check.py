"""The crypto profile at start: is the configured profile the one this hub's data was written
under, and can this hub run it?

Everything the hub keeps is bound to its profile: the audit log's tree hashes (SHA-256 or SM3),
the subject pseudonyms (HMAC-SHA-256 or HMAC-SM3), the stored signing keys and their algorithm,
the encrypted cache. A hub started under the other profile would append SM3 leaves to a SHA-256
tree or look citizens up under pseudonyms that match nobody. So the database keeps the profile
it was first started under (table ``hub_crypto_profile``, one row), and
:func:`check_crypto_profile` decides, in this order:

1. a recorded profile must equal the configured one (``TONGBAN_CRYPTO_PROFILE``);
2. the configured profile must be one this hub can run (:data:`RUNNABLE_PROFILES`: both, now
   that the key store, tokens, evidence, client assertions, the audit tree, checkpoints and
   pseudonyms take their algorithms from the profile; docs/gm.md lists what still does not);
3. then, when asked to (``tongban serve`` and every command at start; never ``/readyz``),
   the configured profile is recorded; an audit log still empty is given that profile's empty
   root (RFC 9162: the hash of the empty string), where its migration wrote SHA-256's.

A failed step raises :class:`~exchange.settings.SettingsError`: the profile is configuration.
docs/gm.md says how to choose a profile and why it cannot be changed in place.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange import clock
from exchange.security.gm.models import HubCryptoProfile
from exchange.security.gm.profile import profile_named
from exchange.settings import SettingsError

__all__ = ["RUNNABLE_PROFILES", "check_crypto_profile", "recorded_profile"]

RUNNABLE_PROFILES = frozenset({"intl", "gm"})
"""The profiles a hub can run: ``gm`` since its SM2 signing, SM3 tree and HMAC-SM3 pseudonyms
are wired into the key store, tokens, evidence, the audit log and checkpoints (issue 18)."""
_ROW = 1


def recorded_profile(session: Session) -> str | None:
    """The profile this database was written under, if one is recorded."""
    row = session.get(HubCryptoProfile, _ROW)
    return None if row is None else row.profile


def check_crypto_profile(session: Session, configured: str, *, record: bool) -> None:
    """Refuse a profile other than the database's, or one this hub cannot run (the module
    docstring's steps); record the configured one on a new database when *record*."""
    stored = recorded_profile(session)
    if stored is not None and stored != configured:
        raise SettingsError(
            f"this hub's data was written under the {stored!r} crypto profile, and it is "
            f"configured for {configured!r} (TONGBAN_CRYPTO_PROFILE): a profile cannot be "
            "changed in place; see docs/gm.md"
        )
    if configured not in RUNNABLE_PROFILES:
        raise SettingsError(
            f"the {configured!r} crypto profile cannot run on this hub; the profiles are "
            f"{', '.join(sorted(RUNNABLE_PROFILES))} (docs/gm.md)"
        )
    if stored is None and record:
        try:
            with session.begin_nested():
                session.add(HubCryptoProfile(id=_ROW, profile=configured, recorded_at=clock.now()))
                _root_the_empty_log(session, configured)
        except IntegrityError:  # another worker recorded it first: compare with theirs
            check_crypto_profile(session, configured, record=False)


def _root_the_empty_log(session: Session, profile: str) -> None:
    """The empty audit log's head root made *profile*'s: the migration that made the head row
    (0005) wrote SHA-256 of the empty string, and under ``gm`` the empty tree's root is SM3's,
    so a new ``gm`` hub's first checkpoint (and ``tongban audit verify``) found the stored tree
    not giving the head's root. A log that holds entries is left alone: its root is its own."""
    session.execute(
        text("UPDATE audit_head SET root = :root WHERE id = 1 AND size = 0"),
        {"root": profile_named(profile).hash(b"")},
    )
