"""The adapter contract, run against every adapter and backend.

Each test states what a caller of any adapter may rely on; a new adapter proves itself by
passing this file. ``legacy`` is each source in turn: SQLite, PostgreSQL, MariaDB, a CSV export,
a fixed-width export and a JSON API. Where a case cannot exist for a kind of source, the test
says so and asserts what that source does instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from adapters.base import AdapterLimits, SourceAdapter
from adapters.errors import (
    AmbiguousSubject,
    MappingError,
    SourceDataError,
    SourceLimitExceeded,
    SourceTimeout,
    SourceUnavailable,
    UnmappedField,
)
from adapters.mapping import parse_mapping
from adapters.registry import adapter_kinds, open_adapter
from tests.adapters.conftest import (
    BAD_CODE,
    FIELD_SCHEMAS,
    GOOD,
    NEGATIVE,
    SENTINEL,
    TWICE,
    UNDECODABLE,
    LegacySource,
    Variant,
)

LIMITS = AdapterLimits(timeout_s=1.0)


def open_source(legacy: LegacySource, **changes: Any) -> SourceAdapter:
    """Build and check the mapping, as the hub does when it loads a source."""
    return open_adapter(
        f"psb-{legacy.backend}",
        parse_mapping({**legacy.mapping, **changes}),
        legacy.config,
        limits=LIMITS,
        field_schemas=FIELD_SCHEMAS,
    )


def build_variant(legacy: LegacySource, variant: Variant) -> SourceAdapter:
    """Build without the load-time check, as a source that fails later would be."""
    mapping = parse_mapping({**legacy.mapping, **variant.mapping})
    kind = adapter_kinds()[mapping.adapter]
    config = {**legacy.config, **variant.config}
    return kind.from_config(f"psb-{legacy.backend}", mapping, config, limits=LIMITS)


@pytest.fixture
def adapter(legacy: LegacySource) -> Iterator[SourceAdapter]:
    opened = open_source(legacy)
    yield opened
    opened.close()


@pytest.fixture
def sql_adapter(sql_legacy: LegacySource) -> Iterator[SourceAdapter]:
    opened = open_source(sql_legacy)
    yield opened
    opened.close()


def test_the_builtin_adapters_register_through_entry_points() -> None:
    assert {"sql", "csv", "fixed_width", "http"} <= set(adapter_kinds())


def test_fetch_maps_the_requested_fields(adapter: SourceAdapter) -> None:
    record = adapter.fetch(GOOD, ["name", "sex", "birth_date", "registered_address"])
    assert record is not None
    assert record.values == {
        "name": "张三",
        "sex": "female",
        "birth_date": "1949-12-31",
        "registered_address": "北京市东城区景山前街4号",
    }
    assert record.as_of is not None
    assert record.as_of.startswith("2026-01-01T08:00")


def test_only_requested_fields_are_returned(adapter: SourceAdapter) -> None:
    record = adapter.fetch(GOOD, ["sex"])
    assert record is not None
    assert record.values == {"sex": "female"}


def test_null_sentinels_become_none(adapter: SourceAdapter) -> None:
    record = adapter.fetch(SENTINEL, ["birth_date", "registered_address", "months_paid"])
    assert record is not None
    assert record.values == {"birth_date": None, "registered_address": None, "months_paid": 0}


def test_unknown_subject_is_none(adapter: SourceAdapter) -> None:
    assert adapter.fetch("330102199901010000", ["name"]) is None


def test_when_absent_answers_for_a_subject_without_a_row(legacy: LegacySource) -> None:
    """A registry where absence means something (no death row: not deceased) says so in the
    mapping; only the requested fields come back, with no as-of time (no source record)."""
    adapter = open_source(legacy, when_absent={"months_paid": 0})
    try:
        record = adapter.fetch("330102199901010000", ["months_paid", "name"])
        assert record is not None
        assert record.values == {"months_paid": 0, "name": None}
        assert record.as_of is None
        present = adapter.fetch(GOOD, ["name"])
        assert present is not None
        assert present.values == {"name": "张三"}
    finally:
        adapter.close()


@pytest.mark.parametrize(
    "hostile",
    [
        "' OR '1'='1",
        "11010519491231002X' --",
        "x'; DROP TABLE T_PERSON; --",
        "%",
        "\\",
        "\x00",
        "../../etc/passwd",
        "a/b?c=d#e",
        f"{GOOD}\n{SENTINEL}",
    ],
)
def test_subject_ids_with_metacharacters_are_only_data(
    adapter: SourceAdapter, legacy: LegacySource, hostile: str
) -> None:
    try:
        assert adapter.fetch(hostile, ["name"]) is None
    except SourceUnavailable:
        assert "\x00" in hostile  # PostgreSQL refuses NUL in text: refused, never interpreted
    legacy.intact(hostile)


_HOSTILE_ALPHABET = st.sampled_from(
    [*"0123456789X'\"%_\\/.;-#?&=*()[]{}<>|`$ \t\n", "--", "/*", "*/", "%2F", "..", "OR", "1=1"]
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostile=st.lists(_HOSTILE_ALPHABET, max_size=16).map("".join))
def test_fuzz_subject_ids_never_reach_a_query_or_a_path_as_code(
    adapter: SourceAdapter, legacy: LegacySource, hostile: str
) -> None:
    """Whatever a subject id holds, it is only a value compared with the key: no record of
    anyone else comes back, nothing but a typed adapter error is raised, the source is intact."""
    try:
        record = adapter.fetch(hostile, ["name"])
    except SourceUnavailable:
        return  # refused (e.g. a byte the server will not take as text), never interpreted
    if hostile != GOOD:
        assert record is None, hostile
    legacy.intact(hostile)


def test_a_field_outside_the_mapping_is_refused(adapter: SourceAdapter) -> None:
    with pytest.raises(UnmappedField) as caught:
        adapter.fetch(GOOD, ["name", "salary"])
    assert caught.value.adapter == adapter.name


def test_two_rows_for_one_subject_release_nothing(adapter: SourceAdapter) -> None:
    with pytest.raises(AmbiguousSubject) as caught:
        adapter.fetch(TWICE, ["name"])
    assert adapter.name in caught.value.detail


def test_a_many_records_mapping_returns_every_record_of_the_subject(
    legacy: LegacySource,
) -> None:
    adapter = open_source(legacy, records="many")
    try:
        records = adapter.fetch_all(TWICE, ["name", "registered_address"])
        addresses = sorted(r.values["registered_address"] for r in records)
        assert addresses == ["杭州市上城区", "杭州市拱墅区"]
        assert [r.values for r in adapter.fetch_all(GOOD, ["name"])] == [{"name": "张三"}]
        assert adapter.fetch_all("110101199001011237", ["name"]) == []
    finally:
        adapter.close()


def test_more_records_than_the_limit_release_nothing(legacy: LegacySource) -> None:
    adapter = open_adapter(
        f"psb-{legacy.backend}",
        parse_mapping({**legacy.mapping, "records": "many"}),
        legacy.config,
        limits=AdapterLimits(timeout_s=1.0, max_records=1),
        field_schemas=FIELD_SCHEMAS,
    )
    try:
        with pytest.raises(SourceLimitExceeded) as caught:
            adapter.fetch_all(TWICE, ["name"])
        assert "more than 1 records" in caught.value.detail
    finally:
        adapter.close()


def test_an_sql_mapping_cannot_split_its_key(sql_legacy: LegacySource) -> None:
    with pytest.raises(MappingError) as caught:
        open_source(sql_legacy, records="many", key_split=",")
    assert "key_split" in caught.value.detail


def test_fetch_all_on_a_one_record_mapping_keeps_its_guarantees(adapter: SourceAdapter) -> None:
    assert [r.values for r in adapter.fetch_all(GOOD, ["sex"])] == [{"sex": "female"}]
    with pytest.raises(AmbiguousSubject):
        adapter.fetch_all(TWICE, ["name"])


@pytest.mark.parametrize(
    ("subject", "fields", "cause"),
    [
        (UNDECODABLE, ["name"], "undecodable byte"),
        (BAD_CODE, ["sex"], "code table"),
        (NEGATIVE, ["months_paid"], "breaks its schema"),
    ],
)
def test_bad_source_data_is_a_typed_error_without_the_value(
    adapter: SourceAdapter, subject: str, fields: list[str], cause: str
) -> None:
    with pytest.raises(SourceDataError) as caught:
        adapter.fetch(subject, fields)
    message = caught.value.detail
    assert adapter.name in message
    assert cause in message
    assert subject not in message
    assert "-5" not in message


def test_a_good_field_of_a_bad_row_is_still_readable_alone(adapter: SourceAdapter) -> None:
    record = adapter.fetch(UNDECODABLE, ["sex", "birth_date"])
    assert record is not None
    assert record.values == {"sex": "male", "birth_date": "1990-05-05"}


def test_a_slow_source_times_out_and_does_not_hang(legacy: LegacySource) -> None:
    slow = build_variant(legacy, legacy.slow)
    started = time.monotonic()
    try:
        with pytest.raises(SourceTimeout) as caught:
            slow.fetch(GOOD, ["name"])
        assert time.monotonic() - started < LIMITS.timeout_s + 1.5  # the slow source takes 5 s
        assert slow.name in caught.value.detail
    finally:
        legacy.release()
        slow.close()


def test_a_source_that_is_down_is_unavailable(legacy: LegacySource) -> None:
    down = build_variant(legacy, legacy.down)
    with pytest.raises(SourceUnavailable) as caught:
        down.fetch(GOOD, ["name"])
    assert down.name in caught.value.detail
    assert "127.0.0.1" not in caught.value.detail
    for value in [*legacy.down.config.values(), *legacy.config.values()]:
        assert str(value) not in caught.value.detail
    assert not down.health().ok
    down.close()


def test_a_mapping_naming_what_the_source_lacks_is_refused_when_loaded(
    legacy: LegacySource,
) -> None:
    for changes, named in legacy.refused:
        with pytest.raises(MappingError, match=named):
            open_source(legacy, **changes)


def test_changes_stream_in_watermark_order_and_resume(
    adapter: SourceAdapter, legacy: LegacySource
) -> None:
    if legacy.adapter == "http":
        # A department's JSON API answers per subject; it has no stream of changes to offer,
        # and says so with a typed error rather than an empty stream.
        with pytest.raises(MappingError, match="lookups only"):
            next(adapter.changes(None, fields=["birth_date"]))
        return
    fields = ["sex", "birth_date"]
    every = list(adapter.changes(None, fields=["birth_date"]))
    assert [c.subject for c in every[:2]] == [GOOD, SENTINEL]
    assert [c.watermark for c in every] == sorted(c.watermark for c in every)
    after = list(adapter.changes(every[2].watermark, fields=["birth_date"]))
    assert [c.subject for c in after] == [c.subject for c in every[3:]]
    assert every[0].values == {"birth_date": "1949-12-31"}
    with pytest.raises(SourceDataError):
        list(adapter.changes(None, fields=fields))


def test_describe_lists_tables_and_columns(adapter: SourceAdapter, legacy: LegacySource) -> None:
    described = adapter.describe()
    found = described.table(legacy.table)
    assert found is not None
    assert legacy.columns <= {
        c.upper() if legacy.adapter == "sql" else c for c in found.column_names()
    }


def test_health_reports_ok(adapter: SourceAdapter) -> None:
    report = adapter.health()
    assert report.ok
    assert report.latency_ms < 1000


# -- SQL only: what a query sees ----------------------------------------------------------------


def test_only_the_requested_columns_are_read(sql_adapter: SourceAdapter) -> None:
    statements: list[str] = []
    engine = sql_adapter._engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    sql_adapter.fetch(GOOD, ["sex"])
    fetched = [s for s in statements if "T_PERSON" in s]
    assert fetched
    assert "XB" in fetched[-1]
    for other in ("XM", "CSRQ", "HJDZ", "JFYS", "BZ"):
        assert other not in fetched[-1]


def test_the_source_is_opened_read_only(sql_adapter: SourceAdapter) -> None:
    engine = sql_adapter._engine  # type: ignore[attr-defined]
    with pytest.raises(DBAPIError), engine.begin() as connection:
        connection.execute(
            text(
                "DELETE FROM T_PERSON"
                if "sqlite" in str(engine.url) or "mysql" in str(engine.url)
                else 'DELETE FROM "T_PERSON"'
            )
        )


def test_a_record_over_the_size_limit_is_refused_whole(legacy: LegacySource) -> None:
    small = open_adapter(
        f"psb-{legacy.backend}",
        parse_mapping(legacy.mapping),
        legacy.config,
        limits=AdapterLimits(timeout_s=1.0, max_record_bytes=60),
        field_schemas=FIELD_SCHEMAS,
    )
    if legacy.backend != "http":  # an HTTP answer is the whole JSON body, limited as such
        record = small.fetch(GOOD, ["sex"])
        assert record is not None
    with pytest.raises(SourceLimitExceeded) as caught:
        small.fetch(GOOD, ["name", "registered_address", "birth_date"])
    assert "over 60" in caught.value.detail
    assert "张三" not in caught.value.detail
    small.close()


def test_schema_verdicts_stay_right_when_values_repeat(adapter: SourceAdapter) -> None:
    for _ in range(3):
        good = adapter.fetch(GOOD, ["months_paid"])
        assert good is not None
        assert good.values == {"months_paid": 120}
        with pytest.raises(SourceDataError, match="breaks its schema"):
            adapter.fetch(NEGATIVE, ["months_paid"])
