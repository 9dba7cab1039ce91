"""Rating comments at rest (SQLite and PostgreSQL): the comment is stored only sealed with the
crypto profile's AEAD (AES-256-GCM, SM4-GCM under gm), bound to its rating, opened for the rater
and the data authority; the ``feedback.comments`` job erases it past the retention period (the
rating stays, its view says when) and seals a comment stored in clear before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from exchange.db import unit_of_work
from exchange.feedback.jobs import erase_comments
from exchange.feedback.models import Rating
from exchange.feedback.reading import rating_view
from exchange.feedback.sealing import CommentSeal
from exchange.security.gm.profile import GM, INTL
from exchange.security.secrets import KeySchedule
from tests.exchange.world import Hub
from tests.scorecards.conftest import SERVICE_ITEM, citizen, handled

COMMENT = "窗口仍要求提交户口簿复印件，希望改进。"
SECRET = "a test master secret that is long enough to derive keys"


def _seal(hub: Hub) -> CommentSeal:
    return CommentSeal(hub.client.app.state.hub.secrets)  # type: ignore[attr-defined]


def _rated(hub: Hub, person: str) -> str:
    handled(hub, person)
    body = {"service_item": SERVICE_ITEM, "score": 3, "comment": COMMENT}
    answer = citizen(hub, person).post("/citizen/feedback", body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["comment"] == COMMENT
    rating_id: str = answer.json()["id"]
    return rating_id


def test_a_comment_is_stored_only_sealed_and_opened_for_its_reader(
    hub: Hub, people: dict[str, str]
) -> None:
    rating_id = _rated(hub, people["has_property"])
    with unit_of_work(hub.sessions) as session:
        row = session.get(Rating, rating_id)
        assert row is not None
        assert row.comment is None
        assert row.comment_sealed is not None
        assert COMMENT.encode() not in row.comment_sealed
        assert _seal(hub).open(rating_id, row.comment_sealed) == COMMENT
    listed = citizen(hub, people["has_property"]).get("/citizen/feedback").json()
    assert listed["handlings"][0]["rating"]["comment"] == COMMENT


@pytest.mark.parametrize("profile", [INTL, GM], ids=["intl", "gm"])
def test_the_seal_is_the_profiles_aead_bound_to_its_rating(profile: object) -> None:
    schedule = KeySchedule(SECRET, profile)  # type: ignore[arg-type]
    seal = CommentSeal(schedule)
    sealed = seal.seal("rt-1", COMMENT)
    assert seal.open("rt-1", sealed) == COMMENT
    with pytest.raises(Exception):  # noqa: B017, PT011 - moved to another rating: no
        seal.open("rt-2", sealed)
    other = CommentSeal(KeySchedule(SECRET, GM if profile is INTL else INTL))
    with pytest.raises(Exception):  # noqa: B017, PT011 - the other profile's cipher: no
        other.open("rt-1", sealed)


def test_the_job_erases_comments_past_retention_keeps_the_rating_and_seals_clear_ones(
    hub: Hub, people: dict[str, str]
) -> None:
    old = _rated(hub, people["has_property"])
    recent = _rated(hub, people["no_property"])
    now = datetime.now(UTC)
    with unit_of_work(hub.sessions, write=True) as session:
        row = session.get(Rating, old)
        assert row is not None
        row.rated_at = now - timedelta(days=400)
        legacy = session.get(Rating, recent)
        assert legacy is not None
        legacy.comment, legacy.comment_sealed = COMMENT, None  # as stored before sealing
    with unit_of_work(hub.sessions, write=True) as session:
        assert erase_comments(session, _seal(hub), now, 365) == (1, 1)
    with unit_of_work(hub.sessions) as session:
        rows = {r.id: r for r in session.scalars(select(Rating))}
        gone, kept = rows[old], rows[recent]
        assert (gone.comment, gone.comment_sealed, gone.score) == (None, None, 3)
        assert gone.comment_erased_at is not None
        assert kept.comment is None
        assert kept.comment_sealed is not None
        assert rating_view(kept, _seal(hub))["comment"] == COMMENT
        view = rating_view(gone, _seal(hub))
        assert view["comment"] is None
        assert view["comment_erased_at"] is not None
    with unit_of_work(hub.sessions, write=True) as session:
        assert erase_comments(session, _seal(hub), now, 365) == (0, 0)  # nothing left to do


def test_the_hub_runs_the_erasure_job_with_the_configured_period(hub: Hub) -> None:
    core = hub.client.app.state.hub  # type: ignore[attr-defined]
    job = next(j for j in core.jobs if j.id == "feedback.comments")
    assert job.every_s == 3600
    assert core.settings.feedback_comment_retention_days == 365
