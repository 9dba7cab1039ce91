"""Catalogue search, run by the database on each backend."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from catalogue.descriptors import check_descriptor
from catalogue.errors import InvalidSearch
from catalogue.publishing import deprecate_resource, publish
from catalogue.search import SearchQuery, index_terms, query_terms, search
from catalogue.vocabulary import Sensitivity, SharingType
from exchange.db import unit_of_work


@pytest.fixture
def sessions(rollback_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """These tests touch the hub database only through sessions: each runs in a transaction
    that is rolled back afterwards (``rollback_sessions``)."""
    return rollback_sessions


def codes(sessions: sessionmaker[Session], **kwargs: object) -> list[str]:
    with sessions() as session:
        hits, total = search(session, SearchQuery(**kwargs))  # type: ignore[arg-type]
    assert total >= len(hits)
    return [h.code for h in hits]


def test_chinese_text_is_indexed_as_characters_and_bigrams() -> None:
    assert index_terms(["户籍信息"]).split() == ["户", "籍", "信", "息", "户籍", "籍信", "信息"]
    assert [t.text for t in query_terms("户籍")] == ["户籍"]
    assert [t.text for t in query_terms("房")] == ["房"]
    assert [(t.text, t.prefix) for t in query_terms("House-hold 2026")] == [
        ("house", True),
        ("hold", True),
        ("2026", True),
    ]


def test_rare_characters_are_searchable_too() -> None:
    assert index_terms(["\U00020000〇"]).split() == ["\U00020000", "〇", "\U00020000〇"]
    assert [t.text for t in query_terms("〇")] == ["〇"]


def test_overlong_queries_are_refused() -> None:
    with pytest.raises(InvalidSearch):
        query_terms("户" * 201)
    with pytest.raises(InvalidSearch):
        query_terms(" ".join(f"w{i}" for i in range(30)))


@given(st.text(max_size=200))
def test_query_terms_never_carry_query_syntax(text: str) -> None:
    try:
        terms = query_terms(text)
    except InvalidSearch:
        return
    for term in terms:
        assert term.text
        assert not set(term.text) & set("\"'*:&|!()^-+ \\")


@pytest.mark.usefixtures("demo_catalogue")
class TestOnTheDemoCatalogue:
    def test_two_character_chinese_term_finds_the_household_register(
        self, sessions: sessionmaker[Session]
    ) -> None:
        assert codes(sessions, text="户籍")[0] == "PSB-HJ-0001"

    def test_a_field_title_finds_its_resource(self, sessions: sessionmaker[Session]) -> None:
        assert "HRSS-SB-0001" in codes(sessions, text="缴费月数")

    def test_latin_prefix_matches_english_names(self, sessions: sessionmaker[Session]) -> None:
        assert codes(sessions, text="marri") == ["MCA-HY-0001"]

    def test_every_term_must_match(self, sessions: sessionmaker[Session]) -> None:
        assert codes(sessions, text="户籍 不动产") == []

    def test_provider_filter(self, sessions: sessionmaker[Session]) -> None:
        found = codes(sessions, provider="MCA")
        assert found == sorted(found)
        assert set(found) == {"MCA-DB-0001", "MCA-HY-0001", "MCA-SW-0001"}

    def test_sharing_filter_finds_resources_with_such_a_field(
        self, sessions: sessionmaker[Session]
    ) -> None:
        assert codes(sessions, sharing=SharingType.NOT_SHARED) == ["PSB-HJ-0001"]

    def test_sensitivity_and_text_combine(self, sessions: sessionmaker[Session]) -> None:
        found = codes(sessions, text="低保", sensitivity=Sensitivity.SENSITIVE_PERSONAL)
        assert found == ["MCA-DB-0001"]

    def test_deprecated_resources_leave_the_results_unless_asked(
        self, sessions: sessionmaker[Session], now: datetime
    ) -> None:
        with unit_of_work(sessions) as session:
            deprecate_resource(session, "MCA-SW-0001", reason="merged", now=now)
        assert "MCA-SW-0001" not in codes(sessions, provider="MCA")
        assert "MCA-SW-0001" in codes(sessions, provider="MCA", include_deprecated=True)

    def test_pages_do_not_overlap(self, sessions: sessionmaker[Session]) -> None:
        first = codes(sessions, limit=3)
        second = codes(sessions, limit=3, offset=3)
        assert len(first) == 3
        assert not set(first) & set(second)

    @pytest.mark.parametrize(
        "hostile",
        [
            "'; DROP TABLE resources; --",
            '" OR 1=1 --',
            "户籍 NEAR(x y)",
            "a:* & !b | (c",
            "\\' \\\\",
            "* ^ - +",
        ],
    )
    def test_query_syntax_in_the_text_is_only_ever_data(
        self, sessions: sessionmaker[Session], hostile: str
    ) -> None:
        codes(sessions, text=hostile)
        assert len(codes(sessions)) == 7

    def test_republishing_reindexes(self, sessions: sessionmaker[Session], now: datetime) -> None:
        with sessions() as session:
            from catalogue.reading import resource_version

            _, row = resource_version(session, "MCA-SW-0001")
        document = dict(row.descriptor)
        document["keywords"] = ["火化"]
        with unit_of_work(sessions) as session:
            publish(session, check_descriptor(document), by="t", now=now)
        assert codes(sessions, text="火化") == ["MCA-SW-0001"]


@pytest.mark.usefixtures("demo_catalogue")
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.sampled_from("户籍社保 abc'\";*-():^&|!\\"), max_size=12))
def test_any_text_searches_without_error(sessions: sessionmaker[Session], text: str) -> None:
    codes(sessions, text=text)
