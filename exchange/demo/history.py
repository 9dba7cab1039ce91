"""The demo's four weeks of history (演示历史), so the auditor's and operator's pages show a
city's month and not an empty chart (``tongban demo --traffic``; off by default, so that the
worlds tests build hold only what those tests do).

**The clock.** ``tongban demo --traffic`` builds its world at 08:00 China time
:data:`HISTORY_DAYS` days before today, under the demo-only simulated clock of
:mod:`exchange.clock`, and :func:`simulate_history` then moves that clock forward through each
event of the plan below, up to the present: the log records every entry at its simulated time,
in order, and nothing is written after the real time. Every access goes down the exchange
pipeline the API uses (:class:`ExchangePipeline`: decide, fetch from the legacy stores,
release, audit, sign) as one of the demo's case systems, and every consent event through the
consent service, so each is an ordinary entry of the Merkle log that ``tongban audit verify``
checks like any other. Afterwards :func:`run_jobs_once` runs every job at the real time.

**The plan** (:func:`plan_history`, deterministic for a seed), day by day in China time:

1. **working days** (the State Council calendar, with its make-up workdays): the school
   enrolment system asks about 5–10 citizens for its service item, the allowance system 2–5,
   between 08:30 and 17:30; on weekends and holidays the allowance office's online channel asks
   about one; some answers are refusals the policies make (e.g. a field that needs consent);
2. **denials**: on about two working days in five the school enrolment system asks for the
   minimum living allowance's purpose, which it never registered (audited, then refused
   ``purpose_not_registered``);
3. **consents**: on every fourth working day a citizen gives the allowance system a
   one-time consent, which it uses at once; three citizens give a standing consent, and the
   first two withdraw it some days later;
4. **the anomalies** the statistics flag (:mod:`exchange.audit.stats`): nine days ago the school
   enrolment system reads :data:`NIGHT_RUN` records between 01:00 and 02:00 (night bulk access);
   yesterday afternoon the allowance system reads :data:`BURST` records in a row, far above its
   baseline (a volume spike);
5. **the scheduler**: every job runs at 02:00 each night, as the scheduler would (the cache is
   re-synced, sweeps run, a checkpoint is signed over the day's entries);
6. **the sharing lifecycle** (:func:`exchange.demo.lifecycle.lifecycle_history`): catalogue
   entries submitted, returned and published, a supply-demand request, applications (a notice
   of missing materials, an extension, one never answered, a batch delivery, a short term that
   ended), usage records, a service-change notice, a field dropped without one, a dispute taken
   to the authority, each step on its own day through the lifecycle's services.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import cycle

from sqlalchemy.orm import Session

from catalogue.models import System
from exchange import clock
from exchange.agreements.workdays import CHINA_TZ, china_day, official_calendar
from exchange.clock import SimulatedClock
from exchange.consent import service
from exchange.consent.models import ConsentMode
from exchange.db import unit_of_work
from exchange.demo.consents import ATTRIBUTES, PURPOSE, approve, ask_consent
from exchange.hub import Hub
from exchange.jobs.models import Trigger
from exchange.jobs.runner import JobRunner
from exchange.query.pipeline import QueryInput
from exchange.security.clientauth import SystemPrincipal
from exchange.security.subjects import ID_TYPE
from schemas import TongbanError

__all__ = [
    "BURST",
    "HISTORY_DAYS",
    "NIGHT_RUN",
    "DemoTraffic",
    "Event",
    "history_start",
    "plan_history",
    "principal_of",
    "run_jobs_once",
    "simulate_history",
]

HISTORY_DAYS = 28
"""Days of history before today."""
BURST = 60
"""Yesterday's burst of the allowance system: above the volume rule's ``min_count`` (50)."""
NIGHT_RUN = 24
"""The school enrolment system's night run: above the night rule's threshold (20)."""
NIGHT_RUN_DAYS_AGO = 9
STANDING_CONSENTS = 3
"""Citizens who give a standing consent; all but the last withdraw it."""
_SEED = 2026
_MARGIN = timedelta(minutes=2)
"""Today's events stop this long before the real time."""

EDU = ("edu-enrolment", "school-enrolment", "EDU-RXDJ-001")
MCA = ("mca-dibao", PURPOSE, "MCA-DBSQ-001")


@dataclass(frozen=True)
class Event:
    """One step of the history: at ``at`` (UTC), ``action`` (see :func:`simulate_history`)
    about ``person`` (an ID number; empty for the jobs)."""

    at: datetime
    action: str
    person: str = ""


@dataclass
class DemoTraffic:
    """What :func:`simulate_history` and :func:`run_jobs_once` did (counts only, for the
    demo's summary)."""

    days: int = 0
    answered: int = 0
    refused: int = 0
    consents_given: int = 0
    consents_revoked: int = 0
    jobs_run: int = 0
    first: str = ""
    _standing: dict[str, str] = field(default_factory=dict, repr=False)

    def as_json(self) -> dict[str, int | str]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def history_start(now: datetime) -> datetime:
    """08:00 China time, :data:`HISTORY_DAYS` days before *now*'s day: when the demo's world
    is built."""
    first = china_day(now) - timedelta(days=HISTORY_DAYS)
    return datetime.combine(first, time(8), CHINA_TZ)


def plan_history(
    first: date, today: date, subjects: Sequence[Mapping[str, str]], *, seed: int = _SEED
) -> list[Event]:
    """The events of the module docstring from the day *first* to *today* (China days), in
    time order. Needs subjects: without any, there is no one to ask about."""
    people = [s["id"] for s in subjects]
    if not people:
        return []
    rng = random.Random(seed)  # noqa: S311 - a reproducible plan, not a secret
    calendar = official_calendar()
    givers = [s["id"] for s in subjects if s.get("kind") != "consent_candidate"] or people
    standing = givers[:STANDING_CONSENTS]
    one_time = cycle(givers[STANDING_CONSENTS:] or givers)
    days = (today - first).days
    standing_on = {days * (n + 1) // (STANDING_CONSENTS + 2): p for n, p in enumerate(standing)}
    events: list[Event] = []
    worked = 0
    for n in range(days + 1):
        day = first + timedelta(days=n)
        at = _times(rng, day)
        if n > 0:  # the world is built on the first day's morning
            events.append(Event(_at(day, 2, 0), "jobs"))
        working = calendar.is_working_day(day)
        asks = [EDU] * rng.randint(5, 10) + [MCA] * rng.randint(2, 5) if working else [MCA]
        for ask in asks:
            events.append(Event(at(), ask[0], rng.choice(people)))
        if working and rng.random() < 0.4:
            events.append(Event(at(), "wrong_purpose", rng.choice(people)))
        worked += working
        if working and worked % 4 == 2:
            events.append(Event(at(), "one_time_consent", next(one_time)))
        if n in standing_on:
            person = standing_on[n]
            events.append(Event(at(), "standing_consent", person))
            if person != standing[-1]:
                later = min(days - 1, n + 4)
                events.append(Event(_at(first + timedelta(days=later), 16, 45), "revoke", person))
        if n == days - NIGHT_RUN_DAYS_AGO:
            base = _at(day, 1, 0)
            events += [
                Event(base + timedelta(minutes=2 * k), EDU[0], rng.choice(people))
                for k in range(NIGHT_RUN)
            ]
        if n == days - 1:
            base = _at(day, 14, 0)
            events += [
                Event(base + timedelta(seconds=45 * k), MCA[0], p)
                for k, p in zip(range(BURST), cycle(people), strict=False)
            ]
    return sorted(events, key=lambda e: e.at)


def simulate_history(
    hub: Hub, subjects: Sequence[Mapping[str, str]], simulated: SimulatedClock
) -> DemoTraffic:
    """Run :func:`plan_history` against *hub* (its sources bound to the demo's legacy
    stores), moving *simulated* to each event's time; today's events stop short of the real
    time. Each step commits on its own, as requests do."""
    traffic = DemoTraffic()
    first, now = china_day(simulated.now()), datetime.now(CHINA_TZ)
    planned = plan_history(first, now.date(), subjects)
    events = [e for e in planned if simulated.now() < e.at < now - _MARGIN]
    traffic.days, traffic.first = (now.date() - first).days, first.isoformat()
    steps: dict[str, Callable[[Hub, DemoTraffic, str], None]] = {
        EDU[0]: lambda h, t, p: _ask(h, t, EDU[0], QueryInput(ID_TYPE, p, EDU[1], None, EDU[2])),
        MCA[0]: lambda h, t, p: _ask(h, t, MCA[0], QueryInput(ID_TYPE, p, MCA[1], None, MCA[2])),
        "wrong_purpose": lambda h, t, p: _ask(
            h, t, EDU[0], QueryInput(ID_TYPE, p, PURPOSE, list(ATTRIBUTES), None)
        ),
        "one_time_consent": _one_time_consent,
        "standing_consent": _standing_consent,
        "revoke": _revoke,
        "jobs": lambda h, t, _p: _run_jobs(h, t, Trigger.SCHEDULED),
    }
    from exchange.demo.feedback import feedback_history  # here: it imports this module
    from exchange.demo.lifecycle import lifecycle_history  # here: it imports this module

    ratings, rating_steps = feedback_history(hub, subjects, first, now.date())
    stories, story_steps = lifecycle_history(hub, subjects, first, now.date())
    steps |= rating_steps | story_steps
    later = [e for e in [*ratings, *stories] if simulated.now() < e.at < now - _MARGIN]
    events = sorted([*events, *later], key=lambda e: e.at)
    for event in events:
        simulated.set(max(event.at, simulated.now()))  # two events in one second keep order
        steps[event.action](hub, traffic, event.person)
    return traffic


def run_jobs_once(hub: Hub, traffic: DemoTraffic) -> None:
    """Every job of the hub, now, as ``tongban jobs run`` would: the operator sees a last run
    of each, and the log a signed checkpoint that covers the history."""
    _run_jobs(hub, traffic, Trigger.MANUAL)


def _run_jobs(hub: Hub, traffic: DemoTraffic, trigger: Trigger) -> None:
    runner = JobRunner(hub.settings, hub.sessions)
    for spec in hub.jobs:
        traffic.jobs_run += runner.run(spec, clock.now(), trigger) is not None


def _times(rng: random.Random, day: date) -> Callable[[], datetime]:
    """Moments of office hours (08:30–17:30) on *day*, at random."""
    opens = _at(day, 8, 30)
    return lambda: opens + timedelta(seconds=rng.randrange(9 * 3600))


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), CHINA_TZ)


def _ask(hub: Hub, traffic: DemoTraffic, system: str, ask: QueryInput) -> None:
    try:
        hub.pipeline.query(principal_of(hub, system), ask, issuer=hub.settings.public_url)
    except TongbanError:
        traffic.refused += 1  # audited before it was raised, like any refusal
    else:
        traffic.answered += 1


def principal_of(hub: Hub, system_id: str) -> SystemPrincipal:
    """A demo case system as the exchange sees it when it asks."""
    with unit_of_work(hub.sessions) as session:
        system = session.get(System, system_id)
        if system is None:
            raise LookupError(f"the demo's case system {system_id} is not registered")
        return SystemPrincipal(system.id, system.department_code, tuple(system.purposes))


def _one_time_consent(hub: Hub, traffic: DemoTraffic, person: str) -> None:
    """The citizen gives the allowance system a one-time consent, which it uses at once."""
    consent_id = _give(hub, traffic, person, ConsentMode.ONE_TIME)
    ask = QueryInput(ID_TYPE, person, PURPOSE, list(ATTRIBUTES), None, consent_id=consent_id)
    _ask(hub, traffic, MCA[0], ask)


def _standing_consent(hub: Hub, traffic: DemoTraffic, person: str) -> None:
    traffic._standing[person] = _give(hub, traffic, person, ConsentMode.STANDING)


def _revoke(hub: Hub, traffic: DemoTraffic, person: str) -> None:
    consent_id = traffic._standing.pop(person, None)
    if consent_id is None:
        return
    pseudonym = hub.pseudonyms.of(person)
    with unit_of_work(hub.sessions, write=True) as session:
        service.revoke(session, subject=pseudonym, consent_id=consent_id, now=clock.now())
    traffic.consents_revoked += 1


def _give(hub: Hub, traffic: DemoTraffic, person: str, mode: ConsentMode) -> str:
    pseudonym = hub.pseudonyms.of(person)
    with unit_of_work(hub.sessions, write=True) as session:
        consent_id = _request_and_approve(hub, session, pseudonym, mode)
    traffic.consents_given += 1
    return consent_id


def _request_and_approve(hub: Hub, session: Session, pseudonym: str, mode: ConsentMode) -> str:
    system = session.get(System, MCA[0])
    if system is None:
        raise LookupError("the demo's case system mca-dibao is not registered")
    now = clock.now()
    request = ask_consent(session, system, pseudonym, mode, now=now)
    return approve(session, hub, pseudonym, request, now=now).id
