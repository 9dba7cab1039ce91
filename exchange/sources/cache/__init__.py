"""The hub-side source cache (前置库 mode): cached resources are synced from their sources on a
schedule into tables encrypted at rest, and queries on them read the cache (docs/cache.md).

Modules: ``models`` (tables), ``crypto`` (data keys, record sealing, subject pseudonyms),
``sync`` (the watermark and snapshot engines), ``reader`` (the query path), ``freshness``
(declared update frequency against the last refresh), ``jobs`` (scheduler entries).
"""
