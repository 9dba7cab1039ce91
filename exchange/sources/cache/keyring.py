"""Per-department data keys of the cache: created on first use, unwrapped once per process.

The first sync of a department's resource creates its data key (version 1) in a transaction of
its own. Two workers doing so at once both try version 1; the primary key lets one win and the
other reads the winner's key. Unwrapped keys are kept in memory by (department, version); the
newest version seals new records, any version opens the records sealed under it.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from exchange import clock
from exchange.db import unit_of_work
from exchange.security.gm.profile import Aead
from exchange.sources.cache.crypto import CacheCrypto
from exchange.sources.cache.models import CacheDataKey
from exchange.sources.errors import CacheIntegrityError

__all__ = ["DataKeys"]


class DataKeys:
    """The data keys of the cache, unwrapped under the master KEK on first use."""

    def __init__(self, crypto: CacheCrypto) -> None:
        self._crypto = crypto
        self._keys: dict[tuple[str, int], Aead] = {}
        self._lock = threading.Lock()

    def current(self, sessions: sessionmaker[Session], department: str) -> tuple[int, Aead]:
        """The newest key of *department*, creating version 1 when it has none."""
        with unit_of_work(sessions) as session:
            newest = _newest(session, department)
        if newest is None:
            newest = self._create(sessions, department)
        with unit_of_work(sessions) as session:
            return newest, self.get(session, department, newest)

    def get(self, session: Session, department: str, version: int) -> Aead:
        """Key *version* of *department* (``CacheIntegrityError`` if it is missing)."""
        with self._lock:
            known = self._keys.get((department, version))
        if known is not None:
            return known
        row = session.get(CacheDataKey, (department, version))
        if row is None:
            raise CacheIntegrityError(f"the data key {department}/{version} is missing")
        raw = self._crypto.unwrap(department, version, row.wrapped_key)
        key = self._crypto.data_aead(department, version, raw)
        with self._lock:
            self._keys[(department, version)] = key
        return key

    def _create(self, sessions: sessionmaker[Session], department: str) -> int:
        raw = self._crypto.new_data_key()
        try:
            with unit_of_work(sessions, write=True) as session:
                if _newest(session, department) is None:
                    session.add(
                        CacheDataKey(
                            department=department,
                            version=1,
                            wrapped_key=self._crypto.wrap(department, 1, raw),
                            created_at=clock.now(),
                        )
                    )
        except IntegrityError:
            pass  # another worker created it first; read theirs
        with unit_of_work(sessions) as session:
            newest = _newest(session, department)
        if newest is None:  # pragma: no cover - the insert above or a concurrent one landed
            raise CacheIntegrityError(f"no data key could be created for {department}")
        return newest


def _newest(session: Session, department: str) -> int | None:
    version: int | None = session.scalar(
        select(func.max(CacheDataKey.version)).where(CacheDataKey.department == department)
    )
    return version
