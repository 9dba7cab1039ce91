"""The exchange's answers are validated against their response models on the endpoint's thread
(``exchange.api.exchange._answer``): only the model's fields leave, each of its type, as
FastAPI's ``response_model`` would have it, and the OpenAPI document still describes them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.query.pipeline import ExchangePipeline

ANSWER: dict[str, Any] = {
    "request_id": "00000000-0000-4000-8000-000000000001",
    "attributes": {},
    "denied": {"household.name": "not_granted"},
    "unavailable": {},
    "unverifiable": {},
    "audit": {
        "index": 7,
        "leaf_hash": "AAAA",
        "tree_size": 8,
        "checkpoint": "note",
        "inclusion_proof": [],
        "internal": "a field the model does not have",
    },
    "evidence": None,
    "subject_id_number": "a field the model does not have",
}


def ask() -> dict[str, Any]:
    return {
        "subject": {"id_type": "CN-RIC", "id": "11010519491231002X"},
        "purpose": "school-enrolment",
        "attributes": ["household.name"],
    }


def test_only_the_models_fields_leave(
    client: TestClient, system_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ExchangePipeline, "query", lambda *_a, **_k: dict(ANSWER))
    answer = client.post(
        "/exchange/query", json=ask(), headers={"authorization": f"Bearer {system_token}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert "subject_id_number" not in body
    assert "internal" not in body["audit"]
    assert body["denied"] == {"household.name": "not_granted"}
    assert body["audit"]["tree_size"] == 8
    schema = client.get("/openapi.json").json()["paths"]["/exchange/query"]["post"]
    assert "QueryResponse" in str(schema["responses"]["200"])


def test_an_answer_that_breaks_its_model_is_an_error_not_a_leak(
    client: TestClient, system_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = {**ANSWER, "denied": {"household.name": {"value": "张三"}}}
    monkeypatch.setattr(ExchangePipeline, "query", lambda *_a, **_k: broken)
    answer = client.post(
        "/exchange/query", json=ask(), headers={"authorization": f"Bearer {system_token}"}
    )
    assert answer.status_code == 500
    assert "张三" not in answer.text
