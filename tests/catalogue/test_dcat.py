"""DCAT-AP 3.0.1 export: SHACL conformance (official shapes + range constraints) and mapping."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyshacl
import pytest
from rdflib import RDF, RDFS, SH, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, FOAF, SKOS

from catalogue.dcat import (
    JSONLD_MEDIA_TYPE,
    TURTLE_MEDIA_TYPE,
    DcatCatalogue,
    DcatDepartment,
    DcatResource,
    dcat_jsonld,
    dcat_turtle,
)

DCAT_AP_DIR = Path(__file__).resolve().parents[1] / "data" / "dcat-ap-3.0.1"  # vendored
# rdflib's closed DCAT (2.0) namespace lacks dcat:version; use open namespaces.
ADMS = Namespace("http://www.w3.org/ns/adms#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
BASE = "http://127.0.0.1:8000"
FREQ = "http://publications.europa.eu/resource/authority/frequency/"

# Sentinels of the internal source binding: they must never leave the hub.
SECRET_ADAPTER = "hukou_oracle_internal"
SECRET_MAPPING = "mappings/hukou_internal_v7.yaml"

T0 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
T1 = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)

HUB = DcatDepartment("DSJ", "市大数据管理局", "https://dsj.example.gov.cn/")
DEPARTMENTS = {
    "GA": DcatDepartment("GA", "市公安局", "https://ga.example.gov.cn/"),
    "SCJG": DcatDepartment("SCJG", "市市场监督管理局"),
    "MZ": DcatDepartment("MZ", "市民政局"),
}


def field(name: str, sharing: str) -> dict[str, Any]:
    sharing_block: dict[str, Any] = {"type": sharing}
    if sharing == "not_shared":
        sharing_block["legal_basis"] = "《中华人民共和国个人信息保护法》第二十八条"
    return {
        "name": name,
        "title": name,
        "data_type": "string",
        "sharing": sharing_block,
        "sensitivity": "internal",
        "schema": {"type": "string"},
    }


def descriptor(
    code: str,
    provider: str,
    *,
    frequency: str = "monthly",
    field_sharing: tuple[str, ...] = ("conditional",),
    **optional: Any,
) -> dict[str, Any]:
    """A schema-valid resource descriptor with only the required keys, plus ``optional``."""
    base: dict[str, Any] = {
        "kind": "resource",
        "code": code,
        "namespace": code.lower().replace("-", "_"),
        "name": f"资源{code}",
        "summary": f"资源{code}的摘要。",
        "provider": provider,
        "classification": {"class": "departmental", "item": "综合"},
        "format": {"type": "database"},
        "update_frequency": frequency,
        "open_to_public": {"open": False},
        "sharing": {"method": ["interface"]},
        "fields": [field(f"f{i}", kind) for i, kind in enumerate(field_sharing)],
        "source": {"adapter": SECRET_ADAPTER, "mapping": SECRET_MAPPING},
    }
    return base | optional


FULL = descriptor(
    "GA-HJ-001",
    "GA",
    frequency="daily",
    field_sharing=("not_shared", "unconditional", "conditional"),
    name="常住人口户籍信息",
    name_en="Registered residence of permanent residents",
    summary="全市常住人口的户籍登记信息。",
    classification={"class": "basic", "item": "人口", "category": "户籍", "subcategory": "常住"},
    format={"type": "api", "media_type": "application/json"},
    issued="2019-07-01",
    related=["SCJG-QY-002", "MZ-HY-003"],
    keywords=["户籍", "人口", "身份核验"],
    open_to_public={"open": False, "condition": "不向社会开放"},
    sharing={"condition": "仅限办理政务服务事项使用", "method": ["interface", "verification"]},
)
MINIMAL = descriptor("SCJG-QY-002", "SCJG", frequency="realtime")
DEPRECATED = descriptor(
    "MZ-HY-003",
    "MZ",
    frequency="semiannual",
    field_sharing=("not_shared", "conditional"),
    name_en="Marriage registration (old)",
)
CHINESE_ONLY = descriptor(
    "GA-CL-004",
    "GA",
    frequency="irregular",
    field_sharing=("not_shared", "not_shared"),
    name="机动车登记信息",
    summary="机动车注册、变更、转移登记信息。",
    keywords=["机动车", "车辆登记"],
    format={"type": "file", "media_type": "text/csv"},
)


def resource(desc: dict[str, Any], *, version: int = 1, deprecated: bool = False) -> DcatResource:
    return DcatResource(
        descriptor=desc,
        version=version,
        first_published=T0,
        last_published=T1,
        deprecated=deprecated,
    )


def make_catalogue(*resources: DcatResource) -> DcatCatalogue:
    return DcatCatalogue(
        base_url=BASE,
        title="通办 政务信息资源目录",
        description="各部门政务信息资源的共享目录。",
        publisher=HUB,
        departments=DEPARTMENTS,
        resources=resources,
        modified=T1,
    )


CATALOGUE = make_catalogue(
    resource(FULL, version=4),
    resource(MINIMAL),
    resource(DEPRECATED, version=2, deprecated=True),
    resource(CHINESE_ONLY, version=3),
)


def dataset_iri(code: str) -> URIRef:
    return URIRef(f"{BASE}/catalogue/resources/{code}")


def jsonld_graph(catalogue: DcatCatalogue) -> Graph:
    return Graph().parse(data=json.dumps(dcat_jsonld(catalogue)), format="json-ld")


def turtle_graph(catalogue: DcatCatalogue) -> Graph:
    return Graph().parse(data=dcat_turtle(catalogue), format="turtle")


@pytest.fixture(scope="module")
def graph() -> Graph:
    return jsonld_graph(CATALOGUE)


# --- SHACL ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes() -> Graph:
    shapes_graph = Graph()
    for name in ("shapes.ttl", "range.ttl"):
        shapes_graph.parse(DCAT_AP_DIR / name, format="turtle")
    return shapes_graph


def validate(data: Graph, shapes: Graph) -> tuple[bool, Graph, str]:
    conforms, results, text = pyshacl.validate(
        data, shacl_graph=shapes, ont_graph=None, inference="none", advanced=True
    )
    return bool(conforms), results, str(text)


def violations(results: Graph) -> list[tuple[Any, Any, Any]]:
    """(focus node, path, source constraint component) of each sh:Violation result."""
    return [
        (
            results.value(result, SH.focusNode),
            results.value(result, SH.resultPath),
            results.value(result, SH.sourceConstraintComponent),
        )
        for result in results.subjects(SH.resultSeverity, SH.Violation)
    ]


@pytest.mark.parametrize("parse", [jsonld_graph, turtle_graph], ids=["json-ld", "turtle"])
def test_export_conforms_to_dcat_ap(parse: Any, shapes: Graph) -> None:
    data = parse(CATALOGUE)
    assert len(set(data.subjects(RDF.type, DCAT.Dataset))) == 4
    conforms, results, text = validate(data, shapes)
    assert violations(results) == [], text
    assert conforms, text


def test_validator_catches_a_dataset_without_title(graph: Graph, shapes: Graph) -> None:
    data = Graph()
    for triple in graph:
        data.add(triple)
    target = dataset_iri(MINIMAL["code"])
    data.remove((target, DCTERMS.title, None))
    conforms, results, text = validate(data, shapes)
    assert not conforms
    assert (target, DCTERMS.title, SH.MinCountConstraintComponent) in violations(results), text


def test_validator_catches_an_untyped_range_object(graph: Graph, shapes: Graph) -> None:
    """range.ttl is wired too: an accrualPeriodicity without rdf:type dct:Frequency fails."""
    data = Graph()
    for triple in graph:
        data.add(triple)
    data.remove((None, RDF.type, DCTERMS.Frequency))
    conforms, results, text = validate(data, shapes)
    assert not conforms
    found = {(focus, path) for focus, path, _ in violations(results)}
    assert (dataset_iri(FULL["code"]), DCTERMS.accrualPeriodicity) in found, text


# --- the two serialisations -------------------------------------------------------------------


def test_turtle_and_jsonld_are_the_same_graph() -> None:
    from_jsonld = jsonld_graph(CATALOGUE)
    from_turtle = turtle_graph(CATALOGUE)
    assert len(from_jsonld) > 50
    assert isomorphic(from_jsonld, from_turtle)


def test_media_types() -> None:
    assert JSONLD_MEDIA_TYPE == "application/ld+json"
    assert TURTLE_MEDIA_TYPE == "text/turtle"


def test_jsonld_is_self_contained_json() -> None:
    document = dcat_jsonld(CATALOGUE)
    context = document["@context"]
    assert isinstance(context, dict)
    assert all(isinstance(value, str) and "://" in value for value in context.values())
    assert json.loads(json.dumps(document, ensure_ascii=False)) == document


def test_export_is_deterministic_and_independent_of_input_order() -> None:
    reordered = make_catalogue(*reversed(CATALOGUE.resources))
    assert dcat_jsonld(reordered) == dcat_jsonld(CATALOGUE)
    assert dcat_turtle(reordered) == dcat_turtle(CATALOGUE)


# --- the source binding stays inside ----------------------------------------------------------


def keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys(item)


def test_source_binding_is_never_exported(graph: Graph) -> None:
    document = dcat_jsonld(CATALOGUE)
    assert not any("source" in key for key in keys(document))
    for text in (json.dumps(document, ensure_ascii=False), dcat_turtle(CATALOGUE)):
        assert SECRET_ADAPTER not in text
        assert SECRET_MAPPING not in text
    assert (None, DCTERMS.source, None) not in graph


# --- mapping ----------------------------------------------------------------------------------

EXPECTED_FREQUENCIES = {
    "realtime": "CONT",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "semiannual": "ANNUAL_2",
    "annual": "ANNUAL",
    "irregular": "IRREG",
}


@pytest.mark.parametrize(("frequency", "authority_code"), EXPECTED_FREQUENCIES.items())
def test_accrual_periodicity(frequency: str, authority_code: str) -> None:
    desc = descriptor("GA-F-001", "GA", frequency=frequency)
    data = jsonld_graph(make_catalogue(resource(desc)))
    periodicity = list(data.objects(dataset_iri("GA-F-001"), DCTERMS.accrualPeriodicity))
    assert periodicity == [URIRef(FREQ + authority_code)]
    assert (periodicity[0], RDF.type, DCTERMS.Frequency) in data


def test_unknown_frequency_is_refused() -> None:
    desc = descriptor("GA-F-001", "GA", frequency="hourly")
    with pytest.raises(ValueError, match="hourly"):
        dcat_jsonld(make_catalogue(resource(desc)))


def expected_sharing(types: tuple[str, ...]) -> tuple[str, str]:
    if "unconditional" in types:
        return "无条件共享", "unconditional sharing"
    if "conditional" in types:
        return "有条件共享", "conditional sharing"
    return "不予共享", "not shared"


def access_rights(data: Graph, code: str) -> URIRef:
    rights = list(data.objects(dataset_iri(code), DCTERMS.accessRights))
    assert len(rights) == 1
    assert (rights[0], RDF.type, DCTERMS.RightsStatement) in data
    assert isinstance(rights[0], URIRef)
    return rights[0]


def test_access_rights_reflect_the_most_permissive_field() -> None:
    kinds = ("unconditional", "conditional", "not_shared")
    combinations = [c for n in (1, 2, 3) for c in itertools.product(kinds, repeat=n)]
    assert len(combinations) == 39
    catalogue = make_catalogue(
        *(
            resource(descriptor(f"GA-S-{i:03d}", "GA", field_sharing=combination))
            for i, combination in enumerate(combinations)
        )
    )
    data = jsonld_graph(catalogue)
    for i, combination in enumerate(combinations):
        rights = access_rights(data, f"GA-S-{i:03d}")
        zh, en = expected_sharing(combination)
        labels = set(data.objects(rights, RDFS.label))
        assert labels == {Literal(zh, lang="zh"), Literal(en, lang="en")}, combination


def test_access_rights_carry_the_sharing_condition(graph: Graph) -> None:
    full = access_rights(graph, FULL["code"])
    assert set(graph.objects(full, RDFS.label)) == {
        Literal("无条件共享", lang="zh"),
        Literal("unconditional sharing", lang="en"),
    }
    assert list(graph.objects(full, DCTERMS.description)) == [
        Literal("仅限办理政务服务事项使用", lang="zh")
    ]
    minimal = access_rights(graph, MINIMAL["code"])
    assert list(graph.objects(minimal, DCTERMS.description)) == []
    assert access_rights(graph, DEPRECATED["code"]) != minimal  # one statement per resource
    chinese_only = access_rights(graph, CHINESE_ONLY["code"])
    assert Literal("不予共享", lang="zh") in set(graph.objects(chinese_only, RDFS.label))


def test_catalogue_node(graph: Graph) -> None:
    catalogue = URIRef(f"{BASE}/catalogue/dcat")
    assert (catalogue, RDF.type, DCAT.Catalog) in graph
    assert graph.value(catalogue, DCTERMS.title) == Literal("通办 政务信息资源目录", lang="zh")
    assert graph.value(catalogue, DCTERMS.description) == Literal(
        "各部门政务信息资源的共享目录。", lang="zh"
    )
    assert graph.value(catalogue, DCTERMS.modified) == Literal(
        T1.isoformat(), datatype=XSD.dateTime
    )
    publisher = URIRef(f"{BASE}/catalogue/departments/DSJ")
    assert graph.value(catalogue, DCTERMS.publisher) == publisher
    assert (publisher, RDF.type, FOAF.Agent) in graph
    assert graph.value(publisher, FOAF.name) == Literal("市大数据管理局", lang="zh")
    assert (publisher, FOAF.homepage, URIRef("https://dsj.example.gov.cn/")) in graph
    datasets = set(graph.objects(catalogue, DCAT.dataset))
    assert datasets == {dataset_iri(d["code"]) for d in (FULL, MINIMAL, DEPRECATED, CHINESE_ONLY)}


def test_data_service(graph: Graph) -> None:
    catalogue = URIRef(f"{BASE}/catalogue/dcat")
    service = URIRef(f"{BASE}/exchange")
    assert list(graph.objects(catalogue, DCAT.service)) == [service]
    assert (service, RDF.type, DCAT.DataService) in graph
    assert graph.value(service, DCTERMS.title) == Literal("通办数据交换", lang="zh")
    assert graph.value(service, DCAT.endpointURL) == URIRef(f"{BASE}/exchange/query")
    assert graph.value(service, DCAT.endpointDescription) == URIRef(f"{BASE}/openapi.json")
    assert set(graph.objects(service, DCAT.servesDataset)) == set(
        graph.objects(catalogue, DCAT.dataset)
    )


def test_full_dataset(graph: Graph) -> None:
    ds = dataset_iri(FULL["code"])
    assert (ds, RDF.type, DCAT.Dataset) in graph
    assert graph.value(ds, DCTERMS.identifier) == Literal("GA-HJ-001")
    assert set(graph.objects(ds, DCTERMS.title)) == {
        Literal("常住人口户籍信息", lang="zh"),
        Literal("Registered residence of permanent residents", lang="en"),
    }
    assert graph.value(ds, DCTERMS.description) == Literal(
        "全市常住人口的户籍登记信息。", lang="zh"
    )
    provider = URIRef(f"{BASE}/catalogue/departments/GA")
    assert list(graph.objects(ds, DCTERMS.publisher)) == [provider]
    assert (provider, RDF.type, FOAF.Agent) in graph
    assert graph.value(provider, FOAF.name) == Literal("市公安局", lang="zh")
    assert list(graph.objects(ds, DCTERMS.issued)) == [Literal("2019-07-01", datatype=XSD.date)]
    assert list(graph.objects(ds, DCTERMS.modified)) == [
        Literal(T1.isoformat(), datatype=XSD.dateTime)
    ]
    assert list(graph.objects(ds, DCAT.version)) == [Literal("4")]
    assert set(graph.objects(ds, DCAT.keyword)) == {
        Literal(k, lang="zh") for k in ("户籍", "人口", "身份核验")
    }
    assert set(graph.objects(ds, DCTERMS.relation)) == {
        dataset_iri("SCJG-QY-002"),
        dataset_iri("MZ-HY-003"),
    }
    schema = URIRef(f"{BASE}/catalogue/resources/GA-HJ-001/schema")
    assert list(graph.objects(ds, DCTERMS.conformsTo)) == [schema]
    assert (schema, RDF.type, DCTERMS.Standard) in graph
    assert (ds, ADMS.status, None) not in graph


def test_distribution(graph: Graph) -> None:
    ds = dataset_iri(FULL["code"])
    distribution = URIRef(f"{ds}#exchange")
    assert list(graph.objects(ds, DCAT.distribution)) == [distribution]
    assert (distribution, RDF.type, DCAT.Distribution) in graph
    assert graph.value(distribution, DCAT.accessURL) == URIRef(f"{BASE}/exchange/query")
    assert graph.value(distribution, DCAT.accessService) == URIRef(f"{BASE}/exchange")
    assert graph.value(distribution, DCTERMS.conformsTo) == URIRef(f"{ds}/schema")
    media_type = URIRef("https://www.iana.org/assignments/media-types/application/json")
    assert list(graph.objects(distribution, DCAT.mediaType)) == [media_type]
    assert (media_type, RDF.type, DCTERMS.MediaType) in graph
    minimal = URIRef(f"{dataset_iri(MINIMAL['code'])}#exchange")
    assert (minimal, DCAT.mediaType, None) not in graph
    assert (minimal, DCAT.accessURL, URIRef(f"{BASE}/exchange/query")) in graph


def test_minimal_dataset_falls_back_to_publication_dates(graph: Graph) -> None:
    ds = dataset_iri(MINIMAL["code"])
    assert list(graph.objects(ds, DCTERMS.issued)) == [
        Literal(T0.isoformat(), datatype=XSD.dateTime)
    ]
    assert list(graph.objects(ds, DCAT.keyword)) == []
    assert list(graph.objects(ds, DCTERMS.relation)) == []
    assert list(graph.objects(ds, DCAT.version)) == [Literal("1")]


def test_chinese_only_dataset_has_a_single_zh_title(graph: Graph) -> None:
    titles = list(graph.objects(dataset_iri(CHINESE_ONLY["code"]), DCTERMS.title))
    assert titles == [Literal("机动车登记信息", lang="zh")]


def test_deprecated_dataset_is_marked(graph: Graph) -> None:
    status = URIRef("http://purl.org/adms/status/Deprecated")
    assert list(graph.objects(dataset_iri(DEPRECATED["code"]), ADMS.status)) == [status]
    assert (status, RDF.type, SKOS.Concept) in graph
    assert graph.value(status, SKOS.prefLabel) is not None
    marked = set(graph.subjects(ADMS.status, status))
    assert marked == {dataset_iri(DEPRECATED["code"])}


def test_datetimes_are_normalised_to_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    local = DcatResource(
        descriptor=MINIMAL,
        version=1,
        first_published=datetime(2024, 3, 1, 16, 30, tzinfo=beijing),
        last_published=datetime(2025, 6, 15, 20, 0, tzinfo=beijing),
        deprecated=False,
    )
    data = jsonld_graph(make_catalogue(local))
    ds = dataset_iri(MINIMAL["code"])
    assert graph_value(data, ds, DCTERMS.issued) == Literal(T0.isoformat(), datatype=XSD.dateTime)
    assert graph_value(data, ds, DCTERMS.modified) == Literal(T1.isoformat(), datatype=XSD.dateTime)


def graph_value(data: Graph, subject: URIRef, predicate: URIRef) -> Any:
    values = list(data.objects(subject, predicate))
    assert len(values) == 1
    return values[0]


def test_naive_datetimes_are_refused() -> None:
    naive = DcatResource(MINIMAL, 1, datetime(2024, 3, 1), T1, deprecated=False)
    with pytest.raises(ValueError, match="timezone"):
        dcat_jsonld(make_catalogue(naive))


def test_unknown_provider_is_refused() -> None:
    desc = descriptor("WJW-YL-001", "WJW")
    with pytest.raises(ValueError, match="WJW"):
        dcat_jsonld(make_catalogue(resource(desc)))


def test_duplicate_resources_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        dcat_jsonld(make_catalogue(resource(MINIMAL), resource(MINIMAL, version=2)))


def test_keywords_carry_their_language() -> None:
    desc = descriptor("GA-SFZ-009", "GA", frequency="daily")
    desc["keywords"] = ["身份证", "ID card"]
    graph = jsonld_graph(make_catalogue(resource(desc)))
    assert set(graph.objects(dataset_iri("GA-SFZ-009"), DCAT.keyword)) == {
        Literal("身份证", lang="zh"),
        Literal("ID card", lang="en"),
    }
