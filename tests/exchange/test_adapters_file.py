"""The adapters file: department credentials kept out of it (``${env:NAME}``,
``${file:/path}``), and its JSON Schema (``schemas/json/adapters.schema.json``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.demo.legacy import LegacyTargets
from exchange.demo.sources import adapter_settings
from exchange.sources.errors import AdapterConfigError
from exchange.sources.references import resolve_references
from exchange.sources.registry import SourceRegistry
from schemas import validator
from tests.cache.conftest import RESOURCE, adapters_document, make_table

PASSWORD = "s3cret-Pa55word"  # a test value, looked for in error messages


def secret_file(tmp_path: Path, content: str, mode: int = 0o600) -> Path:
    path = tmp_path / "secret"
    path.write_text(content, "utf-8")
    path.chmod(mode)
    return path


def problems(document: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator("adapters").iter_errors(document)]


# -- references ------------------------------------------------------------------------------


def test_an_environment_reference_is_replaced_where_it_stands() -> None:
    config = {"url": "postgresql+psycopg://reader:${env:HRSS_DB_PASSWORD}@db/hrss", "pool_size": 2}
    resolved = resolve_references("hrss", config, {"HRSS_DB_PASSWORD": PASSWORD})
    assert resolved == {"url": f"postgresql+psycopg://reader:{PASSWORD}@db/hrss", "pool_size": 2}


def test_a_file_reference_reads_the_owner_only_file_without_its_trailing_newline(
    tmp_path: Path,
) -> None:
    path = secret_file(tmp_path, f"sqlite:///{tmp_path}/x.db\n", 0o400)
    headers = {"X-Key": f"${{file:{path}}}"}
    resolved = resolve_references("mca", {"url": f"${{file:{path}}}", "base_headers": headers}, {})
    assert resolved["url"] == f"sqlite:///{tmp_path}/x.db"
    assert resolved["base_headers"] == {"X-Key": f"sqlite:///{tmp_path}/x.db"}


@pytest.mark.parametrize(
    ("value", "environ", "says"),
    [
        ("${env:MISSING}", {}, "names an environment variable that is not set"),
        ("${env:EMPTY}", {"EMPTY": ""}, "names an environment variable that is not set"),
        ("${PSB_PASSWORD}", {"PSB_PASSWORD": PASSWORD}, "is not a reference the hub knows"),
        ("${vault:psb}", {}, "is not a reference the hub knows"),
        ("${file:relative/path}", {}, "is not a reference the hub knows"),
        ("${env:LINE}", {"LINE": f"{PASSWORD}\nx"}, "holds a control character"),
    ],
)
def test_a_reference_that_cannot_be_resolved_is_refused_naming_it_and_never_a_value(
    value: str, environ: dict[str, str], says: str
) -> None:
    with pytest.raises(AdapterConfigError) as refused:
        resolve_references("psb", {"url": f"mysql+pymysql://reader:{value}@db/psb"}, environ)
    message = refused.value.explain()
    assert says in message
    assert "connection psb" in message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    ("content", "mode", "says"),
    [
        (PASSWORD, 0o644, "may be read or written by others than its owner (mode 0644)"),
        (PASSWORD, 0o660, "may be read or written by others than its owner (mode 0660)"),
        ("\n", 0o600, "is empty"),
        (f"{PASSWORD}\n\n", 0o600, "holds a control character"),
    ],
)
def test_a_secret_file_others_may_read_or_that_holds_no_single_value_is_refused(
    tmp_path: Path, content: str, mode: int, says: str
) -> None:
    path = secret_file(tmp_path, content, mode)
    with pytest.raises(AdapterConfigError) as refused:
        resolve_references("hrss", {"url": f"${{file:{path}}}"}, {})
    assert says in refused.value.explain()
    assert PASSWORD not in refused.value.explain()


def test_a_missing_secret_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AdapterConfigError, match="cannot be read"):
        resolve_references("hrss", {"url": f"${{file:{tmp_path}/absent}}"}, {})


def test_the_hub_reaches_a_source_whose_url_is_kept_in_a_secret_file(tmp_path: Path) -> None:
    legacy = make_table(tmp_path / "legacy.db")
    path = secret_file(tmp_path, legacy.url + "\n")
    document = adapters_document(f"${{file:{path}}}")
    registry = SourceRegistry.from_document(document)
    try:
        binding = registry.binding(RESOURCE)
        assert binding is not None
        assert binding.config["url"] == legacy.url
        assert binding.config["timeout_s"] == 10.0
        assert registry.health()[RESOURCE].ok
    finally:
        registry.close()
        legacy.engine.dispose()


def test_a_hub_whose_reference_is_unset_refuses_its_adapters_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TONGBAN_TEST_UNSET_URL", raising=False)
    with pytest.raises(AdapterConfigError, match="connection src"):
        SourceRegistry.from_document(adapters_document("${env:TONGBAN_TEST_UNSET_URL}"))
    monkeypatch.setenv("TONGBAN_TEST_UNSET_URL", "sqlite:///nowhere.db")
    registry = SourceRegistry.from_document(adapters_document("${env:TONGBAN_TEST_UNSET_URL}"))
    assert registry.bound() == [RESOURCE]


# -- the schema ------------------------------------------------------------------------------


def demo_document(tmp_path: Path) -> dict[str, Any]:
    return adapter_settings(
        LegacyTargets.in_directory(tmp_path), tmp_path, {"HRSS-SB-0001": {"every_s": 3600}}
    )


def test_the_demo_adapters_file_and_one_with_references_fit_the_schema(tmp_path: Path) -> None:
    document = demo_document(tmp_path)
    assert problems(document) == []
    document["connections"]["psb"] = {
        "url": "mysql+pymysql://reader:${env:PSB_DB_PASSWORD}@psb-db/psb",
        "timeout_s": 2.5,
    }
    document["connections"]["hrss"] = {"url": "${file:/run/credentials/tongban.service/hrss}"}
    assert problems(document) == []
    assert problems(adapters_document("sqlite:///x.db")) == []


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(secrets={"psb": "x"}),
        lambda d: d["resources"]["PSB-HJ-0001"].update(sync={"every_s": 3600}),
        lambda d: d["resources"]["PSB-HJ-0001"].pop("connection"),
        lambda d: d["resources"]["PSB-HJ-0001"].update(mode="sometimes"),
        lambda d: d["resources"]["HRSS-SB-0001"]["sync"].update(every_s=10),
        lambda d: d["connections"]["psb"].update(url=""),
        lambda d: d["connections"]["psb"].update(timeout_s=0),
        lambda d: d["mappings"]["psb/household"].pop("key"),
    ],
)
def test_the_schema_refuses_what_the_hub_would_refuse(tmp_path: Path, tamper: Any) -> None:
    document = copy.deepcopy(demo_document(tmp_path))
    tamper(document)
    assert problems(document)


def test_the_schema_is_served_by_the_hub(client: TestClient) -> None:
    answer = client.get("/schemas/adapters.schema.json")
    assert answer.status_code == 200
    assert answer.json()["$id"].endswith("/adapters.schema.json")
