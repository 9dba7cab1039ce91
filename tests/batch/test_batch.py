"""The batch channel end to end: an approved agreement naming the batch channel, a case system
registering an X25519 key, an extract of the agreed fields for the people it names, the hub's
signed manifest verified against its JWKS, every chunk's digest checked and the chunk decrypted
with joserfc (a JOSE implementation independent of the hub's), each person's access in their
own access list, the delivery clock stopped, expiry deleting the chunks; and the refusals."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from joserfc import jwe
from joserfc.jwk import OKPKey
from sqlalchemy.orm import Session, sessionmaker

from exchange.app import create_app
from exchange.batch.errors import BatchGmUnsupported
from exchange.batch.service import BatchDesk, BatchLimits, ExtractAsk, delete_expired
from exchange.db import unit_of_work
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.security.clientauth import SystemPrincipal
from exchange.security.identity import Role
from exchange.settings import Settings
from tests.exchange.world import EDU, MCA, Hub, Person
from tests.profiles import only_under

DIBAO = "MCA-DB-0001"
PROBLEM = "application/problem+json"


NO_BATCH_UNDER_GM = only_under(
    "intl",
    "a gm hub offers no batch extracts (their JWE is ECDH-ES with A256GCM; docs/gm.md item 10):"
    " test_under_the_gm_profile_no_extract_is_made checks the refusal",
)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("city"), citizens=60, seed=11)


@pytest.fixture
def hub(
    database_url: str, sessions: sessionmaker[Session], city: LegacyWorld, live_demo_world: Path
) -> Iterator[Hub]:
    settings = Settings(
        database_url=database_url,
        mode="dev",
        adapters_file=city.adapters_file,
        batch_chunk_subjects=2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Hub(client, live_demo_world, sessions)


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    answer: dict[str, Any] = response.json()
    assert answer["code"] == code, answer
    return answer


def agreement(hub: Hub, modes: list[str], fields: tuple[str, ...] = ("receiving", "since")) -> str:
    """An agreement for school enrolment over the dibao register, approved by MCA."""
    body = {
        "system": EDU,
        "resource": DIBAO,
        "fields": list(fields),
        "purpose": "school-enrolment",
        "legal_basis": "《中华人民共和国义务教育法》第十二条",
        "justification": "入学登记核验低保家庭，减免相关费用。",
        "valid_until": (datetime.now(UTC).date() + timedelta(days=300)).isoformat(),
        "use": {
            "scenario": {"description": "义务教育入学登记费用减免"},
            "scope": {"population": "named", "description": "本学期申请入学儿童的监护人"},
            "sharing_modes": modes,
        },
    }
    filed = Person(hub, "edu-sharing", Role.SHARING_OFFICER, "EDU").post("/agreements", body)
    assert filed.status_code == 201, filed.text
    decision = {"decision": "approve", "fields": list(fields)}
    mca = Person(hub, "mca-sharing", Role.SHARING_OFFICER, "MCA")
    approved = mca.post(f"/agreements/{filed.json()['id']}/decision", decision)
    assert approved.status_code == 200, approved.text
    agreement_id: str = filed.json()["id"]
    return agreement_id


def people(city: LegacyWorld, count: int) -> list[str]:
    return [s.id_number for s in city.subjects[:count]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@NO_BATCH_UNDER_GM
def test_an_extract_is_signed_encrypted_audited_and_resumable(hub: Hub, city: LegacyWorld) -> None:
    agreement_id = agreement(hub, ["batch"])
    system = {"authorization": f"Bearer {hub.token(EDU)}"}
    key = OKPKey.generate_key("X25519", private=True)
    public = {**key.as_dict(private=False), "kid": "edu-batch-1", "use": "enc"}
    registered = hub.client.post("/batch/keys", json=public, headers=system)
    assert registered.status_code == 201, registered.text
    named = people(city, 3)
    ask = {
        "agreement": agreement_id,
        "purpose": "school-enrolment",
        "subjects": [{"id_type": "CN-RIC", "id": n} for n in named],
        "key": "edu-batch-1",
    }
    made = hub.client.post("/batch/extracts", json=ask, headers=system)
    assert made.status_code == 201, made.text
    extract = made.json()
    assert len(extract["chunks"]) == 2  # 2 people per chunk
    assert not [n for n in named if n in made.text]  # nobody in the clear

    jwks = hub.client.get("/.well-known/jwks.json").json()
    kid = jwt.get_unverified_header(extract["manifest"])["kid"]
    signing = next(k for k in jwks["keys"] if k["kid"] == kid)
    manifest = jwt.decode(
        extract["manifest"],
        jwt.PyJWK(signing).key,
        algorithms=[signing["alg"]],
        audience=EDU,
    )
    assert jwt.get_unverified_header(extract["manifest"])["typ"] == "tongban-batch-manifest+jwt"
    body = manifest["extract"]
    assert (body["agreement"], body["subjects"], body["fields"]) == (
        agreement_id,
        3,
        ["receiving", "since"],
    )
    officer = Person(hub, "edu-sharing", Role.SHARING_OFFICER, "EDU")
    before = officer.get(f"/agreements/{agreement_id}").json()
    assert before["delivery"] is None  # an extract made is not yet data delivered
    assert before["delivery_due_by"] is not None
    lines: list[dict[str, Any]] = []
    for chunk in reversed(body["chunks"]):  # any order: a download resumes where it stopped
        got = hub.client.get(
            f"/batch/extracts/{extract['id']}/chunks/{chunk['seq']}", headers=system
        )
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("application/jose")
        assert _b64(hashlib.sha256(got.content).digest()) == chunk["sha256"]
        assert len(got.content) == chunk["bytes"]
        plaintext = jwe.decrypt_compact(got.text, key).plaintext
        assert plaintext is not None
        lines[:0] = [json.loads(line) for line in plaintext.decode().splitlines()]
    assert [line["subject"]["id"] for line in lines] == named
    for line in lines:
        assert "dibao.receiving" in line["attributes"]  # unconditional, released
        assert line["audit"]["index"] in body["audit"]
        assert jwt.get_unverified_header(line["evidence"])["typ"] == "tongban-evidence+jwt"

    for line in lines:  # each person sees their access, like any query's
        accesses = Person(hub, line["subject"]["id"], Role.CITIZEN).get("/citizen/accesses")
        indexes = {a["index"]: a["system"] for a in accesses.json()["accesses"]}
        assert indexes[line["audit"]["index"]] == EDU

    seen = Person(hub, "edu-sharing", Role.SHARING_OFFICER, "EDU").get(
        f"/agreements/{agreement_id}"
    )
    view = seen.json()
    assert view["delivery"]["channel"] == "batch"  # the first download stopped the clock
    assert view["delivery"]["by"] == EDU
    assert [e["event"] for e in view["log"]][-2:] == ["extract_made", "delivered"]
    assert [e["action"] for e in view["history"]].count("delivered") == 1  # once, not per chunk

    other = {"authorization": f"Bearer {hub.token(MCA)}"}
    problem(
        hub.client.get(f"/batch/extracts/{extract['id']}", headers=other),
        404,
        "batch_extract_not_found",
    )
    problem(
        hub.client.get(f"/batch/extracts/{extract['id']}/chunks/2", headers=system),
        404,
        "batch_chunk_not_found",
    )
    later = datetime.now(UTC) + timedelta(hours=73)
    with unit_of_work(hub.sessions, write=True) as session:
        assert delete_expired(session, later) == 1
    problem(
        hub.client.get(f"/batch/extracts/{extract['id']}/chunks/0", headers=system),
        410,
        "batch_extract_expired",
    )


def _extract(hub: Hub, city: LegacyWorld, kid: str) -> tuple[str, dict[str, str], OKPKey]:
    """An approved batch agreement, a registered key and an extract of two people (one chunk)."""
    agreement_id = agreement(hub, ["batch"])
    system = {"authorization": f"Bearer {hub.token(EDU)}"}
    key = OKPKey.generate_key("X25519", private=True)
    public = {**key.as_dict(private=False), "kid": kid, "use": "enc"}
    assert hub.client.post("/batch/keys", json=public, headers=system).status_code == 201
    ask = {
        "agreement": agreement_id,
        "purpose": "school-enrolment",
        "subjects": [{"id_type": "CN-RIC", "id": n} for n in people(city, 2)],
        "key": kid,
    }
    made = hub.client.post("/batch/extracts", json=ask, headers=system)
    assert made.status_code == 201, made.text
    return made.json()["id"], system, key


@NO_BATCH_UNDER_GM
def test_a_chunk_cut_off_midway_resumes_with_a_byte_range(hub: Hub, city: LegacyWorld) -> None:
    extract_id, system, key = _extract(hub, city, "edu-batch-range")
    url = f"/batch/extracts/{extract_id}/chunks/0"
    whole = hub.client.get(url, headers=system)
    assert whole.status_code == 200
    assert whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    assert etag == '"' + _b64(hashlib.sha256(whole.content).digest()) + '"'  # the manifest's
    size = len(whole.content)

    cut = 1000  # the first download stopped after this many bytes
    rest = hub.client.get(url, headers={**system, "Range": f"bytes={cut}-", "If-Range": etag})
    assert rest.status_code == 206, rest.text
    assert rest.headers["content-range"] == f"bytes {cut}-{size - 1}/{size}"
    assert rest.headers["etag"] == etag
    joined = whole.content[:cut] + rest.content
    assert joined == whole.content
    assert jwe.decrypt_compact(joined.decode(), key).plaintext is not None

    middle = hub.client.get(url, headers={**system, "Range": "bytes=10-19"})
    assert (middle.status_code, middle.content) == (206, whole.content[10:20])
    assert middle.headers["content-range"] == f"bytes 10-19/{size}"
    tail = hub.client.get(url, headers={**system, "Range": "bytes=-16"})
    assert (tail.status_code, tail.content) == (206, whole.content[-16:])
    beyond_end = hub.client.get(url, headers={**system, "Range": f"bytes={size - 4}-{size + 50}"})
    assert (beyond_end.status_code, beyond_end.content) == (206, whole.content[-4:])

    # A chunk that is no longer the one whose ETag the client holds: the whole chunk again.
    stale = hub.client.get(url, headers={**system, "Range": f"bytes={cut}-", "If-Range": '"x"'})
    assert (stale.status_code, stale.content) == (200, whole.content)
    # Not one byte range: ignored (RFC 9110 allows it), the whole chunk.
    for ignored in ("bytes=0-1,5-9", "items=0-5", "bytes=9-3", "bytes=abc"):
        answer = hub.client.get(url, headers={**system, "Range": ignored})
        assert (answer.status_code, answer.content) == (200, whole.content), ignored

    for outside in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        refused = problem(
            hub.client.get(url, headers={**system, "Range": outside}),
            416,
            "batch_range_not_satisfiable",
        )
        assert refused["status"] == 416
        answer = hub.client.get(url, headers={**system, "Range": outside})
        assert answer.headers["content-range"] == f"bytes */{size}", outside


@NO_BATCH_UNDER_GM
def test_what_the_batch_channel_refuses(hub: Hub, city: LegacyWorld) -> None:
    interface_only = agreement(hub, ["interface"], ("since",))
    batch = agreement(hub, ["batch"])
    system = {"authorization": f"Bearer {hub.token(EDU)}"}
    audit_before = len(hub.audit())
    x = _b64(b"\x09" * 32)
    problem(
        hub.client.post(
            "/batch/keys", json={"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k"}, headers=system
        ),
        422,
        "invalid_batch_key",
    )
    key = {"kty": "OKP", "crv": "X25519", "x": x, "kid": "k1"}
    assert hub.client.post("/batch/keys", json=key, headers=system).status_code == 201
    assert hub.client.post("/batch/keys", json=key, headers=system).status_code == 201  # same
    other = {**key, "x": _b64(b"\x07" * 32)}
    problem(hub.client.post("/batch/keys", json=other, headers=system), 409, "batch_key_exists")
    named = people(city, 2)
    ask: dict[str, Any] = {
        "agreement": batch,
        "purpose": "school-enrolment",
        "subjects": [{"id_type": "CN-RIC", "id": n} for n in named],
        "key": "k1",
    }

    def post(body: dict[str, Any]) -> Any:
        return hub.client.post("/batch/extracts", json=body, headers=system)

    problem(post({**ask, "agreement": interface_only}), 403, "batch_not_agreed")
    mca = {"authorization": f"Bearer {hub.token(MCA)}"}
    problem(hub.client.post("/batch/extracts", json=ask, headers=mca), 403, "batch_not_agreed")
    problem(post({**ask, "key": "nope"}), 422, "batch_key_unknown")
    bad = {**ask, "subjects": [{"id_type": "CN-RIC", "id": named[0][:-1] + "0"}]}
    answer = problem(post(bad), 422, "invalid_subject_id")
    assert named[0][:10] not in json.dumps(answer)
    twice = {**ask, "subjects": ask["subjects"] * 2}
    problem(post(twice), 422, "batch_population_refused")
    problem(post({**ask, "subjects": [], "division": "330106"}), 422, "batch_population_refused")
    problem(post({**ask, "purpose": "minimum-living-allowance"}), 422, "batch_population_refused")
    assert len(hub.audit()) == audit_before  # no query, no entry, on any refusal


def test_under_the_gm_profile_no_extract_is_made(sessions: sessionmaker[Session]) -> None:
    desk = BatchDesk(sessions, None, None, BatchLimits(), gm=True)  # type: ignore[arg-type]
    caller = SystemPrincipal(EDU, "EDU", ("school-enrolment",))
    ask = ExtractAsk("AG-X", "school-enrolment", ["x"], key="k")
    with pytest.raises(BatchGmUnsupported):
        desk.make_extract(caller, ask, issuer="https://hub", now=datetime.now(UTC))
