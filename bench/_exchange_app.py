"""The hub app as :mod:`bench.exchange_query` serves it (a benchmark helper, run as a child).

``python -m bench._exchange_app [--instrument]`` builds the app with
``create_app(load_settings())``, exactly as ``tongban serve`` does (settings from the
``TONGBAN_*`` environment the parent sets), binds 127.0.0.1 on an ephemeral port, prints the
port as the first line on stdout and serves with uvicorn (no access log) until terminated.

Two things are added to the app object in this process only, never to the product:

* ``POST /bench/floor``, the **floor**: the same token check as ``/exchange/query`` (the
  ``SystemBearer`` dependency: hub access token verified, system row read), then the named
  fields read straight from the same adapters (``app.state.hub.sources.adapter(code, version,
  schemas)`` with the latest catalogue version, so the very adapter objects the pipeline uses)
  with ``fetch_all``, one resource after the other on the request thread, and the records
  returned as JSON. No catalogue lookup, policy decision, fan-out, release shaping, audit
  entry, write transaction or signature.
* with ``--instrument``, timers around the pipeline's steps, wrapped from the outside
  (module attributes and methods replaced in this process), and ``GET /bench/timings``, which
  returns and clears what they recorded. Requests must then come one at a time: each request's
  token check opens a new record, and every step until the next one adds to it. A step's key
  is its path of enclosing timed steps (``pipeline/write/sign/key``), so nested parts show as
  parts of their parent; the source reads run on the adapters' pool threads and are keyed
  ``pipeline/fetch/source <adapter>`` (the source's own read, before conversion). SQL
  statements are counted per request too (keys starting with ``#``), on the hub database and
  on the SQL sources. Every call's own duration
  is kept as well, so steps can be read under concurrency (how long a write unit waits for
  SQLite's write lock, for instance).
* with ``--source-delay-ms D``, every source read (on the adapter's pool thread) first sleeps
  D ms, as a source across a network would: to see whether the fan-out overlaps reads that
  wait. The floor route reads through the same wrapped method.
"""

from __future__ import annotations

import argparse
import functools
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import uvicorn
from fastapi import FastAPI, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import exchange.api.deps
import exchange.query.pipeline
from adapters.base import SourceAdapter
from catalogue.reading import latest_versions
from exchange.api.deps import Hub, SystemBearer
from exchange.app import create_app
from exchange.audit.log import AuditLog
from exchange.db import unit_of_work
from exchange.query.pipeline import ExchangePipeline
from exchange.security.keys import HubKeys
from exchange.settings import load_settings

P = ParamSpec("P")
R = TypeVar("R")

# -- the floor route -----------------------------------------------------------------------


class FloorBody(BaseModel):
    """Whose record, and which fields of which resources (catalogue codes) to read."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=32)
    fields: dict[str, list[str]] = Field(min_length=1)


Served = Mapping[str, tuple[int, Mapping[str, Mapping[str, Any]]]]


def served_versions(sessions: sessionmaker[Session]) -> Served:
    """Each resource's latest version and its fields' JSON Schemas, as the pipeline passes
    them to ``SourceRegistry.adapter`` (so the floor gets the same adapter objects)."""
    with unit_of_work(sessions) as session:
        rows = session.execute(latest_versions()).all()
        return {
            resource.code: (
                version.version,
                {f["name"]: f["schema"] for f in version.descriptor["fields"] if "schema" in f},
            )
            for resource, version in rows
        }


def add_floor_route(app: FastAPI) -> None:
    served = served_versions(app.state.hub.sessions)

    def floor(body: FloorBody, caller: SystemBearer, hub: Hub) -> Response:
        records: dict[str, list[dict[str, Any]]] = {}
        for code, names in body.fields.items():
            version, schemas = served[code]
            adapter = hub.sources.adapter(code, version, schemas)
            found = adapter.fetch_all(body.subject, sorted(names))
            records[code] = [{"values": dict(r.values), "as_of": r.as_of} for r in found]
        payload = {"system": caller.system_id, "records": records}
        content = json.dumps(payload, ensure_ascii=False, default=str).encode()
        return Response(content, media_type="application/json")

    app.add_api_route("/bench/floor", floor, methods=["POST"], include_in_schema=False)


# -- step timers ---------------------------------------------------------------------------


class StepTimes:
    """Step durations in seconds, keyed by the path of enclosing steps: summed per request
    (``requests``; meaningful when requests come one at a time) and every call's own
    (``calls``; meaningful under concurrency too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._records: list[dict[str, float]] = []
        self._calls: dict[str, list[float]] = {}

    @contextmanager
    def step(self, label: str, *, path: str | None = None, opens: bool = False) -> Iterator[None]:
        """Time the block as ``label`` under the enclosing steps of this thread (or at the
        fixed ``path``); ``opens`` starts a new request's record."""
        stack: list[str] = self._local.__dict__.setdefault("stack", [])
        key = path or "/".join([*stack, label])
        if opens:
            with self._lock:
                self._records.append({})
        stack.append(label)
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            stack.pop()
            self.add(key, elapsed)

    def add(self, key: str, seconds: float) -> None:
        with self._lock:
            self._calls.setdefault(key, []).append(seconds)
            if self._records:
                record = self._records[-1]
                record[key] = record.get(key, 0.0) + seconds

    def take(self) -> dict[str, Any]:
        with self._lock:
            taken = {"requests": self._records, "calls": self._calls}
            self._records, self._calls = [], {}
        return taken


STEPS = StepTimes()


def timed(label: str, *, opens: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def wrap(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            with STEPS.step(label, opens=opens):
                return function(*args, **kwargs)

        return inner

    return wrap


UnitOfWork = Callable[..., Any]


def timed_unit(original: UnitOfWork, label: str, *, opens: bool = False) -> UnitOfWork:
    """``unit_of_work`` with its opening (``BEGIN``; ``BEGIN IMMEDIATE`` for a write unit,
    which waits for SQLite's write lock) and its closing (``COMMIT``, the WAL fsync) timed
    as parts ``begin`` and ``commit`` of step ``label`` (``write`` for a write unit)."""

    @contextmanager
    def unit(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
        name = "write" if write else label
        with STEPS.step(name, opens=opens):
            manager = original(factory, write=write)
            with STEPS.step("begin"):
                session = manager.__enter__()
            try:
                yield session
            except BaseException:
                if not manager.__exit__(*sys.exc_info()):
                    raise
            else:
                with STEPS.step("commit"):
                    manager.__exit__(None, None, None)

    return unit


def instrument(hub_database_url: str) -> None:
    """Wrap the steps of a query (see the module docstring) and count SQL statements per
    request, on the hub database and on the sources' (``#sql hub``, ``#sql sources``)."""
    hub_database = make_url(hub_database_url).database

    @event.listens_for(Engine, "before_cursor_execute")
    def count(connection: Connection, *_: Any) -> None:
        hub = connection.engine.url.database == hub_database
        STEPS.add("#sql hub" if hub else "#sql sources", 1.0)

    deps, pipeline = exchange.api.deps, exchange.query.pipeline
    functions: list[tuple[ModuleType, str, Callable[[Any], Any]]] = [
        (deps, "remembered_caller", timed("token", opens=True)),  # every exchange request
        (deps, "unit_of_work", lambda f: timed_unit(f, "token")),  # a token checked in full
        (deps, "verify_access_token", timed("verify")),
        (pipeline, "confirmed_caller", timed("confirm")),  # a remembered token, confirmed
        (pipeline, "unit_of_work", lambda f: timed_unit(f, "unit")),
        (pipeline, "resolve_query", timed("resolve")),
        (pipeline, "checked_grants", timed("grants")),
        (pipeline, "decide", timed("policy")),
        (pipeline, "shape_release", timed("release")),
        (pipeline, "relied_locked", timed("grants")),
    ]
    for module, name, wrap in functions:
        setattr(module, name, wrap(getattr(module, name)))
    methods = {
        "query": "pipeline",
        "_decide": "decide",
        "_fetch": "fetch",
        "_recheck": "recheck",
        "_entry": "entry",
        "_count_quota": "quota",
        "_sign": "sign",
    }
    for name, label in methods.items():
        setattr(ExchangePipeline, name, timed(label)(getattr(ExchangePipeline, name)))
    HubKeys.current = timed("key")(HubKeys.current)  # type: ignore[method-assign]
    AuditLog.append = timed("append")(AuditLog.append)  # type: ignore[method-assign]
    start = SourceAdapter._start

    def timed_start(self: SourceAdapter, call: Callable[[], Any]) -> Any:
        def timed_call() -> Any:
            with STEPS.step("source", path=f"pipeline/fetch/source {self.name}"):
                return call()

        return start(self, timed_call)

    SourceAdapter._start = timed_start  # type: ignore[method-assign]


def delay_sources(seconds: float) -> None:
    """Make every source read wait ``seconds`` first, as a source across a network would
    (the GIL is released while waiting), on the adapter's pool thread where the read runs:
    ``SourceAdapter._start`` wrapped, this process."""
    start = SourceAdapter._start

    def delayed_start(self: SourceAdapter, call: Callable[[], Any]) -> Any:
        def delayed() -> Any:
            time.sleep(seconds)
            return call()

        return start(self, delayed)

    SourceAdapter._start = delayed_start  # type: ignore[method-assign]


def add_timings_route(app: FastAPI) -> None:
    def timings() -> dict[str, Any]:
        return STEPS.take()

    app.add_api_route("/bench/timings", timings, methods=["GET"], include_in_schema=False)


# -- entry point ---------------------------------------------------------------------------


def bench_app(*, instrumented: bool, port: int, source_delay_s: float = 0.0) -> FastAPI:
    settings = load_settings().served_at("127.0.0.1", port)  # its identity: where it listens
    if source_delay_s > 0:
        delay_sources(source_delay_s)
    if instrumented:
        instrument(settings.database_url)
    app = create_app(settings)
    add_floor_route(app)
    if instrumented:
        add_timings_route(app)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._exchange_app")
    parser.add_argument("--instrument", action="store_true", help="time the pipeline's steps")
    parser.add_argument(
        "--source-delay-ms", type=float, default=0.0, help="simulated latency of every source"
    )
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    print(port, flush=True)
    config = uvicorn.Config(
        bench_app(
            instrumented=args.instrument, port=port, source_delay_s=args.source_delay_ms / 1e3
        ),
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
