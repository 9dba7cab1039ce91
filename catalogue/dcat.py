"""DCAT-AP 3.0.1 export of the published catalogue, as JSON-LD and as Turtle.

A pure module: the caller loads the published resources and departments, builds a
:class:`DcatCatalogue` and gets back a JSON-LD document (:func:`dcat_jsonld`) or the same graph in
Turtle (:func:`dcat_turtle`, produced by rdflib from that JSON-LD, so both always say the same).
The JSON-LD context is inlined (prefixes only, every value explicit); nothing is fetched.

Mapping (``{base}`` is ``DcatCatalogue.base_url``; ``code`` is the resource code)::

    catalogue            dcat:Catalog  <{base}/catalogue/dcat>
      dct:title, dct:description (@zh), dct:modified (xsd:dateTime),
      dct:publisher (the hub operator), dcat:dataset (each resource), dcat:service (the exchange)
    department           foaf:Agent    <{base}/catalogue/departments/{dept_code}>
      foaf:name (@zh), foaf:homepage (foaf:Document) if known
    resource             dcat:Dataset  <{base}/catalogue/resources/{code}>
      dct:identifier      code
      dct:title           name (@zh), name_en (@en) if present
      dct:description     summary (@zh)
      dct:publisher       the provider department
      dct:issued          descriptor "issued" (xsd:date), else first publication (xsd:dateTime)
      dct:modified        last publication (xsd:dateTime)
      dcat:version        latest published version number, as a string
      dcat:keyword        keywords (@zh, or @en when ASCII)
      dct:relation        <{base}/catalogue/resources/{related}> for each related code
      dct:accrualPeriodicity  EU frequency authority IRI (dct:Frequency), see FREQUENCIES
      dct:accessRights    dct:RightsStatement <…/{code}#access-rights>: the resource's sharing
                          type, i.e. that of its most permissive field (unconditional > conditional
                          > not_shared), as rdfs:label @zh/@en; sharing.condition as dct:description
      dct:conformsTo      dct:Standard <{base}/catalogue/resources/{code}/schema> (JSON Schema of
                          the fields)
      adms:status         <http://purl.org/adms/status/Deprecated> (skos:Concept), if deprecated
      dcat:distribution   dcat:Distribution <…/{code}#exchange>:
                            dcat:accessURL <{base}/exchange/query>, dcat:accessService the
                            exchange, dct:conformsTo the schema, dcat:mediaType the IANA IRI of
                            format.media_type (dct:MediaType) if present
    exchange             dcat:DataService <{base}/exchange>
      dct:title "通办数据交换"@zh, dct:publisher the hub operator,
      dcat:endpointURL <{base}/exchange/query>, dcat:endpointDescription <{base}/openapi.json>,
      dcat:servesDataset every dataset

Every node that is the object of a property range-constrained by DCAT-AP (``range.ttl``) carries
its ``rdf:type``. ``dct:format`` is not emitted: DCAT-AP wants an EU file-type authority IRI there,
and descriptors carry IANA media types. The source binding (``source``), the fields themselves and
the classification are never exported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from rdflib import Graph

from catalogue.vocabulary import SharingType

__all__ = [
    "JSONLD_MEDIA_TYPE",
    "TURTLE_MEDIA_TYPE",
    "DcatCatalogue",
    "DcatDepartment",
    "DcatResource",
    "dcat_jsonld",
    "dcat_turtle",
]

JSONLD_MEDIA_TYPE: Final = "application/ld+json"
TURTLE_MEDIA_TYPE: Final = "text/turtle"

JsonObject = dict[str, Any]

PREFIXES: Final[Mapping[str, str]] = {
    "adms": "http://www.w3.org/ns/adms#",
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

FREQUENCY_AUTHORITY: Final = "http://publications.europa.eu/resource/authority/frequency/"
FREQUENCIES: Final[Mapping[str, str]] = {
    "realtime": "CONT",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "semiannual": "ANNUAL_2",
    "annual": "ANNUAL",
    "irregular": "IRREG",
}

SHARING_LABELS: Final[Mapping[SharingType, tuple[str, str]]] = {
    SharingType.UNCONDITIONAL: ("无条件共享", "unconditional sharing"),
    SharingType.CONDITIONAL: ("有条件共享", "conditional sharing"),
    SharingType.NOT_SHARED: ("不予共享", "not shared"),
}

DEPRECATED_STATUS: Final = "http://purl.org/adms/status/Deprecated"
IANA_MEDIA_TYPES: Final = "https://www.iana.org/assignments/media-types/"
EXCHANGE_TITLE: Final = "通办数据交换"


@dataclass(frozen=True)
class DcatDepartment:
    """A department as a ``foaf:Agent``: the provider of a resource, or the hub operator."""

    code: str
    name: str
    homepage: str | None = None
    iri: str | None = None  # defaults to {base}/catalogue/departments/{code}


@dataclass(frozen=True)
class DcatResource:
    """A published resource: its validated descriptor and publication facts."""

    descriptor: Mapping[str, Any]
    version: int
    first_published: datetime
    last_published: datetime
    deprecated: bool


@dataclass(frozen=True)
class DcatCatalogue:
    """Everything the export needs; ``departments`` must hold every resource's provider."""

    base_url: str
    title: str
    description: str
    publisher: DcatDepartment
    departments: Mapping[str, DcatDepartment]
    resources: Sequence[DcatResource]
    modified: datetime


# --- IRIs -------------------------------------------------------------------------------------


def _base(catalogue: DcatCatalogue) -> str:
    return catalogue.base_url.rstrip("/")


def _catalogue_iri(base: str) -> str:
    return f"{base}/catalogue/dcat"


def _resource_iri(base: str, code: str) -> str:
    return f"{base}/catalogue/resources/{code}"


def _schema_iri(base: str, code: str) -> str:
    return f"{_resource_iri(base, code)}/schema"


def _department_iri(base: str, code: str) -> str:
    return f"{base}/catalogue/departments/{code}"


def _service_iri(base: str) -> str:
    return f"{base}/exchange"


def _query_iri(base: str) -> str:
    return f"{base}/exchange/query"


def _openapi_iri(base: str) -> str:
    return f"{base}/openapi.json"


# --- JSON-LD values ---------------------------------------------------------------------------


def _ref(iri: str) -> JsonObject:
    return {"@id": iri}


def _text(value: str, language: str = "zh") -> JsonObject:
    return {"@value": value, "@language": language}


def _xsd_date(value: str) -> JsonObject:
    """An ``xsd:date`` literal from an ISO date string (re-formatted, so always canonical)."""
    return {"@value": date.fromisoformat(value).isoformat(), "@type": "xsd:date"}


def _xsd_datetime(value: datetime) -> JsonObject:
    """An ``xsd:dateTime`` literal in UTC; naive datetimes are refused rather than guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("DCAT export needs timezone-aware datetimes")
    return {"@value": value.astimezone(UTC).isoformat(), "@type": "xsd:dateTime"}


# --- nodes ------------------------------------------------------------------------------------


def _agent(base: str, department: DcatDepartment) -> JsonObject:
    node: JsonObject = {
        "@id": department.iri or _department_iri(base, department.code),
        "@type": "foaf:Agent",
        "dct:identifier": department.code,
        "foaf:name": _text(department.name),
    }
    if department.homepage:
        node["foaf:homepage"] = {"@id": department.homepage, "@type": "foaf:Document"}
    return node


def _frequency(update_frequency: str) -> JsonObject:
    try:
        code = FREQUENCIES[update_frequency]
    except KeyError:
        raise ValueError(f"unknown update_frequency {update_frequency!r}") from None
    return {"@id": FREQUENCY_AUTHORITY + code, "@type": "dct:Frequency"}


def _sharing_type(descriptor: Mapping[str, Any]) -> SharingType:
    """The resource's sharing type: that of its most permissive field."""
    types = [SharingType(field["sharing"]["type"]) for field in descriptor["fields"]]
    if not types:
        raise ValueError(f"resource {descriptor['code']!r} has no fields")
    return max(types, key=lambda sharing: sharing.openness)


def _access_rights(base: str, descriptor: Mapping[str, Any]) -> JsonObject:
    sharing = _sharing_type(descriptor)
    label_zh, label_en = SHARING_LABELS[sharing]
    node: JsonObject = {
        "@id": f"{_resource_iri(base, descriptor['code'])}#access-rights",
        "@type": "dct:RightsStatement",
        "rdfs:label": [_text(label_zh), _text(label_en, "en")],
    }
    condition = descriptor["sharing"].get("condition")
    if condition:
        node["dct:description"] = _text(condition)
    return node


def _standard(base: str, code: str) -> JsonObject:
    return {"@id": _schema_iri(base, code), "@type": "dct:Standard"}


def _distribution(base: str, descriptor: Mapping[str, Any]) -> JsonObject:
    code = descriptor["code"]
    node: JsonObject = {
        "@id": f"{_resource_iri(base, code)}#exchange",
        "@type": "dcat:Distribution",
        "dcat:accessURL": _ref(_query_iri(base)),
        "dcat:accessService": _ref(_service_iri(base)),
        "dct:conformsTo": _standard(base, code),
    }
    media_type = descriptor["format"].get("media_type")
    if media_type:
        node["dcat:mediaType"] = {"@id": IANA_MEDIA_TYPES + media_type, "@type": "dct:MediaType"}
    return node


def _deprecated_status() -> JsonObject:
    return {
        "@id": DEPRECATED_STATUS,
        "@type": "skos:Concept",
        "skos:prefLabel": [_text("已废止"), _text("Deprecated", "en")],
    }


def _dataset(
    base: str, resource: DcatResource, departments: Mapping[str, DcatDepartment]
) -> JsonObject:
    descriptor = resource.descriptor
    code = descriptor["code"]
    provider = departments.get(descriptor["provider"])
    if provider is None:
        raise ValueError(f"resource {code!r}: provider {descriptor['provider']!r} not given")
    titles = [_text(descriptor["name"])]
    if descriptor.get("name_en"):
        titles.append(_text(descriptor["name_en"], "en"))
    issued = descriptor.get("issued")
    node: JsonObject = {
        "@id": _resource_iri(base, code),
        "@type": "dcat:Dataset",
        "dct:identifier": code,
        "dct:title": titles,
        "dct:description": _text(descriptor["summary"]),
        "dct:publisher": _agent(base, provider),
        "dct:issued": _xsd_date(issued) if issued else _xsd_datetime(resource.first_published),
        "dct:modified": _xsd_datetime(resource.last_published),
        "dcat:version": str(resource.version),
        "dcat:keyword": [
            _text(keyword, "en" if keyword.isascii() else "zh")
            for keyword in descriptor.get("keywords", ())
        ],
        "dct:relation": [
            _ref(_resource_iri(base, other)) for other in descriptor.get("related", ())
        ],
        "dct:accrualPeriodicity": _frequency(descriptor["update_frequency"]),
        "dct:accessRights": _access_rights(base, descriptor),
        "dct:conformsTo": _standard(base, code),
        "dcat:distribution": _distribution(base, descriptor),
    }
    if resource.deprecated:
        node["adms:status"] = _deprecated_status()
    return node


def _data_service(base: str, publisher: JsonObject, dataset_iris: Sequence[str]) -> JsonObject:
    return {
        "@id": _service_iri(base),
        "@type": "dcat:DataService",
        "dct:title": _text(EXCHANGE_TITLE),
        "dct:publisher": publisher,
        "dcat:endpointURL": _ref(_query_iri(base)),
        "dcat:endpointDescription": _ref(_openapi_iri(base)),
        "dcat:servesDataset": [_ref(iri) for iri in dataset_iris],
    }


def _sorted_resources(resources: Sequence[DcatResource]) -> list[DcatResource]:
    """Resources by code, refusing duplicates (they would merge into one invalid dataset)."""
    by_code: dict[str, DcatResource] = {}
    for resource in resources:
        code = resource.descriptor["code"]
        if code in by_code:
            raise ValueError(f"resource {code!r} given twice")
        by_code[code] = resource
    return [by_code[code] for code in sorted(by_code)]


# --- public API -------------------------------------------------------------------------------


def dcat_jsonld(catalogue: DcatCatalogue) -> dict[str, Any]:
    """The catalogue as a JSON-LD document (a JSON-serialisable dict with an inline context)."""
    base = _base(catalogue)
    resources = _sorted_resources(catalogue.resources)
    datasets = [_dataset(base, resource, catalogue.departments) for resource in resources]
    publisher = _agent(base, catalogue.publisher)
    return {
        "@context": dict(PREFIXES),
        "@id": _catalogue_iri(base),
        "@type": "dcat:Catalog",
        "dct:title": _text(catalogue.title),
        "dct:description": _text(catalogue.description),
        "dct:publisher": publisher,
        "dct:modified": _xsd_datetime(catalogue.modified),
        "dcat:service": _data_service(base, publisher, [node["@id"] for node in datasets]),
        "dcat:dataset": datasets,
    }


def dcat_turtle(catalogue: DcatCatalogue) -> str:
    """The same graph as :func:`dcat_jsonld`, serialised as Turtle."""
    graph = Graph(bind_namespaces="core")
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace, replace=True)
    document = json.dumps(dcat_jsonld(catalogue), ensure_ascii=False)
    graph.parse(data=document, format="json-ld")
    return graph.serialize(format="turtle")
