"""Reading the audit log (审计日志查阅): auditors' searches and exports, a citizen's own accesses.

Nothing here writes. Every view shows an entry as it was stored: the subject only as its keyed
pseudonym (the entry never holds more), never an attribute value (the entry never holds one).

- **Search** is newest first with keyset pagination on the leaf index: a page ends with the
  index of its last entry, and the next page holds the entries below it. Indexes never change
  and entries are only appended, so a page never shows an entry twice or skips one.
- **Export** is oldest first, in pages of :data:`EXPORT_PAGE` entries, each read in its own
  short transaction, up to the log's size when the export began: memory stays bounded however
  long the log, and the export is exactly the first entries of one tree size.
- **A citizen's accesses** are the entries whose subject is their pseudonym, each with its
  RFC 9162 inclusion proof against one head, so the citizen can check every one of them.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from catalogue.models import Department, ResourceVersion, ServiceItem, ServiceItemVersion, System
from exchange.audit import proofs
from exchange.audit.errors import EntryNotFound
from exchange.audit.models import AuditRecord
from exchange.db import unit_of_work

__all__ = [
    "CSV_COLUMNS",
    "EXPORT_PAGE",
    "AccessNames",
    "AgreementRef",
    "AuditFilter",
    "Page",
    "access_view",
    "citizen_accesses",
    "csv_header",
    "csv_rows",
    "entry_detail",
    "entry_summary",
    "export_pages",
    "get_entry",
    "inclusion_view",
    "jsonl_lines",
    "search_entries",
]

EXPORT_PAGE = 1000
CSV_COLUMNS = (
    "index",
    "recorded_at",
    "kind",
    "system",
    "department",
    "subject",
    "purpose",
    "outcome",
    "attributes",
    "leaf_hash",
)


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor searches by; every condition given must hold. ``subject`` is a
    pseudonym (the caller derives it from the ID number typed); the time range is
    ``since <= recorded_at < until``."""

    subject: str | None = None
    system: str | None = None
    department: str | None = None
    purpose: str | None = None
    outcome: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        equal = (
            (AuditRecord.subject, self.subject),
            (AuditRecord.system_id, self.system),
            (AuditRecord.department, self.department),
            (AuditRecord.purpose, self.purpose),
            (AuditRecord.outcome, self.outcome),
            (AuditRecord.kind, self.kind),
        )
        found = [column == value for column, value in equal if value is not None]
        if self.since is not None:
            found.append(AuditRecord.recorded_at >= self.since)
        if self.until is not None:
            found.append(AuditRecord.recorded_at < self.until)
        return found


@dataclass(frozen=True)
class Page:
    """Entries newest first, and the cursor of the next page (None on the last one)."""

    records: list[AuditRecord]
    next_cursor: int | None


def search_entries(
    session: Session, where: AuditFilter, *, limit: int, before: int | None = None
) -> Page:
    """Up to *limit* entries matching *where*, newest first, with indexes below *before*."""
    return _page_below(session, where.clauses(), limit, before)


def get_entry(session: Session, index: int) -> AuditRecord:
    record = session.get(AuditRecord, index)
    if record is None:
        raise EntryNotFound(f"the audit log has no entry {index}")
    return record


ACCESS_KINDS = ("query", "verify", "event")
"""The entry kinds that are an access to a person's data: a query, a verify, and a subscription
event released to a system (the others, consent and correction events, are lifecycle events)."""


def citizen_accesses(
    session: Session,
    subject: str,
    *,
    size: int,
    limit: int,
    before: int | None = None,
    hidden: Collection[int] = (),
) -> Page:
    """The accesses to the subject pseudonym *subject* (entries of kind ``query``, ``verify``
    and ``event``) within the tree of *size* entries, newest first: each one has an inclusion
    proof in that tree. The subject's consent events are entries too; the citizen reads them
    with each consent's history (``GET /citizen/consents``), not as accesses. *hidden*: the
    accesses whose notice is deferred (``exchange.notice``), left out."""
    clauses = [
        AuditRecord.subject == subject,
        AuditRecord.index < size,
        AuditRecord.kind.in_(ACCESS_KINDS),
    ]
    if hidden:
        clauses.append(AuditRecord.index.not_in(sorted(hidden)))
    return _page_below(session, clauses, limit, before)


def _page_below(
    session: Session, clauses: list[ColumnElement[bool]], limit: int, before: int | None
) -> Page:
    if before is not None:
        clauses = [*clauses, AuditRecord.index < before]
    query = select(AuditRecord).where(*clauses).order_by(AuditRecord.index.desc())
    rows = list(session.scalars(query.limit(limit + 1)))
    if len(rows) > limit:
        return Page(rows[:limit], rows[limit - 1].index)
    return Page(rows, None)


def export_pages(
    sessions: sessionmaker[Session], where: AuditFilter, *, page: int = EXPORT_PAGE
) -> tuple[int, Iterator[list[AuditRecord]]]:
    """The log's size now, and the entries among the first that many that match *where*,
    oldest first, in pages of at most *page* entries (one short transaction per page)."""
    with unit_of_work(sessions) as session:
        size = proofs.head(session).size

    def pages() -> Iterator[list[AuditRecord]]:
        after = -1
        while True:
            with unit_of_work(sessions) as session:
                query = (
                    select(AuditRecord)
                    .where(*where.clauses(), AuditRecord.index > after, AuditRecord.index < size)
                    .order_by(AuditRecord.index)
                    .limit(page)
                )
                rows = list(session.scalars(query))
            if rows:
                yield rows
            if len(rows) < page:
                return
            after = rows[-1].index

    return size, pages()


# -- views ---------------------------------------------------------------------------------


def entry_summary(record: AuditRecord, names: AccessNames) -> dict[str, Any]:
    """One line of a search: who, why, when, what happened to each attribute, and the names of
    its system and purpose."""
    entry = _parsed(record)
    return {
        "index": record.index,
        "request_id": record.request_id,
        "recorded_at": _instant(record.recorded_at),
        "kind": record.kind,
        "system": record.system_id,
        "department": record.department,
        "subject": record.subject,
        "purpose": record.purpose,
        "outcome": record.outcome,
        "attributes": _outcomes(entry),
        "names": _entry_names(names, record, entry),
    }


def entry_detail(record: AuditRecord, names: AccessNames) -> dict[str, Any]:
    """The whole entry, its canonical text as stored, its leaf hash, and the names of its
    system and purpose."""
    entry = _parsed(record)
    return {
        "index": record.index,
        "request_id": record.request_id,
        "recorded_at": _instant(record.recorded_at),
        "leaf_hash": _b64(record.leaf_hash),
        "entry": entry,
        "canonical": record.entry,
        "names": _entry_names(names, record, entry),
    }


def _entry_names(
    names: AccessNames, record: AuditRecord, entry: Mapping[str, Any]
) -> dict[str, Any]:
    """The names of *record*'s system and purpose (the purpose by the entry's service item,
    when it names one)."""
    asked = entry.get("service_item")
    service_item = asked if isinstance(asked, str) else None
    return {
        "system": names.system(record.system_id),
        "purpose": names.purpose(record.purpose, record.department, service_item),
    }


def inclusion_view(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> dict[str, Any]:
    """An inclusion proof as the API answers it (hashes in standard base64)."""
    return {
        "index": index,
        "size": size,
        "leaf_hash": _b64(leaf),
        "proof": [_b64(p) for p in proof],
    }


_T = TypeVar("_T")
_Named = dict[str, str | None]  # a name and its English name, each None when unknown


@dataclass(frozen=True)
class AgreementRef:
    """What an access's view names of an agreement: its document's title (``None`` for one
    applied for through the hub), and the resource and provider it shares."""

    title: str | None
    resource_code: str
    resource_version: int
    provider_department: str


class AccessNames:
    """The readable names of what an access entry holds as codes, looked up in the registry
    once per code (per request): the department's and the system's names, the purpose's (the
    name of the service item that asks for it), each field's title and each agreement's title.
    A code the registry does not know has no name (``None``); the codes stay in the view."""

    def __init__(
        self, session: Session, agreements: Callable[[str], AgreementRef | None] = lambda _: None
    ) -> None:
        self._session = session
        self._agreements = agreements  # the agreements room's lookup (it imports this room)
        self._cache: dict[tuple[str, ...], Any] = {}

    def _once(self, key: tuple[str, ...], find: Callable[[], _T]) -> _T:
        if key not in self._cache:
            self._cache[key] = find()
        found: _T = self._cache[key]
        return found

    def department(self, code: str) -> _Named:
        def find() -> _Named:
            row = self._session.get(Department, code)
            return {"name": row.name, "name_en": row.name_en} if row else _NO_NAME

        return self._once(("department", code), find)

    def system(self, system_id: str) -> str | None:
        def find() -> str | None:
            row = self._session.get(System, system_id)
            return row.name if row else None

        return self._once(("system", system_id), find)

    def service_item(self, code: str | None) -> _Named:
        if not code:
            return _NO_NAME

        def find() -> _Named:
            content = self._service_item(code)
            if content is None:
                return _NO_NAME
            return {"name": content.get("name"), "name_en": content.get("name_en")}

        return self._once(("service_item", code), find)

    def purpose(self, code: str, department: str, service_item: str | None) -> _Named:
        """The purpose's name: that of the access's service item, else of the department's
        first service item (by code) that asks for attributes for this purpose."""
        if service_item and self.service_item(service_item)["name"]:
            return self.service_item(service_item)

        def find() -> _Named:
            owned = self._session.scalars(
                select(ServiceItem.code)
                .where(ServiceItem.owner_code == department)
                .order_by(ServiceItem.code)
            )
            for item in owned:
                content = self._service_item(item) or {}
                if any(a.get("purpose") == code for a in content.get("attributes", [])):
                    return self.service_item(item)
            return _NO_NAME

        return self._once(("purpose", department, code), find)

    def field(self, resource: str | None, version: int | None, name: str) -> dict[str, Any]:
        """A field's title and its resource's name, from the version the access read."""
        if not resource or not isinstance(version, int):
            return {"title": None, "resource_name": None}

        def find() -> dict[str, Any]:
            row = self._session.get(ResourceVersion, (resource, version))
            return dict(row.descriptor) if row else {}

        content: dict[str, Any] = self._once(("resource", resource, str(version)), find)
        field = name.partition(".")[2].split("(")[0]
        titles = {f["name"]: f.get("title") for f in content.get("fields", [])}
        return {"title": titles.get(field), "resource_name": content.get("name")}

    def agreement(self, agreement_id: str) -> dict[str, Any]:
        """An agreement's title: the title of its document, else the name of the resource it
        shares (with its provider's name)."""

        def find() -> dict[str, Any]:
            ref = self._agreements(agreement_id)
            if ref is None:
                return {"id": agreement_id, "title": None, "resource_name": None, "provider": None}
            content = self.field(ref.resource_code, ref.resource_version, "")
            return {
                "id": agreement_id,
                "title": ref.title,
                "resource_name": content["resource_name"],
                "provider": self.department(ref.provider_department)["name"],
            }

        return self._once(("agreement", agreement_id), find)

    def _service_item(self, code: str) -> dict[str, Any] | None:
        item = self._session.get(ServiceItem, code)
        row = item and self._session.get(ServiceItemVersion, (code, item.latest_version))
        return dict(row.descriptor) if row else None


_NO_NAME: _Named = {"name": None, "name_en": None}


def access_view(
    record: AuditRecord, proof: Sequence[bytes], size: int, names: AccessNames | None = None
) -> dict[str, Any]:
    """One access as its citizen sees it: when, who, why, under what, which fields with what
    outcome; the canonical entry and its inclusion proof in the tree of *size* entries. With
    *names*, each code is joined by its readable name (``*_name``, field ``title``,
    ``agreement_titles``); the codes and the canonical entry stay as they are."""
    entry = _parsed(record)
    attributes: dict[str, dict[str, Any]] = entry.get("attributes") or {}
    fields = {
        name: {
            key: attribute.get(key)
            for key in ("outcome", "release", "reason", "agreement", "consent", "legal_basis")
        }
        | {"basis": basis_kind(attribute)}
        for name, attribute in attributes.items()
    }
    consents = {str(a["consent"]) for a in attributes.values() if a.get("consent")}
    if entry.get("consent"):
        consents.add(str(entry["consent"]))
    view = {
        "index": record.index,
        "at": entry.get("at") or _instant(record.recorded_at),
        "kind": record.kind,
        "system": record.system_id,
        "department": record.department,
        "officer": entry.get("officer"),
        "purpose": record.purpose,
        "service_item": entry.get("service_item"),
        "legal_bases": _distinct(attributes, "legal_basis"),
        "basis_kinds": sorted({b for a in attributes.values() if (b := basis_kind(a))}),
        "agreements": _distinct(attributes, "agreement"),
        "consents": sorted(consents),
        "fields": fields,
        "outcome": record.outcome,
        "entry": record.entry,
        "proof": inclusion_view(record.index, size, record.leaf_hash, proof),
        "relay": entry.get("relay"),  # federation: relayed for another hub's caller
        "relayed": entry.get("relayed"),  # federation: read from other hubs
    }
    if names is not None:
        _add_names(view, attributes, names)
    return view


def _add_names(
    view: dict[str, Any], attributes: dict[str, dict[str, Any]], names: AccessNames
) -> None:
    department = names.department(view["department"])
    purpose = names.purpose(view["purpose"], view["department"], view["service_item"])
    view["system_name"] = names.system(view["system"])
    view["department_name"] = department["name"]
    view["department_name_en"] = department["name_en"]
    view["purpose_name"] = purpose["name"]
    view["purpose_name_en"] = purpose["name_en"]
    view["agreement_titles"] = [names.agreement(a) for a in view["agreements"]]
    for name, field in view["fields"].items():
        attribute = attributes[name]
        field.update(names.field(attribute.get("resource"), attribute.get("version"), name))


# -- exports -------------------------------------------------------------------------------


def jsonl_lines(records: Sequence[AuditRecord]) -> str:
    """JSON Lines: per entry its index, leaf hash and the parsed entry, whose RFC 8785
    canonical form hashes (as a leaf) to that leaf hash."""
    return "".join(
        json.dumps(
            {"index": r.index, "leaf_hash": _b64(r.leaf_hash), "entry": _parsed(r)},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        + "\n"
        for r in records
    )


def csv_header() -> str:
    return _csv([list(CSV_COLUMNS)])


def csv_rows(records: Sequence[AuditRecord]) -> str:
    """CSV rows in :data:`CSV_COLUMNS` order; attributes as ``attr=outcome;…``."""
    return _csv(
        [
            [
                str(r.index),
                _instant(r.recorded_at),
                r.kind,
                r.system_id,
                r.department,
                r.subject,
                r.purpose,
                r.outcome,
                ";".join(f"{name}={state}" for name, state in _outcomes(_parsed(r)).items()),
                _b64(r.leaf_hash),
            ]
            for r in records
        ]
    )


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


# -- helpers -------------------------------------------------------------------------------


def _parsed(record: AuditRecord) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(record.entry)
    return entry


def _outcomes(entry: dict[str, Any]) -> dict[str, str]:
    attributes: dict[str, dict[str, Any]] = entry.get("attributes") or {}
    return {name: str(a.get("outcome")) for name, a in attributes.items()}


def basis_kind(attribute: Mapping[str, Any]) -> str | None:
    """The kind of legal basis an audited attribute rested on (``statutory_duty``, ``consent``,
    ``other``; docs/notice.md): as the entry records it, else, for an entry written before it
    recorded one, from the rules it records (a consent relied on; an agreement or an
    unconditional field); ``None`` when no rule allowed it."""
    recorded = attribute.get("basis")
    if isinstance(recorded, str):
        return recorded
    if attribute.get("outcome") not in ("released", "withheld"):
        return None
    if attribute.get("consent"):
        return "consent"
    rules = attribute.get("rules") or []
    if attribute.get("agreement") or "sharing.unconditional" in rules:
        return "statutory_duty"
    return "other"


def _distinct(attributes: dict[str, dict[str, Any]], key: str) -> list[str]:
    return sorted({str(a[key]) for a in attributes.values() if a.get(key)})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
