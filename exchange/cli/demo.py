"""``tongban demo``: build the demo city (legacy stores, catalogue, systems, agreements,
consents) and make this directory a development installation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from exchange.cli.common import JsonFlag, command_hub, out, print_json, safe_url
from exchange.db import unit_of_work
from exchange.demo.build import build_demo
from exchange.settings import Settings, load_settings


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
    with command_hub(settings) as hub, unit_of_work(hub.sessions, write=True) as session:
        world = build_demo(session, data, subjects=subjects, hub=hub)
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
        f"[bold]Demo world[/bold] in {data} (database {safe_url(settings)})",
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
