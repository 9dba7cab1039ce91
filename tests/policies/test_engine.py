"""The policy engine, rule by rule: what is released, how, under which rule, and what is refused."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest

from catalogue.vocabulary import ReleaseTransform, Sensitivity, SharingType
from policies.engine import REVEALING, decide
from policies.model import (
    CheckRowCondition,
    ConsentState,
    CountQuota,
    DenyReason,
    Derivation,
    Grant,
    QueryContext,
    Release,
    RowCondition,
    UseConsent,
)
from tests.policies.helpers import (
    DAY,
    LAW,
    NOW,
    PURPOSE,
    ask,
    consent,
    context,
    field,
    grant,
    only,
)

ADDRESS = field("registered_address")
ETHNICITY = field("ethnicity", sensitivity=Sensitivity.SENSITIVE_PERSONAL)
ADULT = Derivation("age_at_least", "18")


# ---------------------------------------------------------------------------
# 1. Purpose
# ---------------------------------------------------------------------------


def test_a_purpose_the_system_did_not_register_is_refused_even_for_open_fields() -> None:
    open_field = field("division", sharing=SharingType.UNCONDITIONAL)
    decision = decide(context(purpose="marketing"), [ask(open_field)], [], [])
    refused = only(decision)
    assert (refused.release, refused.reason) == (None, DenyReason.PURPOSE_MISMATCH)
    assert refused.rules == ("purpose.unregistered",)


def test_a_grant_for_the_purpose_does_not_help_a_purpose_the_system_did_not_register() -> None:
    ctx = context(purpose="marketing")
    covering = grant(purposes=frozenset({"marketing"}))
    assert only(decide(ctx, [ask(ADDRESS)], [covering], [])).reason == DenyReason.PURPOSE_MISMATCH


def test_an_item_attribute_asked_for_another_purpose_is_refused() -> None:
    request = ask(ADDRESS, item_purpose="minimum-living-allowance")
    refused = only(decide(context(), [request], [grant()], []))
    assert refused.reason == DenyReason.PURPOSE_MISMATCH
    assert refused.rules == ("purpose.item_mismatch",)


def test_an_item_attribute_asked_for_the_item_purpose_goes_on() -> None:
    request = ask(ADDRESS, item_purpose=PURPOSE, legal_basis=LAW)
    assert only(decide(context(), [request], [grant()], [])).allowed


def test_purpose_is_checked_before_sharing_type() -> None:
    secret = field("criminal_record", sharing=SharingType.NOT_SHARED)
    refused = only(decide(context(purpose="marketing"), [ask(secret)], [], []))
    assert refused.reason == DenyReason.PURPOSE_MISMATCH


# ---------------------------------------------------------------------------
# 2. Not shared
# ---------------------------------------------------------------------------


def test_a_not_shared_field_is_refused_whatever_the_agreement_says() -> None:
    secret = field("criminal_record", sharing=SharingType.NOT_SHARED)
    generous = grant("criminal_record", fields={"criminal_record": Release.CLEAR})
    everything = consent("household.criminal_record")
    request = ask(secret, legal_basis=LAW)
    decision = decide(context(), [request], [generous], [everything])
    refused = only(decision)
    assert (refused.release, refused.reason) == (None, DenyReason.NOT_SHARED)
    assert refused.rules == ("sharing.not_shared",)
    assert refused.agreement_id is None
    assert decision.obligations == ()
    assert decision.fields_to_fetch() == {}


def test_no_predicate_over_a_not_shared_field() -> None:
    secret = field("criminal_record", sharing=SharingType.NOT_SHARED)
    generous = grant("criminal_record", fields={"criminal_record": Release.DERIVED})
    request = ask(secret, derivation=Derivation("resides_in", "33"))
    assert only(decide(context(), [request], [generous], [])).reason == DenyReason.NOT_SHARED


# ---------------------------------------------------------------------------
# 3. Unconditional
# ---------------------------------------------------------------------------


def test_an_unconditional_field_is_released_with_the_catalogue_transform() -> None:
    id_number = field(
        "id_number", sharing=SharingType.UNCONDITIONAL, transform=ReleaseTransform.MASK_ID
    )
    released = only(decide(context(), [ask(id_number, legal_basis=LAW)], [], []))
    assert released.release == Release.MASK_ID
    assert released.reason is None
    assert released.rules == ("sharing.unconditional",)
    assert (released.agreement_id, released.consent_id, released.legal_basis) == (None, None, LAW)


def test_an_unconditional_field_ignores_grant_overrides() -> None:
    name = field("name", sharing=SharingType.UNCONDITIONAL, transform=ReleaseTransform.MASK_NAME)
    clear = grant("name", fields={"name": Release.CLEAR})
    released = only(decide(context(), [ask(name)], [clear], []))
    assert (released.release, released.agreement_id) == (Release.MASK_NAME, None)


# ---------------------------------------------------------------------------
# 4. Conditional
# ---------------------------------------------------------------------------


def test_a_conditional_field_without_a_grant_is_not_granted() -> None:
    refused = only(decide(context(), [ask(ADDRESS)], [], []))
    assert (refused.release, refused.reason) == (None, DenyReason.NOT_GRANTED)
    assert refused.rules == ("default.deny",)


def test_a_conditional_field_is_released_under_its_grant() -> None:
    decision = decide(context(), [ask(ADDRESS)], [grant()], [])
    released = only(decision)
    assert released.release == Release.CLEAR
    assert released.rules == ("agreement:AG-1",)
    assert released.agreement_id == "AG-1"
    assert released.legal_basis == LAW  # the grant's, as the request states none
    assert decision.obligations == ()
    assert decision.fields_to_fetch() == {"PSB-HJ-0001": {"registered_address"}}


def test_the_request_legal_basis_is_recorded_before_the_grant_one() -> None:
    request = ask(ADDRESS, legal_basis="《义务教育法》第十一条")
    assert only(decide(context(), [request], [grant()], [])).legal_basis == "《义务教育法》第十一条"


def test_a_grant_override_decides_the_release() -> None:
    masked = field("household_head_name", transform=ReleaseTransform.MASK_NAME)
    hashed = grant("household_head_name", fields={"household_head_name": Release.HASH})
    assert only(decide(context(), [ask(masked)], [hashed], [])).release == Release.HASH


def test_a_grant_without_override_releases_the_catalogue_default() -> None:
    masked = field("household_head_name", transform=ReleaseTransform.MASK_NAME)
    default = grant("household_head_name")
    assert only(decide(context(), [ask(masked)], [default], [])).release == Release.MASK_NAME


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"system": "mca-dibao"}, id="another system"),
        pytest.param({"resource": "REG-BDC-0001"}, id="another resource"),
        pytest.param({"fields": {"birth_date": None}}, id="field not in the grant"),
        pytest.param({"purposes": frozenset({"identity-check"})}, id="another purpose"),
        pytest.param({"valid_from": NOW + DAY}, id="not yet valid"),
        pytest.param({"valid_until": NOW}, id="expired at now"),
        pytest.param({"valid_until": NOW - DAY}, id="expired"),
    ],
)
def test_a_grant_that_does_not_cover_the_query_grants_nothing(changes: dict[str, Any]) -> None:
    refused = only(decide(context(), [ask(ADDRESS)], [grant(**changes)], []))
    assert refused.reason == DenyReason.NOT_GRANTED


@pytest.mark.parametrize(
    "window",
    [
        pytest.param({"valid_from": NOW}, id="valid from now"),
        pytest.param({"valid_until": NOW + DAY}, id="until tomorrow"),
        pytest.param({"valid_until": None}, id="open-ended"),
    ],
)
def test_a_grant_inside_its_validity_window_grants(window: dict[str, Any]) -> None:
    assert only(decide(context(), [ask(ADDRESS)], [grant(**window)], [])).allowed


def test_the_time_is_the_context_time() -> None:
    ending = grant(valid_until=NOW + DAY)
    later = context(now=NOW + 2 * DAY)
    assert only(decide(later, [ask(ADDRESS)], [ending], [])).reason == DenyReason.NOT_GRANTED


def test_a_grant_that_needs_no_consent_is_preferred_even_if_it_reveals_more() -> None:
    with_consent = grant(agreement_id="AG-A", requires_consent=True, fields={"ethnicity": "hash"})
    without = grant(agreement_id="AG-B", fields={"ethnicity": None})
    request = ask(ETHNICITY, legal_basis=LAW)
    decision = decide(
        context(), [request], [with_consent, without], [consent("household.ethnicity")]
    )
    released = only(decision)
    assert (released.agreement_id, released.release, released.consent_id) == (
        "AG-B",
        Release.CLEAR,
        None,
    )
    assert decision.obligations == ()


def test_among_equal_grants_the_least_revealing_release_wins() -> None:
    grants = [
        grant(agreement_id="AG-CLEAR", fields={"registered_address": Release.CLEAR}),
        grant(agreement_id="AG-HASH", fields={"registered_address": Release.HASH}),
        grant(agreement_id="AG-YEAR", fields={"registered_address": Release.YEAR}),
    ]
    released = only(decide(context(), [ask(ADDRESS)], grants, []))
    assert (released.agreement_id, released.release) == ("AG-HASH", Release.HASH)


def test_a_tie_is_broken_by_agreement_id_whatever_the_order() -> None:
    grants = [grant(agreement_id="AG-2"), grant(agreement_id="AG-1")]
    assert only(decide(context(), [ask(ADDRESS)], grants, [])).agreement_id == "AG-1"
    grants.reverse()
    assert only(decide(context(), [ask(ADDRESS)], grants, [])).agreement_id == "AG-1"


def test_every_release_has_a_rank() -> None:
    assert set(REVEALING) == set(Release)
    assert min(REVEALING, key=REVEALING.__getitem__) == Release.DERIVED
    assert max(REVEALING, key=REVEALING.__getitem__) == Release.CLEAR


# ---------------------------------------------------------------------------
# Quota
# ---------------------------------------------------------------------------


def test_a_grant_with_quota_left_is_counted() -> None:
    decision = decide(context(), [ask(ADDRESS)], [grant(daily_quota=100, used_today=99)], [])
    assert only(decision).allowed
    assert decision.obligations == (CountQuota("AG-1"),)


def test_a_used_up_quota_refuses() -> None:
    decision = decide(context(), [ask(ADDRESS)], [grant(daily_quota=100, used_today=100)], [])
    refused = only(decision)
    assert refused.reason == DenyReason.QUOTA_EXCEEDED
    assert refused.rules == ("agreement:AG-1", "quota.exceeded")
    assert refused.agreement_id == "AG-1"
    assert decision.obligations == ()


def test_a_zero_quota_refuses() -> None:
    refused = only(decide(context(), [ask(ADDRESS)], [grant(daily_quota=0)], []))
    assert refused.reason == DenyReason.QUOTA_EXCEEDED


def test_another_grant_with_quota_left_takes_over() -> None:
    spent = grant(agreement_id="AG-1", daily_quota=10, used_today=12)
    fresh = grant(agreement_id="AG-2", fields={"registered_address": Release.HASH})
    released = only(decide(context(), [ask(ADDRESS)], [spent, fresh], []))
    assert (released.agreement_id, released.release) == ("AG-2", Release.HASH)


# ---------------------------------------------------------------------------
# Derived attributes
# ---------------------------------------------------------------------------


def test_a_derived_only_grant_refuses_the_value() -> None:
    birth = field("birth_date")
    derived_only = grant("birth_date", fields={"birth_date": Release.DERIVED})
    refused = only(decide(context(), [ask(birth)], [derived_only], []))
    assert refused.reason == DenyReason.DERIVED_ONLY
    assert refused.rules == ("agreement:AG-1", "release.derived_only")


def test_a_derived_only_grant_answers_a_predicate() -> None:
    birth = field("birth_date")
    derived_only = grant("birth_date", fields={"birth_date": Release.DERIVED})
    request = ask(birth, attribute="household.age_at_least(18)", derivation=ADULT)
    decision = decide(context(), [request], [derived_only], [])
    released = only(decision)
    assert (released.release, released.derivation) == (Release.DERIVED, ADULT)
    assert released.attribute == "household.age_at_least(18)"
    assert released.rules == ("agreement:AG-1",)
    assert decision.fields_to_fetch() == {"PSB-HJ-0001": {"birth_date"}}


def test_a_plain_request_goes_under_another_grant_that_releases_the_value() -> None:
    birth = field("birth_date")
    grants = [
        grant("birth_date", agreement_id="AG-1", fields={"birth_date": Release.DERIVED}),
        grant("birth_date", agreement_id="AG-2", fields={"birth_date": Release.YEAR}),
    ]
    released = only(decide(context(), [ask(birth)], grants, []))
    assert (released.agreement_id, released.release) == ("AG-2", Release.YEAR)


def test_any_grant_of_the_field_answers_a_predicate() -> None:
    birth = field("birth_date")
    request = ask(birth, derivation=ADULT)
    released = only(decide(context(), [request], [grant("birth_date")], []))
    assert released.release == Release.DERIVED


def test_a_predicate_over_an_unconditional_field_is_derived() -> None:
    division = field("division", sharing=SharingType.UNCONDITIONAL)
    request = ask(division, derivation=Derivation("resides_in", "330106"))
    released = only(decide(context(), [request], [], []))
    assert (released.release, released.rules) == (Release.DERIVED, ("sharing.unconditional",))


def test_a_predicate_over_an_ungranted_field_is_not_granted() -> None:
    request = ask(field("birth_date"), derivation=ADULT)
    assert only(decide(context(), [request], [], [])).reason == DenyReason.NOT_GRANTED


def test_a_predicate_over_a_sensitive_field_needs_consent() -> None:
    request = ask(ETHNICITY, derivation=Derivation("resides_in", "33"))
    refused = only(decide(context(), [request], [grant("ethnicity")], []))
    assert refused.reason == DenyReason.CONSENT_REQUIRED


# ---------------------------------------------------------------------------
# 5. Consent
# ---------------------------------------------------------------------------


def test_a_sensitive_field_without_legal_basis_needs_consent() -> None:
    open_sensitive = replace(ETHNICITY, sharing=SharingType.UNCONDITIONAL)
    decision = decide(context(), [ask(open_sensitive)], [], [])
    refused = only(decision)
    assert (refused.release, refused.reason) == (None, DenyReason.CONSENT_REQUIRED)
    assert refused.rules == ("sharing.unconditional", "consent.missing")
    assert decision.obligations == ()


@pytest.mark.parametrize("basis", [None, "", "   "])
def test_a_blank_legal_basis_is_no_legal_basis(basis: str | None) -> None:
    request = ask(ETHNICITY, legal_basis=basis)
    refused = only(decide(context(), [request], [grant("ethnicity")], []))
    assert refused.reason == DenyReason.CONSENT_REQUIRED
    assert refused.rules == ("agreement:AG-1", "consent.missing")
    assert (refused.agreement_id, refused.legal_basis) == ("AG-1", LAW)


def test_a_sensitive_field_with_a_legal_basis_needs_no_consent() -> None:
    request = ask(ETHNICITY, legal_basis=LAW)
    released = only(decide(context(), [request], [grant("ethnicity")], []))
    assert (released.release, released.consent_id) == (Release.CLEAR, None)


def test_a_grant_that_requires_consent_needs_it_even_with_a_legal_basis() -> None:
    request = ask(ADDRESS, legal_basis=LAW)
    refused = only(decide(context(), [request], [grant(requires_consent=True)], []))
    assert refused.reason == DenyReason.CONSENT_REQUIRED


def test_a_matching_consent_releases_and_is_used() -> None:
    request = ask(ETHNICITY)
    given = consent("household.ethnicity", "household.registered_address")
    decision = decide(context(), [request], [grant("ethnicity")], [given])
    released = only(decision)
    assert released.release == Release.CLEAR
    assert released.rules == ("agreement:AG-1", "consent:CS-1")
    assert (released.consent_id, released.agreement_id, released.legal_basis) == (
        "CS-1",
        "AG-1",
        LAW,
    )
    assert decision.obligations == (UseConsent("CS-1"),)


@pytest.mark.parametrize(
    ("consent_changes", "context_changes"),
    [
        pytest.param({"status": "revoked"}, {}, id="inactive"),
        pytest.param({"system": "mca-dibao"}, {}, id="another system"),
        pytest.param({"purpose": "identity-check"}, {}, id="another purpose"),
        pytest.param({"attributes": frozenset({"household.name"})}, {}, id="another attribute"),
        pytest.param({}, {"consent_id": "CS-OTHER"}, id="the query names another consent"),
    ],
)
def test_a_consent_that_does_not_match_is_not_consent(
    consent_changes: dict[str, Any], context_changes: dict[str, Any]
) -> None:
    given = consent("household.ethnicity", **consent_changes)
    ctx = context(**context_changes)
    refused = only(decide(ctx, [ask(ETHNICITY)], [grant("ethnicity")], [given]))
    assert refused.reason == DenyReason.CONSENT_REQUIRED
    assert refused.consent_id is None


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("used", DenyReason.CONSENT_USED),
        ("revoked", DenyReason.CONSENT_REVOKED),
        ("expired", DenyReason.CONSENT_EXPIRED),
        ("superseded", DenyReason.CONSENT_SUPERSEDED),
    ],
)
def test_a_named_consent_no_longer_active_is_refused_with_its_state(
    status: str, reason: DenyReason
) -> None:
    given = consent("household.ethnicity", consent_id="CS-1", status=status)
    refused = only(
        decide(context(consent_id="CS-1"), [ask(ETHNICITY)], [grant("ethnicity")], [given])
    )
    assert (refused.reason, refused.rules[-1]) == (reason, "consent.inactive")


def test_an_inactive_consent_not_named_is_plain_consent_required() -> None:
    given = consent("household.ethnicity", consent_id="CS-1", status="used")
    refused = only(decide(context(), [ask(ETHNICITY)], [grant("ethnicity")], [given]))
    assert refused.reason == DenyReason.CONSENT_REQUIRED


def test_the_consent_the_query_names_is_the_one_used() -> None:
    given = [
        consent("household.ethnicity", consent_id="CS-1"),
        consent("household.ethnicity", consent_id="CS-2"),
    ]
    ctx = context(consent_id="CS-2")
    released = only(decide(ctx, [ask(ETHNICITY)], [grant("ethnicity")], given))
    assert released.consent_id == "CS-2"


def test_of_several_matching_consents_the_lowest_id_is_used_whatever_the_order() -> None:
    given = [
        consent("household.ethnicity", consent_id="CS-2"),
        consent("household.ethnicity", consent_id="CS-1"),
    ]
    assert only(decide(context(), [ask(ETHNICITY)], [grant("ethnicity")], given)).consent_id == (
        "CS-1"
    )


# ---------------------------------------------------------------------------
# Obligations and what is fetched
# ---------------------------------------------------------------------------

IN_DISTRICT = RowCondition(field="division", prefix="330106")


def test_a_row_condition_is_an_obligation_and_its_field_is_fetched() -> None:
    conditioned = grant(row_condition=IN_DISTRICT)
    decision = decide(context(), [ask(ADDRESS)], [conditioned], [])
    assert decision.obligations == (CheckRowCondition("PSB-HJ-0001", IN_DISTRICT, "AG-1"),)
    assert decision.fields_to_fetch() == {"PSB-HJ-0001": {"registered_address", "division"}}


def test_obligations_are_listed_once() -> None:
    shared = grant(
        "registered_address",
        "ethnicity",
        row_condition=IN_DISTRICT,
        daily_quota=5,
    )
    given = consent("household.registered_address", "household.ethnicity")
    requests = [ask(ETHNICITY), ask(ADDRESS), ask(ETHNICITY, attribute="household.ethnicity")]
    decision = decide(context(), requests, [shared], [given])
    assert all(d.allowed for d in decision.fields)
    assert decision.obligations == (
        CheckRowCondition("PSB-HJ-0001", IN_DISTRICT, "AG-1"),
        CountQuota("AG-1"),
        UseConsent("CS-1"),
    )


def test_a_refused_attribute_brings_no_obligation_and_is_not_fetched() -> None:
    quota_grant = grant("ethnicity", row_condition=IN_DISTRICT, daily_quota=5)
    decision = decide(context(), [ask(ETHNICITY)], [quota_grant], [])
    assert only(decision).reason == DenyReason.CONSENT_REQUIRED
    assert decision.obligations == ()
    assert decision.fields_to_fetch() == {}


def test_decisions_follow_the_request_order() -> None:
    division = field("division", sharing=SharingType.UNCONDITIONAL)
    secret = field("criminal_record", sharing=SharingType.NOT_SHARED)
    requests = [ask(secret), ask(ADDRESS), ask(division)]
    decision = decide(context(), requests, [grant()], [])
    assert [d.attribute for d in decision.fields] == [
        "household.criminal_record",
        "household.registered_address",
        "household.division",
    ]
    assert [d.attribute for d in decision.released()] == [
        "household.registered_address",
        "household.division",
    ]
    assert [d.reason for d in decision.denied()] == [DenyReason.NOT_SHARED]
    assert decision.fields_to_fetch() == {"PSB-HJ-0001": {"registered_address", "division"}}


def test_the_inputs_are_left_as_they_were() -> None:
    grants: list[Grant] = [grant(row_condition=IN_DISTRICT, daily_quota=3)]
    consents: list[ConsentState] = [consent("household.ethnicity")]
    ctx: QueryContext = context()
    before = (list(grants), list(consents), ctx)
    decide(ctx, [ask(ADDRESS), ask(ETHNICITY)], grants, consents)
    decide(ctx, [ask(ADDRESS), ask(ETHNICITY)], grants, consents)
    assert (grants, consents, ctx) == before
    assert grants[0].used_today == 0


@pytest.mark.serves
def test_the_engine_imports_nothing_that_does_io() -> None:
    probe = (
        "import sys, policies, policies.engine, policies.transforms, policies.errors\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'fastapi', 'httpx', 'exchange', 'adapters', 'socket', 'sqlite3'})\n"
        "print(','.join(bad))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout.strip() == ""
