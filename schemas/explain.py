"""Turn JSON Schema validation errors into located, value-free problem entries.

``jsonschema``'s own messages quote the offending value, which may be a secret (a private key
member) or personal data. These explanations name the rule that failed and never the value.
"""

from __future__ import annotations

from collections.abc import Iterable

from jsonschema import ValidationError
from jsonschema.exceptions import SchemaError

from schemas.errors import ProblemDetail

__all__ = ["explain", "explain_all", "pointer"]

_LIMITS = {
    "minLength": "shorter than {} characters",
    "maxLength": "longer than {} characters",
    "minItems": "fewer than {} items",
    "maxItems": "more than {} items",
    "minimum": "less than {}",
    "maximum": "greater than {}",
    "minProperties": "fewer than {} members",
}


def pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 JSON pointer for a path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def explain(error: ValidationError | SchemaError) -> ProblemDetail:
    """Where the error is and which rule it broke, without quoting the value."""
    path = list(error.absolute_path)
    rule, expected, instance = error.validator, error.validator_value, error.instance
    if rule == "required" and isinstance(instance, dict) and isinstance(expected, list):
        missing = [name for name in expected if name not in instance]
        if missing:
            return ProblemDetail(
                pointer=pointer([*path, missing[0]]), detail=f"'{missing[0]}' is required"
            )
    if rule in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = sorted(k for k in instance if k not in known)
        if extra:
            return ProblemDetail(pointer=pointer([*path, extra[0]]), detail="unknown element")
    return ProblemDetail(pointer=pointer(path), detail=_rule_text(str(rule), expected))


def explain_all(errors: Iterable[ValidationError]) -> list[ProblemDetail]:
    """Every error explained, sorted by pointer, one entry per pointer."""
    seen: dict[str, ProblemDetail] = {}
    for error in errors:
        problem = explain(error)
        seen.setdefault(problem["pointer"], problem)
    return [seen[key] for key in sorted(seen)]


def _rule_text(rule: str, expected: object) -> str:
    if rule == "enum" and isinstance(expected, list):
        return "must be one of: " + ", ".join(map(str, expected))
    if rule == "const":
        return f"must be {expected!r}"
    if rule == "type":
        return f"must be of type {expected}"
    if rule == "pattern":
        return f"does not match the pattern {expected}"
    if rule == "format":
        return f"is not a valid {expected}"
    if rule in _LIMITS:
        return "is " + _LIMITS[rule].format(expected)
    if rule == "uniqueItems":
        return "has duplicate items"
    if rule == "oneOf":
        return "must match exactly one of the allowed forms"
    if rule == "False schema":
        return "is not allowed here"
    return f"breaks the '{rule}' rule"
