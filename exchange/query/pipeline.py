"""The exchange pipeline, top to bottom (DESIGN.md, "The query pipeline"):

1. **check the subject** — a GB 11643 resident ID (``invalid_subject_id``, 422);
2. **resolve** the service item and attributes against the catalogue (404 / 403 / 422);
3. **decide** per attribute with the policy engine, over the system's active agreements;
4. **fetch** only the permitted fields, fanned out to the departments' adapters concurrently;
5. **release**: row conditions, transforms, derived predicates; per-attribute provenance;
6. **audit**, group-committed (:class:`exchange.audit.log.AuditLog`): inside the batch
   transaction, re-check under row locks that the agreements and consents relied on are still
   in force (a revocation that committed first wins; a later one waits for this commit), count
   quota uses atomically (an agreement whose daily quota is used up by then takes back what it
   released: ``quota_exceeded``) and consent uses (a one-time consent is used up) and append
   the entry to the Merkle log; the receipt
   comes back only once the batch is durable — if it cannot be written nothing is released
   (503);
7. **sign** the evidence (JWS, ``typ`` ``tongban-evidence+jwt``) carrying the audit receipt;
   only then is anything returned.

A purpose the system never registered is decided (and audited) like any denial, then answered
403 ``purpose_not_registered``. ``all_or_nothing`` turns any denial or unavailability into 409
``incomplete`` with nothing released (audited as ``withheld``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from catalogue.identifiers import ResidentIdError, parse_resident_id
from exchange.agreements.grants import active_grants, in_force_locked, take_use
from exchange.audit.log import AuditLog
from exchange.audit.sink import Receipt, pseudonym, pseudonym_key
from exchange.clientauth import SystemPrincipal
from exchange.consent.models import Consent, ConsentStatus
from exchange.consent.service import consent_states, effective_status, lock_consents, record_use
from exchange.db import unit_of_work
from exchange.keys import HubKeys
from exchange.query.release import Outcome, shape_release
from exchange.query.resolve import PurposeNotRegistered, ResolvedQuery, resolve_query
from exchange.query.sourcing import Fetched, fetch_permitted
from exchange.source_registry import SourceRegistry
from policies.engine import decide
from policies.model import (
    CountQuota,
    Decision,
    DenyReason,
    FieldDecision,
    Grant,
    QueryContext,
    Release,
)
from schemas import TongbanError

__all__ = [
    "EVIDENCE_TYP",
    "ExchangePipeline",
    "Incomplete",
    "InvalidSubjectId",
    "PurposeNotRegistered",
    "QueryInput",
    "VerifyInput",
]

EVIDENCE_TYP = "tongban-evidence+jwt"
ID_TYPE = "CN-RIC"


class InvalidSubjectId(TongbanError):
    code = "invalid_subject_id"
    status = 422
    title = "Invalid subject identifier"


class Incomplete(TongbanError):
    code = "incomplete"
    status = 409
    title = "Not every attribute could be released; nothing was (all_or_nothing)"


@dataclass(frozen=True)
class QueryInput:
    id_type: str
    subject: str
    purpose: str
    attributes: Sequence[str] | None
    service_item: str | None
    officer: str | None = None
    consent_id: str | None = None
    all_or_nothing: bool = False


@dataclass(frozen=True)
class VerifyInput:
    id_type: str
    subject: str
    purpose: str
    claims: Mapping[str, Any]
    service_item: str | None
    officer: str | None = None
    consent_id: str | None = None


@dataclass
class _Run:
    """One request's state as it goes down the pipeline."""

    caller: SystemPrincipal
    request_id: str
    now: datetime
    purpose: str
    subject: str
    pseudonym: str
    resolved: ResolvedQuery
    grants: list[Grant]
    decision: Decision


class ExchangePipeline:
    """The query and verify pipelines over the hub's database, sources and keys."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sources: SourceRegistry,
        keys: HubKeys,
        *,
        secret: str,
        issuer: str | None = None,
        fan_out: int = 32,
    ) -> None:
        self._sessions = sessions
        self._log = AuditLog(sessions)
        self._sources = sources
        self._keys = keys
        self._pseudonym_key = pseudonym_key(secret)
        self._hash_key = hmac.new(secret.encode(), b"release-hash", hashlib.sha256).digest()
        self._issuer = issuer
        self._fan_out = fan_out
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def close(self) -> None:
        """Stop the fan-out threads; a later request starts them again (an app whose
        lifespan runs twice, as test harnesses do, keeps working)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _fan_out_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._fan_out, thread_name_prefix="exchange-fetch")
            return self._pool

    # -- query ---------------------------------------------------------------------------

    def query(self, caller: SystemPrincipal, ask: QueryInput, *, issuer: str) -> dict[str, Any]:
        """The answer of ``POST /exchange/query`` (see the module docstring for the steps)."""
        subject = _checked_subject(ask.id_type, ask.subject)
        run = self._decide(caller, ask.purpose, subject, ask.attributes, ask.service_item, ask)
        fetched = self._fetch(run)
        outcome = shape_release(
            run.decision,
            fetched,
            run.resolved.resources,
            self._many(run),
            hash_key=self._consumer_hash_key(caller.system_id),
            now=run.now,
        )

        def record(session: Session) -> dict[str, Any]:
            consents = self._recheck(session, run, outcome)
            withheld = ask.all_or_nothing and bool(outcome.denied or outcome.unavailable)
            if not withheld and not _purpose_refused(run.decision):
                quotas_held = self._count_quota(
                    session, run, outcome, all_or_nothing=ask.all_or_nothing
                )
                withheld = ask.all_or_nothing and not quotas_held
                if not withheld:
                    self._count_consent_uses(session, run, outcome, consents)
            return self._entry(run, "query", outcome, ask, withheld=withheld)

        receipt, entry = self._log.append(record)
        withheld = entry["outcome"] == "withheld"
        evidence = None
        if not withheld and not _purpose_refused(run.decision):
            evidence = self._sign(run, outcome, receipt, issuer)
        _raise_refusals(run, outcome, withheld, receipt)
        return {
            "request_id": run.request_id,
            "attributes": outcome.attributes,
            "denied": outcome.denied,
            "unavailable": outcome.unavailable,
            "audit": _receipt_view(receipt),
            "evidence": evidence,
        }

    # -- verify --------------------------------------------------------------------------

    def verify(self, caller: SystemPrincipal, ask: VerifyInput, *, issuer: str) -> dict[str, Any]:
        """The answer of ``POST /exchange/verify``: per claimed attribute ``match``,
        ``no_match``, ``unavailable`` or ``denied``; values are compared, never returned."""
        subject = _checked_subject(ask.id_type, ask.subject)
        run = self._decide(caller, ask.purpose, subject, list(ask.claims), ask.service_item, ask)
        fetched = self._fetch(run)
        outcome = shape_release(
            _as_clear(run.decision),
            fetched,
            run.resolved.resources,
            self._many(run),
            hash_key=self._hash_key,
            now=run.now,
        )

        def record(session: Session) -> dict[str, Any]:
            consents = self._recheck(session, run, outcome)
            if not _purpose_refused(run.decision):
                self._count_quota(session, run, outcome)
                self._count_consent_uses(session, run, outcome, consents)
            return self._entry(run, "verify", outcome, ask, withheld=False)

        receipt, _ = self._log.append(record)
        results = _compare(outcome, ask.claims)
        payload = {"results": results}
        evidence = None
        if not _purpose_refused(run.decision):
            evidence = self._sign(run, outcome, receipt, issuer, verify=results)
        _raise_refusals(run, outcome, False, receipt)
        return {
            "request_id": run.request_id,
            **payload,
            "audit": _receipt_view(receipt),
            "evidence": evidence,
        }

    # -- steps -----------------------------------------------------------------------------

    def _decide(
        self,
        caller: SystemPrincipal,
        purpose: str,
        subject: str,
        attributes: Sequence[str] | None,
        service_item: str | None,
        ask: QueryInput | VerifyInput,
    ) -> _Run:
        now = datetime.now(UTC)
        with unit_of_work(self._sessions) as session:
            resolved = resolve_query(
                session,
                attributes=attributes,
                service_item=service_item,
                department=caller.department,
            )
            grants = active_grants(session, system=caller.system_id, now=now)
            subject_pseudonym = pseudonym(self._pseudonym_key, ID_TYPE, subject)
            consents = consent_states(
                session,
                subject=subject_pseudonym,
                system=caller.system_id,
                named=ask.consent_id,
                now=now,
            )
        context = QueryContext(
            system=caller.system_id,
            department=caller.department,
            system_purposes=frozenset(caller.purposes),
            purpose=purpose,
            now=now,
            service_item=service_item,
            officer=ask.officer,
            consent_id=ask.consent_id,
        )
        decision = decide(context, resolved.requests, grants, consents)
        return _Run(
            caller,
            str(uuid.uuid4()),
            now,
            purpose,
            subject,
            subject_pseudonym,
            resolved,
            grants,
            decision,
        )

    def _fetch(self, run: _Run) -> dict[str, Fetched]:
        wanted = run.decision.fields_to_fetch()
        if not wanted or _purpose_refused(run.decision):
            return {}
        return fetch_permitted(
            self._fan_out_pool(), self._sources, run.subject, run.resolved.resources, wanted
        )

    def _many(self, run: _Run) -> dict[str, bool]:
        many = {}
        for code in run.resolved.resources:
            binding = self._sources.binding(code)
            many[code] = binding is not None and binding.mapping.many
        return many

    def _recheck(self, session: Session, run: _Run, outcome: Outcome) -> dict[str, Consent]:
        """Inside the write unit: an agreement revoked (or expired) since the decision, or a
        consent revoked, expired, superseded or used up since, takes back what it released.
        Returns the consents relied on, locked until the commit."""
        now = datetime.now(UTC)
        released = run.decision.released()
        agreements = {d.agreement_id for d in released if d.agreement_id}
        if agreements:
            lost = agreements - in_force_locked(session, agreements, now)
            for choice in released:
                if choice.agreement_id in lost:
                    _take_back(outcome, choice.attribute, DenyReason.NOT_GRANTED.value)
        consents = {d.consent_id for d in released if d.consent_id}
        if not consents:
            return {}
        locked = lock_consents(session, consents)
        for choice in released:
            if choice.consent_id is None:
                continue
            consent = locked.get(choice.consent_id)
            status = effective_status(consent, now) if consent else ConsentStatus.REVOKED
            if status is not ConsentStatus.GIVEN:
                _take_back(outcome, choice.attribute, f"consent_{status.value}")
        return locked

    def _count_consent_uses(
        self, session: Session, run: _Run, outcome: Outcome, locked: dict[str, Consent]
    ) -> None:
        """One use of each consent that something released relied on (*locked* by _recheck)."""
        used = {
            d.consent_id
            for d in run.decision.released()
            if d.consent_id and d.attribute in outcome.attributes
        }
        for consent_id in sorted(used):
            record_use(
                session,
                locked[consent_id],
                now=run.now,
                request_id=run.request_id,
                system=run.caller.system_id,
            )

    def _count_quota(
        self, session: Session, run: _Run, outcome: Outcome, *, all_or_nothing: bool = False
    ) -> bool:
        """Inside the write unit, the decisive quota check: one use of each quota-bound
        agreement that something released relied on, counted only while its quota has room
        (:func:`~exchange.agreements.grants.take_use`). The engine decided on a count read
        before the fetch, which concurrent requests share; an agreement whose quota was used up
        since takes back what it released (``quota_exceeded``), as a revocation does in
        :meth:`_recheck`. Returns whether every quota held; when one did not and the request
        is *all_or_nothing*, it releases nothing, so it counts nothing either."""
        counted = {o.agreement_id for o in run.decision.obligations if isinstance(o, CountQuota)}
        used = {
            d.agreement_id
            for d in run.decision.released()
            if d.agreement_id in counted and d.attribute in outcome.attributes
        }
        if not used:
            return True
        exceeded: set[str] = set()
        with session.begin_nested() as uses:
            for agreement_id in sorted(a for a in used if a):
                if not take_use(session, agreement_id, run.now):
                    exceeded.add(agreement_id)
            if exceeded and all_or_nothing:
                uses.rollback()
        for choice in run.decision.released():
            if choice.agreement_id in exceeded:
                _take_back(outcome, choice.attribute, DenyReason.QUOTA_EXCEEDED.value)
        return not exceeded

    def _entry(
        self,
        run: _Run,
        kind: str,
        outcome: Outcome,
        ask: QueryInput | VerifyInput,
        *,
        withheld: bool,
    ) -> dict[str, Any]:
        """The audit entry of this request: what happened and why, never a value."""
        return {
            "v": 1,
            "kind": kind,
            "request_id": run.request_id,
            "at": _instant(run.now),
            "system": run.caller.system_id,
            "department": run.caller.department,
            "officer": ask.officer,
            "subject": run.pseudonym,
            "purpose": run.purpose,
            "service_item": ask.service_item,
            "consent": ask.consent_id,
            "attributes": {
                d.attribute: _audited(d, outcome, withheld) for d in run.decision.fields
            },
            "outcome": "withheld" if withheld else outcome.summary,
        }

    def _sign(
        self,
        run: _Run,
        outcome: Outcome,
        receipt: Receipt,
        issuer: str,
        *,
        verify: Mapping[str, str] | None = None,
    ) -> str:
        payload: dict[str, Any] = {
            "iss": self._issuer or issuer,
            "aud": run.caller.system_id,
            "iat": int(run.now.timestamp()),
            "jti": run.request_id,
            "purpose": run.purpose,
            "subject": {"id_type": ID_TYPE, "id": run.subject},
            "audit": _receipt_view(receipt),
        }
        if verify is None:
            payload["attributes"] = outcome.attributes
        else:
            payload["verified"] = dict(verify)
        with unit_of_work(self._sessions, write=not self._keys.initialised) as session:
            return self._keys.sign(session, payload, typ=EVIDENCE_TYP)

    def _consumer_hash_key(self, system_id: str) -> bytes:
        """Keyed hashes differ per consumer, so two systems cannot join on them."""
        return hmac.new(self._hash_key, system_id.encode(), hashlib.sha256).digest()


# -- helpers -------------------------------------------------------------------------------


def _checked_subject(id_type: str, subject: str) -> str:
    if id_type != ID_TYPE:
        raise InvalidSubjectId(f"id_type must be {ID_TYPE} (GB 11643 resident identity number)")
    try:
        return parse_resident_id(subject).number
    except ResidentIdError as exc:
        raise InvalidSubjectId(
            f"the subject id is not a valid resident ID ({exc.reason})"
        ) from None


def _take_back(outcome: Outcome, attribute: str, reason: str) -> None:
    outcome.attributes.pop(attribute, None)
    outcome.unavailable.pop(attribute, None)
    outcome.denied[attribute] = reason


def _purpose_refused(decision: Decision) -> bool:
    return any("purpose.unregistered" in d.rules for d in decision.fields)


def _raise_refusals(run: _Run, outcome: Outcome, withheld: bool, receipt: Receipt) -> None:
    """After the audit entry committed: the refusals that are errors, not answers."""
    if _purpose_refused(run.decision):
        raise PurposeNotRegistered(
            f"this system has not registered the purpose {run.purpose!r}",
            extensions={"audit": _receipt_view(receipt)},
        )
    if withheld:
        raise Incomplete(
            "all_or_nothing: some attributes were denied or unavailable",
            extensions={
                "denied": outcome.denied,
                "unavailable": outcome.unavailable,
                "audit": _receipt_view(receipt),
            },
        )


def _audited(decision: FieldDecision, outcome: Outcome, withheld: bool) -> dict[str, Any]:
    """One attribute as the audit log holds it: what happened and why, never the value."""
    attribute = decision.attribute
    if attribute in outcome.attributes:
        state = "withheld" if withheld else "released"
    elif attribute in outcome.unavailable:
        state = "unavailable"
    else:
        state = "denied"
    audited: dict[str, Any] = {
        "outcome": state,
        "resource": decision.field.resource,
        "version": decision.field.version,
        "rules": list(decision.rules),
    }
    if decision.release is not None:
        audited["release"] = decision.release.value
    reason = outcome.denied.get(attribute) or outcome.unavailable.get(attribute)
    if reason:
        audited["reason"] = reason
    for key, value in (
        ("agreement", decision.agreement_id),
        ("consent", decision.consent_id),
        ("legal_basis", decision.legal_basis),
    ):
        if value:
            audited[key] = value
    return audited


def _as_clear(decision: Decision) -> Decision:
    """For verification the source value is compared, not released: every permitted plain
    attribute is read in clear (the comparison result is all that leaves)."""
    fields = tuple(
        replace(d, release=Release.CLEAR) if d.allowed and d.derivation is None else d
        for d in decision.fields
    )
    return replace(decision, fields=fields)


def _compare(outcome: Outcome, claims: Mapping[str, Any]) -> dict[str, str]:
    results: dict[str, str] = {}
    for attribute, claimed in claims.items():
        if attribute in outcome.denied:
            results[attribute] = "denied"
        elif attribute in outcome.unavailable or attribute not in outcome.attributes:
            results[attribute] = "unavailable"
        else:
            actual = outcome.attributes[attribute]["value"]
            values = actual if isinstance(actual, list) else [actual]
            hit = any(_same(claimed, v) for v in values)
            results[attribute] = "match" if hit else "no_match"
    return results


def _same(claimed: Any, actual: Any) -> bool:
    if isinstance(claimed, str) and isinstance(actual, str):
        return claimed.strip() == actual.strip()
    if isinstance(claimed, bool) or isinstance(actual, bool):
        return claimed is actual
    if isinstance(claimed, int | float) and isinstance(actual, int | float):
        return abs(claimed - actual) < 1e-9
    return bool(claimed == actual)


def _receipt_view(receipt: Receipt) -> dict[str, Any]:
    return {"index": receipt.index, "leaf_hash": base64.b64encode(receipt.leaf_hash).decode()}


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
