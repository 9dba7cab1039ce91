"""The ``tongban`` command as a user runs it: real processes, a real server on loopback.

A test of what a command does rather than of the process runs it in this process
(:func:`here`); every command group keeps a test through the installed script."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests import factories
from tests.commands import tongban_in_process
from tests.servers import TONGBAN, demo_hub, dev_environment


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    inherited = dev_environment()
    environment = {**inherited, **(env or {})}
    return subprocess.run(
        [TONGBAN, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def here(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """:func:`run` in this process (:mod:`tests.commands`)."""
    return tongban_in_process(cwd, *args, env={**dev_environment(), **(env or {})})


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def test_help_lists_the_contract_commands(workdir: Path) -> None:
    result = run(workdir, "--help")
    assert result.returncode == 0
    for command in ("serve", "demo", "catalogue", "system"):
        assert command in result.stdout


def test_demo_builds_the_world_and_a_second_one_changes_nothing(workdir: Path) -> None:
    first = here(workdir, "demo", "--citizens", "300", "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["published_now"] == 14
    assert set(summary["systems"]) == {"edu-enrolment", "mca-dibao"}
    assert summary["legacy"]["citizens"] == 300
    assert summary["legacy"]["rows"]["PSB"]["T_RK_HJXX"] == 300
    manifest = json.loads((workdir / "var/demo/demo.json").read_text("utf-8"))
    assert {s["id"] for s in manifest["systems"]} == {"edu-enrolment", "mca-dibao"}
    assert manifest["subjects"]
    assert {"id", "kind", "shows"} == set(manifest["subjects"][0])
    assert {s["kind"] for s in manifest["subjects"]} >= {"has_property", "deceased"}
    settings = json.loads((workdir / "var/demo/adapters.json").read_text("utf-8"))
    assert settings["resources"]["REG-BDC-0001"]["mapping"] == "reg/property"
    assert (workdir / "var/demo/legacy/psb.sqlite").exists()
    assert (workdir / "var/demo/legacy/reg/BDC_FWSYQ.txt").exists()
    key_file = workdir / "var/demo/keys/edu-enrolment.jwk"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert "d" in json.loads(key_file.read_text("utf-8"))
    assert (workdir / "var/tongban.db").exists()
    key = json.loads(key_file.read_text("utf-8"))
    again = here(workdir, "demo", "--citizens", "200", "--json")
    assert again.returncode == 1  # refused before writing (tests/test_first_hour.py)
    assert "var/demo already holds a demo" in again.stderr
    assert json.loads(key_file.read_text("utf-8")) == key


def test_demo_prints_where_things_are_but_no_personal_data(workdir: Path) -> None:
    result = run(workdir, "demo", "--citizens", "200")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((workdir / "var/demo/demo.json").read_text("utf-8"))
    for subject in manifest["subjects"]:
        assert subject["id"] not in result.stdout
        assert subject["id"][-4:] + "\n" not in result.stdout
    assert "T_RK_HJXX 200" in result.stdout
    assert "legacy/reg/BDC_FWSYQ.txt" in result.stdout


def test_publish_reports_a_bad_file_in_one_line_and_publishes_nothing(workdir: Path) -> None:
    good = workdir / "dept.yaml"
    good.write_text(yaml.safe_dump(factories.department("PSB"), allow_unicode=True), "utf-8")
    bad_document = factories.resource()
    del bad_document["fields"][0]["sensitivity"]
    bad = workdir / "res.json"
    bad.write_text(json.dumps(bad_document, ensure_ascii=False), "utf-8")
    result = run(workdir, "catalogue", "publish", str(good), str(bad))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "res.json" in result.stderr
    assert "/fields/0/sensitivity" in result.stderr
    search = run(workdir, "catalogue", "search", "--json")
    assert json.loads(search.stdout)["total"] == 0


def test_publish_then_search_then_deprecate(workdir: Path) -> None:
    files = []
    for name, document in (
        ("d.yaml", factories.department("PSB")),
        ("r.yaml", factories.resource(traits=("full",))),
    ):
        path = workdir / name
        path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
        files.append(str(path))
    result = here(workdir, "catalogue", "publish", *reversed(files), "--json")
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    assert [(o["kind"], o["created"]) for o in outcomes] == [
        ("department", True),
        ("resource", True),
    ]
    found = json.loads(here(workdir, "catalogue", "search", "户籍", "--json").stdout)
    assert found["results"] == ["PSB-HJ-0001"]
    assert (
        here(workdir, "catalogue", "deprecate", "PSB-HJ-0001", "--reason", "merged").returncode == 0
    )
    assert json.loads(here(workdir, "catalogue", "search", "户籍", "--json").stdout)["total"] == 0


def test_system_add_accepts_a_public_jwk_and_refuses_a_private_one(workdir: Path) -> None:
    assert here(workdir, "demo", "--citizens", "100").returncode == 0
    private = json.loads((workdir / "var/demo/keys/mca-dibao.jwk").read_text("utf-8"))
    private["kid"] = "other-1"
    leaked = workdir / "leaked.jwk"
    leaked.write_text(json.dumps(private), "utf-8")
    result = run(
        workdir, "system", "add", "--id", "psb-portal", "--department", "PSB", "--jwk", str(leaked)
    )
    assert result.returncode == 1
    assert "/keys/0/d" in result.stderr
    assert private["d"] not in result.stderr
    public = {k: v for k, v in private.items() if k != "d"}
    (workdir / "public.jwk").write_text(json.dumps({"keys": [public]}), "utf-8")
    result = run(
        workdir,
        "system",
        "add",
        "--id",
        "psb-portal",
        "--department",
        "PSB",
        "--jwk",
        str(workdir / "public.jwk"),
        "--purpose",
        "identity-check",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["keys"] == ["other-1"]


def test_unreachable_database_is_a_one_line_error(workdir: Path) -> None:
    result = run(
        workdir,
        "catalogue",
        "search",
        env={"TONGBAN_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("tongban: database error")
    assert result.stderr.count("\n") == 1


def test_prod_mode_with_default_secret_refuses_to_start(workdir: Path) -> None:
    result = run(workdir, "serve", env={"TONGBAN_MODE": "prod"})
    assert result.returncode == 1
    assert "TONGBAN_SECRET_KEY" in result.stderr


@pytest.fixture
def served(workdir: Path) -> Iterator[str]:
    with demo_hub(workdir) as hub:
        yield hub.base


def test_serve_answers_over_real_http(served: str) -> None:
    assert httpx.get(f"{served}/readyz").json()["status"] == "ready"
    found = httpx.get(f"{served}/catalogue/resources", params={"q": "不动产"}).json()
    assert found["results"][0]["code"] == "REG-BDC-0001"
    turtle = httpx.get(f"{served}/catalogue/dcat", headers={"Accept": "text/turtle"})
    assert f"<{served}/exchange/query>" in turtle.text
    token = httpx.post(
        f"{served}/dev/idp/token",
        json={"sub": "reg-admin", "role": "department_admin", "department": "REG"},
    ).json()["id_token"]
    response = httpx.post(
        f"{served}/catalogue/resources/REG-BDC-0001/deprecate",
        json={"reason": "演示"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    problem = httpx.get(f"{served}/catalogue/resources/XX-0000-YY")
    assert problem.headers["content-type"] == "application/problem+json"
