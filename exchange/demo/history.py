"""The demo's first day of traffic (演示流量), so the auditor's statistics show something real
(``tongban demo --traffic``; off by default, so that the worlds tests build hold only what
those tests do).

Every access goes down the exchange pipeline the API uses (:class:`ExchangePipeline`: decide,
fetch from the legacy stores, release, audit, sign) as one of the demo's case systems, and every
consent event through the consent service, so each is an ordinary entry of the Merkle log:
``tongban audit verify`` checks them like any other. In order:

1. **routine queries**: each case system asks, for its own purpose and service item, about the
   showcase subjects in turn (some answered, some refused by the policies, e.g. a field that
   needs the citizen's consent);
2. **denials**: the school-enrolment system asks for the minimum living allowance's purpose,
   which it never registered (audited, then refused ``purpose_not_registered``);
3. **a consent given and withdrawn**: the allowance system asks a citizen for their pension,
   the citizen approves, the system reads once under the consent, the citizen revokes;
4. **the anomaly**: the allowance system then reads :data:`BURST` people's records in a row, far
   above its baseline, which the statistics' volume rule (:mod:`exchange.audit.stats`) flags;
5. **the jobs, once**: every scheduled job of the hub is run now by the job runner, as
   ``tongban jobs run`` would, so the operator sees a last run of each, and the log a signed
   checkpoint that covers this traffic.

The log stamps each entry with the time it is recorded (``recorded_at``, the clock of
:mod:`exchange.audit.log`, within ``RECORDED_LATE`` of the entry's own time, as verify checks),
and nothing here moves that clock: all of this traffic is *today's*. Weeks of back-dated
history would need an explicit demo-only clock in the log; without one, a back-dated entry could
only be forged, so the demo does not pretend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import cycle, islice

from sqlalchemy.orm import Session

from catalogue.models import System
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

__all__ = ["BURST", "ROUTINE", "DemoTraffic", "simulate_traffic"]

ROUTINE = 12
"""Routine queries per case system."""
BURST = 60
"""The allowance system's burst: above the volume rule's ``min_count`` (50) on a zero baseline."""
_REFUSED_PURPOSE = 3
_ROUTINE_ASKS: tuple[tuple[str, str, str], ...] = (
    ("edu-enrolment", "school-enrolment", "EDU-RXDJ-001"),
    ("mca-dibao", PURPOSE, "MCA-DBSQ-001"),
)


@dataclass
class DemoTraffic:
    """What :func:`simulate_traffic` did (counts only, for the demo's summary)."""

    answered: int = 0
    refused: int = 0
    consents_given: int = 0
    consents_revoked: int = 0
    jobs_run: int = 0

    def as_json(self) -> dict[str, int]:
        return asdict(self)


def simulate_traffic(hub: Hub, subjects: Sequence[Mapping[str, str]]) -> DemoTraffic:
    """Run the steps of the module docstring against *hub* (its sources bound to the demo's
    legacy stores); *subjects* are ``demo.json``'s. Each step commits on its own, as requests
    do."""
    traffic = DemoTraffic()
    people = [s["id"] for s in subjects]
    if not people:
        return traffic
    for system, purpose, item in _ROUTINE_ASKS:
        for person in islice(cycle(people), ROUTINE):
            _ask(hub, traffic, system, QueryInput(ID_TYPE, person, purpose, None, item))
    for person in people[:_REFUSED_PURPOSE]:
        denied = QueryInput(ID_TYPE, person, PURPOSE, list(ATTRIBUTES), None)
        _ask(hub, traffic, "edu-enrolment", denied)
    _consent_given_and_revoked(hub, traffic, subjects)
    for person in islice(cycle(people), BURST):
        _ask(hub, traffic, "mca-dibao", QueryInput(ID_TYPE, person, PURPOSE, None, "MCA-DBSQ-001"))
    runner = JobRunner(hub.settings, hub.sessions)
    for spec in hub.jobs:
        traffic.jobs_run += runner.run(spec, datetime.now(UTC), Trigger.MANUAL) is not None
    return traffic


def _ask(hub: Hub, traffic: DemoTraffic, system: str, ask: QueryInput) -> None:
    try:
        hub.pipeline.query(_principal(hub, system), ask, issuer=hub.settings.public_url)
    except TongbanError:
        traffic.refused += 1  # audited before it was raised, like any refusal
    else:
        traffic.answered += 1


def _principal(hub: Hub, system_id: str) -> SystemPrincipal:
    with unit_of_work(hub.sessions) as session:
        system = session.get(System, system_id)
        if system is None:
            raise LookupError(f"the demo's case system {system_id} is not registered")
        return SystemPrincipal(system.id, system.department_code, tuple(system.purposes))


def _consent_given_and_revoked(
    hub: Hub, traffic: DemoTraffic, subjects: Sequence[Mapping[str, str]]
) -> None:
    """A citizen other than the consent candidates (whose consent and request ``demo.json``
    describes) gives the allowance system a one-time consent, which it uses, then a standing
    one, which the citizen withdraws."""
    person = next((s["id"] for s in subjects if s["kind"] != "consent_candidate"), None)
    if person is None:
        return
    pseudonym = hub.pseudonyms.of(person)
    for mode in (ConsentMode.ONE_TIME, ConsentMode.STANDING):
        with unit_of_work(hub.sessions, write=True) as session:
            consent_id = _give(hub, session, pseudonym, mode)
        traffic.consents_given += 1
        if mode is ConsentMode.ONE_TIME:
            ask = QueryInput(
                ID_TYPE, person, PURPOSE, list(ATTRIBUTES), None, consent_id=consent_id
            )
            _ask(hub, traffic, "mca-dibao", ask)
            continue
        with unit_of_work(hub.sessions, write=True) as session:
            service.revoke(session, subject=pseudonym, consent_id=consent_id, now=datetime.now(UTC))
        traffic.consents_revoked += 1


def _give(hub: Hub, session: Session, pseudonym: str, mode: ConsentMode) -> str:
    system = session.get(System, "mca-dibao")
    if system is None:
        raise LookupError("the demo's case system mca-dibao is not registered")
    now = datetime.now(UTC)
    request = ask_consent(session, system, pseudonym, mode, now=now)
    return approve(session, hub, pseudonym, request, now=now).id
