"""``gm`` against ``intl`` end to end: the same operations over real HTTP on two demo hubs served
side by side, one per crypto profile (docs/gm.md, "What gm costs").

Run: ``./dev bench gm [--citizens 50] [--runs 60] [--seconds 60] [--quick]`` (or
``.venv/bin/python -m bench.gm ...``).

What it does: builds two demo worlds (``tongban demo``, ``--citizens`` people, one with
``TONGBAN_CRYPTO_PROFILE=gm``) and serves each with ``tongban serve`` on 127.0.0.1 (the test
suite's :func:`tests.servers.demo_hub`); then times, for each hub, in interleaved rounds (every
operation of both hubs once per round, the order rotating,
:func:`bench._common.measure_interleaved`):

* **token**: ``POST /oauth/token`` with a client assertion made before timing (the demo case
  system's key: Ed25519 under ``intl``, SM2 under ``gm``): the assertion checked, an access
  token signed (EdDSA or SM2SM3);
* **query, remembered token**: ``POST /exchange/query`` for ``household.name`` (one department)
  with a token the hub has verified before: the policy, the fetch, one audit append (SHA-256 or
  SM3 leaf and nodes, the subject map, the batch's signed receipt note), the evidence signed;
* **query, new token**: the same with a token never used before (fetched before timing): the
  query plus the token's first verification (Ed25519 or SM2);
* **checkpoint**: ``POST /audit/checkpoint`` as the auditor after the log grew: a consistency
  proof from the stored tree and a signed checkpoint note (Ed25519 or SM2; no witness).

It prints each operation's median and p99 per profile and the ``gm``/``intl`` ratio of the
medians, and writes ``bench/results/gm.json``. Both hubs share the machine and are measured in
the same rounds, so the ratios hold on a loaded machine better than the absolute times do.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench._common import (
    Budget,
    Stats,
    format_table,
    machine_note,
    measure_interleaved,
    write_result,
)

PROFILES = ("intl", "gm")
EDU = "edu-enrolment"
ASK = {"purpose": "school-enrolment", "attributes": ["household.name"]}


class Driver:
    """One served hub and the requests the bench makes of it."""

    def __init__(self, hub: Any) -> None:
        from exchange.security.gm import jws
        from tests import factories

        jws.register()  # a gm demo's case systems sign their assertions with SM2SM3

        self.hub = hub
        self._factories = factories
        self.client = httpx.Client(base_url=hub.base, timeout=60, trust_env=False)
        self.subjects = [s["id"] for s in hub.manifest["subjects"]]
        self.turn = 0
        self.token = self.new_token()
        self.auditor = hub.id_token("AUD-001", "auditor")
        self.fresh: list[str] = []

    def assertion(self) -> dict[str, str]:
        url = f"{self.hub.base}/oauth/token"
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self._factories.client_assertion(self.hub.key(EDU), EDU, url),
        }

    def new_token(self) -> str:
        answer = self.client.post("/oauth/token", data=self.assertion())
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def token_operation(self) -> Callable[[], object]:
        prepared: Iterator[dict[str, str]] = iter([])

        def issue() -> object:
            nonlocal prepared
            form = next(prepared, None)
            if form is None:
                prepared = iter([self.assertion() for _ in range(20)])
                form = next(prepared)
            return self.client.post("/oauth/token", data=form).raise_for_status()

        return issue

    def query(self, token: str) -> None:
        self.turn += 1
        subject = self.subjects[self.turn % len(self.subjects)]
        body = {"subject": {"id_type": "CN-RIC", "id": subject}, **ASK}
        answer = self.client.post(
            "/exchange/query", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        answer.raise_for_status()

    def query_with_remembered_token(self) -> None:
        self.query(self.token)

    def query_with_new_token(self) -> None:
        if not self.fresh:
            self.fresh = [self.new_token() for _ in range(20)]
        self.query(self.fresh.pop())

    def checkpoint(self) -> None:
        """The queries of the same round have grown the log since the last checkpoint."""
        answer = self.client.post(
            "/audit/checkpoint", headers={"Authorization": f"Bearer {self.auditor}"}
        )
        answer.raise_for_status()


def run(citizens: int, budget: Budget) -> dict[str, dict[str, Stats]]:
    from tests.servers import demo_hub

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="tongban-bench-gm-") as tmp:
        drivers: dict[str, Driver] = {}
        for profile in PROFILES:
            workdir = Path(tmp) / profile
            served = (
                demo_hub(workdir, citizens=citizens, TONGBAN_CRYPTO_PROFILE="gm")
                if profile == "gm"
                else demo_hub(workdir, citizens=citizens)
            )
            hub = stack.enter_context(served)
            drivers[profile] = Driver(hub)
        operations: dict[str, Callable[[], object]] = {}
        for profile, driver in drivers.items():
            operations[f"token {profile}"] = driver.token_operation()
            operations[f"query {profile}"] = driver.query_with_remembered_token
            operations[f"query, new token {profile}"] = driver.query_with_new_token
            operations[f"checkpoint {profile}"] = driver.checkpoint
        stats = measure_interleaved(operations, budget)
    by_operation: dict[str, dict[str, Stats]] = {}
    for name, stat in stats.items():
        operation, _, profile = name.rpartition(" ")
        by_operation.setdefault(operation, {})[profile] = stat
    return by_operation


def report(results: dict[str, dict[str, Stats]]) -> str:
    rows = []
    for operation, stats in results.items():
        intl, gm = stats["intl"], stats["gm"]
        rows.append(
            [
                operation,
                f"{intl.p50_ms:.2f} ms (p99 {intl.p99_ms:.1f})",
                f"{gm.p50_ms:.2f} ms (p99 {gm.p99_ms:.1f})",
                f"{gm.p50_ms / intl.p50_ms:.2f}",
            ]
        )
    return format_table(["operation", "intl median", "gm median", "gm/intl"], rows)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--citizens", type=int, default=50, help="people in each demo world")
    parser.add_argument("--runs", type=int, default=60, help="timed rounds at most")
    parser.add_argument("--seconds", type=float, default=60.0, help="time limit of the rounds")
    parser.add_argument("--quick", action="store_true", help="a few rounds, to see it run")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers, tests.factories
    budget = (
        Budget(runs=5, seconds=10, warmup=2, min_runs=3)
        if args.quick
        else Budget(runs=args.runs, seconds=args.seconds, warmup=5)
    )
    results = run(args.citizens, budget)
    print(report(results))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    data = {
        "machine": machine_note(),
        "load_average": os.getloadavg(),
        "citizens": args.citizens,
        "results": {op: {p: s.as_dict() for p, s in st.items()} for op, st in results.items()},
    }
    out = write_result("gm-quick" if args.quick else "gm", data)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
