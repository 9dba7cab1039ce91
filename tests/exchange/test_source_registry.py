"""The hub's source registry: adapters.json → one adapter per resource, and /readyz per source."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from adapters.errors import MappingError
from exchange.app import create_app
from exchange.db import migrate
from exchange.demo.sources import LegacyWorld, build_legacy_world
from exchange.security.identity import Role
from exchange.settings import Settings
from exchange.sources.errors import AdapterConfigError
from exchange.sources.registry import SourceRegistry


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> LegacyWorld:
    return build_legacy_world(tmp_path_factory.mktemp("demo"), citizens=80, seed=5)


def _document(world: LegacyWorld) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(world.adapters_file.read_text("utf-8"))
    return loaded


def test_the_demo_binds_every_resource_with_its_mapping_inline(world: LegacyWorld) -> None:
    document = _document(world)
    registry = SourceRegistry.from_document(document)
    assert registry.bound() == sorted(document["resources"])
    assert set(document["mappings"]) == {r["mapping"] for r in document["resources"].values()}
    assert registry.binding("REG-BDC-0001") is not None
    assert registry.binding("NOPE-0001") is None


def test_an_opened_adapter_reads_its_source(world: LegacyWorld) -> None:
    registry = SourceRegistry.from_file(world.adapters_file)
    subject = world.subjects[0].id_number
    try:
        adapter = registry.adapter("PSB-HJ-0001", 1, {"name": {"type": "string"}})
        assert registry.adapter("PSB-HJ-0001", 1, {}) is adapter  # opened once
        record = adapter.fetch(subject, ["name"])
        assert record is not None
        assert record.values["name"]
        with pytest.raises(MappingError):
            registry.adapter("NOPE-0001", 1, {})
    finally:
        registry.close()


def test_a_missing_file_is_an_empty_registry(tmp_path: Path) -> None:
    assert SourceRegistry.from_file(None).bound() == []
    assert SourceRegistry.from_file(tmp_path / "absent.json").bound() == []
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(AdapterConfigError):
        SourceRegistry.from_file(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"resources": {"X-1": {"mapping": "psb/household", "connection": "nowhere"}}}, "X-1"),
        ({"resources": {"X-1": {"mapping": "no/such", "connection": "psb"}}}, "no/such"),
        ({"mappings": {"psb/household": {"kind": "mapping"}}}, "psb/household"),
    ],
)
def test_bad_configuration_is_refused_with_a_reason(
    world: LegacyWorld, change: dict[str, Any], says: str
) -> None:
    document = _document(world)
    for key, value in change.items():
        document[key] = {**document[key], **value}
    with pytest.raises(AdapterConfigError) as caught:
        SourceRegistry.from_document(document)
    assert says in str(caught.value)


def _ready(world_dir: Path, adapters_file: Path) -> dict[str, Any]:
    url = f"sqlite:///{world_dir / 'hub.db'}"
    engine = create_engine(url)
    migrate(engine)
    engine.dispose()
    settings = Settings(database_url=url, mode="dev", adapters_file=adapters_file)
    with TestClient(create_app(settings)) as client:
        anonymous = client.get("/readyz").json()
        token = client.app.state.hub.identity.issue_dev_token("ops-1", Role.OPERATOR, None)  # type: ignore[attr-defined]
        response = client.get("/readyz", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert "sources" not in anonymous["checks"]  # per-source detail is for operators
    assert anonymous["status"] == body["status"]
    return body


def test_readiness_reports_each_source(world: LegacyWorld, tmp_path: Path) -> None:
    body = _ready(tmp_path, world.adapters_file)
    sources = body["checks"]["sources"]
    assert set(sources) == set(_document(world)["resources"])
    assert body["status"] == "ready", sources
    assert all(check["status"] == "ok" for check in sources.values())


def test_a_source_that_is_down_degrades_readiness_and_says_which(
    world: LegacyWorld, tmp_path: Path
) -> None:
    copy = tmp_path / "world"
    shutil.copytree(world.root, copy / "legacy")
    document = _document(world)
    for connection in document["connections"].values():
        if "root" in connection:
            connection["root"] = str(copy / "legacy")
        elif connection["url"].startswith("sqlite"):
            connection["url"] = connection["url"].replace(str(world.root), str(copy / "legacy"))
    (copy / "legacy" / "reg" / "BDC_FWSYQ.txt").unlink()
    adapters_file = copy / "adapters.json"
    adapters_file.write_text(json.dumps(document), encoding="utf-8")
    body = _ready(tmp_path, adapters_file)
    assert body["status"] == "degraded"
    assert body["checks"]["sources"]["REG-BDC-0001"]["status"] == "failing"
    assert body["checks"]["sources"]["PSB-HJ-0001"]["status"] == "ok"
    assert "BDC_FWSYQ" not in json.dumps(body)  # the reason is a code, not a path
