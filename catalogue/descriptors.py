"""Read and check catalogue descriptors (YAML or JSON) before anything is published.

Order of checks, each stopping at the first stage that finds a problem:

1. bytes: size limit, then strict UTF-8 (the error names the byte offset);
2. syntax: JSON, or YAML through a loader that refuses aliases (no entity-expansion bombs) and
   keeps dates as strings (the schema decides what a date is);
3. text: no string anywhere (member names too) holds a control or bidi-formatting character
   (``schemas.text``; LF only in summaries, descriptions and conditions), each reported with
   its JSON pointer and never its value;
4. shape: the document's ``kind`` picks its JSON Schema (``schemas/``); every violation is
   reported with the JSON pointer of the offending element;
5. rules a schema cannot say: unique field names, a valid JSON Schema for each field's value,
   ``consent_waived_by`` only on a sensitive personal field that can be shared, a structured
   legal citation whose name reads as its kind (a law 《…法》, …).

Cross-references into the registry (the provider exists, attributes resolve) are checked by the
publishing service, which has the database.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from jsonschema import Draft202012Validator, SchemaError

from catalogue.errors import InvalidDescriptor
from catalogue.identifiers import is_division_code
from catalogue.vocabulary import DescriptorKind, Sensitivity, SharingType
from schemas import ProblemDetail, explain, explain_all, pointer, validator
from schemas.text import document_text_problems

__all__ = [
    "MAX_DESCRIPTOR_BYTES",
    "Descriptor",
    "descriptor_digest",
    "parse_descriptor",
    "resource_value_schema",
]

MAX_DESCRIPTOR_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Descriptor:
    """A checked descriptor: its kind, code and normalised content (defaults filled in)."""

    kind: DescriptorKind
    code: str
    content: Mapping[str, Any]

    @property
    def digest(self) -> str:
        return descriptor_digest(self.content)


def descriptor_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 over the sorted-key compact JSON of a normalised descriptor."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_descriptor(
    data: bytes, *, media_type: str | None = None, expected: DescriptorKind | None = None
) -> Descriptor:
    """Decode, parse and check one descriptor document; raise :class:`InvalidDescriptor`."""
    document = _load(data, media_type)
    return check_descriptor(document, expected=expected)


def check_descriptor(document: object, *, expected: DescriptorKind | None = None) -> Descriptor:
    """Check an already-parsed document (stages 3 to 5), optionally of one ``expected`` kind."""
    if not isinstance(document, dict):
        raise _invalid("a descriptor must be a JSON object / YAML mapping", "")
    text_problems = list(document_text_problems(document))
    if text_problems:
        raise InvalidDescriptor(
            "the descriptor holds control or bidi characters", errors=text_problems
        )
    try:
        kind = DescriptorKind(str(document.get("kind")))
    except ValueError:
        allowed = ", ".join(k.value for k in DescriptorKind)
        raise _invalid(f"'kind' must be one of: {allowed}", "/kind") from None
    if expected is not None and kind is not expected:
        raise _invalid(f"expected a {expected.value} descriptor", "/kind")
    problems = explain_all(validator(kind.schema_name).iter_errors(document))
    if not problems:
        problems = list(_rule_problems(kind, document))
    if problems:
        raise InvalidDescriptor(f"the {kind.value} descriptor is not valid", errors=problems)
    content = _normalise(kind, document)
    return Descriptor(kind=kind, code=str(content["code"]), content=content)


def resource_value_schema(content: Mapping[str, Any], schema_id: str) -> dict[str, Any]:
    """The JSON Schema of one subject's record of a resource: one property per field."""
    properties: dict[str, Any] = {}
    for field in content["fields"]:
        prop = dict(field["schema"])
        prop.setdefault("title", field["title"])
        if field.get("description"):
            prop.setdefault("description", field["description"])
        properties[field["name"]] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": content["name"],
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


class _DescriptorLoader(yaml.SafeLoader):
    """SafeLoader without aliases and without implicit timestamps."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.MarkedYAMLError(
                "while composing", None, "aliases are not allowed in descriptors", None
            )
        return super().compose_node(parent, index)

    def construct_scalar(self, node: Any) -> Any:
        value = super().construct_scalar(node)
        if getattr(node, "style", None) == ">" and isinstance(value, str):
            return _unfold_cjk(value, _source_of(node))
        return value


# Han ideographs, CJK punctuation, full-width forms: Chinese text has no spaces between them.
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_FOLDED_SPACE = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")


def _source_of(node: Any) -> str | None:
    """The text of a scalar as written in the document, when the loader kept it."""
    start, end = node.start_mark, node.end_mark
    if not isinstance(start.buffer, str):
        return None
    return str(start.buffer[start.pointer : end.pointer])


def _unfold_cjk(value: str, source: str | None) -> str:
    """A folded scalar (``>``) joins its lines with a space; between two Chinese characters
    that space is an artefact of the line break, so it goes. A space written between them on
    one line (found as such in *source*) stays."""

    def join(match: re.Match[str]) -> str:
        at = match.start()
        written = value[at - 1 : at + 2]
        return " " if source is not None and written in source else ""

    return _FOLDED_SPACE.sub(join, value)


_DescriptorLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(data: bytes, media_type: str | None) -> object:
    if len(data) > MAX_DESCRIPTOR_BYTES:
        raise _invalid(f"descriptor is larger than {MAX_DESCRIPTOR_BYTES} bytes", "")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"not UTF-8: invalid byte at offset {exc.start}", "") from None
    text = text.removeprefix("\ufeff")
    if media_type is not None and "json" in media_type:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _invalid(f"not valid JSON: {exc.msg} (line {exc.lineno})", "") from None
    try:
        return yaml.load(text, Loader=_DescriptorLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark else ""
        raise _invalid(f"not valid YAML: {exc.problem}{where}", "") from None
    except yaml.YAMLError:
        raise _invalid("not valid YAML", "") from None


def _invalid(message: str, at: str) -> InvalidDescriptor:
    return InvalidDescriptor(message, errors=[ProblemDetail(pointer=at, detail=message)])


def _rule_problems(kind: DescriptorKind, document: Mapping[str, Any]) -> Iterable[ProblemDetail]:
    if kind is DescriptorKind.RESOURCE:
        yield from _resource_rules(document)
    elif kind is DescriptorKind.DEPARTMENT:
        if "division" in document and not is_division_code(document["division"]):
            yield ProblemDetail(pointer="/division", detail="not a GB/T 2260 division code")
    elif kind is DescriptorKind.SERVICE_ITEM:
        yield from _repeats(document, "attributes", "attribute", "listed twice")


def _repeats(
    document: Mapping[str, Any], array: str, key: str, detail: str
) -> Iterable[ProblemDetail]:
    """A problem at each item whose ``key`` repeats an earlier item's."""
    seen: set[str] = set()
    for i, item in enumerate(document[array]):
        if item[key] in seen:
            yield ProblemDetail(pointer=pointer([array, i, key]), detail=detail)
        seen.add(item[key])


def _resource_rules(document: Mapping[str, Any]) -> Iterable[ProblemDetail]:
    yield from _repeats(document, "fields", "name", "duplicate field name")
    for i, field in enumerate(document["fields"]):
        try:
            Draft202012Validator.check_schema(field["schema"])
        except SchemaError as exc:
            at = pointer(["fields", i, "schema", *exc.absolute_path])
            detail = f"not a valid JSON Schema: {explain(exc)['detail']}"
            yield ProblemDetail(pointer=at, detail=detail)
    for i, field in enumerate(document["fields"]):
        if "consent_waived_by" in field and not _waivable(field):
            at = pointer(["fields", i, "consent_waived_by"])
            detail = "only a sensitive personal field that can be shared has consent waivers"
            yield ProblemDetail(pointer=at, detail=detail)
    for i, field in enumerate(document["fields"]):
        citation = field["sharing"].get("legal_citation")
        if citation is not None:
            yield from _citation_problems(
                citation, pointer(["fields", i, "sharing", "legal_citation"])
            )
    if document["code"] in document.get("related", []):
        at = pointer(["related", document["related"].index(document["code"])])
        yield ProblemDetail(pointer=at, detail="a resource cannot be related to itself")


_CITED_KIND = {
    # 法律 are named ...法 (《中华人民共和国个人信息保护法》); 行政法规 are 条例, 规定 or 办法
    # (《政务数据共享条例》, 《社会救助暂行办法》); a State Council decision says so in its name.
    "law": re.compile(r"(?<!办)法》$"),
    "administrative_regulation": re.compile(r"(条例|规定|办法|细则)》$"),
    "state_council_decision": re.compile(r"^《国务院.*决定》$"),
}


def _citation_problems(citation: Mapping[str, Any], at: str) -> Iterable[ProblemDetail]:
    """A legal citation whose name does not read as its kind: a law is named 《…法》, an
    administrative regulation 《…条例》 (or 规定, 办法, 细则), a State Council decision
    《国务院…决定》."""
    kind = str(citation["kind"])
    if not _CITED_KIND[kind].search(str(citation["name"])):
        detail = f"the name does not read as a {kind.replace('_', ' ')}"
        yield ProblemDetail(pointer=f"{at}/name", detail=detail)


def _waivable(field: Mapping[str, Any]) -> bool:
    return bool(
        field["sensitivity"] == Sensitivity.SENSITIVE_PERSONAL.value
        and field["sharing"]["type"] != SharingType.NOT_SHARED.value
    )


def _normalise(kind: DescriptorKind, document: Mapping[str, Any]) -> dict[str, Any]:
    content = copy.deepcopy(dict(document))
    if kind is DescriptorKind.RESOURCE:
        for field in content["fields"]:
            field.setdefault("transform", "clear")
    elif kind is DescriptorKind.SERVICE_ITEM:
        for item in content["attributes"]:
            item.setdefault("required", True)
    return content
