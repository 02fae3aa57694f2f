"""Metrics: create/get, list filters, sorting, keyset pagination, delete and expunge."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from telescale.indexer import (
    Indexer,
    InvalidFilter,
    InvalidMarker,
    InvalidPagination,
    InvalidSortDirection,
    InvalidSortKey,
    Metric,
    MetricAlreadyExists,
    NamedMetricAlreadyExists,
    NoSuchArchivePolicy,
    NoSuchMetric,
    NoSuchResource,
)
from telescale.timeseries.policy import NS_PER_SECOND, ArchivePolicy, PolicyItem


@contextlib.contextmanager
def count_queries(indexer: Indexer) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(indexer._engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(indexer._engine, "before_cursor_execute", record)


def _ids(metrics: list[Metric]) -> list[uuid.UUID]:
    return [m.id for m in metrics]


@pytest.fixture
def two_policies(bare_indexer: Indexer) -> Indexer:
    for name in ("first_archive", "second_archive"):
        bare_indexer.create_archive_policy(ArchivePolicy(name, 0, (PolicyItem(granularity=NS_PER_SECOND),), ("mean",)))
    return bare_indexer


def test_create_and_get(indexer: Indexer) -> None:
    metric_id = uuid.uuid4()
    created = indexer.create_metric(metric_id, "foo:bar", "low", name="disk.io.rate", unit="B/s")
    assert created.id == metric_id
    assert created.archive_policy == indexer.get_archive_policy("low")
    assert created.archive_policy_name == "low"
    assert (created.name, created.unit, created.creator, created.status) == ("disk.io.rate", "B/s", "foo:bar", "active")
    assert created.resource_id is None
    assert (created.created_by_user_id, created.created_by_project_id) == ("foo", "bar")
    assert indexer.get_metric(metric_id) == created
    assert indexer.get_metric(uuid.uuid4()) is None


def test_basic_auth_creator_split(indexer: Indexer) -> None:
    metric = indexer.create_metric(uuid.uuid4(), "foobar", "low")
    assert (metric.created_by_user_id, metric.created_by_project_id) == ("foobar", "")


def test_create_errors(indexer: Indexer) -> None:
    with pytest.raises(NoSuchArchivePolicy) as e:
        indexer.create_metric(uuid.uuid4(), "foo", "nope")
    assert str(e.value) == "Archive policy nope does not exist"
    missing = uuid.uuid4()
    with pytest.raises(NoSuchResource) as e2:
        indexer.create_metric(uuid.uuid4(), "foo", "low", name="cpu", resource_id=missing)
    assert str(e2.value) == f"Resource {missing} does not exist"
    metric_id = uuid.uuid4()
    indexer.create_metric(metric_id, "foo", "low")
    with pytest.raises(MetricAlreadyExists):
        indexer.create_metric(metric_id, "foo", "low")


def test_named_metric_unique_per_resource(indexer: Indexer) -> None:
    r1, r2 = uuid.uuid4(), uuid.uuid4()
    for rid in (r1, r2):
        indexer.create_resource("generic", rid, str(rid), "foo")
    indexer.create_metric(uuid.uuid4(), "foo", "low", name="cpu", resource_id=r1)
    indexer.create_metric(uuid.uuid4(), "foo", "low", name="cpu", resource_id=r2)
    indexer.create_metric(uuid.uuid4(), "foo", "low", name="cpu")
    indexer.create_metric(uuid.uuid4(), "foo", "low", name="cpu")  # unattached names never collide
    with pytest.raises(NamedMetricAlreadyExists) as e:
        indexer.create_metric(uuid.uuid4(), "foo", "low", name="cpu", resource_id=r1)
    assert str(e.value) == "Named metric cpu already exists"


def test_get_metrics_one_query_in_order(indexer: Indexer) -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    for i, metric_id in enumerate(ids):
        indexer.create_metric(metric_id, "foo", "low" if i % 2 else "high", name=f"m{i}")
    indexer.delete_metric(ids[2])
    wanted = [ids[4], uuid.uuid4(), ids[0], ids[2], ids[1], ids[4]]
    with count_queries(indexer) as queries:
        metrics = indexer.get_metrics(wanted)
    assert _ids(metrics) == [ids[4], ids[0], ids[1]]
    assert [m.archive_policy.name for m in metrics] == ["high", "high", "low"]
    assert len(queries) == 1
    assert indexer.get_metrics([]) == []


def test_list_does_not_n_plus_one(indexer: Indexer) -> None:
    for i in range(6):
        indexer.create_metric(uuid.uuid4(), "foo", ["low", "medium", "high"][i % 3])
    with count_queries(indexer) as queries:
        metrics = indexer.list_metrics()
    assert len(metrics) == 6
    assert {m.archive_policy.name for m in metrics} == {"low", "medium", "high"}
    assert len(queries) == 1


@pytest.fixture
def gabbi_metrics(two_policies: Indexer) -> dict[str, uuid.UUID]:
    """The four metrics of Gnocchi's metric-list.yaml (plus a fifth created under keystone)."""
    idx = two_policies
    ids = {key: uuid.uuid4() for key in ("m1", "m2", "m3", "m4", "m5")}
    idx.create_metric(ids["m1"], "foobar", "first_archive", name="disk.io.rate", unit="B/s")
    idx.create_metric(ids["m2"], "foobaz", "first_archive", name="disk.io.rate", unit="B/s")
    idx.create_metric(ids["m3"], "jd", "first_archive", name="cpu_util", unit="%")
    idx.create_metric(ids["m4"], "foobar", "second_archive", name="cpu", unit="ns")
    idx.create_metric(ids["m5"], "user1:proj1", "second_archive")
    return ids


def _names(metrics: list[Metric]) -> list[str | None]:
    return [m.name for m in metrics]


def test_list_filters(two_policies: Indexer, gabbi_metrics: dict[str, uuid.UUID]) -> None:
    idx, ids = two_policies, gabbi_metrics
    assert len(idx.list_metrics()) == 5
    assert _ids(idx.list_metrics()) == sorted(ids.values())  # default order: id ascending
    assert _ids(idx.list_metrics(filters={"id": ids["m1"]})) == [ids["m1"]]
    assert _ids(idx.list_metrics(filters={"id": str(ids["m1"])})) == [ids["m1"]]
    assert set(_ids(idx.list_metrics(filters={"id": [ids["m1"], ids["m3"]]}))) == {ids["m1"], ids["m3"]}
    assert set(_ids(idx.list_metrics(filters={"name": "disk.io.rate"}))) == {ids["m1"], ids["m2"]}
    assert _ids(idx.list_metrics(filters={"name": None})) == [ids["m5"]]
    assert _names(idx.list_metrics(filters={"unit": "ns"})) == ["cpu"]
    assert len(idx.list_metrics(filters={"archive_policy_name": "first_archive"})) == 3
    assert _ids(idx.list_metrics(filters={"creator": "jd"})) == [ids["m3"]]
    assert _ids(idx.list_metrics(filters={"creator": "foobaz"})) == [ids["m2"]]
    assert set(_ids(idx.list_metrics(filters={"creator": "foobar", "unit": "ns"}))) == {ids["m4"]}
    assert idx.list_metrics(filters={"name": "nope"}) == []


def test_list_filter_resource_id(indexer: Indexer) -> None:
    rid = uuid.uuid4()
    indexer.create_resource("generic", rid, "r", "foo")
    attached = indexer.create_metric(uuid.uuid4(), "foo", "low", name="cpu", resource_id=rid)
    loose = indexer.create_metric(uuid.uuid4(), "foo", "low")
    assert _ids(indexer.list_metrics(filters={"resource_id": rid})) == [attached.id]
    assert _ids(indexer.list_metrics(filters={"resource_id": str(rid)})) == [attached.id]
    assert _ids(indexer.list_metrics(filters={"resource_id": None})) == [loose.id]


def test_list_filter_user_and_project(two_policies: Indexer, gabbi_metrics: dict[str, uuid.UUID]) -> None:
    """Gnocchi's old user/project API: either given means creator == "<user>:<project>" exactly."""
    idx, ids = two_policies, gabbi_metrics
    assert _ids(idx.list_metrics(filters={"user_id": "user1", "project_id": "proj1"})) == [ids["m5"]]
    assert idx.list_metrics(filters={"user_id": "user1"}) == []  # would need creator "user1:"
    assert idx.list_metrics(filters={"project_id": "proj1"}) == []  # would need creator ":proj1"
    assert idx.list_metrics(filters={"user_id": "foobar"}) == []
    assert idx.list_metrics(filters={"user_id": "user1", "project_id": "proj1", "creator": "x"}) == []
    # None values count as not given.
    assert len(idx.list_metrics(filters={"user_id": None, "project_id": None})) == 5


def test_list_filter_created_by(two_policies: Indexer, gabbi_metrics: dict[str, uuid.UUID]) -> None:
    """created_by_user_id / created_by_project_id match the halves the API shows."""
    idx, ids = two_policies, gabbi_metrics
    idx.create_metric(uuid.uuid4(), "us%r:proj_2", "first_archive")
    assert _ids(idx.list_metrics(filters={"created_by_user_id": "user1"})) == [ids["m5"]]
    assert _ids(idx.list_metrics(filters={"created_by_project_id": "proj1"})) == [ids["m5"]]
    assert set(_ids(idx.list_metrics(filters={"created_by_user_id": "foobar"}))) == {ids["m1"], ids["m4"]}
    assert len(idx.list_metrics(filters={"created_by_project_id": ""})) == 4  # basic-auth creators
    assert idx.list_metrics(filters={"created_by_user_id": "us_r"}) == []  # LIKE wildcards escaped
    assert len(idx.list_metrics(filters={"created_by_project_id": "proj_2"})) == 1
    assert idx.list_metrics(filters={"created_by_project_id": "proj%"}) == []


def test_list_filter_errors(indexer: Indexer) -> None:
    with pytest.raises(InvalidFilter) as e:
        indexer.list_metrics(filters={"color": "blue"})
    assert str(e.value) == "Unknown filter field: color"
    with pytest.raises(InvalidFilter) as e2:
        indexer.list_metrics(filters={"id": "not-a-uuid"})
    assert str(e2.value) == "Invalid value: `not-a-uuid' for field `id'"


def test_sort(two_policies: Indexer, gabbi_metrics: dict[str, uuid.UUID]) -> None:
    idx, ids = two_policies, gabbi_metrics
    first = {"archive_policy_name": "first_archive"}
    assert _names(idx.list_metrics(filters=first, sorts=["name:desc"])) == [
        "disk.io.rate",
        "disk.io.rate",
        "cpu_util",
    ]
    # Ties are broken by id ascending.
    assert _ids(idx.list_metrics(filters=first, sorts=["name:desc"]))[:2] == sorted([ids["m1"], ids["m2"]])
    assert _names(idx.list_metrics(sorts=["name"])) == ["cpu", "cpu_util", "disk.io.rate", "disk.io.rate", None]
    assert _names(idx.list_metrics(sorts=["name:asc"]))[-1] is None  # NULLs sort last ascending
    assert _names(idx.list_metrics(sorts=["name:desc"]))[0] is None  # ... and first descending
    assert _names(idx.list_metrics(sorts=["name:asc-nullsfirst"]))[0] is None
    assert _names(idx.list_metrics(sorts=["name:desc-nullslast"]))[-1] is None
    assert _ids(idx.list_metrics(sorts=["id:desc"])) == sorted(ids.values(), reverse=True)
    assert _names(idx.list_metrics(sorts=["archive_policy_name:desc", "unit:asc"])) == [
        "cpu",
        None,
        "cpu_util",
        "disk.io.rate",
        "disk.io.rate",
    ]
    assert [m.creator for m in idx.list_metrics(sorts=["creator", "name:desc"])][:3] == [
        "foobar",
        "foobar",
        "foobaz",
    ]


def test_sort_errors(indexer: Indexer) -> None:
    with pytest.raises(InvalidSortKey) as e:
        indexer.list_metrics(sorts=["nonexistent_key:asc"])
    assert str(e.value) == "Sort key supplied is invalid: nonexistent_key"
    with pytest.raises(InvalidSortDirection) as e2:
        indexer.list_metrics(sorts=["id:invalid"])
    assert isinstance(e2.value, InvalidSortKey)
    assert isinstance(e2.value, InvalidPagination)


@pytest.mark.parametrize(
    "sorts",
    [
        [],
        ["id:desc"],
        ["name"],
        ["name:desc"],
        ["unit:asc", "name:desc"],
        ["unit:desc-nullslast"],
        ["unit:asc-nullsfirst", "creator"],
        ["creator:desc", "resource_id", "status"],
        ["archive_policy_name", "name:asc-nullsfirst", "id:desc"],
    ],
)
def test_marker_pagination_matches_full_listing(indexer: Indexer, sorts: list[str]) -> None:
    """Keyset pagination over ties and NULLs returns every row exactly once, in the full order."""
    for i in range(11):
        indexer.create_metric(
            uuid.uuid4(),
            ["a", "b", None][i % 3],
            ["low", "high"][i % 2],
            name=[None, "x", "y", "x"][i % 4],
            unit=[None, "B", "ns"][i % 3],
        )
    full = _ids(indexer.list_metrics(sorts=sorts))
    assert len(full) == 11
    for page_size in (1, 3, 4):
        pages: list[uuid.UUID] = []
        marker = None
        while True:
            page = _ids(indexer.list_metrics(sorts=sorts, limit=page_size, marker=marker))
            pages.extend(page)
            if len(page) < page_size:
                break
            marker = page[-1]
        assert pages == full, (sorts, page_size)


def test_marker_gnocchi_scenario(two_policies: Indexer, gabbi_metrics: dict[str, uuid.UUID]) -> None:
    idx = two_policies
    first = {"archive_policy_name": "first_archive"}
    page1 = idx.list_metrics(filters=first, sorts=["name:desc"], limit=2)
    assert _names(page1) == ["disk.io.rate", "disk.io.rate"]
    page2 = idx.list_metrics(filters=first, sorts=["name:desc"], limit=2, marker=page1[-1].id)
    assert _names(page2) == ["cpu_util"]
    # The marker is an id string straight from the query string.
    assert _names(idx.list_metrics(filters=first, sorts=["name:desc"], marker=str(page1[-1].id))) == ["cpu_util"]


def test_invalid_marker(indexer: Indexer) -> None:
    unknown = "d44b3f4c-27bc-4ace-b81c-2a8e60026874"
    with pytest.raises(InvalidMarker) as e:
        indexer.list_metrics(marker=uuid.UUID(unknown))
    assert str(e.value) == f"Invalid marker: `{unknown}'"
    with pytest.raises(InvalidMarker):
        indexer.list_metrics(marker="garbage")


def test_delete_and_expunge(indexer: Indexer) -> None:
    rid = uuid.uuid4()
    indexer.create_resource("generic", rid, "r", "foo")
    metric = indexer.create_metric(uuid.uuid4(), "foo", "low", name="cpu", resource_id=rid)
    other = indexer.create_metric(uuid.uuid4(), "foo", "low")
    indexer.delete_metric(metric.id)
    assert indexer.get_metric(metric.id) is None
    assert indexer.get_metrics([metric.id]) == []
    assert _ids(indexer.list_metrics()) == [other.id]
    deleted = indexer.list_metrics(filters={"status": "delete"})
    assert _ids(deleted) == [metric.id]
    assert deleted[0].status == "delete" and deleted[0].resource_id is None
    assert deleted[0].archive_policy.name == "low"  # the janitor still knows the policy
    assert len(indexer.list_metrics(filters={"status": None})) == 2
    assert indexer.list_deleted_metric_ids() == [metric.id]
    with pytest.raises(NoSuchMetric) as e:
        indexer.delete_metric(metric.id)
    assert str(e.value) == f"Metric {metric.id} does not exist"
    # The name is free again on the resource.
    indexer.create_metric(uuid.uuid4(), "foo", "low", name="cpu", resource_id=rid)
    indexer.expunge_metric(metric.id)
    assert indexer.list_deleted_metric_ids() == []
    assert indexer.list_metrics(filters={"id": metric.id, "status": None}) == []
    with pytest.raises(NoSuchMetric):
        indexer.expunge_metric(metric.id)
    with pytest.raises(NoSuchMetric):
        indexer.delete_metric(uuid.uuid4())


def test_list_filter_visible_to_project(indexer: Indexer) -> None:
    """Gnocchi's keystone list filter: created by the project, or on a resource of the project."""
    mine = indexer.create_metric(uuid.uuid4(), "alice:p1", "low")
    indexer.create_metric(uuid.uuid4(), "bob:p2", "low")
    owned_resource = uuid.uuid4()
    indexer.create_resource("generic", owned_resource, "r1", "bob:p2", project_id="p1")
    on_my_resource = indexer.create_metric(uuid.uuid4(), "bob:p2", "low", name="cpu", resource_id=owned_resource)
    created_resource = uuid.uuid4()
    indexer.create_resource("generic", created_resource, "r2", "carol:p1", project_id="p3")
    on_created = indexer.create_metric(uuid.uuid4(), "carol:p1", "low", name="cpu", resource_id=created_resource)
    other_resource = uuid.uuid4()
    indexer.create_resource("generic", other_resource, "r3", "bob:p2", project_id="p2")
    indexer.create_metric(uuid.uuid4(), "bob:p2", "low", name="cpu", resource_id=other_resource)
    visible = indexer.list_metrics(filters={"visible_to_project_id": "p1"})
    assert set(_ids(visible)) == {mine.id, on_my_resource.id, on_created.id}
    assert indexer.list_metrics(filters={"visible_to_project_id": "p%"}) == []
