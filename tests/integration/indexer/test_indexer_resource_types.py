"""Resource types as rows (no DDL), typed resources, revisions, listing with history and keyset pages."""

from __future__ import annotations

import uuid

import pytest

from telescale.indexer import (
    Indexer,
    InvalidMarker,
    InvalidSortKey,
    NoSuchResource,
    NoSuchResourceType,
    ResourceTypeAlreadyExists,
    ResourceTypeInUse,
)
from telescale.indexer.search import parse_string_filter

HOST = {"host": {"type": "string", "required": True, "min_length": 0, "max_length": 255},
        "cpus": {"type": "number", "required": False, "min": None, "max": None}}


def test_type_lifecycle(indexer: Indexer) -> None:
    created = indexer.create_resource_type("instance", HOST)
    assert indexer.get_resource_type("instance") == created
    assert [t.name for t in indexer.list_resource_type_records()] == ["generic", "instance"]
    with pytest.raises(ResourceTypeAlreadyExists):
        indexer.create_resource_type("instance", {})
    rid = uuid.uuid4()
    indexer.create_resource("instance", rid, "i", "foo", attributes={"host": "h1"})
    with pytest.raises(ResourceTypeInUse):
        indexer.delete_resource_type("instance")
    with pytest.raises(ResourceTypeInUse):
        indexer.delete_resource_type("generic")
    updated = indexer.update_resource_type(
        "instance",
        add_attributes={"zone": {"type": "string", "required": True, "min_length": 0, "max_length": 9}},
        del_attributes=["cpus"],
        fill={"zone": "z1"},
    )
    assert set(updated.attributes) == {"host", "zone"}
    assert indexer.get_resource("instance", rid).attributes == {"host": "h1", "zone": "z1"}
    indexer.delete_resource(rid)
    indexer.delete_resource_type("instance")
    with pytest.raises(NoSuchResourceType):
        indexer.get_resource_type("instance")
    with pytest.raises(NoSuchResource):
        indexer.delete_resource(rid)


def test_update_writes_history_and_lists_it(indexer: Indexer) -> None:
    indexer.create_resource_type("instance", HOST)
    rid = uuid.uuid4()
    first = indexer.create_resource("instance", rid, "i", "foo", attributes={"host": "h1", "cpus": 2})
    second = indexer.update_resource("instance", rid, host="h2", cpus=None)
    assert second.attributes == {"host": "h2"}
    assert second.revision_start > first.revision_start
    revisions = indexer.list_resources("instance", resource_id=rid, history=True, sorts=["revision_start:asc"])
    assert [r.attributes.get("host") for r in revisions] == ["h1", "h2"]
    assert revisions[0].revision_end == second.revision_start and revisions[1].revision_end is None
    assert revisions[1].revision == -1 and revisions[0].revision > 0
    # no revision when asked not to
    indexer.update_resource("instance", rid, create_revision=False, host="h3")
    assert len(indexer.list_resources("instance", resource_id=rid, history=True)) == 2


def test_sort_filter_and_pages(indexer: Indexer) -> None:
    indexer.create_resource_type("instance", HOST)
    for i in range(5):
        indexer.create_resource("instance", uuid.uuid4(), f"i{i}", "foo",
                                attributes={"host": f"h{i % 2}", "cpus": 10 - i})
    indexer.create_resource("generic", uuid.uuid4(), "g", "foo")
    by_cpus = indexer.list_resources("instance", sorts=["cpus:asc"])
    assert [r.attributes["cpus"] for r in by_cpus] == [6, 7, 8, 9, 10]
    page1 = indexer.list_resources("instance", sorts=["cpus:desc"], limit=2)
    page2 = indexer.list_resources("instance", sorts=["cpus:desc"], limit=2, marker=str(page1[-1].id))
    assert [r.attributes["cpus"] for r in page1 + page2] == [10, 9, 8, 7]
    assert len(indexer.list_resources("generic")) == 6
    assert indexer.list_resources("generic")[0].attributes == {}
    assert all(r.attributes for r in indexer.list_resources("generic", details=True) if r.type == "instance")
    found = indexer.list_resources("instance", filter_node=parse_string_filter('host = "h1" and cpus > 6'))
    assert sorted(r.attributes["cpus"] for r in found) == [7, 9]
    assert indexer.delete_resources("instance", filter_node=parse_string_filter('host = "h0"')) == 3
    assert len(indexer.list_resources("instance")) == 2
    with pytest.raises(InvalidSortKey):
        indexer.list_resources("instance", sorts=["nope:asc"])
    with pytest.raises(InvalidMarker):
        indexer.list_resources("instance", marker=str(uuid.uuid4()))


def test_fill_and_removal_rewrite_current_and_past_revisions_in_sql(indexer: Indexer) -> None:
    """Filled values keep their JSON type, only missing/null values are filled, removal reaches history."""
    indexer.create_resource_type("box", {"name": {"type": "string", "required": False},
                                         "old": {"type": "string", "required": False}})
    ids = [uuid.uuid4() for _ in range(3)]
    indexer.create_resource("box", ids[0], "a", "u", attributes={"name": "kept", "old": "x"})
    indexer.create_resource("box", ids[1], "b", "u", attributes={"name": None, "old": "y"})
    indexer.create_resource("box", ids[2], "c", "u", attributes={})
    indexer.update_resource("box", ids[2], old="z")  # one past revision without "name"
    indexer.create_resource_type("other", {"name": {"type": "string", "required": False}})
    other = uuid.uuid4()
    indexer.create_resource("other", other, "o", "u", attributes={})

    indexer.update_resource_type(
        "box",
        add_attributes={"name": {"type": "string", "required": True}, "on": {"type": "bool", "required": True},
                        "size": {"type": "number", "required": True}, "label": {"type": "string", "required": True}},
        del_attributes=["old"], fill={"name": "filled", "on": False, "size": 1.5, "label": 'say "hi"'})

    current = {rid: indexer.get_resource("box", rid).attributes for rid in ids}
    fill = {"on": False, "size": 1.5, "label": 'say "hi"'}
    assert current == {ids[0]: {"name": "kept", **fill}, ids[1]: {"name": "filled", **fill},
                       ids[2]: {"name": "filled", **fill}}
    past = [r for r in indexer.list_resources("box", history=True, sorts=["revision_start:asc"])
            if r.id == ids[2] and r.revision != -1]
    assert len(past) == 1 and past[0].attributes == {"name": "filled", **fill}
    assert indexer.get_resource("other", other).attributes == {}  # another type is untouched
    # the filled values are real JSON booleans and numbers: typed searches find them
    assert len(indexer.list_resources("box", filter_node=parse_string_filter("on = false"))) == 3
    assert len(indexer.list_resources("box", filter_node=parse_string_filter("size >= 1.5"))) == 3
