"""Federation benchmark: a query relayed by a city hub to the province hub that holds the data,
against the same query answered by the province hub directly; and a change event crossing the
two hubs (回流) against the same event delivered by the province to its own system.

Run: ``.venv/bin/python -m bench.federation [--queries 200] [--citizens 150]``, and for events
``.venv/bin/python -m bench.federation --events 10 --burst 100``.

What it does (two ``tongban serve`` processes on loopback, each with its own SQLite database,
set up with ``tongban`` commands exactly as docs/federation.md walks through):

1. **province**: ``tongban demo`` (the demo world); it registers the city hub as a system
   (``city-hub``) and as a consumer peer;
2. **city**: a bare hub with one case system (``city-edu``); it registers the province as a
   source peer (keys pinned) and harvests its catalogue;
3. the same query, ``household.name`` and ``household.registered_address`` of one of the demo's
   subjects for ``school-enrolment``, ``--queries`` times each (after 20 warm-up queries each),
   one at a time, direct and relayed taking turns so that both see the same load, with one
   access token per system:

   * **direct**: ``edu-enrolment`` asks the province;
   * **relayed**: ``city-edu`` asks the city, which decides, relays to the province (as
     ``city-hub``, on behalf of ``city-edu``), verifies the province's evidence and audit receipt
     with the pinned keys, audits, and signs its own evidence with the province's inside;

4. prints medians, p90 and the ratio, and writes ``bench/results/federation.json``.

With ``--events N``, after the same set-up, two subscriptions to ``death.deceased`` of the same
pensioners, both with a webhook on a receiver in this process: **local**, ``edu-enrolment`` at
the province; **cross-hub**, ``city-edu`` at the city (held at the province by the city hub,
pulled, verified and re-released by the city). Then:

* **latency**: N deaths registered one at a time in civil affairs' store (as
  ``tongban demo-register-death`` does), each timed from its commit to its arrival at each
  webhook; the hubs' jobs run on their own schedules (province changes every 5 s, deliveries and
  the city's feed every 2 s), so the figure is dominated by where in those periods a change
  falls: the medians are what a case system waits;
* **throughput**: ``--burst`` deaths registered at once, timed from the commit to the last of
  them at each webhook (events per second end to end).

It writes ``bench/results/federation-events.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt

from bench._common import format_table, machine_note, write_result

TONGBAN = shutil.which("tongban", path=str(Path(sys.executable).parent)) or "tongban"
PURPOSE = "school-enrolment"
ATTRIBUTES = ["household.name", "household.registered_address"]
WARM_UP = 20


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(url: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("TONGBAN_")}
    return {**kept, "TONGBAN_MODE": "dev", "TONGBAN_PUBLIC_URL": url}


def _run(workdir: Path, url: str, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own console script, our own arguments
        [TONGBAN, *args], cwd=workdir, env=_env(url), capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise SystemExit(f"tongban {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@contextmanager
def _serving(workdir: Path, url: str) -> Iterator[None]:
    port = url.rsplit(":", 1)[1]
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [TONGBAN, "serve", "--port", port],
        cwd=workdir,
        env=_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"the hub at {url} did not come up")
        yield
    finally:
        process.terminate()
        process.wait(timeout=15)


def _token(base: str, system: str, key_file: Path) -> str:
    jwk = json.loads(key_file.read_text("utf-8"))
    now = int(time.time())
    claims = {
        "iss": system,
        "sub": system,
        "aud": f"{base}/oauth/token",
        "iat": now,
        "exp": now + 60,
        "jti": os.urandom(12).hex(),
    }
    key = jwt.PyJWK(jwk)
    assertion = jwt.encode(claims, key, algorithm=key.algorithm_name, headers={"kid": jwk["kid"]})
    response = httpx.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def _timed_queries(asks: list[tuple[str, str]], subject: str, count: int) -> list[list[float]]:
    """Each of *asks* (base URL, token) asked the same query *count* times, taking turns, so
    that every one of them sees the machine as loaded as the others."""
    body: dict[str, Any] = {
        "subject": {"id_type": "CN-RIC", "id": subject},
        "purpose": PURPOSE,
        "attributes": ATTRIBUTES,
    }
    clients = [
        (base, httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30))
        for base, token in asks
    ]
    samples: list[list[float]] = [[] for _ in asks]
    try:
        for n in range(WARM_UP + count):
            for (base, http), taken in zip(clients, samples, strict=True):
                started = time.perf_counter()
                response = http.post(f"{base}/exchange/query", json=body)
                elapsed = time.perf_counter() - started
                if response.status_code != 200 or len(response.json()["attributes"]) != 2:
                    raise SystemExit(f"{base}: {response.status_code} {response.text[:300]}")
                if n >= WARM_UP:
                    taken.append(elapsed)
    finally:
        for _, http in clients:
            http.close()
    return samples


def _set_up(root: Path, citizens: int) -> tuple[Path, str, Path, str]:
    province, city = root / "province", root / "city"
    province.mkdir()
    city.mkdir()
    p_url, c_url = f"http://127.0.0.1:{_port()}", f"http://127.0.0.1:{_port()}"
    _run(province, p_url, "demo", "--citizens", str(citizens))
    (city / "dept.yaml").write_text("kind: department\ncode: CEDU\nname: 市教育局\n", "utf-8")
    (province / "cityhub.yaml").write_text(
        "kind: department\ncode: CITYHUB\nname: 市级政务数据共享枢纽\n", "utf-8"
    )
    for kid in ("city-edu", "city-hub"):
        _run(city, c_url, "peers", "keygen", "--kid", kid, "--out", "keys")
    _run(city, c_url, "catalogue", "publish", "dept.yaml")
    _run(city, c_url, "system", "add", "--id", "city-edu", "--department", "CEDU",
         "--jwk", "keys/city-edu.pub.jwk", "--purpose", PURPOSE)  # fmt: skip
    _run(province, p_url, "catalogue", "publish", "cityhub.yaml")
    _run(province, p_url, "system", "add", "--id", "city-hub", "--department", "CITYHUB",
         "--jwk", str(city / "keys/city-hub.pub.jwk"), "--purpose", PURPOSE)  # fmt: skip
    return province, p_url, city, c_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--citizens", type=int, default=150)
    parser.add_argument("--events", type=int, default=0, help="time N events instead")
    parser.add_argument("--burst", type=int, default=100, help="events registered at once")
    args = parser.parse_args(argv)
    if args.events:
        from bench.federation_events import run_events

        return run_events(args.events, args.burst, args.citizens)
    with tempfile.TemporaryDirectory(prefix="tongban-federation-") as tmp:
        province, p_url, city, c_url = _set_up(Path(tmp), args.citizens)
        with _serving(province, p_url), _serving(city, c_url):
            _run(province, p_url, "peers", "add", "--id", "city", "--url", c_url,
                 "--consumer-system", "city-hub")  # fmt: skip
            _run(city, c_url, "peers", "add", "--id", "province", "--url", p_url,
                 "--client-id", "city-hub", "--key", "keys/city-hub.jwk")  # fmt: skip
            _run(city, c_url, "peers", "harvest", "province")
            manifest = json.loads((province / "var/demo/demo.json").read_text("utf-8"))
            subject = manifest["subjects"][0]["id"]
            direct_token = _token(
                p_url, "edu-enrolment", province / "var/demo/keys/edu-enrolment.jwk"
            )
            city_token = _token(c_url, "city-edu", city / "keys/city-edu.jwk")
            direct, relayed = _timed_queries(
                [(p_url, direct_token), (c_url, city_token)], subject, args.queries
            )
    result = _report(direct, relayed)
    result["machine"] = machine_note()
    print(f"\nwrote {write_result('federation', result)}")
    return 0


def _report(direct: list[float], relayed: list[float]) -> dict[str, Any]:
    def stats(samples: list[float]) -> dict[str, float]:
        ordered = sorted(samples)
        return {
            "median_ms": statistics.median(ordered) * 1000,
            "p90_ms": ordered[int(len(ordered) * 0.9) - 1] * 1000,
            "mean_ms": statistics.fmean(ordered) * 1000,
        }

    d, r = stats(direct), stats(relayed)
    ratio = r["median_ms"] / d["median_ms"]
    rows = [
        [name, str(len(s)), f"{v['median_ms']:.1f}", f"{v['p90_ms']:.1f}", f"{v['mean_ms']:.1f}"]
        for name, s, v in (("direct (province)", direct, d), ("relayed (city)", relayed, r))
    ]
    print(format_table(["query", "n", "median ms", "p90 ms", "mean ms"], rows))
    print(f"relayed / direct (medians): {ratio:.2f}x")
    return {"direct": d, "relayed": r, "ratio_median": ratio, "queries": len(direct)}


if __name__ == "__main__":
    sys.exit(main())
