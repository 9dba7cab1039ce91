"""``tongban audit``: verify the whole log from storage; sign a checkpoint now; record the
lifecycles of consents and agreements an upgraded hub holds."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from exchange.agreements.lifecycle import RecordedAgreements, record_agreements
from exchange.audit import vmap_store
from exchange.audit.checkpoint import b64
from exchange.audit.checkpoints import CheckpointSigner
from exchange.audit.errors import LogAltered, WitnessPolicyError
from exchange.audit.lifecycle import hold_log
from exchange.audit.models import AuditHead
from exchange.audit.policy import Verdict
from exchange.audit.verify import KINDS, HeldCheckpoint, Problem, VerifyReport, verify_log
from exchange.audit.witnessing import Witnessing
from exchange.cli.common import JsonFlag, command_hub, out, print_json
from exchange.consent.lifecycle import Recorded, record_consents
from exchange.db import unit_of_work
from exchange.errors import CommandFailed
from exchange.files import write_owner_only
from exchange.hub import Hub

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The audit log: verify it, sign checkpoints.", no_args_is_help=True)

StateFile = Annotated[
    Path | None,
    typer.Option(
        "--state",
        metavar="FILE",
        dir_okay=False,
        help="Refuse a log smaller than, or rewritten below, the head this file remembers from"
        " the last run; remember the newly verified head in it (a signed checkpoint note).",
    ),
]
NoteFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--checkpoint",
        metavar="NOTE_FILE",
        exists=True,
        dir_okay=False,
        help="A checkpoint note signed by the hub (a receipt's, a witness's); the log must"
        " contain it. Repeatable.",
    ),
]

PolicyFile = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        metavar="FILE",
        exists=True,
        dir_okay=False,
        help="Your witness policy (c2sp.org/tlog-policy): a stored checkpoint must meet it, and"
        " the log must contain what each of its witnesses with a URL cosigned.",
    ),
]


@audit_app.command("verify")
def verify(
    state: StateFile = None,
    checkpoint: NoteFiles = None,
    policy: PolicyFile = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute the log from storage and check every column read back, every checkpoint and
    every note given; with --policy, that a checkpoint meets your witness policy; exit 1
    naming, per kind of problem, the first bad index."""
    held = [_held(path, f"the checkpoint note {path}") for path in checkpoint or []]
    if state is not None and state.exists():
        held.append(_held(state, f"the state file {state}"))
    with command_hub() as hub:
        witnessing = None if policy is None else _witnessing(hub, policy)
        asked = [] if witnessing is None else witnessing.monitored()
        held += [
            HeldCheckpoint(f"witness {name}'s checkpoint", note) for name, note, _ in asked if note
        ]
        with unit_of_work(hub.sessions) as session:
            report = verify_log(session, hub.checkpoints.verifier(), held=held)
            witnessed = None if witnessing is None else _check_policy(session, witnessing, report)
        remembered = _remember(state, report, hub.checkpoints) if report.ok and state else None
    if as_json:
        summary = _summary(report, state, remembered)
        if witnessing is not None:
            summary["witness"] = _witness_summary(witnessing, witnessed, asked, report)
        print_json(summary)
    if not report.ok:
        if not as_json:
            _print_problems(report)
        raise LogAltered(_one_line(report))
    if not as_json:
        out.print(
            f"audit log verified: {report.entries} entries, {report.nodes} tree nodes, "
            f"{report.checkpoints} checkpoints",
            highlight=False,
        )
        if checkpoint:
            given = f"the log contains every checkpoint note given ({len(checkpoint)})"
            out.print(given, highlight=False, soft_wrap=True)
        if remembered is not None:
            out.print(
                f"remembered size {remembered} in {state}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        if witnessing is not None and witnessed is not None:
            for line in _witness_lines(witnessed, asked, report):
                out.print(line, highlight=False, markup=False, soft_wrap=True)


def _witnessing(hub: Hub, path: Path) -> Witnessing:
    """The verifier's own policy: it must list this hub's log key, or no log at all."""
    try:
        return hub.witnessing_against(path)
    except WitnessPolicyError as exc:
        raise CommandFailed(exc.detail or exc.title) from None


def _check_policy(session: Session, witnessing: Witnessing, report: VerifyReport) -> Verdict | None:
    """Kind ``witness``: every stored cosignature of a policy witness verifies, and the newest
    checkpoint meeting the policy (its verdict), or a problem when none does."""
    for problem in witnessing.forged_cosignatures(session):
        report.add("witness", None, problem)
    found = witnessing.newest_witnessed(session)
    if found is None:
        report.add(
            "witness",
            None,
            f"no checkpoint meets the witness policy: it needs {witnessing.describe()}",
        )
        return None
    return found[1]


def _witness_lines(
    verdict: Verdict, asked: list[tuple[str, str | None, str | None]], report: VerifyReport
) -> list[str]:
    size = verdict.checkpoint.size
    waiting = max(0, report.entries - size)
    lines = [f"{verdict.explanation}, at size {size}; {waiting} entries after it not yet witnessed"]
    for name, note, why in asked:
        if why is not None:
            lines.append(f"witness {name} could not be asked: {why}")
        elif note is None:
            lines.append(f"witness {name} has cosigned no checkpoint of this log")
    return lines


def _witness_summary(
    witnessing: Witnessing,
    verdict: Verdict | None,
    asked: list[tuple[str, str | None, str | None]],
    report: VerifyReport,
) -> dict[str, Any]:
    size = None if verdict is None else verdict.checkpoint.size
    return {
        "policy": witnessing.describe(),
        "met": verdict is not None,
        "witnessed_size": size,
        "cosigned_by": [] if verdict is None else sorted(verdict.cosigned),
        "unwitnessed_entries": None if size is None else max(0, report.entries - size),
        "asked": {
            name: {"cosigned": note is not None, "problem": why} for name, note, why in asked
        },
    }


def _held(path: Path, name: str) -> HeldCheckpoint:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError as exc:
        raise CommandFailed(f"{path}: cannot be read ({exc.strerror})") from None
    return HeldCheckpoint(name, text if text.endswith("\n") else text + "\n")


def _remember(path: Path, report: VerifyReport, signer: CheckpointSigner) -> int | None:
    """Keep the verified head in *path* as a note the hub signed: the stored checkpoint of
    that size, or a new signature of it (not stored); the size remembered."""
    if report.head is None:
        return None
    size, root = report.head
    note = report.head_note or signer.sign_head(size, root, report.map_roots[size])
    write_owner_only(path, note)
    return size


def _summary(report: VerifyReport, state: Path | None, remembered: int | None) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "entries": report.entries,
        "nodes": report.nodes,
        "checkpoints": report.checkpoints,
        "first_bad_index": report.first_bad_index,
        "problem": report.problem,
        "problems": {k: _problem(p) for k in KINDS if (p := report.problems.get(k))},
        "unchecked": {k: _problem(p) for k in KINDS if (p := report.unchecked.get(k))},
        "held": report.held,
        "state": None if state is None else {"file": str(state), "remembered": remembered},
    }


def _problem(problem: Problem) -> dict[str, Any]:
    return {"first_index": problem.first_index, "count": problem.count, "message": problem.message}


def _print_problems(report: VerifyReport) -> None:
    """One line per kind of check that failed or could not be made, in the order of checks."""
    for kind in KINDS:
        lines = []
        if (problem := report.problems.get(kind)) is not None:
            lines.append(f"{kind}: {_where(problem)}{problem.message} ({problem.count} in all)")
        if (skipped := report.unchecked.get(kind)) is not None:
            lines.append(f"{kind}: {skipped.message} ({skipped.count} in all)")
        for line in lines:
            out.print(line, highlight=False, markup=False, soft_wrap=True)


def _where(problem: Problem) -> str:
    return "" if problem.first_index is None else f"first bad index {problem.first_index}: "


def _one_line(report: VerifyReport) -> str:
    """The first problem, as the one line on stderr, and which other kinds failed."""
    first = report.first
    if first is None:  # only checks that could not be made
        return "the audit log could not be checked completely"
    others = [k for k in KINDS if k in report.problems][1:]
    also = f" (problems of kind {', '.join(others)} too)" if others else ""
    return f"{_where(first)}{first.message}{also}"


@audit_app.command("checkpoint")
def checkpoint(as_json: JsonFlag = False) -> None:
    """Sign a checkpoint of the log as it is now and print the signed note."""
    with command_hub() as hub, unit_of_work(hub.sessions, write=True) as session:
        signed = hub.checkpoints.sign(session)
    if as_json:
        print_json({"size": signed.size, "note": signed.note})
    else:
        sys.stdout.write(signed.note)  # verbatim: a signed note must not be re-wrapped


@audit_app.command("record-lifecycles")
def record_lifecycles(as_json: JsonFlag = False) -> None:
    """Upgrading a hub: give every consent that has no lifecycle entry yet a 'recorded' entry,
    if its signed receipt verifies and its row is what the receipt signed, and every agreement
    likewise (an approved or revoked one without signed terms has them signed first), so that
    the exchange relies on them again; name each one left alone (it releases nothing)."""
    done = Recorded()
    agreements = RecordedAgreements()
    with command_hub() as hub:
        while True:
            with unit_of_work(hub.sessions, write=True) as session:
                page = record_consents(session)
            done.recorded += page.recorded
            done.refused += [r for r in page.refused if r not in done.refused]
            if not page.recorded:
                break
        while True:
            with unit_of_work(hub.sessions, write=True) as session:
                more = record_agreements(session, hub.keys, now=datetime.now(UTC))
            agreements.recorded += more.recorded
            agreements.signed += more.signed
            agreements.refused += [r for r in more.refused if r not in agreements.refused]
            if not more.recorded:
                break
    if as_json:
        print_json(
            {
                "consents": {"recorded": done.recorded, "refused": done.refused},
                "agreements": {
                    "recorded": agreements.recorded,
                    "signed": agreements.signed,
                    "refused": agreements.refused,
                },
            }
        )
        return
    out.print(f"consents recorded in the audit log: {done.recorded}", highlight=False)
    out.print(
        f"agreements recorded in the audit log: {agreements.recorded}"
        f" (terms signed: {agreements.signed})",
        highlight=False,
    )
    for reason in done.refused + agreements.refused:
        out.print(f"left alone: {reason}", highlight=False, markup=False, soft_wrap=True)


MAP_PAGE = 10_000
"""Entries added to the subject map per transaction by ``tongban audit build-map``."""


@audit_app.command("build-map")
def build_map(as_json: JsonFlag = False) -> None:
    """Upgrading a hub: build the subject map (the index a citizen's completeness proof is read
    from) up to the log's size, in transactions of 10,000 entries, so the first query after the
    upgrade does not. The hub would otherwise build it on its first append or checkpoint."""
    added = 0
    with command_hub() as hub:
        while True:
            with unit_of_work(hub.sessions, write=True) as session:
                hold_log(session)
                head = session.get(AuditHead, 1)
                size = 0 if head is None else head.size
                version, _ = vmap_store.latest(session)
                target = min(size, version + MAP_PAGE)
                root = vmap_store.catch_up(session, target, page=MAP_PAGE)
            added += target - version
            if target >= size:
                break
    if as_json:
        print_json({"size": size, "added": added, "map_root": b64(root)})
        return
    out.print(
        f"subject map built to log size {size} ({added} entries added); root {b64(root)}",
        highlight=False,
    )
