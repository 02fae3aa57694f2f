"""Scale-out ingest: one ``telescale api`` and N ``telescale metricd`` processes (``processing.workers=1`` each),
per layout, each deployment started from scratch, plus the operation counts a sizing model needs.

    python -m bench.scaleout [--layout file|redis-s3 …] [--metricd N …] [--metrics 200] [--points 600]
                             [--batch 60] [--threads 4] [--reads 200] [--rounds 1] [--quick]

Layouts:

``file``
    one shared data dir: file incoming, file storage, the embedded SQLite indexer, no ``coordination.url``.
``redis-s3``
    a fresh PostgreSQL database, ``incoming.driver=redis`` and ``coordination.url`` on Redis (one unique
    prefix / namespace), ``storage.driver=s3`` on the S3 stand-in through a counting proxy (bench/s3count.py),
    one data dir per process. Database, Redis keys and bucket are removed afterwards.

Per (layout, metricd): ``bench.ingest.run`` (batch mode) through the API: measures/s end to end, while
POSTing, drain seconds; CPU seconds (psutil, whole process trees) of the API and of the metricd processes
between the first POST and the empty backlog, as measures (and requests) per CPU-second; for redis-s3, Redis
commands (``INFO commandstats``, whole server, gross; the rates of other clients and of the idle deployment are
given beside) and S3 requests by kind per measure; then ``--reads`` ``GET /v1/metric/{id}/measures`` (each metric
once, then the same again, metricd paused) with the S3 requests and Redis commands per read. One JSON line
each, then ratio lines (k vs 1 metricd within a layout and round; redis-s3 over file for the same count).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import common, ingest
from bench.s3count import CountingProxy

LOG = logging.getLogger("bench.scaleout")
REPO = Path(__file__).resolve().parents[1]
LAYOUTS = ("file", "redis-s3")
PG_URL = os.environ.get("TELESCALE_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TELESCALE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
S3_URL = os.environ.get("TELESCALE_TEST_S3_URL", "http://127.0.0.1:9000")
S3_REGION = "us-east-1"
S3_KEY = "bench"  # the stand-in takes any key and secret
FULL = {"metrics": 200, "points": 600, "batch": 60, "threads": 4, "reads": 200, "idle_s": 5.0}
QUICK = {"metrics": 20, "points": 120, "batch": 60, "threads": 4, "reads": 20, "idle_s": 2.0}
START_TIMEOUT_S = 90.0


def emit(line: dict) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((common.LOOPBACK, 0))
        return s.getsockname()[1]


def _with_db(url: str, dbname: str) -> str:
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + dbname, p.query, p.fragment))


def _libpq(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(("postgresql", p.netloc, p.path, p.query, p.fragment))


# -- services ----------------------------------------------------------------------------------------------
def check_services(layouts: list[str]) -> None:
    """Raise BenchError naming every service a layout needs and cannot reach."""
    if "redis-s3" not in layouts:
        return
    import psycopg
    import redis

    problems = []
    try:
        with psycopg.connect(_libpq(PG_URL), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        problems.append(f"PostgreSQL at {PG_URL} (TELESCALE_TEST_POSTGRESQL_URL): {e}".strip())
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as e:
        problems.append(f"Redis at {REDIS_URL} (TELESCALE_TEST_REDIS_URL): {e}")
    try:
        httpx.get(S3_URL, timeout=3)
    except httpx.HTTPError as e:
        problems.append(f"S3 stand-in at {S3_URL} (TELESCALE_TEST_S3_URL; `make services` starts it): {e}")
    if problems:
        raise common.BenchError("unreachable: " + "; ".join(problems))


class RedisStats:
    """Whole-server counters of the Redis the deployment uses (other clients of that server count too)."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=3)

    def sample(self) -> dict[str, Any]:
        stats, cmds, cpu = self.client.info("stats"), self.client.info("commandstats"), self.client.info("cpu")
        return {"total": int(stats["total_commands_processed"]),
                "commands": {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in cmds.items()},
                "cpu_s": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])}

    def delete_prefix(self, prefix: str) -> int:
        n = 0
        for key in self.client.scan_iter(match=f"{prefix}*", count=1000):
            n += self.client.delete(key)
        return n


def _s3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=S3_URL, region_name=S3_REGION, aws_access_key_id=S3_KEY,
                        aws_secret_access_key=S3_KEY, config=Config(s3={"addressing_style": "path"}))


def _delete_bucket(bucket: str) -> None:
    """Empty and delete ``bucket`` on the stand-in (directly, not through the counting proxy)."""
    s3 = _s3_client()
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except s3.exceptions.NoSuchBucket:
        pass


# -- processes ---------------------------------------------------------------------------------------------
@dataclass
class Proc:
    """One ``telescale <role>`` process tree in its own session (stopped by killing its process group)."""

    role: str
    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen([sys.executable, "-m", "telescale.cli", *self.args], env=self.env,
                                          cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def cpu(self) -> dict[int, float]:
        """CPU seconds (user + system) of every live process of the tree, by pid."""
        if not self.alive():
            return {}
        assert self.popen is not None
        return tree_cpu(self.popen.pid)

    def signal_group(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, sig)

    def tail(self, n: int = 1200) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-n:]
        return ""


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of ``pid`` and its live descendants, by pid ({} when it is gone)."""
    out: dict[int, float] = {}
    with contextlib.suppress(psutil.Error):
        main = psutil.Process(pid)
        for p in [main, *main.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
    return out


def service_pids() -> dict[str, int]:
    """The local processes listening on the ports of the S3 stand-in, Redis and PostgreSQL (when we may see
    them): their CPU is part of what a layout costs on this machine."""
    ports = {urllib.parse.urlsplit(u).port or d: name for u, d, name in
             ((S3_URL, 80, "s3_standin"), (REDIS_URL, 6379, "redis"), (PG_URL, 5432, "postgresql"))}
    out: dict[str, int] = {}
    with contextlib.suppress(psutil.Error, OSError):
        for c in psutil.net_connections("tcp"):
            if c.status == psutil.CONN_LISTEN and c.pid and c.laddr and c.laddr.port in ports:
                out[ports[c.laddr.port]] = c.pid
    return out


def stop_all(procs: list[Proc]) -> None:
    """SIGTERM every group, wait up to 15 s, then SIGKILL what is left (groups are ours: own sessions)."""
    for p in procs:
        p.signal_group(signal.SIGCONT)  # in case a failure left them paused
        p.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs:
        if p.popen is None:
            continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.popen.wait(max(0.1, deadline - time.monotonic()))
    for p in procs:
        p.signal_group(signal.SIGKILL)  # also reaches workers of a main process that exited first
        if p.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(5)


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two samples by the processes of the second one (new pids from zero)."""
    return sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items())


# -- one deployment ----------------------------------------------------------------------------------------
@dataclass
class Deployment:
    """A from-scratch ``upgrade`` + one ``api`` + N ``metricd`` of one layout; cleanup registered on ``stack``."""

    layout: str
    metricd: int
    tmp: Path
    stack: contextlib.ExitStack
    proxy: CountingProxy | None = None
    redis: RedisStats | None = None
    tag: str = field(default_factory=lambda: f"bso-{uuid.uuid4().hex[:10]}")
    api: Proc | None = None
    workers: list[Proc] = field(default_factory=list)
    url: str = ""
    _db_url: str = ""
    others_per_s: float = 0.0  # Redis commands/s of other clients, measured before the deployment started
    services: dict[str, int] = field(default_factory=dict)  # name -> pid of the services this layout uses

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELESCALE_")}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
        env.update({"TELESCALE_API__HOST": common.LOOPBACK, "TELESCALE_PROCESSING__WORKERS": "1",
                    "TELESCALE_ALARMING__EVALUATORS": "0", "TELESCALE_SCALING__SCALERS": "0"})
        if self.layout == "redis-s3":
            assert self.proxy is not None
            env.update({
                "TELESCALE_INDEXER__URL": self._db_url,
                "TELESCALE_INCOMING__DRIVER": "redis", "TELESCALE_INCOMING__REDIS_URL": REDIS_URL,
                "TELESCALE_INCOMING__REDIS_PREFIX": self.tag,
                "TELESCALE_STORAGE__DRIVER": "s3", "TELESCALE_STORAGE__S3_ENDPOINT_URL": self.proxy.url,
                "TELESCALE_STORAGE__S3_REGION_NAME": S3_REGION, "TELESCALE_STORAGE__S3_ACCESS_KEY_ID": S3_KEY,
                "TELESCALE_STORAGE__S3_SECRET_ACCESS_KEY": S3_KEY, "TELESCALE_STORAGE__S3_BUCKET_PREFIX": self.tag,
                "TELESCALE_COORDINATION__URL": f"{REDIS_URL}?namespace={self.tag}",
            })
        return env

    def _data_dir(self, name: str) -> str:
        return str(self.tmp / ("data" if self.layout == "file" else f"data-{name}"))

    def start(self, idle_s: float) -> None:
        if self.layout == "redis-s3":
            self.services = service_pids()
        if self.redis is not None:  # the rest of the machine's Redis traffic, before this deployment exists
            a = self.redis.sample()
            time.sleep(idle_s)
            self.others_per_s = (self.redis.sample()["total"] - a["total"]) / idle_s
        if self.layout == "redis-s3":
            self._create_database()
            assert self.redis is not None
            redis, tag = self.redis, self.tag
            self.stack.callback(lambda: LOG.info("deleted %d Redis keys %s*", redis.delete_prefix(tag), tag))
            self.stack.callback(_delete_bucket, f"{tag}-aggregates")
        env = self._env()
        up = subprocess.run([sys.executable, "-m", "telescale.cli", "upgrade", "--data-dir", self._data_dir("upgrade")],
                            env=env, cwd=REPO, capture_output=True, timeout=180)
        if up.returncode:
            raise common.BenchError(f"telescale upgrade failed: {up.stdout.decode(errors='replace')[-800:]}"
                                    f"{up.stderr.decode(errors='replace')[-800:]}")
        port = _free_port()
        self.url = f"http://{common.LOOPBACK}:{port}"
        self.api = Proc("api", ["api", "--port", str(port), "--data-dir", self._data_dir("api")], env,
                        self.tmp / "api.log")
        self.workers = [Proc("metricd", ["metricd", "--data-dir", self._data_dir(f"metricd-{i}")], env,
                             self.tmp / f"metricd-{i}.log") for i in range(self.metricd)]
        procs = [self.api, *self.workers]
        self.stack.callback(stop_all, procs)
        for p in procs:
            p.start()
        self._wait_ready()

    def _create_database(self) -> None:
        import psycopg

        dbname = f"bench_scaleout_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_libpq(PG_URL), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        self._db_url = _with_db(PG_URL, dbname)

        def drop() -> None:
            with psycopg.connect(_libpq(PG_URL), autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

        self.stack.callback(drop)

    def _wait_ready(self) -> None:
        """The API answers /healthcheck, every metricd has its worker process, and /v1/status lists all N of them
        (the members of the ring with ``coordination.url``, else the heartbeat files of the shared data dir)."""
        expected = self.metricd
        deadline = time.monotonic() + START_TIMEOUT_S
        seen: list = []
        with common.client(self.url) as c:
            while time.monotonic() < deadline:
                dead = [p for p in self.procs if not p.alive()]
                if dead:
                    raise common.BenchError(f"{dead[0].role} exited at start: {dead[0].tail()}")
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
                    if c.get("/healthcheck").status_code == 200:
                        seen = c.get("/v1/status", params={"details": "false"}).json()["metricd"]["processors"]
                        if len(seen) >= expected and all(len(w.cpu()) > 1 for w in self.workers):
                            return
                time.sleep(0.25)
        assert self.api is not None
        raise common.BenchError(f"deployment not ready in {START_TIMEOUT_S:.0f} s ({len(seen)} of {expected} "
                                f"metricd workers listed); api log: {self.api.tail()}")

    @property
    def procs(self) -> list[Proc]:
        return [p for p in [self.api, *self.workers] if p is not None]

    def sample(self) -> dict[str, Any]:
        """Counters now: monotonic time, CPU by role, Redis, S3 proxy."""
        assert self.api is not None
        cpu_m: dict[int, float] = {}
        for w in self.workers:
            cpu_m.update(w.cpu())
        return {"t": time.monotonic(), "api": self.api.cpu(), "metricd": cpu_m, "bench": tree_cpu(os.getpid()),
                "services": {name: tree_cpu(pid) for name, pid in self.services.items()},
                "redis": self.redis.sample() if self.redis else None,
                "s3": self.proxy.counts() if self.proxy else None}


def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What happened between two samples."""
    out: dict[str, Any] = {"seconds": b["t"] - a["t"], "api_cpu_s": cpu_delta(a["api"], b["api"]),
                           "metricd_cpu_s": cpu_delta(a["metricd"], b["metricd"]),
                           "bench_cpu_s": cpu_delta(a["bench"], b["bench"]),
                           "services_cpu_s": {k: round(cpu_delta(a["services"].get(k, {}), v), 3)
                                              for k, v in b["services"].items()}}
    if a["redis"] and b["redis"]:
        ca, cb = a["redis"]["commands"], b["redis"]["commands"]
        out["redis"] = {"total": b["redis"]["total"] - a["redis"]["total"],
                        "commands": {k: v - ca.get(k, 0) for k, v in cb.items() if v - ca.get(k, 0) > 0},
                        "cpu_s": b["redis"]["cpu_s"] - a["redis"]["cpu_s"]}
    if a["s3"] and b["s3"]:
        out["s3"] = {k: b["s3"][k] - a["s3"][k] for k in b["s3"]}
    return out


def _per(n: float, d: float, digits: int = 3) -> float | None:
    return round(n / d, digits) if d else None


def _s3_per(s3: dict[str, int], n: float, idle: dict[str, float] | None = None, seconds: float = 0.0) -> dict:
    kinds = ("GET", "PUT", "HEAD", "DELETE", "LIST", "OTHER", "total")
    return {k: _per(s3[k] - (idle or {}).get(k, 0.0) * seconds, n, 4) for k in kinds}


def measure(dep: Deployment, p: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Idle baseline, ingest (bench.ingest.run with marks), then the reads; one figure dict."""
    target = common.Target(f"{dep.layout}-{dep.metricd}", dep.url)
    warm_up(target, timeout_s)
    idle_a = dep.sample()
    time.sleep(p["idle_s"])
    idle = diff(idle_a, dep.sample())
    marks: dict[str, dict[str, Any]] = {}

    def mark(name: str) -> None:
        marks[name] = dep.sample()

    res = ingest.run(target, "batch", p["metrics"], p["points"], p["batch"], p["threads"], timeout_s, mark=mark)
    d = diff(marks["start"], marks["drained"])
    points, requests = res["points"], res["requests"]
    series_batches = p["metrics"] * (p["points"] // p["batch"])
    out: dict[str, Any] = {
        "bench": "scaleout", "layout": dep.layout, "metricd": dep.metricd, "api_workers": 2,
        **{k: res[k] for k in ("measures_per_s", "post_measures_per_s", "drain_seconds", "seconds", "post_seconds",
                               "points", "metrics", "batch_points_per_metric", "threads", "requests", "request",
                               "verified")},
        "cpu": {
            "window_s": round(d["seconds"], 3),
            "api_cpu_s": round(d["api_cpu_s"], 3), "metricd_cpu_s": round(d["metricd_cpu_s"], 3),
            "api_cores_busy": _per(d["api_cpu_s"], d["seconds"]),
            "metricd_cores_busy": _per(d["metricd_cpu_s"], d["seconds"]),
            "measures_per_api_cpu_s": _per(points, d["api_cpu_s"], 1),
            "requests_per_api_cpu_s": _per(requests, d["api_cpu_s"], 2),
            "measures_per_metricd_cpu_s": _per(points, d["metricd_cpu_s"], 1),
            "bench_client_cpu_s": round(d["bench_cpu_s"], 3),  # the client threads and the S3 counting proxy
            **({"services_cpu_s": d["services_cpu_s"]} if d["services_cpu_s"] else {}),
        },
    }
    if "redis" in d:
        r = d["redis"]
        out["redis"] = {
            "commands": r["total"], "per_measure": _per(r["total"], points, 4),
            "per_request": _per(r["total"], requests, 2),
            "per_series_batch": _per(r["total"], series_batches, 3),
            "idle_commands_per_s": round(idle["redis"]["total"] / idle["seconds"], 1),
            "others_commands_per_s": round(dep.others_per_s, 1),
            "by_command": dict(sorted(r["commands"].items(), key=lambda kv: -kv[1])[:14]),
            "server_cpu_s": round(r["cpu_s"], 3),
            "note": "whole Redis server, gross (an upper bound): includes other clients (others_commands_per_s), "
                    "tooz heartbeats and metricd sack polling (idle_commands_per_s when nothing happens; polling "
                    "gives way to work, so the idle rate is not subtracted) and the bench's /v1/status polls",
        }
    if "s3" in d:
        idle_s3 = {k: v / idle["seconds"] for k, v in idle["s3"].items()}
        out["s3"] = {"ingest": d["s3"], "idle_per_s": {k: round(v, 2) for k, v in idle_s3.items() if v},
                     "per_measure": _s3_per(d["s3"], points, idle_s3, d["seconds"]),
                     "per_series_batch": _s3_per(d["s3"], series_batches, idle_s3, d["seconds"])}
    rates = {"redis": dep.others_per_s, "s3": {k: v / idle["seconds"] for k, v in idle["s3"].items()}
             if "s3" in idle else {}}
    out["reads"] = reads(dep, target, p["reads"], rates)
    return out


def warm_up(target: common.Target, timeout_s: float) -> None:
    """One measure through the whole path (a metric of the run's policy, not read later): the workers are up."""
    policy = common.ensure_policy(target)
    with target.client() as c:
        mid = common.expect(c.post("/v1/metric", json={"archive_policy_name": policy, "name": "warm-up"}), 201)
        body = [{"timestamp": common.iso(common.T0), "value": 1.0}]
        common.expect(c.post(f"/v1/metric/{mid.json()['id']}/measures", json=body), 202)
        common.wait_no_backlog(c, timeout_s)


def reads(dep: Deployment, target: common.Target, n: int, idle: dict[str, Any]) -> dict[str, Any]:
    """``n`` GET /v1/metric/{id}/measures over the run's metrics (each once, cycling), then the same again, with
    the metricd processes stopped (SIGSTOP, so their polling is not counted; SIGCONT after); operation counts net
    of the deployment's idle rate for S3; Redis gross, beside the share other clients' rate explains."""
    with target.client() as c:
        ids: list[str] = []
        params: dict[str, Any] = {"limit": 1000}
        while True:
            page = common.expect(c.get("/v1/metric", params=params), 200).json()
            ids += [m["id"] for m in page if m.get("name") != "warm-up"]
            if len(page) < 1000:
                break
            params["marker"] = page[-1]["id"]
        if not ids:
            raise common.BenchError("no metrics to read")
        order = [ids[i % len(ids)] for i in range(n)]
        out: dict[str, Any] = {"n": n, "distinct_metrics": min(n, len(ids)), "metricd": "stopped"}
        with _paused(dep.workers):
            for name in ("first_pass", "second_pass"):
                out[name] = _read_pass(dep, c, order, idle)
    return out


@contextlib.contextmanager
def _paused(procs: list[Proc]) -> Iterator[None]:
    """SIGSTOP the process groups, SIGCONT them afterwards whatever happens."""
    try:
        for p in procs:
            p.signal_group(signal.SIGSTOP)
        yield
    finally:
        for p in procs:
            p.signal_group(signal.SIGCONT)


def _read_pass(dep: Deployment, c: httpx.Client, order: list[str], idle: dict[str, Any]) -> dict[str, Any]:
    """One GET of each metric of ``order``: latency, API CPU, S3 requests and Redis commands per read."""
    n = len(order)
    lat: list[float] = []
    a = dep.sample()
    for mid in order:
        t = time.perf_counter()
        rows = common.expect(c.get(f"/v1/metric/{mid}/measures"), 200).json()
        lat.append(time.perf_counter() - t)
        if not rows:
            raise common.BenchError(f"metric {mid}: no measures returned")
    d = diff(a, dep.sample())
    fig: dict[str, Any] = {**common.percentiles_ms(lat), "api_cpu_s": round(d["api_cpu_s"], 3),
                           "reads_per_api_cpu_s": _per(n, d["api_cpu_s"], 1)}
    if "s3" in d:
        fig["s3_per_read"] = _s3_per(d["s3"], n, idle["s3"], d["seconds"])
    if "redis" in d:
        fig["redis_commands_per_read"] = _per(d["redis"]["total"], n, 2)  # gross: other clients' rate is beside
        fig["redis_others_per_read"] = _per(idle["redis"] * d["seconds"], n, 2)
    return fig


def run_one(layout: str, metricd: int, p: dict[str, Any], proxy: CountingProxy | None, timeout_s: float,
            keep_logs: bool) -> dict[str, Any]:
    """One deployment from scratch, measured and torn down (whatever happens)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"telescale-scaleout-{layout}-{metricd}-"))
    try:
        with contextlib.ExitStack() as stack:
            dep = Deployment(layout, metricd, tmp, stack, proxy=proxy if layout == "redis-s3" else None,
                             redis=RedisStats(REDIS_URL) if layout == "redis-s3" else None)
            LOG.info("%s, %d metricd: starting (%s)", layout, metricd, tmp)
            dep.start(p["idle_s"])
            LOG.info("%s, %d metricd: ready on %s; measuring", layout, metricd, dep.url)
            try:
                return measure(dep, p, timeout_s)
            except (common.BenchError, httpx.HTTPError) as e:
                logs = " | ".join(f"{q.role}: {q.tail(600)}" for q in dep.procs if not q.alive())
                raise common.BenchError(f"{e}{' (dead: ' + logs + ')' if logs else ''}") from e
    finally:
        if keep_logs:
            LOG.info("logs kept in %s", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def ratios(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """k vs 1 metricd within a layout and round, and redis-s3 over file for one metricd count and round."""
    ok = {(ln["round"], ln["layout"], ln["metricd"]): ln for ln in lines if "error" not in ln}
    out = []
    keys = ("measures_per_s", "post_measures_per_s", "drain_seconds")
    for (rnd, layout, n), ln in sorted(ok.items()):
        base = ok.get((rnd, layout, 1))
        if n != 1 and base:
            out.append({"bench": "scaleout_ratio", "round": rnd, "layout": layout, "compare": f"{n}_over_1_metricd",
                        **{k: _per(ln[k], base[k]) for k in keys}})
        other = ok.get((rnd, "file", n))
        if layout == "redis-s3" and other:
            out.append({"bench": "scaleout_ratio", "round": rnd, "metricd": n, "compare": "redis-s3_over_file",
                        **{k: _per(ln[k], other[k]) for k in keys}})
    return out


def summary(ratio_lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median of each ratio over the rounds (only with more than one round)."""
    groups: dict[tuple, list[dict]] = {}
    for r in ratio_lines:
        groups.setdefault((r.get("layout"), r.get("metricd"), r["compare"]), []).append(r)
    out = []
    for (layout, n, compare), rs in groups.items():
        if len(rs) > 1:
            vals = [r["measures_per_s"] for r in rs if r["measures_per_s"] is not None]
            out.append({"bench": "scaleout_ratio_median", "compare": compare, "rounds": len(rs),
                        **({"layout": layout} if layout else {"metricd": n}),
                        "measures_per_s": round(statistics.median(vals), 3) if vals else None,
                        "all": vals})
    return out


def plan(layouts: list[str], counts: list[int], rounds: int) -> Iterator[tuple[int, str, int]]:
    """Interleaved: within a round every count runs on every layout in turn; odd rounds go backwards."""
    cells = [(layout, n) for n in counts for layout in layouts]
    for r in range(rounds):
        for layout, n in cells if r % 2 == 0 else reversed(cells):
            yield r, layout, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__.split("\n\n")[0])
    ap.add_argument("--layout", action="append", choices=LAYOUTS, help="repeatable (default: both)")
    ap.add_argument("--metricd", action="append", type=int, help="metricd processes (repeatable; default 1 and 2)")
    ap.add_argument("--metrics", type=int)
    ap.add_argument("--points", type=int, help="points per metric")
    ap.add_argument("--batch", type=int, help="points per metric per request")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--reads", type=int, help="GET /v1/metric/{id}/measures per pass after the ingest")
    ap.add_argument("--rounds", type=int, default=1, help="repeat every deployment, alternating the order")
    ap.add_argument("--quick", action="store_true", help=f"small sizes: {QUICK}")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--keep-logs", action="store_true", help="keep each deployment's dir (process logs)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    for name in ("httpx", "botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    p = dict(QUICK if args.quick else FULL)
    p.update({k: getattr(args, k) for k in ("metrics", "points", "batch", "threads", "reads") if getattr(args, k)})
    layouts = list(dict.fromkeys(args.layout or LAYOUTS))
    counts = list(dict.fromkeys(args.metricd or [1, 2]))
    if p["metrics"] % p["threads"] or p["points"] % p["batch"] or min(counts) < 1:
        ap.error("--metrics must be a multiple of --threads, --points of --batch, --metricd >= 1")

    def _term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through every cleanup

    signal.signal(signal.SIGTERM, _term)
    try:
        check_services(layouts)
    except common.BenchError as e:
        emit({"bench": "scaleout", "error": str(e)})
        return 1
    lines: list[dict[str, Any]] = []
    failed = False
    with contextlib.ExitStack() as stack:
        proxy = stack.enter_context(CountingProxy(S3_URL)) if "redis-s3" in layouts else None
        for rnd, layout, n in plan(layouts, counts, args.rounds):
            try:
                line = {**run_one(layout, n, p, proxy, args.timeout, args.keep_logs), "round": rnd}
            except Exception as e:  # noqa: BLE001 - any failure (bench, psycopg, redis, boto) is a line; go on
                line, failed = {"bench": "scaleout", "layout": layout, "metricd": n, "round": rnd,
                                "error": f"{type(e).__name__}: {e}"}, True
            emit(line)
            lines.append(line)
    rl = ratios(lines)
    for r in [*rl, *summary(rl)]:
        emit(r)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
