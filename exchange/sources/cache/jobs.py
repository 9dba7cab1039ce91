"""Scheduler entries of the source cache: one job ``sync.<RESOURCE>`` per cached resource.

The hub (:mod:`exchange.hub`) asks :func:`sync_jobs` for them when it is composed; the scheduler
(``exchange/jobs``) runs each job every ``sync.every_s`` seconds of the resource's binding, once
across hub workers. A run is
:meth:`exchange.sources.cache.sync.CacheSync.run`: incremental by watermark, or a snapshot diff;
a run that fails raises (the scheduler records the failure and retries), and the failure's code is
kept in ``cache_sync_state`` for freshness and ``tongban sync``.
"""

from __future__ import annotations

from collections.abc import Callable

from exchange.jobs.spec import JobContext, JobOutcome, JobSpec
from exchange.sources.cache.crypto import CacheCrypto
from exchange.sources.cache.sync import CacheSync
from exchange.sources.registry import SourceRegistry

__all__ = ["sync_jobs"]


def sync_jobs(sources: SourceRegistry, crypto: CacheCrypto) -> list[JobSpec]:
    """One job per cached resource, in resource order."""
    jobs = []
    for resource in sources.bound():
        binding = sources.binding(resource)
        if binding is None or not binding.cached or binding.sync is None:
            continue
        jobs.append(
            JobSpec(
                id=f"sync.{resource}",
                description=f"sync the cache of {resource} ({binding.sync.strategy})",
                run=_runner(sources, resource, crypto),
                every_s=binding.sync.every_s,
            )
        )
    return jobs


def _runner(
    sources: SourceRegistry, resource: str, crypto: CacheCrypto
) -> Callable[[JobContext], JobOutcome]:
    def run(context: JobContext) -> JobOutcome:
        result = CacheSync(context.sessions, sources, crypto).run(resource)
        detail = {k: v for k, v in result.as_json().items() if k != "resource"}
        return JobOutcome(rows=result.written + result.deleted, detail=detail)

    return run
