"""The scale-out layout under fire: 2 × api, 2 × metricd, 2 × evaluator on PostgreSQL + Redis + S3.

Every process has a data dir of its own (nothing is shared through files: the indexer is the real
PostgreSQL, incoming the real Redis, storage the S3 stand-in ``make services`` starts, coordination tooz on
Redis). Two clients push measures through both APIs and a third feeds the metrics of six alarms while the
test SIGKILLs a random process (a role's main process, or one of its workers) every second or two and
restarts what the supervisors do not. Afterwards:

* every measure that got a 202 is stored, once, with its value (a measure without a 202 may or may not be);
* every alarm transition in the history was notified to its webhook once (deliveries are at-least-once,
  so redeliveries carry the same ``x-telescale-notification-id``; two different ids for one transition
  would mean it fired twice), and each alarm ended in ``alarm``;
* the rings converged: ``/v1/status`` (of either API: the processes share nothing but the services) lists
  exactly the live metricd workers and evaluators, each with the statistics it publishes.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from tests.conftest import create_postgresql_database, drop_postgresql_database, service_unavailable
from tests.notifier_peers import Receiver
from tests.server import TELESCALE, free_port, healthy, still_running, wait_port_free

AUTH = ("admin", "")
REDIS_URL = os.environ.get("TELESCALE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
S3_URL = os.environ.get("TELESCALE_TEST_S3_URL", "http://127.0.0.1:9000")
METRICS = 20  # pushed by the two clients, one point each per batch
ALARMS = 6
STORM_S = 18.0
NS = 1_000_000_000


def _reachable() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as e:
        service_unavailable(f"Redis at {REDIS_URL}: {e}")
    try:
        httpx.get(S3_URL, timeout=3)
    except httpx.HTTPError as e:
        service_unavailable(f"S3 stand-in at {S3_URL} (make services starts it): {e}")


@dataclass
class Role:
    """One ``telescale <role>`` process tree, restarted by the test when its main process dies."""

    args: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        if self.port is not None:
            wait_port_free(self.port, 10)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([*TELESCALE, *self.args], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def processes(self) -> list[psutil.Process]:
        if not self.alive():
            return []
        assert self.proc is not None
        with contextlib.suppress(psutil.Error):
            main = psutil.Process(self.proc.pid)
            return [main, *main.children(recursive=True)]
        return []

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@dataclass
class Sent:
    """What the clients know was accepted: metric -> {timestamp s: value}."""

    accepted: dict[str, dict[int, float]] = field(default_factory=dict)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[list[Role], dict[str, str]]]:
    _reachable()
    db_url, db_name = create_postgresql_database("telescale_kill")
    tag = uuid.uuid4().hex[:10]
    env = {**os.environ,
           "TELESCALE_INDEXER__URL": db_url,
           "TELESCALE_INCOMING__DRIVER": "redis", "TELESCALE_INCOMING__REDIS_URL": REDIS_URL,
           "TELESCALE_INCOMING__REDIS_PREFIX": f"kill-{tag}",
           "TELESCALE_STORAGE__DRIVER": "s3", "TELESCALE_STORAGE__S3_ENDPOINT_URL": S3_URL,
           "TELESCALE_STORAGE__S3_REGION_NAME": "us-east-1", "TELESCALE_STORAGE__S3_ACCESS_KEY_ID": "testing",
           "TELESCALE_STORAGE__S3_SECRET_ACCESS_KEY": "testing", "TELESCALE_STORAGE__S3_BUCKET_PREFIX": f"kill-{tag}",
           "TELESCALE_COORDINATION__URL": f"{REDIS_URL}?namespace=kill-{tag}",
           "TELESCALE_COORDINATION__HEARTBEAT_TIMEOUT": "2",
           "TELESCALE_API__WORKERS": "1", "TELESCALE_API__HOST": "127.0.0.1",
           "TELESCALE_PROCESSING__WORKERS": "1", "TELESCALE_ALARMING__EVALUATORS": "1",
           "TELESCALE_ALARMING__EVALUATION_INTERVAL": "1", "TELESCALE_ALARMING__NOTIFIER_TIMEOUT": "2",
           "TELESCALE_ALARMING__NOTIFIER_BACKOFF": "0.2",
           "TELESCALE_ALARMING__WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]'}
    subprocess.run([*TELESCALE, "upgrade", "--data-dir", str(tmp_path / "upgrade")], env=env, check=True,
                   capture_output=True, timeout=120)
    roles: list[Role] = []
    for name in ("api", "api", "metricd", "metricd", "evaluator", "evaluator"):
        n = len(roles)
        port = free_port() if name == "api" else None
        args = [name, "--data-dir", str(tmp_path / f"{name}-{n}")] + (["--port", str(port)] if port else [])
        roles.append(Role(args, env, tmp_path / f"{name}-{n}.log", port))
    try:
        for role in roles:
            role.start()
        for role in roles:
            if role.port is not None:
                _wait(lambda r=role: healthy(r.port), 60, f"api on {role.port}")
        yield roles, env
    finally:
        for role in roles:
            role.stop()
        drop_postgresql_database(db_name)
        _drop_redis_keys(f"kill-{tag}")


def _drop_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


def _push(urls: list[str], ids: list[str], client: int, stop: threading.Event, sent: Sent) -> None:
    """Batches of one point per metric, each batch its own second (the two clients interleave), alternating
    between the APIs; a batch counts as sent only when it got a 202."""
    rng = np.random.default_rng(client)
    t0 = int(time.time()) - 3000
    with httpx.Client(auth=AUTH, timeout=5) as c:
        i = 0
        while not stop.is_set():
            ts = t0 + 2 * i + client
            values = np.round(rng.uniform(0, 100, len(ids)), 3).tolist()
            body = {mid: [{"timestamp": ts, "value": v}] for mid, v in zip(ids, values, strict=True)}
            try:
                ok = c.post(f"{urls[i % 2]}/v1/batch/metrics/measures", json=body).status_code == 202
            except httpx.HTTPError:
                ok = False
            with sent.lock:
                if ok:
                    for mid, v in zip(ids, values, strict=True):
                        sent.accepted.setdefault(mid, {})[ts] = v
                else:
                    sent.refused += 1
            i += 1
            time.sleep(0.02)


def _feed_alarms(urls: list[str], ids: list[str], stop: threading.Event, phase: dict[str, float]) -> None:
    """The alarms' metrics, in real time: low (→ ok) in the first half of the storm, high (→ alarm) after."""
    with httpx.Client(auth=AUTH, timeout=5) as c:
        i = 0
        while not stop.is_set():
            value = phase["value"]
            body = {mid: [{"timestamp": time.time(), "value": value}] for mid in ids}
            with contextlib.suppress(httpx.HTTPError):
                c.post(f"{urls[i % 2]}/v1/batch/metrics/measures", json=body)
            i += 1
            time.sleep(0.2)


def _storm(roles: list[Role], until: float, rng: random.Random) -> list[str]:
    """SIGKILL a random process of the layout every 1–2 s; restart a role whose main process died."""
    killed = []
    while time.monotonic() < until:
        time.sleep(rng.uniform(1.0, 2.0))
        for role in roles:
            if not role.alive():
                role.start()
        role = rng.choice(roles)
        procs = role.processes()
        if not procs:
            continue
        victim = rng.choice(procs)
        with contextlib.suppress(psutil.Error):
            killed.append(f"{role.args[0]}:{' '.join(victim.cmdline())[:60]}")
            victim.send_signal(signal.SIGKILL)
            still_running([victim], 10)  # dead (a zombie counts) before anyone asks whether its role runs
    for role in roles:
        if not role.alive():
            role.start()
    return killed


def test_every_accepted_measure_is_stored_once_and_every_transition_fires_once_under_sigkills(deployment):
    roles, _ = deployment
    urls = [f"http://127.0.0.1:{r.port}" for r in roles if r.port is not None]
    with httpx.Client(base_url=urls[0], auth=AUTH, timeout=30) as c, Receiver() as hook:
        assert c.post("/v1/archive_policy", json={
            "name": "kill", "back_window": 3600, "aggregation_methods": ["mean", "count"],
            "definition": [{"granularity": "1 second", "timespan": "2 hours"}]}).status_code == 201
        ids = [c.post("/v1/metric", json={"archive_policy_name": "kill"}).json()["id"] for _ in range(METRICS)]
        alarm_metrics = [c.post("/v1/metric", json={"archive_policy_name": "kill"}).json()["id"]
                         for _ in range(ALARMS)]
        alarms = []
        for mid in alarm_metrics:
            r = c.post("/v2/alarms", json={
                "name": f"kill-{mid[:8]}", "type": "gnocchi_aggregation_by_metrics_threshold",
                "gnocchi_aggregation_by_metrics_threshold_rule": {
                    "metrics": [mid], "aggregation_method": "mean", "granularity": 1, "evaluation_periods": 1,
                    "threshold": 50, "comparison_operator": "gt"},
                "alarm_actions": [f"{hook.url}/alarm"], "ok_actions": [f"{hook.url}/ok"],
                "insufficient_data_actions": [f"{hook.url}/insufficient"], "evaluation_interval": 1})
            assert r.status_code == 201, r.text
            alarms.append(r.json()["alarm_id"])

        sent, stop, stop_feed, phase = Sent(), threading.Event(), threading.Event(), {"value": 10.0}
        threads = [threading.Thread(target=_push, args=(urls, ids, n, stop, sent), daemon=True) for n in (0, 1)]
        feeder = threading.Thread(target=_feed_alarms, args=(urls, alarm_metrics, stop_feed, phase), daemon=True)
        for t in (*threads, feeder):
            t.start()
        rng = random.Random(int(os.environ.get("TELESCALE_TEST_KILL_SEED", "0")) or None)
        killed = _storm(roles, time.monotonic() + STORM_S / 2, rng)
        phase["value"] = 90.0
        killed += _storm(roles, time.monotonic() + STORM_S / 2, rng)
        for role in roles:
            if role.port is not None:
                _wait(lambda r=role: healthy(r.port), 60, f"api on {role.port} after the storm")
        _wait(lambda: all(_state(c, a) == "alarm" for a in alarms), 60, "every alarm in state alarm")
        stop.set()
        for t in threads:
            t.join(10)
        assert len(killed) >= 8, killed
        assert sum(len(v) for v in sent.accepted.values()) > 0

        _wait(lambda: not set(ids) & set(c.get("/v1/status", params={"details": "true"}).json()["storage"]
                                         ["measures_to_process"]), 90, "backlog of the pushed metrics drained")
        for mid in ids:
            want = sent.accepted.get(mid, {})
            rows = c.get(f"/v1/metric/{mid}/measures", params={"granularity": 1, "aggregation": "count"}).json()
            counts = {int(_epoch(ts)): n for ts, _, n in rows}
            assert all(counts.get(ts) == 1 for ts in want), (mid, [ts for ts in want if counts.get(ts) != 1][:5])
            means = {int(_epoch(ts)): v for ts, _, v in
                     c.get(f"/v1/metric/{mid}/measures", params={"granularity": 1}).json()}
            assert all(means[ts] == v for ts, v in want.items()), mid

        # The alarms are still fed (they stay in alarm): each transition in their history was notified once --
        # one notification id per transition, whatever the redeliveries.
        for alarm_id in alarms:
            _wait(lambda a=alarm_id: _fired_once(c, hook, a), 20, f"alarm {alarm_id}: one notification per transition")
            assert _state(c, alarm_id) == "alarm"
        stop_feed.set()
        feeder.join(10)

        _wait(lambda: _members_converged(c, roles), 30, "rings converged on the live workers")


def _fired_once(c: httpx.Client, hook: Receiver, alarm_id: str) -> bool:
    """As many distinct notifications (ids) as state transitions in the history, one per new state."""
    transitions = Counter(h["detail"]["state"] if isinstance(h["detail"], dict) else _detail_state(h["detail"])
                          for h in c.get(f"/v2/alarms/{alarm_id}/history").json() if h["type"] == "state transition")
    notified: dict[str, str] = {}
    for r in list(hook.requests):
        body = r.json()
        if body.get("alarm_id") == alarm_id:
            notified[r.header("x-telescale-notification-id") or "?"] = body["current"]
    return Counter(notified.values()) == transitions


def _detail_state(detail: str) -> str:
    import json

    return json.loads(detail)["state"]


def _state(c: httpx.Client, alarm_id: str) -> str:
    return c.get(f"/v2/alarms/{alarm_id}/state").json()


def _epoch(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts).timestamp()


def _members_converged(c: httpx.Client, roles: list[Role]) -> bool:
    """``/v1/status`` lists exactly the metricd workers and evaluators running now (dead ones dropped)."""
    status = c.get("/v1/status").json()
    pids = {p.pid for r in roles for p in r.processes()}
    listed = [status["metricd"], status["alarming"]]  # member ids (role:host:pid:nonce) -> published statistics
    return all(len(group["statistics"]) == 2 and {int(m.split(":")[2]) for m in group["statistics"]} <= pids
               and all(group["statistics"].values()) for group in listed)
