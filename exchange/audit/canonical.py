"""RFC 8785 (JSON Canonicalization Scheme) for the values audit entries hold.

Entries hold strings, integers, booleans, null, arrays and objects; never floats (an attribute
value never enters the log, and counts are integers), so a float is refused rather than
serialised in a way that could differ from another implementation. Object members are sorted by
the UTF-16 code units of their names, strings use the minimal JSON escapes, output is UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json"]

_MAX_SAFE = 2**53 - 1


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 bytes of *value*."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE:
            raise ValueError("integers beyond 2**53 are not exact in I-JSON")
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("object member names must be strings")
        names = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f"{_encode(k)}:{_encode(value[k])}" for k in names) + "}"
    raise TypeError(f"{type(value).__name__} is not allowed in an audit entry")
