"""Schemathesis against the hub's own OpenAPI document, bounded so it runs in the suite.

Every operation in ``/openapi.json`` is exercised with requests Schemathesis generates from the
document (valid and invalid ones), over one migrated SQLite hub per module with the demo world
built. Each caller presents credentials that let its requests reach past authentication: a case
system's access token for ``/exchange/*``, a department admin's ID token for catalogue and
agreement writes, an auditor's ID token elsewhere. The exchange operations also run without any
credentials, and a second pass puts values the hub knows (real citizens, codes, descriptors) into
generated requests so that answers from deep inside the pipeline are held to the schema too.

Every answer must be: not a 5xx; a status the document lists for that operation; of a documented
content type and conforming to the documented schema; and, for a 4xx, an RFC 9457 problem
(``application/problem+json`` with a stable ``code``). A request the document calls invalid
(a ``date-time`` that is a number, a string outside its pattern) must be refused, and a method
the document does not list for a path answered 405 with ``Allow``.

Schemathesis' ``positive_data_acceptance`` is not among the checks: some rules cannot be said
in JSON Schema (a resident ID's GB 11643 check digit, a proof range the log has not reached, a
dev IdP department admin's department), and the hub refuses those with a 422 and a stable code,
as documented, where that check expects a 2xx.

The run is derandomised so CI sees the same requests every time; generated requests may publish
junk into the module's database, which is thrown away afterwards.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.checks import CheckContext
from schemathesis.python.asgi import ASGIClient, get_client

from catalogue.vocabulary import DescriptorKind
from exchange.app import create_app
from exchange.demo.build import demo_descriptors
from exchange.demo.sources import build_legacy_world
from exchange.settings import Settings
from schemas import SCHEMA_NAMES
from tests import factories
from tests.databases import Worlds
from tests.exchange.conftest import request_token

SYSTEM = "edu-enrolment"
DESCRIPTORS = demo_descriptors()
CODES = sorted({d.code for d in DESCRIPTORS})
ATTRIBUTES = sorted(
    f"{d.content['namespace']}.{f['name']}"
    for d in DESCRIPTORS
    if d.kind is DescriptorKind.RESOURCE
    for f in d.content["fields"]
)
SERVICE_ITEMS = sorted(d.code for d in DESCRIPTORS if d.kind is DescriptorKind.SERVICE_ITEM)
AGREEMENTS = ["AG-DEMO-EDU-REG-0001", "AG-DEMO-MCA-HRSS-0001", "AG-DEMO-MCA-REG-0001"]
PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}
# Bounded: at most 50 generated requests per operation and phase (about 20 s for the module on
# two cores), no per-example deadline (a request that fans out to the legacy stores can be slow
# on a busy CI runner), the same examples on every run, no example database left behind.
BOUNDED = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
)


def errors_are_problem_json(
    ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """A 4xx answer is an RFC 9457 problem with the contract's members (CONTRACT.md)."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip() == "application/problem+json", (
        f"a {response.status_code} answered {content_type!r}, not application/problem+json"
    )
    body = json.loads(response.content)
    missing = PROBLEM_KEYS - set(body)
    assert not missing, f"the problem lacks {sorted(missing)}"
    assert body["status"] == response.status_code, "the problem's status is not the HTTP status"
    return None


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    errors_are_problem_json,
    checks.negative_data_rejection,
    checks.unsupported_method,
]
# ``steer`` replaces generated values with known ones, which can make an invalid case valid.
STEERED_CHECKS = [c for c in CHECKS if c is not checks.negative_data_rejection]


def _document_app() -> Any:
    """An app used only to serve ``/openapi.json`` while the module is collected: the document
    does not depend on the database, so it is never opened. The requests go to ``fuzzed_hub``."""
    return create_app(Settings(database_url="sqlite://", mode="dev", adapters_file=None))


schema = schemathesis.openapi.from_asgi("/openapi.json", _document_app())
# Each caller's credentials are set by the test (``credentials``), not generated: a generated
# case that drops the Authorization header would get it back and look wrongly accepted.
schema.config.generation.update(with_security_parameters=False)


@dataclass(frozen=True)
class FuzzedHub:
    """The hub app under test, a client for Schemathesis' requests to it, and a way to get its
    callers' tokens."""

    client: TestClient
    sender: ASGIClient
    data_dir: Path
    subjects: tuple[str, ...]

    def system_token(self) -> str:
        key = json.loads((self.data_dir / "keys" / f"{SYSTEM}.jwk").read_text("utf-8"))
        audience = f"{self.client.base_url}/oauth/token"
        response = request_token(self.client, factories.client_assertion(key, SYSTEM, audience))
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def staff_token(self, role: str, department: str | None = None) -> str:
        body = {"sub": f"fuzz-{role}", "role": role, "department": department}
        response = self.client.post("/dev/idp/token", json=body)
        assert response.status_code == 200, response.text
        token: str = response.json()["id_token"]
        return token


@pytest.fixture(scope="module")
def fuzzed_hub(tmp_path_factory: pytest.TempPathFactory, _worlds: Worlds) -> Iterator[FuzzedHub]:
    """A hub over a copy of the demo world built on the real clock (tests/databases.py)."""
    root = tmp_path_factory.mktemp("fuzz")
    city = build_legacy_world(root / "city", citizens=60, seed=11)
    database = root / "hub.db"
    shutil.copyfile(_worlds.sqlite_file("live-demo"), database)
    _worlds.copy_data_dir("live-demo", "sqlite", root / "demo")
    url = f"sqlite:///{database}"
    app = create_app(Settings(database_url=url, mode="dev", adapters_file=city.adapters_file))
    subjects = tuple(sorted({s.id_number for s in city.subjects}))
    # The app's lifespan runs once, around the whole module, as under a server. Schemathesis'
    # own client would start it on first use and end it after every test item (each operation);
    # an ASGIClient that is never entered sends requests without touching the lifespan.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield FuzzedHub(client, get_client(app), root / "demo", subjects)


@pytest.fixture(scope="module")
def credentials(fuzzed_hub: FuzzedHub) -> dict[str, dict[str, str]]:
    """An ``authorization`` header per kind of caller. Module-scoped (Hypothesis refuses
    function-scoped fixtures); the access token's five minutes outlast the module's run."""
    return {
        kind: {"authorization": f"Bearer {token}"}
        for kind, token in {
            "system": fuzzed_hub.system_token(),
            "psb_admin": fuzzed_hub.staff_token("department_admin", "PSB"),
            "reg_admin": fuzzed_hub.staff_token("department_admin", "REG"),
            "auditor": fuzzed_hub.staff_token("auditor"),
        }.items()
    }


def caller_for(method: str, path: str) -> str:
    """Who sensibly calls an operation, so that its requests get past authentication: a case
    system for the exchange; the household register's department (PSB) to write the catalogue;
    the real estate registry (REG), provider under two demo agreements, to write agreements;
    an auditor, who may read every agreement, for the rest."""
    if path.startswith("/exchange/"):
        return "system"
    if method == "GET":
        return "auditor"
    if path.startswith("/catalogue/"):
        return "psb_admin"
    if path.startswith("/agreements"):
        return "reg_admin"
    return "auditor"


def steer(case: schemathesis.Case, data: st.DataObject, hub: FuzzedHub) -> None:
    """Put values the hub knows into a request generated as valid: real codes and agreement
    ids in paths, real citizens, purposes, attributes and service items in exchange requests, a
    demo descriptor as a publish body (each drawn, so the generated value stays possible).
    Without this almost every request stops at "not found" or "invalid subject", and the
    answers the pipeline gives past those checks would never be held to their schema."""
    if case.meta is None or case.meta.generation.mode is not schemathesis.GenerationMode.POSITIVE:
        return
    known = {"code": CODES, "agreement_id": AGREEMENTS, "name": list(SCHEMA_NAMES)}
    for name, value in (case.path_parameters or {}).items():
        if name in known:
            case.path_parameters[name] = data.draw(st.sampled_from([value, *known[name]]))
    body = case.body
    if case.path.startswith("/exchange/") and isinstance(body, dict):
        _steer_exchange(body, data, hub)
    elif case.method.upper() == "PUT" and case.path.startswith("/catalogue/"):
        kind = (
            DescriptorKind.RESOURCE if "/resources/" in case.path else DescriptorKind.SERVICE_ITEM
        )
        own = [d for d in DESCRIPTORS if d.kind is kind]
        descriptor = data.draw(st.sampled_from([None, *own]))
        if descriptor is not None:
            case.path_parameters["code"] = descriptor.code
            case.body = copy.deepcopy(dict(descriptor.content))


def _steer_exchange(body: dict[str, Any], data: st.DataObject, hub: FuzzedHub) -> None:
    # Hypothesis leans towards the first choice: a citizen the legacy stores know, the system's
    # registered purpose; the generated value stays possible.
    subject = data.draw(st.sampled_from([*hub.subjects, None]))
    if subject is not None:
        body["subject"] = {"id_type": "CN-RIC", "id": subject}
    body["purpose"] = data.draw(st.sampled_from(["school-enrolment", body["purpose"]]))
    if body.get("service_item") is not None:
        body["service_item"] = data.draw(st.sampled_from([None, *SERVICE_ITEMS]))
    attributes = st.lists(st.sampled_from(ATTRIBUTES), min_size=1, max_size=6, unique=True)
    if "claims" in body:
        claims = list(body["claims"].values())
        names = data.draw(attributes)
        body["claims"] = {name: claims[i % len(claims)] for i, name in enumerate(names)}
    elif body.get("attributes") is not None or body.get("service_item") is None:
        body["attributes"] = data.draw(attributes)


@schema.parametrize()
@BOUNDED
def test_every_operation_answers_within_its_documented_schema(
    case: schemathesis.Case, fuzzed_hub: FuzzedHub, credentials: dict[str, dict[str, str]]
) -> None:
    headers = credentials[caller_for(case.method.upper(), case.path)]
    case.call_and_validate(session=fuzzed_hub.sender, headers=headers, checks=CHECKS)


# Operations whose interesting answers need values the hub knows (see ``steer``). A test with
# ``given`` runs Schemathesis' fuzzing phase only, so the one above still covers them too.
STEERED = "^/(exchange/|schemas/|agreements/|catalogue/(resources|service-items|departments)/)"


@schema.include(path_regex=STEERED).parametrize()
@schema.given(data=st.data())
@BOUNDED
def test_requests_with_known_values_get_answers_within_the_schema(
    case: schemathesis.Case,
    data: st.DataObject,
    fuzzed_hub: FuzzedHub,
    credentials: dict[str, dict[str, str]],
) -> None:
    steer(case, data, fuzzed_hub)
    headers = credentials[caller_for(case.method.upper(), case.path)]
    case.call_and_validate(session=fuzzed_hub.sender, headers=headers, checks=STEERED_CHECKS)


@schema.include(path_regex="^/exchange/").parametrize()
@BOUNDED
def test_exchange_operations_without_credentials_are_refused_as_documented(
    case: schemathesis.Case, fuzzed_hub: FuzzedHub
) -> None:
    response = case.call_and_validate(session=fuzzed_hub.sender, checks=CHECKS)
    assert response.status_code >= 400, "an exchange request without a token was answered"
