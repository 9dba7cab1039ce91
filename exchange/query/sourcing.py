"""Fetch the permitted fields from each department's source, concurrently.

Only the fields the decision lets through (``Decision.fields_to_fetch``) are asked for; each
resource's read starts on its adapter's own pool, which enforces its timeout, and all are then
waited for, so the fan-out costs about as much as the slowest source, not the sum, and each
source one trip to a thread. A source that fails makes its attributes ``unavailable`` with the
reason code of the typed adapter error; nothing else is affected.

A *cached* resource (前置库 mode, ``exchange/sources/cache``) is read from the hub's encrypted cache
instead (``SourceRegistry.cache``), and its ``fetched_at`` is the cache's as-of time, so the
provenance says how old the data is; never synced, it is ``unavailable`` (``not_synced``).

A resource another hub holds (federation, ``exchange/federation``) is read through the hub's
:class:`Relay` instead: one relayed query per origin hub, overlapping the local reads; its
:class:`Fetched` carries the origin's verified answer (``origin``) and what the origin itself
refused (``refused``), which :func:`settle_relayed` applies after the release is shaped. A
relayed attribute is asked of the origin in the form this hub's decision allows its caller
(``RelayAsk.forms``: the predicate itself, the mask…), so the origin decides and shapes it and
this hub never holds a base value its caller could not get (:func:`at_most` narrows the origin's
decision to that form).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from adapters.base import SourceRecord
from adapters.errors import AdapterError
from catalogue.vocabulary import Sensitivity, SharingType
from exchange import clock
from exchange.query.resolve import ResourceInfo
from exchange.sources.registry import SourceRegistry
from policies.engine import REVEALING
from policies.model import DenyReason, Release
from schemas import TongbanError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from exchange.query.release import Outcome
    from policies.model import Decision, FieldDecision
    from schemas import ReleasedAttribute

__all__ = [
    "Fetched",
    "Relay",
    "RelayAsk",
    "at_most",
    "deferred_to_origin",
    "fetch_permitted",
    "settle_relayed",
]

log = logging.getLogger("tongban.exchange")


@dataclass(frozen=True)
class Fetched:
    """What one resource's source answered: its records, or why there are none."""

    resource: str
    records: tuple[SourceRecord, ...] = ()
    failure: str | None = None  # a reason code: source_timeout, unavailable, not_bound, …
    fetched_at: datetime | None = None
    many: bool = False  # relayed: the origin answered a list (several records per subject)
    origin: Mapping[str, Any] | None = None  # relayed: {hub, request_id, index, outcome, …}
    refused: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # relayed: field -> ("denied" | "unavailable", the origin's reason)
    refusal: TongbanError | None = None  # relayed: the origin refused the whole query
    shaped: Mapping[str, Mapping[str, Any]] | None = None
    # relayed: each attribute as asked -> as the origin released it (value, release, source)


@dataclass(frozen=True)
class RelayAsk:
    """Who asks, through this hub, for data another hub holds, and why."""

    hub: str  # this hub's URL
    request_id: str  # this hub's request id
    system: str
    department: str
    officer: str | None
    purpose: str
    subject: str
    forms: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # each attribute as asked -> (its resource, the release this hub's decision allows)


class Relay(Protocol):
    """Reads resources other hubs hold (``exchange.federation.relay.HubRelay``)."""

    def origins(self, session: Session, codes: Iterable[str]) -> dict[str, str]:
        """Each of *codes* another hub holds -> that hub's peer id."""
        ...

    def admit(self, session: Session, system: str, on_behalf_of: Mapping[str, Any]) -> None:
        """Refuse a query relayed by a *system* that is not a registered peer hub."""
        ...

    def fetch(
        self,
        ask: RelayAsk,
        resources: Mapping[str, ResourceInfo],
        wanted: Mapping[str, set[str]],
    ) -> dict[str, Fetched]:
        """Each wanted remote resource, read through its origin hub."""
        ...


def fetch_permitted(
    registry: SourceRegistry,
    subject: str,
    resources: Mapping[str, ResourceInfo],
    wanted: Mapping[str, set[str]],
    *,
    relay: Relay | None = None,
    ask: RelayAsk | None = None,
    remote: Mapping[str, str] | None = None,
) -> dict[str, Fetched]:
    """Each wanted resource's records for *subject*: every source's read is started on its
    adapter's own pool (which keeps its timeout), then each is waited for, so the reads overlap
    and each costs one trip to a thread; a cached resource is read here; a *remote* one is
    relayed to its origin hub while the local reads run."""
    remote = remote or {}
    started = {
        code: _start(registry, code, subject, resources[code], wanted[code])
        for code in sorted(wanted)
        if code not in remote
    }
    relayed: dict[str, Fetched] = {}
    far = {code: fields for code, fields in wanted.items() if code in remote}
    if far:
        if relay is None or ask is None:
            relayed = {code: Fetched(code, failure="not_bound") for code in far}
        else:
            relayed = relay.fetch(ask, resources, far)
    return {**{code: finish() for code, finish in started.items()}, **relayed}


def settle_relayed(outcome: Outcome, decision: Decision, fetched: Mapping[str, Fetched]) -> None:
    """After the release is shaped: what an origin hub refused is refused here too (denied
    ``origin_<its reason>``, or unavailable with its reason), what it released *shaped* (a
    relayed query) is released as the origin shaped it, and what it released says which hub it
    came from (``source.hub``)."""
    for choice in decision.fields:
        source = fetched.get(choice.field.resource)
        if source is None or source.origin is None:
            continue
        attribute = choice.attribute
        refused = source.refused.get(attribute) or source.refused.get(choice.field.name)
        if refused is not None and attribute not in outcome.denied:  # decided here to release
            outcome.attributes.pop(attribute, None)
            outcome.unavailable.pop(attribute, None)  # (shaped as no_record: nothing came)
            how, reason = refused
            if how == "denied":
                outcome.denied[attribute] = f"origin_{reason}"
            else:
                outcome.unavailable[attribute] = reason
        elif source.shaped is not None and choice.allowed and source.failure is None:
            _as_the_origin_shaped(outcome, choice, source.shaped.get(attribute))
        released = outcome.attributes.get(attribute)
        if released is not None:
            released["source"]["hub"] = str(source.origin["hub"])


def _as_the_origin_shaped(
    outcome: Outcome, choice: FieldDecision, shaped: Mapping[str, Any] | None
) -> None:
    """A relayed attribute as the origin released it (this hub read no record of its own);
    never in a form more revealing than this hub decided (an origin that did not narrow its
    release: ``origin_release_wider``, nothing of it passed on)."""
    attribute = choice.attribute
    outcome.attributes.pop(attribute, None)
    outcome.unavailable.pop(attribute, None)
    if attribute in outcome.denied:  # taken back here since (an unverifiable grant…)
        return
    if shaped is None:  # not asked of the origin (a row condition of this hub's), or not answered
        outcome.unavailable[attribute] = "not_relayed"
        return
    if not _within(str(shaped.get("release")), choice):
        outcome.unavailable[attribute] = "origin_release_wider"
        return
    released = dict(shaped)
    released["source"] = dict(shaped.get("source") or {})
    outcome.attributes[attribute] = cast("ReleasedAttribute", released)


def _within(form: str, choice: FieldDecision) -> bool:
    """Whether a release *form* reveals no more than *choice* allows."""
    try:
        released = Release(form)
    except ValueError:
        return False
    if choice.release is None or (choice.derivation is not None) != (released is Release.DERIVED):
        return False
    return released is choice.release or REVEALING[released] < REVEALING[choice.release]


def at_most(decision: Decision, forms: Mapping[str, str]) -> Decision:
    """*decision* with each attribute's release no more revealing than the form a relaying hub
    asked for it (*forms*: attribute as asked -> release), so that hub gets only what its
    caller may: a masked form for a mask, the predicate for a predicate. A form less revealing
    than this hub's own decision replaces it (rule ``relay.at_most``); a more revealing one
    changes nothing; an attribute without a form keeps its decision."""
    narrowed = []
    for choice in decision.fields:
        asked = forms.get(choice.attribute)
        if choice.release is not None and asked is not None and asked != choice.release.value:
            form = Release(asked)
            if REVEALING[form] < REVEALING[choice.release] and (
                form is not Release.DERIVED or choice.derivation is not None
            ):
                choice = replace(choice, release=form, rules=(*choice.rules, "relay.at_most"))
        narrowed.append(choice)
    return replace(decision, fields=tuple(narrowed))


def deferred_to_origin(decision: Decision, remote: Mapping[str, str]) -> Decision:
    """*decision* with each conditional field of a resource another hub holds that no agreement
    here grants left to that hub (rule ``relay.origin_decides``): the provider is there, and so
    is the agreement, which the relaying hub holds there as a peer for its callers (级联,
    《政务数据共享条例》 art. 30–32); the origin releases it under that agreement, or refuses it
    (``origin_not_granted``). Released, if at all, in the catalogue's own form (a predicate as
    the predicate). Sensitive personal fields are not left to the origin: they need an agreement
    and the citizen's consent here, where the caller is known (``not_granted``)."""
    deferred = []
    for choice in decision.fields:
        info = choice.field
        if (
            choice.reason is DenyReason.NOT_GRANTED
            and choice.rules == ("default.deny",)
            and info.resource in remote
            and info.sharing is SharingType.CONDITIONAL
            and info.sensitivity is not Sensitivity.SENSITIVE_PERSONAL
        ):
            form = Release.DERIVED if choice.derivation is not None else Release.of(info.transform)
            choice = replace(choice, release=form, reason=None, rules=("relay.origin_decides",))
        deferred.append(choice)
    return replace(decision, fields=tuple(deferred))


def _start(
    registry: SourceRegistry, code: str, subject: str, info: ResourceInfo, fields: set[str]
) -> Callable[[], Fetched]:
    """Start reading one resource; the returned call waits for it."""
    binding = registry.binding(code)
    if binding is None:
        return _done(Fetched(code, failure="not_bound"))
    if binding.cached:
        return _done(_from_cache(registry, code, subject, sorted(fields)))
    try:
        adapter = registry.adapter(code, info.version, info.schemas)
    except AdapterError as exc:
        # The source cannot be opened (down, file missing, mapping no longer fits it): to the
        # consumer it is unavailable; the operator sees why in the log and /readyz.
        log.warning("source of %s cannot be opened: %s", code, exc.code)
        return _done(Fetched(code, failure="unavailable"))
    try:
        pending = adapter.begin_fetch_all(subject, sorted(fields))
    except AdapterError as exc:
        return _done(Fetched(code, failure=exc.code))

    def finish() -> Fetched:
        try:
            records = pending.result()
        except AdapterError as exc:
            return Fetched(code, failure=exc.code)
        return Fetched(code, tuple(records), fetched_at=clock.now())

    return finish


def _done(fetched: Fetched) -> Callable[[], Fetched]:
    return lambda: fetched


def _from_cache(registry: SourceRegistry, code: str, subject: str, fields: list[str]) -> Fetched:
    if registry.cache is None:
        return Fetched(code, failure="not_synced")
    try:
        records, as_of = registry.cache.read(code, subject, fields)
    except AdapterError as exc:
        return Fetched(code, failure=exc.code)
    return Fetched(code, tuple(records), fetched_at=as_of)
