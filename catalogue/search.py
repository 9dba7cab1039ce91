"""Full-text search over the catalogue, done by the database.

Chinese is written without spaces, so neither SQLite's ``unicode61`` tokenizer nor PostgreSQL's
``simple`` configuration can find 户籍 inside 常住人口户籍信息. Both backends therefore index the
same pre-segmented text: every CJK character and every pair of adjacent CJK characters (the
classic CJK bigram scheme), plus lower-cased Latin words and numbers. A query is segmented the
same way and every term must match; Latin terms match as prefixes (``house`` finds
``household``). SQLite stores the text in an FTS5 table ranked by bm25; PostgreSQL in a
``tsvector`` column with a GIN index ranked by ``ts_rank``. Filters (provider, sharing type,
sensitivity) are SQL conditions on the same statement.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from catalogue.errors import InvalidSearch
from catalogue.vocabulary import Sensitivity, SharingType

__all__ = [
    "SearchHit",
    "SearchQuery",
    "index_terms",
    "query_terms",
    "remove_from_index",
    "search",
    "update_index",
]

MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 24
MAX_PAGE = 100

_CJK = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_RUN = re.compile(f"[{_CJK}]+|[0-9a-z]+")


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    provider: str | None = None
    sharing: SharingType | None = None
    sensitivity: Sensitivity | None = None
    include_deprecated: bool = False
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class SearchHit:
    code: str
    rank: float


@dataclass(frozen=True)
class _Term:
    text: str
    prefix: bool


def _runs(value: str) -> Iterable[str]:
    return _RUN.findall(unicodedata.normalize("NFKC", value).lower())


def _is_cjk(run: str) -> bool:
    return run[0] < "0" or run[0] > "z"


def index_terms(values: Iterable[str]) -> str:
    """The space-separated terms stored for a document."""
    terms: list[str] = []
    for value in values:
        for run in _runs(value):
            if _is_cjk(run):
                terms.extend(run)
                terms.extend(run[i : i + 2] for i in range(len(run) - 1))
            else:
                terms.append(run)
    return " ".join(terms)


def query_terms(value: str) -> list[_Term]:
    """The terms a query must all match."""
    if len(value) > MAX_QUERY_CHARS:
        raise InvalidSearch(f"the search text is longer than {MAX_QUERY_CHARS} characters")
    terms: list[_Term] = []
    for run in _runs(value):
        if _is_cjk(run):
            pieces = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
            terms.extend(_Term(p, prefix=False) for p in pieces)
        else:
            terms.append(_Term(run, prefix=True))
    unique = list(dict.fromkeys(terms))
    if len(unique) > MAX_QUERY_TERMS:
        raise InvalidSearch(f"the search text has more than {MAX_QUERY_TERMS} terms")
    return unique


def resource_document(content: Mapping[str, Any]) -> str:
    """Segmented text of a resource: names, summary, keywords, field names and titles."""
    values: list[str] = [content["code"], content["name"], content.get("name_en", "")]
    values += [content["summary"], *content.get("keywords", [])]
    for field in content["fields"]:
        values += [field["name"].replace("_", " "), field["title"]]
    return index_terms(values)


def update_index(session: Session, code: str, content: Mapping[str, Any]) -> None:
    """Replace the indexed text of resource ``code``."""
    connection = session.connection()
    remove_from_index(session, code)
    connection.execute(
        text("INSERT INTO resource_search (resource_code, body) VALUES (:code, :body)"),
        {"code": code, "body": resource_document(content)},
    )


def remove_from_index(session: Session, code: str) -> None:
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # resource_code is an indexed FTS5 column: the phrase match finds the row through the
        # index (an equality test alone would scan the whole table); the equality makes it exact.
        connection.execute(
            text(
                "DELETE FROM resource_search WHERE resource_search MATCH :phrase"
                " AND resource_code = :code"
            ),
            {"phrase": 'resource_code : "' + code.replace('"', "") + '"', "code": code},
        )
        return
    connection.execute(
        text("DELETE FROM resource_search WHERE resource_code = :code"), {"code": code}
    )


def search(session: Session, query: SearchQuery) -> tuple[list[SearchHit], int]:
    """One page of matching resource codes, best first, and the total number of matches."""
    if not 1 <= query.limit <= MAX_PAGE or query.offset < 0:
        raise InvalidSearch(f"limit must be 1..{MAX_PAGE} and offset not negative")
    terms = query_terms(query.text)
    connection = session.connection()
    where, params = _filters(query)
    if not terms:
        select = "SELECT r.code AS code, 0.0 AS rank FROM resources r"
        order = "r.code"
    elif connection.dialect.name == "postgresql":
        select = (
            "SELECT r.code AS code, ts_rank(s.tsv, to_tsquery('simple', :tsq)) AS rank "
            "FROM resources r JOIN resource_search s ON s.resource_code = r.code"
        )
        where.append("s.tsv @@ to_tsquery('simple', :tsq)")
        params["tsq"] = _tsquery(terms)
        order = "rank DESC, r.code"
    else:
        select = (
            "SELECT r.code AS code, -bm25(resource_search) AS rank "
            "FROM resource_search s JOIN resources r ON r.code = s.resource_code"
        )
        where.append("resource_search MATCH :fts")  # body holds the code too
        params["fts"] = _fts5_query(terms)
        order = "rank DESC, r.code"
    return _page(connection, select, where, order, params, query)


def _page(
    connection: Connection,
    select: str,
    where: list[str],
    order: str,
    params: dict[str, Any],
    query: SearchQuery,
) -> tuple[list[SearchHit], int]:
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    total = connection.execute(
        text(f"SELECT count(*) FROM ({select}{clause}) AS matches"),  # noqa: S608 - fixed SQL
        params,
    ).scalar_one()
    rows = connection.execute(
        text(f"{select}{clause} ORDER BY {order} LIMIT :limit OFFSET :offset"),
        {**params, "limit": query.limit, "offset": query.offset},
    )
    return [SearchHit(code=row.code, rank=float(row.rank)) for row in rows], int(total)


_FIELD_EXISTS = (
    "EXISTS (SELECT 1 FROM resource_fields f WHERE f.resource_code = r.code"
    " AND f.version = r.latest_version AND f.{column} = :{column})"
)


def _filters(query: SearchQuery) -> tuple[list[str], dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if not query.include_deprecated:
        where.append("r.deprecated_at IS NULL")
    if query.provider is not None:
        where.append("r.provider_code = :provider")
        params["provider"] = query.provider
    if query.sharing is not None:
        where.append(_FIELD_EXISTS.format(column="sharing_type"))
        params["sharing_type"] = query.sharing.value
    if query.sensitivity is not None:
        where.append(_FIELD_EXISTS.format(column="sensitivity"))
        params["sensitivity"] = query.sensitivity.value
    return where, params


def _fts5_query(terms: list[_Term]) -> str:
    """Every term, as an FTS5 string, restricted to the body column."""
    parts = []
    for term in terms:
        quoted = '"' + term.text.replace('"', '""') + '"'
        parts.append(quoted + (" *" if term.prefix else ""))
    return "body : (" + " AND ".join(parts) + ")"


def _tsquery(terms: list[_Term]) -> str:
    parts = []
    for term in terms:
        quoted = "'" + term.text.replace("'", "''").replace("\\", "\\\\") + "'"
        parts.append(quoted + (":*" if term.prefix else ""))
    return " & ".join(parts)
