"""What the sources refuse: an adapters file that does not fit, and the hub-side cache's failures
(a sync that failed or was superseded, a resource not cached or not yet synced, a record that
does not authenticate).
"""

from __future__ import annotations

from adapters.errors import AdapterError
from schemas import TongbanError

__all__ = [
    "AdapterConfigError",
    "CacheIntegrityError",
    "NotCached",
    "NotSynced",
    "SyncFailed",
    "SyncSuperseded",
]


class AdapterConfigError(TongbanError):
    """The sources file (``TONGBAN_ADAPTERS_FILE``) is not readable or does not fit: a connection, a
    mapping or a binding is wrong."""

    code = "invalid_adapter_config"
    title = "Invalid adapter configuration"


class CacheIntegrityError(TongbanError):
    """A wrapped key or a sealed record does not authenticate: altered, moved, or sealed
    under another master secret. Says nothing about the content."""

    code = "cache_integrity"
    status = 500
    title = "Cache integrity failure"


class NotSynced(AdapterError):
    """The cache cannot answer yet: never synced, or without the field asked for."""

    code = "not_synced"
    status = 503
    title = "Cache not synced"


class SyncFailed(TongbanError):
    """A sync of a cached resource did not complete; the detail says why (the source, its
    mapping, or the hub database)."""

    code = "sync_failed"
    status = 502
    title = "Sync failed"


class NotCached(TongbanError):
    """The resource is not bound as a cached resource, so there is nothing to sync."""

    code = "not_cached"
    status = 409
    title = "Resource is not cached"


class SyncSuperseded(TongbanError):
    """Another sync run took over this resource, and this one stopped."""

    code = "sync_superseded"
    status = 409
    title = "A newer sync took over"
