"""The catalogue over HTTP: search, read, publish with authority, problem+json, DCAT export."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from pyshacl import validate
from rdflib import Graph
from rdflib.namespace import DCAT, DCTERMS, RDF

from exchange.db import alembic_config
from exchange.security.identity import Role
from tests import factories
from tests.exchange.conftest import assert_documented

pytestmark = pytest.mark.usefixtures("demo_catalogue")

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert {"type", "title", "detail", "request_id"} <= body.keys()
    assert "Traceback" not in response.text
    assert "SELECT" not in response.text.upper().split("DETAIL")[0]
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def household(client: TestClient) -> dict[str, Any]:
    descriptor: dict[str, Any] = client.get("/catalogue/resources/PSB-HJ-0001").json()["descriptor"]
    return descriptor


def with_source(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "source": {"adapter": "sql", "mapping": "psb/household"}}


def test_search_with_filters(client: TestClient) -> None:
    body = client.get("/catalogue/resources", params={"q": "户籍", "provider": "PSB"}).json()
    assert body["results"][0]["code"] == "PSB-HJ-0001"
    assert body["results"][0]["provider"] == "PSB"
    assert body["total"] == len(body["results"])
    body = client.get("/catalogue/resources", params={"sharing": "not_shared"}).json()
    assert [r["code"] for r in body["results"]] == ["PSB-HJ-0001"]


def test_search_refuses_unknown_filter_values(client: TestClient) -> None:
    response = client.get("/catalogue/resources", params={"sharing": "everyone"})
    body = assert_problem(response, 422, "malformed_request")
    assert body["errors"][0]["pointer"] == "/sharing"


def test_read_a_resource_without_its_source_binding(client: TestClient) -> None:
    body = client.get("/catalogue/resources/PSB-HJ-0001").json()
    assert body["version"] == 1
    assert body["sharing_type"] == "unconditional"
    assert "source" not in body["descriptor"]
    assert "psb/household" not in json.dumps(body)


def test_unknown_resource_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/catalogue/resources/NO-SUCH-0001"), 404, "resource_not_found")
    assert_problem(
        client.get("/catalogue/resources/PSB-HJ-0001?version=9"), 404, "resource_not_found"
    )


def test_the_value_schema_is_served(client: TestClient) -> None:
    response = client.get("/catalogue/resources/PSB-HJ-0001/schema")
    assert response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    assert schema["$id"].endswith("/catalogue/resources/PSB-HJ-0001/schema")
    assert "registered_address" in schema["properties"]


def test_service_item_lists_what_it_needs(client: TestClient) -> None:
    body = client.get("/catalogue/service-items/EDU-RXDJ-001").json()
    assert body["owner"] == "EDU"
    assert any(a["attribute"] == "household.registered_address" for a in body["attributes"])
    assert_problem(client.get("/catalogue/service-items/NOPE-001"), 404, "service_item_not_found")


def test_publishing_needs_a_token(client: TestClient) -> None:
    document = with_source(household(client))
    assert_problem(
        client.put("/catalogue/resources/PSB-HJ-0001", json=document), 401, "invalid_token"
    )
    response = client.put(
        "/catalogue/resources/PSB-HJ-0001", json=document, headers=bearer("not.a.token")
    )
    assert_problem(response, 401, "invalid_token")


@pytest.mark.parametrize(
    ("role", "department"),
    [(Role.DEPARTMENT_ADMIN, "HRSS"), (Role.OPERATOR, None), (Role.AUDITOR, None)],
)
def test_only_the_provider_department_admin_may_publish(
    client: TestClient, staff_token: Callable[..., str], role: Role, department: str | None
) -> None:
    document = with_source(household(client))
    document["summary"] = "被他人修改"
    response = client.put(
        "/catalogue/resources/PSB-HJ-0001",
        json=document,
        headers=bearer(staff_token(role, department)),
    )
    assert_problem(response, 403, "forbidden")
    assert client.get("/catalogue/resources/PSB-HJ-0001").json()["version"] == 1


def test_provider_admin_publishes_a_new_version_then_an_identical_one(
    client: TestClient, staff_token: Callable[..., str]
) -> None:
    document = with_source(household(client))
    headers = bearer(staff_token(Role.DEPARTMENT_ADMIN, "PSB"))
    unchanged = client.put("/catalogue/resources/PSB-HJ-0001", json=document, headers=headers)
    assert unchanged.status_code == 200
    assert unchanged.json()["created"] is False
    document["fields"] = [f for f in document["fields"] if f["name"] != "ethnicity"]
    response = client.put(
        "/catalogue/resources/PSB-HJ-0001",
        content=yaml.safe_dump(document, allow_unicode=True).encode(),
        headers={**headers, "Content-Type": "application/yaml"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 2
    assert response.json()["diff"]["fields_removed"] == ["ethnicity"]
    versions = client.get("/catalogue/resources/PSB-HJ-0001/versions").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["published_by"] == "officer-001"


def test_a_department_cannot_take_over_another_departments_resource(
    client: TestClient, staff_token: Callable[..., str]
) -> None:
    document = with_source(household(client))
    document["provider"] = "HRSS"
    response = client.put(
        "/catalogue/resources/PSB-HJ-0001",
        json=document,
        headers=bearer(staff_token(Role.DEPARTMENT_ADMIN, "HRSS")),
    )
    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda d: d.pop("summary"), "/summary"),
        (lambda d: d["fields"][0]["sharing"].update(type="public"), "/fields/0/sharing/type"),
        (lambda d: d["fields"].append(dict(d["fields"][0])), "/fields/10/name"),
        (lambda d: d["fields"][9]["sharing"].pop("legal_basis"), "/fields/9/sharing/legal_basis"),
        (lambda d: d["fields"][0].update(schema={"type": 5}), "/fields/0/schema/type"),
        (lambda d: d.update(code="PSB-HJ-0002"), "/code"),
        (lambda d: d.update(kind="service_item"), "/kind"),
    ],
)
def test_bad_descriptors_are_refused_with_a_pointer_and_nothing_is_published(
    client: TestClient,
    staff_token: Callable[..., str],
    mutate: Callable[[dict[str, Any]], Any],
    pointer: str,
) -> None:
    document = with_source(household(client))
    assert document["fields"][9]["sharing"]["type"] == "not_shared"
    mutate(document)
    response = client.put(
        "/catalogue/resources/PSB-HJ-0001",
        json=document,
        headers=bearer(staff_token(Role.DEPARTMENT_ADMIN, "PSB")),
    )
    body = assert_problem(response, 422, "invalid_descriptor")
    assert pointer in [e["pointer"] for e in body["errors"]]
    assert client.get("/catalogue/resources/PSB-HJ-0001").json()["version"] == 1


def test_bytes_that_are_not_utf8_are_refused(
    client: TestClient, staff_token: Callable[..., str]
) -> None:
    response = client.put(
        "/catalogue/resources/PSB-HJ-0001",
        content="kind: resource\nname: 户籍\n".encode("gbk"),
        headers={**bearer(staff_token()), "Content-Type": "application/yaml"},
    )
    body = assert_problem(response, 422, "invalid_descriptor")
    assert "not UTF-8" in body["detail"]


def test_unsupported_media_type_is_415(client: TestClient, staff_token: Callable[..., str]) -> None:
    response = client.put(
        "/catalogue/resources/PSB-HJ-0001",
        content=b"<resource/>",
        headers={**bearer(staff_token()), "Content-Type": "application/xml"},
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_oversized_body_is_refused_with_413(
    client: TestClient, staff_token: Callable[..., str]
) -> None:
    response = client.put(
        "/catalogue/resources/PSB-HJ-0001",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={**bearer(staff_token()), "Content-Type": "application/json"},
    )
    assert_problem(response, 413, "body_too_large")


def test_oversized_body_without_content_length_is_cut_off(
    client: TestClient, staff_token: Callable[..., str]
) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b" " * 65536

    response = client.put(
        "/catalogue/resources/PSB-HJ-0001",
        content=chunks(),
        headers={**bearer(staff_token()), "Content-Type": "application/json"},
    )
    assert_problem(response, 413, "body_too_large")


def test_deprecation_by_the_provider(client: TestClient, staff_token: Callable[..., str]) -> None:
    response = client.post(
        "/catalogue/resources/MCA-SW-0001/deprecate",
        json={"reason": "并入婚姻登记资源"},
        headers=bearer(staff_token(Role.DEPARTMENT_ADMIN, "MCA")),
    )
    assert response.status_code == 200
    assert response.json()["deprecated"] is True
    found = client.get("/catalogue/resources", params={"provider": "MCA"}).json()["results"]
    assert "MCA-SW-0001" not in [r["code"] for r in found]


def test_service_item_publish_by_its_owner(
    client: TestClient, staff_token: Callable[..., str]
) -> None:
    item = factories.service_item("EDU-ZXSQ-002")
    response = client.put(
        "/catalogue/service-items/EDU-ZXSQ-002",
        json=item,
        headers=bearer(staff_token(Role.DEPARTMENT_ADMIN, "EDU")),
    )
    assert response.status_code == 201, response.text
    response = client.put(
        "/catalogue/service-items/EDU-ZXSQ-002",
        json=item,
        headers=bearer(staff_token(Role.DEPARTMENT_ADMIN, "PSB")),
    )
    assert_problem(response, 403, "forbidden")


def test_departments_are_listed_with_credit_code_checks(client: TestClient) -> None:
    body = client.get("/catalogue/departments").json()
    checks = {d["code"]: d["uscc_check_ok"] for d in body["departments"]}
    assert checks["MCA"] is False
    assert checks["PSB"] is True


def test_unknown_path_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/no/such/path"), 404, "not_found")
    assert_problem(client.delete("/catalogue/resources/PSB-HJ-0001"), 405, "method_not_allowed")


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    response = client.get("/healthz")
    assert len(response.headers["x-request-id"]) == 36


def test_readiness_checks_the_database(client: TestClient, staff_token: Callable[..., str]) -> None:
    anonymous = client.get("/readyz")
    # Resources published, none bound to a source: no query could be answered (not ready).
    assert_problem(anonymous, 503, "not_ready")
    checks = anonymous.json()["checks"]
    assert checks["database"] == {"status": "ok"}
    assert checks["source_bindings"] == {"status": "none", "published": 7, "bound": 0}
    assert checks["source_counts"] == {"ok": 0, "failing": 0}
    assert "sources" not in checks
    operator = {"Authorization": f"Bearer {staff_token(Role.OPERATOR, None)}"}
    body = client.get("/readyz", headers=operator).json()
    head = ScriptDirectory.from_config(
        alembic_config(client.app.state.hub.engine)
    ).get_current_head()
    assert body["checks"]["database"]["revision"] == head
    assert body["checks"]["sources"] == {}  # no adapters configured


def test_openapi_is_3_1_and_lists_the_catalogue(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/catalogue/resources/{code}" in spec["paths"]
    assert (
        "application/yaml"
        in spec["paths"]["/catalogue/resources/{code}"]["put"]["requestBody"]["content"]
    )


def test_a_json_body_that_is_not_utf8_is_a_documented_malformed_request(
    client: TestClient, staff_token: Callable[..., str]
) -> None:
    path = "/catalogue/resources/{code}/deprecate"
    response = client.post(
        path.format(code="PSB-HJ-0001"),
        content=b'{"reason": "\xff"}',
        headers={**bearer(staff_token()), "content-type": "application/json"},
    )
    assert_problem(response, 422, "malformed_request")
    assert_documented(client, "POST", path, response)


def test_what_the_catalogue_answers_is_in_its_openapi_document(
    client: TestClient, staff_token: Callable[..., str]
) -> None:
    edu = bearer(staff_token(Role.DEPARTMENT_ADMIN, "EDU"))
    item = factories.service_item("EDU-ZXSQ-003")
    text = {**edu, "content-type": "text/plain"}
    household_document = with_source(household(client))
    answers: list[tuple[str, str, str, dict[str, Any], int]] = [
        ("GET", "/catalogue/resources", "/catalogue/resources?limit=0", {}, 422),
        ("GET", "/catalogue/resources/{code}", "/catalogue/resources/NO-SUCH-0001", {}, 404),
        ("GET", "/catalogue/resources/{code}/schema", "/catalogue/resources/PSB-HJ-0001/schema",
         {}, 200),
        ("GET", "/catalogue/resources/{code}/versions", "/catalogue/resources/NO-0001/versions",
         {}, 404),
        ("GET", "/catalogue/departments/{code}", "/catalogue/departments/NOPE", {}, 404),
        ("GET", "/schemas/{name}.schema.json", "/schemas/resource.schema.json", {}, 200),
        ("GET", "/schemas/{name}.schema.json", "/schemas/nope.schema.json", {}, 404),
        ("PUT", "/catalogue/resources/{code}", "/catalogue/resources/PSB-HJ-0001",
         {"json": household_document}, 401),
        ("PUT", "/catalogue/service-items/{code}", "/catalogue/service-items/EDU-ZXSQ-003",
         {"json": item, "headers": edu}, 201),
        ("PUT", "/catalogue/service-items/{code}", "/catalogue/service-items/EDU-ZXSQ-003",
         {"content": b"x", "headers": text}, 415),
    ]  # fmt: skip
    assert "HTTPValidationError" not in client.get("/openapi.json").text  # errors are problems
    for method, route, url, options, status in answers:
        response = client.request(method, url, **options)
        assert response.status_code == status, (method, url, response.text)
        assert_documented(client, method, route, response)


def _shapes(testdata: Path) -> Graph:
    shapes = Graph()
    for name in ("shapes.ttl", "range.ttl"):
        shapes.parse(testdata / "dcat-ap-3.0.1" / name, format="turtle")
    return shapes


def _violations(data: Graph, shapes: Graph) -> tuple[bool, str]:
    conforms, _, report = validate(data, shacl_graph=shapes, inference="none", advanced=True)
    return bool(conforms), str(report)


def test_dcat_export_conforms_to_dcat_ap_3_in_json_ld_and_turtle(
    client: TestClient, testdata: Path
) -> None:
    shapes = _shapes(testdata)
    jsonld = client.get("/catalogue/dcat")
    assert jsonld.headers["content-type"].startswith("application/ld+json")
    turtle = client.get("/catalogue/dcat", headers={"Accept": "text/turtle"})
    assert turtle.headers["content-type"].startswith("text/turtle")
    for graph in (
        Graph().parse(data=jsonld.text, format="json-ld"),
        Graph().parse(data=turtle.text, format="turtle"),
    ):
        conforms, report = _violations(graph, shapes)
        assert conforms, report
        assert len(set(graph.subjects(RDF.type, DCAT.Dataset))) == 7
    assert "PSB-HJ-0001" in turtle.text
    assert "psb/household" not in turtle.text + jsonld.text
    assert "http://testserver/exchange/query" in turtle.text


def test_dcat_validation_would_catch_a_broken_export(client: TestClient, testdata: Path) -> None:
    graph = Graph().parse(data=client.get("/catalogue/dcat").text, format="json-ld")
    dataset = next(graph.subjects(RDF.type, DCAT.Dataset))
    graph.remove((dataset, DCTERMS.title, None))
    conforms, _ = _violations(graph, _shapes(testdata))
    assert not conforms


def test_an_unexpected_error_is_a_bare_500_that_leaks_nothing(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    subject = "11010519491231002X"

    def explode() -> None:
        raise RuntimeError(f"lookup failed for {subject} at /srv/secret.db")

    client.app.add_api_route("/test-only/explode", explode)  # type: ignore[attr-defined]
    response = client.get("/test-only/explode")
    body = assert_problem(response, 500, "internal_error")
    assert response.headers["x-request-id"] == body["request_id"]
    assert "11010519491231002X" not in response.text
    assert "/srv" not in response.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert body["request_id"] in logged
    assert "RuntimeError" in logged
    assert "11010519491231002X" not in logged


def test_the_api_viewer_is_served_from_the_hub_itself(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "/static/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    script = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert len(script.content) > 500_000


def test_the_hub_operator_named_in_the_dcat_export_resolves(client: TestClient) -> None:
    graph = Graph().parse(data=client.get("/catalogue/dcat").text, format="json-ld")
    catalog = next(graph.subjects(RDF.type, DCAT.Catalog))
    operator = str(graph.value(catalog, DCTERMS.publisher))
    assert operator == "http://testserver/#operator"
    root = client.get(operator.removeprefix("http://testserver").split("#")[0])
    assert root.status_code == 200
    assert root.json()["operator"]["@id"] == operator
