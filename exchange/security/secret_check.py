"""The master secret's check value (密钥校验值): is the configured secret this hub's own?

Everything the hub stores under its master secret is orphaned by another one: the wrapped
signing keys, the subject pseudonyms of the audit log, consents and budgets, the encrypted source
cache, the checkpoint key its witnesses know. Without a check, a changed or mistyped
``TONGBAN_SECRET_KEY`` shows only when the first query fails with a 500. So the hub database
keeps the check value of the secret it first started with (table ``hub_secret_check``, one row:
an HMAC of a fixed label under the secret, :data:`KeyUse.SECRET_CHECK_VALUE`; it reveals nothing
of the secret), and :func:`check_master_secret` compares, in this order:

1. a stored check value must equal the configured secret's;
2. with none stored (a new database, or one migrated from before 0016), the newest stored
   signing key, if there is one, must decrypt under the configured secret;
3. then, when asked to (``tongban serve`` and every command at start; never ``/readyz``),
   the configured secret's check value is recorded.

A failed step raises :class:`~exchange.settings.SettingsError`: the secret is configuration.
"""

from __future__ import annotations

import hmac

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange import clock
from exchange.security.errors import HubKeyUnavailable
from exchange.security.keys import HubKeys
from exchange.security.models import HubSecretCheck
from exchange.security.secrets import KeySchedule, KeyUse
from exchange.settings import SettingsError

__all__ = ["WRONG_MASTER_KEY_MESSAGE", "check_master_secret", "secret_check_value"]

WRONG_MASTER_KEY_MESSAGE = (
    "the master secret (TONGBAN_SECRET_KEY, or the dev secret file) is not the one this hub's "
    "database was built with: what is stored under it would not open"
)
_ROW = 1


def secret_check_value(schedule: KeySchedule) -> str:
    """The check value of the schedule's master secret, as stored (hex)."""
    return schedule.key(KeyUse.SECRET_CHECK_VALUE).hex()


def check_master_secret(
    session: Session, schedule: KeySchedule, keys: HubKeys, *, record: bool
) -> None:
    """Refuse a master secret other than the database's (the module docstring's steps)."""
    mine = secret_check_value(schedule)
    stored = session.get(HubSecretCheck, _ROW)
    if stored is not None:
        if not hmac.compare_digest(stored.check_value, mine):
            raise SettingsError(WRONG_MASTER_KEY_MESSAGE)
        return
    try:
        keys.check_stored_key(session)
    except HubKeyUnavailable:
        raise SettingsError(WRONG_MASTER_KEY_MESSAGE) from None
    if record:
        try:
            with session.begin_nested():
                session.add(HubSecretCheck(id=_ROW, check_value=mine, recorded_at=clock.now()))
        except IntegrityError:  # another worker recorded it first: compare with theirs
            check_master_secret(session, schedule, keys, record=False)
