"""Agreement documents (共享协议文本): agreements signed outside the hub, loaded as approved.

Order of checks for each document, each stopping at the first stage that finds a problem:

1. bytes: size limit, then strict UTF-8;
2. syntax: YAML (or JSON) through a loader that refuses aliases and keeps dates as strings;
3. shape: ``kind: agreement`` and ``agreement.schema.json``, with JSON pointers;
4. registry: the consumer system exists, belongs to the named department and has registered
   every purpose; the resource exists, is not deprecated and is the provider's; every field is
   conditional; the row condition names a field of the resource; the validity is ordered;
5. identity: an agreement with the same id already loaded from the same content is left as it
   is (loading is idempotent, and a revoked agreement stays revoked); one with the same id and
   different content is refused: a changed agreement needs a new id.

Loading is all or nothing within the caller's unit of work; the caller commits.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from catalogue.models import System
from exchange.agreements.errors import (
    AgreementChanged,
    AgreementPurposeNotRegistered,
    InvalidAgreementDocument,
)
from exchange.agreements.lifecycle import log_agreement_event
from exchange.agreements.models import Agreement, AgreementStatus, Origin
from exchange.agreements.service import (
    Actor,
    catalogue_fields,
    parse_instant,
    record_event,
    require_agreeable_fields,
    unfitting_override,
)
from exchange.agreements.terms import sign_terms
from exchange.audit.lifecycle import hold_log
from exchange.security.keys import HubKeys
from schemas import ProblemDetail, TongbanError, explain_all, validator
from schemas.text import document_text_problems

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "AgreementDocument",
    "LoadOutcome",
    "demo_agreement_paths",
    "load_agreement_document",
    "load_agreement_documents",
    "parse_agreement_document",
]

MAX_DOCUMENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class AgreementDocument:
    """A document that passed stages 1 to 3, normalised (each field as ``{name, release?}``)."""

    content: Mapping[str, Any]

    @property
    def id(self) -> str:
        return str(self.content["id"])

    @property
    def digest(self) -> str:
        """SHA-256 over the sorted-key compact JSON of the normalised content."""
        text = json.dumps(self.content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LoadOutcome:
    id: str
    created: bool  # false: the same document was loaded before; nothing changed
    status: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "status": self.status,
            "source": self.source,
        }


def parse_agreement_document(data: bytes) -> AgreementDocument:
    """Stages 1 to 3: :class:`InvalidAgreementDocument` with pointers on any problem."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise _invalid(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes", "")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise _invalid(f"not UTF-8: invalid byte at offset {exc.start}", "") from None
    try:
        document = yaml.load(text, Loader=_DocumentLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark else ""
        raise _invalid(f"not valid YAML: {exc.problem}{where}", "") from None
    except yaml.YAMLError:
        raise _invalid("not valid YAML", "") from None
    if not isinstance(document, dict) or document.get("kind") != "agreement":
        raise _invalid("an agreement document is a mapping with kind: agreement", "/kind")
    problems = explain_all(validator("agreement").iter_errors(document))
    if not problems:
        problems = list(document_text_problems(document))
    if problems:
        raise InvalidAgreementDocument("the agreement document is not valid", errors=problems)
    content = copy.deepcopy(document)
    content["fields"] = [{"name": f} if isinstance(f, str) else f for f in content["fields"]]
    content.setdefault("requires_consent", False)
    return AgreementDocument(content)


class _DocumentLoader(yaml.SafeLoader):
    """SafeLoader without aliases and without implicit timestamps."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.MarkedYAMLError(
                "while composing", None, "aliases are not allowed in agreement documents", None
            )
        return super().compose_node(parent, index)


_DocumentLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_agreement_documents(
    session: Session, paths: Sequence[Path], now: datetime, *, keys: HubKeys, by: str = "loader"
) -> list[LoadOutcome]:
    """Load every file, or (on the first error, which names its file) none."""
    outcomes: list[LoadOutcome] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidAgreementDocument(f"{path}: cannot read ({exc.strerror})") from None
        try:
            document = parse_agreement_document(data)
            outcomes.append(
                load_agreement_document(session, document, now, keys=keys, by=by, source=str(path))
            )
        except TongbanError as exc:
            raise type(exc)(f"{path}: {exc.detail}", errors=exc.errors) from None
    return outcomes


def load_agreement_document(
    session: Session,
    document: AgreementDocument,
    now: datetime,
    *,
    keys: HubKeys,
    by: str,
    source: str = "",
) -> LoadOutcome:
    """Stages 4 and 5 for one parsed document: the hub signs the terms it will enforce with
    its *keys*, and the agreement's ``approved`` event is a lifecycle entry in the audit log."""
    hold_log(session)
    existing = session.get(Agreement, document.id)
    if existing is not None:
        if existing.document_digest != document.digest:
            raise AgreementChanged(
                f"agreement {document.id} is already in the hub with different content;"
                " give a changed agreement a new id",
                errors=[ProblemDetail(pointer="/id", detail="in use with different content")],
            )
        return LoadOutcome(document.id, False, existing.status, source)
    agreement = _agreement_from(session, document.content, now, by)
    agreement.document_digest = document.digest
    session.add(agreement)
    session.flush()
    detail = {"approved_by": agreement.decided_by, "digest": document.digest}
    record_event(session, agreement, Actor(by, "document"), "loaded", now, detail)
    sign_terms(session, keys, agreement, now=now)
    log_agreement_event(session, agreement, "approved")
    return LoadOutcome(agreement.id, True, agreement.status, source)


def _agreement_from(
    session: Session, content: Mapping[str, Any], now: datetime, by: str
) -> Agreement:
    system = _system(session, content["consumer"], content["purposes"])
    resource, sharing = catalogue_fields(session, content["resource"])
    if resource.provider_code != content["provider"]:
        raise _invalid(f"resource {resource.code} is provided by another department", "/provider")
    names = [f["name"] for f in content["fields"]]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise _invalid(f"field {name!r} is listed twice", f"/fields/{i}")
    require_agreeable_fields(resource.code, names, sharing)
    unfit = unfitting_override(
        session, resource, {f["name"]: f.get("release") for f in content["fields"]}
    )
    if unfit is not None:
        name, release, data_type = unfit
        raise _invalid(f"release {release} cannot apply to {name!r} ({data_type})", "/fields")
    condition = content.get("row_condition")
    if condition is not None and condition["field"] not in sharing:
        raise _invalid(
            f"resource {resource.code} has no field {condition['field']!r}", "/row_condition/field"
        )
    validity = content["validity"]
    valid_from = parse_instant(validity["from"], end_of_day=False, at="/validity/from")
    until = validity.get("until")
    valid_until = parse_instant(until, end_of_day=True, at="/validity/until") if until else None
    if valid_until is not None and valid_until <= valid_from:
        raise _invalid("the validity must start before it ends", "/validity/until")
    return Agreement(
        id=content["id"],
        origin=Origin.DOCUMENT,
        status=AgreementStatus.APPROVED,
        system_id=system.id,
        consumer_department=system.department_code,
        provider_department=resource.provider_code,
        resource_code=resource.code,
        resource_version=resource.latest_version,
        fields=names,
        purposes=list(content["purposes"]),
        legal_basis=content["legal_basis"],
        justification=content.get("title"),
        requested_from=valid_from,
        requested_until=valid_until,
        submitted_at=now,
        submitted_by=by,
        due_by=None,
        decided_at=now,
        decided_by=content["approved_by"],
        granted={f["name"]: f.get("release") for f in content["fields"]},
        row_condition=dict(condition) if condition else None,
        daily_quota=content.get("daily_quota"),
        requires_consent=content["requires_consent"],
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _system(session: Session, consumer: Mapping[str, str], purposes: Sequence[str]) -> System:
    system = session.get(System, consumer["system"])
    if system is None:
        raise _invalid(f"no system {consumer['system']!r} is registered", "/consumer/system")
    if system.department_code != consumer["department"]:
        raise _invalid(
            f"system {system.id!r} belongs to another department", "/consumer/department"
        )
    for i, purpose in enumerate(purposes):
        if purpose not in system.purposes:
            raise AgreementPurposeNotRegistered(
                f"system {system.id!r} has not registered the purpose {purpose!r}",
                errors=[ProblemDetail(pointer=f"/purposes/{i}", detail="not registered")],
            )
    return system


def _invalid(message: str, at: str) -> InvalidAgreementDocument:
    return InvalidAgreementDocument(message, errors=[ProblemDetail(pointer=at, detail=message)])


def demo_agreement_paths() -> list[Path]:
    """The demo city's agreement documents (``policies/agreements/*.yaml``, where policy
    documents live), in order."""
    folder = resources.files("policies").joinpath("agreements")
    return sorted(Path(str(f)) for f in folder.iterdir() if f.name.endswith(".yaml"))
