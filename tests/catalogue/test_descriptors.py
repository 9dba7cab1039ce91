"""Descriptor checking: every bad input is refused with the JSON pointer of the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from catalogue.descriptors import (
    MAX_DESCRIPTOR_BYTES,
    check_descriptor,
    parse_descriptor,
    resource_value_schema,
)
from catalogue.errors import InvalidDescriptor
from catalogue.vocabulary import DescriptorKind
from tests import factories


def refused(document: Any) -> list[dict[str, str]]:
    data = (
        json.dumps(document, ensure_ascii=False).encode()
        if not isinstance(document, bytes)
        else document
    )
    with pytest.raises(InvalidDescriptor) as caught:
        parse_descriptor(data, media_type="application/json")
    assert caught.value.code == "invalid_descriptor"
    assert caught.value.status == 422
    return [dict(e) for e in caught.value.errors]


def pointers(document: Any) -> list[str]:
    return [e["pointer"] for e in refused(document)]


def test_a_valid_resource_is_accepted_with_defaults_filled_in() -> None:
    descriptor = check_descriptor(factories.resource(traits=("full", "with_not_shared")))
    assert descriptor.kind is DescriptorKind.RESOURCE
    assert descriptor.code == "PSB-HJ-0001"
    assert [f["transform"] for f in descriptor.content["fields"]] == ["mask_name", "clear", "clear"]


def test_missing_mandatory_element_points_at_it() -> None:
    document = factories.resource()
    del document["summary"]
    assert pointers(document) == ["/summary"]


def test_missing_mandatory_element_inside_a_field_points_into_the_field() -> None:
    document = factories.resource()
    del document["fields"][1]["sensitivity"]
    assert pointers(document) == ["/fields/1/sensitivity"]


def test_unknown_sharing_type_is_refused() -> None:
    document = factories.resource()
    document["fields"][0]["sharing"]["type"] = "everyone"
    errors = refused(document)
    assert [e["pointer"] for e in errors] == ["/fields/0/sharing/type"]
    assert "unconditional, conditional, not_shared" in errors[0]["detail"]


def test_duplicate_field_name_is_refused() -> None:
    document = factories.resource()
    document["fields"].append(factories.field("name", "姓名（重复）"))
    assert pointers(document) == ["/fields/2/name"]


def test_not_shared_field_needs_its_legal_basis() -> None:
    document = factories.resource(traits=("with_not_shared",))
    del document["fields"][2]["sharing"]["legal_basis"]
    assert pointers(document) == ["/fields/2/sharing/legal_basis"]


def test_invalid_json_schema_of_a_value_is_refused() -> None:
    document = factories.resource()
    document["fields"][1]["schema"] = {"type": "text", "maxLength": 10}
    errors = refused(document)
    assert errors[0]["pointer"].startswith("/fields/1/schema")
    assert "not a valid JSON Schema" in errors[0]["detail"]


def test_bytes_that_are_not_utf8_are_refused_with_the_offset() -> None:
    data = "name: 户籍".encode("gbk")
    errors = refused(b"kind: resource\n" + data)
    assert errors[0]["pointer"] == ""
    assert "not UTF-8" in errors[0]["detail"]
    assert "offset 21" in errors[0]["detail"]


def test_unknown_element_is_named() -> None:
    document = factories.resource()
    document["password"] = "hunter2"
    assert pointers(document) == ["/password"]


def test_source_binding_cannot_carry_a_url_with_credentials() -> None:
    document = factories.resource()
    document["source"]["mapping"] = "postgresql://psb:secret@10.0.0.5/hj"
    assert pointers(document) == ["/source/mapping"]


def test_unknown_kind_is_refused() -> None:
    assert pointers({"kind": "dataset", "code": "X"}) == ["/kind"]


def test_not_an_object_is_refused() -> None:
    assert pointers([1, 2, 3]) == [""]


def test_several_problems_are_all_reported_sorted_by_pointer() -> None:
    document = factories.resource()
    del document["summary"]
    document["update_frequency"] = "hourly"
    document["fields"][0]["sensitivity"] = "secret"
    assert pointers(document) == ["/fields/0/sensitivity", "/summary", "/update_frequency"]


def test_oversized_document_is_refused_before_parsing() -> None:
    errors = refused(b" " * (MAX_DESCRIPTOR_BYTES + 1))
    assert "larger than" in errors[0]["detail"]


def test_yaml_aliases_are_refused() -> None:
    bomb = b"a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
    with pytest.raises(InvalidDescriptor) as caught:
        parse_descriptor(bomb)
    assert "aliases are not allowed" in caught.value.detail


def test_malformed_json_is_refused_with_its_line() -> None:
    with pytest.raises(InvalidDescriptor) as caught:
        parse_descriptor(b'{"kind": "resource",\n "code": }', media_type="application/json")
    assert "line 2" in caught.value.detail


def test_yaml_dates_stay_text_so_the_schema_decides() -> None:
    document = factories.resource(traits=("full",))
    descriptor = parse_descriptor(yaml.safe_dump(document, allow_unicode=True).encode())
    assert descriptor.content["issued"] == "2020-01-01"


def test_folded_yaml_joins_chinese_lines_without_a_space() -> None:
    document = factories.resource(summary="x" * 20)
    text = yaml.safe_dump(document, allow_unicode=True).replace(
        "summary: " + "x" * 20,
        "summary: >-\n  包括姓名、出生日期、\n  民族。 两个字 written\n"
        "  in English, 中文\n  and 中文\n  后缀",
    )
    assert "summary: >-" in text
    summary = parse_descriptor(text.encode()).content["summary"]
    # The fold's space goes between Chinese characters (、民), a written one stays (。 两),
    # and Latin words keep theirs.
    assert summary == "包括姓名、出生日期、民族。 两个字 written in English, 中文 and 中文后缀"


def test_invalid_date_is_refused_by_format() -> None:
    document = factories.resource(traits=("full",), issued="2020-02-30")
    assert pointers(document) == ["/issued"]


def test_yaml_and_json_of_the_same_content_have_the_same_digest() -> None:
    document = factories.resource(traits=("full",))
    from_json = parse_descriptor(json.dumps(document).encode(), media_type="application/json")
    from_yaml = parse_descriptor(yaml.safe_dump(document, allow_unicode=True).encode())
    assert from_json.digest == from_yaml.digest


def test_an_explicit_default_transform_is_the_same_content_as_none() -> None:
    document = factories.resource()
    explicit = factories.resource()
    explicit["fields"][1]["transform"] = "clear"
    assert check_descriptor(document).digest == check_descriptor(explicit).digest


def test_a_resource_cannot_relate_to_itself() -> None:
    document = factories.resource(related=["PSB-SFZ-0002", "PSB-HJ-0001"])
    assert pointers(document) == ["/related/1"]


def test_service_item_listing_an_attribute_twice_is_refused() -> None:
    document = factories.service_item()
    document["attributes"].append(dict(document["attributes"][0]))
    assert pointers(document) == ["/attributes/1/attribute"]


def test_department_with_malformed_credit_code_is_refused() -> None:
    assert pointers(factories.department(uscc="12345")) == ["/uscc"]


def test_value_schema_lists_every_field() -> None:
    content = check_descriptor(factories.resource(traits=("with_not_shared",))).content
    schema = resource_value_schema(content, "http://hub/catalogue/resources/PSB-HJ-0001/schema")
    assert list(schema["properties"]) == ["name", "registered_address", "criminal_record"]
    assert schema["properties"]["name"]["title"] == "姓名"
    assert schema["additionalProperties"] is False


def test_error_messages_do_not_echo_long_values() -> None:
    document = factories.resource()
    document["name"] = "张" * 5000
    errors = refused(document)
    assert errors[0]["pointer"] == "/name"
    assert len(errors[0]["detail"]) <= 200
