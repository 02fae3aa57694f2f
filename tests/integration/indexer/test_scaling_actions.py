"""The action in flight as the scaler sees it, on SQLite and PostgreSQL: leased claims taken over when a
scaler dies, renewals, and the outcomes (finish, retry, fail), none of which a superseded or taken-over
action can record."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import pytest

from telescale.indexer import Indexer
from telescale.indexer.errors import InvalidScalingValue
from telescale.scaling.model import Action, Group
from tests.integration.indexer.scaling_records import at, decision, group, member

OLD = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)  # before the clock of any machine running this


def _start(indexer: Indexer, g: Group, desired: int, when: float = 0, **action_fields) -> Action:
    """A decision that sets an action, as the decision step does."""
    d = decision(g.id, at(when), outcome="scale_out" if desired > g.desired_capacity else "scale_in",
                 size_before=g.desired_capacity, size_after=desired)
    action = Action(uuid.uuid4(), d.id, desired, g.desired_capacity, "test", at(when), **action_fields)
    indexer.decide_scaling(g.id, lambda grp, past: (d, {"desired_capacity": desired, "action": action}), now=at(when))
    return action


@pytest.fixture
def web(indexer: Indexer) -> Group:
    return indexer.create_scaling_group(group())


def test_claim_and_take_over_after_the_lease(indexer: Indexer, web: Group) -> None:
    idle = indexer.create_scaling_group(group(name="idle"))
    action = _start(indexer, web, 4)
    [claimed] = indexer.claim_scaling_actions("scaler-1", at(1), 30)
    assert claimed.id == web.id and claimed.id != idle.id
    assert claimed.action == dataclasses.replace(action, owner="scaler-1", lease_until=at(31))
    assert indexer.get_scaling_group(web.id, None).action.owner == "scaler-1"
    version = claimed.version
    assert indexer.claim_scaling_actions("scaler-2", at(30), 30) == []  # leased
    # scaler-1 died: the lease lapses and scaler-2 takes the action over.
    [taken] = indexer.claim_scaling_actions("scaler-2", at(32), 30)
    assert (taken.action.id, taken.action.owner, taken.action.lease_until) == (action.id, "scaler-2", at(62))
    assert taken.version == version  # leases are bookkeeping, not a change of the group
    # The dead scaler cannot renew or finish any more.
    assert not indexer.renew_action_lease(web.id, action.id, "scaler-1", at(90))
    after = indexer.finish_scaling_action(web.id, action.id, "scaler-1", decision=decision(web.id, at(33)),
                                          current_size=4, members=[], cooldown_end=at(93))
    assert after == taken
    assert indexer.renew_action_lease(web.id, action.id, "scaler-2", at(120))
    assert indexer.claim_scaling_actions("scaler-3", at(100), 30) == []
    assert indexer.get_scaling_group(web.id, None).action.lease_until == at(120)


def test_action_round_trips(indexer: Indexer, web: Group) -> None:
    """Every field of the action survives the JSON document and the columns."""
    fields = {f.name for f in dataclasses.fields(Action)}
    extra = {"cooldown": 12.5, "replace": (str(uuid.uuid4()), str(uuid.uuid4()))}
    action = _start(indexer, web, 4, **{k: v for k, v in extra.items() if k in fields},
                    owner="scaler", lease_until=at(30), next_attempt_at=at(1), last_error="earlier", attempts=2)
    assert indexer.get_scaling_group(web.id, None).action == action


def test_claim_limit_and_next_attempt(indexer: Indexer) -> None:
    groups = [indexer.create_scaling_group(group(name=f"g{i}")) for i in range(3)]
    for g in groups:
        _start(indexer, g, 3)
    assert len(indexer.claim_scaling_actions("a", at(1), 300, limit=2)) == 2
    assert len(indexer.claim_scaling_actions("b", at(1), 300, limit=2)) == 1
    later = indexer.create_scaling_group(group(name="later"))
    _start(indexer, later, 3, next_attempt_at=at(50))
    assert indexer.claim_scaling_actions("c", at(49), 30) == []
    assert [g.id for g in indexer.claim_scaling_actions("c", at(50), 30)] == [later.id]


def test_finish(indexer: Indexer, web: Group) -> None:
    action = _start(indexer, web, 3)
    indexer.claim_scaling_actions("scaler", at(1), 30)
    members = [member(web.id, "m1"), member(web.id, "m2", status="unhealthy", resource_id=uuid.uuid4(),
                                                 data={"pid": 42}), member(web.id, "m3", created_at=OLD)]
    done = decision(web.id, at(5), outcome="completed", size_before=2, size_after=3, current_size=3)
    after = indexer.finish_scaling_action(web.id, action.id, "scaler", decision=done, current_size=3,
                                          members=members, cooldown_end=at(65))
    assert (after.action, after.current_size, after.desired_capacity, after.cooldown_end) == (None, 3, 3, at(65))
    assert indexer.get_scaling_group(web.id, None) == after
    listed = indexer.list_scaling_members(web.id)
    stored = {m.name: m for m in listed}
    assert listed[0] == members[2]  # oldest first
    assert stored["m2"].created_at is not None  # a new member is created now
    assert stored["m2"] == dataclasses.replace(members[1], created_at=stored["m2"].created_at)
    assert stored["m2"].data == {"pid": 42} and stored["m2"].status == "unhealthy"
    assert sorted(stored) == ["m1", "m2", "m3"]
    assert indexer.list_decisions(web.id, None, limit=1) == [done]
    assert indexer.claim_scaling_actions("scaler", at(100), 30) == []
    # Finishing again (a retried request) changes nothing.
    assert indexer.finish_scaling_action(web.id, action.id, "scaler", decision=done, current_size=9, members=[],
                                         cooldown_end=None) == after

    # The next action without a new member list keeps the members.
    second = _start(indexer, after, 2, when=100, owner="scaler", lease_until=at(130))
    final = indexer.finish_scaling_action(web.id, second.id, "scaler", decision=decision(web.id, at(101)),
                                          current_size=2, members=None, cooldown_end=None)
    assert final.current_size == 2 and len(indexer.list_scaling_members(web.id)) == 3


def test_superseded_finish_is_a_no_op(indexer: Indexer, web: Group) -> None:
    old = _start(indexer, web, 4, owner="scaler", lease_until=at(30))
    # The user changed their mind: a new decision replaced the action.
    new = Action(uuid.uuid4(), uuid.uuid4(), 3, 4, "manual", at(2), owner="scaler", lease_until=at(32))
    current, _ = indexer.decide_scaling(
        web.id, lambda g, p: (decision(web.id, at(2), outcome="scale_in"), {"desired_capacity": 3, "action": new}),
        now=at(2),
    )
    result = indexer.finish_scaling_action(web.id, old.id, "scaler", decision=decision(web.id, at(3)),
                                           current_size=4, members=[member(web.id, "x")], cooldown_end=at(90))
    assert result == current
    assert indexer.get_scaling_group(web.id, None) == current
    assert indexer.list_scaling_members(web.id) == []
    assert len(indexer.list_decisions(web.id, None)) == 2  # the superseded finish logged nothing
    indexer.retry_scaling_action(web.id, old.id, "scaler", error="late", next_attempt_at=at(50))
    assert indexer.fail_scaling_action(web.id, old.id, "scaler", decision=decision(web.id, at(4))) == current
    assert not indexer.renew_action_lease(web.id, old.id, "scaler", at(99))
    assert indexer.get_scaling_group(web.id, None) == current


def test_retry_then_claim_again(indexer: Indexer, web: Group) -> None:
    action = _start(indexer, web, 4)
    indexer.claim_scaling_actions("scaler", at(1), 30)
    indexer.retry_scaling_action(web.id, action.id, "scaler", error="HTTP 503", next_attempt_at=at(20))
    pending = indexer.get_scaling_group(web.id, None).action
    assert (pending.attempts, pending.last_error, pending.owner, pending.lease_until, pending.next_attempt_at) == (
        1, "HTTP 503", None, None, at(20))
    assert indexer.claim_scaling_actions("other", at(19), 30) == []
    [again] = indexer.claim_scaling_actions("other", at(20), 30)
    assert (again.action.attempts, again.action.owner) == (1, "other")
    indexer.retry_scaling_action(web.id, action.id, "scaler", error="not mine", next_attempt_at=at(99))
    assert indexer.get_scaling_group(web.id, None).action.attempts == 1  # the old owner's retry is ignored
    indexer.retry_scaling_action(web.id, action.id, "other", error="timeout", next_attempt_at=at(40))
    assert indexer.get_scaling_group(web.id, None).action.attempts == 2


def test_fail_sets_desired_back(indexer: Indexer, web: Group) -> None:
    action = _start(indexer, web, 5)
    indexer.claim_scaling_actions("scaler", at(1), 30)
    failed = decision(web.id, at(9), outcome="failed", reason="driver gave up", size_before=5, size_after=2)
    after = indexer.fail_scaling_action(web.id, action.id, "scaler", decision=failed)
    assert (after.action, after.desired_capacity, after.current_size) == (None, 2, 2)
    assert indexer.get_scaling_group(web.id, None) == after
    assert indexer.list_decisions(web.id, None, limit=1) == [failed]

    # Within the bounds even if the current size is outside them (max lowered while members ran).
    grown = indexer.update_scaling_group(web.id, None, {"current_size": 5, "max_size": 3})
    action = _start(indexer, grown, 3, when=20, owner="scaler", lease_until=at(50))
    after = indexer.fail_scaling_action(web.id, action.id, "scaler", decision=decision(web.id, at(21)))
    assert after.desired_capacity == 3


def test_outcome_of_another_groups_decision_is_refused(indexer: Indexer, web: Group) -> None:
    action = _start(indexer, web, 4, owner="scaler", lease_until=at(30))
    with pytest.raises(InvalidScalingValue):
        indexer.finish_scaling_action(web.id, action.id, "scaler", decision=decision(uuid.uuid4(), at(1)),
                                      current_size=4, members=None, cooldown_end=None)
    assert indexer.get_scaling_group(web.id, None).action.id == action.id
