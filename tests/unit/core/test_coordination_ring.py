"""Partition: a group's consistent hash ring and one member's share of the keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from tooz import hashring

from telescale.coordination import DEFAULT_PARTITIONS, Partition

KEYS = [str(uuid.UUID(int=i * 7919 + 13)) for i in range(5000)] + list(range(1000))
MEMBERS = ("evaluator:a:1:x", "evaluator:b:2:y", "evaluator:c:3:z")


def shares(members, keys=KEYS) -> dict[str, list]:
    return {m: Partition("alarms", m, members).mine(keys) for m in members}


def test_single_member_owns_everything():
    p = Partition("alarms", "me", ["me"])
    assert p.mine(KEYS) == KEYS
    assert p.owns("anything") and p.owner("anything") == "me"


def test_no_members_or_not_a_member_owns_nothing():
    assert Partition("alarms", "me").mine(KEYS) == []
    assert Partition("alarms", "me").owner("k") is None
    outsider = Partition("alarms", "me", MEMBERS)
    assert outsider.mine(KEYS) == [] and not outsider.owns(KEYS[0])
    assert outsider.owner(KEYS[0]) in MEMBERS


def test_members_split_the_keys_disjoint_and_complete():
    owned = shares(MEMBERS)
    everything = [k for mine in owned.values() for k in mine]
    assert len(everything) == len(KEYS) and set(everything) == set(KEYS)
    for m, mine in owned.items():
        assert 0.2 < len(mine) / len(KEYS) < 0.47, (m, len(mine))
        chosen = set(mine)
        assert mine == [k for k in KEYS if k in chosen]  # callers' order is kept


def test_vectorised_share_is_tooz_hashring_placement():
    ring = hashring.HashRing(MEMBERS, partitions=DEFAULT_PARTITIONS)
    for m in MEMBERS:
        p = Partition("alarms", m, MEMBERS)
        assert p.mine(KEYS) == [k for k in KEYS if ring.get_nodes(str(k).encode()) == {m}]
        assert all(p.owner(k) == next(iter(ring.get_nodes(str(k).encode()))) for k in KEYS[:200])
        assert [p.owns(k) for k in KEYS[:200]] == p.mask(KEYS[:200]).tolist()


def test_same_members_same_owners_whatever_the_order_or_process():
    owners = [Partition("g", "x", order).owner(k) for order in (MEMBERS, MEMBERS[::-1]) for k in KEYS[:50]]
    assert owners[:50] == owners[50:]
    script = ("import json, sys; from telescale.coordination import Partition; "
              "keys, members = json.load(sys.stdin); "
              "print(json.dumps([Partition('g', 'x', members).owner(k) for k in keys]))")
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"  # another string hashing than this process's
    run = subprocess.run([sys.executable, "-c", script], input=json.dumps([KEYS[:300], MEMBERS]),
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed})
    assert json.loads(run.stdout) == [Partition("g", "x", MEMBERS).owner(k) for k in KEYS[:300]]


def test_a_member_leaving_moves_only_its_keys():
    before = shares(MEMBERS)
    after = shares(MEMBERS[:2])
    for m in MEMBERS[:2]:
        assert set(before[m]) <= set(after[m])
        assert set(after[m]) - set(before[m]) <= set(before[MEMBERS[2]])


def test_a_member_joining_takes_a_share_from_the_others_only():
    before = shares(MEMBERS)
    newcomer = "evaluator:d:4:w"
    after = shares((*MEMBERS, newcomer))
    assert 0.15 < len(after[newcomer]) / len(KEYS) < 0.35
    for m in MEMBERS:
        assert set(after[m]) <= set(before[m])


def test_update_rebuilds_the_ring_and_counts_versions():
    p = Partition("alarms", MEMBERS[0], MEMBERS[:1])
    v = p.version
    assert p.mine(KEYS) == KEYS
    assert not p.update(MEMBERS[:1]) and p.version == v
    assert p.update(MEMBERS) and p.version == v + 1 and p.members == frozenset(MEMBERS)
    assert p.mine(KEYS) == shares(MEMBERS)[MEMBERS[0]]
    assert p.update(()) and p.version == v + 2
    assert p.mine(KEYS) == []


def test_past_its_deadline_a_partition_owns_nothing():
    p = Partition("alarms", MEMBERS[0], MEMBERS)
    mine = p.mine(KEYS)
    p.update(MEMBERS, valid_until=time.monotonic() - 0.001)
    assert not p.valid and p.mine(KEYS) == [] and not p.owns(mine[0])
    p.update(MEMBERS, valid_until=time.monotonic() + 60)
    assert p.valid and p.mine(KEYS) == mine


def test_a_closed_partition_stays_empty():
    p = Partition("alarms", MEMBERS[0], MEMBERS)
    version = p.version
    p.close()
    assert p.mine(KEYS) == [] and p.members == frozenset() and p.version == version + 1
    assert not p.update(MEMBERS)  # a late refresh after leaving does not bring the share back
    assert p.mine(KEYS) == [] and not p.owns(KEYS[0])


def test_mine_takes_any_iterable():
    p = Partition("alarms", MEMBERS[0], MEMBERS)
    expected = p.mine(KEYS)
    assert p.mine(iter(KEYS)) == expected
    assert p.mine(k for k in KEYS) == expected
    assert p.mine([]) == []


@pytest.mark.parametrize("partitions", [1, 32])
def test_partition_count_is_honoured(partitions):
    p = Partition("alarms", MEMBERS[0], MEMBERS, partitions=partitions)
    ring = hashring.HashRing(MEMBERS, partitions=partitions)
    assert p.mine(KEYS) == [k for k in KEYS if ring.get_nodes(str(k).encode()) == {MEMBERS[0]}]
