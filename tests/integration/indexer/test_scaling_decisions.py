"""The decision log and the atomic decision step, on SQLite and PostgreSQL: the past a decision reads, what
it changes, that two decisions on one group never interleave, and the log's filters, pages and scoping."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import pytest

from telescale.indexer import Indexer, InvalidMarker
from telescale.indexer.errors import InvalidScalingValue, NoSuchScalingGroup
from telescale.scaling.model import Action, Group
from tests.integration.indexer.scaling_records import at, decision, group


@pytest.fixture
def web(indexer: Indexer) -> Group:
    return indexer.create_scaling_group(group())


def _scale(indexer: Indexer, g: Group, when: float, before: int, after: int, recommended: int | None = None) -> None:
    outcome = "scale_out" if after > before else "scale_in"
    indexer.decide_scaling(
        g.id,
        lambda grp, past: (decision(g.id, at(when), outcome=outcome, size_before=before, size_after=after,
                                    recommended=recommended), {"desired_capacity": after}),
        now=at(when),
    )  # fmt: skip


def test_decide_reads_the_past_and_applies_changes(indexer: Indexer, web: Group) -> None:
    indexer.record_decision(decision(web.id, at(-4000), recommended=9))  # outside the hour read by default
    indexer.record_decision(decision(web.id, at(10), recommended=3, blocked_by="stabilization"))
    _scale(indexer, web, 20, 2, 4, recommended=4)
    indexer.record_decision(decision(web.id, at(30), blocked_by="cooldown"))  # no recommendation
    _scale(indexer, web, 40, 4, 3, recommended=3)

    seen = []
    action = Action(uuid.uuid4(), uuid.uuid4(), desired=5, previous=3, reason="cpu 90 > 60", started_at=at(50))

    def decide(g: Group, past):
        seen.append((g, past))
        return (decision(web.id, at(50), outcome="scale_out", size_before=3, size_after=5, recommended=5),
                {"desired_capacity": 5, "action": action, "cooldown_end": at(110)})

    after, logged = indexer.decide_scaling(web.id, decide, now=at(50))
    [(g, past)] = seen
    assert (g.desired_capacity, g.version) == (3, 3)  # two earlier decisions changed it
    assert list(past.recommendations) == [(at(10), 3), (at(20), 4), (at(40), 3)]
    assert list(past.changes) == [(at(20), 2, 4), (at(40), 4, 3)]
    assert (after.desired_capacity, after.action, after.cooldown_end, after.version) == (5, action, at(110), 4)
    assert after.updated_at == at(50)
    assert indexer.get_scaling_group(web.id, None) == after
    assert indexer.list_decisions(web.id, None, limit=1) == [logged]

    _, again = indexer.decide_scaling(web.id, lambda g, past: (seen.append(past) or decision(web.id, at(60)), {}),
                                      past_seconds=15, now=at(60))
    assert list(seen[-1].recommendations) == [(at(50), 5)] and list(seen[-1].changes) == [(at(50), 3, 5)]


def test_decide_rolls_back_on_error(indexer: Indexer, web: Group) -> None:
    def boom(g: Group, past):
        raise RuntimeError("policy maths failed")

    with pytest.raises(RuntimeError):
        indexer.decide_scaling(web.id, boom)
    with pytest.raises(InvalidScalingValue) as e:  # invalid: neither the decision nor the change is kept
        indexer.decide_scaling(web.id, lambda g, p: (decision(web.id, at(0)), {"desired_capacity": -1}))
    assert e.value.field == "desired_capacity"
    with pytest.raises(InvalidScalingValue) as e:
        indexer.decide_scaling(web.id, lambda g, p: (decision(web.id, at(0)), {"version": 7}))
    assert e.value.field == "version"
    with pytest.raises(InvalidScalingValue) as e:
        indexer.decide_scaling(web.id, lambda g, p: (decision(uuid.uuid4(), at(0)), {}))
    assert e.value.field == "group_id"
    with pytest.raises(InvalidScalingValue) as e:
        indexer.decide_scaling(web.id, lambda g, p: (decision(web.id, at(0), outcome="maybe"), {}))
    assert e.value.field == "outcome"
    assert indexer.get_scaling_group(web.id, None) == web
    assert indexer.list_decisions(web.id, None) == []
    with pytest.raises(NoSuchScalingGroup):
        indexer.decide_scaling(uuid.uuid4(), lambda g, p: (decision(g.id, at(0)), {}))


def test_concurrent_decisions_serialise(indexer: Indexer, web: Group, db_url: str) -> None:
    """Two scalers deciding on one group at once: the second waits for the first and sees its change, so
    both increments land (a lost update would leave desired at 3) and the second reads the first's decision."""
    others = [Indexer(db_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    seen: list[tuple[int, int]] = []
    failures: list[BaseException] = []

    def decide(g: Group, past):
        seen.append((g.desired_capacity, len(past.changes)))
        time.sleep(0.3)  # hold the lock: without it the other thread would read the same desired capacity
        after = g.desired_capacity + 1
        return (decision(g.id, at(len(seen)), outcome="scale_out", size_before=g.desired_capacity, size_after=after),
                {"desired_capacity": after})

    def run(idx: Indexer) -> None:
        try:
            barrier.wait()
            idx.decide_scaling(web.id, decide, now=at(10))
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=run, args=(idx,)) for idx in others]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for idx in others:
            idx.dispose()
    assert failures == []
    assert sorted(seen) == [(2, 0), (3, 1)]
    final = indexer.get_scaling_group(web.id, None)
    assert (final.desired_capacity, final.version) == (4, 3)
    assert len(indexer.list_decisions(web.id, None)) == 2


def test_record_decision(indexer: Indexer, web: Group) -> None:
    d = decision(web.id, at(0), source="trigger", blocked_by="not_firing", policy_id=uuid.uuid4(),
                 inputs={"value": 41.5, "series": [1, 2], "at": at(0)}, rule="cpu > 80 for 60 s", dry_run=True)
    indexer.record_decision(d)
    [stored] = indexer.list_decisions(web.id, "project-a")
    assert stored == dataclasses.replace(d, inputs={"value": 41.5, "series": [1, 2], "at": at(0).isoformat()})
    assert indexer.get_scaling_group(web.id, None).version == 1  # the group is untouched
    with pytest.raises(NoSuchScalingGroup):
        indexer.record_decision(decision(uuid.uuid4(), at(0)))
    with pytest.raises(InvalidScalingValue) as e:
        indexer.record_decision(decision(web.id, at(0), blocked_by="gremlins"))
    assert e.value.field == "blocked_by"


def test_list_filters_pages_and_scope(indexer: Indexer, web: Group) -> None:
    for i in range(6):
        indexer.record_decision(decision(web.id, at(i * 10), outcome="dry_run" if i % 2 else "none",
                                         reason=f"d{i}"))
    other = indexer.create_scaling_group(group(name="api"))
    indexer.record_decision(decision(other.id, at(5)))

    def reasons(**kw):
        return [d.reason for d in indexer.list_decisions(web.id, "project-a", **kw)]

    assert reasons() == ["d5", "d4", "d3", "d2", "d1", "d0"]
    assert reasons(start=at(10), end=at(40)) == ["d3", "d2", "d1"]
    assert reasons(outcome="dry_run") == ["d5", "d3", "d1"]
    first = indexer.list_decisions(web.id, None, limit=4)
    assert [d.reason for d in first] == ["d5", "d4", "d3", "d2"]
    assert reasons(limit=4, marker=first[-1].id) == ["d1", "d0"]
    with pytest.raises(InvalidMarker):
        indexer.list_decisions(web.id, None, marker=uuid.uuid4())
    assert reasons(start=at(1000)) == []  # filtered out, but the group exists
    for bad in (0, -1):
        with pytest.raises(InvalidScalingValue):
            indexer.list_decisions(web.id, None, limit=bad)

    # Another project sees neither the group nor its log; an unknown group is not found either.
    with pytest.raises(NoSuchScalingGroup):
        indexer.list_decisions(web.id, "project-b")
    with pytest.raises(NoSuchScalingGroup):
        indexer.list_decisions(uuid.uuid4(), None)
    with pytest.raises(InvalidMarker):
        indexer.list_decisions(web.id, "project-b", marker=first[0].id)


def test_log_of_a_deleted_group_stays_readable(indexer: Indexer, web: Group) -> None:
    indexer.record_decision(decision(web.id, at(0), reason="before deletion"))
    indexer.delete_scaling_group(web.id, None)
    assert [d.reason for d in indexer.list_decisions(web.id, "project-a")] == ["before deletion"]
    assert [d.reason for d in indexer.list_decisions(web.id, None, start=at(-5))] == ["before deletion"]
    with pytest.raises(NoSuchScalingGroup):
        indexer.list_decisions(web.id, "project-b")
