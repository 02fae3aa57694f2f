"""Scaling latency: from the 202 of the first breaching measure to the scaling group's ``webhook`` member
driver calling a local receiver with the new desired capacity — the whole loop, breach → actuator call.

``python -m bench.scaling_latency [--url URL] [--samples 20] [--aodh-samples 3 | --no-aodh]``

Telescale (started by the bench on a free port with its own temporary data dir and
``alarming.webhook_allowed_networks=["127.0.0.0/8"]``, or ``--url``): a scaling group (``cooldown: 0``, no
scale-up stabilisation or rate limit, ``min_size`` 1, ``max_size`` above the number of samples) whose
``webhook`` driver calls a receiver on loopback, one ``step`` policy (+1, ``cooldown: 0``), and the alarm of
``bench.alarm_latency`` (mean of a metric > 50 over one period of 1 s, ``evaluation_interval`` 1) whose
``alarm_actions`` are the receiver and either the policy's ``signal_url`` (path ``signal_url``: Aodh's
webhook body over HTTP to Telescale's own API) or ``telescale://scaling/<policy id>`` (path ``internal``:
in process), and whose ``ok_actions`` call the receiver. A producer posts the metric once a second, low
until the ``ok`` notification arrives, then high; a sample is the time from the 202 of the first high
measure to the driver's POST with the capacity one above the last (``alarm_p50_ms``: to the alarm's own
notification, so the rest is the signal, the decision, the scaler's pick-up and the driver). The decision
log must then hold one ``scale_out`` of the policy per sample (``verified``).

The anchor, in the same run: there is no Heat here, so the real Aodh 23 (``../shared/tools/aodh-anchor up``
on free ports, taken down after; or ``--aodh URL --gnocchi URL``) with the same alarm posting to a receiver
stands in for "Aodh → Heat signal" — Heat's own signal handling and stack update add to it. Aodh polls every
``evaluation_interval`` (60 s, its default), so it takes few samples, each breach at a random moment of that
interval (a wait of up to one interval after the ``ok``; without it every breach would follow a poll and wait
a whole interval).

Output: one JSON line per figure on stdout, then one ``ratio`` line per Telescale path
(``aodh_over_telescale`` of p50 and of max), then a small table on stderr; an error is a line with
``"error"`` and the exit code is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import queue
import sys
import time
import uuid
from typing import Any

import httpx
import numpy as np

from bench import common, servers
from bench.alarm_latency import HIGH, LOW, AlarmTarget, Producer, setup_alarm
from bench.alarm_latency import run as alarm_run
from bench.receiver import Delivery, Receiver

LOG = logging.getLogger(__name__)
BENCH = "scaling_latency"
#: Telescale's paths from the alarm to the policy.
PATHS = ("signal_url", "internal")


def _group_and_policy(c: httpx.Client, hook: str, max_size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A group driven by the receiver, with one step policy of +1, no cooldown and no scale-up rate limit
    (HPA's default, 4 members or 100 % per 15 s, would hold the 4th breach of a quick series)."""
    group = common.expect(c.post("/v1/scaling_group", json={
        "name": f"bench-scaling-{uuid.uuid4().hex[:8]}", "min_size": 1, "max_size": max_size, "cooldown": 0,
        "behavior": {"scale_up": {"stabilization": 0, "limits": []}},
        "member_driver": {"type": "webhook", "url": hook}}), 201).json()
    policy = common.expect(c.post(f"/v1/scaling_group/{group['id']}/policy", json={
        "name": "out", "type": "step", "adjustment_type": "change_in_capacity", "scaling_adjustment": 1,
        "cooldown": 0}), 201).json()
    return group, policy


def _scale_outs(c: httpx.Client, group_id: str, policy_id: str) -> int:
    """The policy's ``scale_out`` decisions in the group's decision log."""
    found, marker = 0, None
    while True:
        params: dict[str, Any] = {"outcome": "scale_out", **({"marker": marker} if marker else {})}
        page = common.expect(c.get(f"/v1/scaling_group/{group_id}/history", params=params), 200).json()
        if not page:
            return found
        found += sum(d.get("outcome") == "scale_out" and d.get("policy_id") == policy_id for d in page)
        marker = page[-1]["id"]


def _last_reason(c: httpx.Client, group_id: str) -> str:
    """Why the group last did (or did not) scale, for an error message."""
    page = c.get(f"/v1/scaling_group/{group_id}/history", params={"limit": 1})
    return page.json()[0]["reason"] if page.status_code == 200 and page.json() else f"none ({page.status_code})"


def _both(receiver: Receiver, group_id: str, alarm_id: str, timeout_s: float) -> tuple[Delivery, Delivery] | None:
    """The driver's call for the group and the alarm's own ``alarm`` notification, in whichever order."""
    found: dict[str, Delivery] = {}
    deadline = time.monotonic() + timeout_s
    while len(found) < 2 and (left := deadline - time.monotonic()) > 0:
        try:
            d = receiver.deliveries.get(timeout=left)
        except queue.Empty:
            return None
        if d.body.get("group_id") == group_id:
            found.setdefault("call", d)
        elif d.body.get("alarm_id") == alarm_id and d.body.get("current") == "alarm":
            found.setdefault("alarm", d)
    return (found["call"], found["alarm"]) if len(found) == 2 else None


def run_telescale(url: str, through: str, samples: int, timeout_s: float) -> dict[str, Any]:
    """``samples`` breaches, each from an alarm back in ``ok``; latency percentiles of breach → driver call."""
    target = AlarmTarget("telescale", url, url, timeout_s)
    latencies: list[float] = []
    alarm_latencies: list[float] = []
    with Receiver() as receiver, common.client(url) as c:
        group, policy = _group_and_policy(c, receiver.url, max_size=samples + 5)
        gid = group["id"]

        def called(b: dict) -> bool:
            return b.get("group_id") == gid

        first = receiver.wait(called, timeout_s)  # the group's first member: 0 → min_size
        if first is None or first.body.get("desired_capacity") != 1:
            raise common.BenchError(f"{through}: the driver was not asked for min_size 1 within {timeout_s:.0f} s")
        size = 1
        action = policy["signal_url"] if through == "signal_url" else f"telescale://scaling/{policy['id']}"
        rid, alarm_id = setup_alarm(target, [action, receiver.url], [receiver.url])
        LOG.info("telescale %s: group %s, policy %s, alarm %s on resource %s", through, gid, policy["id"],
                 alarm_id, rid)
        with Producer(target, rid) as producer:
            for i in range(samples):
                producer.go(LOW)
                if receiver.wait(lambda b: b.get("alarm_id") == alarm_id and b.get("current") == "ok",
                                 timeout_s) is None:
                    raise common.BenchError(f"{through}: no 'ok' notification within {timeout_s:.0f} s")
                receiver.drain()
                producer.go(HIGH)
                got = _both(receiver, gid, alarm_id, timeout_s)
                if got is None or producer.first_high_ack is None:
                    raise common.BenchError(f"{through}: no driver call and 'alarm' notification within "
                                            f"{timeout_s:.0f} s of a breach (sample {i + 1}, size {size}); "
                                            f"last decision: {_last_reason(c, gid)}")
                call, notified = got
                if call.body.get("desired_capacity") != size + 1 or call.body.get("previous_capacity") != size:
                    raise common.BenchError(f"{through}: expected {size} → {size + 1}, the driver was sent "
                                            f"{json.dumps(call.body)[:300]}")
                size += 1
                latencies.append(call.at - producer.first_high_ack)
                alarm_latencies.append(notified.at - producer.first_high_ack)
                LOG.info("telescale %s: sample %d/%d: %.3f s (alarm notification after %.3f s)", through, i + 1,
                         samples, latencies[-1], alarm_latencies[-1])
        decisions = _scale_outs(c, gid, policy["id"])
    return {"samples": samples, **common.percentiles_ms(latencies), "max_ms": round(max(latencies) * 1000, 3),
            "alarm_p50_ms": round(float(np.percentile(alarm_latencies, 50)) * 1000, 3),
            "decisions": decisions, "verified": decisions == samples}


def ratios(lines: list[dict]) -> list[dict]:
    """Aodh's breach → webhook over each Telescale path's breach → actuator call (> 1: Telescale is faster)."""
    aodh = next((ln for ln in lines if ln.get("target") == "aodh" and "error" not in ln), None)
    if aodh is None:
        return []
    return [{"bench": "ratio", "figure": BENCH, "path": ln["path"],
             "aodh_over_telescale_p50": round(aodh["p50_ms"] / ln["p50_ms"], 2),
             "aodh_over_telescale_max": round(aodh["max_ms"] / ln["max_ms"], 2)}
            for ln in lines if ln.get("target") == "telescale" and "error" not in ln]


def table(lines: list[dict]) -> str:
    rows = [("target", "path", "samples", "p50 ms", "p99 ms", "max ms")]
    rows += [(ln["target"], ln["path"], str(ln["samples"]), f"{ln['p50_ms']:.0f}", f"{ln['p99_ms']:.0f}",
              f"{ln['max_ms']:.0f}") for ln in lines if ln["bench"] == BENCH and "error" not in ln]
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    out = ["  ".join(cell.ljust(w) if k < 2 else cell.rjust(w) for k, (cell, w) in enumerate(zip(r, widths,
                                                                                                 strict=True)))
           for r in rows]
    for r in ratios(lines):
        out.append(f"Aodh (no Heat) / Telescale {r['path']}: p50 × {r['aodh_over_telescale_p50']}, "
                   f"max × {r['aodh_over_telescale_max']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scaling_latency", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--url", help="a running Telescale (http://127.0.0.1:PORT) allowing webhooks to 127.0.0.0/8; "
                                  "default: start one on a free port with a temporary data dir")
    ap.add_argument("--samples", type=int, default=20, help="breaches per Telescale path")
    ap.add_argument("--paths", default=",".join(PATHS),
                    help="Telescale paths to measure, comma list of: signal_url (the policy's pre-signed URL "
                         "over HTTP), internal (the action telescale://scaling/<policy id>)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one Telescale transition")
    ap.add_argument("--no-aodh", action="store_true", help="skip the Aodh anchor")
    ap.add_argument("--aodh-samples", type=int, default=3, help="breaches measured on Aodh (~2 polls each)")
    ap.add_argument("--aodh", help="a running Aodh anchor to use instead of starting one (needs --gnocchi)")
    ap.add_argument("--gnocchi", help="the Gnocchi that --aodh reads (its anchor, HTTP basic admin:)")
    ap.add_argument("--aodh-interval", type=float, default=60.0,
                    help="evaluation_interval of the Aodh the bench starts (Aodh's default is 60 s); each Aodh "
                         "breach waits a random time up to it after the 'ok', to fall anywhere in the cycle")
    ap.add_argument("--aodh-timeout", type=float, default=200.0, help="seconds to wait for one Aodh transition")
    args = ap.parse_args(argv)
    paths = [p for p in args.paths.split(",") if p]
    if not set(paths) <= set(PATHS) or args.samples < 1 or args.aodh_samples < 1:
        ap.error(f"--paths takes {', '.join(PATHS)}; --samples and --aodh-samples at least 1")
    if bool(args.aodh) != bool(args.gnocchi):
        ap.error("--aodh and --gnocchi go together")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    lines: list[dict] = []

    def emit(line: dict) -> None:
        lines.append(line)
        print(json.dumps(line), flush=True)

    with servers.telescale_or(args.url, servers.ALARM_BENCH_SETTINGS) as target:
        for path in paths:
            head = {"bench": BENCH, "target": "telescale", "path": path}
            try:
                emit({**head, **run_telescale(target.url, path, args.samples, args.timeout)})
            except common.BenchError as e:
                emit({**head, "error": str(e)})
    if not args.no_aodh:
        head = {"bench": BENCH, "target": "aodh", "path": "aodh_webhook"}
        anchor = (contextlib.nullcontext((common.check_loopback(args.aodh), common.check_loopback(args.gnocchi)))
                  if args.aodh else servers.aodh(evaluation_interval=args.aodh_interval))
        try:
            with anchor as (aodh_url, gnocchi_url):
                t = AlarmTarget("aodh", aodh_url, gnocchi_url, args.aodh_timeout)
                figures = alarm_run(t, args.aodh_samples, phase_s=args.aodh_interval)
                emit({**head, **figures, "evaluation_interval_s": args.aodh_interval})
        except common.BenchError as e:
            emit({**head, "error": str(e)})
    for r in ratios(lines):
        emit(r)
    print(table(lines), file=sys.stderr, flush=True)
    return 1 if any("error" in ln for ln in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
