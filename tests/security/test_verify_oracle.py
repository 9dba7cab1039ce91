"""The review's attack on ``POST /exchange/verify`` (交互核验), replayed against a real served hub:
a case system holding a year-only grant asks about every date of the year, one holding a
masked-name grant asks about every likely given name, and one asks ``age_at_least(N)`` to
binary-search a birth date. None of it may confirm more than the grant releases, and repeated
guessing must end in 429 with ``Retry-After``, an audit entry and an auditor's anomaly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.servers import DemoHub

EDU = "edu-enrolment"
PURPOSE = "school-enrolment"
REGISTERED_ON = "marriage.registered_on"
SPOUSE = "marriage.spouse_name"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文"


class Case:
    """A case system of the served hub, as the attacker scripts it."""

    def __init__(self, demo: DemoHub, system: str = EDU) -> None:
        self.demo = demo
        self.http = httpx.Client(
            base_url=demo.base,
            headers={"authorization": f"Bearer {demo.system_token(system)}"},
            timeout=30,
        )

    def post(self, path: str, subject: str, **body: Any) -> httpx.Response:
        ask = {"subject": {"id_type": "CN-RIC", "id": subject}, "purpose": PURPOSE, **body}
        return self.http.post(path, json=ask)

    def verify(self, subject: str, claims: dict[str, Any]) -> httpx.Response:
        return self.post("/exchange/verify", subject, claims=claims)

    def query(self, subject: str, attributes: list[str]) -> dict[str, Any]:
        response = self.post("/exchange/query", subject, attributes=attributes)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def staff(demo: DemoHub, role: str, department: str | None = None) -> dict[str, str]:
    sub = f"{role}-{department or 'hub'}".lower()
    return {"authorization": f"Bearer {demo.id_token(sub, role, department)}"}


@pytest.fixture(scope="module")
def year_only(demo: DemoHub) -> str:
    """EDU applies for marriage registration data; MCA approves the date as its year only and
    the spouse's name masked (the catalogue's default for it)."""
    application = {
        "system": EDU,
        "resource": "MCA-HY-0001",
        "fields": ["registered_on", "spouse_name"],
        "purpose": PURPOSE,
        "legal_basis": "《中华人民共和国义务教育法》第十二条",
        "justification": "核验监护人婚姻登记情况（仅年份、姓名掩码）。",
        "valid_until": (date.today() + timedelta(days=365)).isoformat(),
    }
    applied = httpx.post(
        f"{demo.base}/agreements", json=application, headers=staff(demo, "department_admin", "EDU")
    )
    assert applied.status_code == 201, applied.text
    agreement: str = applied.json()["id"]
    decided = httpx.post(
        f"{demo.base}/agreements/{agreement}/decision",
        json={
            "decision": "approve",
            "fields": ["registered_on", "spouse_name"],
            "overrides": {"registered_on": "year"},
        },
        headers=staff(demo, "department_admin", "MCA"),
    )
    assert decided.status_code == 200, decided.text
    return agreement


def married(demo: DemoHub, case: Case, attribute: str) -> tuple[str, Any]:
    """A demo subject for whom the grant releases *attribute*, and what it releases."""
    for subject in (s["id"] for s in demo.manifest["subjects"]):
        released = case.query(subject, [attribute])["attributes"].get(attribute)
        if released and released["value"] is not None:
            return subject, released["value"]
    pytest.fail(f"no demo subject has {attribute}")


def auditor_sees(demo: DemoHub, subject_count: int) -> None:
    """The refusals are in the audit log and flagged in the auditor's statistics."""
    headers = staff(demo, "auditor")
    found = httpx.get(
        f"{demo.base}/audit/entries",
        params={"outcome": "budget_exhausted", "system": EDU},
        headers=headers,
    )
    assert found.status_code == 200, found.text
    assert len(found.json()["entries"]) >= subject_count
    stats = httpx.get(f"{demo.base}/audit/stats", headers=headers).json()
    flagged = [a for a in stats["anomalies"] if a["kind"] == "budget_exhausted"]
    assert any(a["system"] == EDU and a["count"] >= subject_count for a in flagged), flagged


def test_every_date_of_the_year_never_confirms_one_and_guessing_years_ends_in_429(
    demo: DemoHub, year_only: str
) -> None:
    case = Case(demo)
    subject, year = married(demo, case, REGISTERED_ON)
    assert isinstance(year, int)  # released as a year, and only that

    answers: list[tuple[date, int, Any]] = []
    day = date(year, 1, 1)
    while day.year == year:  # the review needed 147 of these to find the date
        answer = case.verify(subject, {REGISTERED_ON: day.isoformat()})
        body = answer.json()
        answers.append((day, answer.status_code, body.get("results", {}).get(REGISTERED_ON)))
        day += timedelta(days=1)
    assert [d for d, _, result in answers if result == "match"] == []  # no date confirmed
    assert {(status, result) for _, status, result in answers} == {(200, "denied")}
    assert body["denied"] == {REGISTERED_ON: "release_too_coarse"}

    assert case.verify(subject, {REGISTERED_ON: str(year)}).json()["results"] == {
        REGISTERED_ON: "match"
    }
    wrong = [case.verify(subject, {REGISTERED_ON: str(year - n)}) for n in range(1, 6)]
    assert [w.json()["results"][REGISTERED_ON] for w in wrong] == ["no_match"] * 5
    refused = case.verify(subject, {REGISTERED_ON: str(year)})
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "verify_budget_exhausted"
    assert 0 < int(refused.headers["retry-after"]) <= 24 * 3600
    assert "results" not in refused.json()
    assert subject not in refused.text
    auditor_sees(demo, 1)


def test_likely_given_names_never_confirm_a_masked_name(demo: DemoHub, year_only: str) -> None:
    case = Case(demo)
    subject, masked = married(demo, case, SPOUSE)
    surname = masked.rstrip("*")
    hidden = len(masked) - len(surname)
    guesses = [surname + a + (b if hidden > 1 else "") for a in GIVEN for b in GIVEN[:3]]
    answers = [case.verify(subject, {SPOUSE: guess}) for guess in guesses]
    results = [a.json().get("results", {}).get(SPOUSE) for a in answers]
    assert "match" not in results  # no given name confirmed
    assert set(results) == {"denied"}  # 99 guesses, none compared: no budget spent either
    assert case.verify(subject, {SPOUSE: masked}).json()["results"] == {SPOUSE: "match"}


def test_age_at_least_cannot_binary_search_a_birth_date(demo: DemoHub) -> None:
    case = Case(demo)
    subject = demo.subject("has_property")
    low, high, statuses = 0, 150, []
    while low < high:
        middle = (low + high + 1) // 2
        attribute = f"household.age_at_least({middle})"
        response = case.post("/exchange/query", subject, attributes=[attribute])
        statuses.append(response.status_code)
        if response.status_code != 200:
            break
        holds = response.json()["attributes"][attribute]["value"]
        low, high = (middle, high) if holds else (low, middle - 1)
    assert statuses == [200, 200, 200, 200, 429]
    assert high - low > 5  # the age is not pinned down
    assert response.json()["code"] == "predicate_budget_exhausted"
    assert int(response.headers["retry-after"]) > 0
    by_verify = case.verify(subject, {"household.age_at_least(33)": True})
    assert by_verify.status_code == 429  # verify is no way around it


def test_parallel_guesses_spend_the_budget_once(demo: DemoHub) -> None:
    case = Case(demo)
    subject = demo.subject("no_property")

    def guess(n: int) -> int:
        return case.verify(subject, {"household.name": f"不是{n}"}).status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(guess, range(12)))
    assert sorted(statuses) == [200] * 5 + [429] * 7
