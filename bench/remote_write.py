"""``python -m bench.remote_write [--url [NAME=]URL] [--shape KxM …] [--quick]``: Prometheus remote_write ingest
end to end, in samples per second.

Series look like node_exporter's: per shape, 20 instances (``job=rw-<shape>``, ``instance=host-NN:9100``) × 25
metric names (``rwbench_<n>_seconds_total``) × 4 label sets (``cpu``, ``mode``) = 2,000 series, written with
``?metric_names=labels`` (each series its own metric).  A shape ``KxM`` is K series per request × M samples per
series (Prometheus sends at most 2,000 samples per request by default: ``max_samples_per_send``).  Each of
the client threads owns 1/T of the series and sends, in time order, the next M samples of K of them per
request; bodies (protobuf from ``telescale/ingest/remote.proto``, snappy block format) are built before the
clock starts.  A warm-up request per series group creates the resources and metrics first (not timed).

Timer: from the first POST until ``GET /v1/status`` shows no backlog (``samples_per_s``); ``post_samples_per_s``
covers the POSTs only.  ``verified``: the ``count`` aggregate at 300 s of two series sums to the samples sent.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from urllib.parse import quote

import cramjam
import numpy as np

from bench import common
from telescale.ingest import remote_pb2

LOG = logging.getLogger(__name__)
HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}
PATH = "/v1/prometheus/write?metric_names=labels"
INSTANCES, NAMES, LABEL_SETS = 20, 25, 4
SHAPES = ("100x20", "500x4", "500x1")
MODES = ("user", "system", "idle", "iowait")


def _series(job: str) -> list[list[tuple[str, str]]]:
    """Every series' labels, sorted by name as Prometheus sends them."""
    out = []
    for host in range(INSTANCES):
        for name in range(NAMES):
            for k in range(LABEL_SETS):
                labels = {"__name__": f"rwbench_{name}_seconds_total", "cpu": str(k), "mode": MODES[k],
                          "job": job, "instance": f"host-{host:02d}:9100"}
                out.append(sorted(labels.items()))
    return out


def _body(labels: list[list[tuple[str, str]]], stamps_ms: np.ndarray, values: np.ndarray) -> bytes:
    """One snappy-compressed WriteRequest: series i gets samples (stamps_ms[j], values[i, j])."""
    request = remote_pb2.WriteRequest()
    stamps = stamps_ms.tolist()
    for i, series_labels in enumerate(labels):
        ts = request.timeseries.add()
        ts.labels.extend(remote_pb2.Label(name=k, value=v) for k, v in series_labels)
        ts.samples.extend(remote_pb2.Sample(value=v, timestamp=t)
                          for v, t in zip(values[i].tolist(), stamps, strict=True))
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def _post(c, body: bytes) -> None:
    common.expect(c.post(PATH, content=body, headers=HEADERS), 202)


def ensure_rule(target: common.Target) -> None:
    """The run's policy for every ``rwbench_*`` metric, through an archive policy rule (as Gnocchi's mapping needs)."""
    policy = common.ensure_policy(target)
    with target.client() as c:
        common.expect(c.post("/v1/archive_policy_rule", json={
            "name": f"rwbench-{uuid.uuid4().hex[:8]}", "metric_pattern": "rwbench_*", "archive_policy_name": policy}),
            201)


def run(target: common.Target, shape: str, points: int, threads: int, timeout_s: float) -> dict:
    per_request, per_series = (int(x) for x in shape.split("x"))
    job = f"rw-{shape}-{uuid.uuid4().hex[:6]}"
    labels = _series(job)
    if len(labels) % (threads * per_request) or points % per_series:
        raise ValueError(f"shape {shape}: {len(labels)} series over {threads} threads in groups of {per_request}, "
                         f"{points} samples per series in steps of {per_series}")
    stamps, values = common.gauge(len(labels), points + 1)
    ms = np.array([int(common.T0 * 1000 + i * common.STEP_S * 1000) for i in range(points + 1)], dtype=np.int64)
    del stamps
    groups = [list(range(g, g + per_request)) for g in range(0, len(labels), per_request)]
    warm = [_body([labels[i] for i in g], ms[:1], values[g, :1]) for g in groups]
    with target.client() as c:  # creates every resource and metric, then waits for an idle server
        for body in warm:
            _post(c, body)
        common.wait_no_backlog(c, timeout_s)
    per_thread = len(groups) // threads
    work = []
    for t in range(threads):
        mine = groups[t * per_thread:(t + 1) * per_thread]
        work.append([_body([labels[i] for i in g], ms[1 + j:1 + j + per_series], values[g, 1 + j:1 + j + per_series])
                     for j in range(0, points, per_series) for g in mine])
    bytes_sent = sum(len(b) for w in work for b in w)
    r = common.run_threads(target, work, _post, timeout_s)
    with target.client() as c:
        t_done = common.wait_no_backlog(c, timeout_s)
        _verify(c, job, [labels[0], labels[-1]], points + 1)
    total = len(labels) * points
    e2e, post = t_done - r["start"], r["end"] - r["start"]
    return {
        "shape": shape,
        "series_per_request": per_request,
        "samples_per_series": per_series,
        "samples_per_request": per_request * per_series,
        "samples_per_s": round(total / e2e, 1),
        "post_samples_per_s": round(total / post, 1),
        "samples": total,
        "series": len(labels),
        "threads": threads,
        "requests": len(r["latencies"]),
        "compressed_bytes_per_sample": round(bytes_sent / total, 2),
        "seconds": round(e2e, 3),
        "post_seconds": round(post, 3),
        "drain_seconds": round(t_done - r["end"], 3),
        "request": common.percentiles_ms(r["latencies"]),
        "verified": True,
    }


def _verify(c, job: str, series: list[list[tuple[str, str]]], expected: int) -> None:
    """Every sample of two series landed: their ``count`` aggregates at 300 s sum to the samples sent."""
    from telescale.ingest.names import labelled

    for labels in series:
        found = dict(labels)
        name = labelled(found["__name__"], [(k, v) for k, v in labels if k not in ("__name__", "job", "instance")])
        rid = f"{job}@{found['instance']}"
        path = f"/v1/resource/prometheus/{quote(rid, safe='')}/metric/{quote(name, safe='')}/measures"
        rows = common.expect(c.get(path, params={"aggregation": "count", "granularity": 300}), 200).json()
        got = int(sum(row[2] for row in rows))
        if got != expected:
            raise common.BenchError(f"series {name} of {rid}: {got} samples stored, {expected} sent")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.remote_write", description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a Telescale ([NAME=]URL); default: start one")
    ap.add_argument("--shape", action="append", help=f"KxM: K series per request x M samples per series "
                    f"(repeatable; default {' '.join(SHAPES)})")
    ap.add_argument("--points", type=int, help="samples per series (default 1000, --quick 100)")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="100 samples per series")
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from bench import servers

    points = args.points or (100 if args.quick else 1000)
    failed = False
    with servers.telescale_or(args.url) as target:
        ensure_rule(target)
        for shape in args.shape or SHAPES:
            LOG.info("remote_write %s", shape)
            try:
                line = {"bench": "remote_write", "target": target.name,
                        **run(target, shape, points, args.threads, args.timeout)}
            except (common.BenchError, ValueError) as e:
                line, failed = {"bench": "remote_write", "target": target.name, "shape": shape,
                                "error": f"{type(e).__name__}: {e}"}, True
            print(json.dumps(line), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
