"""Build the demo world into the hub database and a data directory.

Idempotent: running it again publishes nothing new and reuses the case systems' keys. What it
leaves in the data directory is part of the external contract (CONTRACT.md): ``demo.json`` and
``keys/<system-id>.jwk`` (private JWKs, demo only, written with mode 0600).

The legacy stores and ``adapters.json`` are :func:`exchange.demo.sources.build_legacy_world`'s;
its showcase subjects come here as ``subjects`` and go into ``demo.json`` (ID numbers with what
each shows).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from catalogue.descriptors import Descriptor, parse_descriptor
from catalogue.publishing import PublishOutcome, publish
from catalogue.systems import register_system
from catalogue.vocabulary import DescriptorKind
from exchange import clock
from exchange.agreements.documents import demo_agreement_paths, load_agreement_documents
from exchange.demo.consents import seed_consents
from exchange.files import owner_only_directory, owner_only_file, write_owner_only
from exchange.hub import Hub
from exchange.lifecycle.review import record_bootstrap
from exchange.security.clientauth import client_algorithms_of
from exchange.security.gm import SoftwareSm2Signer
from exchange.security.keys import HubKeys

__all__ = ["DEMO_SYSTEMS", "DemoWorld", "add_consents", "build_demo", "demo_descriptors"]

DEMO_SYSTEMS: tuple[dict[str, Any], ...] = (
    {
        "id": "edu-enrolment",
        "department": "EDU",
        "name": "义务教育入学登记系统 (school enrolment case system)",
        "purposes": ["school-enrolment"],
        "service_items": ["EDU-RXDJ-001"],
    },
    {
        "id": "mca-dibao",
        "department": "MCA",
        "name": "最低生活保障申请系统 (minimum living allowance case system)",
        "purposes": ["minimum-living-allowance"],
        "service_items": ["MCA-DBSQ-001"],
    },
)


@dataclass
class DemoWorld:
    data_dir: Path
    outcomes: list[PublishOutcome] = field(default_factory=list)
    systems: list[dict[str, Any]] = field(default_factory=list)
    subjects: list[Mapping[str, str]] = field(default_factory=list)
    agreements: list[str] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        by_kind: dict[str, list[str]] = {}
        for outcome in self.outcomes:
            by_kind.setdefault(outcome.kind.value, []).append(outcome.code)
        return {
            "departments": by_kind.get("department", []),
            "resources": by_kind.get("resource", []),
            "service_items": by_kind.get("service_item", []),
            "systems": [s["id"] for s in self.systems],
            "agreements": self.agreements,
            "consents": [c["status"] for c in self.consents],
            "published_now": sum(o.created for o in self.outcomes),
        }


def demo_descriptors() -> list[Descriptor]:
    """The bundled demo descriptors, departments first, then resources, then service items."""
    folder = resources.files("exchange.demo").joinpath("catalogue")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    return sort_for_publishing([parse_descriptor(f.read_bytes()) for f in files])


def sort_for_publishing(descriptors: list[Descriptor]) -> list[Descriptor]:
    """Departments before the resources they provide, resources before service items."""
    rank = {
        DescriptorKind.DEPARTMENT: 0,
        DescriptorKind.RESOURCE: 1,
        DescriptorKind.SERVICE_ITEM: 2,
    }
    return sorted(descriptors, key=lambda d: rank[d.kind])


def build_demo(
    session: Session,
    data_dir: Path,
    *,
    subjects: Sequence[Mapping[str, str]] = (),
    now: datetime | None = None,
    hub: Hub | None = None,
    keys: HubKeys | None = None,
    with_consents: bool = True,
) -> DemoWorld:
    """Publish the demo catalogue and register the case systems (caller commits); list
    *subjects* (``ShowcaseSubject.to_json()`` entries) in ``demo.json``. With the *hub* (whose
    keys sign consent receipts), the consent candidates get their consents. The demo agreements'
    terms are signed with the hub's keys, or *keys* without a hub (those of the hub that will
    serve this world, whose secret unwraps them). ``with_consents=False`` leaves the consents
    to :func:`add_consents`."""
    now = now or clock.now()
    world = DemoWorld(data_dir=data_dir, subjects=list(subjects))
    descriptors = demo_descriptors()
    for descriptor in descriptors:
        world.outcomes.append(publish(session, descriptor, by="demo", now=now))
    record_bootstrap(session, descriptors, world.outcomes, by="demo", now=now)
    keys_dir = data_dir / "keys"
    owner_only_directory(keys_dir)
    profile = _terms_keys(hub, keys).profile.name  # a gm hub's systems hold SM2 keys
    algorithms = client_algorithms_of(profile)
    for spec in DEMO_SYSTEMS:
        public = _system_key(keys_dir / f"{spec['id']}.jwk", spec["id"], profile)
        registration = {k: spec[k] for k in ("id", "department", "name", "purposes")}
        register_system(session, {**registration, "keys": [public]}, now=now, algorithms=algorithms)
        world.systems.append(spec)
    session.flush()
    world.agreements = [
        outcome.id
        for outcome in load_agreement_documents(
            session, demo_agreement_paths(), now, keys=_terms_keys(hub, keys), by="demo"
        )
    ]
    if hub is not None and with_consents:
        world.consents = seed_consents(session, hub, subjects, now=now)
    _write_manifest(world)
    return world


def add_consents(session: Session, hub: Hub, world: DemoWorld, *, now: datetime) -> None:
    """The demo consents of :func:`build_demo`, given at *now* (after a history, so that the
    request waiting for its citizen is still open), and ``demo.json`` rewritten with them."""
    world.consents = seed_consents(session, hub, world.subjects, now=now)
    _write_manifest(world)


def _terms_keys(hub: Hub | None, keys: HubKeys | None) -> HubKeys:
    if hub is not None:
        return hub.keys
    if keys is None:
        raise ValueError("the demo's agreements are signed with the hub's keys: pass hub or keys")
    return keys


def _system_key(path: Path, system_id: str, profile: str = "intl") -> dict[str, str]:
    """Load the system's private JWK from ``path``, creating it on first run (Ed25519, or SM2
    under the ``gm`` profile); return the public."""
    if path.exists():
        owner_only_file(path)  # a private key: tightened if an older build left it readable
        private = json.loads(path.read_text("utf-8"))
    elif profile == "gm":
        signer = SoftwareSm2Signer.generate()
        public = signer.public_key.to_jwk()
        private = {**public, "alg": "SM2SM3", "use": "sig", "kid": f"{system_id}-1"}
        private["d"] = _b64(signer.private_bytes())
    else:
        key = Ed25519PrivateKey.generate()
        private = {
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": f"{system_id}-1",
            "x": _b64(key.public_key().public_bytes_raw()),
            "d": _b64(key.private_bytes_raw()),
        }
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(private, handle, indent=2)
    return {k: v for k, v in private.items() if k != "d"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _write_manifest(world: DemoWorld) -> None:
    descriptors = demo_descriptors()
    manifest = {
        "departments": [
            {"code": d.code, "name": d.content["name"], "name_en": d.content.get("name_en")}
            for d in descriptors
            if d.kind is DescriptorKind.DEPARTMENT
        ],
        "resources": [
            {"code": d.code, "namespace": d.content["namespace"], "provider": d.content["provider"]}
            for d in descriptors
            if d.kind is DescriptorKind.RESOURCE
        ],
        "service_items": [
            {"code": d.code, "owner": d.content["owner"], "name": d.content["name"]}
            for d in descriptors
            if d.kind is DescriptorKind.SERVICE_ITEM
        ],
        "systems": [{**spec, "key_file": f"keys/{spec['id']}.jwk"} for spec in world.systems],
        "agreements": world.agreements,
        "subjects": world.subjects,
        "consents": world.consents,
    }
    path = world.data_dir / "demo.json"
    write_owner_only(path, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
