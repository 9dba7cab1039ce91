"""``tongban jobs``: the scheduled jobs with their last run, outcome and next run; ``tongban jobs
run ID`` to run one now; ``tongban worker`` to run the scheduler on its own (docs/jobs.md).

``tongban jobs`` reads the database, so it shows what every worker did. ``jobs run`` takes the
same claim, retries and history as a scheduled run (trigger ``manual``) and exits 1 when the
run failed after its retries.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Column, Table

from exchange.cli.common import JsonFlag, china_time, command_hub, out, print_json
from exchange.db import unit_of_work
from exchange.jobs.errors import JobFailed, UnknownJob
from exchange.jobs.models import RunOutcome, Trigger
from exchange.jobs.runner import JobRunner
from exchange.jobs.spec import find_job
from exchange.jobs.status import job_detail, job_views
from exchange.logs import install_log_redaction

__all__ = ["jobs_app", "worker_command"]

jobs_app = typer.Typer(
    help="The scheduled jobs: last run, outcome, next run; run one now.",
    invoke_without_command=True,
)


@jobs_app.callback()
def jobs(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the scheduled jobs with their last run, outcome, next run and failing flag."""
    if ctx.invoked_subcommand is not None:
        return
    with command_hub() as hub, unit_of_work(hub.sessions) as session:
        views = job_views(session, hub.jobs)
    if as_json:
        print_json({"jobs": views})
        return
    out.print(_table(views))


@jobs_app.command("run")
def run(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id, e.g. sweep.tokens.")],
    as_json: JsonFlag = False,
) -> None:
    """Run one job now (with its retries); exit 1 if it fails."""
    # Each attempt is in the history (`tongban jobs`); stderr keeps to the one-line reason.
    logging.getLogger("tongban.jobs").addHandler(logging.NullHandler())
    with command_hub() as hub:
        spec = find_job(hub.jobs, job_id)
        if spec is None:
            known = ", ".join(s.id for s in hub.jobs)
            raise UnknownJob(f"no job named {job_id!r} (jobs: {known})")
        runner = JobRunner(hub.settings, hub.sessions)
        result = runner.run(spec, datetime.now(UTC), Trigger.MANUAL)
        with unit_of_work(hub.sessions) as session:
            detail = job_detail(session, spec, recent=1)
    if as_json:
        print_json(detail)
    elif result is not None and result.outcome is RunOutcome.OK:
        out.print(f"{spec.id}: ok, {result.rows} rows (attempt {result.attempt})")
    if result is None or result.outcome is not RunOutcome.OK:
        error = "claimed elsewhere" if result is None else result.error_class
        attempts = 0 if result is None else result.attempt
        raise JobFailed(f"{spec.id} failed after {attempts} attempt(s): {error}")


def worker_command() -> None:
    """Run the job scheduler only (no HTTP), until SIGTERM or Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_redaction()
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with command_hub() as hub:
        scheduler = hub.scheduler()
        scheduler.start()
        out.print(f"Tongban worker: {len(hub.jobs)} jobs scheduled; stop with Ctrl-C")
        try:
            stop.wait()
        finally:
            scheduler.shutdown()
    out.print("Tongban worker stopped")


def _table(views: list[dict[str, Any]]) -> Table:
    """One row per job: its id and description, interval, last run (when, outcome, time
    taken, rows), next run, and whether it is failing."""
    table = Table(
        Column("job", ratio=1),
        Column("every", no_wrap=True, justify="right"),
        Column("last run", no_wrap=True),
        Column("next run", no_wrap=True),
        Column("failing", no_wrap=True),
        box=box.SIMPLE_HEAD,
    )
    for view in views:
        table.add_row(
            f"{view['id']}\n[dim]{view['description']}[/dim]",
            f"{view['every_s']}s",
            _last_run(view["last_run"]),
            _short(view["next_run"]) if view["scheduled"] else "not scheduled",
            "[red]yes[/red]" if view["failing"] else "no",
        )
    return table


def _last_run(last: dict[str, Any] | None) -> str:
    if last is None:
        return "never"
    outcome = last["outcome"]
    colour = {"ok": "green", "failed": "red"}.get(outcome, "yellow")
    took = "" if last["duration_s"] is None else f" {last['duration_s']:.2f}s"
    rows = "" if last["rows"] is None else f" {last['rows']} rows"
    return f"{_short(last['started_at'])}\n[{colour}]{outcome}[/{colour}]{took}{rows}"


def _short(iso: str | None) -> str:
    """``12月6日 10:58:09`` in China time, short enough for an 80-column terminal."""
    return "" if iso is None else china_time(iso, short=True)
