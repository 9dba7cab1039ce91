"""``tongban catalogue``: publish, deprecate and search the data catalogue (资源目录)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from catalogue.descriptors import Descriptor, parse_descriptor
from catalogue.publishing import PublishOutcome, deprecate_resource, publish
from catalogue.search import SearchQuery, search
from catalogue.vocabulary import Sensitivity, SharingType
from exchange.cli.common import JsonFlag, command_session, out, print_json
from exchange.demo.build import sort_for_publishing
from exchange.errors import CommandFailed
from exchange.lifecycle.review import record_bootstrap
from exchange.settings import load_settings
from schemas import TongbanError

catalogue_app = typer.Typer(help="Publish and search the data catalogue.", no_args_is_help=True)


@catalogue_app.command("publish")
def catalogue_publish(
    files: Annotated[list[Path], typer.Argument(help="Descriptor files (YAML or JSON).")],
    as_json: JsonFlag = False,
) -> None:
    """Validate and publish descriptors; all of them or, on any error, none. The operator's
    set-up load: each new resource version is recorded as a bootstrap publication (no review),
    with its audit entry (docs/lifecycle.md)."""
    descriptors: list[tuple[Path, Descriptor]] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandFailed(f"{path}: cannot read ({exc.strerror})") from None
        media = "application/json" if path.suffix.lower() == ".json" else "application/yaml"
        try:
            descriptors.append((path, parse_descriptor(data, media_type=media)))
        except TongbanError as exc:
            raise CommandFailed(f"{path}: {exc.explain()}") from None
    source = {id(d): p for p, d in descriptors}
    outcomes: list[PublishOutcome] = []
    now = datetime.now(UTC)
    with command_session(load_settings()) as session:
        ordered = sort_for_publishing([d for _, d in descriptors])
        for descriptor in ordered:
            try:
                outcomes.append(publish(session, descriptor, by="cli", now=now))
            except TongbanError as exc:
                raise CommandFailed(f"{source[id(descriptor)]}: {exc.explain()}") from None
        record_bootstrap(session, ordered, outcomes, by="cli", now=now)
    if as_json:
        print_json([o.as_dict() for o in outcomes])
        return
    for outcome in outcomes:
        state = f"version {outcome.version}" if outcome.version else "updated"
        if not outcome.created:
            state = "unchanged"
        out.print(f"{outcome.kind.value:<13} {outcome.code:<16} {state}")
        for warning in outcome.warnings:
            out.print(f"  [yellow]warning[/yellow] {warning['pointer']}: {warning['detail']}")


@catalogue_app.command("deprecate")
def catalogue_deprecate(
    code: Annotated[str, typer.Argument(help="Resource code.")],
    reason: Annotated[str, typer.Option(help="Why the resource is deprecated.")],
) -> None:
    """Deprecate a resource: it leaves search and takes no new versions."""
    with command_session(load_settings()) as session:
        deprecate_resource(session, code, reason=reason, now=datetime.now(UTC))
    out.print(f"deprecated {code}")


@catalogue_app.command("search")
def catalogue_search(
    text: Annotated[str, typer.Argument(help="Words to find.")] = "",
    provider: Annotated[str | None, typer.Option(help="Department code.")] = None,
    sharing: Annotated[SharingType | None, typer.Option(help="Sharing type.")] = None,
    sensitivity: Annotated[Sensitivity | None, typer.Option(help="Sensitivity.")] = None,
    limit: Annotated[int, typer.Option(help="Results to show.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Search the catalogue as the HTTP API does."""
    query = SearchQuery(text, provider, sharing, sensitivity, limit=limit)
    with command_session(load_settings()) as session:
        hits, total = search(session, query)
    if as_json:
        print_json({"total": total, "results": [h.code for h in hits]})
        return
    table = Table("code", "rank", title=f"{total} match(es)")
    for hit in hits:
        table.add_row(hit.code, f"{hit.rank:.3f}")
    out.print(table)
