"""The limit: the least a Python app must do for one query, as :mod:`bench.exchange_query`
serves it (a benchmark helper, run as a child; never part of the product).

``python -m bench._limit_app --hub-url URL --adapters FILE --resource-mapping NAME`` binds
127.0.0.1 on an ephemeral port, prints the port as the first line on stdout and serves, with
uvicorn and FastAPI as the hub does (no access log), one route, ``POST /limit/query``, which does
this job's irreducible work and nothing else:

1. verify the caller's hub access token (the ``Authorization: Bearer`` JWT, Ed25519, signed by
   the hub: signature, ``exp``, ``iss``), with the hub's public keys fetched once at start from
   its JWKS;
2. read the asked fields of the subject's row from the department's SQLite file with the bare
   driver (one connection per thread; table, key, columns and the text's charset from the
   demo's adapter mapping), decoding the legacy text;
3. sign the answer as an Ed25519 JWS (a key made at start);
4. append one audit row (the request's id, system, subject hash, fields, answer hash) durably
   before answering, group-committed: the first waiting request leads, commits everyone
   waiting in one transaction of a SQLite file in WAL mode with ``synchronous=FULL`` (as the
   hub's database is), and wakes them.

No catalogue, policy decision, agreement or consent check, pseudonym, Merkle tree, release
shaping or schema validation: so the hub's time over this app's is what its guarantees and its
own layers cost. ``GET /readyz`` answers 200 once it serves.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import sqlite3
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Header, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field


class LimitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=32)
    fields: list[str] = Field(min_length=1)


class GroupCommit:
    """Audit rows, durable before anyone is answered: leader/follower batches."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS audit (id TEXT PRIMARY KEY, recorded_at REAL, "
            "system TEXT, subject BLOB, fields TEXT, answer BLOB)"
        )
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._waiting: list[tuple[Any, ...]] = []
        self._committed = 0
        self._queued = 0
        self._leading = False

    def append(self, row: tuple[Any, ...]) -> None:
        with self._lock:
            self._waiting.append(row)
            self._queued += 1
            mine = self._queued
            while self._committed < mine:
                if not self._leading:
                    self._leading = True
                    batch, self._waiting = self._waiting, []
                    self._lock.release()
                    try:
                        self._write(batch)
                    finally:
                        self._lock.acquire()
                        self._leading = False
                    self._committed += len(batch)
                    self._done.notify_all()
                else:
                    self._done.wait()

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)", batch)
        self._db.execute("COMMIT")


def build_app(hub_url: str, adapters_file: Path, mapping_name: str, workdir: Path) -> FastAPI:
    issuer = httpx.get(f"{hub_url}/.well-known/oauth-authorization-server", timeout=10).json()[
        "issuer"
    ]
    keys = httpx.get(f"{hub_url}/.well-known/jwks.json", timeout=10).json()["keys"]
    public = {k["kid"]: jwt.PyJWK(k) for k in keys}
    adapters = json.loads(adapters_file.read_text("utf-8"))
    mapping = adapters["mappings"][mapping_name]
    database = adapters["connections"][mapping["connection"]]["url"].removeprefix("sqlite:///")
    table, key_column = mapping["table"], mapping["key"]["column"]
    columns = {name: spec["column"] for name, spec in mapping["fields"].items()}
    charset = mapping.get("charset", "utf-8")  # the legacy store's text, as its adapter reads it
    signing = Ed25519PrivateKey.generate()
    audit = GroupCommit(workdir / "limit-audit.db")
    local = threading.local()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "db"):
            local.db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        db: sqlite3.Connection = local.db
        return db

    def query(body: LimitBody, authorization: str = Header(default="")) -> Response:
        token = authorization.removeprefix("Bearer ")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            claims = jwt.decode(
                token,
                public[kid],
                algorithms=["EdDSA"],
                issuer=issuer,
                options={"verify_aud": False, "require": ["exp", "iss", "sub"]},
            )
        except (jwt.PyJWTError, KeyError):
            raise HTTPException(401) from None
        wanted = [columns[f] for f in body.fields]
        listed = ", ".join(f'"{c}"' for c in wanted)
        row = (
            connection()
            .execute(f'SELECT {listed} FROM "{table}" WHERE "{key_column}" = ?', (body.subject,))  # noqa: S608 - column names from the mapping file
            .fetchone()
        )
        values = {
            f: v.decode(charset) if isinstance(v, bytes) else v
            for f, v in zip(body.fields, row or (), strict=False)
        }
        signed = jwt.encode({"sub": claims["sub"], "values": values}, signing, algorithm="EdDSA")
        subject = hashlib.sha256(body.subject.encode()).digest()
        answer = hashlib.sha256(signed.encode()).digest()
        fields = ",".join(body.fields)
        audit.append((str(uuid.uuid4()), time.time(), claims["sub"], subject, fields, answer))
        return Response(json.dumps({"evidence": signed}), media_type="application/json")

    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    app.add_api_route("/limit/query", query, methods=["POST"])
    app.add_api_route("/readyz", readyz, methods=["GET"])
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub-url", required=True)
    parser.add_argument("--adapters", type=Path, required=True)
    parser.add_argument("--resource-mapping", default="psb/household")
    args = parser.parse_args(argv)
    app = build_app(args.hub_url, args.adapters, args.resource_mapping, Path.cwd())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
