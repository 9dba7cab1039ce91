"""``tongban peers``: other hubs this hub works with (级联: city, province, nation).

``add`` registers one with its keys pinned (read from files handed over out of band, or read
once from the peer now and printed with their fingerprints to compare), ``harvest`` reads a
source peer's DCAT-AP catalogue into a new version (or refuses it, saying where), ``list``,
``show``, ``harvests``, ``suspend`` and ``resume``. docs/federation.md walks through them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange import clock
from exchange.cli.common import JsonFlag, china_time, command_hub, out, print_json
from exchange.db import unit_of_work
from exchange.errors import CommandFailed
from exchange.federation.harvest import harvest
from exchange.federation.service import (
    PeerKeys,
    PeerRegistration,
    check_url,
    fetch_keys,
    get_peer,
    harvests_view,
    list_peers,
    peer_view,
    register_peer,
    repin,
    set_status,
)
from exchange.security.gm.sm2 import SoftwareSm2Signer
from exchange.settings import load_settings

__all__ = ["peers_app"]

peers_app = typer.Typer(
    help="Peer hubs (级联): register, harvest their catalogues, suspend.", no_args_is_help=True
)

BY = "cli"


@peers_app.command("add")
def peers_add(
    peer_id: Annotated[str, typer.Option("--id", help="A short name for the peer: province.")],
    url: Annotated[str, typer.Option(help="The peer hub's public URL (its issuer).")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    client_id: Annotated[
        str | None, typer.Option(help="Source: this hub's system id at the peer.")
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", help="Source: this hub's private JWK for the peer.")
    ] = None,
    consumer_system: Annotated[
        str | None, typer.Option(help="Consumer: the local system id the peer relays as.")
    ] = None,
    jwks: Annotated[
        Path | None, typer.Option(help="The peer's JWKS file (else read from the peer now).")
    ] = None,
    checkpoint_key: Annotated[
        Path | None, typer.Option(help="The peer's checkpoint vkey file (else read now).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a peer hub (a source, a consumer, or both) with its keys pinned."""
    settings = load_settings()
    check_url(url, allow_http=settings.mode == "dev")
    keys = _keys(url, jwks, checkpoint_key)
    registration = PeerRegistration(
        peer_id,
        url,
        name=name,
        client_id=client_id,
        key_file=str(key) if key else None,
        consumer_system=consumer_system,
    )
    with command_hub(settings) as hub, unit_of_work(hub.sessions, write=True) as session:
        view = peer_view(
            session,
            register_peer(
                session,
                registration,
                keys,
                by=BY,
                now=clock.now(),
                allow_http=settings.mode == "dev",
                profile=settings.crypto_profile,
            ),
        )
    if as_json:
        print_json(view)
        return
    out.print(f"peer {view['id']} ({', '.join(view['roles'])}) at {view['url']}", highlight=False)
    for k in view["keys"]["evidence"]:
        out.print(f"  evidence key {k['kid']}  thumbprint {k['thumbprint']}", highlight=False)
    out.print(f"  checkpoint key {view['keys']['checkpoint']}", highlight=False)
    out.print("  compare these with the peer's operator: they are pinned", highlight=False)


@peers_app.command("keygen")
def peers_keygen(
    kid: Annotated[str, typer.Option(help="The key id: this hub's system id at the peer.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the two files.")],
    alg: Annotated[
        str | None,
        typer.Option(help="EdDSA (Ed25519) or SM2SM3 (SM2); default: this hub's profile's."),
    ] = None,
) -> None:
    """A new key for this hub to sign its client assertions at a peer with (Ed25519, or SM2 on
    a gm hub): the private JWK (owner-only) for ``peers add --key`` here, the public one for
    ``system add`` there."""
    chosen = alg or ("SM2SM3" if load_settings().crypto_profile == "gm" else "EdDSA")
    if chosen not in ("EdDSA", "SM2SM3"):
        raise CommandFailed("--alg is EdDSA or SM2SM3")
    jwk, private = _new_key(kid, chosen)
    out_dir.mkdir(parents=True, exist_ok=True)
    private_file, public_file = out_dir / f"{kid}.jwk", out_dir / f"{kid}.pub.jwk"
    if private_file.exists():
        raise CommandFailed(f"{private_file.name} exists already; nothing written")
    private_file.write_text(json.dumps({**jwk, "d": private}), "utf-8")
    private_file.chmod(0o600)
    public_file.write_text(json.dumps(jwk), "utf-8")
    out.print(f"private key {private_file}\npublic key  {public_file}", highlight=False)


@peers_app.command("harvest")
def peers_harvest(
    peer_id: Annotated[str, typer.Argument(help="The source peer.")],
    as_json: JsonFlag = False,
) -> None:
    """Harvest the peer's DCAT-AP catalogue into a new version (all of it, or nothing)."""
    with command_hub(load_settings()) as hub:
        record = harvest(hub.sessions, peer_id, by=BY, now=clock.now())
    if as_json:
        print_json(record)
        return
    out.print(
        f"peer {peer_id}: catalogue version {record['version']} "
        f"({len(record['resources'])} resources)",
        highlight=False,
    )
    for resource in record["resources"]:
        out.print(
            f"  {resource['code']:<20} v{resource['version']:<4} {resource['namespace']:<16} "
            f"{resource['provider']}",
            highlight=False,
        )


@peers_app.command("list")
def peers_list(as_json: JsonFlag = False) -> None:
    """The peer hubs."""
    with command_hub(load_settings()) as hub, unit_of_work(hub.sessions) as session:
        views = list_peers(session)
    if as_json:
        print_json(views)
        return
    if not views:
        out.print("no peer hubs", highlight=False)
    for v in views:
        version = v["harvest_version"] or "-"
        out.print(
            f"{v['id']:<12} {v['status']:<10} {'+'.join(v['roles']):<16} v{version!s:<4} "
            f"{v['url']}",
            highlight=False,
        )


@peers_app.command("show")
def peers_show(
    peer_id: Annotated[str, typer.Argument(help="The peer.")], as_json: JsonFlag = False
) -> None:
    """One peer hub, its pinned keys and the resources it holds here."""
    with command_hub(load_settings()) as hub, unit_of_work(hub.sessions) as session:
        view = peer_view(session, get_peer(session, peer_id))
    if as_json:
        print_json(view)
        return
    for key in ("id", "name", "url", "status", "client_id", "consumer_system", "harvest_version"):
        out.print(f"{key:<16} {view[key]}", highlight=False)
    out.print(f"{'resources':<16} {', '.join(view['resources']) or '-'}", highlight=False)


@peers_app.command("harvests")
def peers_harvests(
    peer_id: Annotated[str, typer.Argument(help="The peer.")], as_json: JsonFlag = False
) -> None:
    """Every harvest of the peer's catalogue, newest first, accepted or refused."""
    with command_hub(load_settings()) as hub, unit_of_work(hub.sessions) as session:
        views = harvests_view(session, peer_id)
    if as_json:
        print_json(views)
        return
    for h in views:
        what = f"version {h['version']}" if h["outcome"] == "accepted" else h["detail"]
        out.print(
            f"#{h['number']:<4} {china_time(h['at'])}  {h['outcome']:<9} {what}", highlight=False
        )


@peers_app.command("repin")
def peers_repin(
    peer_id: Annotated[str, typer.Argument(help="The peer.")],
    jwks: Annotated[
        Path | None, typer.Option(help="The peer's new JWKS file (else read from the peer now).")
    ] = None,
    checkpoint_key: Annotated[
        Path | None, typer.Option(help="The peer's new checkpoint vkey file (else read now).")
    ] = None,
) -> None:
    """Replace a peer's pinned keys (after its key rotation, confirmed with its operator)."""
    settings = load_settings()
    with command_hub(settings) as hub:
        with unit_of_work(hub.sessions) as session:
            url = get_peer(session, peer_id).url
        keys = _keys(url, jwks, checkpoint_key)
        with unit_of_work(hub.sessions, write=True) as session:
            pinned = repin(
                session, peer_id, keys, by=BY, now=clock.now(), profile=settings.crypto_profile
            )
            view = peer_view(session, pinned)
    for k in view["keys"]["evidence"]:
        out.print(f"evidence key {k['kid']}  thumbprint {k['thumbprint']}", highlight=False)
    out.print(f"checkpoint key {view['keys']['checkpoint']}", highlight=False)


@peers_app.command("suspend")
def peers_suspend(peer_id: Annotated[str, typer.Argument(help="The peer.")]) -> None:
    """Relay nothing to the peer and accept nothing it relays, until resumed."""
    _set(peer_id, "suspended")


@peers_app.command("resume")
def peers_resume(peer_id: Annotated[str, typer.Argument(help="The peer.")]) -> None:
    """Make a suspended peer active again."""
    _set(peer_id, "active")


def _set(peer_id: str, status: str) -> None:
    with command_hub(load_settings()) as hub, unit_of_work(hub.sessions, write=True) as session:
        set_status(session, peer_id, status, by=BY, now=clock.now())
    out.print(f"peer {peer_id} {status}", highlight=False)


def _new_key(kid: str, alg: str) -> tuple[dict[str, str], str]:
    """A fresh public JWK of *alg* and its private part (``d``), base64url."""
    if alg == "SM2SM3":
        signer = SoftwareSm2Signer.generate()
        public = {**signer.public_key.to_jwk(), "kid": kid, "alg": alg, "use": "sig"}
        return public, _b64(signer.private_bytes())
    secret = Ed25519PrivateKey.generate()
    x = _b64(secret.public_key().public_bytes_raw())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": alg}, _b64(
        secret.private_bytes_raw()
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _keys(url: str, jwks: Path | None, checkpoint_key: Path | None) -> PeerKeys:
    if (jwks is None) != (checkpoint_key is None):
        raise CommandFailed("give both --jwks and --checkpoint-key, or neither")
    if jwks is None or checkpoint_key is None:
        return fetch_keys(url)
    try:
        document: Any = json.loads(jwks.read_text("utf-8"))
        vkey = checkpoint_key.read_text("utf-8")
    except (OSError, ValueError) as exc:
        raise CommandFailed(f"cannot read the peer's keys ({type(exc).__name__})") from None
    return PeerKeys(document, vkey)
