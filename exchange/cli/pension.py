"""``tongban demo-receiver`` and ``tongban demo-register-death``: the demo's death-registration
story (docs/subscriptions.md, "The demo story").

``demo-receiver serve`` runs the pension system (:mod:`exchange.demo.pension`): on its first run
it makes its key (SM2 when the hub's metadata says it takes SM2SM3 assertions only, a ``gm``
hub), registers itself with the hub (as ``tongban system add`` does), subscribes to
``death.deceased`` of its pensioners with a webhook on ``--port``, and waits until the hub
watches the civil-affairs stream; then it prints each event it accepts. Later runs reuse the
same subscription, so a receiver that was down gets what it missed, in order.
``demo-receiver events`` lists (and can wait for) what it accepted. ``demo-register-death``
registers a death in the demo's civil-affairs store, as that department's own system would.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from catalogue.identifiers import parse_resident_id
from catalogue.systems import register_system
from exchange.cli.common import JsonFlag, command_session, out, print_json
from exchange.demo import pension
from exchange.errors import CommandFailed
from exchange.security.clientauth import client_algorithms_of
from exchange.settings import Settings, load_settings

__all__ = ["demo_receiver_app", "register_death_command"]

demo_receiver_app = typer.Typer(
    help="The demo's pension system: receives death registrations as signed webhooks.",
    no_args_is_help=True,
)

DataOption = Annotated[
    Path, typer.Option("--data", help="The pension system's own directory (key, subscription).")
]
DEFAULT_DATA = Path("var/pension")


def _connections(settings: Settings) -> dict[str, str]:
    adapters = settings.adapters_file
    try:
        document = json.loads(Path(adapters or "").read_text("utf-8"))
        return {name: str(c["url"]) for name, c in document["connections"].items() if "url" in c}
    except (OSError, ValueError, KeyError, TypeError):
        raise CommandFailed(
            f"no demo world here ({adapters} is missing or unreadable): run `tongban demo` first"
        ) from None


def _store(settings: Settings, name: str) -> str:
    found = _connections(settings).get(name)
    if found is None:
        raise CommandFailed(f"the demo world has no {name} store")
    return found


def _registered(settings: Settings, office: pension.PensionOffice) -> None:
    key = office.key()
    registration = {
        "id": pension.SYSTEM,
        "department": pension.DEPARTMENT,
        "name": pension.NAME,
        "purposes": [pension.PURPOSE],
        "keys": [pension.public(key)],
    }
    algorithms = client_algorithms_of(settings.crypto_profile)  # a gm hub: SM2 keys only
    with command_session(settings) as session:
        register_system(session, registration, now=datetime.now(UTC), algorithms=algorithms)


def _subscription(
    settings: Settings, office: pension.PensionOffice, hub: str, url: str
) -> dict[str, Any]:
    kept = office.subscription()
    if kept is not None:
        if kept["webhook_url"] != url:
            raise CommandFailed(
                f"this pension system receives at {kept['webhook_url']}; serve it there "
                "(or use another --data)"
            )
        return kept
    _registered(settings, office)
    people = pension.caseload(_store(settings, "hrss"), _store(settings, "mca"))
    if not people:
        raise CommandFailed("the demo world has no living pensioners to subscribe to")
    try:
        token = pension.access_token(hub, office.key())
        made = pension.subscribe(hub, token, people, url)
    except RuntimeError as exc:
        raise CommandFailed(str(exc)) from None
    office.keep_subscription(made)
    out.print(f"订阅 {made['id']}: {len(people)} 名养老金领取人的死亡登记 (death.deceased)")
    return made


@demo_receiver_app.command("serve")
def serve(
    hub: Annotated[str, typer.Option(help="The hub's URL.")] = "http://127.0.0.1:8000",
    port: Annotated[int, typer.Option(help="Where the webhook listens (127.0.0.1).")] = 8020,
    data: DataOption = DEFAULT_DATA,
) -> None:
    """Run the pension system's webhook receiver in the foreground (Ctrl-C stops it)."""
    settings = load_settings(default_mode="dev")
    if settings.mode != "dev":
        raise CommandFailed("the demo receiver runs against a dev-mode demo hub only")
    hub = hub.rstrip("/")
    office = pension.PensionOffice(data)
    office.ready_file.unlink(missing_ok=True)
    url = f"http://127.0.0.1:{port}{pension.HOOK_PATH}"
    try:
        office.key(pension.client_algorithm(hub))  # SM2 for a gm hub, made on the first run
        made = _subscription(settings, office, hub, url)
        receiver = pension.Webhooks(office, str(made["secret"]), out.print)
        with receiver.serving("127.0.0.1", port):
            token = pension.access_token(hub, office.key())
            if not pension.watching(hub, token, str(made["id"]), within_s=60):
                raise CommandFailed("the hub did not start watching the civil-affairs stream")
            office.ready_file.write_text(datetime.now(UTC).isoformat(), "utf-8")
            out.print(f"养老金发放系统 listening on {url}; waiting for death registrations")
            _until_stopped()
    except OSError as exc:
        raise CommandFailed(f"cannot listen on 127.0.0.1:{port} ({exc.strerror})") from None
    except RuntimeError as exc:
        raise CommandFailed(str(exc)) from None
    finally:
        office.ready_file.unlink(missing_ok=True)


def _until_stopped() -> None:
    """Until Ctrl-C or SIGTERM."""
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        while not stop["now"]:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass


@demo_receiver_app.command("pensioners")
def pensioners(
    limit: Annotated[int, typer.Option(help="At most this many.", min=1)] = 10,
) -> None:
    """The pension office's caseload: living pensioners' ID numbers, one a line."""
    settings = load_settings(default_mode="dev")
    people = pension.caseload(_store(settings, "hrss"), _store(settings, "mca"), limit)
    for person in people:
        typer.echo(person)


@demo_receiver_app.command("events")
def events(
    data: DataOption = DEFAULT_DATA,
    at_least: Annotated[
        int, typer.Option("--at-least", help="Wait until this many events were accepted.")
    ] = 0,
    within: Annotated[float, typer.Option(help="Seconds to wait, at most.")] = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """The events the pension system accepted, in the order it accepted them (waits until the
    receiver is ready and has --at-least events)."""
    office = pension.PensionOffice(data)
    deadline = time.monotonic() + within
    while True:
        got = office.received()
        if office.ready_file.exists() and len(got) >= at_least:
            break
        if time.monotonic() >= deadline:
            state = "ready" if office.ready_file.exists() else "not ready"
            raise CommandFailed(
                f"the receiver is {state} with {len(got)} of {at_least} events after {within:g} s"
            )
        time.sleep(0.2)
    if as_json:
        print_json([g.__dict__ for g in got])
        return
    for item in got:
        out.print(item.line())


def register_death_command(
    id_number: Annotated[str, typer.Argument(help="The deceased's resident ID number.")],
    died: Annotated[
        str | None, typer.Option("--died", help="Date of death, YYYY-MM-DD (default: today).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Civil affairs (民政局) registers a death in the demo world's store."""
    settings = load_settings(default_mode="dev")
    if settings.mode != "dev":
        raise CommandFailed("deaths are registered this way in a dev-mode demo world only")
    try:
        parse_resident_id(id_number)
    except ValueError:
        raise CommandFailed("not a valid resident ID number") from None
    now = datetime.now(UTC)
    try:
        day = date.fromisoformat(died) if died else now.astimezone(pension.CHINA).date()
    except ValueError:
        raise CommandFailed("--died must be a date, YYYY-MM-DD") from None
    try:
        pension.register_death(_store(settings, "mca"), id_number, day, now)
    except (LookupError, ValueError) as exc:
        raise CommandFailed(str(exc)) from None
    view = {"registered": pension.mask(id_number), "died": day.isoformat(), "at": now.isoformat()}
    if as_json:
        print_json(view)
    else:
        shown = now.astimezone(pension.CHINA).strftime("%Y-%m-%d %H:%M:%S")
        out.print(f"民政局 死亡登记 {view['registered']} 死亡日期 {view['died']} 登记于 {shown}")
