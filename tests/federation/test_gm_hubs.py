"""Two gm hubs federate over real HTTP (docs/gm.md, docs/federation.md "gm peers"): a province
and a city hub, each a ``tongban serve`` process under the national-crypto profile whatever the
suite's, set up with ``tongban`` commands only. The city pins the province's SM2 keys, harvests
its catalogue, relays a query to it with an SM2SM3 client assertion, and checks the province's
SM2SM3 evidence and SM3 audit receipt before it answers its own caller with its own SM2SM3
evidence; both logs show the access."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import jwt
import pytest

from exchange.client import TongbanClient
from schemas import validator
from tests.federation.test_two_hubs import (
    ASKED,
    CITY_SYSTEM,
    PURPOSE,
    SYSTEM_KEYS,
    Hubs,
    entry,
    ok,
    payload,
    tongban,
    two_hubs,
)
from tests.profiles import verifying_key

pytestmark = pytest.mark.serves


@pytest.fixture(scope="module")
def gm_hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hubs]:
    with two_hubs(tmp_path_factory, TONGBAN_CRYPTO_PROFILE="gm") as both:
        yield both


def test_two_gm_hubs_pin_each_others_sm2_keys(gm_hubs: Hubs) -> None:
    shown = json.loads(
        ok(tongban(gm_hubs.city.workdir, gm_hubs.city_env, "peers", "show", "province", "--json"))
    )
    assert shown["harvest_version"] == 1
    assert "PSB-HJ-0001" in shown["resources"]
    published = httpx.get(f"{gm_hubs.province.base}/.well-known/jwks.json").json()["keys"]
    assert {key["crv"] for key in published} == {"SM2"}
    assert sorted(k["kid"] for k in shown["keys"]["evidence"]) == sorted(
        k["kid"] for k in published
    )  # pinned as the province publishes them
    vkey = httpx.get(f"{gm_hubs.province.base}/audit/checkpoint/key").text
    assert shown["keys"]["checkpoint"] == vkey.strip()


def test_a_gm_city_hub_answers_a_query_a_gm_province_holds_and_both_logs_show_it(
    gm_hubs: Hubs,
) -> None:
    city_key = gm_hubs.city.workdir / SYSTEM_KEYS / f"{CITY_SYSTEM}.jwk"
    assert json.loads(city_key.read_text("utf-8"))["crv"] == "SM2"  # the city's caller, too
    with TongbanClient.from_key_file(gm_hubs.city.base, CITY_SYSTEM, city_key) as client:
        answer = client.query(gm_hubs.subject(), PURPOSE, attributes=ASKED, officer="CEDU-0007")
    assert answer.denied == {}
    assert answer.unavailable == {}
    assert answer.attributes["household.age_at_least(6)"].value is True
    assert answer.evidence is not None
    assert jwt.get_unverified_header(answer.evidence)["alg"] == "SM2SM3"

    # The province's own evidence inside the city's: SM2SM3, by the key the province publishes.
    [origin] = (answer.evidence_claims or {})["origins"]
    header = jwt.get_unverified_header(origin["evidence"])
    assert header["alg"] == "SM2SM3"
    jwks = httpx.get(f"{gm_hubs.province.base}/.well-known/jwks.json").json()
    published = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    inner = jwt.decode(
        origin["evidence"], verifying_key(published), audience="city-hub", algorithms=["SM2SM3"]
    )
    assert inner["relay"]["system"] == CITY_SYSTEM
    assert "household.birth_date" not in inner["attributes"]  # the origin derived it

    city_entry = entry(gm_hubs.city, answer.audit.index)
    [read] = city_entry["relayed"]
    assert (read["peer"], read["outcome"]) == ("province", "verified")
    province_entry = entry(gm_hubs.province, read["index"])
    assert province_entry["system"] == "city-hub"
    assert province_entry["relay"]["request_id"] == answer.request_id
    for document in (city_entry, province_entry):
        validator("audit-entry").validate(document)
    assert payload(answer.evidence)["origins"] == [origin]
