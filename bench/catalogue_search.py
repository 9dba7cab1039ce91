"""Catalogue search benchmark: the hub's search path against a floor, on SQLite and PostgreSQL.

Run: ``.venv/bin/python -m bench.catalogue_search [--resources 10000] [--backend both]
[--queries 200] [--postgres-url URL]``.

What it does, per backend:

1. Generates ``--resources`` synthetic resource descriptors (seeded, so every run builds the same
   catalogue) from ~20 departments: Chinese names such as 常住户籍登记 built from vocabulary
   lists, summaries, keywords and 3-15 fields each with varied sharing types and sensitivities.
   It checks them with ``check_descriptor`` and publishes them with ``publish`` into a fresh
   database (a SQLite file in a temporary directory, or a throwaway PostgreSQL database
   ``tongban_bench_<pid>`` that is dropped at the end), 500 per commit, and reports the rate.
2. Runs a fixed query mix (CJK terms, a Latin prefix, filters with and without text, a term with
   no hits). Each query is measured three ways:

   * **hub**: ``catalogue.search.search`` in a fresh ``unit_of_work`` session, as the HTTP route
     calls it (segmentation, SQLAlchemy, connection pool checkout, transaction);
   * **floor**: the same two SQL statements (the count and the ranked page of 20, with the same
     MATCH / tsquery text and the same filter conditions) executed directly with the driver
     (``sqlite3`` / ``psycopg``) on an open connection, the query text built once beforehand.
     It is what the database itself costs, so hub/floor is the price of the hub's layers;
   * **HTTP**: ``GET /catalogue/resources`` against the real app under uvicorn in a child
     process on 127.0.0.1 (ephemeral port), with an httpx keep-alive client. This adds routing,
     validation, loading the 20 result summaries and JSON encoding.

   hub and floor runs are interleaved so machine noise hits both alike; every figure is a median
   (p50) or 99th percentile. Before timing, the floor's result (codes and total) is checked
   against the hub's, and the HTTP total against both. ``GET /healthz`` on the same server is
   timed too, as the cost of a request that touches no database.

   Runs: up to ``--queries`` per query after a warm-up (20 rounds or 2 s), fewer when they
   would not fit in a per-query time budget (``CASE_BUDGET_S``, ``HTTP_BUDGET_S``; at least 5).
   A query whose single hub + floor call takes over ``SLOW_S`` is reported from that one call
   and not repeated over HTTP, so a pathological plan cannot stall the run.

   Database state: PostgreSQL gets ``VACUUM ANALYZE`` after the load, which autovacuum would do
   on a normally configured server (it flushes the GIN pending list and gathers statistics).
   SQLite gets a WAL checkpoint but no ``ANALYZE``: the hub never runs it, so this is the state
   it serves. The benchmark's own objects are then frozen out of the garbage collector.
3. Prints a table and writes ``bench/results/catalogue_search-<backend>.json``.

Everything stays on loopback and the run ends by itself.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bench._common import (
    Budget,
    Stats,
    driver_conninfo,
    format_table,
    git_revision,
    hub_server,
    loopback_client,
    machine_note,
    measure_interleaved,
    postgres_unavailable,
    throwaway_postgres,
    timed,
    write_result,
)
from catalogue.descriptors import Descriptor, check_descriptor
from catalogue.publishing import publish
from catalogue.search import SearchQuery, query_terms, search
from catalogue.vocabulary import Sensitivity, SharingType
from exchange.db import make_engine, make_sessionmaker, migrate, unit_of_work

SEED = 20240601
BATCH = 500
CASE_BUDGET_S = 12.0  # timed hub + floor runs of one query, before --queries caps them
HTTP_BUDGET_S = 8.0  # timed HTTP runs of one query
SLOW_S = 10.0  # a query slower than this (hub + floor once) is timed once, and not over HTTP
PAGE = 20
NOW = datetime(2025, 1, 1, tzinfo=UTC)

# --------------------------------------------------------------------------------------------
# Synthetic catalogue
# --------------------------------------------------------------------------------------------

# (code, name, English name, topics as (Chinese, English))
DEPARTMENTS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    ("PSB", "公安局", "Public Security Bureau",
     (("户籍", "household registration"), ("人口", "population"), ("居民身份证", "identity card"),
      ("车辆", "vehicle"), ("驾驶证", "driving licence"), ("出入境", "exit and entry"))),
    ("HRSS", "人力资源和社会保障局", "Human Resources and Social Security Bureau",
     (("社保", "social insurance"), ("就业", "employment"), ("养老金", "pension"),
      ("职业资格", "vocational qualification"))),
    ("MCA", "民政局", "Civil Affairs Bureau",
     (("婚姻", "marriage"), ("低保", "minimum living allowance"), ("殡葬", "funeral"),
      ("社会组织", "social organisation"))),
    ("REG", "不动产登记中心", "Real Estate Registration Center",
     (("不动产", "real estate"), ("房屋", "house property"), ("抵押", "mortgage"))),
    ("EDU", "教育局", "Education Bureau",
     (("教育", "education"), ("学籍", "student status"), ("入学", "school enrolment"))),
    ("TAX", "税务局", "Taxation Bureau",
     (("税务", "taxation"), ("纳税", "tax payment"), ("发票", "invoice"))),
    ("AMR", "市场监督管理局", "Administration for Market Regulation",
     (("企业", "enterprise"), ("个体工商户", "individual business"),
      ("食品经营", "food business"))),
    ("HPF", "住房公积金管理中心", "Housing Provident Fund Center",
     (("公积金", "housing provident fund"), ("贷款", "loan"))),
    ("TRA", "交通运输局", "Transport Bureau",
     (("道路运输", "road transport"), ("出租汽车", "taxi"))),
    ("NHC", "卫生健康委员会", "Health Commission",
     (("出生", "birth"), ("医疗机构", "medical institution"), ("疫苗接种", "vaccination"))),
    ("HSA", "医疗保障局", "Healthcare Security Administration",
     (("医保", "medical insurance"), ("医疗救助", "medical assistance"))),
    ("HUD", "住房和城乡建设局", "Housing and Urban-Rural Development Bureau",
     (("住房", "housing"), ("建筑企业", "construction enterprise"))),
    ("JUS", "司法局", "Justice Bureau", (("律师", "lawyer"), ("公证", "notarisation"))),
    ("STAT", "统计局", "Statistics Bureau",
     (("统计", "statistics"), ("经济普查", "economic census"))),
    ("NRB", "自然资源和规划局", "Natural Resources and Planning Bureau",
     (("土地", "land"), ("规划", "planning"))),
    ("DPF", "残疾人联合会", "Disabled Persons' Federation",
     (("残疾人", "disabled persons"), ("康复", "rehabilitation"))),
    ("VET", "退役军人事务局", "Veterans Affairs Bureau",
     (("退役军人", "veterans"), ("优抚", "special care"))),
    ("AGR", "农业农村局", "Agriculture and Rural Affairs Bureau",
     (("农业", "agriculture"), ("农机", "farm machinery"))),
    ("ECO", "生态环境局", "Ecology and Environment Bureau",
     (("排污", "pollutant discharge"), ("环评", "environmental assessment"))),
    ("FIN", "财政局", "Finance Bureau", (("财政", "public finance"), ("补贴", "subsidy"))),
)  # fmt: skip

QUALIFIERS = (
    ("", ""), ("常住", "resident"), ("全市", "city-wide"), ("城乡", "urban and rural"),
    ("历史", "historical"), ("年度", "annual"), ("在册", "registered"), ("新增", "new"),
    ("区县", "district"), ("月度", "monthly"),
)  # fmt: skip
SUFFIXES = (
    ("信息", "information"), ("登记", "registration"), ("台账", "ledger"), ("名录", "directory"),
    ("明细", "details"), ("档案", "records"), ("核验", "verification"), ("统计", "statistics"),
    ("变更", "changes"), ("注销", "cancellations"),
)  # fmt: skip

# (name, title, data_type, usual sensitivity, transform)
FIELDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("name", "姓名", "string", "personal", "mask_name"),
    ("id_number", "公民身份号码", "string", "personal", "mask_id"),
    ("sex", "性别", "string", "personal", "clear"),
    ("birth_date", "出生日期", "date", "personal", "year"),
    ("ethnicity", "民族", "string", "sensitive_personal", "clear"),
    ("household_address", "户籍地址", "string", "personal", "clear"),
    ("household_head", "户主姓名", "string", "personal", "mask_name"),
    ("relation_to_head", "与户主关系", "string", "personal", "clear"),
    ("residential_address", "居住地址", "string", "personal", "clear"),
    ("phone", "联系电话", "string", "personal", "hash"),
    ("registered_on", "登记日期", "date", "internal", "clear"),
    ("status", "状态", "string", "internal", "clear"),
    ("uscc", "统一社会信用代码", "string", "public", "clear"),
    ("enterprise_name", "企业名称", "string", "public", "clear"),
    ("legal_representative", "法定代表人", "string", "personal", "mask_name"),
    ("registered_capital", "注册资本", "number", "public", "clear"),
    ("insured_status", "参保状态", "string", "personal", "clear"),
    ("contribution_base", "缴费基数", "number", "sensitive_personal", "clear"),
    ("property_location", "房屋坐落", "string", "personal", "clear"),
    ("property_certificate_no", "不动产权证号", "string", "personal", "clear"),
    ("building_area", "建筑面积", "number", "personal", "clear"),
    ("marital_status", "婚姻状况", "string", "personal", "clear"),
    ("school_name", "学校名称", "string", "public", "clear"),
    ("student_no", "学籍号", "string", "personal", "clear"),
    ("plate_number", "车牌号码", "string", "personal", "clear"),
    ("licence_class", "准驾车型", "string", "personal", "clear"),
    ("taxpayer_id", "纳税人识别号", "string", "internal", "clear"),
    ("tax_amount", "纳税金额", "number", "sensitive_personal", "clear"),
    ("fund_account", "公积金账号", "string", "personal", "hash"),
    ("fund_balance", "缴存余额", "number", "sensitive_personal", "clear"),
    ("health_status", "健康状况", "string", "sensitive_personal", "clear"),
    ("disability_level", "残疾等级", "string", "sensitive_personal", "clear"),
    ("allowance_amount", "补助金额", "number", "sensitive_personal", "clear"),
    ("valid_until", "有效期至", "date", "internal", "clear"),
    ("issuing_authority", "发证机关", "string", "public", "clear"),
    ("updated_at", "更新时间", "datetime", "internal", "clear"),
    ("division_code", "行政区划代码", "string", "public", "clear"),
    ("remarks", "备注", "string", "internal", "clear"),
)
JSON_TYPES = {"date": "string", "datetime": "string"}
FORMATS = {"date": "date", "datetime": "date-time"}
SHARING_WEIGHTS = (("unconditional", 35), ("conditional", 50), ("not_shared", 15))
SENSITIVITIES = ("public", "internal", "personal", "sensitive_personal")
FREQUENCIES = (("daily", "每日"), ("weekly", "每周"), ("monthly", "每月"), ("annual", "每年"))
FILLER = (
    "数据来源于部门业务系统，经质量核查后发布。",
    "用于政务服务事项办理中的材料免提交和信息核验。",
    "历史数据已完成电子化补录。",
    "按照最小必要原则向使用部门提供。",
    "",
)


def department_descriptors() -> list[dict[str, Any]]:
    return [
        {
            "kind": "department",
            "code": code,
            "name": f"演示市{name}",
            "name_en": f"Demo City {name_en}",
            "division": "330100",
        }
        for code, name, name_en, _ in DEPARTMENTS
    ]


def resource_descriptors(count: int, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """``count`` synthetic resource descriptors, always the same for the same seed."""
    rng = random.Random(seed)
    for i in range(count):
        yield _resource(rng, i)


def _resource(rng: random.Random, i: int) -> dict[str, Any]:
    code, dept_name, _, topics = DEPARTMENTS[i % len(DEPARTMENTS)]
    topic, topic_en = rng.choice(topics)
    qualifier, qualifier_en = rng.choice(QUALIFIERS)
    suffix, suffix_en = rng.choice(SUFFIXES)
    frequency, frequency_cn = rng.choice(FREQUENCIES)
    fields = [_field(rng, f) for f in rng.sample(FIELDS, rng.randint(3, 15))]
    titles = "、".join(f["title"] for f in fields[:4])
    name = f"{qualifier}{topic}{suffix}"
    return {
        "kind": "resource",
        "code": f"{code}-{i:05d}",
        "namespace": f"r{i:05d}",
        "name": name,
        "name_en": " ".join(filter(None, [qualifier_en, topic_en, suffix_en])).capitalize(),
        "summary": f"演示市{dept_name}{name}，包括{titles}等{len(fields)}项，{frequency_cn}更新。"
        + rng.choice(FILLER),
        "provider": code,
        "classification": {
            "class": rng.choice(["basic", "thematic", "departmental"]),
            "item": topic,
        },
        "format": {"type": rng.choice(["database", "database", "api", "spreadsheet"])},
        "update_frequency": frequency,
        "keywords": list(dict.fromkeys([topic, f"{topic}{suffix}", topic_en])),
        "open_to_public": {"open": False},
        "sharing": {"method": rng.sample(["interface", "verification", "database", "file"], 2)},
        "fields": fields,
        "source": {"adapter": "sql", "mapping": f"{code.lower()}/r{i:05d}"},
    }


def _field(rng: random.Random, spec: tuple[str, str, str, str, str]) -> dict[str, Any]:
    name, title, data_type, sensitivity, transform = spec
    if rng.random() < 0.2:
        sensitivity = rng.choice(SENSITIVITIES)
    sharing_type = rng.choices(
        [s for s, _ in SHARING_WEIGHTS], weights=[w for _, w in SHARING_WEIGHTS]
    )[0]
    sharing: dict[str, str] = {"type": sharing_type}
    if sharing_type == "not_shared":
        sharing["legal_basis"] = "《中华人民共和国个人信息保护法》第二十八条"
    value_schema: dict[str, str] = {"type": JSON_TYPES.get(data_type, data_type)}
    if data_type in FORMATS:
        value_schema["format"] = FORMATS[data_type]
    return {
        "name": name,
        "title": title,
        "data_type": data_type,
        "sharing": sharing,
        "sensitivity": sensitivity,
        "transform": transform,
        "schema": value_schema,
    }


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    resources: int
    check_s: float
    publish_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "resources": self.resources,
            "check_seconds": round(self.check_s, 2),
            "publish_seconds": round(self.publish_s, 2),
            "published_per_second": round(self.resources / self.publish_s, 1),
            "checked_and_published_per_second": round(
                self.resources / (self.check_s + self.publish_s), 1
            ),
        }


@dataclass(frozen=True)
class Catalogue:
    """The checked descriptors, built once and published into every backend."""

    departments: list[Descriptor]
    resources: list[Descriptor]
    check_s: float


def checked_catalogue(count: int) -> Catalogue:
    """Generate the departments and ``count`` resources and run ``check_descriptor`` on each."""
    started = time.perf_counter()
    departments = [check_descriptor(d) for d in department_descriptors()]
    resources = [check_descriptor(d) for d in resource_descriptors(count)]
    return Catalogue(departments, resources, time.perf_counter() - started)


def load_catalogue(engine: Engine, catalogue: Catalogue) -> LoadResult:
    """Migrate a fresh database and publish the catalogue into it, ``BATCH`` per commit."""
    migrate(engine)
    sessions = make_sessionmaker(engine)
    started = time.perf_counter()
    _publish_batch(sessions, catalogue.departments)
    for batch in _chunks(catalogue.resources, BATCH):
        _publish_batch(sessions, batch)
    publish_s = time.perf_counter() - started
    return LoadResult(len(catalogue.resources), catalogue.check_s, publish_s)


def _publish_batch(sessions: sessionmaker[Session], descriptors: Sequence[Descriptor]) -> None:
    with unit_of_work(sessions) as session:
        for descriptor in descriptors:
            publish(session, descriptor, by="bench", now=NOW)


def _chunks(items: Sequence[Descriptor], size: int) -> Iterator[Sequence[Descriptor]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------------------------
# Query mix and the floor
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    query: SearchQuery
    expect_hits: bool = True

    def http_params(self) -> dict[str, str | int]:
        q = self.query
        params: dict[str, str | int] = {"q": q.text, "limit": q.limit}
        for name, value in (
            ("provider", q.provider),
            ("sharing", q.sharing),
            ("sensitivity", q.sensitivity),
        ):
            if value is not None:
                params[name] = str(value)
        return params


CASES = (
    Case("cjk2", "户籍 (2-char term)", SearchQuery("户籍")),
    Case("cjk4", "婚姻状况 (4-char phrase)", SearchQuery("婚姻状况")),
    Case("latin", "house (Latin prefix)", SearchQuery("house")),
    Case("text_provider", "登记 + provider=PSB", SearchQuery("登记", provider="PSB")),
    Case(
        "text_sharing_sens",
        "社保 + conditional + sensitive_personal",
        SearchQuery(
            "社保", sharing=SharingType.CONDITIONAL, sensitivity=Sensitivity.SENSITIVE_PERSONAL
        ),
    ),
    Case(
        "filters_only",
        "(no text) not_shared + sensitive_personal",
        SearchQuery(sharing=SharingType.NOT_SHARED, sensitivity=Sensitivity.SENSITIVE_PERSONAL),
    ),
    Case("broad", "演示 (in every resource)", SearchQuery("演示")),
    Case("zero", "量子 (no hits)", SearchQuery("量子"), expect_hits=False),
)

_EXISTS = (
    "EXISTS (SELECT 1 FROM resource_fields f WHERE f.resource_code = r.code"
    " AND f.version = r.latest_version AND f.{column} = {param})"
)


@dataclass(frozen=True)
class FloorSql:
    """The two statements of one search, written out for a DB-API driver."""

    count: str
    page: str
    params: dict[str, Any] = field(default_factory=dict)


def floor_sql(query: SearchQuery, dialect: str) -> FloorSql:
    """The SQL ``catalogue.search`` runs for ``query``, in the driver's parameter style."""

    def p(name: str) -> str:
        return f"%({name})s" if dialect == "postgresql" else f":{name}"

    where, params = _floor_filters(query, p)
    terms = query_terms(query.text)  # CJK characters or [0-9a-z] only: nothing to escape
    if not terms:
        select, order = "SELECT r.code AS code, 0.0 AS rank FROM resources r", "r.code"
    elif dialect == "postgresql":
        tsq = " & ".join(f"'{t.text}'" + (":*" if t.prefix else "") for t in terms)
        select = (
            f"SELECT r.code AS code, ts_rank(s.tsv, to_tsquery('simple', {p('tsq')})) AS rank"  # noqa: S608
            " FROM resources r JOIN resource_search s ON s.resource_code = r.code"
        )
        where.append(f"s.tsv @@ to_tsquery('simple', {p('tsq')})")
        params["tsq"], order = tsq, "rank DESC, r.code"
    else:
        fts = " AND ".join(f'"{t.text}"' + (" *" if t.prefix else "") for t in terms)
        select = (
            "SELECT r.code AS code, -bm25(resource_search) AS rank"
            " FROM resource_search s JOIN resources r ON r.code = s.resource_code"
        )
        where.append(f"resource_search MATCH {p('fts')}")
        params["fts"], order = fts, "rank DESC, r.code"
    clause = " WHERE " + " AND ".join(where) if where else ""
    return FloorSql(
        count=f"SELECT count(*) FROM ({select}{clause}) AS matches",  # noqa: S608 - fixed SQL
        page=f"{select}{clause} ORDER BY {order} LIMIT {PAGE} OFFSET 0",
        params=params,
    )


def _floor_filters(query: SearchQuery, p: Callable[[str], str]) -> tuple[list[str], dict[str, Any]]:
    where = ["r.deprecated_at IS NULL"]
    params: dict[str, Any] = {}
    if query.provider is not None:
        where.append(f"r.provider_code = {p('provider')}")
        params["provider"] = query.provider
    if query.sharing is not None:
        where.append(_EXISTS.format(column="sharing_type", param=p("sharing_type")))
        params["sharing_type"] = query.sharing.value
    if query.sensitivity is not None:
        where.append(_EXISTS.format(column="sensitivity", param=p("sensitivity")))
        params["sensitivity"] = query.sensitivity.value
    return where, params


Page = tuple[list[str], int]


class Floor:
    """Runs a :class:`FloorSql` on one open driver connection; returns (codes, total)."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        if backend == "postgresql":
            self._pg: psycopg.Connection[Any] | None = psycopg.connect(
                driver_conninfo(url), autocommit=True
            )
        else:
            self._pg = None
            self._lite = sqlite3.connect(make_url(url).database or "", check_same_thread=False)

    def run(self, sql: FloorSql) -> Page:
        if self._pg is not None:
            with self._pg.cursor() as cursor:
                total = cursor.execute(sql.count, sql.params).fetchone()
                rows = cursor.execute(sql.page, sql.params).fetchall()
        else:
            total = self._lite.execute(sql.count, sql.params).fetchone()
            rows = self._lite.execute(sql.page, sql.params).fetchall()
        return [row[0] for row in rows], int(total[0]) if total else 0

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        else:
            self._lite.close()


# --------------------------------------------------------------------------------------------
# Measuring one backend
# --------------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: Case
    total: int
    hub: Stats
    floor: Stats
    http: Stats | None = None
    http_note: str | None = None

    @property
    def ratio(self) -> float:
        return self.hub.p50_ms / self.floor.p50_ms

    @property
    def slow(self) -> bool:
        return self.hub.runs == 1

    def as_dict(self) -> dict[str, Any]:
        q = self.case.query
        return {
            "key": self.case.key,
            "label": self.case.label,
            "query": {
                "text": q.text,
                "provider": q.provider,
                "sharing": q.sharing,
                "sensitivity": q.sensitivity,
                "limit": q.limit,
            },
            "total": self.total,
            "hub": self.hub.as_dict(),
            "floor": self.floor.as_dict(),
            "hub_over_floor_p50": round(self.ratio, 2),
            "http": self.http.as_dict() if self.http else None,
            "http_note": self.http_note,
        }


def measure_cases(engine: Engine, url: str, backend: str, runs: int) -> list[CaseResult]:
    """hub vs floor for every case, interleaved, after checking both give the same page."""
    sessions = make_sessionmaker(engine)
    floor = Floor(backend, url)
    try:
        return [_measure_case(case, sessions, floor, runs) for case in CASES]
    finally:
        floor.close()


def _measure_case(
    case: Case, sessions: sessionmaker[Session], floor: Floor, wanted: int
) -> CaseResult:
    sql = floor_sql(case.query, floor.backend)

    def hub_call() -> Page:
        with unit_of_work(sessions) as session:
            hits, total = search(session, case.query)
        return [h.code for h in hits], total

    def floor_call() -> Page:
        return floor.run(sql)

    hub_page, hub_s = timed(hub_call)
    floor_page, floor_s = timed(floor_call)
    total = _check_same(case, hub_page, floor_page)
    if hub_s + floor_s > SLOW_S:
        hub, low = Stats.of_seconds([hub_s]), Stats.of_seconds([floor_s])
    else:
        stats = measure_interleaved(
            {"hub": hub_call, "floor": floor_call}, Budget(wanted, CASE_BUDGET_S)
        )
        hub, low = stats["hub"], stats["floor"]
    _progress(f"  {case.key}: total={total} runs={hub.runs} hub p50={hub.p50_ms:.2f} ms")
    return CaseResult(case, total, hub, low)


def _check_same(case: Case, hub: Page, floor: Page) -> int:
    if hub != floor:
        raise AssertionError(f"{case.key}: the floor SQL disagrees with search(): {hub} {floor}")
    if bool(hub[1]) != case.expect_hits:
        raise AssertionError(f"{case.key}: unexpected number of hits {hub[1]}")
    return hub[1]


def measure_http(url: str, workdir: Path, results: list[CaseResult], wanted: int) -> Stats:
    """Time ``GET /catalogue/resources`` for every case against a real server.

    Returns the timing of ``GET /healthz`` on the same server: the framework and transport cost
    of a request that touches no database, as a reference for the HTTP column.
    """
    with hub_server(url, workdir) as base_url, loopback_client(base_url) as client:
        baseline = _measure_get(client, "/healthz", {}, wanted)
        _progress(f"  /healthz: runs={baseline.runs} HTTP p50={baseline.p50_ms:.2f} ms")
        for result in results:
            if result.slow:
                result.http_note = f"skipped: one search takes more than {SLOW_S:.0f} s"
                continue
            result.http = _measure_get(
                client, "/catalogue/resources", result.case.http_params(), wanted, result.total
            )
            _progress(
                f"  {result.case.key}: runs={result.http.runs} HTTP p50={result.http.p50_ms:.2f} ms"
            )
    return baseline


def _measure_get(
    client: httpx.Client,
    path: str,
    params: dict[str, str | int],
    wanted: int,
    total: int | None = None,
) -> Stats:
    def call() -> httpx.Response:
        response = client.get(path, params=params)
        response.raise_for_status()
        return response

    response = call()
    if total is not None and response.json()["total"] != total:
        raise AssertionError(f"GET {path} {params}: total {response.json()['total']} != {total}")
    return measure_interleaved({"http": call}, Budget(wanted, HTTP_BUDGET_S))["http"]


def run_backend(
    backend: str, args: argparse.Namespace, catalogue: Catalogue, workdir: Path
) -> dict[str, Any]:
    revision, load_before = git_revision(), os.getloadavg()
    with _database(backend, args.postgres_url, workdir) as url:
        engine = make_engine(url)
        try:
            _progress(f"[{backend}] publishing {args.resources} resources ...")
            load = load_catalogue(engine, catalogue)
            _progress(f"[{backend}] {load.as_dict()}")
            _settle(engine, backend)
            server_version = _server_version(engine, backend)
            _progress(f"[{backend}] hub vs floor, up to {args.queries} runs per query ...")
            results = measure_cases(engine, url, backend, args.queries)
        finally:
            engine.dispose()
        _progress(f"[{backend}] HTTP, up to {args.queries} runs per query ...")
        baseline = measure_http(url, workdir, results, args.queries)
    return {
        "benchmark": "catalogue_search",
        "backend": backend,
        "database_version": server_version,
        "revision": revision,
        "revision_at_end": git_revision(),
        "seed": SEED,
        "max_runs_per_query": args.queries,
        "budgets": {
            "hub_and_floor": asdict(Budget(args.queries, CASE_BUDGET_S)),
            "http": asdict(Budget(args.queries, HTTP_BUDGET_S)),
            "slow_seconds": SLOW_S,
        },
        "http_method": "uvicorn child process on 127.0.0.1 (ephemeral port), httpx keep-alive",
        "machine": machine_note(),
        "load_average_1_5_15_min": {"start": load_before, "end": os.getloadavg()},
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load": load.as_dict(),
        "queries": [r.as_dict() for r in results],
        "http_baseline_healthz": baseline.as_dict(),
    }


def _database(backend: str, postgres_url: str | None, workdir: Path) -> AbstractContextManager[str]:
    if backend == "postgresql":
        if postgres_url is None:
            raise ValueError("a PostgreSQL URL is required")
        return throwaway_postgres(postgres_url, f"tongban_bench_{os.getpid()}")
    return nullcontext(f"sqlite:///{workdir / 'bench.db'}")


def _settle(engine: Engine, backend: str) -> None:
    """Bring the database to the state it serves reads in, after the bulk load.

    PostgreSQL: ``VACUUM ANALYZE``, as autovacuum would soon do (planner statistics, and the GIN
    pending list merged into the index; the test server may run with autovacuum off). SQLite:
    a WAL checkpoint only; no ``ANALYZE``, because the hub never runs it. The benchmark's own
    objects (the checked descriptors) are frozen out of the garbage collector, so its heap does
    not slow down the hub's allocations.
    """
    if backend == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    gc.collect()
    gc.freeze()


def _server_version(engine: Engine, backend: str) -> str:
    if backend == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    with engine.connect() as connection:
        return f"PostgreSQL {connection.exec_driver_sql('SHOW server_version').scalar_one()}"


# --------------------------------------------------------------------------------------------
# Output and entry point
# --------------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    headers = [
        "query",
        "hits",
        "runs",
        "hub p50",
        "hub p99",
        "floor p50",
        "floor p99",
        "hub/floor",
        "HTTP p50",
        "HTTP p99",
    ]
    rows = []
    for q in result["queries"]:
        http = q["http"] or {}
        rows.append(
            [
                q["label"],
                str(q["total"]),
                f"{q['hub']['runs']}/{http.get('runs', '-')}",
                _ms(q["hub"]["p50_ms"]),
                _ms(q["hub"]["p99_ms"]),
                _ms(q["floor"]["p50_ms"]),
                _ms(q["floor"]["p99_ms"]),
                f"{q['hub_over_floor_p50']:.2f}x",
                _ms(http.get("p50_ms")),
                _ms(http.get("p99_ms")),
            ]
        )
    load = result["load"]
    title = (
        f"{result['database_version']} at {result['revision']}: "
        f"{load['resources']} resources, published at "
        f"{load['published_per_second']}/s ({load['checked_and_published_per_second']}/s with "
        f"check_descriptor); times in ms; runs = hub and floor / HTTP"
    )
    notes = [f"{q['label']}: HTTP {q['http_note']}" for q in result["queries"] if q["http_note"]]
    if result["revision_at_end"] != result["revision"]:
        changed = result["revision_at_end"]
        notes.append(f"warning: the checkout changed during the run, to {changed}")
    healthz = result["http_baseline_healthz"]
    notes.append(
        f"HTTP baseline, GET /healthz: p50 {_ms(healthz['p50_ms'])}, p99 {_ms(healthz['p99_ms'])}"
    )
    return "\n".join([title, format_table(headers, rows), *notes])


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.catalogue_search",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--queries", type=int, default=200, help="timed runs per query")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TONGBAN_TEST_POSTGRES_URL"),
        help="server to create the throwaway database on (default: $TONGBAN_TEST_POSTGRES_URL)",
    )
    args = parser.parse_args(argv)
    if args.resources < 1 or args.queries < 2:
        parser.error("--resources must be at least 1 and --queries at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends:
        reason = postgres_unavailable(args.postgres_url)
        if reason is not None:
            print(f"note: skipping PostgreSQL: {reason}")
            backends.remove("postgresql")
    if not backends:
        return 0
    _progress(f"generating and checking {args.resources} descriptors ...")
    catalogue = checked_catalogue(args.resources)
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="tongban-bench-") as workdir:
            result = run_backend(backend, args, catalogue, Path(workdir))
        path = write_result(f"catalogue_search-{backend}", result)
        print(render(result))
        print(f"written to {path}\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
