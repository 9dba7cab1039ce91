"""The same legacy person records in every source shape the contract suite runs against.

One logical table with a legacy department's habits — pinyin column names, the name in GBK, a
sex code, a YYYYMMDD birth date, a NULL sentinel, a duplicate subject, an undecodable name, an
unknown code and a value that breaks its field's schema — written as an SQL table (conftest), a
GBK CSV export, a GBK fixed-width export (byte spans), and served by a JSON API on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

from catalogue.identifiers import make_resident_id

GOOD = "11010519491231002X"
SENTINEL = "440524188001010014"
TWICE = make_resident_id("330102", date(2000, 1, 1), 1)
UNDECODABLE = make_resident_id("330105", date(1990, 5, 5), 3)
BAD_CODE = make_resident_id("330106", date(1985, 3, 3), 5)
NEGATIVE = make_resident_id("330108", date(1970, 7, 7), 7)

SECRET = "Bearer s3cret-legacy-token"
COLUMNS = ("GMSFHM", "XM", "XB", "CSRQ", "HJDZ", "JFYS", "GXSJ", "BZ")

MAPPING: dict[str, Any] = {
    "kind": "mapping",
    "name": "test/person",
    "adapter": "sql",
    "connection": "legacy",
    "table": "T_PERSON",
    "key": {"column": "GMSFHM"},
    "charset": "gbk",
    "watermark": {"column": "GXSJ"},
    "as_of": {"column": "GXSJ"},
    "fields": {
        "name": {"column": "XM"},
        "sex": {"column": "XB", "codes": {"1": "male", "2": "female"}},
        "birth_date": {"column": "CSRQ", "format": "yyyymmdd", "nulls": ["00000000"]},
        "registered_address": {"column": "HJDZ", "nulls": ["无"]},
        "months_paid": {"column": "JFYS", "format": "integer"},
    },
}

FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "maxLength": 20},
    "sex": {"enum": ["male", "female"]},
    "birth_date": {"type": "string", "format": "date"},
    "registered_address": {"type": "string", "maxLength": 200},
    "months_paid": {"type": "integer", "minimum": 0},
}


def _row(
    subject: str, name: bytes, sex: str, born: str, address: str, months: int, day: int
) -> dict[str, Any]:
    return {
        "GMSFHM": subject,
        "XM": name,
        "XB": sex,
        "CSRQ": born,
        "HJDZ": address,
        "JFYS": months,
        "GXSJ": datetime(2026, 1, day, 8, 0),
        "BZ": None,
    }


ROWS = [
    _row(GOOD, "张三".encode("gbk"), "2", "19491231", "北京市东城区景山前街4号", 120, 1),
    _row(SENTINEL, "李四".encode("gbk"), "1", "00000000", "无", 0, 2),
    _row(TWICE, "王五".encode("gbk"), "1", "20000101", "杭州市上城区", 1, 3),
    _row(TWICE, "王五".encode("gbk"), "1", "20000101", "杭州市拱墅区", 1, 4),
    _row(UNDECODABLE, b"\xff\xfe\xfd", "1", "19900505", "杭州市西湖区", 3, 5),
    _row(BAD_CODE, "赵六".encode("gbk"), "7", "19850303", "杭州市滨江区", 3, 6),
    _row(NEGATIVE, "钱七".encode("gbk"), "1", "19700707", "杭州市萧山区", -5, 7),
]


def relocated(adapter: str, locators: dict[str, dict[str, Any]], **top: Any) -> dict[str, Any]:
    """The SQL mapping with its locators moved (column → span or pointer), same conversions."""
    document = {k: v for k, v in MAPPING.items() if k not in {"connection", "table"}}
    fields = {
        name: {**{k: v for k, v in spec.items() if k != "column"}, **locators[spec["column"]]}
        for name, spec in MAPPING["fields"].items()
    }
    return {
        **document,
        "adapter": adapter,
        "key": locators["GMSFHM"],
        "watermark": locators["GXSJ"],
        "as_of": locators["GXSJ"],
        "fields": fields,
        **top,
    }


def _cells(row: dict[str, Any]) -> dict[str, bytes]:
    """A row's values as the bytes an export holds: GBK text, the name's raw bytes."""
    cells = {c: str(row[c] if row[c] is not None else "").encode("gbk") for c in COLUMNS}
    cells["XM"] = row["XM"]
    cells["GXSJ"] = row["GXSJ"].strftime("%Y-%m-%d %H:%M:%S").encode()
    return cells


# -- CSV ----------------------------------------------------------------------------------------


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    lines = [",".join(COLUMNS).encode()]
    lines += [b",".join(_cells(row).values()) for row in rows]
    return b"\r\n".join(lines) + b"\r\n"


CSV_MAPPING = relocated(
    "csv", {c: {"column": c} for c in COLUMNS}, file="exports/person.csv", format="csv"
)

# -- fixed width --------------------------------------------------------------------------------

SPANS = {
    "GMSFHM": (0, 18),
    "XM": (18, 20),
    "XB": (38, 1),
    "CSRQ": (39, 8),
    "HJDZ": (47, 60),
    "JFYS": (107, 6),
    "GXSJ": (113, 19),
    "BZ": (132, 20),
}
LINE_BYTES = 152


def fixed_width_line(row: dict[str, Any]) -> bytes:
    cells = _cells(row)
    cells["JFYS"] = cells["JFYS"].rjust(SPANS["JFYS"][1])
    return b"".join(cells[c].ljust(SPANS[c][1]) for c in COLUMNS)


def fixed_width_bytes(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(fixed_width_line(row) + b"\n" for row in rows)


FIXED_WIDTH_MAPPING = relocated(
    "fixed_width",
    {c: {"start": s, "length": n} for c, (s, n) in SPANS.items()},
    file="exports/person.txt",
    format="fixed_width",
)

# -- HTTP ---------------------------------------------------------------------------------------

POINTERS = {
    "GMSFHM": "/person/id",
    "XM": "/person/name",
    "XB": "/person/sex",
    "CSRQ": "/person/born",
    "HJDZ": "/hukou/address~1line",
    "JFYS": "/social/months/0",
    "GXSJ": "/updated",
    "BZ": "/remark",
}


def http_mapping(base: str, route: str = "person", **top: Any) -> dict[str, Any]:
    return relocated(
        "http",
        {c: {"pointer": p} for c, p in POINTERS.items()},
        url=f"{base}/{route}/{{subject}}",
        charset=top.pop("charset", "utf-8"),
        **top,
    )


def json_body(rows: list[dict[str, Any]], charset: str = "utf-8") -> bytes:
    """The API's answer; a name that is not GBK goes out as its raw bytes (invalid UTF-8)."""
    documents = [
        {
            "person": {"id": r["GMSFHM"], "name": "@NAME@", "sex": r["XB"], "born": r["CSRQ"]},
            "hukou": {"address/line": r["HJDZ"]},
            "social": {"months": [r["JFYS"]]},
            "updated": r["GXSJ"].isoformat(),
        }
        for r in rows
    ]
    names = [_name_bytes(r["XM"], charset) for r in rows]
    text = json.dumps(documents[0] if len(documents) == 1 else documents, ensure_ascii=False)
    body = text.encode(charset)
    for name in names:
        body = body.replace(b"@NAME@", name, 1)
    return body


def _name_bytes(raw: bytes, charset: str) -> bytes:
    try:
        return raw.decode("gbk").encode(charset)
    except UnicodeDecodeError:
        return raw


class LegacyApi(ThreadingHTTPServer):
    """A department's JSON API: ``/person/<id>`` and routes that misbehave on purpose."""

    daemon_threads = True

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rows = rows
        self.seen: list[str] = []
        self.headers_seen: list[dict[str, str]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LegacyApi:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout, a body over the limit) is expected: quiet."""

    def rows_of(self, subject: str) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["GMSFHM"] == subject]


class _Handler(BaseHTTPRequestHandler):
    server: LegacyApi
    routes: ClassVar[dict[str, str]] = {
        "person": "_person",
        "gbk": "_gbk",
        "slow": "_slow",
        "big": "_big",
        "endless": "_endless",
        "notjson": "_not_json",
        "fail": "_fail",
        "other": "_other",
        "moved": "_moved",
    }

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        route, _, quoted = self.path.lstrip("/").partition("/")
        if route not in self.routes:
            self._send(404, b"{}")
            return
        subject = unquote(quoted, errors="surrogateescape")
        self.server.seen.append(subject)
        self.server.headers_seen.append(dict(self.headers.items()))
        if self.headers.get("Authorization") != SECRET:
            self._send(401, b'{"error": "unauthorised"}')
            return
        getattr(self, self.routes[route])(subject)

    def _person(self, subject: str, charset: str = "utf-8") -> None:
        rows = self.server.rows_of(subject)
        if not rows:
            self._send(404, b'{"error": "not found"}')
            return
        self._send(200, json_body(rows, charset), f"application/json; charset={charset}")

    def _gbk(self, subject: str) -> None:
        self._person(subject, "gbk")

    def _slow(self, subject: str) -> None:
        time.sleep(3)
        self._person(subject)

    def _big(self, subject: str) -> None:
        self._send(200, json.dumps({"filler": "x" * 200_000}).encode())

    def _endless(self, subject: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            for chunk in _endless_json():
                self.wfile.write(chunk)
        except OSError:
            return

    def _not_json(self, subject: str) -> None:
        self._send(200, b"<html><body>\xd5\xfd\xd4\xda\xce\xac\xbb\xa4</body></html>", "text/html")

    def _fail(self, subject: str) -> None:
        self._send(500, b'{"error": "ORA-01017"}')

    def _other(self, subject: str) -> None:
        self._send(200, json_body(self.server.rows_of(GOOD)))

    def _moved(self, subject: str) -> None:
        self.send_response(302)
        self.send_header("Location", f"{self.server.base}/person/{GOOD}")
        self.end_headers()

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _endless_json() -> Iterator[bytes]:
    """About 50 MB of one JSON string with no Content-Length: only a limit stops the reader."""
    yield b'{"filler": "'
    for _ in range(800):
        yield b"x" * 65536
    yield b'"}'


def write_exports(root: Path) -> None:
    exports = root / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    (exports / "person.csv").write_bytes(csv_bytes(ROWS))
    (exports / "person.txt").write_bytes(fixed_width_bytes(ROWS))
