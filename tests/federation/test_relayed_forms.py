"""A relayed attribute is decided and shaped at the origin hub, in the form the relaying hub's
caller may get (issue 20): the origin narrows its release to that form (``at_most``), and the
relaying hub passes on only what is no more revealing than its own decision (``settle_relayed``).
A conditional field no agreement here grants is left to the origin (``deferred_to_origin``).
No hubs here: the steps on their own, over hand-built decisions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from catalogue.vocabulary import ReleaseTransform, Sensitivity
from exchange.query.release import Outcome
from exchange.query.sourcing import Fetched, at_most, deferred_to_origin, settle_relayed
from policies.model import Decision, DenyReason, Derivation, FieldDecision, Release
from tests.policies.helpers import HOUSEHOLD, field

NAME = field("name")
BIRTH = field("birth_date")
PREDICATE = "household.age_at_least(6)"
ORIGIN = {"hub": "https://province.example", "peer": "province", "outcome": "verified"}


def chosen(release: Release | None, *, derived: bool = False) -> FieldDecision:
    if derived:
        return FieldDecision(
            PREDICATE,
            BIRTH,
            release,
            None,
            ("sharing.unconditional",),
            derivation=Derivation("age_at_least", "6"),
        )
    return FieldDecision("household.name", NAME, release, None, ("sharing.unconditional",))


def test_the_origin_narrows_its_release_to_the_form_asked() -> None:
    narrowed = at_most(Decision((chosen(Release.CLEAR),)), {"household.name": "mask_name"})
    [choice] = narrowed.fields
    assert choice.release is Release.MASK_NAME
    assert choice.rules[-1] == "relay.at_most"


def test_a_form_more_revealing_than_the_origins_own_changes_nothing() -> None:
    own = Decision((chosen(Release.HASH),))
    assert at_most(own, {"household.name": "clear"}) == own
    assert at_most(own, {}) == own


def test_a_plain_attribute_is_never_narrowed_to_a_predicate_it_was_not_asked_as() -> None:
    own = Decision((chosen(Release.CLEAR),))
    assert at_most(own, {"household.name": "derived"}).fields[0].release is Release.CLEAR


def relayed(shaped: dict[str, Any]) -> dict[str, Fetched]:
    return {HOUSEHOLD: Fetched(HOUSEHOLD, origin=ORIGIN, shaped=shaped)}


def released(value: Any, release: str) -> dict[str, Any]:
    source = {"department": "PSB", "resource": HOUSEHOLD, "version": 3, "as_of": None}
    return {"value": value, "release": release, "source": source}


def test_the_relaying_hub_passes_on_the_origins_shaped_value_with_its_hub() -> None:
    decision = Decision((chosen(Release.DERIVED, derived=True), chosen(Release.MASK_NAME)))
    outcome = Outcome(unavailable={PREDICATE: "no_record", "household.name": "no_record"})
    settle_relayed(
        outcome,
        decision,
        relayed(
            {PREDICATE: released(True, "derived"), "household.name": released("张*", "mask_name")}
        ),
    )
    assert outcome.unavailable == {}
    assert outcome.attributes[PREDICATE]["value"] is True
    assert outcome.attributes["household.name"]["value"] == "张*"
    assert outcome.attributes["household.name"]["source"]["hub"] == ORIGIN["hub"]


def test_an_origin_release_wider_than_decided_here_is_not_passed_on() -> None:
    decision = Decision((chosen(Release.MASK_NAME), chosen(Release.DERIVED, derived=True)))
    outcome = Outcome()
    settle_relayed(
        outcome,
        decision,
        relayed(
            {
                "household.name": released("张三", "clear"),
                PREDICATE: released("2019-01-01", "clear"),
            }
        ),
    )
    assert outcome.attributes == {}
    assert outcome.unavailable == {
        "household.name": "origin_release_wider",
        PREDICATE: "origin_release_wider",
    }


def test_an_attribute_the_origin_was_not_asked_for_is_unavailable_not_relayed() -> None:
    outcome = Outcome(unavailable={"household.name": "no_record"})
    settle_relayed(outcome, Decision((chosen(Release.CLEAR),)), relayed({}))
    assert outcome.unavailable == {"household.name": "not_relayed"}


def refused_here(info: Any) -> FieldDecision:
    return FieldDecision(info.attribute, info, None, DenyReason.NOT_GRANTED, ("default.deny",))


def test_a_conditional_field_another_hub_holds_is_left_to_it_in_the_catalogues_form() -> None:
    owners = field("owners", transform=ReleaseTransform.MASK_NAME)
    [choice] = deferred_to_origin(Decision((refused_here(owners),)), {HOUSEHOLD: "province"}).fields
    assert (choice.release, choice.reason) == (Release.MASK_NAME, None)
    assert choice.rules == ("relay.origin_decides",)


def test_what_is_not_left_to_the_origin() -> None:
    ethnicity = field("ethnicity", sensitivity=Sensitivity.SENSITIVE_PERSONAL)
    local = replace(field("area"), resource="REG-BDC-0001")
    decision = Decision(
        (
            refused_here(ethnicity),  # sensitive personal: an agreement and consent here
            refused_here(local),  # this hub's own resource
            replace(refused_here(NAME), reason=DenyReason.PURPOSE_MISMATCH),  # another reason
        )
    )
    assert deferred_to_origin(decision, {HOUSEHOLD: "province"}) == decision
