"""The whole loop with real processes: members report their load → target tracking scales the group out →
the load per member falls → the load stops → the group scales back to min_size; asserted through the API
and the decision log, with no change inside a cooldown.

Each member is the demo member (``python -m telescale.scaling.demo_member``) started by the ``process``
driver; the load generator is this test, calling the members' ``/work`` round-robin at a fixed rate.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests import server
from tests.scaling_client import group_of, history, wait, wait_gone

AUTH = ("admin", "")
SETTINGS = (server.SCALER, "api.workers=1", "processing.delay=0.05")
COOLDOWN = 4.0
TARGET = 8.0  # calls per second per member
RATE = 30.0  # calls per second the generator sends: ceil(30 / 8) = 4 members


def _setup(c: httpx.Client) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:6]
    assert c.post("/v1/archive_policy", json={"name": f"load-{suffix}", "aggregation_methods": ["mean"],
                                              "definition": [{"granularity": "1s", "timespan": "1h"}]}
                  ).status_code == 201
    r = c.post("/v1/resource_type", json={"name": f"worker-{suffix}", "attributes": {
        "server_group": {"type": "string", "required": False}}})
    assert r.status_code == 201, r.text
    command = [sys.executable, "-m", "telescale.scaling.demo_member", "--resource-type", f"worker-{suffix}",
               "--archive-policy", f"load-{suffix}", "--cost", "0.001", "--orphan-after", "5"]
    r = c.post("/v1/scaling_group", json={
        "name": f"web-{suffix}", "min_size": 1, "max_size": 5, "cooldown": COOLDOWN,
        "member_driver": {"type": "process", "command": command},
        "member_resource_type": f"worker-{suffix}", "member_query": f"server_group = 'web-{suffix}'",
        "behavior": {"scale_up": {"stabilization": 0}, "scale_down": {"stabilization": 3}}})
    assert r.status_code == 201, r.text
    group = r.json()
    r = c.post(f"/v1/scaling_group/{group['id']}/policy", json={
        "name": "track-load", "type": "target_tracking", "operations": "(aggregate mean (metric load mean))",
        "target": TARGET, "window": 4, "granularity": 1, "interval": 1})
    assert r.status_code == 201, r.text
    return group["id"], r.json()["id"]


def _generate(c: httpx.Client, gid: str, stop: threading.Event) -> None:
    """Call the members round-robin at RATE per second (the member list refreshed every second)."""
    addresses: list[str] = []
    refreshed = 0.0
    with httpx.Client(timeout=5) as calls:
        for n in itertools.count():
            if stop.is_set():
                return
            if time.monotonic() - refreshed > 1.0:
                members = group_of(c, gid)["members"]
                addresses = [m["address"] for m in members if m.get("address") and m["status"] == "active"]
                refreshed = time.monotonic()
            if addresses:
                with contextlib.suppress(httpx.HTTPError):  # a member being stopped
                    calls.get(f"http://{addresses[n % len(addresses)]}/work")
            stop.wait(1.0 / RATE)


def _changes(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in log if d["outcome"] in ("scale_out", "scale_in", "completed")]


@pytest.mark.timeout(240)
def test_load_scales_the_group_out_and_back_to_min_size(tmp_path: Path) -> None:
    with server.running(tmp_path / "data", SETTINGS) as srv, httpx.Client(base_url=srv.url, auth=AUTH,
                                                                         timeout=30) as c:
        gid, _ = _setup(c)
        first = wait(c, gid, lambda g: g["current_size"] == 1 and len(g["members"]) == 1, 30, "one member")
        pid = first["members"][0]["pid"]
        assert psutil.pid_exists(pid)
        stop = threading.Event()
        generator = threading.Thread(target=_generate, args=(c, gid, stop), daemon=True)
        generator.start()
        try:
            out = wait(c, gid, lambda g: g["current_size"] >= 3, 90, "scaled out to at least 3")
            assert len(out["members"]) == out["current_size"]
            assert all(psutil.pid_exists(m["pid"]) for m in out["members"])
        finally:
            stop.set()
            generator.join(10)
        back = wait(c, gid, lambda g: g["current_size"] == 1 and g["in_progress"] is None, 90, "back to min_size")
        assert len(back["members"]) == 1
        log = history(c, gid)
        # the decision log tells the story: target tracking out, then in, each explained
        outs = [d for d in log if d["outcome"] == "scale_out" and d["source"] == "target_tracking"]
        ins = [d for d in log if d["outcome"] == "scale_in" and d["source"] == "target_tracking"]
        assert outs and ins, log
        assert all("target" in d["rule"] and d["reason"] for d in outs + ins)
        # no change starts inside a cooldown: each change by the policy comes at least COOLDOWN after the
        # previous one completed (the group's first members, at creation, start no cooldown)
        changes = _changes(log)
        last_done, counting = None, False
        for d in changes:
            at = datetime.datetime.fromisoformat(d["timestamp"])
            if d["outcome"] == "completed" and counting:
                last_done = at
            elif d["source"] == "target_tracking":
                counting = True
                if last_done is not None:
                    assert (at - last_done).total_seconds() >= COOLDOWN - 0.01, changes
        assert any(d["blocked_by"] == "cooldown" for d in log), "the load kept asking during the cooldown"
        # the sizes are stored as measures of the group, next to the load
        r = c.get(f"/v1/resource/scaling_group/{gid}/metric/current_size/measures", params={"refresh": "true"})
        assert r.status_code == 200 and r.json(), r.text
        c.delete(f"/v1/scaling_group/{gid}")
        wait_gone([m["pid"] for m in back["members"]], 15)  # deleting the group stops its members
