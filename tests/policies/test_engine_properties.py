"""Properties of the policy engine over random catalogues, agreements, consents and queries.

Whatever the inputs: every released attribute is justified by a rule (unconditional sharing, or a
covering grant with quota left), with consent whenever consent is needed; a not-shared field is
never released; nothing is fetched that is neither released nor needed to check a row condition;
and the answer does not depend on the order of the grants or the consents.
"""

from __future__ import annotations

from dataclasses import replace
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from catalogue.vocabulary import ReleaseTransform, Sensitivity, SharingType
from policies.engine import decide
from policies.model import (
    AttributeRequest,
    CheckRowCondition,
    ConsentState,
    CountQuota,
    Derivation,
    FieldDecision,
    FieldInfo,
    Grant,
    QueryContext,
    Release,
    RowCondition,
    UseConsent,
)
from tests.policies.helpers import DAY, NOW

SYSTEMS = ("edu-enrolment", "mca-dibao")
PURPOSES = ("school-enrolment", "minimum-living-allowance")
RESOURCES = ("PSB-HJ-0001", "REG-BDC-0001")
NAMES = ("name", "birth_date", "division")
AGREED = "《政务信息资源共享管理暂行办法》"  # every grant's legal basis
BASES = (None, "", "《义务教育法》第十二条", AGREED, "《编造条例》第一条")
WAIVERS = (frozenset(), frozenset(), frozenset({"《义务教育法》第十二条"}))
OTHER = {a: b for pair in (SYSTEMS, PURPOSES, RESOURCES) for a, b in (pair, pair[::-1])}
# What a grant or a consent gets wrong, if anything: one fault at a time, so that each rule
# is the only thing standing between the query and a release.
GRANT_FAULTS = (
    None,
    None,
    None,
    "system",
    "resource",
    "field",
    "purpose",
    "early",
    "ended",
    "quota",
)
CONSENT_FAULTS = (None, None, None, "inactive", "system", "purpose", "attribute")

# Strategies are built once, here: building them inside each draw costs more than the engine.
booleans = st.booleans()
counts = st.integers(min_value=0, max_value=5)
one_in_four = st.integers(min_value=0, max_value=3).map(lambda n: n == 0)
systems = st.sampled_from(SYSTEMS)
purposes = st.sampled_from(PURPOSES)
purpose_sets = st.frozensets(purposes, max_size=2)
names = st.sampled_from(NAMES)
resources = st.sampled_from(RESOURCES)
attributes = st.builds(lambda resource, name: f"{resource[:3].lower()}.{name}", resources, names)
releases = st.sampled_from((None, None, *Release))  # no override, or any, derived included
derivations = st.none() | st.just(Derivation("age_at_least", "18"))
legal_bases = st.sampled_from(BASES)
named_consents = st.sampled_from((None, None, None, "CS-0", "CS-1", "CS-2"))
grant_faults = st.sampled_from(GRANT_FAULTS)
consent_faults = st.sampled_from(CONSENT_FAULTS)
starts = st.sampled_from((NOW, NOW - DAY))  # valid from now, or from yesterday
ends = st.none() | st.sampled_from((NOW + DAY, NOW + 30 * DAY))
ended = st.sampled_from((NOW, NOW - DAY))  # valid until now is no longer valid
row_conditions = st.none() | st.builds(RowCondition, names, st.just("33"))
quotas = st.none() | st.integers(min_value=1, max_value=3)
spent = st.integers(min_value=0, max_value=2)


# Conditional fields are where agreements and consents meet: the most of them.
sharing_types = st.sampled_from((*SharingType, SharingType.CONDITIONAL, SharingType.CONDITIONAL))


@st.composite
def fields(draw: st.DrawFn) -> FieldInfo:
    resource = draw(resources)
    return FieldInfo(
        resource=resource,
        version=1,
        provider=resource[:3],
        namespace=resource[:3].lower(),
        name=draw(names),
        sharing=draw(sharing_types),
        sensitivity=draw(st.sampled_from(Sensitivity)),
        transform=draw(st.sampled_from(ReleaseTransform)),
        consent_waived_by=draw(st.sampled_from(WAIVERS)),
    )


field_infos = fields()


def draw_context(draw: st.DrawFn) -> QueryContext:
    purpose = draw(purposes)
    registered = draw(purpose_sets)
    return QueryContext(
        system=draw(systems),
        department="EDU",
        system_purposes=registered if draw(one_in_four) else registered | {purpose},
        purpose=purpose,
        now=NOW,
        consent_id=draw(named_consents),
    )


def draw_request(draw: st.DrawFn, ctx: QueryContext) -> AttributeRequest:
    info = draw(field_infos)
    item_purpose = None
    if draw(booleans):  # asked through a service item, usually for the item's purpose
        item_purpose = OTHER[ctx.purpose] if draw(one_in_four) else ctx.purpose
    return AttributeRequest(
        attribute=info.attribute,
        field=info,
        derivation=draw(derivations),
        legal_basis=draw(legal_bases),
        item_purpose=item_purpose,
    )


def draw_grant(draw: st.DrawFn, ctx: QueryContext, asked: list[FieldInfo], n: int) -> Grant:
    """A grant for one of the asked fields that fits the query but for at most one fault."""
    target = asked[draw(counts) % len(asked)]
    fault = draw(grant_faults)
    granted = {draw(names): draw(releases) for _ in range(draw(counts) // 2)}
    granted.pop(target.name, None)
    if fault != "field":
        granted[target.name] = draw(releases)
    for_the_query = frozenset({ctx.purpose})
    quota = draw(quotas)
    used = draw(spent) % quota if quota else 0
    if fault == "quota":
        quota = draw(spent)
        used = quota + draw(spent)
    return Grant(
        agreement_id=f"AG-{n}",
        system=OTHER[ctx.system] if fault == "system" else ctx.system,
        consumer_department="EDU",
        resource=OTHER[target.resource] if fault == "resource" else target.resource,
        purposes=draw(purpose_sets) - {ctx.purpose} if fault == "purpose" else for_the_query,
        legal_basis=AGREED,
        fields=granted,
        valid_from=NOW + DAY if fault == "early" else draw(starts),
        valid_until=draw(ended) if fault == "ended" else draw(ends),
        row_condition=draw(row_conditions),
        daily_quota=quota,
        used_today=used,
        requires_consent=draw(booleans),
    )


def draw_consent(
    draw: st.DrawFn, ctx: QueryContext, asked: list[FieldInfo], n: int
) -> ConsentState:
    """A consent that covers some asked fields and fits the query but for at most one fault."""
    fault = draw(consent_faults)
    covered = {draw(attributes) for _ in range(draw(counts) // 2)}
    covered |= {f.attribute for f in asked if draw(booleans)}
    if fault == "attribute":
        covered -= {f.attribute for f in asked}
    return ConsentState(
        consent_id=f"CS-{n}",
        system=OTHER[ctx.system] if fault == "system" else ctx.system,
        purpose=OTHER[ctx.purpose] if fault == "purpose" else ctx.purpose,
        attributes=frozenset(covered),
        status="used" if fault == "inactive" else "given",
    )


Query = tuple[QueryContext, list[AttributeRequest], list[Grant], list[ConsentState]]


@st.composite
def queries(draw: st.DrawFn) -> Query:
    ctx = draw_context(draw)
    asked = [draw_request(draw, ctx) for _ in range(draw(counts) + 1)]
    targets = [r.field for r in asked]
    return (
        ctx,
        asked,
        [draw_grant(draw, ctx, targets, n) for n in range(draw(counts))],
        [draw_consent(draw, ctx, targets, n) for n in range(draw(counts) - 1)],
    )


# ---------------------------------------------------------------------------
# What justifies a release, stated from the rules, not from the engine's code
# ---------------------------------------------------------------------------


def _grant_covers(grant: Grant, ctx: QueryContext, info: FieldInfo) -> bool:
    in_window = grant.valid_from <= ctx.now and (
        grant.valid_until is None or ctx.now < grant.valid_until
    )
    quota_left = grant.daily_quota is None or grant.used_today < grant.daily_quota
    return (
        grant.system == ctx.system
        and grant.resource == info.resource
        and info.name in grant.fields
        and ctx.purpose in grant.purposes
        and in_window
        and quota_left
    )


def _consent_meets(consent: ConsentState, ctx: QueryContext, info: FieldInfo) -> bool:
    return (
        consent.active
        and consent.system == ctx.system
        and consent.purpose == ctx.purpose
        and info.attribute in consent.attributes
        and ctx.consent_id in (None, consent.consent_id)
    )


def _expected_release(decision: FieldDecision, grant: Grant | None) -> Release:
    if decision.derivation is not None:
        return Release.DERIVED
    override = None if grant is None else grant.fields[decision.field.name]
    return Release.of(decision.field.transform) if override is None else override


def _deciding_grant(
    decision: FieldDecision, ctx: QueryContext, grants: list[Grant]
) -> Grant | None:
    if decision.field.sharing is SharingType.UNCONDITIONAL:
        assert decision.agreement_id is None
        return None
    assert decision.field.sharing is SharingType.CONDITIONAL
    (grant,) = [g for g in grants if g.agreement_id == decision.agreement_id]
    assert _grant_covers(grant, ctx, decision.field)
    return grant


def _assert_justified(
    decision: FieldDecision, request: AttributeRequest, query: Query
) -> Grant | None:
    """Fail unless a rule allows the release as made; return the grant it was made under."""
    ctx, _, grants, consents = query
    assert ctx.purpose in ctx.system_purposes
    assert request.item_purpose in (None, ctx.purpose)
    grant = _deciding_grant(decision, ctx, grants)
    assert decision.release == _expected_release(decision, grant)
    assert decision.derivation is not None or decision.release is not Release.DERIVED
    stated = bool((request.legal_basis or "").strip())
    granted_basis = grant.legal_basis if grant is not None else None
    assert decision.legal_basis == (request.legal_basis if stated else granted_basis)
    sensitive = decision.field.sensitivity is Sensitivity.SENSITIVE_PERSONAL
    # Only a legal basis the provider accepted waives consent: the field's own, or the grant's.
    accepted = decision.field.consent_waived_by | ({grant.legal_basis} if grant else set())
    waived = stated and request.legal_basis in accepted
    if (sensitive and not waived) or (grant is not None and grant.requires_consent):
        (consent,) = [c for c in consents if c.consent_id == decision.consent_id]
        assert _consent_meets(consent, ctx, decision.field)
    else:
        assert decision.consent_id is None
    return grant


def _expected_obligations(
    grants: list[Grant], consent_ids: set[str]
) -> set[CheckRowCondition | CountQuota | UseConsent]:
    expected: set[CheckRowCondition | CountQuota | UseConsent] = set()
    for grant in grants:
        if grant.row_condition is not None:
            expected.add(CheckRowCondition(grant.resource, grant.row_condition, grant.agreement_id))
        if grant.daily_quota is not None:
            expected.add(CountQuota(grant.agreement_id))
    return expected | {UseConsent(consent_id) for consent_id in consent_ids}


@settings(max_examples=1000, deadline=None)
@given(queries())
def test_every_release_is_justified_and_nothing_else_is_fetched(query: Query) -> None:
    ctx, asked, grants, consents = query
    answer = decide(ctx, asked, grants, consents)

    assert [d.attribute for d in answer.fields] == [r.attribute for r in asked]
    deciding: list[Grant] = []
    for decision, request in zip(answer.fields, asked, strict=True):
        assert decision.rules
        assert (decision.release is None) == (decision.reason is not None)
        if decision.field.sharing is SharingType.NOT_SHARED:
            assert not decision.allowed
        if decision.allowed:
            grant = _assert_justified(decision, request, query)
            deciding.extend([grant] if grant is not None else [])

    released = {(d.field.resource, d.field.name) for d in answer.released()}
    conditions = {(g.resource, g.row_condition.field) for g in deciding if g.row_condition}
    for resource, names in answer.fields_to_fetch().items():
        for name in names:
            assert (resource, name) in released | conditions

    used = {d.consent_id for d in answer.released() if d.consent_id is not None}
    assert set(answer.obligations) == _expected_obligations(deciding, used)
    assert len(set(answer.obligations)) == len(answer.obligations)


@settings(max_examples=200, deadline=None)
@given(queries(), st.randoms(use_true_random=False))
def test_the_order_of_grants_and_consents_does_not_matter(
    query: Query,
    shuffler: Random,
) -> None:
    ctx, asked, all_grants, all_consents = query
    first = decide(ctx, asked, all_grants, all_consents)
    grants_shuffled, consents_shuffled = list(all_grants), list(all_consents)
    shuffler.shuffle(grants_shuffled)
    shuffler.shuffle(consents_shuffled)
    again = decide(ctx, asked, grants_shuffled, consents_shuffled)
    assert again.fields == first.fields
    assert set(again.obligations) == set(first.obligations)


@settings(max_examples=200, deadline=None)
@given(queries())
def test_an_open_field_for_a_registered_purpose_is_always_released(
    query: Query,
) -> None:
    ctx, asked, all_grants, all_consents = query
    ctx = replace(ctx, system_purposes=ctx.system_purposes | {ctx.purpose})
    open_requests = [
        replace(
            r,
            item_purpose=None,
            field=replace(
                r.field, sharing=SharingType.UNCONDITIONAL, sensitivity=Sensitivity.PERSONAL
            ),
        )
        for r in asked
    ]
    answer = decide(ctx, open_requests, all_grants, all_consents)
    assert all(d.allowed for d in answer.fields)
    assert answer.obligations == ()
