"""Two agents sharing the same sources, on the real Redis (``TELESCALE_TEST_REDIS_URL``): each series is
produced exactly once, with the rate one agent alone computes; a third agent joining moves series with the
loss of at most one rate each (the documented cost of not handing transformer state over)."""

from __future__ import annotations

import time
from collections import Counter

from telescale.metering.ownership import Ownership, build_ownership
from telescale.metering.sample import Event, ResourceUpdate, Sample
from telescale.metering.transformers import build
from tests.integration.test_coordination_redis import tooz_url

RESOURCES = [f"vm-{i}" for i in range(300)]
METERS = ("cpu", "network.incoming.bytes")


def readings(step: int) -> list[Sample]:
    """Every resource's counters at ``step`` (10 s apart), each growing at its own rate; vm-7 resets at 3."""
    out = []
    for i, resource in enumerate(RESOURCES):
        for j, meter in enumerate(METERS):
            value = (i + 1) * (j + 1) * 10.0 * step
            if resource == "vm-7" and step >= 3:
                value = 10.0 * (step - 3)
            out.append(Sample(meter, value, 1_000.0 + 10 * step, resource, "instance", "cumulative"))
    return out


class Agent:
    """A pipeline as agent-core assembles it: ownership first, then the transformer."""

    def __init__(self, ownership: Ownership) -> None:
        self.ownership = ownership
        self.rate = build({"name": "rate_of_change"})

    def feed(self, samples: list[Sample]) -> list[Sample]:
        return self.rate.process(self.ownership.keep(samples))


def wait_for_members(agents: list[Agent], count: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while any(len(a.ownership.members) != count for a in agents):
        assert time.monotonic() < deadline, [sorted(a.ownership.members) for a in agents]
        time.sleep(0.05)


def test_two_agents_produce_each_series_once_with_a_correct_rate_and_a_joiner_costs_one_rate(redis_namespace):
    url = tooz_url(redis_namespace)
    alone = Agent(build_ownership("", "alone"))
    a, b = Agent(build_ownership(url, "a", heartbeat_timeout=2)), Agent(build_ownership(url, "b", heartbeat_timeout=2))
    c: Agent | None = None
    try:
        wait_for_members([a, b], 2)
        expected: dict[tuple[str, float], float] = {}
        produced: Counter[tuple[str, float]] = Counter()
        values: dict[tuple[str, float], float] = {}
        shares = []
        for step in range(6):
            batch = readings(step)
            for s in alone.feed(batch):
                expected[s.series, s.timestamp] = s.value
            outputs = [agent.feed(batch) for agent in (a, b)]
            shares.append([len(o) for o in outputs])
            for s in (x for o in outputs for x in o):
                produced[s.series, s.timestamp] += 1
                values[s.series, s.timestamp] = s.value
        assert all(n == 1 for n in produced.values()), "a series was produced by both agents"
        assert values == expected  # every series once, with the single agent's rate (vm-7's reset included)
        assert all(min(share) > 0 for share in shares[1:]), f"one agent did all the work: {shares}"
        assert expected["vm-7/cpu", 1_030.0] == 0.0 and expected["vm-7/cpu", 1_040.0] == 1.0

        c = Agent(build_ownership(url, "c", heartbeat_timeout=2))
        wait_for_members([a, b, c], 3)
        moved = {u.resource_id for u in c.ownership.keep([ResourceUpdate("instance", r) for r in RESOURCES])}
        assert moved, "the third agent took no share"
        late: Counter[str] = Counter()
        for step in range(6, 9):
            batch = readings(step)
            expected_step = {(s.series, s.timestamp): s.value for s in alone.feed(batch)}
            got = [s for agent in (a, b, c) for s in agent.feed(batch)]
            keys = Counter((s.series, s.timestamp) for s in got)
            assert all(n == 1 for n in keys.values()), "a series was produced twice after the join"
            assert all(s.value == expected_step[s.series, s.timestamp] for s in got)
            for key in expected_step.keys() - keys.keys():
                late[key[0]] += 1
        # only series that moved to the newcomer lost something, and only their first rate there
        assert {series.split("/")[0] for series in late} == moved
        assert set(late.values()) == {1}

        events = [Event(f"msg-{i}", "compute.instance.create.end", "2026-01-01T00:00:00+00:00") for i in range(100)]
        kept = Counter(e.message_id for agent in (a, b, c) for e in agent.ownership.keep(events))
        assert sorted(kept) == sorted(e.message_id for e in events) and set(kept.values()) == {1}
        assert sum(agent.ownership.owns_target("http://node-exporter:9100/metrics") for agent in (a, b, c)) == 1
    finally:
        for agent in (a, b, c):
            if agent is not None:
                agent.ownership.close()
