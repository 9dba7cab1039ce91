"""A consumer cannot waive a citizen's consent for itself (PIPL art. 28-29).

The attack from the review: a department admin adds another department's sensitive personal
field to its own service item with a legal basis it made up, and the hub released the field
without the citizen's consent. A legal basis waives consent only when the provider accepted it:
listed in the field's ``consent_waived_by`` in the provider's own resource descriptor, or the
legal basis of the agreement the provider approved. Shown over real HTTP against a served demo
hub, and rule by rule on the pure engine.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from catalogue.descriptors import check_descriptor
from catalogue.errors import InvalidDescriptor
from catalogue.vocabulary import Sensitivity, SharingType
from policies.engine import decide
from policies.model import AttributeRequest, DenyReason, Release
from tests import factories
from tests.policies.helpers import LAW, ask, consent, context, field, grant
from tests.servers import DemoHub

INVENTED = "《演示市入学管理办法》第九十九条（免予单独同意）"
EDUCATION_LAW = "《中华人民共和国义务教育法》第十二条"
INCOME_CHECK = "《社会救助暂行办法》第十一条（家庭收入状况核查）"
ETHNICITY = field(
    "ethnicity", sensitivity=Sensitivity.SENSITIVE_PERSONAL, sharing=SharingType.CONDITIONAL
)
OPEN_SENSITIVE = replace(ETHNICITY, sharing=SharingType.UNCONDITIONAL)


def only(request: AttributeRequest, grants: Any = (), consents: Any = ()) -> Any:
    (decision,) = decide(context(), [request], list(grants), list(consents)).fields
    return decision


# ---------------------------------------------------------------------------
# The engine: whose word waives consent
# ---------------------------------------------------------------------------


def test_a_legal_basis_only_the_consumer_states_does_not_waive_consent() -> None:
    agreed = grant("ethnicity", legal_basis=EDUCATION_LAW)
    refused = only(ask(ETHNICITY, legal_basis=INVENTED), [agreed])
    assert (refused.release, refused.reason) == (None, DenyReason.CONSENT_REQUIRED)
    assert refused.rules == ("agreement:AG-1", "consent.missing")


def test_an_unconditional_sensitive_field_needs_the_providers_acceptance_too() -> None:
    refused = only(ask(OPEN_SENSITIVE, legal_basis=INVENTED))
    assert refused.reason == DenyReason.CONSENT_REQUIRED
    accepted = replace(OPEN_SENSITIVE, consent_waived_by=frozenset({LAW}))
    released = only(ask(accepted, legal_basis=LAW))
    assert (released.release, released.consent_id) == (Release.CLEAR, None)
    assert released.rules == ("sharing.unconditional", "consent.waived_by_field")


def test_a_basis_the_provider_lists_for_the_field_waives_consent() -> None:
    accepted = replace(ETHNICITY, consent_waived_by=frozenset({LAW}))
    other = grant("ethnicity", legal_basis="《另一部法律》第一条")
    released = only(ask(accepted, legal_basis=LAW), [other])
    assert (released.release, released.consent_id, released.legal_basis) == (
        Release.CLEAR,
        None,
        LAW,
    )
    assert released.rules == ("agreement:AG-1", "consent.waived_by_field")


@pytest.mark.parametrize(
    ("accepted", "cited"),
    [
        (EDUCATION_LAW, f"  {EDUCATION_LAW}  "),
        (EDUCATION_LAW, EDUCATION_LAW.replace("》", "》 ")),
        (INCOME_CHECK, INCOME_CHECK.replace("（", "(").replace("）", ")")),
    ],
)
def test_the_same_basis_written_with_other_spacing_or_widths_still_matches(
    accepted: str, cited: str
) -> None:
    listed = replace(ETHNICITY, consent_waived_by=frozenset({accepted}))
    assert only(ask(listed, legal_basis=cited), [grant("ethnicity", legal_basis="x")]).allowed


@pytest.mark.parametrize(
    "cited",
    [
        f"{EDUCATION_LAW}（补充）",  # a longer citation is another citation
        EDUCATION_LAW[:-1],  # and a shorter one
        "《中华人民共和国义务教育法》第十三条",
    ],
)
def test_a_basis_that_only_resembles_an_accepted_one_does_not(cited: str) -> None:
    accepted = replace(ETHNICITY, consent_waived_by=frozenset({EDUCATION_LAW}))
    refused = only(ask(accepted, legal_basis=cited), [grant("ethnicity", legal_basis="x")])
    assert refused.reason == DenyReason.CONSENT_REQUIRED


def test_the_basis_of_the_agreement_the_provider_approved_waives_consent() -> None:
    released = only(ask(ETHNICITY, legal_basis=LAW), [grant("ethnicity", legal_basis=LAW)])
    assert (released.release, released.consent_id) == (Release.CLEAR, None)
    assert released.rules == ("agreement:AG-1", "consent.waived_by_agreement")


def test_an_accepted_basis_is_no_basis_when_the_request_states_none() -> None:
    accepted = replace(ETHNICITY, consent_waived_by=frozenset({LAW}))
    refused = only(ask(accepted), [grant("ethnicity", legal_basis=LAW)])
    assert refused.reason == DenyReason.CONSENT_REQUIRED


def test_a_grant_that_requires_consent_still_needs_it_under_an_accepted_basis() -> None:
    accepted = replace(ETHNICITY, consent_waived_by=frozenset({LAW}))
    strict = grant("ethnicity", requires_consent=True)
    refused = only(ask(accepted, legal_basis=LAW), [strict])
    assert refused.reason == DenyReason.CONSENT_REQUIRED
    released = only(ask(accepted, legal_basis=LAW), [strict], [consent("household.ethnicity")])
    assert released.consent_id == "CS-1"


def test_a_basis_accepted_for_another_field_waives_nothing_here() -> None:
    address = replace(
        field("registered_address"),
        sensitivity=Sensitivity.SENSITIVE_PERSONAL,
    )
    accepted_elsewhere = replace(ETHNICITY, consent_waived_by=frozenset({INVENTED}))
    decision = decide(
        context(),
        [ask(address, legal_basis=INVENTED), ask(accepted_elsewhere, legal_basis=INVENTED)],
        [grant("registered_address", "ethnicity", legal_basis=LAW)],
        [],
    )
    assert [d.reason for d in decision.fields] == [DenyReason.CONSENT_REQUIRED, None]


# ---------------------------------------------------------------------------
# The catalogue: only a sensitive field that can be shared takes waivers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "why"),
    [(1, "a personal field needs no waiver"), (2, "a not-shared field is never released")],
)
def test_consent_waivers_are_refused_where_they_mean_nothing(index: int, why: str) -> None:
    document = factories.resource(traits=("with_not_shared",))
    document["fields"][index]["consent_waived_by"] = [LAW]
    with pytest.raises(InvalidDescriptor) as caught:
        check_descriptor(document)
    assert [e["pointer"] for e in caught.value.errors] == [f"/fields/{index}/consent_waived_by"]


def test_a_sensitive_conditional_field_takes_the_providers_waivers() -> None:
    document = factories.resource(traits=("with_conditional",))
    document["fields"][-1]["consent_waived_by"] = [LAW]
    assert check_descriptor(document).content["fields"][-1]["consent_waived_by"] == [LAW]


# ---------------------------------------------------------------------------
# Over HTTP: the attack as the review ran it
# ---------------------------------------------------------------------------


def _staff(demo: DemoHub, sub: str, department: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.id_token(sub, 'department_admin', department)}"}


def _ethnicity_agreement(demo: DemoHub) -> None:
    """EDU applies for PSB's ethnicity under the education law; PSB approves it (with no
    consent requirement of its own), so the field is granted to the school enrolment system."""
    until = (datetime.now(UTC).date() + timedelta(days=200)).isoformat()
    applied = httpx.post(
        f"{demo.base}/agreements",
        headers=_staff(demo, "edu-waiver-applicant", "EDU"),
        json={
            "system": "edu-enrolment",
            "resource": "PSB-HJ-0001",
            "fields": ["ethnicity"],
            "purpose": "school-enrolment",
            "legal_basis": EDUCATION_LAW,
            "justification": "少数民族考生加分资格核验",
            "valid_until": until,
        },
        timeout=10,
    )
    assert applied.status_code == 201, applied.text
    decided = httpx.post(
        f"{demo.base}/agreements/{applied.json()['id']}/decision",
        headers=_staff(demo, "psb-waiver-approver", "PSB"),
        json={"decision": "approve", "fields": ["ethnicity"]},
        timeout=10,
    )
    assert decided.status_code == 200, decided.text


def _publish_item(demo: DemoHub, code: str, legal_basis: str) -> None:
    item = {
        "kind": "service_item",
        "code": code,
        "name": "少数民族考生加分资格核验",
        "owner": "EDU",
        "attributes": [
            {
                "attribute": "household.ethnicity",
                "purpose": "school-enrolment",
                "legal_basis": legal_basis,
            }
        ],
    }
    published = httpx.put(
        f"{demo.base}/catalogue/service-items/{code}",
        headers=_staff(demo, "edu-waiver-applicant", "EDU"),
        json=item,
        timeout=10,
    )
    assert published.status_code == 201, published.text


@pytest.fixture(scope="module")
def granted(demo: DemoHub) -> DemoHub:
    _ethnicity_agreement(demo)
    return demo


def test_an_invented_legal_basis_in_the_consumers_own_item_releases_nothing(
    granted: DemoHub,
) -> None:
    _publish_item(granted, "EDU-SEC-WAIVE-01", INVENTED)
    with granted.client() as hub:
        answer = hub.query(
            granted.subject("has_property"), "school-enrolment", service_item="EDU-SEC-WAIVE-01"
        )
    assert "household.ethnicity" not in answer.attributes
    assert dict(answer.denied) == {"household.ethnicity": "consent_required"}


def test_the_field_without_any_legal_basis_needs_consent_too(granted: DemoHub) -> None:
    with granted.client() as hub:
        answer = hub.query(
            granted.subject("has_property"),
            "school-enrolment",
            attributes=["household.ethnicity"],
        )
    assert dict(answer.denied) == {"household.ethnicity": "consent_required"}


def test_the_legal_basis_the_provider_approved_still_waives_consent(granted: DemoHub) -> None:
    _publish_item(granted, "EDU-SEC-WAIVE-02", EDUCATION_LAW)
    with granted.client() as hub:
        answer = hub.query(
            granted.subject("has_property"), "school-enrolment", service_item="EDU-SEC-WAIVE-02"
        )
    assert dict(answer.denied) == {}
    assert answer.attributes["household.ethnicity"].release == "clear"


def test_the_demo_provider_lists_the_basis_it_accepts_for_the_pension(demo: DemoHub) -> None:
    resource = httpx.get(f"{demo.base}/catalogue/resources/HRSS-SB-0001", timeout=10).json()
    (pension,) = [f for f in resource["descriptor"]["fields"] if f["name"] == "pension_amount"]
    item = httpx.get(f"{demo.base}/catalogue/service-items/MCA-DBSQ-001", timeout=10).json()
    text = str(item)
    assert all(basis in text for basis in pension["consent_waived_by"])
