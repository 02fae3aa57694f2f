"""Dynamic aggregate over a resource search, grouped by a resource attribute, at 10,000 resources.

``POST /v1/aggregates?groupby=server_group`` with ``{"resource_type": T, "search": {"=": {"project_id": P}},
"operations": "(aggregate mean (metric cpu mean))"}``: every resource of the run has a metric ``cpu`` holding
one day at 60 s (1,440 points), resources are spread over ``groups`` values of ``server_group``.  This is
the query Gnocchi answers by loading every metric of every resource (gnocchi#1111, #1502).

Everything is loaded through the API: the resource type (admin), the resources (4 threads), then the
measures with ``POST /v1/batch/resources/metrics/measures?create_metrics=true`` (the metric created from
``{"archive_policy_name", "measures"}``), until ``/v1/status`` shows no backlog.  Names derive from the
sizes, so a second run against the same server finds the data loaded and only queries.

    .venv/bin/python -m bench.aggregates_grouped --url http://127.0.0.1:8041 [--url gnocchi=http://127.0.0.1:18041]
    .venv/bin/python -m bench.aggregates_grouped --resources 1000 --groups 10 --queries 10 --url …

Prints one JSON line per target (p50/p99 ms of the query, after one warm-up whose answer is checked, and,
for a server on this host, the CPU seconds its processes spent per query: on a shared machine wall times
follow the load, CPU time much less), then ratio lines when both ``telescale`` and ``gnocchi`` ran.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import urllib.parse
import uuid

import httpx

from bench import common

LOG = logging.getLogger(__name__)
DAY_POINTS = 1440
OPERATIONS = "(aggregate mean (metric cpu mean))"
BATCH_RESOURCES = 20  # resources per batch request (28,800 measures)
QUERY_TIMEOUT = httpx.Timeout(900.0, connect=5.0)


def names(resources: int, groups: int) -> tuple[str, str, str]:
    """Resource type, project and policy of a data set: fixed per size, so it is loaded once per server."""
    tag = f"{resources}x{groups}"
    return f"bench_agg_{tag}", str(uuid.uuid5(uuid.NAMESPACE_URL, f"telescale-bench-agg-{tag}")), f"bench-agg-{tag}"


def resource_ids(resources: int, groups: int) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"telescale-bench-agg-{resources}x{groups}-{i}"))
            for i in range(resources)]


def query_body(rtype: str, project: str) -> dict:
    return {"resource_type": rtype, "search": {"=": {"project_id": project}}, "operations": OPERATIONS}


def _count(c: httpx.Client, rtype: str, project: str, resources: int) -> int:
    """How many of the data set's resources exist (0 when the type does not)."""
    r = c.post(f"/v1/search/resource/{rtype}", params={"limit": 1, "sort": "id:desc"},
               json={"=": {"project_id": project}})
    if r.status_code == 404:
        return 0
    common.expect(r, 200)
    n, marker = 0, None
    while True:
        params = {"limit": 1000, "attrs": "id", **({"marker": marker} if marker else {})}
        page = common.expect(c.post(f"/v1/search/resource/{rtype}", params=params,
                                    json={"=": {"project_id": project}}), 200).json()
        n += len(page)
        if not page or n >= resources:
            return n
        marker = page[-1]["id"]


def load(target: common.Target, resources: int, groups: int, timeout_s: float) -> dict:
    """Create the type, policy, resources and measures unless they are there already; returns timings."""
    rtype, project, policy = names(resources, groups)
    ids = resource_ids(resources, groups)
    with target.client() as c:
        have = _count(c, rtype, project, resources)
        if have == resources:
            LOG.info("%s: %d resources of %s already loaded", target.name, have, rtype)
            return {"loaded": "reused"}
        if have:
            raise common.BenchError(f"{rtype} holds {have} of {resources} resources: delete the type and rerun")
        t0 = time.monotonic()
        r = c.post("/v1/archive_policy", json={"name": policy,
                                               "definition": [{"granularity": "1 minute", "timespan": "1 day"}]})
        common.expect(r, 201, 409)
        r = c.post("/v1/resource_type", json={"name": rtype, "attributes": {
            "server_group": {"type": "string", "required": False, "max_length": 64}}})
        common.expect(r, 201, 409)

    def create(c: httpx.Client, i: int) -> None:
        common.expect(c.post(f"/v1/resource/{rtype}", json={
            "id": ids[i], "project_id": project, "user_id": "bench", "server_group": f"group-{i % groups:04d}"}),
            201)

    threads = 4
    result = common.run_threads(target, [list(range(k, resources, threads)) for k in range(threads)], create,
                                timeout_s)
    if result.get("error"):
        raise common.BenchError(f"creating resources: {result['error']}")
    t1 = time.monotonic()
    chunks = [list(range(i, min(i + BATCH_RESOURCES, resources))) for i in range(0, resources, BATCH_RESOURCES)]
    stamps, _ = common.gauge(1, DAY_POINTS, step_s=60)

    def post(c: httpx.Client, chunk: list[int]) -> None:
        _, values = common.gauge(len(chunk), DAY_POINTS, step_s=60, seed=chunk[0])
        body = ",".join(
            f'"{ids[i]}":{{"cpu":{{"archive_policy_name":"{policy}","measures":'
            f"{common.measures_json(stamps, values[j])}}}}}"
            for j, i in enumerate(chunk))
        common.expect(c.post("/v1/batch/resources/metrics/measures", params={"create_metrics": "true"},
                             content="{" + body + "}", headers={"Content-Type": "application/json"}), 202)

    result = common.run_threads(target, [chunks[k::threads] for k in range(threads)], post, timeout_s)
    if result.get("error"):
        raise common.BenchError(f"posting measures: {result['error']}")
    t2 = time.monotonic()
    with target.client() as c:
        common.wait_no_backlog(c, timeout_s, poll_s=1.0)
    t3 = time.monotonic()
    return {"loaded": "now", "create_resources_s": round(t1 - t0, 1), "post_measures_s": round(t2 - t1, 1),
            "drain_s": round(t3 - t2, 1)}


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and fields[1].endswith(f":{port:04X}"):
                inodes.add(fields[9])
    return inodes


def _server_pids(port: int) -> list[int]:
    """Processes holding the socket that listens on ``port`` on this host, and their descendants:
    their CPU time per query is a figure the load of a shared machine does not distort."""
    wanted = {f"socket:[{i}]" for i in _listening_inodes(port)}
    found: set[int] = set()
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[pid] = int(f.read().rpartition(")")[2].split()[1])
            if wanted and any(os.readlink(f"/proc/{entry}/fd/{fd}") in wanted
                              for fd in os.listdir(f"/proc/{entry}/fd")):
                found.add(pid)
        except (OSError, ValueError, IndexError):
            continue
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return sorted(found)


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, ValueError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _check(answer: object, groups: int, resources: int) -> None:
    expected_groups = min(groups, resources)
    if not isinstance(answer, list) or len(answer) != expected_groups:
        got = len(answer) if isinstance(answer, list) else type(answer).__name__
        raise common.BenchError(f"expected {expected_groups} groups, got {got}")
    for group in answer:
        points = group["measures"]["measures"]["aggregated"]
        if len(points) != DAY_POINTS:
            raise common.BenchError(f"group {group['group']}: {len(points)} points, expected {DAY_POINTS}")


def run(target: common.Target, resources: int = 10_000, groups: int = 100, queries: int = 20,
        timeout_s: float = 3600.0) -> dict:
    """Load (or reuse) the data set, then time ``queries`` grouped aggregates after one checked warm-up."""
    loading = load(target, resources, groups, timeout_s)
    rtype, project, _ = names(resources, groups)
    body = query_body(rtype, project)
    samples = []
    with httpx.Client(base_url=target.url, auth=common.AUTH, timeout=QUERY_TIMEOUT,
                      headers={"Accept": "application/json"}) as c:
        t = time.perf_counter()
        answer = common.expect(c.post("/v1/aggregates", params={"groupby": "server_group"}, json=body), 200).json()
        warmup = time.perf_counter() - t
        _check(answer, groups, resources)
        first = answer[0]["measures"]["measures"]["aggregated"][0]
        port = urllib.parse.urlsplit(target.url).port
        pids = _server_pids(port) if port else []
        cpu_before = _cpu_seconds(pids)
        deadline = time.monotonic() + timeout_s
        failed: list[str] = []
        for _ in range(queries):
            if time.monotonic() > deadline:
                break
            t = time.perf_counter()
            try:  # a query the server gives up on (Gnocchi's uWSGI cuts requests at 60 s) is counted, not fatal
                common.expect(c.post("/v1/aggregates", params={"groupby": "server_group"}, json=body), 200)
            except (common.BenchError, httpx.HTTPError) as e:
                failed.append(f"after {time.perf_counter() - t:.1f} s: {type(e).__name__}: {e}"[:200])
                continue
            samples.append(time.perf_counter() - t)
        if not samples:
            raise common.BenchError(f"every query failed: {failed[:3]}")
        cpu = (_cpu_seconds(pids) - cpu_before) / (len(samples) + len(failed)) if pids else None
    return {"resources": resources, "groups": groups, "points_per_metric": DAY_POINTS, "n": len(samples),
            **({"failed": len(failed), "failures": failed[:3]} if failed else {}),
            "warmup_ms": round(warmup * 1000, 1), **common.percentiles_ms(samples),
            **({"server_cpu_s_per_query": round(cpu, 3), "server_processes": len(pids)} if cpu is not None else {}),
            "first_group_first_point": first, **loading}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.aggregates_grouped", description=__doc__.splitlines()[0])
    ap.add_argument("--url", action="append", required=True, metavar="[NAME=]URL",
                    help="server to measure (repeatable); NAME is telescale or gnocchi (guessed when omitted)")
    ap.add_argument("--resources", type=int, default=10_000)
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--queries", type=int, default=20, help="timed queries per target (after a warm-up)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds for loading, and for the queries")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from bench.run import measure_targets  # the same NAME=URL convention and ratio lines as bench.run

    return measure_targets("aggregates_grouped", args.url,
                           lambda target: run(target, args.resources, args.groups, args.queries, args.timeout),
                           ratios)


def ratios(lines: list[dict]) -> list[dict]:
    """Telescale over Gnocchi for p50 and p99 (lower is better)."""
    by = {ln["target"]: ln for ln in lines if ln.get("bench") == "aggregates_grouped" and "error" not in ln}
    tel, gno = by.get("telescale"), by.get("gnocchi")
    if not tel or not gno:
        return []
    return [{"bench": "ratio", "figure": "aggregates_grouped", "key": key, "telescale": tel[key],
             "gnocchi": gno[key], "telescale_over_gnocchi": round(tel[key] / gno[key], 4),
             "higher_is_better": False, "telescale_advantage": round(gno[key] / tel[key], 4)}
            for key in ("p50_ms", "p99_ms", "server_cpu_s_per_query") if tel.get(key) and gno.get(key)]


if __name__ == "__main__":
    sys.exit(main())
