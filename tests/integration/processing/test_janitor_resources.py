"""The janitor's auto-end of idle resources and history expiry, on SQLite and PostgreSQL with real files."""

from __future__ import annotations

import datetime
import uuid

import sqlalchemy as sa

from telescale.config import JanitorSettings
from telescale.indexer.models import ResourceHistoryRow
from telescale.processing.janitor import Janitor
from telescale.processing.worker import Drivers
from tests.integration.processing.janitor_env import HOUR, T0, S, feed

UTC = datetime.UTC
DAY = 24 * HOUR


def at(ns: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ns // S, UTC)


def history(sql_drivers: Drivers, rid: uuid.UUID) -> list:
    return sql_drivers.indexer.list_resources("generic", resource_id=rid, history=True, sorts=["revision_start:asc"])


def test_auto_end(sql_drivers: Drivers) -> None:
    idx = sql_drivers.indexer
    res = idx.create_resource(
        "generic", uuid.uuid4(), "vm", "admin", started_at=at(T0 - DAY), metrics={"cpu": {}, "mem": {}, "disk": {}}
    )
    feed(sql_drivers, res.metrics["cpu"], n=60)  # last measure T0 + 59 s
    feed(sql_drivers, res.metrics["mem"], n=90)  # last measure T0 + 89 s: the newest
    # "disk" never receives a measure and does not keep the resource open.
    busy = idx.create_resource("generic", uuid.uuid4(), "busy", "admin", started_at=at(T0 - DAY), metrics={"cpu": {}})
    feed(sql_drivers, busy.metrics["cpu"], n=10)
    feed(sql_drivers, busy.metrics["cpu"], n=10, start=T0 + 5 * HOUR)

    janitor = Janitor(JanitorSettings(resource_end_after=3 * 3600))
    assert janitor.run(sql_drivers, now_ns=T0 + 89 * S + 2 * HOUR).resources_ended == 0
    assert idx.get_resource("generic", res.id).ended_at is None

    stats = janitor.run(sql_drivers, now_ns=T0 + 6 * HOUR)
    assert stats.resources_ended == 1
    ended = idx.get_resource("generic", res.id)
    assert ended.ended_at == at(T0 + 89 * S)
    assert idx.get_resource("generic", busy.id).ended_at is None
    # Like a PATCH: the previous state is a revision in the history, ending when the change was made.
    past = history(sql_drivers, res.id)
    assert [r.ended_at for r in past] == [None, at(T0 + 89 * S)]
    assert past[0].revision_end == ended.revision_start
    # Searchable like any ended resource.
    assert [r.id for r in idx.list_resources("generic", filter_node=None) if r.ended_at is not None] == [res.id]


def test_auto_end_waits_for_pending_measures_and_never_ends_before_the_start(sql_drivers: Drivers) -> None:
    idx = sql_drivers.indexer
    late = idx.create_resource("generic", uuid.uuid4(), "late", "admin", started_at=at(T0 + HOUR), metrics={"m": {}})
    feed(sql_drivers, late.metrics["m"])  # measures from before the resource's start
    waiting = idx.create_resource("generic", uuid.uuid4(), "w", "admin", metrics={"m": {}})
    feed(sql_drivers, waiting.metrics["m"])
    feed(sql_drivers, waiting.metrics["m"], start=T0 + 10 * DAY, process=False)

    Janitor(JanitorSettings(resource_end_after=60)).run(sql_drivers, now_ns=T0 + 20 * DAY)
    assert idx.get_resource("generic", late.id).ended_at == at(T0 + HOUR)
    assert idx.get_resource("generic", waiting.id).ended_at is None


def test_end_resource_checks_it_is_still_open_with_the_same_metrics(sql_drivers: Drivers) -> None:
    idx = sql_drivers.indexer
    res = idx.create_resource("generic", uuid.uuid4(), "r", "admin", started_at=at(T0), metrics={"a": {}})
    (entry,) = [r for r in idx.list_open_resources() if r.id == res.id]
    assert entry.metric_ids == frozenset(res.metrics.values())
    idx.update_resource("generic", res.id, metrics={"b": {}}, append_metrics=True)
    assert idx.end_resource(res.id, at(T0 + HOUR), metric_ids=entry.metric_ids) is None
    assert idx.end_resource(res.id, at(T0 + HOUR)).ended_at == at(T0 + HOUR)
    assert idx.end_resource(res.id, at(T0 + 2 * HOUR)) is None  # already ended
    assert [r.id for r in idx.list_open_resources()] == []


def test_list_open_resources_pages_by_id(sql_drivers: Drivers) -> None:
    idx = sql_drivers.indexer
    ids = sorted(idx.create_resource("generic", uuid.uuid4(), f"r{i}", "admin").id for i in range(5))
    idx.update_resource("generic", ids[1], ended_at=datetime.datetime.now(UTC))
    first = idx.list_open_resources(limit=2)
    assert [r.id for r in first] == [ids[0], ids[2]]
    assert [r.id for r in idx.list_open_resources(after=first[-1].id, limit=2)] == ids[3:]
    assert all(r.metric_ids == frozenset() for r in first)


def test_history_expiry(sql_drivers: Drivers) -> None:
    idx = sql_drivers.indexer
    rid = idx.create_resource("generic", uuid.uuid4(), "r", "admin").id
    for i in range(5):
        idx.update_resource("generic", rid, user_id=f"u{i}")
    assert len(history(sql_drivers, rid)) == 6  # 5 past revisions and the current one
    now = datetime.datetime.now(UTC)
    now_ns = int(now.timestamp()) * S

    kept = Janitor(JanitorSettings(history_retention=3600, batch_size=2))
    assert kept.run(sql_drivers, now_ns=now_ns).history_expired == 0

    janitor = Janitor(JanitorSettings(history_retention=3600, batch_size=2))
    later = now_ns + 2 * HOUR
    assert [janitor.run(sql_drivers, now_ns=later).history_expired for _ in range(4)] == [2, 2, 1, 0]
    (current,) = history(sql_drivers, rid)
    assert current.user_id == "u4"
    assert idx.get_resource("generic", rid).user_id == "u4"


def test_expire_history_reads_the_oldest_revisions_first(sql_drivers: Drivers) -> None:
    idx = sql_drivers.indexer
    rid = idx.create_resource("generic", uuid.uuid4(), "r", "admin").id
    for i in range(4):
        idx.update_resource("generic", rid, user_id=f"u{i}")
    revisions = sorted(r.revision for r in history(sql_drivers, rid) if r.revision >= 0)
    old = datetime.datetime(2020, 1, 1, tzinfo=UTC)
    # The second revision was written by a host whose clock was ahead: it is not old enough yet.
    with idx._write() as s:
        s.execute(sa.update(ResourceHistoryRow).values(revision_end=old))
        s.execute(
            sa.update(ResourceHistoryRow)
            .where(ResourceHistoryRow.revision == revisions[1])
            .values(revision_end=datetime.datetime(2030, 1, 1, tzinfo=UTC))
        )
    before = datetime.datetime(2021, 1, 1, tzinfo=UTC)
    assert idx.expire_history(before, limit=2) == 1
    assert idx.expire_history(before, limit=2) == 1
    assert idx.expire_history(before, limit=2) == 1
    assert idx.expire_history(before, limit=2) == 0
    assert [r.revision for r in history(sql_drivers, rid) if r.revision >= 0] == [revisions[1]]
