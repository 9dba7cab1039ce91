"""What only an HTTP source has: the secret auth header, subjects in URLs, bodies to bound,
statuses, answers about someone else, and the mapping's URL template and JSON pointers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.base import AdapterLimits, SourceAdapter
from adapters.errors import (
    AdapterError,
    MappingError,
    SourceDataError,
    SourceLimitExceeded,
    SourceUnavailable,
)
from adapters.http import resolve_pointer
from adapters.mapping import parse_mapping
from adapters.registry import open_adapter
from tests.adapters.sources import GOOD, SECRET, SENTINEL, LegacyApi, http_mapping

LIMITS = AdapterLimits(timeout_s=1.0)
CONFIG = {"auth_value": SECRET, "base_headers": {"X-Caller": "tongban-test"}}


def open_api(api: LegacyApi, route: str = "person", **changes: Any) -> SourceAdapter:
    document = {**http_mapping(api.base, route), **changes}
    return open_adapter("psb-api", parse_mapping(document), CONFIG, limits=LIMITS)


@pytest.fixture
def api_adapter(legacy_api: LegacyApi) -> Iterator[SourceAdapter]:
    adapter = open_api(legacy_api)
    yield adapter
    adapter.close()


def test_the_auth_header_and_base_headers_are_sent(
    api_adapter: SourceAdapter, legacy_api: LegacyApi
) -> None:
    assert api_adapter.fetch(GOOD, ["sex"]) is not None
    sent = legacy_api.headers_seen[-1]
    assert sent["Authorization"] == SECRET
    assert sent["X-Caller"] == "tongban-test"
    assert sent["Accept"] == "application/json"


@pytest.mark.parametrize("route", ["fail", "notjson", "big", "endless", "moved", "other", "slow"])
def test_the_secret_is_never_in_an_error_or_a_log(
    legacy_api: LegacyApi, caplog: pytest.LogCaptureFixture, route: str
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = open_api(legacy_api, route)
    with pytest.raises(AdapterError) as caught:
        adapter.fetch(SENTINEL, ["name"])
    adapter.close()
    token = SECRET.split()[-1]
    assert token not in str(caught.value)
    assert token not in repr(caught.value)
    assert token not in caplog.text
    assert SENTINEL not in str(caught.value)


def test_a_missing_or_wrong_secret_is_unavailable_not_no_record(legacy_api: LegacyApi) -> None:
    mapping = parse_mapping(http_mapping(legacy_api.base))
    adapter = open_adapter("psb-api", mapping, {"auth_value": "Bearer wrong"}, limits=LIMITS)
    with pytest.raises(SourceUnavailable, match="HTTP 401"):
        adapter.fetch(GOOD, ["name"])
    adapter.close()


@pytest.mark.parametrize(
    "subject", ["a/b", "a?b=c", "a#b", "it's", "100%", "a+b c", "张三", "..", ".", "%2F", "~x"]
)
def test_a_subject_is_percent_encoded_and_arrives_verbatim(
    api_adapter: SourceAdapter, legacy_api: LegacyApi, subject: str
) -> None:
    assert api_adapter.fetch(subject, ["name"]) is None
    assert legacy_api.seen[-1] == subject


def test_a_body_over_the_limit_is_refused(legacy_api: LegacyApi) -> None:
    adapter = open_api(legacy_api, "big")
    with pytest.raises(SourceLimitExceeded, match="over 65536 bytes"):
        adapter.fetch(GOOD, ["name"])
    adapter.close()


def test_a_body_without_a_length_is_not_read_past_the_limit(legacy_api: LegacyApi) -> None:
    adapter = open_api(legacy_api, "endless")
    started = time.monotonic()
    with pytest.raises(SourceLimitExceeded):
        adapter.fetch(GOOD, ["name"])
    assert time.monotonic() - started < 1.0  # 50 MB were on offer
    adapter.close()


@pytest.mark.parametrize(
    ("route", "error", "cause"),
    [
        ("notjson", SourceDataError, "not JSON"),
        ("fail", SourceUnavailable, "HTTP 500"),
        ("moved", SourceUnavailable, "HTTP 302"),
        ("other", SourceDataError, "another subject"),
    ],
)
def test_a_misbehaving_api_is_a_typed_error(
    legacy_api: LegacyApi, route: str, error: type[AdapterError], cause: str
) -> None:
    adapter = open_api(legacy_api, route)
    with pytest.raises(error, match=cause) as caught:
        adapter.fetch(SENTINEL, ["name"])
    assert caught.value.adapter == "psb-api"
    adapter.close()


def test_an_api_answering_gbk_json_is_read_with_the_mappings_charset(
    legacy_api: LegacyApi,
) -> None:
    adapter = open_api(legacy_api, "gbk", charset="gbk")
    record = adapter.fetch(GOOD, ["name", "registered_address"])
    assert record is not None
    assert record.values == {"name": "张三", "registered_address": "北京市东城区景山前街4号"}
    adapter.close()


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("http://user:pw@127.0.0.1:8080/p/{subject}", "credentials"),
        ("http://{subject}.example.org/p", "fixed host"),
        ("http://127.0.0.1:99999/p/{subject}", "bad port"),
    ],
)
def test_a_bad_url_template_is_refused_when_loaded(
    legacy_api: LegacyApi, url: str, cause: str
) -> None:
    with pytest.raises(MappingError, match=cause):
        open_api(legacy_api, url=url)


def test_a_bad_pointer_is_refused_when_loaded(legacy_api: LegacyApi) -> None:
    with pytest.raises(MappingError, match="not a JSON pointer"):
        open_api(legacy_api, key={"pointer": "/person/~2id"})


def test_loading_a_mapping_makes_no_request(legacy_api: LegacyApi) -> None:
    before = len(legacy_api.seen)
    down = open_api(legacy_api, url="http://127.0.0.1:1/person/{subject}")
    assert len(legacy_api.seen) == before
    down.close()


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("", {"a/b": {"m~n": [1, 2]}, "": 0}),
        ("/a~1b/m~0n/1", 2),
        ("/a~1b/m~0n/01", None),
        ("/a~1b/m~0n/2", None),
        ("/a~1b/m~0n/-", None),
        ("/", 0),
        ("/missing/deeper", None),
    ],
)
def test_json_pointers_follow_rfc_6901(pointer: str, expected: object) -> None:
    document = {"a/b": {"m~n": [1, 2]}, "": 0}
    assert resolve_pointer(document, pointer) == expected
