"""``exchange.client`` as a case system uses it: ``tongban demo`` and ``tongban serve`` run as
real processes on a free loopback port (SQLite hub), and the client talks real HTTP to them.
Requests are counted with httpx event hooks; answers are tampered with by an
``httpx.MockTransport`` that wraps the real transport."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from exchange.client import (
    Attribute,
    EvidenceError,
    QueryResult,
    TongbanClient,
    TongbanClientError,
)
from exchange.client import sdk as client_module
from exchange.db import make_engine, make_sessionmaker, unit_of_work
from exchange.query.pipeline import EVIDENCE_TYP
from exchange.security.clientauth import CLIENT_ASSERTION_TYPE
from exchange.security.keys import HubKeys
from exchange.settings import Settings
from tests.profiles import only_under
from tests.servers import TONGBAN, demo_hub, dev_environment, free_port

README = Path(__file__).resolve().parents[2] / "README.md"
EDU = "edu-enrolment"
PURPOSE = "school-enrolment"
ENROLMENT = "EDU-RXDJ-001"
TOKEN_PATH = "/oauth/token"
JWKS_PATH = "/.well-known/jwks.json"


def _environment() -> dict[str, str]:
    """The test's environment without the hub's settings (the hub runs on its defaults)."""
    return dev_environment()


def _tongban(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TONGBAN, *args],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class Served:
    """A running hub over a demo world: its URL, working directory and demo manifest."""

    base: str
    workdir: Path
    manifest: dict[str, Any]

    def subject(self, kind: str, nth: int = 0) -> str:
        ids = [s["id"] for s in self.manifest["subjects"] if s["kind"] == kind]
        return str(ids[nth])

    def key(self, system: str = EDU) -> dict[str, Any]:
        key: dict[str, Any] = json.loads(
            (self.workdir / "var/demo/keys" / f"{system}.jwk").read_text("utf-8")
        )
        return key


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with demo_hub(tmp_path_factory.mktemp("hub")) as hub:
        yield Served(hub.base, hub.workdir, hub.manifest)


class Recorder:
    """The paths of every request an httpx client sent, in order."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> None:
        with self._lock:
            self.paths.append(request.url.path)

    def count(self, path: str) -> int:
        return Counter(self.paths)[path]


def make_client(
    served: Served,
    *,
    transport: httpx.BaseTransport | None = None,
    key: dict[str, Any] | None = None,
    **options: Any,
) -> tuple[TongbanClient, Recorder]:
    recorder = Recorder()
    http = httpx.Client(transport=transport, event_hooks={"request": [recorder]})
    client = TongbanClient(served.base, EDU, key or served.key(), http=http, **options)
    return client, recorder


Change = Callable[[dict[str, Any]], None]


def tampering(path: str, change: Change) -> httpx.MockTransport:
    """A transport that sends through the real one and lets ``change`` edit the JSON body of
    the answers to ``path`` before the client sees them."""
    real = httpx.HTTPTransport()

    def handle(request: httpx.Request) -> httpx.Response:
        response = real.handle_request(request)
        response.read()
        if request.url.path != path or response.status_code != 200:
            return response
        body = json.loads(response.content)
        change(body)
        return httpx.Response(response.status_code, json=body)

    return httpx.MockTransport(handle)


def _reheader(token: str, **changes: Any) -> str:
    """The JWS with its protected header changed (the signature no longer covers it)."""
    head, payload, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header.update(changes)
    raw = json.dumps(header, separators=(",", ":")).encode()
    return ".".join([base64.urlsafe_b64encode(raw).rstrip(b"=").decode(), payload, signature])


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def _header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return header


def test_the_wire_names_are_the_hubs() -> None:
    assert client_module.EVIDENCE_TYP == EVIDENCE_TYP
    assert client_module.CLIENT_ASSERTION_TYPE == CLIENT_ASSERTION_TYPE


def test_an_attribute_relayed_from_another_hub_keeps_that_hub_in_its_source() -> None:
    """The wire's ``source.hub`` (docs/federation.md: an attribute the province's hub holds,
    relayed by the city's) reaches the typed :class:`Attribute`."""
    released = {
        "value": "汉族",
        "release": "clear",
        "source": {
            "department": "PSB",
            "resource": "PSB-HJ-0001",
            "version": 3,
            "as_of": None,
            "hub": "https://province.example",
        },
    }
    attribute = client_module._attribute(released)
    assert attribute.source.hub == "https://province.example"
    assert attribute.source.as_of is None


def test_the_school_enrolment_bundle_comes_back_typed_with_verified_evidence(
    served: Served,
) -> None:
    client, _ = make_client(served)
    subject = served.subject("has_property")
    result = client.query(subject, PURPOSE, service_item=ENROLMENT, officer="EDU-0042")
    assert isinstance(result, QueryResult)
    name = result.attributes["household.name"]
    assert isinstance(name, Attribute)
    assert name.release == "clear"
    assert (name.source.department, name.source.resource) == ("PSB", "PSB-HJ-0001")
    assert name.source.as_of is not None
    assert name.source.as_of.endswith("Z")
    assert name.source.hub is None  # held by this hub, not relayed from another
    assert result.attributes["property.owners"].release == "mask_name"
    assert result.attributes["property.certificate_no"].source.department == "REG"
    assert result.denied == {"household.relation_to_head": "not_granted"}
    # social insurance: released, or no_record for a parent the HRSS has never insured
    insured = {"social_insurance.status", "social_insurance.months_paid"}
    assert set(result.unavailable) <= insured
    assert set(result.unavailable.values()) <= {"no_record"}
    assert insured <= set(result.unavailable) | set(result.attributes)
    assert result.audit.index >= 0  # 0-based leaf index
    claims = result.evidence_claims
    assert claims is not None
    assert claims["aud"] == EDU
    assert claims["iss"] == served.base
    assert claims["jti"] == result.request_id
    assert claims["subject"] == {"id_type": "CN-RIC", "id": subject}
    assert claims["attributes"]["household.name"]["value"] == name.value
    unchecked = client.query(subject, PURPOSE, service_item=ENROLMENT, verify_evidence=False)
    assert unchecked.evidence_claims is None
    assert unchecked.evidence is not None


def test_verify_answers_per_claim_and_its_evidence_is_checked(served: Served) -> None:
    client, _ = make_client(served)
    subject = served.subject("has_property")
    name = client.query(subject, PURPOSE, attributes=["household.name"])
    claimed = name.attributes["household.name"].value
    result = client.verify(subject, PURPOSE, {"household.name": claimed})
    assert result.results == {"household.name": "match"}
    assert result.all_match
    assert result.evidence_claims is not None
    assert result.evidence_claims["verified"] == {"household.name": "match"}
    wrong = client.verify(subject, PURPOSE, {"household.birth_date": "1900-01-01"})
    assert wrong.results == {"household.birth_date": "no_match"}
    assert not wrong.all_match


def _set_value(body: dict[str, Any]) -> None:
    body["attributes"]["household.registered_address"]["value"] = "演示市某区某路1号"


def _next_audit_index(body: dict[str, Any]) -> None:
    body["audit"]["index"] += 1


def _other_request_id(body: dict[str, Any]) -> None:
    body["request_id"] = "00000000-0000-4000-8000-000000000000"


def _bad_signature(body: dict[str, Any]) -> None:
    head, payload, signature = body["evidence"].split(".")
    flipped = "A" if signature[0] != "A" else "B"
    body["evidence"] = f"{head}.{payload}.{flipped}{signature[1:]}"


def _no_evidence(body: dict[str, Any]) -> None:
    body["evidence"] = None


def _plain_jwt(body: dict[str, Any]) -> None:
    body["evidence"] = _reheader(body["evidence"], typ="JWT")


def _other_alg(body: dict[str, Any]) -> None:
    other = "ES256" if _header(body["evidence"])["alg"] == "EdDSA" else "EdDSA"
    body["evidence"] = _reheader(body["evidence"], alg=other)


def _unknown_kid(body: dict[str, Any]) -> None:
    body["evidence"] = _reheader(body["evidence"], kid="not-a-hub-key")


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (_set_value, "attributes does not match"),
        (_next_audit_index, "audit does not match"),
        (_other_request_id, "jti does not match"),
        (_bad_signature, "signature does not verify"),
        (_no_evidence, "no evidence"),
        (_plain_jwt, "typ is not tongban-evidence+jwt"),
        (_other_alg, "alg is not its key's algorithm"),
        (_unknown_kid, "kid is not in the hub's JWKS"),
    ],
)
def test_an_answer_that_does_not_match_its_evidence_is_refused(
    served: Served, change: Change, check: str
) -> None:
    client, _ = make_client(served, transport=tampering("/exchange/query", change))
    subject = served.subject("has_property")
    with pytest.raises(EvidenceError) as raised:
        client.query(subject, PURPOSE, service_item=ENROLMENT)
    assert check in str(raised.value)
    assert raised.value.code == "invalid_evidence"
    assert subject not in str(raised.value)
    assert "演示市某区" not in str(raised.value)


def test_an_unknown_kid_fetches_the_jwks_again_once_then_is_refused(served: Served) -> None:
    tamper = [False]

    def rename_kid(body: dict[str, Any]) -> None:
        if tamper[0]:
            _unknown_kid(body)

    client, recorder = make_client(served, transport=tampering("/exchange/query", rename_kid))
    subject = served.subject("no_property")
    client.query(subject, PURPOSE, attributes=["household.name"])
    assert recorder.count(JWKS_PATH) == 1
    tamper[0] = True
    with pytest.raises(EvidenceError, match="kid is not in the hub's JWKS"):
        client.query(subject, PURPOSE, attributes=["household.name"])
    assert recorder.count(JWKS_PATH) == 2
    tamper[0] = False
    client.query(subject, PURPOSE, attributes=["household.name"])
    assert recorder.count(JWKS_PATH) == 2


def test_a_whole_answer_about_another_citizen_is_refused(served: Served) -> None:
    asked_about, other = served.subject("has_property", 0), served.subject("has_property", 1)
    honest, _ = make_client(served)
    substitute = honest.query(other, PURPOSE, service_item=ENROLMENT, verify_evidence=False)

    def swap(body: dict[str, Any]) -> None:
        body.clear()
        body.update(
            request_id=substitute.request_id,
            attributes=_payload(str(substitute.evidence))["attributes"],
            denied=dict(substitute.denied),
            unavailable=dict(substitute.unavailable),
            audit=_payload(str(substitute.evidence))["audit"],
            evidence=substitute.evidence,
        )

    client, _ = make_client(served, transport=tampering("/exchange/query", swap))
    with pytest.raises(EvidenceError, match="another subject"):
        client.query(asked_about, PURPOSE, service_item=ENROLMENT)


def test_a_flipped_verify_result_is_refused(served: Served) -> None:
    def flip(body: dict[str, Any]) -> None:
        body["results"] = dict.fromkeys(body["results"], "match")

    client, _ = make_client(served, transport=tampering("/exchange/verify", flip))
    with pytest.raises(EvidenceError, match="verified does not match"):
        client.verify(served.subject("has_property"), PURPOSE, {"household.name": "某某"})


def test_evidence_from_another_issuer_is_refused(served: Served) -> None:
    client, _ = make_client(served, issuer="https://hub.example.gov.cn")
    with pytest.raises(EvidenceError, match="not issued by this hub"):
        client.query(served.subject("has_property"), PURPOSE, service_item=ENROLMENT)


def test_one_token_serves_many_queries_and_the_jwks_is_fetched_once(served: Served) -> None:
    client, recorder = make_client(served)
    subject = served.subject("no_property")
    for _ in range(3):
        client.query(subject, PURPOSE, attributes=["household.name"])
    assert recorder.count(TOKEN_PATH) == 1
    assert recorder.count(JWKS_PATH) == 1
    assert recorder.count("/exchange/query") == 3


def test_the_token_is_renewed_shortly_before_it_expires(served: Served) -> None:
    now = [1000.0]
    client, recorder = make_client(served, clock=lambda: now[0])
    subject = served.subject("no_property")
    client.query(subject, PURPOSE, attributes=["household.name"])
    now[0] += 240  # the hub's tokens last 300 s: still well inside
    client.query(subject, PURPOSE, attributes=["household.name"])
    assert recorder.count(TOKEN_PATH) == 1
    now[0] += 40  # 20 s left: inside the refresh margin
    client.query(subject, PURPOSE, attributes=["household.name"])
    assert recorder.count(TOKEN_PATH) == 2
    now[0] += 100
    client.query(subject, PURPOSE, attributes=["household.name"])
    assert recorder.count(TOKEN_PATH) == 2


def test_threads_sharing_a_client_ask_for_one_token(served: Served) -> None:
    client, recorder = make_client(served)
    subject = served.subject("no_property")
    failures: list[BaseException] = []
    start = threading.Barrier(6)

    def ask() -> None:
        start.wait()
        try:
            client.query(subject, PURPOSE, attributes=["household.name"])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert recorder.count(TOKEN_PATH) == 1
    assert recorder.count("/exchange/query") == 6


def _refusing_tokens(times: int) -> httpx.MockTransport:
    """A transport whose first ``times`` API requests carry a token the hub does not accept."""
    real = httpx.HTTPTransport()
    left = [times]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/exchange/") and left[0] > 0:
            left[0] -= 1
            request.headers["authorization"] = "Bearer not.a.token"
        response = real.handle_request(request)
        response.read()
        return response

    return httpx.MockTransport(handle)


def test_an_invalid_token_answer_gets_a_new_token_and_one_retry(served: Served) -> None:
    client, recorder = make_client(served, transport=_refusing_tokens(1))
    result = client.query(served.subject("no_property"), PURPOSE, attributes=["household.name"])
    assert "household.name" in result.attributes
    assert recorder.count(TOKEN_PATH) == 2
    assert recorder.count("/exchange/query") == 2


def test_a_token_refused_twice_is_an_error_without_a_third_try(served: Served) -> None:
    client, recorder = make_client(served, transport=_refusing_tokens(5))
    with pytest.raises(TongbanClientError) as raised:
        client.query(served.subject("no_property"), PURPOSE, attributes=["household.name"])
    assert (raised.value.status, raised.value.code) == (401, "invalid_token")
    assert recorder.count("/exchange/query") == 2
    assert recorder.count(TOKEN_PATH) == 2


def test_a_problem_answer_surfaces_with_its_code_and_request_id(served: Served) -> None:
    client, _ = make_client(served)
    bad = served.subject("has_property")[:-1] + "0"
    if bad == served.subject("has_property"):
        bad = bad[:-1] + "1"
    with pytest.raises(TongbanClientError) as raised:
        client.query(bad, PURPOSE, service_item=ENROLMENT)
    error = raised.value
    assert (error.status, error.code) == (422, "invalid_subject_id")
    assert "checksum" in error.detail
    assert error.request_id
    assert error.body["code"] == "invalid_subject_id"
    assert bad not in str(error)
    assert not isinstance(error, EvidenceError)


def test_a_wrong_key_is_invalid_client_and_not_retried(served: Served) -> None:
    client, recorder = make_client(served, key=served.key("mca-dibao"))
    with pytest.raises(TongbanClientError) as raised:
        client.query(served.subject("no_property"), PURPOSE, attributes=["household.name"])
    assert (raised.value.status, raised.value.code) == (401, "invalid_client")
    assert recorder.paths == [TOKEN_PATH]


def test_an_unreachable_hub_is_a_network_error_naming_the_url(served: Served) -> None:
    port = free_port()
    client = TongbanClient(f"http://127.0.0.1:{port}", EDU, served.key(), timeout=2)
    with pytest.raises(TongbanClientError) as raised:
        client.query(served.subject("has_property"), PURPOSE, service_item=ENROLMENT)
    assert raised.value.status is None
    assert raised.value.code == "network_error"
    assert f"127.0.0.1:{port}/oauth/token" in str(raised.value)


def test_a_key_of_an_unsupported_type_or_without_its_private_part_is_refused(
    served: Served,
) -> None:
    public = {k: v for k, v in served.key().items() if k != "d"}
    with pytest.raises(ValueError, match="no private part"):
        TongbanClient(served.base, EDU, public)
    with pytest.raises(ValueError, match=r"Ed25519 .* or P-256"):
        TongbanClient(served.base, EDU, {"kty": "RSA", "n": "x", "e": "AQAB", "d": "y"})
    with pytest.raises(ValueError, match="alg does not fit"):
        TongbanClient(served.base, EDU, {**served.key(), "alg": "ES256"})


def _p256_jwk(kid: str) -> dict[str, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.private_numbers()

    def b64(number: int) -> str:
        return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()

    return {
        "kty": "EC",
        "crv": "P-256",
        "kid": kid,
        "x": b64(numbers.public_numbers.x),
        "y": b64(numbers.public_numbers.y),
        "d": b64(numbers.private_value),
    }


@only_under("intl", "a gm hub registers SM2 client keys only, not P-256")
def test_an_es256_key_signs_the_assertions_too(served: Served, tmp_path: Path) -> None:
    private = _p256_jwk("edu-enrolment-p256")
    public = tmp_path / "public.jwk"
    public.write_text(json.dumps({k: v for k, v in private.items() if k != "d"}), "utf-8")
    added = _tongban(
        served.workdir, "system", "add", "--id", EDU, "--department", "EDU", "--jwk", str(public)
    )
    assert added.returncode == 0, added.stderr
    key_file = tmp_path / "private.jwk"
    key_file.write_text(json.dumps(private), "utf-8")
    recorder = Recorder()
    http = httpx.Client(event_hooks={"request": [recorder]})
    with TongbanClient.from_key_file(served.base, EDU, key_file, http=http) as client:
        result = client.query(served.subject("has_property"), PURPOSE, service_item=ENROLMENT)
    assert "household.name" in result.attributes
    assert recorder.count(TOKEN_PATH) == 1


@only_under("intl", "ES256 is not a gm hub's signing algorithm")
def test_after_the_hub_rotates_to_es256_the_jwks_is_fetched_again_once(served: Served) -> None:
    client, recorder = make_client(served)
    subject = served.subject("no_property")
    first = client.query(subject, PURPOSE, attributes=["household.name"])
    assert recorder.count(JWKS_PATH) == 1
    settings = Settings(
        database_url=f"sqlite:///{served.workdir}/var/tongban.db",
        mode="dev",
        secret_key=SecretStr(""),
        secret_file=served.workdir / "var/secret.key",
        adapters_file=None,
    )
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_sessionmaker(engine), write=True) as session:
            HubKeys(settings).rotate(session, "ES256")
    finally:
        engine.dispose()
    second = client.query(subject, PURPOSE, attributes=["household.name"])
    third = client.query(subject, PURPOSE, attributes=["household.name"])
    assert _header(str(first.evidence))["alg"] == "EdDSA"
    assert _header(str(second.evidence))["alg"] == "ES256"
    assert third.evidence_claims is not None
    assert recorder.count(JWKS_PATH) == 2


def test_the_readme_example_runs_against_the_demo(served: Served) -> None:
    text = README.read_text("utf-8")
    section = text.split("## A case system asks the hub", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert snippet is not None
    code = snippet.group(1).replace("http://127.0.0.1:8000", served.base)
    ran = subprocess.run(
        [sys.executable, "-c", code],
        cwd=served.workdir,
        env={**_environment(), "PYTHONPATH": str(README.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "household.registered_address" in ran.stdout
    assert "not_granted" in ran.stdout
    assert "evidence" in ran.stdout


def test_the_client_needs_neither_the_web_framework_nor_the_database_layer() -> None:
    probe = (
        "import sys, exchange.client; "
        "print(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'fastapi', 'starlette', 'sqlalchemy', 'pydantic', 'catalogue', 'schemas'}))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert ran.stdout.strip() == "[]"


def test_a_case_system_asks_for_consent_and_queries_under_the_demo_consent(
    served: Served,
) -> None:
    key = json.loads((served.workdir / "var/demo/keys/mca-dibao.jwk").read_text("utf-8"))
    client = TongbanClient(served.base, "mca-dibao", key)
    given, pending = served.manifest["consents"]
    pension = "social_insurance.pension_amount"
    asked = client.request_consent(
        pending["subject"],
        "minimum-living-allowance",
        "最低生活保障家庭经济状况核对",
        attributes=[pension],
        retention_days=30,
    )
    assert asked["status"] == "pending"
    assert asked["approval_url"] == f"{served.base}/console/citizen/requests/{asked['id']}"
    assert client.consent_request(asked["id"])["status"] == "pending"
    with pytest.raises(TongbanClientError) as refused:
        client.request_consent(
            pending["subject"], "school-enrolment", "入学", attributes=[pension], retention_days=1
        )
    assert (refused.value.status, refused.value.code) == (403, "purpose_not_registered")
    result = client.query(
        given["subject"],
        "minimum-living-allowance",
        attributes=[pension],
        consent_id=given["consent"],
    )
    assert result.attributes[pension].release == "clear"
    assert result.evidence_claims is not None
    client.close()
