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
   (503). The receipt is signed: the checkpoint note of the tree the batch committed and the
   entry's inclusion proof in it (:func:`_receipt_view`), in every answer and refusal that
   follows a decision;
7. **sign** the evidence (JWS, ``typ`` ``tongban-evidence+jwt``) carrying the audit receipt;
   only then is anything returned.

**Verify** (交互核验) goes down the same steps with ``verification`` as the sharing method asked
for, and confirms no more than the release allows (:mod:`policies.verification`): a claim in a
finer shape than the release is denied ``release_too_coarse`` before anything is fetched, and
the others are compared with the value *as released* (a year with the year, a masked name with
the masked name, a keyed hash with this consumer's hash).

**Budgets** (:mod:`exchange.query.budget`): repeated ``no_match`` answers about one field of one
subject, and distinct predicate arguments over one field, are limited per system over a sliding
window. A request past a budget is checked before the fetch (nothing is read) and decisively in
the audit batch transaction, rows locked; it answers nothing, is audited with the outcome
``budget_exhausted`` and raised as 429 with ``Retry-After``.

A purpose the system never registered is decided (and audited) like any denial, then answered
403 ``purpose_not_registered``. ``all_or_nothing`` turns any denial or unavailability into 409
``incomplete`` with nothing released (audited as ``withheld``).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.orm import Session, sessionmaker

from catalogue.vocabulary import SharingMethod
from exchange import clock
from exchange.agreements.grants import (
    UnreliedAgreement,
    checked_grants,
    in_force_at,
    relied_locked,
    take_use,
    take_use_within,
    unchanged_since,
)
from exchange.agreements.lifecycle import AGREEMENT_UNVERIFIABLE
from exchange.audit.log import AuditLog, HeadSigner
from exchange.audit.sink import Receipt
from exchange.changes import Domain, stamps
from exchange.consent.lifecycle import ConsentCheck, Unrelied
from exchange.consent.models import Consent, ConsentStatus
from exchange.consent.service import record_use
from exchange.consent.states import (
    UNVERIFIABLE,
    consent_rows,
    consent_state,
    effective_status,
    lock_consents,
)
from exchange.corrections.disputes import disputed_for, disputed_verified, field_of, mark_disputed
from exchange.db import unit_of_work
from exchange.errors import Forbidden, PurposeNotRegistered
from exchange.notice.basis import record_basis
from exchange.query.budget import BUDGET_EXHAUSTED, BudgetLedger, Question, Refusal, VerifyBudget
from exchange.query.errors import Incomplete
from exchange.query.models import Counter
from exchange.query.release import Outcome, shape_release
from exchange.query.resolve import ResolvedQuery, resolve_query
from exchange.query.sourcing import (
    Fetched,
    Relay,
    RelayAsk,
    at_most,
    deferred_to_origin,
    fetch_permitted,
    settle_relayed,
)
from exchange.security.clientauth import RememberedCaller, SystemPrincipal, confirmed_caller
from exchange.security.keys import HubKeys
from exchange.security.subjects import ID_TYPE, Pseudonyms, checked_resident_id
from exchange.sources.registry import SourceRegistry
from policies.engine import decide
from policies.model import (
    CheckRowCondition,
    CountQuota,
    Decision,
    DenyReason,
    FieldDecision,
    Grant,
    QueryContext,
    Release,
)
from policies.transforms import HashKey
from policies.verification import ClaimTooPrecise, confirms, screen_claims
from schemas import (
    AuditedAttribute,
    AuditEntry,
    AuditKind,
    AuditReceipt,
    DisputedMark,
    EvidencePayload,
    RelayedFor,
    RelayedRead,
    TongbanError,
)

__all__ = [
    "EVIDENCE_TYP",
    "ExchangePipeline",
    "QueryInput",
    "VerifyBudget",
    "VerifyInput",
]

EVIDENCE_TYP = "tongban-evidence+jwt"

Caller = SystemPrincipal | RememberedCaller
"""Who asks: a system whose token was checked for this request, or one this worker remembers,
which :meth:`ExchangePipeline._decide` confirms first (:func:`confirmed_caller`)."""


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
    on_behalf_of: Mapping[str, Any] | None = None  # a query a peer hub relays (federation)


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
    unverifiable: dict[str, str]  # consent or agreement id -> why the hub may not rely on it
    relied_unverifiable: dict[str, str]  # attribute -> the unverifiable consent covering it
    unverified_grant: dict[str, str] = field(default_factory=dict)
    # attribute -> the agreement the hub may not rely on that would have granted it
    agreements_stamp: str | None = None  # the agreements' stamp the grants were read under
    agreements_unchanged: bool = False  # set in the write unit: nothing changed since
    disputed: Mapping[str, DisputedMark] = field(default_factory=dict)  # open corrections
    remote: Mapping[str, str] = field(default_factory=dict)  # resource -> origin peer hub
    origins: list[Mapping[str, Any]] = field(default_factory=list)  # relayed reads' answers
    relay_refusal: TongbanError | None = None  # an origin hub refused the relayed query
    asked: QueryInput | VerifyInput | None = None


class ExchangePipeline:
    """The query and verify pipelines over the hub's database, sources and keys."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sources: SourceRegistry,
        keys: HubKeys,
        *,
        checkpoints: HeadSigner,
        pseudonyms: Pseudonyms,
        release_hash_key: HashKey,
        issuer: str | None = None,
        budget: VerifyBudget | None = None,
        relay: Relay | None = None,
    ) -> None:
        self._relay = relay  # resources other hubs hold (exchange/federation)
        self._sessions = sessions
        self._log = AuditLog(sessions, signer=checkpoints)
        self._sources = sources
        self._keys = keys
        self._pseudonyms = pseudonyms
        self._hash_key = release_hash_key
        self._budget = BudgetLedger(
            budget or VerifyBudget(), self._pseudonyms.key, self._pseudonyms.mac
        )
        self._issuer = issuer
        self._consent_check = ConsentCheck()

    # -- query ---------------------------------------------------------------------------

    def query(self, caller: Caller, ask: QueryInput, *, issuer: str) -> dict[str, Any]:
        """The answer of ``POST /exchange/query`` (see the module docstring for the steps)."""
        run = self._decide(
            caller,
            ask.purpose,
            ask.attributes,
            ask.service_item,
            ask,
            channel=SharingMethod.INTERFACE,
        )
        refused = self._prechecked(run, self._arguments(run))
        fetched = {} if refused else self._fetch(run)
        outcome = shape_release(
            run.decision,
            fetched,
            run.resolved.resources,
            self._many(run),
            hash_key=self._hash_key.for_consumer(run.caller.system_id),
            now=run.now,
        )
        _mark_unverifiable(run, outcome)
        settle_relayed(outcome, run.decision, fetched)  # what an origin hub refused, refused
        fields = field_of(run.decision)  # a predicate is disputed when its field is
        mark_disputed(outcome.attributes, run.disputed, fields)  # 异议标注, answer and evidence

        refusals: list[Refusal] = []

        def record(session: Session) -> AuditEntry:
            refusal = refused or self._spend(session, run, self._arguments(run, outcome))
            if refusal is not None:
                refusals.append(refusal)
                return self._refused_entry(run, "query", ask, refusal)
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
        _raise_budget(refusals, receipt)
        withheld = entry["outcome"] == "withheld"
        evidence = None
        if not withheld and not _purpose_refused(run.decision):
            evidence = self._sign(run, outcome, receipt, issuer)
        _raise_refusals(run, outcome, withheld, receipt)
        if run.relay_refusal is not None and not outcome.attributes:  # audited above
            run.relay_refusal.extensions["audit"] = _receipt_view(receipt)
            raise run.relay_refusal
        return {
            "request_id": run.request_id,
            "attributes": outcome.attributes,
            "denied": outcome.denied,
            "unavailable": outcome.unavailable,
            "unverifiable": run.unverifiable,
            "audit": _receipt_view(receipt),
            "evidence": evidence,
        }

    # -- verify --------------------------------------------------------------------------

    def verify(self, caller: Caller, ask: VerifyInput, *, issuer: str) -> dict[str, Any]:
        """The answer of ``POST /exchange/verify``: per claimed attribute ``match``,
        ``no_match``, ``unavailable`` or ``denied``; values are compared, never returned, and
        only in the shape their release allows (see the module docstring)."""
        run = self._decide(
            caller,
            ask.purpose,
            list(ask.claims),
            ask.service_item,
            ask,
            channel=SharingMethod.VERIFICATION,
        )
        run.decision = screen_claims(run.decision, ask.claims)
        questions = self._verify_questions(run)
        refused = self._prechecked(run, questions)
        fetched = {} if refused else self._fetch(run)
        outcome = shape_release(
            run.decision,
            fetched,
            run.resolved.resources,
            self._many(run),
            hash_key=self._hash_key.for_consumer(run.caller.system_id),
            now=run.now,
        )
        _mark_unverifiable(run, outcome)
        results: dict[str, str] = {}
        refusals: list[Refusal] = []

        def record(session: Session) -> AuditEntry:
            results.clear()
            refusal = refused or self._budget.refusal(
                session, run.caller.system_id, run.pseudonym, questions, run.now, lock=True
            )
            if refusal is None:
                with session.begin_nested() as attempt:
                    consents = self._recheck(session, run, outcome)
                    if not _purpose_refused(run.decision):
                        self._count_quota(session, run, outcome)
                        self._count_consent_uses(session, run, outcome, consents)
                    results.update(_compare(outcome, ask.claims))
                    refusal = self._spend(session, run, self._verify_spent(run, outcome, results))
                    if refusal is not None:
                        attempt.rollback()  # nothing answered: no quota, consent or budget use
            if refusal is not None:
                refusals.append(refusal)
                return self._refused_entry(run, "verify", ask, refusal)
            return self._entry(run, "verify", outcome, ask, withheld=False, results=results)

        receipt, _ = self._log.append(record)
        _raise_budget(refusals, receipt)
        disputed = disputed_verified(results, run.disputed, field_of(run.decision))  # 异议标注
        evidence = None
        if not _purpose_refused(run.decision):
            evidence = self._sign(run, outcome, receipt, issuer, verify=results, disputed=disputed)
        _raise_refusals(run, outcome, False, receipt)
        return {
            "request_id": run.request_id,
            "results": results,
            "disputed": disputed,
            "denied": {a: r for a, r in outcome.denied.items() if a in results},
            "unavailable": {a: r for a, r in outcome.unavailable.items() if a in results},
            "unverifiable": run.unverifiable,
            "audit": _receipt_view(receipt),
            "evidence": evidence,
        }

    # -- budgets ---------------------------------------------------------------------------

    def _arguments(self, run: _Run, outcome: Outcome | None = None) -> list[Question]:
        """The predicate arguments this request asks (or, given the *outcome*, answered)."""
        return [
            Question(d.field.attribute, Counter.ARGUMENTS, self._budget.argument_tag(d.derivation))
            for d in run.decision.released()
            if d.derivation is not None and (outcome is None or d.attribute in outcome.attributes)
        ]

    def _verify_questions(self, run: _Run) -> list[Question]:
        """One no_match question per claim to be compared, and the predicate arguments."""
        compared = [Question(d.field.attribute, Counter.NO_MATCH) for d in run.decision.released()]
        return [*compared, *self._arguments(run)]

    def _verify_spent(
        self, run: _Run, outcome: Outcome, results: Mapping[str, str]
    ) -> list[Question]:
        """What this verify spends: one per ``no_match`` answer, and the arguments answered."""
        missed = [
            Question(d.field.attribute, Counter.NO_MATCH)
            for d in run.decision.released()
            if results.get(d.attribute) == "no_match"
        ]
        return [*missed, *self._arguments(run, outcome)]

    def _prechecked(self, run: _Run, questions: Sequence[Question]) -> Refusal | None:
        """A budget already spent, read before anything is fetched (re-checked when recorded)."""
        if not questions:
            return None
        with unit_of_work(self._sessions) as session:
            return self._budget.refusal(
                session, run.caller.system_id, run.pseudonym, questions, run.now, lock=False
            )

    def _spend(self, session: Session, run: _Run, spent: Sequence[Question]) -> Refusal | None:
        return self._budget.spend(session, run.caller.system_id, run.pseudonym, spent, run.now)

    def _refused_entry(
        self, run: _Run, kind: AuditKind, ask: QueryInput | VerifyInput, refusal: Refusal
    ) -> AuditEntry:
        """The audit entry of a request refused by a budget: nothing answered, and why."""
        refused = Outcome(
            denied={
                d.attribute: d.reason.value if d.reason is not None else refusal.reason
                for d in run.decision.fields
            }
        )
        entry = self._entry(run, kind, refused, ask, withheld=False)
        entry["outcome"] = BUDGET_EXHAUSTED
        entry["budget"] = {"counter": refusal.counter.value, "field": refusal.field}
        return entry

    # -- steps -----------------------------------------------------------------------------

    def _decide(
        self,
        remembered: Caller,
        purpose: str,
        attributes: Sequence[str] | None,
        service_item: str | None,
        ask: QueryInput | VerifyInput,
        *,
        channel: SharingMethod,
    ) -> _Run:
        now = clock.now()
        with unit_of_work(self._sessions) as session:
            # First: a token that no longer holds is refused before anything else is done.
            caller = confirmed_caller(session, self._keys, remembered)
            subject = checked_resident_id(ask.subject, id_type=ask.id_type)
            resolved = resolve_query(
                session,
                attributes=attributes,
                service_item=service_item,
                department=caller.department,
            )
            agreements_stamp = stamps(session).get(Domain.AGREEMENTS)
            grants, unrelied_agreements = checked_grants(
                session, system=caller.system_id, now=now, resources=resolved.resources
            )
            subject_pseudonym = self._pseudonyms.of_number(subject)
            rows = consent_rows(
                session, subject=subject_pseudonym, system=caller.system_id, named=ask.consent_id
            )
            unrelied = self._consent_check.problems(session, rows, now)
            disputed = disputed_for(session, subject_pseudonym)  # cached: no statement
            remote = self._relay.origins(session, resolved.resources) if self._relay else {}
            on_behalf_of = ask.on_behalf_of if isinstance(ask, QueryInput) else None
            if on_behalf_of is not None:  # relayed by a peer hub: only a registered one
                if self._relay is None:
                    raise Forbidden("this hub does not accept relayed queries")
                self._relay.admit(session, caller.system_id, on_behalf_of)
        consents = [
            consent_state(row, now, status=unrelied[row.id].status if row.id in unrelied else None)
            for row in rows
        ]
        context = QueryContext(
            system=caller.system_id,
            department=caller.department,
            system_purposes=frozenset(caller.purposes),
            purpose=purpose,
            now=now,
            service_item=service_item,
            officer=ask.officer,
            consent_id=ask.consent_id,
            channel=channel,
        )
        decision = decide(context, resolved.requests, grants, consents)
        if on_behalf_of is not None:  # no more than the relaying hub's caller may get
            decision = at_most(decision, on_behalf_of.get("release") or {})
        if remote:  # a conditional field another hub holds: its agreement is there
            decision = deferred_to_origin(decision, remote)
        covered = _covered_by_unrelied(decision, rows, unrelied, purpose, ask.consent_id)
        ungranted = _granted_by_unrelied(decision, unrelied_agreements, purpose)
        reasons = {u.agreement_id: u.reason for u in unrelied_agreements}
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
            {
                **{c: unrelied[c].reason for c in sorted(set(covered.values()))},
                **{g: reasons[g] for g in sorted(set(ungranted.values()))},
            },
            {a: c for a, c in covered.items() if unrelied[c].status == UNVERIFIABLE},
            ungranted,
            agreements_stamp,
            disputed=disputed,
            remote=remote,
            asked=ask,
        )

    def _fetch(self, run: _Run) -> dict[str, Fetched]:
        wanted = run.decision.fields_to_fetch()
        if not wanted or _purpose_refused(run.decision):
            return {}
        relayed = RelayAsk(
            self._issuer or "",
            run.request_id,
            run.caller.system_id,
            run.caller.department,
            run.asked.officer if run.asked else None,
            run.purpose,
            run.subject,
            _relayed_forms(run),
        )
        fetched = fetch_permitted(
            self._sources,
            run.subject,
            run.resolved.resources,
            wanted,
            relay=self._relay,
            ask=relayed,
            remote=run.remote,
        )
        origins = (f.origin for f in fetched.values() if f.origin is not None)
        run.origins = list({str(o["peer"]): o for o in origins}.values())  # one per origin hub
        run.relay_refusal = next((f.refusal for f in fetched.values() if f.refusal), None)
        return fetched

    def _many(self, run: _Run) -> dict[str, bool]:
        many = {}
        for code in run.resolved.resources:
            binding = self._sources.binding(code)
            many[code] = binding is not None and binding.mapping.many
        for origin in run.origins:  # a relayed resource: as the origin hub answered
            for code in origin.get("many", ()):
                many[code] = True
        return many

    def _recheck(self, session: Session, run: _Run, outcome: Outcome) -> dict[str, Consent]:
        """Inside the write unit: an agreement revoked (or expired) since the decision, or a
        consent revoked, expired, superseded or used up since, takes back what it released.
        Returns the consents relied on, locked until the commit."""
        now = clock.now()
        released = run.decision.released()
        agreements = {d.agreement_id for d in released if d.agreement_id}
        if agreements:
            run.agreements_unchanged = unchanged_since(session, run.agreements_stamp)
            problems: dict[str, str] = {}
            if run.agreements_unchanged:  # the grants decided on are the agreements as they are
                relied = {
                    g.agreement_id
                    for g in run.grants
                    if in_force_at(g.valid_from, g.valid_until, now)
                }
            else:
                relied, problems = relied_locked(session, agreements, now)
            run.unverifiable.update(problems)
            for choice in released:
                if choice.agreement_id in problems:  # the row says approved; terms or log not
                    _take_back(outcome, choice.attribute, AGREEMENT_UNVERIFIABLE)
                elif choice.agreement_id and choice.agreement_id not in relied:
                    _take_back(outcome, choice.attribute, DenyReason.NOT_GRANTED.value)
        consents = {d.consent_id for d in released if d.consent_id}
        if not consents:
            return {}
        locked = lock_consents(session, consents)
        unrelied = self._consent_check.problems(session, locked.values(), now)
        for choice in released:
            if choice.consent_id is None:
                continue
            problem = unrelied.get(choice.consent_id)
            if problem is not None:  # the row says given; the receipt or the log says not
                run.unverifiable[choice.consent_id] = problem.reason
                reason = f"consent_{problem.status}"
                _take_back(outcome, choice.attribute, reason)
                continue
            consent = locked.get(choice.consent_id)
            status = effective_status(consent, now) if consent else ConsentStatus.REVOKED
            if status is not ConsentStatus.GIVEN:
                _take_back(outcome, choice.attribute, f"consent_{status.value}")
        return {c: row for c, row in locked.items() if c not in unrelied}

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
        quotas = {g.agreement_id: g.daily_quota for g in run.grants}

        def take_uses() -> set[str]:
            exceeded = set()
            for agreement_id in sorted(a for a in used if a):
                if run.agreements_unchanged:  # the checked terms' quota, in one statement
                    took = take_use_within(session, agreement_id, run.now, quotas[agreement_id])
                else:
                    took = take_use(session, agreement_id, run.now)
                if not took:
                    exceeded.add(agreement_id)
            return exceeded

        if all_or_nothing and len(used) > 1:  # one use past its quota undoes the others
            with session.begin_nested() as uses:
                exceeded = take_uses()
                if exceeded:
                    uses.rollback()
        else:  # nothing to undo: a use past its quota counted nothing
            exceeded = take_uses()
        for choice in run.decision.released():
            if choice.agreement_id in exceeded:
                _take_back(outcome, choice.attribute, DenyReason.QUOTA_EXCEEDED.value)
        return not exceeded

    def _entry(
        self,
        run: _Run,
        kind: AuditKind,
        outcome: Outcome,
        ask: QueryInput | VerifyInput,
        *,
        withheld: bool,
        results: Mapping[str, str] | None = None,
    ) -> AuditEntry:
        """The audit entry of this request: what happened and why, never a value (a verify's
        per-attribute ``match`` / ``no_match`` too, so probing shows in the log)."""
        attributes = {d.attribute: _audited(d, outcome, withheld) for d in run.decision.fields}
        for attribute, result in (results or {}).items():
            if attribute in attributes and result in ("match", "no_match"):
                attributes[attribute]["verified"] = result
        entry: AuditEntry = {
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
            "attributes": attributes,
            "outcome": "withheld" if withheld else outcome.summary,
        }
        _federated(entry, run, ask)
        return entry

    def _sign(
        self,
        run: _Run,
        outcome: Outcome,
        receipt: Receipt,
        issuer: str,
        *,
        verify: Mapping[str, str] | None = None,
        disputed: Mapping[str, DisputedMark] | None = None,
    ) -> str:
        payload: EvidencePayload = {
            "iss": self._issuer or issuer,
            "aud": run.caller.system_id,
            "iat": int(run.now.timestamp()),
            "jti": run.request_id,
            "purpose": run.purpose,
            "subject": {"id_type": ID_TYPE, "id": run.subject},
            "audit": _receipt_view(receipt),
        }
        if isinstance(ask := run.asked, QueryInput) and ask.on_behalf_of is not None:
            payload["relay"] = cast(RelayedFor, dict(ask.on_behalf_of))
        origins = [o for o in run.origins if o.get("evidence")]  # the verified ones
        if origins:  # each origin hub's own evidence, inside this hub's
            payload["origins"] = [
                {"hub": str(o["hub"]), "evidence": str(o["evidence"])} for o in origins
            ]
        if verify is None:
            payload["attributes"] = outcome.attributes
        else:
            payload["verified"] = dict(verify)
            if disputed:
                payload["disputed"] = dict(disputed)
        signed = self._keys.sign_as_validated(payload, typ=EVIDENCE_TYP)
        if signed is not None:  # the token check of this request has just read the keys
            return signed
        with unit_of_work(self._sessions, write=not self._keys.initialised) as session:
            return self._keys.sign(session, payload, typ=EVIDENCE_TYP)


# -- helpers -------------------------------------------------------------------------------

CONSENT_UNVERIFIABLE = f"consent_{UNVERIFIABLE}"
"""Why a field that relied on (or would have relied on) a consent the hub may not rely on is
refused: the row fails :class:`~exchange.consent.lifecycle.ConsentCheck`, and the answer's
``unverifiable`` says why, by consent id."""


def _covered_by_unrelied(
    decision: Decision,
    rows: Sequence[Consent],
    unrelied: Mapping[str, Unrelied],
    purpose: str,
    named: str | None,
) -> dict[str, str]:
    """Each attribute refused for want of consent that a consent the hub may not rely on
    would have covered (of this purpose; the named one, if the query names one): attribute ->
    consent id, so that the answer can say why."""
    if not unrelied:
        return {}
    covered: dict[str, str] = {}
    for choice in decision.denied():
        if choice.reason is None or not choice.reason.value.startswith("consent_"):
            continue
        for row in rows:
            if row.id not in unrelied or row.purpose != purpose:
                continue
            if named is not None and row.id != named:
                continue
            if choice.field.attribute in {f["attribute"] for f in row.fields}:
                covered[choice.attribute] = row.id
                break
    return covered


def _granted_by_unrelied(
    decision: Decision, unrelied: Sequence[UnreliedAgreement], purpose: str
) -> dict[str, str]:
    """Each attribute refused ``not_granted`` that an agreement the hub may not rely on would
    have granted (for this purpose): attribute -> agreement id, so that the answer says why."""
    if not unrelied:
        return {}
    found: dict[str, str] = {}
    for choice in decision.denied():
        if choice.reason is not DenyReason.NOT_GRANTED:
            continue
        for agreement in unrelied:
            if (
                agreement.resource == choice.field.resource
                and choice.field.name in agreement.fields
                and purpose in agreement.purposes
            ):
                found[choice.attribute] = agreement.agreement_id
                break
    return found


def _mark_unverifiable(run: _Run, outcome: Outcome) -> None:
    """A field refused because the consent that would cover it, or the agreement that would
    grant it, is unverifiable says so."""
    for attribute in run.relied_unverifiable:
        if attribute in outcome.denied:
            outcome.denied[attribute] = CONSENT_UNVERIFIABLE
    for attribute in run.unverified_grant:
        if attribute in outcome.denied:
            outcome.denied[attribute] = AGREEMENT_UNVERIFIABLE


def _federated(entry: AuditEntry, run: _Run, ask: QueryInput | VerifyInput) -> None:
    """A relayed query's audit members: ``relay`` (the origin hub: who relayed it, for whom)
    and ``relayed`` (the relaying hub: each origin hub read, its request and log index)."""
    if isinstance(ask, QueryInput) and ask.on_behalf_of is not None:
        entry["relay"] = cast(RelayedFor, dict(ask.on_behalf_of))
    if run.origins:
        entry["relayed"] = [
            cast(
                RelayedRead,
                {k: o.get(k) for k in ("hub", "peer", "request_id", "index", "outcome")},
            )
            for o in run.origins
        ]


def _relayed_forms(run: _Run) -> dict[str, tuple[str, str]]:
    """Each attribute an origin hub is asked for, in the form decided here (a predicate as the
    predicate): attribute as asked -> (resource, release). Not one this hub may release only
    under a row condition of its own agreement, which the origin cannot check for it."""
    conditioned = {
        (o.agreement_id, o.resource)
        for o in run.decision.obligations
        if isinstance(o, CheckRowCondition)
    }
    return {
        d.attribute: (d.field.resource, d.release.value)
        for d in run.decision.released()
        if d.field.resource in run.remote
        and d.release is not None
        and (d.agreement_id, d.field.resource) not in conditioned
    }


def _take_back(outcome: Outcome, attribute: str, reason: str) -> None:
    outcome.attributes.pop(attribute, None)
    outcome.unavailable.pop(attribute, None)
    outcome.denied[attribute] = reason


def _purpose_refused(decision: Decision) -> bool:
    return any("purpose.unregistered" in d.rules for d in decision.fields)


def _raise_budget(refusals: Sequence[Refusal], receipt: Receipt) -> None:
    """After the audit entry committed: a budget refusal is a 429 (with ``Retry-After``)."""
    if refusals:
        raise refusals[-1].error({"audit": _receipt_view(receipt)})


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
                **({"unverifiable": run.unverifiable} if run.unverifiable else {}),
                "audit": _receipt_view(receipt),
            },
        )


def _audited(decision: FieldDecision, outcome: Outcome, withheld: bool) -> AuditedAttribute:
    """One attribute as the audit log holds it: what happened and why, never the value."""
    attribute = decision.attribute
    if attribute in outcome.attributes:
        state = "withheld" if withheld else "released"
    elif attribute in outcome.unavailable:
        state = "unavailable"
    else:
        state = "denied"
    audited: AuditedAttribute = {
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
    if decision.agreement_id:
        audited["agreement"] = decision.agreement_id
    if decision.consent_id:
        audited["consent"] = decision.consent_id
    if decision.legal_basis:
        audited["legal_basis"] = decision.legal_basis
    return record_basis(audited, decision)  # 法定职责 / 同意 / 其他 (docs/notice.md)


def _compare(outcome: Outcome, claims: Mapping[str, Any]) -> dict[str, str]:
    """Each claim against its value *as released* (:func:`policies.verification.confirms`; a
    claim finer than the release was denied before the fetch, and is never compared)."""
    results: dict[str, str] = {}
    for attribute, claimed in claims.items():
        if attribute in outcome.denied:
            results[attribute] = "denied"
        elif attribute in outcome.unavailable or attribute not in outcome.attributes:
            results[attribute] = "unavailable"
        else:
            released = outcome.attributes[attribute]
            release = Release(released["release"])
            values = (
                released["value"] if isinstance(released["value"], list) else [released["value"]]
            )
            try:
                hit = any(confirms(release, claimed, value) for value in values)
            except ClaimTooPrecise:
                _take_back(outcome, attribute, DenyReason.RELEASE_TOO_COARSE.value)
                results[attribute] = "denied"
                continue
            results[attribute] = "match" if hit else "no_match"
    return results


def _receipt_view(receipt: Receipt) -> AuditReceipt:
    """The receipt as answers, refusals and the evidence carry it: the entry's index and leaf
    hash, the size of the tree its batch committed, the hub's signed checkpoint note of that
    tree, and the entry's RFC 9162 inclusion proof in it (hashes in base64)."""
    if receipt.checkpoint is None:
        raise RuntimeError("the exchange's audit log signs every receipt; this one is unsigned")
    return {
        "index": receipt.index,
        "leaf_hash": _b64(receipt.leaf_hash),
        "tree_size": receipt.size,
        "checkpoint": receipt.checkpoint,
        "inclusion_proof": [_b64(node) for node in receipt.inclusion],
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
