"""``tongban crypto``: the steps of moving a hub from the ``intl`` crypto profile to ``gm`` that
exist today (docs/gm.md, "Moving an `intl` hub to `gm`").

- ``plan --to gm``: what the move would meet, read from the database, changing nothing
  (:mod:`exchange.crypto_migration.plan`); fails (exit 1, the first blocker on stderr) while
  something blocks it;
- ``archive-log --out DIR``: with the hub stopped, sign a last checkpoint and write the whole
  audit log, its checkpoints, cosignatures, log key and every hub public key to *DIR*
  (:mod:`exchange.audit.archive`);
- ``verify-archive DIR``: check such an archive without the hub; fails on a problem.

The switch itself (a new SM3 log, new SM2 keys, re-sealing, pseudonyms under both profiles) is
not built: docs/gm.md says what is left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from exchange import clock
from exchange.audit.archive import ArchiveReport, verify_archive, write_archive
from exchange.cli.common import JsonFlag, china_time, command_hub, out, print_json
from exchange.crypto_migration.plan import SEALED, MigrationPlan, plan_migration, signs_of_life
from exchange.db import unit_of_work
from exchange.errors import CommandFailed

__all__ = ["crypto_app"]

crypto_app = typer.Typer(
    help="Moving the hub to the national-cryptography profile (gm): plan, archive the log.",
    no_args_is_help=True,
)

_SEALED_NAMES = {table: what for table, _column, what in SEALED}


@crypto_app.command("plan")
def plan(
    to: Annotated[str, typer.Option("--to", help="The profile to move to (gm).")] = "gm",
    as_json: JsonFlag = False,
) -> None:
    """What moving this hub to --to would meet (nothing is changed); exit 1 while blocked."""
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        found = plan_migration(session, clock.now(), target=to)
    if as_json:
        print_json(_plan_view(found))
    else:
        _print_plan(found)
    if not found.ready:
        raise CommandFailed(f"the move to {found.target} cannot start: {found.blockers[0]}")


def _plan_view(found: MigrationPlan) -> dict[str, Any]:
    return {
        "target": found.target,
        "recorded": found.recorded,
        "ready": found.ready,
        "blockers": found.blockers,
        "refused_keys": [key.__dict__ for key in found.refused_keys],
        "pseudonymous_rows": found.pseudonymous,
        "sealed_rows": found.sealed,
    }


def _print_plan(found: MigrationPlan) -> None:
    state = "可以开始" if found.ready else "不能开始"
    out.print(f"迁移到 {found.target}: {state} (当前记录的密码配置: {found.recorded or '无'})")
    for blocker in found.blockers:
        out.print(f"  阻止: {blocker}")
    if found.refused_keys:
        out.print(
            f"{len(found.refused_keys)} 个办件系统密钥在 gm 下不被接受 (须另行登记 SM2 密钥):"
        )
        for key in found.refused_keys:
            out.print(f"  {key.system} ({key.department}) {key.kid} {key.alg}")
    if found.pseudonymous:
        out.print("以 intl 假名 (HMAC-SHA-256) 记录公民的行:")
        for table, count in found.pseudonymous.items():
            out.print(f"  {table}: {count}")
    if found.sealed:
        out.print("以 intl 密钥表 (AES-256-GCM) 加密的行:")
        for table, count in found.sealed.items():
            out.print(f"  {table} ({_SEALED_NAMES.get(table, table)}): {count}")


@crypto_app.command("archive-log")
def archive_log(
    directory: Annotated[
        Path, typer.Option("--out", help="A new directory for the archive (must not exist).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """With the hub stopped: sign a last checkpoint and archive the whole audit log to --out."""
    if directory.exists():
        raise CommandFailed(f"{directory} exists already; archive into a new directory")
    with command_hub() as hub, unit_of_work(hub.sessions, write=True) as session:
        now = clock.now()
        alive = signs_of_life(session, now)
        if alive:
            raise CommandFailed(f"the hub is not stopped: {alive[0]}")
        try:
            archived = write_archive(
                session, hub.checkpoints, hub.settings.crypto_profile, directory, now
            )
        except OSError as exc:  # the directory, or a left-over .partial, or the disk
            reason = f"{exc.filename}: {exc.strerror}" if exc.strerror else str(exc)
            raise CommandFailed(reason) from None
    view = {
        "directory": str(archived.directory),
        "origin": archived.origin,
        "profile": archived.profile,
        "size": archived.size,
        "checkpoints": archived.checkpoints,
        "hub_keys": archived.hub_keys,
        "archived_at": now.isoformat(),
    }
    if as_json:
        print_json(view)
        return
    out.print(
        f"审计日志已归档到 {archived.directory}: {archived.origin}, {archived.size} 条记录, "
        f"{archived.checkpoints} 个检查点, {archived.hub_keys} 个枢纽公钥 ({china_time(now)})"
    )


@crypto_app.command("verify-archive")
def verify_archive_command(
    directory: Annotated[Path, typer.Argument(help="The archive directory.")],
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint note signed by the hub before the move (a receipt's, a "
            "witness's); the archived log must hold it (repeatable).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check an archived audit log without the hub (entries, tree, checkpoints, keys, and
    every --checkpoint note given)."""
    held = [(str(path), _read_note(path)) for path in checkpoint or []]
    report = verify_archive(directory, held)
    if as_json:
        print_json(_report_view(report))
    elif report.ok:
        out.print(
            f"归档核验通过: {report.origin}, {report.size} 条记录 ({report.tree_hash} 树), "
            f"{report.checkpoints} 个检查点签名有效, {report.hub_keys} 个枢纽公钥"
        )
    else:
        for problem in report.problems:
            out.print(f"{problem.kind}: {problem.where}: {problem.message}")
    if not report.ok:
        first = report.problems[0]
        raise CommandFailed(f"the archive does not verify: {first.where}: {first.message}")


def _read_note(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        raise CommandFailed(f"{path}: cannot be read as a checkpoint note") from None


def _report_view(report: ArchiveReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "origin": report.origin,
        "tree_hash": report.tree_hash,
        "size": report.size,
        "root": report.root,
        "checkpoints": report.checkpoints,
        "hub_keys": report.hub_keys,
        "problems": [problem.__dict__ for problem in report.problems],
    }
