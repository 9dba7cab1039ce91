"""The lifecycle's tests run on a hub that reviews catalogue entries (as production does), over
the demo catalogue, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.demo.build import demo_descriptors
from exchange.security.identity import Role
from exchange.settings import Settings

PDF = b"%PDF-1.7\n% assessment\n"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, mode="dev", adapters_file=None, catalogue_review="required"
    )


@pytest.fixture
def as_staff(client: TestClient) -> Callable[..., dict[str, str]]:
    """``as_staff(role, department, sub)``: the Authorization header of a staff member."""

    def headers(role: Role, department: str | None, sub: str = "officer-001") -> dict[str, str]:
        identity = client.app.state.hub.identity  # type: ignore[attr-defined]
        return {"Authorization": f"Bearer {identity.issue_dev_token(sub, role, department)}"}

    return headers


def demo_resource(code: str) -> dict[str, Any]:
    """A demo resource descriptor (complete for review), as a fresh copy."""
    for descriptor in demo_descriptors():
        if descriptor.code == code:
            return copy.deepcopy(dict(descriptor.content))
    raise KeyError(code)


def new_entry(code: str = "MCA-LY-0001", namespace: str = "elderly_care") -> dict[str, Any]:
    """A new Civil Affairs entry, complete for review (a conditional field: scope and uses)."""
    document = demo_resource("MCA-SW-0001")
    document.update(code=code, namespace=namespace, name="养老服务补贴信息", related=[])
    document["fields"] = [
        {
            "name": "subsidised",
            "title": "是否享受养老服务补贴",
            "data_type": "boolean",
            "sharing": {"type": "unconditional"},
            "sensitivity": "personal",
            "schema": {"type": "boolean"},
        },
        {
            "name": "monthly_amount",
            "title": "补贴金额",
            "data_type": "number",
            "sharing": {"type": "conditional"},
            "sensitivity": "personal",
            "schema": {"type": "number"},
        },
    ]
    document["source"] = {"adapter": "sql", "mapping": "mca/elderly"}
    return document
