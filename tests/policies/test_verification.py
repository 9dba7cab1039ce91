"""What a verify may confirm, and through which sharing method a field may be asked at all:
a claim is checked only in the shape its release gives out (a year, a masked name, this
consumer's keyed hash, a predicate's true/false), and the catalogue's ``sharing.method`` decides
whether a field is queried, verified, or neither."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from catalogue.vocabulary import ReleaseTransform, SharingMethod, SharingType
from policies.engine import decide
from policies.model import Decision, DenyReason, Release
from policies.transforms import HMAC_SHA256, HashKey, apply_release, keyed_hash, mask_id, mask_name
from policies.verification import ClaimTooPrecise, confirms, released_claim, screen_claims
from tests.policies.helpers import ask, context, field, grant, only

KEY = HashKey(b"k" * 32, HMAC_SHA256)
VERIFY_ONLY = frozenset({SharingMethod.VERIFICATION})
QUERY_ONLY = frozenset({SharingMethod.INTERFACE, SharingMethod.FILE})


# -- the sharing method (共享方式) -------------------------------------------------------------


def test_a_verification_only_field_is_refused_to_a_query_whatever_the_grant() -> None:
    status = field("status", sharing=SharingType.UNCONDITIONAL, methods=VERIFY_ONLY)
    conditional = field("valid_until", methods=VERIFY_ONLY)
    asked = [ask(status), ask(conditional)]
    decision = decide(context(), asked, [grant("valid_until")], [])
    assert [d.reason for d in decision.fields] == [DenyReason.METHOD_NOT_OFFERED] * 2
    assert all(d.rules == ("sharing.method_not_offered",) for d in decision.fields)
    assert decision.fields_to_fetch() == {}  # nothing is read for it


def test_a_verification_only_field_is_decided_as_usual_for_a_verify() -> None:
    status = field("status", sharing=SharingType.UNCONDITIONAL, methods=VERIFY_ONLY)
    decision = decide(context(channel=SharingMethod.VERIFICATION), [ask(status)], [], [])
    assert only(decision).release is Release.CLEAR
    assert only(decision).rules == ("sharing.unconditional",)


def test_a_field_not_offered_for_verification_is_refused_to_a_verify() -> None:
    area = field("area", sharing=SharingType.UNCONDITIONAL, methods=QUERY_ONLY)
    verified = decide(context(channel=SharingMethod.VERIFICATION), [ask(area)], [], [])
    assert only(verified).reason is DenyReason.METHOD_NOT_OFFERED
    queried = decide(context(), [ask(area)], [], [])
    assert only(queried).release is Release.CLEAR


def test_not_shared_is_said_before_the_method() -> None:
    secret = field("criminal_record", sharing=SharingType.NOT_SHARED, methods=VERIFY_ONLY)
    assert only(decide(context(), [ask(secret)], [], [])).reason is DenyReason.NOT_SHARED


# -- claims in the released shape --------------------------------------------------------------


@pytest.mark.parametrize(
    ("release", "claim", "shaped"),
    [
        (Release.CLEAR, "1976-03-02", "1976-03-02"),
        (Release.YEAR, 1976, 1976),
        (Release.YEAR, "1976", 1976),
        (Release.MASK_NAME, "张*", "张*"),
        (Release.MASK_NAME, "欧阳**", "欧阳**"),
        (Release.MASK_NAME, ["张*", "李*"], ["张*", "李*"]),
        (Release.MASK_ID, "110105********002X", "110105********002X"),
        (Release.HASH, "hmac-sha256:" + "A" * 43, "hmac-sha256:" + "A" * 43),
        (Release.DERIVED, True, True),
        (Release.YEAR, None, None),
    ],
)
def test_a_claim_in_the_released_shape_is_compared_in_that_shape(
    release: Release, claim: Any, shaped: Any
) -> None:
    assert released_claim(release, claim) == shaped


@pytest.mark.parametrize(
    ("release", "claim"),
    [
        (Release.YEAR, "1976-03-02"),
        (Release.YEAR, "1976-03"),
        (Release.YEAR, True),
        (Release.MASK_NAME, "张三"),
        (Release.MASK_NAME, ["张*", "李四"]),
        (Release.MASK_ID, "11010519491231002X"),
        (Release.MASK_ID, "1101051949****002X"),
        (Release.HASH, "11010519491231002X"),
        (Release.HASH, 42),
        (Release.DERIVED, "true"),
        (Release.DERIVED, None),
    ],
)
def test_a_claim_finer_than_the_release_is_refused(release: Release, claim: Any) -> None:
    with pytest.raises(ClaimTooPrecise):
        released_claim(release, claim)


def test_screening_denies_too_precise_claims_before_anything_is_fetched() -> None:
    birth = field("birth_date", transform=ReleaseTransform.YEAR)
    name = field("name", transform=ReleaseTransform.MASK_NAME)
    address = field("registered_address")
    decision = decide(
        context(channel=SharingMethod.VERIFICATION),
        [ask(birth), ask(name), ask(address)],
        [grant("birth_date", "name", "registered_address")],
        [],
    )
    claims = {
        "household.birth_date": "1976-03-02",
        "household.name": "张*",
        "household.registered_address": "杭州市西湖区文三路 1 号",
    }
    screened = screen_claims(decision, claims)
    birth_decision, name_decision, address_decision = screened.fields
    assert birth_decision.reason is DenyReason.RELEASE_TOO_COARSE
    assert birth_decision.rules[-1] == "verify.release_too_coarse"
    assert name_decision.release is Release.MASK_NAME
    assert address_decision.release is Release.CLEAR
    assert screened.fields_to_fetch() == {"PSB-HJ-0001": {"name", "registered_address"}}


def test_screening_leaves_a_decision_without_claims_alone() -> None:
    decision = Decision(fields=())
    assert screen_claims(decision, {"household.name": "张三"}) == decision


def test_a_hash_release_checks_the_consumers_hash_not_a_clear_value() -> None:
    hashed = keyed_hash(KEY, "11010519491231002X")
    assert confirms(Release.HASH, hashed, hashed)
    with pytest.raises(ClaimTooPrecise):
        confirms(Release.HASH, "11010519491231002X", hashed)


# -- the property: a verify cannot tell apart values its release does not ---------------------

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31))
names = st.text(alphabet="张王李欧阳司马三丰娜明华", min_size=1, max_size=5)


def _answer(release: Release, claim: Any, value: Any) -> str:
    try:
        return (
            "match"
            if confirms(release, claim, apply_release(release, value, hash_key=KEY))
            else "no_match"
        )
    except ClaimTooPrecise:
        return "denied"


@given(
    born=dates,
    shift=st.integers(-400, 400),
    claim=st.one_of(dates.map(str), st.integers(1900, 2030), st.integers(1900, 2030).map(str)),
)
def test_a_year_release_never_confirms_more_than_the_year(
    born: date, shift: int, claim: Any
) -> None:
    other = born + timedelta(days=shift)
    assume(other.year == born.year)
    assert _answer(Release.YEAR, claim, born.isoformat()) == _answer(
        Release.YEAR, claim, other.isoformat()
    )
    if isinstance(claim, str) and "-" in claim:
        assert _answer(Release.YEAR, claim, born.isoformat()) == "denied"


surnames = st.sampled_from(["张", "王", "李", "欧阳", "司马"])
given_names = st.integers(1, 3).flatmap(
    lambda n: st.tuples(*[st.sampled_from("三丰娜明华伟") for _ in range(n)]).map("".join)
)


@given(surname=surnames, given=given_names, data=st.data())
def test_a_masked_name_never_confirms_more_than_the_mask(
    surname: str, given: str, data: st.DataObject
) -> None:
    """Two names that mask alike (same surname, same length) answer every claim alike."""
    name = surname + given
    other = surname + data.draw(st.text("三丰娜明华伟", min_size=len(given), max_size=len(given)))
    assert mask_name(name) == mask_name(other)
    claim = data.draw(
        st.one_of(names, names.map(mask_name), st.just(name), st.just(mask_name(name)))
    )
    assert _answer(Release.MASK_NAME, claim, name) == _answer(Release.MASK_NAME, claim, other)
    assert _answer(Release.MASK_NAME, name, name) == "denied"  # the clear name is never checked


@given(
    claim=st.from_regex(r"[1-9][0-9]{16}[0-9X]", fullmatch=True),
    head=st.from_regex(r"[1-9][0-9]{16}[0-9X]", fullmatch=True),
)
def test_a_masked_id_never_confirms_the_middle_digits(claim: str, head: str) -> None:
    value = claim[:6] + head[6:14] + claim[14:]
    assert _answer(Release.MASK_ID, claim, value) == "denied"
    assert _answer(Release.MASK_ID, mask_id(claim), value) == "match"
