"""Alarm latency: from the 202 of the first breaching measure to the webhook arriving at a local receiver.

``python -m bench.alarm_latency --url telescale=http://127.0.0.1:8041 [--aodh http://127.0.0.1:8042
--gnocchi http://127.0.0.1:18041] [--samples 20] [--aodh-samples 3]``

One resource with a metric ``load`` on an archive policy of 1 s granularity, one
``gnocchi_resources_threshold`` alarm (mean > 50 over 1 period of 1 s) whose ``alarm_actions`` and
``ok_actions`` call a receiver on loopback. A producer posts the metric's current value every second, as
an agent would: low (10) until the ``ok`` notification arrives, then high (90); a sample is the time from
the 202 of the first high measure to the ``alarm`` notification. Telescale evaluates when processing
aggregates the measure; Aodh (the real one, over the real Gnocchi) polls every ``evaluation_interval``
(60 s by default), so it takes fewer samples. The server under test must allow webhooks to loopback
(``alarming.webhook_allowed_networks``: the bench's own server is started so).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass

import httpx

from bench import common
from bench.receiver import Receiver

LOG = logging.getLogger(__name__)
LOW, HIGH, THRESHOLD = 10.0, 90.0, 50.0
#: The noauth identity sent to Aodh (Telescale in basic mode ignores these headers).
NOAUTH = {"X-User-Id": "bench-user", "X-Project-Id": "bench-project", "X-Roles": "admin"}


@dataclass
class AlarmTarget:
    name: str
    alarms_url: str  # where /v2 lives
    metrics_url: str  # where /v1 lives (the same server for Telescale)
    timeout_s: float  # longest wait for one transition


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, auth=common.AUTH, timeout=common.TIMEOUT,
                        headers={"Accept": "application/json", **NOAUTH})


def setup_alarm(target: AlarmTarget, alarm_actions: list[str], ok_actions: list[str]) -> tuple[str, str]:
    """The policy, resource and alarm (mean of ``load`` > 50 over one 1 s period); returns (resource id,
    alarm id)."""
    policy = f"bench-alarm-{uuid.uuid4().hex[:8]}"
    rid = str(uuid.uuid4())
    with _client(target.metrics_url) as m:
        common.expect(m.post("/v1/archive_policy", json={
            "name": policy, "aggregation_methods": ["mean", "max"],
            "definition": [{"granularity": "1 second", "timespan": "1 hour"}]}), 201)
        common.expect(m.post("/v1/resource/generic", json={
            "id": rid, "project_id": NOAUTH["X-Project-Id"], "user_id": NOAUTH["X-User-Id"],
            "metrics": {"load": {"archive_policy_name": policy}}}), 201)
    alarm = {
        "name": f"bench-latency-{rid[:8]}", "type": "gnocchi_resources_threshold", "severity": "critical",
        "gnocchi_resources_threshold_rule": {
            "metric": "load", "resource_id": rid, "resource_type": "generic", "aggregation_method": "mean",
            "granularity": 1, "evaluation_periods": 1, "threshold": THRESHOLD, "comparison_operator": "gt"},
        "alarm_actions": alarm_actions, "ok_actions": ok_actions,
    }
    if target.name != "aodh":
        alarm["evaluation_interval"] = 1  # a Telescale extension; processing triggers evaluation anyway
    with _client(target.alarms_url) as a:
        alarm_id = common.expect(a.post("/v2/alarms", json=alarm), 201).json()["alarm_id"]
    return rid, alarm_id


class Producer:
    """Posts the current value once a second (timestamp = now) and remembers when a high value was first
    acknowledged."""

    def __init__(self, target: AlarmTarget, rid: str) -> None:
        self.path = f"/v1/resource/generic/{rid}/metric/load/measures"
        self.client = _client(target.metrics_url)
        self.value = LOW
        self.first_high_ack: float | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="producer", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            value = self.value
            now = time.time()
            r = self.client.post(self.path, json=[{"timestamp": common.iso(now), "value": value}])
            acked = time.time()
            if r.status_code != 202:
                LOG.error("measures refused: %s %s", r.status_code, r.text[:200])
            elif value == HIGH and self.first_high_ack is None:
                self.first_high_ack = acked
            self.stop.wait(1.0 - (time.time() % 1.0) + 0.02)  # once per second, just after the boundary

    def go(self, value: float) -> None:
        self.first_high_ack = None
        self.value = value

    def __enter__(self) -> Producer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.close()


def run(target: AlarmTarget, samples: int, phase_s: float = 0.0) -> dict:
    """``samples`` ok → alarm transitions; latency percentiles over them. ``phase_s``: wait a random time in
    [0, phase_s) between the ``ok`` notification and the breach, so that breaches fall anywhere in the cycle
    of an evaluator that polls every ``phase_s`` (without it, a breach follows that evaluator's last pass
    and waits a whole interval: its worst case)."""
    latencies: list[float] = []
    with Receiver() as receiver:
        rid, alarm_id = setup_alarm(target, [receiver.url], [receiver.url])
        with Producer(target, rid) as producer:
            for i in range(samples):
                producer.go(LOW)
                if receiver.wait(lambda b: b.get("alarm_id") == alarm_id and b.get("current") == "ok",
                                 target.timeout_s) is None:
                    raise common.BenchError(f"{target.name}: no 'ok' notification within {target.timeout_s:.0f} s")
                receiver.drain()
                time.sleep(random.uniform(0, phase_s))
                producer.go(HIGH)
                got = receiver.wait(lambda b: b.get("alarm_id") == alarm_id and b.get("current") == "alarm",
                                    target.timeout_s)
                if got is None or producer.first_high_ack is None:
                    raise common.BenchError(f"{target.name}: no 'alarm' notification within {target.timeout_s:.0f} s")
                latencies.append(got.at - producer.first_high_ack)
                LOG.info("%s: sample %d/%d: %.3f s", target.name, i + 1, samples, latencies[-1])
    figures = common.percentiles_ms(latencies)
    return {"samples": samples, **figures, "max_ms": round(max(latencies) * 1000, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="Telescale (NAME=URL or URL); default: start one")
    ap.add_argument("--aodh", help="the real Aodh (../shared/tools/aodh-anchor up), e.g. http://127.0.0.1:8042")
    ap.add_argument("--gnocchi", default="http://127.0.0.1:18041", help="the Gnocchi that --aodh reads")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--aodh-samples", type=int, default=3)
    ap.add_argument("--aodh-timeout", type=float, default=200.0, help="seconds to wait for one Aodh transition")
    ap.add_argument("--skip-telescale", action="store_true", help="measure only --aodh")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from bench import servers

    lines = []
    if not args.skip_telescale:
        with servers.telescale_or(args.url, servers.ALARM_BENCH_SETTINGS) as target:
            t = AlarmTarget(target.name, target.url, target.url, 30.0)
            lines.append({"bench": "alarm_latency", "target": t.name, **run(t, args.samples)})
            print(json.dumps(lines[-1]), flush=True)
    if args.aodh:
        t = AlarmTarget("aodh", common.check_loopback(args.aodh), common.check_loopback(args.gnocchi),
                        args.aodh_timeout)
        lines.append({"bench": "alarm_latency", "target": "aodh", **run(t, args.aodh_samples)})
        print(json.dumps(lines[-1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
