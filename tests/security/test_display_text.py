"""Free text people read refuses control and bidi-formatting characters where it enters.

The review's finding: a consent request's purpose, an agreement's justification or reasons, a
catalogue title could carry a right-to-left override (U+202E) that makes the text read
differently from what it says, or NUL / CR / LF and other controls that split or hide lines in
logs and exports. Every entry point now answers 422 problem+json naming the field (its JSON
pointer) and never echoing the value. One table of character classes, one of entry points over
real HTTP against a served demo hub, and the checker itself (``schemas.text``) on its own.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from catalogue.descriptors import check_descriptor
from catalogue.errors import InvalidDescriptor
from exchange.agreements.documents import parse_agreement_document
from exchange.agreements.errors import InvalidAgreementDocument
from schemas.text import text_problem
from tests import factories
from tests.servers import DemoHub

PROBLEM = "application/problem+json"
SECRET = "SECRETVALUE"  # part of every refused value: it must never come back
DEMO_CATALOGUE = Path(__file__).resolve().parents[2] / "exchange/demo/catalogue"
AGREEMENT_FILE = (
    Path(__file__).resolve().parents[2] / "policies/agreements/10-edu-enrolment-reg-property.yaml"
)

# (name, character): every class refused in one-line text.
REFUSED = [
    ("rlo", "\u202e"),
    ("lro", "\u202d"),
    ("lre", "\u202a"),
    ("pdf", "\u202c"),
    ("lri", "\u2066"),
    ("fsi", "\u2068"),
    ("pdi", "\u2069"),
    ("lrm", "\u200e"),
    ("rlm", "\u200f"),
    ("alm", "\u061c"),
    ("nul", "\x00"),
    ("cr", "\r"),
    ("lf", "\n"),
    ("tab", "\t"),
    ("esc", "\x1b"),
    ("del", "\x7f"),
    ("c1-nel", "\x85"),
    ("c1-csi", "\x9b"),
    ("line-separator", "\u2028"),
    ("paragraph-separator", "\u2029"),
    ("lone-surrogate", "\ud800"),
]
ACCEPTED = [
    "为办理义务教育入学登记，核验适龄儿童户籍信息",
    "《社会救助暂行办法》第十一条（家庭收入状况核查）",
    "ＡＢＣ１２３，全角字符；emoji 👨‍👩‍👧 with a zero-width joiner",
    "مرحبا hello שלום",  # right-to-left scripts are text; only the formatting controls are not
]


def bad(char: str) -> str:
    return f"核验户籍信息{char}{SECRET}"


# ---------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "char"), REFUSED, ids=[n for n, _ in REFUSED])
def test_the_checker_refuses_each_class_and_names_only_the_code_point(name: str, char: str) -> None:
    problem = text_problem(bad(char))
    assert problem is not None, name
    assert f"U+{ord(char):04X}" in problem
    assert SECRET not in problem
    assert "核验" not in problem


@pytest.mark.parametrize("text", ACCEPTED)
def test_the_checker_accepts_ordinary_text_in_any_script(text: str) -> None:
    assert text_problem(text) is None


def test_several_lines_allow_lf_and_nothing_else() -> None:
    assert text_problem("第一行\n第二行", multiline=True) is None
    assert text_problem("第一行\r\n第二行", multiline=True) is not None
    assert text_problem("第一行\n\u202e第二行", multiline=True) is not None


# ---------------------------------------------------------------------------
# Documents checked without HTTP: descriptors and agreement documents
# ---------------------------------------------------------------------------


def _demo(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEMO_CATALOGUE / name).read_text("utf-8"))
    return loaded


DESCRIPTOR_PLACES: list[tuple[str, Callable[[], dict[str, Any]], list[str | int]]] = [
    ("resource name", lambda: _demo("10-res-psb-household.yaml"), ["name"]),
    ("resource summary", lambda: _demo("10-res-psb-household.yaml"), ["summary"]),
    ("field title", lambda: _demo("10-res-psb-household.yaml"), ["fields", 3, "title"]),
    ("field description", lambda: _demo("10-res-psb-household.yaml"), ["fields", 1, "description"]),
    ("sharing condition", lambda: _demo("10-res-psb-household.yaml"), ["sharing", "condition"]),
    (
        "not-shared legal basis",
        lambda: _demo("10-res-psb-household.yaml"),
        ["fields", 9, "sharing", "legal_basis"],
    ),
    ("keyword", lambda: _demo("10-res-psb-household.yaml"), ["keywords", 0]),
    (
        "consent waiver",
        lambda: _demo("10-res-hrss-social-insurance.yaml"),
        ["fields", 5, "consent_waived_by", 0],
    ),
    ("service item name", lambda: _demo("20-svc-edu-enrolment.yaml"), ["name"]),
    (
        "service item legal basis",
        lambda: _demo("20-svc-edu-enrolment.yaml"),
        ["attributes", 0, "legal_basis"],
    ),
    ("department name", lambda: _demo("00-dept-psb.yaml"), ["name"]),
]
MULTILINE_PLACES = {"resource summary", "field description", "sharing condition"}


def _set(document: Any, path: list[str | int], value: str) -> None:
    for part in path[:-1]:
        document = document[part]
    document[path[-1]] = value


def _pointer(path: list[str | int]) -> str:
    return "".join(f"/{part}" for part in path)


@pytest.mark.parametrize(("name", "char"), REFUSED, ids=[n for n, _ in REFUSED])
@pytest.mark.parametrize(
    ("place", "load", "path"), DESCRIPTOR_PLACES, ids=[p for p, _, _ in DESCRIPTOR_PLACES]
)
def test_a_descriptor_refuses_the_character_anywhere(
    place: str, load: Callable[[], dict[str, Any]], path: list[str | int], name: str, char: str
) -> None:
    document = load()
    check_descriptor(copy.deepcopy(document))  # as shipped, it is fine
    _set(document, path, bad(char))
    if char == "\n" and place in MULTILINE_PLACES:
        check_descriptor(document)  # several lines are allowed there
        return
    with pytest.raises(InvalidDescriptor) as caught:
        check_descriptor(document)
    assert [e["pointer"] for e in caught.value.errors] == [_pointer(path)]
    assert SECRET not in str(caught.value.problem())


def test_a_member_name_with_a_bidi_override_is_refused_without_echoing_it() -> None:
    document = factories.resource()
    document["fields"][0]["schema"]["\u202eeman"] = {"type": "string"}
    with pytest.raises(InvalidDescriptor) as caught:
        check_descriptor(document)
    assert [e["pointer"] for e in caught.value.errors] == ["/fields/0/schema"]
    assert "eman" not in str(caught.value.problem())


@pytest.mark.parametrize("member", ["title", "legal_basis"])
@pytest.mark.parametrize(
    ("name", "char"), REFUSED[:3] + REFUSED[10:13], ids=[n for n, _ in REFUSED[:3] + REFUSED[10:13]]
)
def test_an_agreement_document_refuses_the_character(member: str, name: str, char: str) -> None:
    document = yaml.safe_load(AGREEMENT_FILE.read_text("utf-8"))
    document[member] = bad(char)
    data = yaml.safe_dump(document, allow_unicode=True).encode("utf-8")
    with pytest.raises(InvalidAgreementDocument) as caught:
        parse_agreement_document(data)
    assert [e["pointer"] for e in caught.value.errors] == [f"/{member}"]


# ---------------------------------------------------------------------------
# Every HTTP entry point
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryPoint:
    """One request that carries text a person will read, with ``value`` in ``pointer``."""

    name: str
    method: str
    path: str
    who: str  # "system", "citizen", or the department of a department admin
    body: Callable[[str, DemoHub], dict[str, Any]]
    pointer: str
    multiline: bool = False


def _until() -> str:
    return (datetime.now(UTC).date() + timedelta(days=90)).isoformat()


def _consent_request(value: str, demo: DemoHub) -> dict[str, Any]:
    return {
        "subject": {"id_type": "CN-RIC", "id": demo.subject("has_property")},
        "purpose": "school-enrolment",
        "purpose_text": value,
        "attributes": ["household.registered_address"],
        "retention_days": 30,
    }


def _application(**changes: str) -> Callable[[str, DemoHub], dict[str, Any]]:
    def body(value: str, demo: DemoHub) -> dict[str, Any]:
        application = {
            "system": "edu-enrolment",
            "resource": "REG-BDC-0001",
            "fields": ["area"],
            "purpose": "school-enrolment",
            "legal_basis": "《中华人民共和国义务教育法》第十二条",
            "justification": "核验房产面积",
            "valid_until": _until(),
        }
        return {**application, **{key: value for key in changes}}

    return body


def _service_item(where: str) -> Callable[[str, DemoHub], dict[str, Any]]:
    def body(value: str, demo: DemoHub) -> dict[str, Any]:
        item = factories.service_item(code="EDU-TEXT-0001")
        if where == "name":
            item["name"] = value
        else:
            item["attributes"][0][where] = value
        return item

    return body


def _resource_field_title(value: str, demo: DemoHub) -> dict[str, Any]:
    document = _demo("10-res-psb-household.yaml")
    document["fields"][0]["title"] = value
    return document


NO_SUCH_AGREEMENT = "AG-0000000000"
ENTRY_POINTS = [
    EntryPoint(
        "consent request purpose",
        "POST",
        "/consent-requests",
        "system",
        _consent_request,
        "/purpose_text",
    ),
    EntryPoint(
        "citizen's refusal reason",
        "POST",
        f"/citizen/consent-requests/cr-{uuid.uuid4()}/refuse",
        "citizen",
        lambda value, demo: {"reason": value},
        "/reason",
        multiline=True,
    ),
    EntryPoint(
        "application justification",
        "POST",
        "/agreements",
        "EDU",
        _application(justification="x"),
        "/justification",
        multiline=True,
    ),
    EntryPoint(
        "application legal basis",
        "POST",
        "/agreements",
        "EDU",
        _application(legal_basis="x"),
        "/legal_basis",
    ),
    EntryPoint(
        "refusal reasons",
        "POST",
        f"/agreements/{NO_SUCH_AGREEMENT}/decision",
        "REG",
        lambda value, demo: {"decision": "refuse", "reason": value},
        "/refuse/reason",
        multiline=True,
    ),
    EntryPoint(
        "row condition",
        "POST",
        f"/agreements/{NO_SUCH_AGREEMENT}/decision",
        "REG",
        lambda value, demo: {
            "decision": "approve",
            "fields": ["area"],
            "row_condition": {"field": "division", "prefix": value},
        },
        "/approve/row_condition/prefix",
    ),
    EntryPoint(
        "revocation reason",
        "POST",
        f"/agreements/{NO_SUCH_AGREEMENT}/revoke",
        "REG",
        lambda value, demo: {"reason": value},
        "/reason",
        multiline=True,
    ),
    EntryPoint(
        "service item name",
        "PUT",
        "/catalogue/service-items/EDU-TEXT-0001",
        "EDU",
        _service_item("name"),
        "/name",
    ),
    EntryPoint(
        "service item legal basis",
        "PUT",
        "/catalogue/service-items/EDU-TEXT-0001",
        "EDU",
        _service_item("legal_basis"),
        "/attributes/0/legal_basis",
    ),
    EntryPoint(
        "service item material",
        "PUT",
        "/catalogue/service-items/EDU-TEXT-0001",
        "EDU",
        _service_item("material"),
        "/attributes/0/material",
    ),
    EntryPoint(
        "resource field title",
        "PUT",
        "/catalogue/resources/PSB-HJ-0001",
        "PSB",
        _resource_field_title,
        "/fields/0/title",
    ),
    EntryPoint(
        "deprecation reason",
        "POST",
        "/catalogue/resources/NO-SUCH-0001/deprecate",
        "PSB",
        lambda value, demo: {"reason": value},
        "/reason",
        multiline=True,
    ),
]


@pytest.fixture(scope="module")
def tokens(demo: DemoHub) -> dict[str, str]:
    staff = {
        d: demo.id_token(f"text-{d.lower()}-admin", "department_admin", d)
        for d in ("EDU", "REG", "PSB")
    }
    return {
        **staff,
        "system": demo.system_token(),
        "citizen": demo.id_token(demo.subject("has_property"), "citizen"),
    }


def _send(demo: DemoHub, tokens: dict[str, str], entry: EntryPoint, value: str) -> httpx.Response:
    # ASCII JSON (\uXXXX escapes), so that even a lone surrogate reaches the hub as sent.
    body = json.dumps(entry.body(value, demo), ensure_ascii=True).encode("ascii")
    return httpx.request(
        entry.method,
        demo.base + entry.path,
        headers={
            "Authorization": f"Bearer {tokens[entry.who]}",
            "Content-Type": "application/json",
        },
        content=body,
        timeout=10,
    )


# Every character at every entry point, but a line feed where several lines are allowed
# (that field takes it: checked below).
_REFUSALS = [
    pytest.param(entry, name, char, id=f"{entry.name}-{name}")
    for entry in ENTRY_POINTS
    for name, char in REFUSED
    if not (char == "\n" and entry.multiline)
]


@pytest.mark.parametrize(("entry", "name", "char"), _REFUSALS)
def test_every_entry_point_refuses_the_character_naming_the_field(
    demo: DemoHub, tokens: dict[str, str], entry: EntryPoint, name: str, char: str
) -> None:
    response = _send(demo, tokens, entry, bad(char))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    pointers = [e["pointer"] for e in response.json().get("errors", [])]
    assert entry.pointer in pointers, pointers
    assert SECRET not in response.text
    assert char not in response.text


@pytest.mark.parametrize("entry", [e for e in ENTRY_POINTS if e.multiline], ids=lambda e: e.name)
def test_several_lines_pass_the_text_check_where_a_field_allows_them(
    demo: DemoHub, tokens: dict[str, str], entry: EntryPoint
) -> None:
    response = _send(demo, tokens, entry, "第一行\n第二行")
    # Past the text check: whatever answers now is about something else (no such request,
    # agreement or resource; or, for an application, it is filed).
    assert response.status_code in {201, 404}, response.text
