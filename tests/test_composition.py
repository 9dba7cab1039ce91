"""The hub is composed in one place: ``exchange/hub.py``.

The app, every ``tongban`` command, the worker and the demo take their parts (engine, keys,
checkpoint signer, cache crypto, sources, pipeline, scheduler) from a :class:`exchange.hub.Hub`.
A second place that builds one of them is a second composition that can drift (another secret,
another issuer, another database); this test finds one by reading the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

from exchange.hub import Hub
from exchange.settings import Settings

EXCHANGE = Path(__file__).resolve().parents[1] / "exchange"

PARTS = {
    "make_engine",
    "make_sessionmaker",
    "HubKeys",
    "IdentityProviders",
    "CheckpointSigner",
    "CacheCrypto",
    "SourceCache",
    "ExchangePipeline",
    "HubScheduler",
    "from_file",  # SourceRegistry.from_file, Witnessing.from_file
    "Witnessing",
}
"""What only the composition builds."""


def _builds(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in PARTS:
            found.append(f"{path.relative_to(EXCHANGE.parent)}:{node.lineno} {name}")
    return found


def test_only_the_hub_builds_the_hubs_parts() -> None:
    strays = [
        call
        for path in sorted(EXCHANGE.rglob("*.py"))
        if path.relative_to(EXCHANGE).as_posix() not in {"hub.py", "db.py"}
        and "migrations" not in path.parts
        for call in _builds(path)
    ]
    assert strays == [], "build these through exchange.hub.Hub:\n" + "\n".join(strays)


def test_the_composition_gives_every_part_and_every_domains_jobs(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/hub.db", mode="dev")
    with Hub.from_settings(settings) as hub:
        assert hub.sources.cache is not None
        ids = {spec.id for spec in hub.jobs}
        assert {
            "sweep.tokens",
            "sweep.budgets",
            "sweep.agreements",
            "sweep.consents",
            "audit.checkpoint",
            "sweep.job_runs",
        } <= ids
        assert hub.checkpoints.origin == settings.audit_origin
        assert hub.pseudonyms.of("11010519491231002X") == hub.pseudonyms.of("11010519491231002x")
