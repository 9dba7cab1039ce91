"""``tongban demo``: build the demo city (legacy stores, catalogue, systems, agreements,
consents) and make a directory a development installation that ``tongban serve`` serves.

A demo is built whole or not at all, in this order:

1. the demo directory must not hold anything yet: a second ``demo`` over an existing one is
   refused before anything is written (serve the one there, or remove it to build afresh);
2. the settings are read: ``--data DIR`` without a configured database makes DIR a
   self-contained installation (its database ``DIR/tongban.db`` and dev secret
   ``DIR/secret.key``), so two demos never share a database; the default ``var/demo`` uses the
   configured database (``./var/tongban.db`` unless set);
3. that database must not hold a demo's case systems already (their keys would clash);
4. the demo is built; if any step fails, every file and directory this run created is removed
   again (the database file and secret included, when this run created them);
5. last, ``DIR/tongban.toml`` records what ``tongban serve --data DIR`` needs (mode, database,
   secret file, adapters file; absolute paths), and ``./tongban.toml`` the same for
   ``tongban serve`` here, unless a configuration is in force already.

A database that existed before the run (a server, or a SQLite file the user made) is not
removed on failure: the catalogue, systems, agreements and consents are one transaction there,
and only the cache sync after it commits on its own. Legacy stores on servers (``--psb-url``,
``--hrss-url``) are rewritten in place, as before.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from catalogue.models import System
from exchange import clock
from exchange.cli.common import JsonFlag, command_hub, demo_config, out, print_json, safe_url
from exchange.db import unit_of_work
from exchange.demo.build import DEMO_SYSTEMS, build_demo
from exchange.files import write_owner_only
from exchange.settings import Settings, SettingsError, configured, load_settings


class CryptoProfileName(StrEnum):
    """``--crypto``: the crypto profiles (exchange.security.gm.profile)."""

    INTL = "intl"
    GM = "gm"


DEFAULT_DATA = Path("var/demo")
DEMO_CONFIG = Path("tongban.toml")
"""The working directory's configuration, written when none is in force."""


def demo(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            metavar="DIR",
            help="Directory for the demo (default var/demo). Given, DIR holds the whole "
            "installation (database, secret, stores, keys, tongban.toml): serve it with "
            "`tongban serve --data DIR`.",
        ),
    ] = None,
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
    traffic: Annotated[
        bool,
        typer.Option(
            "--traffic",
            help="Build the world four weeks back and replay four weeks of traffic up to now "
            "(queries, denials, consents given and withdrawn, a night run and a burst the "
            "statistics flag, the jobs each night), so the auditor's and operator's pages show "
            "a month's history (exchange/demo/history.py).",
        ),
    ] = False,
    crypto: Annotated[
        CryptoProfileName | None,
        typer.Option(
            "--crypto",
            help="The crypto profile: intl (Ed25519, SHA-256, AES-GCM) or gm (SM2, SM3, SM4; "
            "docs/gm.md). Default: TONGBAN_CRYPTO_PROFILE, else intl. Recorded in the demo's "
            "tongban.toml.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Build the demo world: departments' legacy stores, catalogue, service items, systems."""
    target = data or DEFAULT_DATA
    _refuse_a_used_directory(target)
    self_contained = data is not None and not configured("database_url")
    with _undone_on_failure() as created:
        settings = _demo_settings(target, self_contained, created, crypto)
        _refuse_a_database_with_a_demo(settings, target)
        summary = _build(settings, target, citizens, seed, psb_url, hrss_url, traffic=traffic)
        summary["config"] = _record_installation(settings, target, self_contained, created)
    if as_json:
        print_json({**summary, "data_dir": str(target)})
        return
    _print_demo(target, settings, summary)


def _build(
    settings: Settings,
    target: Path,
    citizens: int,
    seed: int,
    psb_url: str | None,
    hrss_url: str | None,
    *,
    traffic: bool = False,
) -> dict[str, Any]:
    from exchange.cli.sync import sync_cached
    from exchange.demo.sources import DEMO_CACHED, build_legacy_world

    legacy = build_legacy_world(
        target, citizens=citizens, seed=seed, psb_url=psb_url, hrss_url=hrss_url, cached=DEMO_CACHED
    )
    subjects = [s.to_json() for s in legacy.subjects]
    bound = settings.model_copy(update={"adapters_file": legacy.adapters_file})
    if traffic:
        return _build_with_history(settings, bound, target, legacy.as_json(), subjects)
    from exchange.demo.applications import seed_applications
    from exchange.demo.lifecycle import seed_lifecycle

    with command_hub(settings) as hub, unit_of_work(hub.sessions, write=True) as session:
        world = build_demo(session, target, subjects=subjects, hub=hub)
        lifecycle = seed_lifecycle(session, clock.now())
        applications = seed_applications(session, hub.keys, hub.application_clocks, clock.now())
    cached = sync_cached(bound)
    return {
        **world.summary(),
        "legacy": legacy.as_json(),
        "cached": cached,
        "lifecycle": lifecycle,
        "applications": applications,
    }


def _build_with_history(
    settings: Settings,
    bound: Settings,
    target: Path,
    legacy: dict[str, Any],
    subjects: list[dict[str, str]],
) -> dict[str, Any]:
    """The world built four weeks back and its history up to now, under the demo's simulated
    clock (exchange/demo/history.py); then, at the real time, the demo consents and every job
    once."""
    from exchange.cli.sync import sync_cached
    from exchange.demo.applications import seed_applications
    from exchange.demo.build import add_consents
    from exchange.demo.corrections import add_corrections
    from exchange.demo.history import history_start, run_jobs_once, simulate_history
    from exchange.demo.lifecycle import seed_lifecycle
    from exchange.demo.notice import add_deferrals

    with ExitStack() as stack:
        with clock.simulated(history_start(clock.now())) as simulated:
            with command_hub(settings) as hub, unit_of_work(hub.sessions, write=True) as session:
                world = build_demo(session, target, subjects=subjects, hub=hub, with_consents=False)
            cached = sync_cached(bound)
            served = stack.enter_context(command_hub(bound))  # kept past the simulated clock
            traffic = simulate_history(served, subjects, simulated)
        with unit_of_work(served.sessions, write=True) as session:
            add_consents(session, served, world, now=clock.now())
        corrections = add_corrections(served, subjects)
        deferrals = add_deferrals(served, subjects)
        with unit_of_work(served.sessions, write=True) as session:
            lifecycle = seed_lifecycle(session, clock.now())
            applications = seed_applications(
                session, served.keys, served.application_clocks, clock.now()
            )
        run_jobs_once(served, traffic)
    return {
        **world.summary(),
        "legacy": legacy,
        "cached": cached,
        "traffic": traffic.as_json(),
        "corrections": corrections,
        "deferrals": deferrals,
        "lifecycle": lifecycle,
        "applications": applications,
    }


# -- refusing before anything is written ------------------------------------------------------


def _refuse_a_used_directory(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "a demo" if (target / "demo.json").exists() else "files"
        raise SettingsError(
            f"{target} already holds {what}; nothing was changed. Serve it with "
            f"`tongban serve{_data_option(target)}`, or remove {target}"
            f"{' (and ./var, ./tongban.toml)' if target == DEFAULT_DATA else ''} "
            "to build a new demo, or choose another directory with --data"
        )


def _refuse_a_database_with_a_demo(settings: Settings, target: Path) -> None:
    """The demo's case systems in the database already (a demo built from another directory,
    or whose directory was removed) would clash with this demo's new keys."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return  # a new database: nothing in it
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("systems"):
                return
            ids = [s["id"] for s in DEMO_SYSTEMS]
            found = connection.execute(select(System.id).where(System.id.in_(ids))).first()
    except SQLAlchemyError:
        return  # the build reports an unreachable database itself
    finally:
        engine.dispose()
    if found is not None:
        raise SettingsError(
            f"the hub database {safe_url(settings)} already holds a demo's case systems "
            f"(built with other keys than {target}/keys); nothing was built. Serve that demo, "
            "or build this one with its own database: `tongban demo --data DIR`"
        )


# -- undoing a failed build -------------------------------------------------------------------


@contextmanager
def _undone_on_failure() -> Iterator[list[Path]]:
    """Paths this run creates (the caller adds each before writing it, :func:`_track`); on any
    failure each is removed: a new file, the outermost new directory on its way, or the
    contents of an empty directory that was there."""
    created: list[Path] = []
    try:
        yield created
    except BaseException:
        for path in reversed(created):
            _remove(path)
        raise


def _outermost_new(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist yet (``None``: it does)."""
    if path.exists():
        return None
    new = path
    for parent in path.absolute().parents:
        if parent.exists():
            break
        new = parent
    return new


def _remove(path: Path) -> None:
    if path.name == _CONTENTS:
        for child in path.parent.iterdir():
            _remove(child)
    elif path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


_CONTENTS = "\0contents"


def _track(created: list[Path], *paths: Path) -> None:
    for path in paths:
        new = _outermost_new(path)
        if new is not None:
            created.append(new)
        elif path.is_dir() and not any(path.iterdir()):
            created.append(path / _CONTENTS)  # the empty directory stays, its contents go


def _demo_settings(
    target: Path,
    self_contained: bool,
    created: list[Path],
    crypto: CryptoProfileName | None = None,
) -> Settings:
    """The settings the demo is built with. What they would create (the demo directory, the
    dev secret file, a SQLite database) is tracked before they are read: reading dev settings
    without a secret generates the secret file."""
    overrides: dict[str, Any] = {}
    if crypto is not None:
        overrides["crypto_profile"] = crypto.value
    if self_contained:
        overrides["database_url"] = f"sqlite:///{target / 'tongban.db'}"
        if not configured("secret_file"):
            overrides["secret_file"] = target / "secret.key"
    # The same settings with a throwaway secret: where they put things, generating nothing.
    probe = load_settings(default_mode="dev", secret_key=secrets.token_urlsafe(48), **overrides)
    database = make_url(probe.database_url)
    _track(created, target, probe.secret_file)
    if database.get_backend_name() == "sqlite" and database.database not in {None, "", ":memory:"}:
        path = Path(str(database.database))
        _track(created, path, *(path.with_name(path.name + end) for end in ("-wal", "-shm")))
    return load_settings(default_mode="dev", **overrides)


def _data_option(target: Path) -> str:
    return "" if target == DEFAULT_DATA else f" --data {target}"


# -- recording the installation ---------------------------------------------------------------


def _record_installation(
    settings: Settings, target: Path, self_contained: bool, created: list[Path]
) -> str | None:
    """``DIR/tongban.toml`` (what serving this demo needs, absolute paths), and
    ``./tongban.toml`` when no configuration is in force here; the working directory's file
    is returned, if written."""
    _write_config(demo_config(target), _config_lines(settings, target, absolute=True))
    if settings.mode != "dev" or DEMO_CONFIG.exists() or os.environ.get("TONGBAN_CONFIG"):
        return None
    lines = _config_lines(settings, target, absolute=False)
    if not self_contained:  # the database and secret are this directory's defaults
        kept = ("mode", "adapters_file", "crypto_profile")
        lines = [line for line in lines if line.startswith(kept)]
    _track(created, DEMO_CONFIG)
    _write_config(DEMO_CONFIG, lines)
    return str(DEMO_CONFIG)


def _config_lines(settings: Settings, target: Path, *, absolute: bool) -> list[str]:
    """TOML lines: mode, database (a SQLite one; a server's URL stays where it was configured),
    secret file (unless the secret itself is configured), adapters file."""

    def where(path: Path) -> str:
        return str(path.absolute() if absolute else path)

    lines = [f"mode = {json.dumps(settings.mode)}"]
    database = make_url(settings.database_url)
    if database.get_backend_name() == "sqlite" and database.database:
        lines.append(f"database_url = {json.dumps('sqlite:///' + where(Path(database.database)))}")
    if not configured("secret_key"):
        lines.append(f"secret_file = {json.dumps(where(settings.secret_file))}")
    lines.append(f"adapters_file = {json.dumps(where(target / 'adapters.json'))}")
    if settings.crypto_profile != "intl":  # the profile its data is written under (docs/gm.md)
        lines.append(f"crypto_profile = {json.dumps(settings.crypto_profile)}")
    return lines


def _write_config(path: Path, lines: list[str]) -> None:
    document = [
        "# Written by `tongban demo`: a development installation (the development IdP is",
        "# mounted; anyone who reaches the hub can sign in as anyone). Not for real data.",
        *lines,
    ]
    write_owner_only(path, "\n".join(document) + "\n")


# -- saying what was built --------------------------------------------------------------------


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
    serve_here = " or `tongban serve` here" if summary["config"] else ""
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
        f"  mode          {settings.mode}; configuration {demo_config(data)}",
        f"  serve it      `tongban serve --data {data}`{serve_here}",
    ]
    history = summary.get("traffic")
    if history:
        lines.insert(-3, _history_line(history))
    for line in lines:
        out.print(line, soft_wrap=True, highlight=False)


def _history_line(history: dict[str, Any]) -> str:
    """The ``--traffic`` history, in counts (the days in China time)."""
    return (
        f"  history       {history['days']} days from {history['first']} (simulated clock): "
        f"{history['answered']} queries answered, {history['refused']} refused, "
        f"{history['consents_given']} consents given, {history['consents_revoked']} withdrawn, "
        f"{history['jobs_run']} job runs"
    )
