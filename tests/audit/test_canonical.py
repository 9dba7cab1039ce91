"""The audit log's canonical JSON: the fast path gives the reference encoder's bytes (RFC 8785)
for every value, and refuses what the reference refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.audit.canonical import _encode, canonical_json

names = st.text(max_size=6) | st.sampled_from(["a", "\U0001f600", "\ufb01", "\ue000", "é", "B"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) - 4, max_value=2**53 + 4)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(names, inner, max_size=5)
    ),
    max_leaves=25,
)


def reference(value: Any) -> bytes | type[Exception]:
    try:
        return _encode(value).encode("utf-8")
    except (TypeError, ValueError) as exc:
        return type(exc)


def fast(value: Any) -> bytes | type[Exception]:
    try:
        return canonical_json(value)
    except (TypeError, ValueError) as exc:
        return type(exc)


@given(values)
def test_the_fast_path_gives_the_reference_bytes_for_every_value(value: Any) -> None:
    assert fast(value) == reference(value)


def test_member_names_are_sorted_by_utf16_code_units_not_code_points() -> None:
    # U+E000 sorts after the surrogate pair of U+1F600 in UTF-16, before it by code point
    assert canonical_json({"\ue000": 1, "\U0001f600": 2}) == '{"😀":2,"\ue000":1}'.encode()


@pytest.mark.parametrize(
    "value",
    [1.5, {"n": 2**53}, {"a": [float("nan")]}, {1: "x"}, {"d": {None: 1}}, {"s": {1, 2}}],
)
def test_what_the_reference_refuses_is_refused(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json(value)


def test_subclasses_are_encoded_as_their_values() -> None:
    from enum import IntEnum, StrEnum

    class Colour(StrEnum):
        RED = "red"

    class Level(IntEnum):
        HIGH = 3

    assert canonical_json({"c": Colour.RED, "l": Level.HIGH}) == b'{"c":"red","l":3}'


def test_a_value_that_refers_to_itself_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(RecursionError):
        canonical_json(loop)
