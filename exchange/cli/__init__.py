"""The ``tongban`` command line (CONTRACT.md): every command exits 0 on success and non-zero
with a one-line reason on stderr on failure; ``--json`` where the output is data."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from catalogue.descriptors import Descriptor, parse_descriptor
from catalogue.publishing import PublishOutcome, deprecate_resource, publish
from catalogue.search import SearchQuery, search
from catalogue.systems import keys_from_document, register_system, system_view
from catalogue.vocabulary import Sensitivity, SharingType
from exchange.cli.agreements import agreements_app
from exchange.cli.audit import audit_app
from exchange.cli.common import JsonFlag, command_session, out, print_json
from exchange.cli.jobs import jobs_app, worker_command
from exchange.cli.keys import keys_app
from exchange.cli.sync import sync_command
from exchange.db import make_engine, migrate
from exchange.demo.build import build_demo, sort_for_publishing
from exchange.errors import CommandFailed
from exchange.settings import Settings, load_settings
from schemas import TongbanError

app = typer.Typer(
    name="tongban",
    help="Tongban (通办): the data-sharing exchange hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalogue_app = typer.Typer(help="Publish and search the data catalogue.", no_args_is_help=True)
system_app = typer.Typer(help="Register client systems and their keys.", no_args_is_help=True)
db_app = typer.Typer(help="The hub's own database.", no_args_is_help=True)
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(system_app, name="system")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(agreements_app, name="agreements")
app.add_typer(audit_app, name="audit")
app.add_typer(jobs_app, name="jobs")
app.command("worker")(worker_command)
app.command("sync")(sync_command)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the hub (API and console) on the configured database."""
    import uvicorn

    from exchange.api.protocol import header_deadline_protocol
    from exchange.app import create_app

    settings = load_settings().served_at(host, port)
    engine = make_engine(settings.database_url)
    migrate(engine)
    engine.dispose()
    if settings.mode == "dev":
        _announce_dev_mode(settings)
    out.print(
        f"Tongban hub on http://{host}:{port} as {settings.public_url}"
        f"  (mode {settings.mode}; API docs at /docs)"
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        timeout_keep_alive=5,
        http=header_deadline_protocol(settings.header_timeout_s),
    )


def _announce_dev_mode(settings: Settings) -> None:
    """A dev hub says so loudly, on stderr, before it listens: anyone who can reach it can mint
    staff and citizen tokens from its development identity provider."""
    banner = [
        "!" * 78,
        "!! DEVELOPMENT MODE (TONGBAN_MODE=dev): NOT FOR REAL DATA",
        "!! The development identity provider (POST /dev/idp/token) is mounted: anyone who can",
        "!! reach this hub can sign in as any citizen, auditor or department admin.",
        f"!! Secret: this installation's own, generated in {settings.secret_file}.",
        "!! For real use: TONGBAN_MODE=prod, TONGBAN_SECRET_KEY, TONGBAN_PUBLIC_URL",
        "!! (docs/security.md).",
        "!" * 78,
    ]
    sys.stderr.write("\n".join(banner) + "\n")


@app.command()
def demo(
    data: Annotated[Path, typer.Option("--data", help="Directory for demo files.")] = Path(
        "var/demo"
    ),
    citizens: Annotated[
        int, typer.Option("--citizens", min=0, help="Citizens of the demo city.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the generated city.")] = 2026,
    psb_url: Annotated[
        str | None,
        typer.Option(
            "--psb-url",
            envvar="TONGBAN_DEMO_PSB_URL",
            help="SQLAlchemy URL for the PSB store (e.g. MariaDB); SQLite under DIR otherwise.",
        ),
    ] = None,
    hrss_url: Annotated[
        str | None,
        typer.Option(
            "--hrss-url",
            envvar="TONGBAN_DEMO_HRSS_URL",
            help="SQLAlchemy URL for the HRSS store (e.g. PostgreSQL); SQLite under DIR otherwise.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Build the demo world: departments' legacy stores, catalogue, service items, systems."""
    from exchange.cli.sync import sync_cached
    from exchange.demo.sources import DEMO_CACHED, build_legacy_world

    settings = load_settings(default_mode="dev")
    legacy = build_legacy_world(
        data, citizens=citizens, seed=seed, psb_url=psb_url, hrss_url=hrss_url, cached=DEMO_CACHED
    )
    subjects = [s.to_json() for s in legacy.subjects]
    with command_session(settings) as session:
        world = build_demo(session, data, subjects=subjects, settings=settings)
    cached = sync_cached(settings.model_copy(update={"adapters_file": legacy.adapters_file}))
    config = _record_demo_installation(settings, legacy.adapters_file)
    summary = {**world.summary(), "legacy": legacy.as_json(), "cached": cached, "config": config}
    if as_json:
        print_json({**summary, "data_dir": str(data)})
        return
    _print_demo(data, settings, summary)


def _print_demo(data: Path, settings: Settings, summary: dict[str, Any]) -> None:
    """The human summary: what was built and where; no names, no ID numbers."""
    legacy = summary["legacy"]
    kinds = ", ".join(f"{k} x{n}" for k, n in legacy["subject_kinds"].items())
    lines = [
        f"[bold]Demo world[/bold] in {data} (database {_safe_url(settings)})",
        f"  citizens      {legacy['citizens']} in {legacy['households']} households",
    ]
    for department, stores in legacy["stores"].items():
        rows = ", ".join(f"{t} {n}" for t, n in legacy["rows"].get(department, {}).items())
        lines.append(f"  {department:<13} {rows}  ({'; '.join(stores)})")
    lines += [
        f"  adapters      {legacy['adapters_file']} (connections and mappings)",
        *(
            f"  cached        {c['resource']} ({c['strategy']}, as of {c['as_of']})"
            for c in summary["cached"]
        ),
        f"  departments   {', '.join(summary['departments'])}",
        f"  resources     {', '.join(summary['resources'])}",
        f"  service items {', '.join(summary['service_items'])}",
        f"  case systems  {', '.join(summary['systems'])} (private keys in {data}/keys/)",
        f"  agreements    {', '.join(summary['agreements']) or 'none'}",
        f"  consents      {', '.join(summary['consents']) or 'none'} (mca-dibao requests)",
        f"  subjects      {kinds} (ID numbers in {data}/demo.json)",
        f"  newly published: {summary['published_now']}; manifest {data}/demo.json",
        f"  mode          {settings.mode}"
        + (f" (recorded in {summary['config']})" if summary["config"] else "")
        + "; `tongban serve` in this directory serves it",
    ]
    for line in lines:
        out.print(line, soft_wrap=True, highlight=False)


DEMO_CONFIG = Path("tongban.toml")


def _record_demo_installation(settings: Settings, adapters_file: Path) -> str | None:
    """Make this directory a development installation on purpose: a ``./tongban.toml`` that
    says ``mode = "dev"`` and names the demo's adapters file, so that ``tongban serve`` and
    every other command here act on the demo (and ``serve`` announces dev mode). Only when no
    configuration is in force already; a hub elsewhere stays ``prod`` by default."""
    if settings.mode != "dev" or DEMO_CONFIG.exists() or os.environ.get("TONGBAN_CONFIG"):
        return None
    document = (
        "# Written by `tongban demo`: this directory is a development installation (the\n"
        "# development IdP is mounted, the secret is var/secret.key). Delete this file, or set\n"
        "# TONGBAN_MODE=prod with a real secret and public URL, for anything else.\n"
        'mode = "dev"\n'
        f"adapters_file = {json.dumps(str(adapters_file))}\n"
    )
    DEMO_CONFIG.write_text(document, encoding="utf-8")
    DEMO_CONFIG.chmod(0o600)
    return str(DEMO_CONFIG)


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


@catalogue_app.command("publish")
def catalogue_publish(
    files: Annotated[list[Path], typer.Argument(help="Descriptor files (YAML or JSON).")],
    as_json: JsonFlag = False,
) -> None:
    """Validate and publish descriptors; all of them or, on any error, none."""
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
    with command_session(load_settings()) as session:
        for descriptor in sort_for_publishing([d for _, d in descriptors]):
            try:
                outcomes.append(publish(session, descriptor, by="cli", now=datetime.now(UTC)))
            except TongbanError as exc:
                raise CommandFailed(f"{source[id(descriptor)]}: {exc.explain()}") from None
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


@system_app.command("add")
def system_add(
    system_id: Annotated[str, typer.Option("--id", help="Client id of the system.")],
    department: Annotated[str, typer.Option(help="Owning department code.")],
    jwk: Annotated[Path, typer.Option("--jwk", help="Public JWK or JWKS file.")],
    purpose: Annotated[
        list[str] | None, typer.Option("--purpose", help="A registered purpose (repeatable).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a client system and its public key(s)."""
    try:
        keys = keys_from_document(jwk.read_bytes())
    except OSError as exc:
        raise CommandFailed(f"{jwk}: cannot read ({exc.strerror})") from None
    registration: dict[str, Any] = {"id": system_id, "department": department, "keys": keys}
    if purpose:
        registration["purposes"] = purpose
    if name:
        registration["name"] = name
    with command_session(load_settings()) as session:
        view = system_view(session, register_system(session, registration, now=datetime.now(UTC)))
    if as_json:
        print_json(view)
    else:
        out.print(f"system {view['id']} ({view['department']}) keys: {', '.join(view['keys'])}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    engine.dispose()
    out.print(f"database {_safe_url(settings)} is at the latest revision")


def main() -> None:
    """Entry point: one-line errors on stderr, non-zero exit. Everything the command writes
    (the hub database, demo stores, keys, shares) is its user's alone: umask 077."""
    os.umask(0o077)
    try:
        app(standalone_mode=False)
    except TongbanError as exc:
        _fail(exc.explain())
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _fail("aborted")
    except SQLAlchemyError as exc:
        _fail(f"database error ({type(exc).__name__}); check TONGBAN_DATABASE_URL and the server")


def _fail(reason: str, code: int = 1) -> None:
    sys.stderr.write(f"tongban: {reason}\n")
    sys.exit(code)
