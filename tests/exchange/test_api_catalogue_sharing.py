"""A resource's sharing as the directory states it: what is true of all its fields
(无条件共享 only when every field is so shared), and how many fields are of each type."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.usefixtures("demo_catalogue")


def results(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/catalogue/resources", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {r["code"]: r for r in response.json()["results"]}


def test_a_resource_with_some_conditional_fields_is_not_called_unconditional(
    client: TestClient,
) -> None:
    hrss = results(client)["HRSS-SB-0001"]
    assert hrss["sharing_counts"] == {"unconditional": 1, "conditional": 5, "not_shared": 0}
    assert hrss["sharing_summary"] == "partly_unconditional"
    assert hrss["sharing_type"] == "unconditional"  # its most open field, as before


def test_every_resource_has_one_summary_that_agrees_with_its_fields(client: TestClient) -> None:
    for code, r in results(client).items():
        types = [f["sharing"] for f in r["fields"]]
        counts = {t: types.count(t) for t in ("unconditional", "conditional", "not_shared")}
        assert r["sharing_counts"] == counts, code
        if counts["unconditional"] == len(types):
            assert r["sharing_summary"] == "unconditional", code
        elif counts["unconditional"]:
            assert r["sharing_summary"] == "partly_unconditional", code
        else:
            assert r["sharing_summary"] in {"conditional", "not_shared"}, code
    assert results(client)["PSB-SFZ-0002"]["sharing_summary"] == "unconditional"


def test_the_resource_page_states_the_same(client: TestClient) -> None:
    resource = client.get("/catalogue/resources/REG-BDC-0001").json()
    assert resource["sharing_summary"] == "partly_unconditional"
    assert resource["sharing_counts"] == {"unconditional": 2, "conditional": 4, "not_shared": 0}


def test_a_folded_summary_has_no_space_between_chinese_characters(client: TestClient) -> None:
    household = results(client)["PSB-HJ-0001"]
    assert "出生日期、民族" in household["summary"]
