"""Adapter lookup benchmark: ``adapter.fetch(subject, fields)`` against the bare driver, per source.

Run: ``.venv/bin/python -m bench.adapter_lookup [--citizens 100000]
[--backends sqlite,postgresql,mariadb,csv,fixed_width,http] [--lookups 500]
[--postgres-url URL] [--mariadb-url URL]``.

What it does:

1. Generates ``--citizens`` person records (seeded) in a legacy department's shape: an 18-digit
   identity number ``GMSFHM`` (the key), the name ``XM`` as GBK bytes, a sex code ``XB``, a
   ``YYYYMMDD`` birth date, an address, a count of months paid and an update time ``GXSJ``.
2. Writes them to every backend asked for: a ``T_PERSON`` table (indexed key, ``XM`` a binary
   column holding GBK) in a SQLite file, a throwaway PostgreSQL database and a throwaway MariaDB
   database (both dropped at the end); a GBK CSV export and a GBK fixed-width export (byte spans);
   and a JSON API: a bare ASGI app under uvicorn in a child process on 127.0.0.1 (ephemeral
   port), answering ``GET /person/<id>`` from an in-memory dict of prepared bodies (404 when
   absent).
3. Opens one adapter per source through ``adapters.registry.open_adapter`` with a mapping like
   a department would write (GBK name, code table, ``yyyymmdd`` date, integer, ``as_of``) and the
   catalogue's field schemas, and times, interleaved, random existing subjects (the same seeded
   sequence for both):

   * **hub**: ``adapter.fetch(subject, 5 fields)``: worker-pool hop with its timeout, the
     source query, mapping conversion, JSON Schema checks, the record size check;
   * **floor**: the same single-row lookup with the bare driver: the same parameterised SELECT
     of the same columns (``LIMIT 2``) on an open ``sqlite3`` / ``psycopg`` (autocommit) /
     ``pymysql`` (autocommit) connection; for files, seek + readline on an open handle using a
     dict of offsets built the same way, cells cut and decoded; for HTTP a bare ``httpx`` GET of
     the same URL (keep-alive) and ``json.loads``.

   Before timing, the floor's answer for a few subjects is checked against the hub's. A missing
   subject is timed the same way.
4. Prints a table and writes ``bench/results/adapter_lookup.json``.

Everything stays on loopback and the run ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import psycopg
import pymysql  # type: ignore[import-untyped]  # no stubs installed
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    text,
)
from sqlalchemy.engine import make_url

from adapters.base import AdapterLimits, SourceAdapter
from adapters.mapping import parse_mapping
from adapters.registry import open_adapter
from bench._common import (
    REPO_ROOT,
    Budget,
    _read_port,
    driver_conninfo,
    format_table,
    git_revision,
    is_loopback_url,
    loopback_client,
    machine_note,
    measure_interleaved,
    postgres_unavailable,
    throwaway_postgres,
    timed,
    write_result,
)
from catalogue.identifiers import make_resident_id

SEED = 20260101
BACKENDS = ("sqlite", "postgresql", "mariadb", "csv", "fixed_width", "http")
BUDGET_S = 12.0  # timed rounds of one backend, before --lookups caps them
MISSING_RUNS = 200
CHECKED = 20  # subjects whose floor answer is compared with the hub's before timing
BATCH = 5000
COLUMNS = ("GMSFHM", "XM", "XB", "CSRQ", "HJDZ", "JFYS", "GXSJ")
FIELDS = ("name", "sex", "birth_date", "registered_address", "months_paid")
SOURCE_COLUMNS = {
    "name": "XM",
    "sex": "XB",
    "birth_date": "CSRQ",
    "registered_address": "HJDZ",
    "months_paid": "JFYS",
}
CONVERSIONS: dict[str, dict[str, Any]] = {
    "name": {},
    "sex": {"codes": {"1": "male", "2": "female"}},
    "birth_date": {"format": "yyyymmdd", "nulls": ["00000000"]},
    "registered_address": {"nulls": ["无"]},
    "months_paid": {"format": "integer"},
}
FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "maxLength": 20},
    "sex": {"enum": ["male", "female"]},
    "birth_date": {"type": "string", "format": "date"},
    "registered_address": {"type": "string", "maxLength": 200},
    "months_paid": {"type": "integer", "minimum": 0},
}
SPANS = {  # fixed-width export: (start, length) in bytes of the GBK line
    "GMSFHM": (0, 18),
    "XM": (18, 20),
    "XB": (38, 1),
    "CSRQ": (39, 8),
    "HJDZ": (47, 80),
    "JFYS": (127, 6),
    "GXSJ": (133, 19),
}
POINTERS = {
    "GMSFHM": "/person/id",
    "XM": "/person/name",
    "XB": "/person/sex",
    "CSRQ": "/person/born",
    "HJDZ": "/hukou/address",
    "JFYS": "/social/months",
    "GXSJ": "/updated",
}
MISSING_SUBJECT = make_resident_id("330110", date(1901, 1, 1), 999)

# --------------------------------------------------------------------------------------------
# Synthetic people
# --------------------------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬建国志华"
DIVISIONS = ("330102", "330105", "330106", "330108", "330109", "330110")
STREETS = ("解放路", "延安路", "文三路", "西湖大道", "庆春路", "莫干山路", "江南大道", "体育场路")


def people(count: int, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """``count`` person rows with unique keys, always the same for the same seed."""
    rng = random.Random(seed)
    start = date(1940, 1, 1)
    updated = datetime(2020, 1, 1, 8, 0)
    for i in range(count):
        born = start + timedelta(days=i // 1000)
        division = rng.choice(DIVISIONS)
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
        yield {
            "GMSFHM": make_resident_id(division, born, i % 1000),
            "XM": name.encode("gbk"),
            "XB": "1" if (i % 1000) % 2 else "2",
            "CSRQ": born.strftime("%Y%m%d"),
            "HJDZ": f"杭州市{rng.choice(STREETS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}幢"
            if rng.random() > 0.02
            else "无",
            "JFYS": rng.randint(0, 480),
            "GXSJ": updated + timedelta(seconds=i * 7),
        }


# --------------------------------------------------------------------------------------------
# Mappings
# --------------------------------------------------------------------------------------------


def mapping_document(
    adapter: str, locate: Callable[[str], dict[str, Any]], **top: Any
) -> dict[str, Any]:
    return {
        "kind": "mapping",
        "name": f"bench/{adapter}",
        "adapter": adapter,
        "charset": "gbk",
        "key": locate("GMSFHM"),
        "as_of": locate("GXSJ"),
        "watermark": locate("GXSJ"),
        "fields": {
            field: {**locate(SOURCE_COLUMNS[field]), **CONVERSIONS[field]} for field in FIELDS
        },
        **top,
    }


def sql_mapping() -> dict[str, Any]:
    return mapping_document("sql", lambda c: {"column": c}, connection="legacy", table="T_PERSON")


def csv_mapping() -> dict[str, Any]:
    return mapping_document("csv", lambda c: {"column": c}, file="person.csv", format="csv")


def fixed_width_mapping() -> dict[str, Any]:
    return mapping_document(
        "fixed_width",
        lambda c: {"start": SPANS[c][0], "length": SPANS[c][1]},
        file="person.txt",
        format="fixed_width",
    )


def http_mapping(base: str) -> dict[str, Any]:
    document = mapping_document(
        "http", lambda c: {"pointer": POINTERS[c]}, url=f"{base}/person/{{subject}}"
    )
    document["charset"] = "utf-8"
    del document["watermark"]
    return document


def open_source(mapping: dict[str, Any], config: dict[str, Any]) -> SourceAdapter:
    return open_adapter(
        f"bench-{mapping['adapter']}",
        parse_mapping(mapping),
        config,
        limits=AdapterLimits(),
        field_schemas=FIELD_SCHEMAS,
    )


# --------------------------------------------------------------------------------------------
# Writing the sources
# --------------------------------------------------------------------------------------------


def person_table(metadata: MetaData) -> Table:
    return Table(
        "T_PERSON",
        metadata,
        Column("GMSFHM", String(18), index=True),
        Column("XM", LargeBinary(60)),
        Column("XB", String(1)),
        Column("CSRQ", String(8)),
        Column("HJDZ", String(200)),
        Column("JFYS", Integer),
        Column("GXSJ", DateTime),
    )


def write_sql(url: str, rows: Sequence[dict[str, Any]]) -> None:
    engine = create_engine(url)
    metadata = MetaData()
    person = person_table(metadata)
    metadata.create_all(engine)
    with engine.begin() as connection:
        for i in range(0, len(rows), BATCH):
            connection.execute(person.insert(), list(rows[i : i + BATCH]))
    with engine.connect() as connection:
        backend = engine.dialect.name
        if backend == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                'VACUUM ANALYZE "T_PERSON"'
            )
        elif backend in {"mysql", "mariadb"}:
            connection.exec_driver_sql("ANALYZE TABLE T_PERSON")
    engine.dispose()


def _cells(row: dict[str, Any]) -> dict[str, bytes]:
    cells = {c: str(row[c]).encode("gbk") for c in COLUMNS}
    cells["XM"] = row["XM"]
    cells["GXSJ"] = row["GXSJ"].strftime("%Y-%m-%d %H:%M:%S").encode()
    return cells


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("wb") as out:
        out.write(",".join(COLUMNS).encode() + b"\r\n")
        for row in rows:
            out.write(b",".join(_cells(row).values()) + b"\r\n")


def write_fixed_width(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("wb") as out:
        for row in rows:
            cells = _cells(row)
            cells["JFYS"] = cells["JFYS"].rjust(SPANS["JFYS"][1])
            out.write(b"".join(cells[c].ljust(SPANS[c][1]) for c in COLUMNS) + b"\n")


def json_documents(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        row["GMSFHM"]: {
            "person": {
                "id": row["GMSFHM"],
                "name": row["XM"].decode("gbk"),
                "sex": row["XB"],
                "born": row["CSRQ"],
            },
            "hukou": {"address": row["HJDZ"]},
            "social": {"months": row["JFYS"]},
            "updated": row["GXSJ"].isoformat(),
        }
        for row in rows
    }


@contextmanager
def throwaway_mariadb(admin_url: str, name: str) -> Iterator[str]:
    """Create database ``name`` next to ``admin_url``, yield its URL, drop it afterwards."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    try:
        url = make_url(admin_url).set(database=name).update_query_dict({"charset": "utf8mb4"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def mariadb_unavailable(url: str | None) -> str | None:
    if not url:
        return "no MariaDB URL (set TONGBAN_TEST_MARIADB_URL or pass --mariadb-url)"
    if not is_loopback_url(url):
        return "the MariaDB URL does not name a loopback host; benchmarks stay local"
    try:
        pymysql.connect(**_pymysql_args(url)).close()
    except pymysql.Error as exc:
        return f"MariaDB is not reachable: {exc}"
    return None


def _pymysql_args(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "password": parsed.password or "",
        "database": parsed.database,
        "charset": "utf8mb4",
        "autocommit": True,
    }


# --------------------------------------------------------------------------------------------
# The JSON API (child process)
# --------------------------------------------------------------------------------------------


def serve_http(documents_path: Path) -> None:
    """Child process: serve ``GET /person/<id>`` from the documents file on 127.0.0.1."""
    import uvicorn

    documents = json.loads(documents_path.read_text(encoding="utf-8"))
    bodies = {k: json.dumps(v, ensure_ascii=False).encode() for k, v in documents.items()}
    not_found = b'{"error": "not found"}'

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        body = bodies.get(path.removeprefix("/person/")) if path.startswith("/person/") else None
        status = 200 if body is not None else 404
        payload = body if body is not None else not_found
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


@contextmanager
def json_api(documents_path: Path) -> Iterator[str]:
    """The JSON API in a child process; yields its base URL."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    child = subprocess.Popen(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "bench.adapter_lookup", "--serve-http", str(documents_path)],
        cwd=documents_path.parent,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{_read_port(child)}"
        with loopback_client(base) as client:
            for _ in range(300):
                try:
                    client.get("/person/x")
                    break
                except httpx.TransportError:
                    asyncio.run(asyncio.sleep(0.05))
        yield base
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=15)


# --------------------------------------------------------------------------------------------
# Floors: the same lookup with the bare driver
# --------------------------------------------------------------------------------------------

Floor = Callable[[str], list[Any]]


def _select(quote: str, placeholder: str) -> str:
    chosen = [f"{quote}{SOURCE_COLUMNS[f]}{quote} AS {f}" for f in FIELDS]
    chosen.append(f"{quote}GXSJ{quote} AS __as_of__")
    return (
        f"SELECT {', '.join(chosen)} FROM {quote}T_PERSON{quote} "  # noqa: S608 - bound subject
        f"WHERE {quote}GMSFHM{quote} = {placeholder} LIMIT 2"
    )


def sqlite_floor(path: Path, stack: ExitStack) -> Floor:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    stack.callback(connection.close)
    statement = _select('"', "?")

    def lookup(subject: str) -> list[Any]:
        return connection.execute(statement, (subject,)).fetchall()

    return lookup


def postgres_floor(url: str, stack: ExitStack) -> Floor:
    connection = psycopg.connect(driver_conninfo(url), autocommit=True)
    stack.callback(connection.close)
    statement = _select('"', "%s")

    def lookup(subject: str) -> list[Any]:
        return connection.execute(statement, (subject,)).fetchall()

    return lookup


def mariadb_floor(url: str, stack: ExitStack) -> Floor:
    connection = pymysql.connect(**_pymysql_args(url))
    stack.callback(connection.close)
    cursor = connection.cursor()
    statement = _select("`", "%s")

    def lookup(subject: str) -> list[Any]:
        cursor.execute(statement, (subject,))
        return list(cursor.fetchall())

    return lookup


def file_floor(path: Path, cut: Callable[[bytes], dict[str, bytes]], stack: ExitStack) -> Floor:
    """Offsets by key built by one pass, then seek + readline + cut + decode per lookup."""
    offsets: dict[str, int] = {}
    with path.open("rb") as scan:
        header = path.suffix == ".csv"
        offset = 0
        for line in scan:
            if header:
                header = False
            else:
                offsets[cut(line)["GMSFHM"].decode("gbk").strip()] = offset
            offset += len(line)
    handle: BinaryIO = path.open("rb")
    stack.callback(handle.close)

    def lookup(subject: str) -> list[Any]:
        found = offsets.get(subject)
        if found is None:
            return []
        handle.seek(found)
        cells = cut(handle.readline())
        return [{c: cells[c].decode("gbk").strip() for c in (*SOURCE_COLUMNS.values(), "GXSJ")}]

    return lookup


def csv_cut(line: bytes) -> dict[str, bytes]:
    return dict(zip(COLUMNS, line.rstrip(b"\r\n").split(b","), strict=True))


def fixed_width_cut(line: bytes) -> dict[str, bytes]:
    return {c: line[s : s + n] for c, (s, n) in SPANS.items()}


def http_floor(base: str, stack: ExitStack) -> Floor:
    client = stack.enter_context(loopback_client(base))

    def lookup(subject: str) -> list[Any]:
        response = client.get(f"/person/{subject}")
        if response.status_code == 404:
            return []
        return [json.loads(response.content)]

    return lookup


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    backend: str
    adapter: SourceAdapter
    floor: Floor
    note: str


def check(source: Source, subjects: Sequence[str], expected: dict[str, dict[str, Any]]) -> None:
    """The hub's record and the floor's row agree with the generated data for a few subjects."""
    for subject in subjects:
        record = source.adapter.fetch(subject, FIELDS)
        raw = source.floor(subject)
        row = expected[subject]
        if record is None or len(raw) != 1:
            raise AssertionError(f"{source.backend}: no record for an existing subject")
        name = row["XM"].decode("gbk")
        if record.values["name"] != name or record.values["months_paid"] != row["JFYS"]:
            raise AssertionError(f"{source.backend}: the hub's record differs from the data")
        flat = (
            json.dumps(raw[0], ensure_ascii=False, default=str) if source.backend == "http" else ""
        )
        in_floor = name in flat or any(
            v in (name, name.encode("gbk"))
            for v in (raw[0].values() if isinstance(raw[0], dict) else raw[0])
        )
        if not in_floor:
            raise AssertionError(f"{source.backend}: the floor's row differs from the data")
    if source.adapter.fetch(MISSING_SUBJECT, FIELDS) is not None or source.floor(MISSING_SUBJECT):
        raise AssertionError(f"{source.backend}: a record for the missing subject")


def picker(subjects: Sequence[str], seed: int) -> Callable[[], str]:
    rng = random.Random(seed)
    count = len(subjects)
    return lambda: subjects[rng.randrange(count)]


def measure(source: Source, subjects: Sequence[str], lookups: int) -> dict[str, Any]:
    hub_next = picker(subjects, SEED + 1)
    floor_next = picker(subjects, SEED + 1)
    raw_next = picker(subjects, SEED + 1)
    adapter, floor = source.adapter, source.floor
    sample = adapter._fetch(subjects[0], FIELDS)[0]
    found = measure_interleaved(
        {
            "hub": lambda: adapter.fetch(hub_next(), FIELDS),
            "floor": lambda: floor(floor_next()),
            # the parts of fetch: the adapter's source query on the calling thread (no pool
            # hop, no conversion), and converting + checking one raw row
            "source_query": lambda: adapter._fetch(raw_next(), FIELDS),
            "convert": lambda: adapter._convert(sample, FIELDS),
        },
        Budget(lookups, BUDGET_S),
    )
    missing = measure_interleaved(
        {
            "hub": lambda: adapter.fetch(MISSING_SUBJECT, FIELDS),
            "floor": lambda: floor(MISSING_SUBJECT),
        },
        Budget(MISSING_RUNS, BUDGET_S / 4, warmup=5, warmup_seconds=0.5),
    )
    return {
        "backend": source.backend,
        "source": source.note,
        "hub": found["hub"].as_dict(),
        "floor": found["floor"].as_dict(),
        "hub_over_floor_p50": round(found["hub"].p50_ms / found["floor"].p50_ms, 2),
        "parts": {
            "source_query": found["source_query"].as_dict(),
            "convert_and_check": found["convert"].as_dict(),
        },
        "missing_hub": missing["hub"].as_dict(),
        "missing_floor": missing["floor"].as_dict(),
        "missing_hub_over_floor_p50": round(missing["hub"].p50_ms / missing["floor"].p50_ms, 2),
    }


def build_sources(
    backends: Sequence[str],
    args: argparse.Namespace,
    rows: Sequence[dict[str, Any]],
    workdir: Path,
    stack: ExitStack,
) -> Iterator[Source]:
    """Write and open each source in turn (closed with ``stack``)."""
    for backend in backends:
        _progress(f"writing {len(rows)} rows to {backend} ...")
        source, seconds = timed(partial(_open_backend, backend, args, rows, workdir, stack))
        _progress(f"  {backend} ready in {seconds:.1f} s")
        yield source


def _open_backend(
    backend: str,
    args: argparse.Namespace,
    rows: Sequence[dict[str, Any]],
    workdir: Path,
    stack: ExitStack,
) -> Source:
    if backend == "sqlite":
        path = workdir / "person.db"
        write_sql(f"sqlite:///{path}", rows)
        adapter = open_source(sql_mapping(), {"url": f"sqlite:///{path}"})
        stack.callback(adapter.close)
        return Source(
            backend, adapter, sqlite_floor(path, stack), f"SQLite {sqlite3.sqlite_version}"
        )
    if backend == "postgresql":
        url = stack.enter_context(
            throwaway_postgres(args.postgres_url, f"tongban_bench_{os.getpid()}")
        )
        write_sql(url, rows)
        adapter = open_source(sql_mapping(), {"url": url})
        stack.callback(adapter.close)
        floor = postgres_floor(url, stack)
        with psycopg.connect(driver_conninfo(url)) as connection:
            version = connection.execute("SHOW server_version").fetchone()
        return Source(backend, adapter, floor, f"PostgreSQL {version[0] if version else '?'}")
    if backend == "mariadb":
        url = stack.enter_context(
            throwaway_mariadb(args.mariadb_url, f"tongban_bench_{os.getpid()}")
        )
        write_sql(url, rows)
        adapter = open_source(sql_mapping(), {"url": url})
        stack.callback(adapter.close)
        floor = mariadb_floor(url, stack)
        with pymysql.connect(**_pymysql_args(url)) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            version = cursor.fetchone()
        return Source(backend, adapter, floor, f"MariaDB {version[0] if version else '?'}")
    if backend in {"csv", "fixed_width"}:
        is_csv = backend == "csv"
        path = workdir / ("person.csv" if is_csv else "person.txt")
        (write_csv if is_csv else write_fixed_width)(path, rows)
        mapping = csv_mapping() if is_csv else fixed_width_mapping()
        adapter = open_source(mapping, {"root": str(workdir)})
        stack.callback(adapter.close)
        floor = file_floor(path, csv_cut if is_csv else fixed_width_cut, stack)
        size = path.stat().st_size / 1e6
        return Source(backend, adapter, floor, f"GBK {backend} export, {size:.1f} MB")
    if backend == "http":
        documents = workdir / "person.json"
        documents.write_text(json.dumps(json_documents(rows), ensure_ascii=False), encoding="utf-8")
        base = stack.enter_context(json_api(documents))
        adapter = open_source(http_mapping(base), {})
        stack.callback(adapter.close)
        return Source(backend, adapter, http_floor(base, stack), "bare ASGI app, uvicorn child")
    raise ValueError(f"unknown backend {backend!r}")


# --------------------------------------------------------------------------------------------
# Output and entry point
# --------------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    headers = [
        "backend",
        "runs",
        "hub p50",
        "hub p99",
        "floor p50",
        "floor p99",
        "hub/floor",
        "missing hub p50",
        "missing floor p50",
        "missing hub/floor",
        "_fetch p50",
        "convert p50",
    ]
    rows = [
        [
            r["backend"],
            str(r["hub"]["runs"]),
            f"{r['hub']['p50_ms']:.3f}",
            f"{r['hub']['p99_ms']:.3f}",
            f"{r['floor']['p50_ms']:.3f}",
            f"{r['floor']['p99_ms']:.3f}",
            f"{r['hub_over_floor_p50']:.2f}x",
            f"{r['missing_hub']['p50_ms']:.3f}",
            f"{r['missing_floor']['p50_ms']:.3f}",
            f"{r['missing_hub_over_floor_p50']:.2f}x",
            f"{r['parts']['source_query']['p50_ms']:.3f}",
            f"{r['parts']['convert_and_check']['p50_ms']:.3f}",
        ]
        for r in result["backends"]
    ]
    title = (
        f"adapter lookups at {result['revision']}: {result['citizens']} people, "
        f"{len(FIELDS)} fields per fetch; times in ms"
    )
    note = (
        "_fetch = the adapter's own source query on the calling thread (no worker-pool hop, no"
        " conversion); convert = mapping conversion + JSON Schema checks + size check of one row"
    )
    return "\n".join([title, format_table(headers, rows), note])


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.adapter_lookup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--citizens", type=int, default=100_000)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--lookups", type=int, default=500, help="timed lookups per backend")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TONGBAN_TEST_POSTGRES_URL"),
        help="server for the throwaway database (default: $TONGBAN_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--mariadb-url",
        default=os.environ.get("TONGBAN_TEST_MARIADB_URL"),
        help="server for the throwaway database (default: $TONGBAN_TEST_MARIADB_URL)",
    )
    parser.add_argument("--serve-http", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.backend_list = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backend_list) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends: {', '.join(unknown)}")
    if args.citizens < CHECKED or args.lookups < 2:
        parser.error(f"--citizens must be at least {CHECKED} and --lookups at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_http is not None:
        serve_http(args.serve_http)
        return 0
    backends = list(args.backend_list)
    for backend, reason in (
        ("postgresql", "postgresql" in backends and postgres_unavailable(args.postgres_url)),
        ("mariadb", "mariadb" in backends and mariadb_unavailable(args.mariadb_url)),
    ):
        if reason:
            print(f"note: skipping {backend}: {reason}")
            backends.remove(backend)
    _progress(f"generating {args.citizens} people ...")
    rows = list(people(args.citizens))
    by_subject = {row["GMSFHM"]: row for row in rows}
    subjects = list(by_subject)
    checked = random.Random(SEED).sample(subjects, CHECKED)
    results = []
    revision = git_revision()
    with tempfile.TemporaryDirectory(prefix="tongban-bench-") as workdir, ExitStack() as stack:
        for source in build_sources(backends, args, rows, Path(workdir), stack):
            check(source, checked, by_subject)
            gc.collect()
            _progress(f"timing {source.backend} ...")
            results.append(measure(source, subjects, args.lookups))
    result = {
        "benchmark": "adapter_lookup",
        "revision": revision,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "citizens": args.citizens,
        "fields": list(FIELDS),
        "budget": asdict(Budget(args.lookups, BUDGET_S)),
        "machine": machine_note(),
        "load_average_1_5_15_min": os.getloadavg(),
        "backends": results,
    }
    path = write_result("adapter_lookup", result)
    print(render(result))
    print(f"written to {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
