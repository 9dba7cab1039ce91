"""What only file exports have: an index instead of scans, replaced files, a root to stay in,
CSV quoting, byte spans, charsets, and watermarks that files do not sort."""

from __future__ import annotations

import io
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from adapters import fileindex
from adapters.base import AdapterLimits, SourceAdapter
from adapters.errors import MappingError, SourceDataError, SourceLimitExceeded
from adapters.files import CsvAdapter, FixedWidthAdapter
from adapters.mapping import parse_mapping
from adapters.registry import open_adapter
from tests.adapters.sources import (
    COLUMNS,
    CSV_MAPPING,
    FIXED_WIDTH_MAPPING,
    GOOD,
    NEGATIVE,
    ROWS,
    SENTINEL,
    TWICE,
    csv_bytes,
    fixed_width_bytes,
    fixed_width_line,
)

LIMITS = AdapterLimits(timeout_s=10.0)


def open_file(root: Path, document: dict[str, Any], **config: Any) -> SourceAdapter:
    return open_adapter(
        "export", parse_mapping(document), {"root": str(root), **config}, limits=LIMITS
    )


def person(
    subject: str, name: str = "张三", address: str = "杭州市", day: int = 1
) -> dict[str, Any]:
    return {
        **ROWS[0],
        "GMSFHM": subject,
        "XM": name.encode("gbk"),
        "HJDZ": address,
        "GXSJ": datetime(2026, 1, day, 8, 0),
    }


def write(root: Path, name: str, content: bytes) -> Path:
    path = root / "exports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def csv_root(tmp_path: Path) -> Path:
    write(tmp_path, "person.csv", csv_bytes(ROWS))
    return tmp_path


class _CountingFile(io.FileIO):
    read_bytes = 0

    def readinto(self, buffer: Any) -> int | None:
        count = super().readinto(buffer)
        _CountingFile.read_bytes += count or 0
        return count


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> type[_CountingFile]:
    def counting(path: Path) -> BinaryIO:
        return io.BufferedReader(_CountingFile(path, "rb"))

    monkeypatch.setattr(fileindex, "open_binary", counting)
    _CountingFile.read_bytes = 0
    return _CountingFile


# -- the index ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "fixed_width"])
def test_a_lookup_reads_its_lines_not_the_file(
    tmp_path: Path, bytes_read: type[_CountingFile], kind: str
) -> None:
    if kind == "csv":
        header = ",".join(COLUMNS).encode() + b"\n"
        rest = csv_bytes([person(GOOD)]).split(b"\r\n")[1][len(GOOD) :] + b"\n"
    else:
        header, rest = b"", fixed_width_line(person(GOOD))[len(GOOD) :] + b"\n"
    content = header + b"".join(f"3301021990{n:08d}".encode() + rest for n in range(200_000))
    write(tmp_path, "big", content)
    document = {**(CSV_MAPPING if kind == "csv" else FIXED_WIDTH_MAPPING), "file": "exports/big"}
    adapter = open_file(tmp_path, document)
    assert bytes_read.read_bytes >= len(content)  # the index was built by one read of the file

    bytes_read.read_bytes = 0
    started = time.perf_counter()
    for n in range(0, 200_000, 2_000):
        record = adapter.fetch(f"3301021990{n:08d}", ["name"])
        assert record is not None
        assert record.values == {"name": "张三"}
    per_lookup = (time.perf_counter() - started) / 100
    assert bytes_read.read_bytes < 100 * 16 * 1024  # a buffer or two each, of a 14-30 MB file
    assert per_lookup < 0.05  # a scan of the 14-30 MB file would take far longer
    adapter.close()


def test_a_replaced_file_is_picked_up(csv_root: Path) -> None:
    adapter = open_file(csv_root, CSV_MAPPING)
    assert adapter.fetch(GOOD, ["registered_address"]) == adapter.fetch(
        GOOD, ["registered_address"]
    )
    staged = write(csv_root, "person.csv.new", csv_bytes([person(GOOD, address="上海市")]))
    os.replace(staged, csv_root / "exports" / "person.csv")
    record = adapter.fetch(GOOD, ["registered_address"])
    assert record is not None
    assert record.values == {"registered_address": "上海市"}
    assert adapter.fetch(SENTINEL, ["name"]) is None
    adapter.close()


def test_a_file_rewritten_in_place_at_the_same_size_is_picked_up(csv_root: Path) -> None:
    path = csv_root / "exports" / "person.csv"
    path.write_bytes(csv_bytes([person(GOOD, address="上海市")]))
    adapter = open_file(csv_root, CSV_MAPPING)
    before = path.stat()
    path.write_bytes(csv_bytes([person(GOOD, address="南京市")]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert path.stat().st_size == before.st_size
    record = adapter.fetch(GOOD, ["registered_address"])
    assert record is not None
    assert record.values == {"registered_address": "南京市"}
    adapter.close()


def test_lookups_stay_whole_while_the_file_is_replaced(csv_root: Path) -> None:
    versions = [csv_bytes([person(GOOD, address=city)]) for city in ("上海市", "南京市")]
    adapter = open_file(csv_root, CSV_MAPPING)
    seen: set[object] = set()
    failures: list[BaseException] = []

    def look() -> None:
        try:
            for _ in range(200):
                record = adapter.fetch(GOOD, ["registered_address"])
                seen.add(record.values["registered_address"] if record else None)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=look) for _ in range(4)]
    for thread in threads:
        thread.start()
    for n in range(30):
        staged = write(csv_root, "staged.csv", versions[n % 2])
        os.replace(staged, csv_root / "exports" / "person.csv")
    for thread in threads:
        thread.join()
    adapter.close()
    assert failures == []
    assert seen <= {"北京市东城区景山前街4号", "上海市", "南京市"}


# -- the root -----------------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["../outside.csv", "exports/../../outside.csv", "/etc/passwd"])
def test_a_path_outside_the_root_is_refused(csv_root: Path, file: str) -> None:
    (csv_root.parent / "outside.csv").write_bytes(csv_bytes(ROWS))
    with pytest.raises(MappingError, match="outside the adapter's root"):
        open_file(csv_root, {**CSV_MAPPING, "file": file})


def test_a_symlink_out_of_the_root_is_refused(csv_root: Path, tmp_path_factory: Any) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "person.csv"
    elsewhere.write_bytes(csv_bytes(ROWS))
    (csv_root / "exports" / "link.csv").symlink_to(elsewhere)
    with pytest.raises(MappingError, match="outside the adapter's root"):
        open_file(csv_root, {**CSV_MAPPING, "file": "exports/link.csv"})


def test_the_configuration_names_a_root() -> None:
    with pytest.raises(MappingError, match="root"):
        CsvAdapter.from_config("export", parse_mapping(CSV_MAPPING), {})


# -- CSV ----------------------------------------------------------------------------------------


def test_quoted_cells_hold_delimiters_quotes_and_line_breaks(tmp_path: Path) -> None:
    twice = "330102200001010011"
    lines = [
        ",".join(COLUMNS),
        f'{twice},王五,1,20000101,"杭州市, 上城区\r\n""清波街""",1,2026-01-03 08:00:00,',
        "",
        f"{GOOD},张三,2,19491231,北京,1,2026-01-01 08:00:00,",
    ]
    write(tmp_path, "person.csv", "\r\n".join(lines).encode("gbk"))
    adapter = open_file(tmp_path, CSV_MAPPING)
    record = adapter.fetch(twice, ["name", "registered_address"])
    assert record is not None
    assert record.values == {"name": "王五", "registered_address": '杭州市, 上城区\r\n"清波街"'}
    after = adapter.fetch(GOOD, ["sex"])
    assert after is not None
    assert after.values == {"sex": "female"}
    adapter.close()


@pytest.mark.parametrize("charset", ["utf-8", "gb18030", "gbk"])
def test_each_charset_reads_its_own_bytes(tmp_path: Path, charset: str) -> None:
    name = "𠀀三" if charset != "gbk" else "张三"
    bom = b"\xef\xbb\xbf" if charset == "utf-8" else b""  # what Excel writes before the header
    row = f"{GOOD},{name},2,19491231,北京,1,,\n".encode(charset)
    content = bom + ",".join(COLUMNS).encode() + b"\n" + row
    write(tmp_path, "person.csv", content)
    adapter = open_file(tmp_path, {**CSV_MAPPING, "charset": charset})
    record = adapter.fetch(GOOD, ["name"])
    assert record is not None
    assert record.values == {"name": name}
    adapter.close()


def test_a_header_column_named_twice_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "person.csv", csv_bytes(ROWS).replace(b"BZ", b"XB", 1))
    with pytest.raises(MappingError, match="twice"):
        open_file(tmp_path, CSV_MAPPING)


def test_a_csv_mapping_locates_by_column(csv_root: Path) -> None:
    document = {**CSV_MAPPING, "key": {"start": 0, "length": 18}}
    with pytest.raises(MappingError, match="header column"):
        open_file(csv_root, document)
    with pytest.raises(MappingError, match="format"):
        open_file(csv_root, {**CSV_MAPPING, "format": "fixed_width"})


def test_a_short_row_is_a_data_error(tmp_path: Path) -> None:
    write(tmp_path, "person.csv", ",".join(COLUMNS).encode() + f"\n{GOOD},张三,2\n".encode("gbk"))
    document = {k: v for k, v in CSV_MAPPING.items() if k not in {"watermark", "as_of"}}
    adapter = open_file(tmp_path, document)
    with pytest.raises(SourceDataError, match="too few cells"):
        adapter.fetch(GOOD, ["registered_address"])
    record = adapter.fetch(GOOD, ["sex"])
    assert record is not None
    adapter.close()


def test_a_line_over_the_limit_is_refused_not_read(tmp_path: Path) -> None:
    rows = [person(GOOD, address="长" * 400), person(SENTINEL)]
    write(tmp_path, "person.csv", csv_bytes(rows))
    adapter = open_file(tmp_path, CSV_MAPPING, max_line_bytes=300)
    with pytest.raises(SourceLimitExceeded, match="300 bytes"):
        adapter.fetch(GOOD, ["sex"])
    assert adapter.fetch(SENTINEL, ["sex"]) is not None
    adapter.close()


def test_after_a_bad_record_the_next_one_starts_where_it_should(tmp_path: Path) -> None:
    long_quoted = '"' + "长\n" * 200 + '""引号"""'  # over the limit, quotes and lines inside
    stray = "a\rb"  # a bare carriage return in an unquoted cell: the csv module refuses it
    lines = [
        ",".join(COLUMNS),
        f"{GOOD},张三,2,19491231,{long_quoted},1,2026-01-01 08:00:00,",
        f"{SENTINEL},李四,1,00000000,无,0,2026-01-02 08:00:00,",
        f"{TWICE},王五,1,20000101,{stray},1,2026-01-03 08:00:00,",
        f"{NEGATIVE},钱七,1,19700707,杭州,5,2026-01-04 08:00:00,",
    ]
    write(tmp_path, "person.csv", "\n".join(lines).encode("gbk"))
    adapter = open_file(tmp_path, CSV_MAPPING, max_line_bytes=300)
    with pytest.raises(SourceLimitExceeded):
        adapter.fetch(GOOD, ["sex"])
    with pytest.raises(SourceDataError, match="malformed"):
        adapter.fetch(TWICE, ["sex"])
    for subject, sex in ((SENTINEL, "male"), (NEGATIVE, "male")):
        record = adapter.fetch(subject, ["sex"])
        assert record is not None
        assert record.values == {"sex": sex}
    adapter.close()


# -- fixed width --------------------------------------------------------------------------------


def test_spans_are_bytes_of_the_encoded_line() -> None:
    line = fixed_width_line(ROWS[0])
    assert len(line) == 152
    assert line[18:22] == "张三".encode("gbk")  # two bytes a character


def test_a_span_that_cuts_a_character_in_half_is_undecodable(tmp_path: Path) -> None:
    write(tmp_path, "person.txt", fixed_width_bytes(ROWS))
    fields = {**FIXED_WIDTH_MAPPING["fields"], "name": {"start": 19, "length": 19}}
    adapter = open_file(tmp_path, {**FIXED_WIDTH_MAPPING, "fields": fields})
    with pytest.raises(SourceDataError, match="undecodable byte"):
        adapter.fetch(GOOD, ["name"])
    adapter.close()


def test_a_fixed_width_mapping_locates_by_span(tmp_path: Path) -> None:
    write(tmp_path, "person.txt", fixed_width_bytes(ROWS))
    with pytest.raises(MappingError, match="byte span"):
        open_file(tmp_path, {**FIXED_WIDTH_MAPPING, "key": {"column": "GMSFHM"}})


def test_trimmed_trailing_padding_reads_as_no_value(tmp_path: Path) -> None:
    line = fixed_width_line(ROWS[0])[:132].rstrip() + b"\r\n"
    write(tmp_path, "person.txt", fixed_width_bytes(ROWS[1:]) + line)
    fields = {**FIXED_WIDTH_MAPPING["fields"], "remark": {"start": 132, "length": 20}}
    adapter = open_file(tmp_path, {**FIXED_WIDTH_MAPPING, "fields": fields})
    record = adapter.fetch(GOOD, ["name", "remark"])
    assert record is not None
    assert record.values == {"name": "张三", "remark": None}
    adapter.close()


def test_describe_names_the_spans(tmp_path: Path) -> None:
    write(tmp_path, "person.txt", fixed_width_bytes(ROWS))
    adapter = open_file(tmp_path, FIXED_WIDTH_MAPPING)
    table = adapter.describe().table("exports/person.txt")
    assert table is not None
    assert {"bytes 0+18", "bytes 18+20", "bytes 113+19", "line"} <= table.column_names()
    assert isinstance(adapter, FixedWidthAdapter)
    adapter.close()


# -- changes ------------------------------------------------------------------------------------


def test_changes_come_in_watermark_order_whatever_the_file_order(tmp_path: Path) -> None:
    subjects = [f"33010219900101{n:04d}" for n in range(6)]
    days = [5, 1, 6, 2, 4, 3]
    rows = [person(s, day=d) for s, d in zip(subjects, days, strict=True)]
    write(tmp_path, "person.csv", csv_bytes(rows))
    adapter = open_file(tmp_path, CSV_MAPPING)
    every = list(adapter.changes(None, ["name"]))
    assert [c.watermark[:10] for c in every] == [f"2026-01-0{d}" for d in range(1, 7)]
    resumed = list(adapter.changes(every[2].watermark, ["name"]))
    assert [c.subject for c in resumed] == [c.subject for c in every[3:]]
    adapter.close()


def test_without_a_watermark_changes_are_snapshots_of_the_file(csv_root: Path) -> None:
    document = {k: v for k, v in CSV_MAPPING.items() if k not in {"watermark", "as_of"}}
    adapter = open_file(csv_root, document)
    every = list(adapter.changes(None, ["birth_date"]))
    assert len(every) == len(ROWS)
    assert len({c.watermark for c in every}) == 1
    mtime = (csv_root / "exports" / "person.csv").stat().st_mtime
    assert datetime.fromisoformat(every[0].watermark).timestamp() == pytest.approx(mtime)
    record = adapter.fetch(GOOD, ["name"])
    assert record is not None
    assert record.as_of == every[0].watermark  # the export's time is the record's as-of time
    assert list(adapter.changes(every[0].watermark, ["birth_date"])) == []

    staged = write(csv_root, "staged.csv", csv_bytes([person(GOOD)]))
    os.utime(staged, (time.time() + 5, time.time() + 5))
    os.replace(staged, csv_root / "exports" / "person.csv")
    again = list(adapter.changes(every[0].watermark, ["birth_date"]))
    assert [c.subject for c in again] == [GOOD]
    adapter.close()


def test_health_needs_the_file(csv_root: Path) -> None:
    adapter = open_file(csv_root, CSV_MAPPING)
    assert adapter.health().ok
    (csv_root / "exports" / "person.csv").unlink()
    report = adapter.health()
    assert not report.ok
    assert report.detail == "unavailable"
    adapter.close()
