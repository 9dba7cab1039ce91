"""``tongban sync RESOURCE``: sync a cached resource's cache now.

Incremental from the committed watermark (``--full`` starts over), or a snapshot diff, as the
resource's binding says. On a terminal a progress bar shows rows and rows per second; the
summary is one line (or ``--json``). Failure exits 1 with a one-line reason: the resource is
not cached, the source is unavailable, another run took over.
"""

from __future__ import annotations

from time import perf_counter
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from exchange.cli.common import JsonFlag, command_hub, out, print_json
from exchange.settings import Settings
from exchange.sources.cache.sync import CacheSync, SyncResult

__all__ = ["sync_cached", "sync_command"]


def sync_command(
    resource: Annotated[str, typer.Argument(help="Code of a cached resource.")],
    full: Annotated[
        bool, typer.Option("--full", help="Ignore the watermark and read everything.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Sync a cached resource (前置库) from its source into the hub's encrypted cache now."""
    with command_hub() as hub:
        sync = CacheSync(hub.sessions, hub.sources, hub.cache_crypto)
        if out.is_terminal and not as_json:
            result = _with_progress(sync, resource, full=full)
        else:
            result = sync.run(resource, full=full)
    if as_json:
        print_json(result.as_json())
        return
    out.print(_summary(result), highlight=False)


def _with_progress(sync: CacheSync, resource: str, *, full: bool) -> SyncResult:
    started = perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:>12,.0f} rows"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        task = bar.add_task(f"sync {resource}", total=None, rate="")

        def tick(rows: int) -> None:
            elapsed = perf_counter() - started
            rate = f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
            bar.update(task, completed=rows, rate=rate)

        return sync.run(resource, full=full, progress=tick)


def _summary(result: SyncResult) -> str:
    data = result.as_json()
    rate = f", {data['rows_per_s']:,.0f} rows/s" if data["rows_per_s"] else ""
    changes = f"{result.written} written"
    if result.strategy == "snapshot":
        changes += f", {result.deleted} deleted, {result.unchanged} unchanged subjects"
    start = "from the start" if result.resumed_from is None else "from its watermark"
    return (
        f"synced {result.resource} ({result.strategy}, {start}): {changes} "
        f"in {result.seconds:.1f} s{rate}; as of {data['as_of']}"
    )


def sync_cached(settings: Settings, *, full: bool = True) -> list[dict[str, object]]:
    """Sync every cached resource of the configured adapters file (``tongban demo`` calls
    this after publishing the catalogue); a summary per resource, no values."""
    with command_hub(settings) as hub:
        sync = CacheSync(hub.sessions, hub.sources, hub.cache_crypto)
        sources = hub.sources
        cached = [r for r in sources.bound() if getattr(sources.binding(r), "cached", False)]
        return [sync.run(resource, full=full).as_json() for resource in cached]
