"""Harvesting a source peer's catalogue (目录汇聚) over DCAT-AP, one version per harvest.

A harvest reads, checks and only then publishes, in this order; any problem refuses the whole
harvest (``harvest_refused``, 422, each problem with its pointer), records it as refused, and
leaves the harvest in force, and the local catalogue, as they were:

1. the peer's ``GET /catalogue/dcat`` as JSON-LD, its context inline (nothing else is fetched
   to read it), parsed by rdflib;
2. the DCAT-AP document: one ``dcat:Catalog``; each of its ``dcat:Dataset`` s at
   ``{peer}/catalogue/resources/{code}`` with ``dct:identifier`` (that code), ``dct:title``,
   ``dct:description``, ``dcat:version`` (a positive integer), ``dcat:distribution`` and a
   ``dct:publisher`` at ``{peer}/catalogue/departments/{code}`` with a ``foaf:name``
   (deprecated datasets, ``adms:status`` Deprecated, are left out);
3. each dataset's descriptor, ``GET /catalogue/resources/{code}?version={version}`` at the
   peer: the same code, version and provider as the DCAT-AP says, and a valid resource
   descriptor by this hub's own checks (:func:`catalogue.descriptors.check_descriptor`), its
   source binding being the relay to the peer (``{"adapter": "relay", "mapping":
   "peer/{id}"}``);
4. against the local catalogue: no resource code, namespace or department code that belongs to
   this hub itself or to another peer.

Accepted, everything is published in one unit of work: the providing departments, each resource
(a new local version when its descriptor changed), its origin (``federation_resources``), the
harvest record with the next version number; a resource the peer no longer lists is deprecated
here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from catalogue.descriptors import check_descriptor
from catalogue.errors import InvalidDescriptor
from catalogue.models import Department, Resource
from catalogue.publishing import deprecate_resource, publish
from catalogue.vocabulary import DescriptorKind
from exchange.audit.lifecycle import hold_log
from exchange.db import unit_of_work
from exchange.federation.audit import log_peer_event
from exchange.federation.errors import HarvestRefused, PeerInvalid, PeerUnreachable
from exchange.federation.models import Harvest, RemoteResource
from exchange.federation.service import get_peer, harvest_view
from schemas import ProblemDetail

__all__ = ["harvest"]

ADMS = Namespace("http://www.w3.org/ns/adms#")
DEPRECATED = URIRef("http://purl.org/adms/status/Deprecated")
DCAT_VERSION = URIRef("http://www.w3.org/ns/dcat#version")  # DCAT 3; rdflib knows DCAT 2
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class _Dataset:
    code: str
    version: int
    department: str
    department_name: str
    homepage: str | None


class _Problems(Exception):
    def __init__(self, detail: str, problems: list[ProblemDetail], digest: str | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = problems
        self.digest = digest


def harvest(
    sessions: sessionmaker[Session],
    peer_id: str,
    *,
    by: str,
    now: datetime,
    timeout: float = 15.0,
) -> dict[str, Any]:
    """Harvest the peer's catalogue (the steps in the module docstring); the harvest record."""
    with unit_of_work(sessions) as session:
        peer = get_peer(session, peer_id)
        if not peer.source or peer.status != "active":
            raise PeerInvalid(f"the peer hub {peer_id} is not an active source")
        url = peer.url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout) as http:
            digest, datasets = _read_catalogue(http, url)
            descriptors = {d.code: _read_descriptor(http, url, peer_id, d) for d in datasets}
        with unit_of_work(sessions) as session:
            _check_local(session, peer_id, datasets, descriptors)
    except _Problems as refused:
        _record_refused(sessions, peer_id, by, now, refused)
        raise HarvestRefused(refused.detail, errors=refused.problems[:MAX_PROBLEMS]) from None
    with unit_of_work(sessions, write=True) as session:
        return harvest_view(_publish(session, peer_id, by, now, digest, datasets, descriptors))


# -- 1, 2: the DCAT-AP document -------------------------------------------------------------


def _read_catalogue(http: httpx.Client, url: str) -> tuple[str, list[_Dataset]]:
    try:
        response = http.get(f"{url}/catalogue/dcat", headers={"Accept": "application/ld+json"})
    except httpx.HTTPError as exc:
        raise _Problems(
            f"the peer's catalogue could not be read ({type(exc).__name__})", [], None
        ) from None
    if response.status_code != 200:
        raise _Problems(f"the peer answered {response.status_code} for its catalogue", [], None)
    digest = hashlib.sha256(response.content).hexdigest()
    try:
        document = json.loads(response.content)
    except ValueError:
        raise _Problems(
            "the peer's catalogue is not JSON", [_at("/", "not JSON")], digest
        ) from None
    context = document.get("@context") if isinstance(document, dict) else None
    if not isinstance(context, dict):
        problem = _at("/@context", "the JSON-LD context must be inline (nothing is fetched)")
        raise _Problems("the peer's catalogue is not DCAT-AP JSON-LD", [problem], digest)
    graph = Graph()
    try:
        graph.parse(data=response.text, format="json-ld")
    except Exception as exc:  # rdflib raises many kinds on bad JSON-LD  # noqa: BLE001
        problem = _at("/", f"not JSON-LD ({type(exc).__name__})")
        raise _Problems("the peer's catalogue is not DCAT-AP JSON-LD", [problem], digest) from None
    problems: list[ProblemDetail] = []
    datasets = _datasets(graph, url, problems)
    if problems:
        raise _Problems("the peer's DCAT-AP catalogue failed validation", problems, digest)
    return digest, datasets


def _datasets(graph: Graph, url: str, problems: list[ProblemDetail]) -> list[_Dataset]:
    catalogues = list(graph.subjects(RDF.type, DCAT.Catalog))
    if len(catalogues) != 1:
        problems.append(_at("/", f"one dcat:Catalog expected, found {len(catalogues)}"))
        return []
    found = []
    prefix = f"{url}/catalogue/resources/"
    for node in sorted(graph.objects(catalogues[0], DCAT.dataset), key=str):
        where = f"/dcat:dataset/{node}"
        if (node, RDF.type, DCAT.Dataset) not in graph:
            problems.append(_at(where, "not typed dcat:Dataset"))
            continue
        if (node, ADMS.status, DEPRECATED) in graph:
            continue
        dataset = _dataset(graph, node, where, url, prefix, problems)
        if dataset is not None:
            found.append(dataset)
    return found


def _dataset(
    graph: Graph, node: Any, where: str, url: str, prefix: str, problems: list[ProblemDetail]
) -> _Dataset | None:
    before = len(problems)
    code = _literal(graph, node, DCTERMS.identifier)
    if code is None:
        problems.append(_at(f"{where}/dct:identifier", "missing"))
    elif str(node) != prefix + code:
        problems.append(_at(where, f"a dataset of this peer is at {prefix}{code}"))
    for label, term in (("dct:title", DCTERMS.title), ("dct:description", DCTERMS.description)):
        if _literal(graph, node, term) is None:
            problems.append(_at(f"{where}/{label}", "missing"))
    if graph.value(node, DCAT.distribution) is None:
        problems.append(_at(f"{where}/dcat:distribution", "missing"))
    version = _literal(graph, node, DCAT_VERSION)
    if version is None or not version.isdigit() or int(version) < 1:
        problems.append(_at(f"{where}/dcat:version", "a positive integer is required"))
    publisher = graph.value(node, DCTERMS.publisher)
    department_prefix = f"{url}/catalogue/departments/"
    name: str | None = None if publisher is None else _literal(graph, publisher, FOAF.name)
    if publisher is None or not str(publisher).startswith(department_prefix) or name is None:
        problems.append(
            _at(f"{where}/dct:publisher", f"a foaf:Agent at {department_prefix}… with a foaf:name")
        )
    if len(problems) > before or code is None or version is None or publisher is None:
        return None
    homepage = graph.value(publisher, FOAF.homepage)
    return _Dataset(
        code,
        int(version),
        str(publisher)[len(department_prefix) :],
        str(name),
        str(homepage) if homepage is not None else None,
    )


def _literal(graph: Graph, node: Any, term: URIRef) -> str | None:
    values = [v for v in graph.objects(node, term) if isinstance(v, Literal)]
    zh = [v for v in values if v.language in (None, "zh")]
    chosen = (zh or values)[0] if values else None
    return None if chosen is None or not str(chosen).strip() else str(chosen)


# -- 3: each descriptor ---------------------------------------------------------------------


def _read_descriptor(
    http: httpx.Client, url: str, peer_id: str, dataset: _Dataset
) -> dict[str, Any]:
    where = f"/resources/{dataset.code}"
    try:
        response = http.get(
            f"{url}/catalogue/resources/{dataset.code}", params={"version": dataset.version}
        )
        view = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        raise _Problems(
            f"the descriptor of {dataset.code} could not be read ({type(exc).__name__})",
            [_at(where, "unreadable")],
            None,
        ) from None
    descriptor = view.get("descriptor") if isinstance(view, dict) else None
    if not isinstance(view, dict) or not isinstance(descriptor, dict):
        raise _Problems(
            f"the peer has no descriptor of {dataset.code}", [_at(where, "no descriptor")], None
        )
    problems = []
    if view.get("version") != dataset.version:
        problems.append(_at(f"{where}/version", f"not the DCAT-AP's version {dataset.version}"))
    if descriptor.get("code") != dataset.code:
        problems.append(_at(f"{where}/code", "not the DCAT-AP's identifier"))
    if descriptor.get("provider") != dataset.department:
        problems.append(_at(f"{where}/provider", "not the DCAT-AP's publisher"))
    local = {**descriptor, "source": {"adapter": "relay", "mapping": f"peer/{peer_id}"}}
    try:
        check_descriptor(local, expected=DescriptorKind.RESOURCE)
    except InvalidDescriptor as exc:
        problems += [
            _at(f"{where}{e.get('pointer', '')}", e.get("detail", exc.detail)) for e in exc.errors
        ] or [_at(where, exc.detail)]
    if problems:
        raise _Problems(f"the descriptor of {dataset.code} failed validation", problems, None)
    return local


# -- 4: against the local catalogue ---------------------------------------------------------


def _check_local(
    session: Session,
    peer_id: str,
    datasets: list[_Dataset],
    descriptors: Mapping[str, Mapping[str, Any]],
) -> None:
    mine = {r.code: r.peer_id for r in session.scalars(select(RemoteResource))}
    brought = _departments_brought(session)
    problems = []
    for dataset in datasets:
        where = f"/resources/{dataset.code}"
        owner = mine.get(dataset.code)
        if session.get(Resource, dataset.code) is not None and owner != peer_id:
            whose = "this hub's own" if owner is None else f"peer {owner}'s"
            problems.append(_at(where, f"the code is {whose} resource here"))
        namespace = descriptors[dataset.code]["namespace"]
        holder = session.scalar(select(Resource.code).where(Resource.namespace == namespace))
        if holder is not None and holder != dataset.code:
            problems.append(_at(f"{where}/namespace", f"{namespace!r} is {holder}'s here"))
        department = dataset.department
        if session.get(Department, department) is not None and brought.get(department) != peer_id:
            problems.append(
                _at(f"{where}/provider", f"the department code {department} is another's here")
            )
    if problems:
        raise _Problems("the peer's catalogue conflicts with the local catalogue", problems, None)


def _departments_brought(session: Session) -> dict[str, str]:
    """Department code -> the peer whose accepted harvest brought it."""
    rows = session.execute(
        select(Harvest.peer_id, Harvest.departments).where(Harvest.outcome == "accepted")
    )
    return {code: peer for peer, codes in rows for code in codes}


# -- recording ------------------------------------------------------------------------------


def _next_number(session: Session, peer_id: str) -> int:
    found = session.scalar(select(func.max(Harvest.number)).where(Harvest.peer_id == peer_id))
    return int(found or 0) + 1


def _record_refused(
    sessions: sessionmaker[Session], peer_id: str, by: str, now: datetime, refused: _Problems
) -> None:
    with unit_of_work(sessions, write=True) as session:
        hold_log(session)
        record = Harvest(
            peer_id=peer_id,
            number=_next_number(session, peer_id),
            version=None,
            outcome="refused",
            at=now,
            by=by,
            digest=refused.digest,
            resources=[],
            departments=[],
            problems=[dict(p) for p in refused.problems[:MAX_PROBLEMS]],
            detail=refused.detail,
        )
        session.add(record)
        session.flush()
        log_peer_event(
            session, get_peer(session, peer_id), "harvest_refused", by=by, harvest=record
        )
    if not refused.problems:  # the peer could not be read at all
        raise PeerUnreachable(refused.detail)


def _publish(
    session: Session,
    peer_id: str,
    by: str,
    now: datetime,
    digest: str,
    datasets: list[_Dataset],
    descriptors: Mapping[str, Mapping[str, Any]],
) -> Harvest:
    hold_log(session)  # the log's head lock before the peer's row lock
    peer = get_peer(session, peer_id, lock=True)
    publisher = f"federation:{peer_id}"
    version = (peer.harvest_version or 0) + 1
    departments = sorted({d.department for d in datasets})
    for dataset in {d.department: d for d in datasets}.values():
        document: dict[str, Any] = {
            "kind": "department",
            "code": dataset.department,
            "name": dataset.department_name,
        }
        if dataset.homepage:
            document["homepage"] = dataset.homepage
        publish(
            session,
            check_descriptor(document, expected=DescriptorKind.DEPARTMENT),
            by=publisher,
            now=now,
        )
    for dataset in datasets:
        descriptor = check_descriptor(descriptors[dataset.code], expected=DescriptorKind.RESOURCE)
        publish(session, descriptor, by=publisher, now=now)
        row = session.get(RemoteResource, dataset.code)
        if row is None:
            row = RemoteResource(code=dataset.code, peer_id=peer_id)
            session.add(row)
        row.remote_version = dataset.version
        row.harvest_version = version
    listed = {d.code for d in datasets}
    for row in session.scalars(select(RemoteResource).where(RemoteResource.peer_id == peer_id)):
        resource = session.get(Resource, row.code)
        if row.code not in listed and resource is not None and resource.deprecated_at is None:
            deprecate_resource(
                session, row.code, reason=f"no longer in peer {peer_id}'s catalogue", now=now
            )
    record = Harvest(
        peer_id=peer_id,
        number=_next_number(session, peer_id),
        version=version,
        outcome="accepted",
        at=now,
        by=by,
        digest=digest,
        resources=[
            {
                "code": d.code,
                "version": d.version,
                "namespace": descriptors[d.code]["namespace"],
                "provider": d.department,
            }
            for d in datasets
        ],
        departments=departments,
        problems=[],
        detail=None,
    )
    session.add(record)
    peer.harvest_version = version
    peer.updated_at = now
    session.flush()
    log_peer_event(session, peer, "harvested", by=by, harvest=record)
    return record


def _at(pointer: str, detail: str) -> ProblemDetail:
    return ProblemDetail(pointer=pointer, detail=detail)
