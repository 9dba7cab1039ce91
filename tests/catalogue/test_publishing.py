"""Publishing on the real databases: versions, diffs, identical content, deprecation, rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from catalogue.descriptors import check_descriptor
from catalogue.errors import InvalidDescriptor, NamespaceTaken, ResourceDeprecated
from catalogue.models import Department, ResourceVersion
from catalogue.publishing import PublishOutcome, deprecate_resource, publish
from catalogue.reading import resource_history, resource_version, service_item_view
from exchange.db import unit_of_work
from tests import factories


@pytest.fixture
def sessions(rollback_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """These tests touch the hub database only through sessions: each runs in a transaction
    that is rolled back afterwards (``rollback_sessions``)."""
    return rollback_sessions


def put(sessions: sessionmaker[Session], document: dict[str, Any], now: datetime) -> PublishOutcome:
    with unit_of_work(sessions) as session:
        return publish(session, check_descriptor(document), by="officer-7", now=now)


@pytest.fixture
def psb(sessions: sessionmaker[Session], now: datetime) -> None:
    put(sessions, factories.department("PSB"), now)
    put(sessions, factories.department("EDU"), now)


@pytest.mark.usefixtures("psb")
def test_first_publish_creates_version_one(sessions: sessionmaker[Session], now: datetime) -> None:
    outcome = put(sessions, factories.resource(), now)
    assert (outcome.created, outcome.version) == (True, 1)
    assert outcome.diff is not None
    assert outcome.diff["fields_added"] == ["name", "registered_address"]


@pytest.mark.usefixtures("psb")
def test_identical_descriptor_creates_no_version(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    put(sessions, factories.resource(), now)
    again = put(sessions, factories.resource(), now + timedelta(hours=1))
    assert (again.created, again.version) == (False, 1)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ResourceVersion)) == 1


@pytest.mark.usefixtures("psb")
def test_changed_descriptor_creates_a_version_with_a_field_level_diff(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    put(sessions, factories.resource(traits=("with_conditional",)), now)
    changed = factories.resource(summary="更新后的摘要。")
    changed["fields"][1]["sharing"] = {"type": "conditional"}
    changed["fields"].append(factories.field("birth_date", "出生日期"))
    outcome = put(sessions, changed, now + timedelta(days=1))
    assert outcome.version == 2
    assert outcome.diff == {
        "fields_reordered": False,
        "fields_added": ["birth_date"],
        "fields_removed": ["ethnicity"],
        "fields_changed": {
            "registered_address": {
                "sharing": {"from": {"type": "unconditional"}, "to": {"type": "conditional"}}
            }
        },
        "metadata_changed": {
            "summary": {"from": "公安机关登记的常住人口户籍基本信息。", "to": "更新后的摘要。"}
        },
    }
    with sessions() as session:
        history = resource_history(session, "PSB-HJ-0001")
        _, first = resource_version(session, "PSB-HJ-0001", 1)
    assert [h["version"] for h in history] == [1, 2]
    assert [f["name"] for f in first.descriptor["fields"]] == [
        "name",
        "registered_address",
        "ethnicity",
    ]


@pytest.mark.usefixtures("psb")
def test_published_versions_cannot_be_altered_even_by_sql(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    put(sessions, factories.resource(), now)
    for statement in (
        "UPDATE resource_versions SET digest = 'x'",
        "DELETE FROM resource_versions",
        "UPDATE resource_fields SET sharing_type = 'unconditional'",
    ):
        with pytest.raises(DBAPIError, match="immutable"), unit_of_work(sessions) as session:
            session.execute(text(statement))


@pytest.mark.usefixtures("psb")
def test_unknown_provider_is_refused_and_nothing_is_published(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    with pytest.raises(InvalidDescriptor) as caught:
        put(sessions, factories.resource(provider="HRSS"), now)
    assert caught.value.errors[0]["pointer"] == "/provider"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ResourceVersion)) == 0


@pytest.mark.usefixtures("psb")
def test_namespace_belongs_to_one_resource(sessions: sessionmaker[Session], now: datetime) -> None:
    put(sessions, factories.resource(), now)
    with pytest.raises(NamespaceTaken):
        put(sessions, factories.resource("PSB-HJ-0009"), now)
    with pytest.raises(InvalidDescriptor) as caught:
        put(sessions, factories.resource(namespace="household2"), now)
    assert caught.value.errors[0]["pointer"] == "/namespace"


@pytest.mark.usefixtures("psb")
def test_deprecated_resource_takes_no_new_version(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    put(sessions, factories.resource(), now)
    with unit_of_work(sessions) as session:
        deprecate_resource(session, "PSB-HJ-0001", reason="replaced by PSB-HJ-0002", now=now)
    with pytest.raises(ResourceDeprecated):
        put(sessions, factories.resource(summary="new"), now)
    unchanged = put(sessions, factories.resource(), now)
    assert (unchanged.created, unchanged.version) == (False, 1)
    with pytest.raises(InvalidDescriptor) as caught:
        put(sessions, factories.service_item(), now)
    assert caught.value.errors[0]["detail"] == "its resource is deprecated"


@pytest.mark.usefixtures("psb")
def test_reordering_fields_is_a_version_that_says_so(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    put(sessions, factories.resource(), now)
    document = factories.resource()
    document["fields"].reverse()
    outcome = put(sessions, document, now)
    assert outcome.version == 2
    assert outcome.diff is not None
    assert outcome.diff["fields_reordered"] is True
    assert outcome.diff["fields_changed"] == {}


@pytest.mark.usefixtures("psb")
def test_changes_consumers_feel_come_with_warnings(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    put(sessions, factories.resource(traits=("with_conditional",)), now)
    put(sessions, factories.service_item(), now)
    document = factories.resource(traits=("with_conditional",))
    document["fields"] = [f for f in document["fields"] if f["name"] != "registered_address"]
    document["fields"][1]["sharing"] = {"type": "unconditional"}
    outcome = put(sessions, document, now)
    assert outcome.created
    assert [(w["pointer"], w["detail"]) for w in outcome.warnings] == [
        (
            "/fields",
            "field 'registered_address' is removed but service items still list it: EDU-RXDJ-001",
        ),
        ("/fields/1/sharing/type", "shared more openly than before (conditional to unconditional)"),
    ]


def test_department_division_must_be_a_real_division_code(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    with pytest.raises(InvalidDescriptor) as caught:
        put(sessions, factories.department("TAX", division="990000"), now)
    assert caught.value.errors[0]["pointer"] == "/division"
    assert put(sessions, factories.department("TAX", division="330102"), now).created


@pytest.mark.usefixtures("psb")
def test_unknown_related_resource_is_a_warning(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    outcome = put(sessions, factories.resource(traits=("full",)), now)
    assert outcome.created
    assert [w["pointer"] for w in outcome.warnings] == ["/related/0"]


def test_bad_credit_code_check_character_is_a_warning_not_a_rejection(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    outcome = put(sessions, factories.department("MCA", uscc="113301000024706203"), now)
    assert outcome.created
    assert outcome.warnings[0]["pointer"] == "/uscc"
    with sessions() as session:
        department = session.get(Department, "MCA")
        assert department is not None
        assert department.uscc_check_ok is False


@pytest.mark.usefixtures("psb")
def test_service_item_attributes_must_resolve_and_be_shareable(
    sessions: sessionmaker[Session], now: datetime
) -> None:
    put(sessions, factories.resource(traits=("with_not_shared",)), now)
    item = factories.service_item()
    item["attributes"] += [
        {"attribute": "household.shoe_size", "purpose": "school-enrolment", "legal_basis": "x"},
        {
            "attribute": "household.criminal_record",
            "purpose": "school-enrolment",
            "legal_basis": "x",
        },
    ]
    with pytest.raises(InvalidDescriptor) as caught:
        put(sessions, item, now)
    assert [e["pointer"] for e in caught.value.errors] == [
        "/attributes/1/attribute",
        "/attributes/2/attribute",
    ]
    assert put(sessions, factories.service_item(), now).version == 1
    with sessions() as session:
        view = service_item_view(session, "EDU-RXDJ-001")
    assert view["attributes"][0]["attribute"] == "household.registered_address"
    assert view["attributes"][0]["required"] is True


@pytest.mark.usefixtures("demo_catalogue")
def test_the_demo_catalogue_publishes_cleanly(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        codes = set(session.scalars(select(ResourceVersion.resource_code)))
        item = service_item_view(session, "MCA-DBSQ-001")
    assert {"PSB-HJ-0001", "HRSS-SB-0001", "REG-BDC-0001", "MCA-HY-0001"} <= codes
    assert len(item["attributes"]) >= 5
