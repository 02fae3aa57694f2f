"""Resources (generic type): create/get, timestamps, attached metrics."""

from __future__ import annotations

import datetime
import uuid

import pytest

from telescale.indexer import (
    Indexer,
    NamedMetricAlreadyExists,
    NoArchivePolicyRuleMatch,
    NoSuchArchivePolicy,
    NoSuchMetric,
    NoSuchResourceType,
    ResourceAlreadyExists,
    ResourceValueError,
)

UTC = datetime.UTC


def test_create_and_get(indexer: Indexer) -> None:
    rid = uuid.uuid4()
    before = datetime.datetime.now(UTC)
    created = indexer.create_resource(
        "generic", rid, "1.2.3.4", "foobar:proj", user_id="u", project_id="p", attributes={"host": "h1"}
    )
    after = datetime.datetime.now(UTC)
    assert created.id == rid
    assert created.type == "generic"
    assert created.original_resource_id == "1.2.3.4"
    assert (created.creator, created.user_id, created.project_id) == ("foobar:proj", "u", "p")
    assert (created.created_by_user_id, created.created_by_project_id) == ("foobar", "proj")
    assert before <= created.started_at <= after
    assert created.started_at.tzinfo is not None and created.started_at.utcoffset() == datetime.timedelta(0)
    assert created.revision_start == created.started_at
    assert created.ended_at is None and created.revision_end is None
    assert created.attributes == {"host": "h1"}
    assert created.metrics == {}
    assert indexer.get_resource("generic", rid) == created
    assert indexer.get_resource("generic", uuid.uuid4()) is None


def test_timestamps_round_trip_in_utc(indexer: Indexer) -> None:
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    started = datetime.datetime(2014, 1, 3, 2, 2, 2, 123456, tzinfo=plus2)
    ended = datetime.datetime(2014, 1, 31, 2, 2, 2)  # naive: taken as UTC
    created = indexer.create_resource("generic", uuid.uuid4(), "r", "foo", started_at=started, ended_at=ended)
    got = indexer.get_resource("generic", created.id)
    assert got.started_at == started
    assert got.started_at.tzinfo == UTC
    assert got.started_at.hour == 0 and got.started_at.microsecond == 123456
    assert got.ended_at == ended.replace(tzinfo=UTC)


def test_create_errors(indexer: Indexer) -> None:
    rid = uuid.uuid4()
    indexer.create_resource("generic", rid, "r", "foo")
    with pytest.raises(ResourceAlreadyExists) as e:
        indexer.create_resource("generic", rid, "r", "foo")
    assert str(e.value) == f"Resource {rid} already exists"
    with pytest.raises(NoSuchResourceType) as e2:
        indexer.create_resource("instance", uuid.uuid4(), "r", "foo")
    assert str(e2.value) == "Resource type instance does not exist"
    with pytest.raises(ResourceValueError):
        indexer.create_resource(
            "generic",
            uuid.uuid4(),
            "r",
            "foo",
            started_at=datetime.datetime(2020, 1, 2, tzinfo=UTC),
            ended_at=datetime.datetime(2020, 1, 1, tzinfo=UTC),
        )


def test_get_by_type(indexer: Indexer) -> None:
    rid = uuid.uuid4()
    indexer.create_resource("generic", rid, "r", "foo")
    with pytest.raises(NoSuchResourceType):
        indexer.get_resource("instance", rid)
    assert indexer.list_resource_types() == ["generic"]


def test_create_with_metrics(indexer: Indexer) -> None:
    existing = indexer.create_metric(uuid.uuid4(), "foo", "high")
    rid = uuid.uuid4()
    created = indexer.create_resource(
        "generic",
        rid,
        "r",
        "foo",
        metrics={
            "cpu.util": existing.id,
            "disk.io": {"archive_policy_name": "medium", "unit": "B/s"},
            "mem": {},  # policy from the rules: "default" -> low
        },
    )
    assert set(created.metrics) == {"cpu.util", "disk.io", "mem"}
    assert created.metrics["cpu.util"] == existing.id
    attached = indexer.get_metric(existing.id)
    assert (attached.name, attached.resource_id) == ("cpu.util", rid)
    disk = indexer.get_metric(created.metrics["disk.io"])
    assert (disk.archive_policy.name, disk.unit, disk.creator, disk.resource_id) == ("medium", "B/s", "foo", rid)
    assert indexer.get_metric(created.metrics["mem"]).archive_policy.name == "low"
    assert indexer.get_resource("generic", rid).metrics == created.metrics
    # A metric created later on the resource shows up; a deleted one goes away.
    late = indexer.create_metric(uuid.uuid4(), "foo", "low", name="late", resource_id=rid)
    assert indexer.get_resource("generic", rid).metrics["late"] == late.id
    indexer.delete_metric(existing.id)
    assert "cpu.util" not in indexer.get_resource("generic", rid).metrics
    with pytest.raises(NamedMetricAlreadyExists):
        indexer.create_metric(uuid.uuid4(), "foo", "low", name="late", resource_id=rid)


def test_create_with_bad_metrics_rolls_back(indexer: Indexer) -> None:
    someone_elses = indexer.create_metric(uuid.uuid4(), "other", "low")
    cases = [
        ({"m": someone_elses.id}, NoSuchMetric),  # same creator required, as in Gnocchi
        ({"m": uuid.uuid4()}, NoSuchMetric),
        ({"ok": {}, "m": {"archive_policy_name": "nope"}}, NoSuchArchivePolicy),
    ]
    for metrics, error in cases:
        rid = uuid.uuid4()
        with pytest.raises(error):
            indexer.create_resource("generic", rid, "r", "foo", metrics=metrics)
        assert indexer.get_resource("generic", rid) is None
    assert indexer.get_metric(someone_elses.id).resource_id is None
    assert len(indexer.list_metrics()) == 1


def test_create_with_metric_and_no_rule(bare_indexer: Indexer) -> None:
    with pytest.raises(NoArchivePolicyRuleMatch):
        bare_indexer.create_resource("generic", uuid.uuid4(), "r", "foo", metrics={"cpu": {}})
