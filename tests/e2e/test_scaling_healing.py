"""Autohealing with real processes: a member SIGKILLed is seen failed and replaced (same size, new pid, ``heal``
then ``healed`` in the decision log); a silence matching it leaves it alone until the silence goes; more
members down at once than ``max_unhealthy`` replaces nothing and says ``guard_rail`` (Faythe's fence: that many
failures at once is more likely the network than the members).

The members are demo members (``{python} -m telescale.scaling.demo_member``) reporting ``load`` every second,
so ``liveness_metric: load`` with ``absent_for: 5`` holds for the live ones. The healer runs every second here
(``scaling.healing_interval=1``) instead of every 10 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from tests import server
from tests.scaling_client import group_of, history, wait, wait_gone, wait_history

AUTH = ("admin", "")
SETTINGS = (server.SCALER, "api.workers=1", "processing.delay=0.05", "scaling.healing_interval=1")
HEALING = {"liveness_metric": "load", "absent_for": 5, "max_unhealthy": 2}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    data = tmp_path_factory.mktemp("healing") / "data"
    with server.running(data, SETTINGS) as srv, httpx.Client(base_url=srv.url, auth=AUTH, timeout=30) as c:
        assert c.post("/v1/archive_policy", json={"name": "load-1s", "aggregation_methods": ["mean"],
                                                  "definition": [{"granularity": "1s", "timespan": "1h"}]}
                      ).status_code == 201
        r = c.post("/v1/resource_type", json={"name": "worker", "attributes": {
            "server_group": {"type": "string", "required": False}}})
        assert r.status_code == 201, r.text
        yield c


@contextlib.contextmanager
def healing_group(c: httpx.Client, size: int) -> Iterator[dict[str, Any]]:
    """A group of ``size`` demo members with autohealing on, deleted (its members stopped) afterwards."""
    name = f"heal-{uuid.uuid4().hex[:6]}"
    command = ["{python}", "-m", "telescale.scaling.demo_member", "--resource-type", "worker",
               "--archive-policy", "load-1s", "--orphan-after", "10"]
    r = c.post("/v1/scaling_group", json={
        "name": name, "min_size": 1, "max_size": 5, "desired_capacity": size, "cooldown": 0,
        "member_driver": {"type": "process", "command": command, "stop_timeout": 5},
        "member_resource_type": "worker", "member_query": f"server_group = '{name}'", "healing": HEALING})
    assert r.status_code == 201, r.text
    group = r.json()
    pids: set[int] = set()
    try:
        ready = wait(c, group["id"], lambda g: g["current_size"] == size and g["in_progress"] is None
                     and len(g["members"]) == size and all(m["status"] == "active" for m in g["members"]),
                     60, f"{size} members running")
        pids.update(m["pid"] for m in ready["members"])
        # past absent_for, each member has reported: from here on a live member is a healthy one
        time.sleep(HEALING["absent_for"] + 1)
        yield wait(c, group["id"], lambda g: True, 1, "")
    finally:
        with contextlib.suppress(httpx.HTTPError):
            last = c.get(f"/v1/scaling_group/{group['id']}").json()
            pids.update(m["pid"] for m in last.get("members", []) if m.get("pid"))
        c.delete(f"/v1/scaling_group/{group['id']}")
        wait_gone(pids, 30)


def kill(member: dict[str, Any]) -> None:
    os.kill(member["pid"], signal.SIGKILL)


@pytest.mark.timeout(180)
def test_a_killed_member_is_replaced_by_a_new_one(api: httpx.Client) -> None:
    with healing_group(api, 2) as group:
        gid = group["id"]
        victim, survivor = group["members"]
        kill(victim)
        healed = wait(api, gid, lambda g: g["in_progress"] is None and len(g["members"]) == 2
                      and victim["id"] not in {m["id"] for m in g["members"]}
                      and all(m["status"] == "active" for m in g["members"]), 30, "the dead member replaced")
        assert healed["current_size"] == 2 and healed["desired_capacity"] == 2
        fresh = next(m for m in healed["members"] if m["id"] != survivor["id"])
        assert fresh["pid"] != victim["pid"] and psutil.pid_exists(fresh["pid"])
        assert next(m for m in healed["members"] if m["id"] == survivor["id"])["pid"] == survivor["pid"]
        log = wait_history(api, gid, lambda h: any(d["outcome"] == "healed" for d in h), 15, "healed logged")
        heal = [d for d in log if d["outcome"] == "heal"]
        done = [d for d in log if d["outcome"] == "healed"]
        assert len(heal) == 1 and len(done) == 1, log
        assert heal[0]["source"] == "healing" and victim["name"] in heal[0]["reason"]
        assert heal[0]["inputs"]["members"] == [victim["id"]]
        assert heal[0]["size_before"] == heal[0]["size_after"] == 2
        assert done[0]["inputs"]["decision_id"] == heal[0]["id"] and done[0]["timestamp"] > heal[0]["timestamp"]
        assert not [d for d in log if d["outcome"] in ("scale_out", "scale_in") and d["source"] != "manual"]


@pytest.mark.timeout(180)
def test_a_silence_keeps_a_dead_member_from_being_replaced(api: httpx.Client) -> None:
    with healing_group(api, 2) as group:
        gid = group["id"]
        victim = group["members"][0]
        r = api.post("/v1/silence", json={"pattern": f"^{victim['name']}$", "ttl": "10m", "group_id": gid,
                                          "comment": "maintenance"})
        assert r.status_code == 201, r.text
        silence = r.json()
        kill(victim)
        # the healer saw it dead (it stores the status) ...
        wait(api, gid, lambda g: any(m["id"] == victim["id"] and m["status"] == "failed" for m in g["members"]),
             30, "the dead member seen failed")
        time.sleep(5)  # ... and, five healing passes later, still has not replaced it
        kept = group_of(api, gid)
        assert victim["id"] in {m["id"] for m in kept["members"]} and kept["in_progress"] is None
        assert not [d for d in history(api, gid) if d["outcome"] in ("heal", "healed")]
        # the silence, not chance, held it: once it is gone the member is replaced
        assert api.delete(f"/v1/silence/{silence['id']}").status_code == 204
        wait(api, gid, lambda g: g["in_progress"] is None and victim["id"] not in {m["id"] for m in g["members"]}
             and len(g["members"]) == 2, 30, "the member replaced once the silence is deleted")
        assert [d["outcome"] for d in history(api, gid) if d["source"] == "healing"] == ["heal"]


@pytest.mark.timeout(180)
def test_more_members_down_than_max_unhealthy_replaces_none(api: httpx.Client) -> None:
    with healing_group(api, 3) as group:
        gid = group["id"]
        # paused, the healer leaves the group alone: it sees the three dead at once on resume, as after a
        # network partition, rather than one kill at a time
        assert api.post(f"/v1/scaling_group/{gid}/pause").status_code == 200
        for member in group["members"]:
            kill(member)
        wait_gone([m["pid"] for m in group["members"]], 10)
        assert api.post(f"/v1/scaling_group/{gid}/resume").status_code == 200
        log = wait_history(api, gid, lambda h: any(d["blocked_by"] == "guard_rail" for d in h), 30,
                           "the guard rail logged")
        fence = next(d for d in log if d["blocked_by"] == "guard_rail")
        assert fence["outcome"] == "none" and fence["source"] == "healing"
        assert "3 members unhealthy, more than max_unhealthy 2" in fence["reason"]
        assert all(m["name"] in fence["reason"] for m in group["members"])
        time.sleep(3)  # more healing passes: still nothing replaced
        after = group_of(api, gid)
        assert {m["id"] for m in after["members"]} == {m["id"] for m in group["members"]}
        assert all(m["status"] == "failed" for m in after["members"]) and after["in_progress"] is None
        assert not [d for d in history(api, gid) if d["outcome"] in ("heal", "healed")]
