"""Where a resource's data comes from at query time.

- :mod:`~exchange.sources.registry`: the adapter configuration, which connection and mapping
  serve each catalogue resource, opened on first use;
- :mod:`~exchange.sources.cache`: the hub-side encrypted cache (前置库 mode) for resources bound
  as ``cached``, its sync jobs and its freshness.
"""
