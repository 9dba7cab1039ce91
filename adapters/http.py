"""A department's existing JSON API as a source (kind ``http``), over httpx.

Configuration — where the secret lives, never in a mapping::

    {"auth_header": "Authorization", "auth_value": "<secret>", "base_headers": {...},
     "verify": true | "<CA bundle path>", "proxy": null, "connect_timeout_s": 3.0,
     "health_url": null}

A lookup GETs the mapping's URL template with ``{subject}`` replaced by the percent-encoded
subject (``quote(subject, safe="")``, and dots as ``%2E``: ``/ ? # ' ..`` and everything
else but letters, digits and ``-_~`` are escaped, so a subject is only ever data). The answer:

* 404 → no record; 200 with a JSON object → one record; 200 with a JSON array → one record per
  element (two or more: ``AmbiguousSubject``);
* any other status (3xx included: redirects are not followed, so the auth header never goes to
  another host) or a connection error → ``SourceUnavailable``;
* a body that is not JSON → ``SourceDataError``; a body over the record size limit →
  ``SourceLimitExceeded``, and it is not read past the limit.

Fields are read by JSON pointer (RFC 6901); a pointer that leads nowhere reads as no value. The
key pointer must lead to the subject itself: an answer about anyone else is refused rather than
released. The body is decoded with the mapping's charset (UTF-8 unless the department's API
answers GBK); an undecodable byte inside a JSON string spoils that field only, as it would in a
database column.

An HTTP source has no schema to introspect: :meth:`HttpAdapter.describe` lists the mapping's
pointers, and loading a mapping checks the template and the pointers without a request (a
source that is down is not a wrong mapping). HTTP sources offer lookups only: ``changes``
raises ``MappingError``. Connect and read timeouts come from the limits and the body is read
against the same deadline, so there is nothing to cancel.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from adapters.base import (
    AS_OF,
    AdapterLimits,
    ColumnDescription,
    RawRow,
    SourceAdapter,
    SourceDescription,
    TableDescription,
)
from adapters.errors import (
    MappingError,
    SourceDataError,
    SourceLimitExceeded,
    SourceTimeout,
    SourceUnavailable,
)
from adapters.mapping import MappingProblem, SourceMapping

__all__ = ["HttpAdapter", "HttpConnection", "resolve_pointer"]

_BAD_ESCAPE = re.compile(r"~(?![01])")


@dataclass(frozen=True)
class HttpConnection:
    """How to reach one department's API (adapter configuration; ``headers`` hold the secret)."""

    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    verify: bool | str = True
    proxy: str | None = None
    connect_timeout_s: float = 3.0
    health_url: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HttpConnection:
        headers = {"Accept": "application/json"}
        headers.update({str(k): str(v) for k, v in dict(config.get("base_headers", {})).items()})
        if config.get("auth_value") is not None:
            headers[str(config.get("auth_header", "Authorization"))] = str(config["auth_value"])
        verify = config.get("verify", True)
        return cls(
            headers=headers,
            verify=verify if isinstance(verify, str) else bool(verify),
            proxy=config.get("proxy"),
            connect_timeout_s=float(config.get("connect_timeout_s", 3.0)),
            health_url=config.get("health_url"),
        )


class HttpAdapter(SourceAdapter):
    kind = "http"

    def __init__(
        self,
        name: str,
        mapping: SourceMapping,
        connection: HttpConnection,
        *,
        limits: AdapterLimits | None = None,
        field_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(name, mapping, limits=limits, field_schemas=field_schemas)
        self._template = _checked_template(name, mapping.url)
        _check_pointers(name, mapping)
        parts = urlsplit(self._template)
        self._health_url = connection.health_url or f"{parts.scheme}://{parts.netloc}/"
        self._client = _client(connection, self.limits)

    @classmethod
    def from_config(
        cls,
        name: str,
        mapping: SourceMapping,
        config: Mapping[str, Any],
        *,
        limits: AdapterLimits | None = None,
        field_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> HttpAdapter:
        connection = HttpConnection.from_config(config)
        return cls(name, mapping, connection, limits=limits, field_schemas=field_schemas)

    def check_mapping(self) -> None:
        """Nothing to fetch: the template and the pointers were checked when built."""

    # -- implementation ----------------------------------------------------------------------

    def _fetch(self, subject: str, fields: Sequence[str]) -> list[RawRow]:
        document = self._get_json(self._template.replace("{subject}", _encoded(subject)))
        if document is None:
            return []
        records = document if isinstance(document, list) else [document]
        rows: list[RawRow] = []
        for record in records[: self.row_cap]:
            if not isinstance(record, dict):
                raise SourceDataError(self.name, "the source answered JSON that is not an object")
            self._check_key(record, subject)
            rows.append(self._row(record, fields))
        return rows

    def _changes(self, since: str | None, fields: Sequence[str]) -> Iterator[RawRow]:
        raise MappingError(self.name, "this HTTP source offers lookups only")

    def _describe(self) -> SourceDescription:
        pointers = dict.fromkeys(loc.pointer or "" for loc in self.mapping.locators())
        columns = tuple(ColumnDescription(p, "json") for p in pointers)
        path = urlsplit(self._template).path or "/"
        return SourceDescription(self.name, (TableDescription(path, columns),))

    def _health(self) -> None:
        with self._client.stream("GET", self._health_url) as response:
            status = response.status_code
            if status >= 500:
                raise SourceUnavailable(self.name, f"the source answered HTTP {status}")

    def _close(self) -> None:
        self._client.close()

    # -- helpers -----------------------------------------------------------------------------

    def _get_json(self, url: str) -> Any:
        deadline = time.monotonic() + self.limits.timeout_s
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code != 200:
                    self._drain(response, deadline)
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    status = response.status_code
                    raise SourceUnavailable(self.name, f"the source answered HTTP {status}")
                body = self._body(response, deadline)
        except httpx.TimeoutException:
            within = f"no answer within {self.limits.timeout_s:g} s"
            raise SourceTimeout(self.name, within) from None
        return self._parse(body)

    def _drain(self, response: httpx.Response, deadline: float) -> None:
        """Read a (small) error body to its end so the kept-alive connection can be reused;
        a large or slow one is abandoned and the connection closed instead."""
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.limits.max_record_bytes or time.monotonic() > deadline:
                return

    def _body(self, response: httpx.Response, deadline: float) -> bytes:
        limit = self.limits.max_record_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_big()
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise self._too_big()
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the body took too long")
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, body: bytes) -> Any:
        text = body.decode(self.mapping.charset, "surrogateescape").removeprefix("\ufeff")
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            cause = "the source answered a body that is not JSON"
            raise SourceDataError(self.name, cause) from None

    def _check_key(self, record: Mapping[str, Any], subject: str) -> None:
        key = resolve_pointer(record, self.mapping.key.pointer or "")
        if key is None or isinstance(key, dict | list):
            raise SourceDataError(self.name, "the source answered a record of another subject")
        split = self.mapping.key_split
        keys = str(key).split(split) if split else [str(key)]
        if subject not in {k.strip() for k in keys}:
            raise SourceDataError(self.name, "the source answered a record of another subject")

    def _row(self, record: Mapping[str, Any], fields: Sequence[str]) -> dict[str, object]:
        charset = self.mapping.charset
        row: dict[str, object] = {}
        for name in fields:
            value = resolve_pointer(record, self.mapping.fields[name].locator.pointer or "")
            row[name] = _undecoded(value, charset, name)
        if self.mapping.as_of is not None:
            as_of = resolve_pointer(record, self.mapping.as_of.pointer or "")
            row[AS_OF] = as_of if isinstance(as_of, str | int) else None
        return row

    def _too_big(self) -> SourceLimitExceeded:
        limit = self.limits.max_record_bytes
        return SourceLimitExceeded(self.name, f"the answer is over {limit} bytes")


def _encoded(subject: str) -> str:
    """Every byte but letters, digits and ``-_~`` percent-encoded; dots too, so a subject of
    ``..`` cannot become a dot-segment that walks the URL's path."""
    return quote(subject, safe="").replace(".", "%2E")


def resolve_pointer(document: object, pointer: str) -> object:
    """The value at an RFC 6901 JSON pointer, or None when the pointer leads nowhere."""
    current = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            if token not in current:
                return None
            current = current[token]
        elif isinstance(current, list) and _is_index(token) and int(token) < len(current):
            current = current[int(token)]
        else:
            return None
    return current


def _is_index(part: str) -> bool:
    return part.isascii() and part.isdigit() and (part == "0" or not part.startswith("0"))


def _undecoded(value: object, charset: str, name: str) -> object:
    """A JSON string that held undecodable bytes goes back to those bytes, for the mapping to
    refuse as it refuses an undecodable database column; anything else is passed on."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return value.encode(charset, "surrogateescape")
        except UnicodeEncodeError:
            raise MappingProblem(name, f"field {name!r}: an undecodable byte ({charset})") from None
    return value


def _checked_template(name: str, template: str | None) -> str:
    if not template or "{subject}" not in template:
        raise MappingError(name, "an HTTP mapping names a URL template with {subject}")
    parts = urlsplit(template)
    if parts.username is not None or parts.password is not None:
        raise MappingError(name, "the URL template carries credentials: they belong in config")
    if parts.scheme not in {"http", "https"} or not parts.hostname or "{" in parts.netloc:
        raise MappingError(name, "the URL template is not an http(s) URL with a fixed host")
    try:
        _ = parts.port
    except ValueError:
        raise MappingError(name, "the URL template has a bad port") from None
    return template


def _check_pointers(name: str, mapping: SourceMapping) -> None:
    for locator in mapping.locators():
        if locator.pointer is None:
            raise MappingError(
                name, f"{locator.label!r}: an HTTP mapping locates every value by JSON pointer"
            )
        if _BAD_ESCAPE.search(locator.pointer):
            raise MappingError(name, f"{locator.pointer!r} is not a JSON pointer (RFC 6901)")


def _client(connection: HttpConnection, limits: AdapterLimits) -> httpx.Client:
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=connection.verify)
        if isinstance(connection.verify, str)
        else connection.verify
    )
    timeout = httpx.Timeout(
        limits.timeout_s, connect=min(connection.connect_timeout_s, limits.timeout_s)
    )
    pool = httpx.Limits(
        max_connections=limits.max_concurrency, max_keepalive_connections=limits.max_concurrency
    )
    return httpx.Client(
        headers=dict(connection.headers),
        verify=verify,
        proxy=connection.proxy,
        timeout=timeout,
        limits=pool,
        follow_redirects=False,
        trust_env=False,
    )
