"""Write the demo city into the four departments' legacy stores, streaming, in batches.

``write_legacy_stores(households, targets)`` consumes a household stream once (for example
:func:`exchange.demo.citizens.generate_city`) and fills:

* PSB (公安局): ``T_RK_HJXX`` and ``T_RK_SFZ`` at ``targets.psb_url``;
* HRSS (人社局): ``si_person`` at ``targets.hrss_url``;
* MCA (民政局): ``marriage_registration``, ``death_registration`` and ``dibao_roll`` at
  ``targets.mca_url``, plus the dibao roll as a GBK CSV file at ``targets.dibao_csv``;
* REG (不动产登记中心): the fixed-width GBK export at ``targets.reg_export``.

Any SQLAlchemy URL of SQLite, PostgreSQL or MariaDB/MySQL works for each store, and stores may
share a database. The demo's tables are dropped and recreated first (the demo data is replaced);
rows go in with ``executemany`` batches of ``batch_size`` inside one transaction per database,
committed at the end; files are written line by line to a temporary name and renamed into place
when everything succeeded. Memory stays bounded by the batch size. Table layouts, codes and
sentinels: :mod:`exchange.demo.legacy_schemas`. Nothing here logs personal data.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine
from sqlalchemy.engine import make_url

from exchange.demo._legacy_rows import (
    dibao_csv_row,
    hrss_row,
    mca_rows,
    psb_card_row,
    psb_person_row,
    reg_record,
)
from exchange.demo.legacy_schemas import (
    DESCRIBE,
    DIBAO_CSV_COLUMNS,
    REG_LAYOUT,
    REG_RECORD_BYTES,
    TableSpec,
    build_tables,
)
from exchange.demo.records import Household
from exchange.files import owner_only_directory, owner_only_file, replacing_owner_only

__all__ = [
    "DESCRIBE",
    "REG_LAYOUT",
    "REG_RECORD_BYTES",
    "LegacySummary",
    "LegacyTargets",
    "write_legacy_stores",
]

_HRSS_FIRST_NUMBER: Final = 3_301_000_000_001
"""人社局's person numbers (aac001) start here; PSB numbers (RYID) start at 1."""


@dataclass(frozen=True)
class LegacyTargets:
    """Where each department's legacy store goes: three SQLAlchemy URLs and two files."""

    psb_url: str
    hrss_url: str
    mca_url: str
    reg_export: Path
    """The REG fixed-width export file."""
    dibao_csv: Path
    """The MCA dibao roll CSV export file."""

    @classmethod
    def in_directory(cls, directory: Path) -> LegacyTargets:
        """All stores under *directory*: one SQLite file per department, and the two files."""
        return cls(
            psb_url=f"sqlite:///{directory / 'psb.sqlite'}",
            hrss_url=f"sqlite:///{directory / 'hrss.sqlite'}",
            mca_url=f"sqlite:///{directory / 'mca.sqlite'}",
            reg_export=directory / "reg" / "BDC_FWSYQ.txt",
            dibao_csv=directory / "mca" / "dibao.csv",
        )

    def urls(self) -> Mapping[str, str]:
        return {"PSB": self.psb_url, "HRSS": self.hrss_url, "MCA": self.mca_url}


@dataclass(frozen=True)
class LegacySummary:
    """What was written: households and citizens read, rows per ``DEPT.table`` or file."""

    households: int
    citizens: int
    rows: Mapping[str, int] = field(default_factory=dict)


def write_legacy_stores(
    households: Iterable[Household], targets: LegacyTargets, *, batch_size: int = 5000
) -> LegacySummary:
    """Replace the demo data in every legacy store with *households*; see the module docs."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    databases = _by_database(targets)
    with ExitStack() as stack:
        # Entered first, left last: the files replace the old exports only after every
        # database transaction has committed.
        reg = stack.enter_context(_replacing(targets.reg_export, binary=True))
        dibao = stack.enter_context(_replacing(targets.dibao_csv, binary=False))
        sinks: dict[str, _Batch] = {}
        for url, departments in databases.items():
            specs = {name: spec for d in departments for name, spec in DESCRIBE[d].items()}
            connection, tables = stack.enter_context(_database(url, specs))
            for department in departments:
                for name in DESCRIBE[department]:
                    sinks[f"{department}.{name}"] = _Batch(connection, tables[name], batch_size)
        return _stream(households, sinks, reg, dibao)


def _by_database(targets: LegacyTargets) -> dict[str, list[str]]:
    """Departments grouped by database, so that stores sharing one use one transaction.

    Parsing every URL first also makes a typo fail before anything is dropped.
    """
    groups: dict[str, list[str]] = {}
    for department, url in targets.urls().items():
        groups.setdefault(make_url(url).render_as_string(hide_password=False), []).append(
            department
        )
    return groups


@contextmanager
def _database(
    url: str, specs: Mapping[str, TableSpec]
) -> Iterator[tuple[Connection, dict[str, Table]]]:
    """Recreate the tables, then yield a connection inside one transaction (committed on exit)."""
    engine = _engine(url)
    try:
        metadata = MetaData()
        tables = build_tables(metadata, specs)
        with engine.begin() as connection:
            metadata.drop_all(connection)
            metadata.create_all(connection)
        with engine.begin() as connection:
            yield connection, tables
    finally:
        engine.dispose()


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # A department's records: the store (and the journal SQLite gives its mode) 0600.
        owner_only_directory(Path(parsed.database).parent)
        owner_only_file(Path(parsed.database), create=True)
    return create_engine(parsed)


def _replacing(path: Path, *, binary: bool) -> AbstractContextManager[IO[Any]]:
    """A file (0600, GBK text unless *binary*) written under a temporary name and renamed over
    *path* on success."""
    return replacing_owner_only(path, binary=binary, encoding="gbk", newline="")


class _Batch:
    """Rows for one table, inserted ``size`` at a time with executemany."""

    def __init__(self, connection: Connection, table: Table, size: int) -> None:
        self._connection = connection
        self._table = table
        self._size = size
        self._rows: list[dict[str, Any]] = []
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self._size:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._connection.execute(self._table.insert(), self._rows)
            self.count += len(self._rows)
            self._rows = []


def _stream(
    households: Iterable[Household], sinks: Mapping[str, _Batch], reg: IO[bytes], dibao: IO[str]
) -> LegacySummary:
    """Write every household's rows and lines; flush the last partial batches."""
    counts: Counter[str] = Counter()
    csv_writer = csv.writer(dibao, lineterminator="\r\n")
    csv_writer.writerow(DIBAO_CSV_COLUMNS)
    person = insured = 0
    for household in households:
        counts["households"] += 1
        for citizen in household.members:
            person += 1
            sinks["PSB.T_RK_HJXX"].add(psb_person_row(household, citizen, person))
            if (card := psb_card_row(citizen)) is not None:
                sinks["PSB.T_RK_SFZ"].add(card)
            if (row := hrss_row(citizen, _HRSS_FIRST_NUMBER + insured)) is not None:
                insured += 1
                sinks["HRSS.si_person"].add(row)
            for table, mca_row in mca_rows(household, citizen):
                sinks[f"MCA.{table}"].add(mca_row)
                if table == "dibao_roll":
                    counts["MCA.dibao.csv"] += 1
                    csv_writer.writerow(dibao_csv_row(counts["MCA.dibao.csv"], mca_row))
        for prop in household.properties:
            reg.write(reg_record(prop) + b"\r\n")
            counts["REG.export"] += 1
    for sink in sinks.values():
        sink.flush()
    rows = {name: sink.count for name, sink in sinks.items()}
    rows["REG.export"] = counts["REG.export"]
    rows["MCA.dibao.csv"] = counts["MCA.dibao.csv"]
    return LegacySummary(counts["households"], person, rows)
