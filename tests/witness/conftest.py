"""Fixtures of the witness tests: a state on each backend (an SQLite file; a PostgreSQL
database of this worker's, shared by the tests, each of which uses logs of its own), and an
in-process witness over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.audit.checkpoint import parse_vkey
from exchange.audit.cosignature import Cosigner
from exchange.witness.logs import TrustedLogs
from exchange.witness.service import Witness
from exchange.witness.state import WitnessState
from tests.conftest import POSTGRES_ENV, throwaway_database
from tests.witness.helpers import FakeLog

WITNESS_NAME = "witness.test/w1"

MakeWitness = Callable[..., Witness]


@pytest.fixture(scope="session")
def _witness_postgres() -> Iterator[str]:
    with throwaway_database(POSTGRES_ENV, "PostgreSQL tests") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a witness keeps its state: a new SQLite file, or this worker's PostgreSQL
    database."""
    if request.param == "sqlite":
        return str(tmp_path / "witness" / "state.db")
    url: str = request.getfixturevalue("_witness_postgres")
    return url


@pytest.fixture
def make_witness(state_target: str) -> Iterator[MakeWitness]:
    """``make_witness(*logs, clock=…, cosigner=…)``: a witness trusting *logs*, on the test's
    state (each call opens it afresh, as a restarted witness would)."""
    opened: list[WitnessState] = []
    default = Cosigner(WITNESS_NAME, Ed25519PrivateKey.generate())

    def make(*logs: FakeLog, clock: Callable[[], float] | None = None, **kw: object) -> Witness:
        cosigner = kw.get("cosigner", default)
        assert isinstance(cosigner, Cosigner)
        trusted = TrustedLogs.of(parse_vkey(log.vkey()) for log in logs)
        state = WitnessState.open(state_target)
        opened.append(state)
        if clock is None:
            return Witness(cosigner, trusted, state)
        return Witness(cosigner, trusted, state, clock=clock)

    yield make
    for state in opened:
        state.close()
