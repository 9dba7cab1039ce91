"""Two real hubs on one machine (issue 20, point 3): a province hub over the demo world and a
city hub with a case system of its own, each a ``tongban serve`` process with its own database,
set up only with ``tongban`` commands; the city harvests the province's catalogue over DCAT-AP
and relays queries for what the province holds over real HTTP."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.orm import sessionmaker

from exchange.client import TongbanClient
from exchange.federation.evidence import (
    Expected,
    OriginUnverifiable,
    PinnedKeys,
    check_origin_answer,
)
from exchange.federation.models import FederationPeer
from exchange.federation.relay import HubRelay, PeerClient
from exchange.query.resolve import ResourceInfo
from exchange.query.sourcing import RelayAsk
from schemas import validator
from tests import factories
from tests.console.conftest import tab_on
from tests.profiles import verifying_key
from tests.servers import TONGBAN, DemoHub, demo_hub, dev_environment, free_port, serving

pytestmark = pytest.mark.serves

CITY_SYSTEM = "city-edu"
PURPOSE = "school-enrolment"
SYSTEM_KEYS = "var/demo/keys"  # where DemoHub looks for a case system's key
ASKED = ["household.name", "household.registered_address", "household.age_at_least(6)"]


@dataclass
class Hubs:
    province: DemoHub
    city: DemoHub
    city_env: dict[str, str]
    province_env: dict[str, str]

    def city_client(self) -> TongbanClient:
        return TongbanClient.from_key_file(
            self.city.base, CITY_SYSTEM, self.city.workdir / SYSTEM_KEYS / f"{CITY_SYSTEM}.jwk"
        )

    def subject(self) -> str:
        return self.province.subject("has_property")


def tongban(workdir: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TONGBAN, *args], cwd=workdir, env=dict(env), capture_output=True, text=True, timeout=120
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hubs]:
    with two_hubs(tmp_path_factory) as both:
        yield both


@contextmanager
def two_hubs(tmp_path_factory: pytest.TempPathFactory, **settings: str) -> Iterator[Hubs]:
    """A province hub over the demo world and a city hub that has harvested it, both served
    with *settings* on top of the suite's (``TONGBAN_CRYPTO_PROFILE``: both under gm)."""
    city_dir = tmp_path_factory.mktemp("city")
    city_url = f"http://127.0.0.1:{free_port()}"
    city_env = dev_environment(TONGBAN_PUBLIC_URL=city_url, **settings)
    hub_settings: dict[str, Any] = dict(settings)  # demo_hub's other options keep their types
    (city_dir / "dept.yaml").write_text("kind: department\ncode: CEDU\nname: 市教育局\n", "utf-8")
    ok(tongban(city_dir, city_env, "peers", "keygen", "--kid", CITY_SYSTEM, "--out", SYSTEM_KEYS))
    ok(tongban(city_dir, city_env, "peers", "keygen", "--kid", "city-hub", "--out", "keys"))
    ok(tongban(city_dir, city_env, "catalogue", "publish", "dept.yaml"))
    ok(
        tongban(
            city_dir,
            city_env,
            *("system", "add", "--id", CITY_SYSTEM, "--department", "CEDU"),
            *("--jwk", f"{SYSTEM_KEYS}/{CITY_SYSTEM}.pub.jwk"),
            *("--purpose", PURPOSE, "--purpose", "housing-check"),
        )
    )
    with (
        demo_hub(tmp_path_factory.mktemp("province"), **hub_settings) as province,
        serving(city_dir, city_env, port=int(city_url.rsplit(":", 1)[1]), within_s=90) as city_base,
    ):
        province_env = dev_environment(TONGBAN_PUBLIC_URL=province.base, **settings)
        pdir = province.workdir
        (pdir / "cityhub.yaml").write_text(
            "kind: department\ncode: CITYHUB\nname: 市级政务数据共享枢纽\n", "utf-8"
        )
        ok(tongban(pdir, province_env, "catalogue", "publish", "cityhub.yaml"))
        ok(
            tongban(
                pdir,
                province_env,
                *("system", "add", "--id", "city-hub", "--department", "CITYHUB"),
                *("--jwk", str(city_dir / "keys/city-hub.pub.jwk"), "--purpose", PURPOSE),
            )
        )
        ok(
            tongban(
                pdir,
                province_env,
                *("peers", "add", "--id", "city", "--url", city_base),
                *("--consumer-system", "city-hub"),
            )
        )
        ok(
            tongban(
                city_dir,
                city_env,
                *("peers", "add", "--id", "province", "--url", province.base),
                *("--client-id", "city-hub", "--key", "keys/city-hub.jwk"),
            )
        )
        ok(tongban(city_dir, city_env, "peers", "harvest", "province"))
        yield Hubs(province, DemoHub(city_base, city_dir, {}), city_env, province_env)


def entry(hub: DemoHub, index: int) -> dict[str, Any]:
    token = hub.id_token("auditor-1", "auditor")
    response = httpx.get(
        f"{hub.base}/audit/entries/{index}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["entry"]
    return found


def ask_city(hubs: Hubs, purpose: str = PURPOSE, attributes: list[str] = ASKED) -> httpx.Response:
    token = hubs.city.system_token(CITY_SYSTEM)
    body = {
        "subject": {"id_type": "CN-RIC", "id": hubs.subject()},
        "purpose": purpose,
        "attributes": attributes,
        "officer": "CEDU-0007",
    }
    return httpx.post(
        f"{hubs.city.base}/exchange/query",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


# -- harvest --------------------------------------------------------------------------------


def test_the_province_catalogue_appears_in_the_city_marked_with_its_origin(hubs: Hubs) -> None:
    resource = httpx.get(f"{hubs.city.base}/catalogue/resources/PSB-HJ-0001").json()
    assert resource["descriptor"]["namespace"] == "household"
    assert resource["origin"] == {"peer": "province", "hub": hubs.province.base, "version": 1}
    token = hubs.city.id_token("op-1", "operator")
    peers = httpx.get(
        f"{hubs.city.base}/federation/peers", headers={"Authorization": f"Bearer {token}"}
    ).json()["peers"]
    assert [(p["id"], p["roles"], p["harvest_version"]) for p in peers] == [
        ("province", ["source"], 1)
    ]
    assert "PSB-HJ-0001" in peers[0]["resources"]


def test_only_the_operator_manages_peers(hubs: Hubs) -> None:
    token = hubs.city.id_token("aud-1", "auditor")
    response = httpx.post(
        f"{hubs.city.base}/federation/peers/province/harvest",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


# -- relayed queries ------------------------------------------------------------------------


def test_a_city_hub_answers_a_query_the_province_holds_and_both_logs_show_it(hubs: Hubs) -> None:
    with hubs.city_client() as client:
        relayed = client.query(hubs.subject(), PURPOSE, attributes=ASKED, officer="CEDU-0007")
    with hubs.province.client() as direct_client:
        direct = direct_client.query(hubs.subject(), PURPOSE, attributes=ASKED)
    assert {a: v.value for a, v in relayed.attributes.items()} == {
        a: v.value for a, v in direct.attributes.items()
    }
    claims = relayed.evidence_claims or {}
    assert claims["attributes"]["household.name"]["source"]["hub"] == hubs.province.base
    assert relayed.denied == {}
    assert relayed.unavailable == {}

    # The city's evidence keeps the province's, which verifies with the province's JWKS.
    [origin] = claims["origins"]
    assert origin["hub"] == hubs.province.base
    jwks = httpx.get(f"{hubs.province.base}/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(origin["evidence"])
    published = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    inner = jwt.decode(
        origin["evidence"],
        verifying_key(published),
        audience="city-hub",
        algorithms=[header["alg"]],  # the key's own, as the city pinned it
    )
    assert inner["relay"]["system"] == CITY_SYSTEM
    assert inner["relay"]["request_id"] == relayed.request_id

    # Both logs: the city's entry names the province's, the province's names the city's caller.
    city_entry = entry(hubs.city, relayed.audit.index)
    [read] = city_entry["relayed"]
    assert (read["peer"], read["outcome"]) == ("province", "verified")
    province_entry = entry(hubs.province, read["index"])
    assert province_entry["request_id"] == read["request_id"] == inner["jti"]
    assert province_entry["system"] == "city-hub"
    assert province_entry["relay"] == {
        "hub": hubs.city.base,
        "system": CITY_SYSTEM,
        "department": "CEDU",
        "officer": "CEDU-0007",
        "request_id": relayed.request_id,
        "release": province_entry["relay"]["release"],  # below
    }
    # Every document crossing the boundary has its schema: both entries, both evidences.
    for document in (city_entry, province_entry):
        validator("audit-entry").validate(document)
    for claims_of in (claims, inner):
        validator("evidence").validate(claims_of)
    # The province decided per attribute as the caller asked it: the predicate, not its base
    # field, so the birth date never left the province (issue 20: the origin derives).
    assert set(province_entry["attributes"]) == set(ASKED)
    assert province_entry["attributes"]["household.age_at_least(6)"]["release"] == "derived"
    assert "household.birth_date" not in inner["attributes"]
    assert inner["attributes"]["household.age_at_least(6)"]["value"] is True
    assert province_entry["relay"]["release"] == {
        "household.age_at_least(6)": "derived",
        "household.name": "clear",
        "household.registered_address": "clear",
    }


def test_the_citizen_sees_the_access_at_either_hub(hubs: Hubs) -> None:
    with hubs.city_client() as client:
        relayed = client.query(hubs.subject(), PURPOSE, attributes=["household.name"])

    def accesses_of(hub: DemoHub) -> list[dict[str, Any]]:
        token = hub.id_token(hubs.subject(), "citizen")
        found: list[dict[str, Any]] = httpx.get(
            f"{hub.base}/citizen/accesses", headers={"Authorization": f"Bearer {token}"}
        ).json()["accesses"]
        return found

    for hub, member in ((hubs.city, "relayed"), (hubs.province, "relay")):
        accesses = accesses_of(hub)
        mine = [a for a in accesses if relayed.request_id in a["entry"]]  # in either entry
        assert len(mine) == 1, hub.base
        assert mine[0][member] == json.loads(mine[0]["entry"])[member]  # shown, not only kept
    city_access, province_access = (
        next(a for a in accesses_of(hub) if relayed.request_id in a["entry"])
        for hub in (hubs.city, hubs.province)
    )
    assert city_access["relayed"][0]["hub"] == hubs.province.base
    assert city_access["system"] == CITY_SYSTEM
    assert province_access["relay"]["hub"] == hubs.city.base
    assert province_access["system"] == "city-hub"


CITY_AGREEMENT = """\
kind: agreement
id: AG-CITY-EDU-REG-0001
title: 市教育局入学登记使用省级不动产权属信息（市级协议）
consumer:
  system: city-edu
  department: CEDU
provider: REG
resource: REG-BDC-0001
fields: [address]
purposes: [school-enrolment]
legal_basis: 《中华人民共和国义务教育法》第十二条
validity:
  from: 2026-01-01
  until: 2028-12-31
requires_consent: false
approved_by: REG-admin-001
"""


def test_the_origin_decides_under_its_own_agreements(hubs: Hubs) -> None:
    """The city grants a conditional field of the province's under its own agreement; the
    province has none with the city hub and refuses it: denied here as the origin's refusal."""
    (hubs.city.workdir / "agreement.yaml").write_text(CITY_AGREEMENT, "utf-8")
    ok(tongban(hubs.city.workdir, hubs.city_env, "agreements", "load", "agreement.yaml"))
    response = ask_city(hubs, attributes=["property.address", "household.name"])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["denied"] == {"property.address": "origin_not_granted"}
    assert list(answer["attributes"]) == ["household.name"]
    city_entry = entry(hubs.city, answer["audit"]["index"])
    assert city_entry["attributes"]["property.address"]["agreement"] == "AG-CITY-EDU-REG-0001"
    [read] = city_entry["relayed"]
    province_entry = entry(hubs.province, read["index"])
    assert province_entry["attributes"]["property.address"]["outcome"] == "denied"
    assert province_entry["attributes"]["property.address"]["reason"] == "not_granted"


PROVINCE_AGREEMENT = """\
kind: agreement
id: AG-PROV-CITYHUB-REG-0001
title: 市级枢纽使用不动产权利人信息（省级协议，明文）
consumer:
  system: city-hub
  department: CITYHUB
provider: REG
resource: REG-BDC-0001
fields: [{name: owners, release: clear}]
purposes: [school-enrolment]
legal_basis: 《中华人民共和国义务教育法》第十二条
validity:
  from: 2026-01-01
  until: 2028-12-31
requires_consent: false
approved_by: REG-admin-001
"""

CITY_OWNERS_AGREEMENT = """\
kind: agreement
id: AG-CITY-EDU-REG-0002
title: 市教育局入学登记使用不动产权利人信息（市级协议，按目录脱敏）
consumer:
  system: city-edu
  department: CEDU
provider: REG
resource: REG-BDC-0001
fields: [owners]
purposes: [school-enrolment]
legal_basis: 《中华人民共和国义务教育法》第十二条
validity:
  from: 2026-01-01
  until: 2028-12-31
requires_consent: false
approved_by: REG-admin-001
"""


def test_the_origin_releases_no_more_than_the_relaying_hubs_caller_may_get(hubs: Hubs) -> None:
    """The province would give the city hub the owners' names in clear; the city's caller may
    have them only masked (the catalogue's default under its agreement). The city asks for the
    masked form and the province masks: no clear name reaches the city hub at all."""
    (hubs.province.workdir / "p-agreement.yaml").write_text(PROVINCE_AGREEMENT, "utf-8")
    ok(tongban(hubs.province.workdir, hubs.province_env, "agreements", "load", "p-agreement.yaml"))
    (hubs.city.workdir / "owners.yaml").write_text(CITY_OWNERS_AGREEMENT, "utf-8")
    ok(tongban(hubs.city.workdir, hubs.city_env, "agreements", "load", "owners.yaml"))
    response = ask_city(hubs, attributes=["property.owners"])
    assert response.status_code == 200, response.text
    answer = response.json()
    released = answer["attributes"]["property.owners"]
    assert released["release"] == "mask_name"
    city_entry = entry(hubs.city, answer["audit"]["index"])
    [read] = city_entry["relayed"]
    province_entry = entry(hubs.province, read["index"])
    at_origin = province_entry["attributes"]["property.owners"]
    assert (at_origin["outcome"], at_origin["release"]) == ("released", "mask_name")
    assert "relay.at_most" in at_origin["rules"]
    assert at_origin["agreement"] == "AG-PROV-CITYHUB-REG-0001"
    # What the province signed for the city hub is the masked form, the same the city released.
    [origin] = payload(answer["evidence"])["origins"]
    inner = payload(origin["evidence"])
    assert inner["attributes"]["property.owners"]["value"] == released["value"]
    names = list(_strings(released["value"]))
    assert names
    assert all("*" in name for name in names)  # 张* , never 张三


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


PROVINCE_AREA_AGREEMENT = """\
kind: agreement
id: AG-PROV-CITYHUB-REG-0002
title: 市级枢纽为其入学登记系统使用不动产面积（省级协议，级联申请）
consumer:
  system: city-hub
  department: CITYHUB
provider: REG
resource: REG-BDC-0001
fields: [area]
purposes: [school-enrolment]
legal_basis: 《中华人民共和国义务教育法》第十二条
validity:
  from: 2026-01-01
  until: 2028-12-31
requires_consent: false
approved_by: REG-admin-001
"""


def test_a_conditional_field_the_province_holds_is_decided_under_the_agreement_held_there(
    hubs: Hubs,
) -> None:
    """The city holds no agreement on the province's property area: it leaves the field to the
    province (级联: the provider and the agreement are there), which refuses it while the city
    hub holds no agreement there, and releases it once the city hub, as a peer applying for
    its callers, holds one; both logs name the agreement's ground."""
    refused = ask_city(hubs, attributes=["property.area"])
    assert refused.status_code == 200, refused.text
    assert refused.json()["denied"] == {"property.area": "origin_not_granted"}
    city_entry = entry(hubs.city, refused.json()["audit"]["index"])
    assert city_entry["attributes"]["property.area"]["rules"] == ["relay.origin_decides"]
    [read] = city_entry["relayed"]
    assert entry(hubs.province, read["index"])["attributes"]["property.area"]["reason"] == (
        "not_granted"
    )

    (hubs.province.workdir / "area.yaml").write_text(PROVINCE_AREA_AGREEMENT, "utf-8")
    ok(tongban(hubs.province.workdir, hubs.province_env, "agreements", "load", "area.yaml"))
    answer = ask_city(hubs, attributes=["property.area"]).json()
    released = answer["attributes"]["property.area"]
    assert released["source"]["hub"] == hubs.province.base
    assert released["value"]
    [read] = entry(hubs.city, answer["audit"]["index"])["relayed"]
    at_origin = entry(hubs.province, read["index"])
    assert at_origin["attributes"]["property.area"]["agreement"] == "AG-PROV-CITYHUB-REG-0002"
    assert at_origin["relay"]["system"] == CITY_SYSTEM


def test_a_sensitive_field_the_province_holds_needs_an_agreement_here(hubs: Hubs) -> None:
    """Sensitive personal information is not left to the origin: without an agreement (and
    the citizen's consent) at the city, nothing is asked of the province."""
    response = ask_city(hubs, attributes=["household.ethnicity"])
    assert response.status_code == 200, response.text
    assert response.json()["denied"] == {"household.ethnicity": "not_granted"}
    assert "relayed" not in entry(hubs.city, response.json()["audit"]["index"])


CITY_CONDITIONED_AGREEMENT = """\
kind: agreement
id: AG-CITY-EDU-REG-0003
title: 市教育局入学登记使用本市不动产证号（市级协议，限本市区划）
consumer:
  system: city-edu
  department: CEDU
provider: REG
resource: REG-BDC-0001
fields: [certificate_no]
purposes: [school-enrolment]
legal_basis: 《中华人民共和国义务教育法》第十二条
validity:
  from: 2026-01-01
  until: 2028-12-31
row_condition: {field: division, prefix: "3301"}
requires_consent: false
approved_by: REG-admin-001
"""


def test_a_field_granted_here_only_under_a_row_condition_is_not_relayed(hubs: Hubs) -> None:
    """The city's own agreement releases the province's certificate numbers only for records
    in its division: the city could check that only on the base values (the division) it must
    not hold, so nothing is asked of the province (not_relayed)."""
    (hubs.city.workdir / "conditioned.yaml").write_text(CITY_CONDITIONED_AGREEMENT, "utf-8")
    ok(tongban(hubs.city.workdir, hubs.city_env, "agreements", "load", "conditioned.yaml"))
    response = ask_city(hubs, attributes=["property.certificate_no"])
    assert response.status_code == 200, response.text
    assert response.json()["unavailable"] == {"property.certificate_no": "not_relayed"}
    assert "relayed" not in entry(hubs.city, response.json()["audit"]["index"])


def test_the_citizens_console_says_which_hub_the_data_came_from(hubs: Hubs, browser: Any) -> None:
    with hubs.city_client() as client:
        client.query(hubs.subject(), PURPOSE, attributes=["household.name"])
    for hub, words in (
        (hubs.city, f"数据来自枢纽 {hubs.province.base}"),
        (hubs.province, f"由 {hubs.city.base} 为其系统 {CITY_SYSTEM} 转发查询"),
    ):
        with tab_on(browser, hub) as tab:
            tab.sign_in("citizen", hubs.subject())
            tab.page.get_by_text(words).first.wait_for()
            tab.screenshot(f"citizen-federation-{'city' if hub is hubs.city else 'province'}")


def test_a_purpose_the_origin_does_not_grant_is_refused_there_and_relayed_as_a_problem(
    hubs: Hubs,
) -> None:
    response = ask_city(hubs, purpose="housing-check", attributes=["household.name"])
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "relay_refused"
    assert problem["origin"]["code"] == "purpose_not_registered"
    assert problem["origin"]["status"] == 403
    assert hubs.subject() not in response.text
    # Audited at both hubs: the province decided (and refused), the city relayed.
    city_entry = entry(hubs.city, problem["audit"]["index"])
    [read] = city_entry["relayed"]
    assert read["outcome"] == "refused"
    assert city_entry["attributes"]["household.name"]["reason"] == "relay_refused"
    province_entry = entry(hubs.province, read["index"])
    assert province_entry["purpose"] == "housing-check"
    assert province_entry["relay"]["system"] == CITY_SYSTEM


def test_a_relaying_hub_the_origin_no_longer_knows_is_refused_there(hubs: Hubs) -> None:
    ok(tongban(hubs.province.workdir, hubs.province_env, "peers", "suspend", "city"))
    try:
        response = ask_city(hubs, attributes=["household.name"])
    finally:
        ok(tongban(hubs.province.workdir, hubs.province_env, "peers", "resume", "city"))
    assert response.status_code == 502
    problem = response.json()
    assert problem["origin"]["code"] == "not_a_peer_hub"
    assert ask_city(hubs, attributes=["household.name"]).status_code == 200


def test_a_relaying_hub_the_origin_does_not_know_at_all_is_refused_there(hubs: Hubs) -> None:
    """A hub that registered the province as a source under a client id the province never
    registered: the province's token endpoint refuses it (invalid_client), and the relay turns
    that into relay_refused with the origin's problem, never a release."""
    peer = FederationPeer(
        id="province",
        url=hubs.province.base,
        client_id="stranger-hub",
        key_file=str(hubs.city.workdir / "keys/city-hub.jwk"),
        jwks=httpx.get(f"{hubs.province.base}/.well-known/jwks.json").json(),
        checkpoint_key=httpx.get(f"{hubs.province.base}/audit/checkpoint/key").text,
    )
    relay = HubRelay(sessionmaker())
    ask = RelayAsk(
        *(hubs.city.base, str(uuid.uuid4()), CITY_SYSTEM, "CEDU", None, PURPOSE, hubs.subject()),
        forms={"household.name": ("PSB-HJ-0001", "clear")},
    )
    household = ResourceInfo("PSB-HJ-0001", 1, "PSB", "household", {}, {})
    try:
        fetched = relay._relay_to(
            PeerClient(peer, httpx.Client(timeout=10)),
            ask,
            {"PSB-HJ-0001": household},
            {"PSB-HJ-0001": {"name"}},
        )
    finally:
        relay.close()
    got = fetched["PSB-HJ-0001"]
    assert (got.failure, got.records) == ("relay_refused", ())
    assert got.refusal is not None
    assert got.refusal.code == "relay_refused"
    assert got.refusal.extensions["origin"]["code"] == "invalid_client"
    assert got.refusal.extensions["origin"]["status"] == 401


def test_only_a_registered_peer_hub_may_name_an_original_caller(hubs: Hubs) -> None:
    token = hubs.province.system_token("edu-enrolment")
    body = {
        "subject": {"id_type": "CN-RIC", "id": hubs.subject()},
        "purpose": PURPOSE,
        "attributes": ["household.name"],
        "on_behalf_of": {
            "hub": hubs.city.base,
            "system": "anyone",
            "department": "CEDU",
            "request_id": "00000000-0000-4000-8000-000000000000",
        },
    }
    response = httpx.post(
        f"{hubs.province.base}/exchange/query",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_peer_hub"


def test_an_origin_answer_whose_evidence_does_not_verify_is_refused_and_audited(
    hubs: Hubs,
) -> None:
    # Pin keys that are not the province's (the city's own): its evidence no longer verifies.
    city_dir, env = hubs.city.workdir, hubs.city_env
    (city_dir / "wrong.jwks").write_text(httpx.get(f"{hubs.city.base}/.well-known/jwks.json").text)
    (city_dir / "wrong.vkey").write_text(httpx.get(f"{hubs.city.base}/audit/checkpoint/key").text)
    ok(
        tongban(
            city_dir,
            env,
            *("peers", "repin", "province", "--jwks", "wrong.jwks"),
            *("--checkpoint-key", "wrong.vkey"),
        )
    )
    try:
        response = ask_city(hubs, attributes=["household.name"])
    finally:
        ok(tongban(city_dir, env, "peers", "repin", "province"))
    assert response.status_code == 200
    answer = response.json()
    assert answer["attributes"] == {}
    assert answer["unavailable"] == {"household.name": "origin_unverifiable"}
    [read] = entry(hubs.city, answer["audit"]["index"])["relayed"]
    assert read["outcome"] == "unverifiable"
    assert "origins" not in payload(answer["evidence"])


def test_a_tampered_origin_answer_fails_the_evidence_check(hubs: Hubs) -> None:
    """The checks of exchange.federation.evidence, on a real province answer altered in one
    place at a time."""
    with hubs.city_client() as client:
        relayed = client.query(hubs.subject(), PURPOSE, attributes=["household.name"])
    [origin] = (relayed.evidence_claims or {})["origins"]
    inner = payload(origin["evidence"])
    answer = {
        "request_id": inner["jti"],
        "attributes": inner["attributes"],
        "audit": inner["audit"],
        "evidence": origin["evidence"],
    }
    keys = PinnedKeys(
        hubs.province.base,
        httpx.get(f"{hubs.province.base}/.well-known/jwks.json").json(),
        httpx.get(f"{hubs.province.base}/audit/checkpoint/key").text,
    )
    expected = Expected(
        "city-hub", PURPOSE, hubs.subject(), hubs.city.base, CITY_SYSTEM, relayed.request_id
    )
    assert check_origin_answer(answer, keys, expected)["jti"] == inner["jti"]
    altered = json.loads(json.dumps(answer))
    altered["attributes"]["household.name"]["value"] = "某某"
    with pytest.raises(OriginUnverifiable, match="attributes do not match"):
        check_origin_answer(altered, keys, expected)
    with pytest.raises(OriginUnverifiable, match="relayed request"):
        check_origin_answer(answer, keys, replace(expected, request_id="other"))


# -- a harvest that fails validation ---------------------------------------------------------


class _Broken(BaseHTTPRequestHandler):
    """A peer that serves the province's catalogue as its own with one dataset's title gone."""

    catalogue: bytes = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/ld+json")
        self.end_headers()
        self.wfile.write(self.catalogue)

    def log_message(self, *args: Any) -> None:
        return


def test_a_catalogue_that_fails_validation_is_refused_and_the_version_in_force_stays(
    hubs: Hubs,
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Broken)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    document = httpx.get(f"{hubs.province.base}/catalogue/dcat").text.replace(
        hubs.province.base, base
    )
    graph = json.loads(document)
    dataset = graph["dcat:dataset"][0]
    del dataset["dct:title"]
    _Broken.catalogue = json.dumps(graph).encode()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    city_dir, env = hubs.city.workdir, hubs.city_env
    keys = city_dir / "keys"
    (keys / "p.jwks").write_text(httpx.get(f"{hubs.province.base}/.well-known/jwks.json").text)
    (keys / "p.vkey").write_text(httpx.get(f"{hubs.province.base}/audit/checkpoint/key").text)
    try:
        ok(
            tongban(
                city_dir,
                env,
                *("peers", "add", "--id", "broken", "--url", base, "--client-id", "city-hub"),
                *("--key", "keys/city-hub.jwk", "--jwks", "keys/p.jwks"),
                *("--checkpoint-key", "keys/p.vkey"),
            )
        )
        refused = tongban(city_dir, env, "peers", "harvest", "broken")
    finally:
        server.shutdown()
    assert refused.returncode != 0
    assert "failed validation" in refused.stderr
    assert f"{dataset['@id']}/dct:title: missing" in refused.stderr
    history = json.loads(ok(tongban(city_dir, env, "peers", "harvests", "broken", "--json")))
    assert [(h["outcome"], h["version"]) for h in history] == [("refused", None)]
    assert history[0]["problems"][0]["pointer"].endswith("/dct:title")
    shown = json.loads(ok(tongban(city_dir, env, "peers", "show", "broken", "--json")))
    assert (shown["harvest_version"], shown["resources"]) == (None, [])


def test_a_harvest_that_conflicts_with_the_local_catalogue_is_refused(hubs: Hubs) -> None:
    """A resource the province adds whose namespace is the city's own: the second harvest is
    refused, the first stays in force and the resource does not appear in the city."""
    local = factories.resource(code="CEDU-XX-0001", namespace="school_place", provider="CEDU")
    (hubs.city.workdir / "local.json").write_text(json.dumps(local), "utf-8")
    ok(tongban(hubs.city.workdir, hubs.city_env, "catalogue", "publish", "local.json"))
    clash = factories.resource(code="PSB-XX-0009", namespace="school_place", provider="PSB")
    (hubs.province.workdir / "clash.json").write_text(json.dumps(clash), "utf-8")
    ok(tongban(hubs.province.workdir, hubs.province_env, "catalogue", "publish", "clash.json"))
    refused = tongban(hubs.city.workdir, hubs.city_env, "peers", "harvest", "province")
    assert refused.returncode != 0
    assert "/resources/PSB-XX-0009/namespace" in refused.stderr
    shown = json.loads(
        ok(tongban(hubs.city.workdir, hubs.city_env, "peers", "show", "province", "--json"))
    )
    assert shown["harvest_version"] == 1
    assert "PSB-XX-0009" not in shown["resources"]
    assert httpx.get(f"{hubs.city.base}/catalogue/resources/PSB-XX-0009").status_code == 404
