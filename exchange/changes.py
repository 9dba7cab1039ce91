"""What a worker keeps in memory between requests, and how it knows when to read it again.

The catalogue, the registered systems, the agreements and the hub's signing keys change a few
times a day and are read by every request. Each is a **domain** with a row in ``hub_changes``
(migration 0017) whose ``stamp`` the database replaces with a fresh random value, by trigger, in
every transaction that changes one of the domain's tables, whoever writes (another worker, the
command line, an operator at the SQL prompt). A :class:`Cached` value is reused only while the
stamp it was read with is still the stamp:

* a unit of work reads all stamps once, with one statement, before the first cached value it
  asks for (:func:`stamps`), so several workers and hubs on one database stay right;
* a value is loaded after its stamp was read, so it is at least as new as the stamp says (a
  change committed in between only costs one more read on the next request);
* the stamp is random, not a counter: a database restored from a backup, or another hub's
  database, never shows a stamp a worker holds for other contents;
* a unit of work that flushes a change, or executes an ``INSERT``, ``UPDATE`` or ``DELETE``
  through its session, reads the stamps again when next asked, so it never sees its own change
  through an older value.

What the cache holds is what the loader made of the rows (verified agreements, a system's
purposes), never the raw rows for a caller to change; a loader must return values that are not
changed afterwards.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import String, event, select
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from catalogue.models import Base

__all__ = ["Cached", "Domain", "HubChange", "forget", "per_request", "stamps"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Domain(StrEnum):
    """What a worker may cache, each with the tables whose changes replace its stamp."""

    CATALOGUE = "catalogue"
    SYSTEMS = "systems"
    AGREEMENTS = "agreements"
    KEYS = "keys"
    CORRECTIONS = "corrections"


class HubChange(Base):
    """One domain's stamp: replaced by the database in every transaction that changes it."""

    __tablename__ = "hub_changes"

    domain: Mapped[str] = mapped_column(String(16), primary_key=True)
    stamp: Mapped[str] = mapped_column(String(32))


_READ = select(HubChange.__table__.c.domain, HubChange.__table__.c.stamp)  # Core: 1/4 the cost
_INFO_KEY = "tongban.change_stamps"
_REQUEST: ContextVar[dict[str, Mapping[str, str]] | None] = ContextVar(
    "tongban_request_stamps", default=None
)
"""The stamps one request has read, shared by its units of work (:func:`per_request`)."""


def stamps(session: Session) -> Mapping[str, str]:
    """Every domain's stamp as this unit of work first read it (one statement per unit, and
    again after the unit flushed a change); inside :func:`per_request`, as the request first
    read them, so its token check and its decision cost one statement together."""
    found: Mapping[str, str] | None = session.info.get(_INFO_KEY)
    if found is None:
        shared = _REQUEST.get()
        found = None if shared is None else shared.get(_INFO_KEY)
        if found is None:
            found = {domain: stamp for domain, stamp in session.connection().execute(_READ)}
            if shared is not None:
                shared[_INFO_KEY] = found
        session.info[_INFO_KEY] = found
    return found


@contextmanager
def per_request() -> Iterator[None]:
    """The units of work of one request (the HTTP layer opens this around each) read the
    stamps once: what they read through the caches is then what the hub held when the request
    began, as if the request had been answered at that moment; a unit that writes reads them
    again (:func:`forget`), and the write-time checks read the stamp they rely on themselves
    (:func:`exchange.agreements.grants.unchanged_since`)."""
    token = _REQUEST.set({})
    try:
        yield
    finally:
        _REQUEST.reset(token)


def forget(session: Session) -> None:
    """Read the stamps again at this unit of work's next cached read (and the request's other
    units too): after something may have changed a domain the unit reads (its own flush, or
    another worker's insert that refused ours)."""
    session.info.pop(_INFO_KEY, None)
    shared = _REQUEST.get()
    if shared is not None:
        shared.pop(_INFO_KEY, None)


@event.listens_for(Session, "after_flush")
def _forget_stamps(session: Session, _context: Any) -> None:
    """A flush may have changed a domain (the triggers replaced its stamp): read them again."""
    forget(session)


@event.listens_for(Session, "do_orm_execute")
def _forget_stamps_on_write(state: ORMExecuteState) -> None:
    """So may an ``INSERT``, ``UPDATE`` or ``DELETE`` executed through the session."""
    if not state.is_select:
        forget(state.session)


_MISSING = object()


class Cached(Generic[K, V]):
    """Values of one domain loaded per key, reused while the domain's stamp is unchanged.

    At most ``size`` keys are kept (the least recently used go first). Without a stamp row
    (a database not yet migrated to 0017) nothing is kept: every call loads.
    """

    def __init__(
        self, domain: Domain, load: Callable[[Session, K], V], *, size: int = 1024
    ) -> None:
        self._domain = domain.value
        self._load = load
        self._size = size
        self._lock = threading.Lock()
        self._stamp: str | None = None
        self._values: OrderedDict[K, V] = OrderedDict()
        self.loads = 0
        """How many times a value was loaded (for tests and benchmarks)."""

    def get(self, session: Session, key: K) -> V:
        stamp = stamps(session).get(self._domain)
        if stamp is not None:
            with self._lock:
                if stamp == self._stamp:
                    found = self._values.get(key, _MISSING)
                    if found is not _MISSING:
                        self._values.move_to_end(key)
                        return found  # type: ignore[return-value]
        value = self._load(session, key)
        self.loads += 1
        if stamp is None:
            return value
        with self._lock:
            if stamp != self._stamp:
                self._values.clear()
                self._stamp = stamp
            self._values[key] = value
            if len(self._values) > self._size:
                self._values.popitem(last=False)
        return value

    def remembered(self, key: K) -> tuple[V, str] | None:
        """The value held for *key* and the stamp it was read under, without reading the
        database; None if none is held. A caller that relies on it must compare that stamp
        with the request's (:func:`stamps`) before anything depends on it."""
        with self._lock:
            found = self._values.get(key, _MISSING)
            stamp = self._stamp
        if found is _MISSING or stamp is None:
            return None
        return found, stamp  # type: ignore[return-value]
