"""Shared client and helpers: targets, auth, archive policy, measure generation, backlog wait."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
import urllib.parse
import uuid

import httpx
import numpy as np

AUTH = httpx.BasicAuth("admin", "")
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
LOOPBACK = "127.0.0.1"
# Fixed, recent start for every series: runs are reproducible and comparable across days.
T0 = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())
STEP_S = 10
POLICY_DEFINITION = [
    {"granularity": "1 minute", "timespan": "1 day"},
    {"granularity": "5 minutes", "timespan": "30 days"},
]


class BenchError(RuntimeError):
    """A benchmark could not produce its figure (bad status, timeout, wrong result)."""


@dataclasses.dataclass
class Target:
    """One server under test, plus what the bench knows about it."""

    name: str
    url: str
    storage_dir: str | None = None  # directory whose file sizes are the stored bytes
    policy: str | None = None  # archive policy created for this run
    policy_body: dict | None = None

    def client(self) -> httpx.Client:
        return client(self.url)


def check_loopback(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname != LOOPBACK or parts.port is None:
        raise SystemExit(f"refusing {url!r}: only http://{LOOPBACK}:PORT targets are allowed")
    return url.rstrip("/")


def client(url: str) -> httpx.Client:
    """One keep-alive client; use one per thread."""
    return httpx.Client(base_url=url, auth=AUTH, timeout=TIMEOUT, headers={"Accept": "application/json"})


def expect(resp: httpx.Response, *codes: int) -> httpx.Response:
    if resp.status_code not in codes:
        raise BenchError(f"{resp.request.method} {resp.request.url.path} -> {resp.status_code}: {resp.text[:300]}")
    return resp


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def ensure_policy(target: Target) -> str:
    """Create the run's archive policy (same definition on every target) once."""
    if target.policy:
        return target.policy
    name = f"bench-{uuid.uuid4().hex[:8]}"
    with target.client() as c:
        expect(c.post("/v1/archive_policy", json={"name": name, "definition": POLICY_DEFINITION}), 201)
        target.policy_body = expect(c.get(f"/v1/archive_policy/{name}"), 200).json()
    target.policy = name
    return name


def create_metrics(c: httpx.Client, policy: str, n: int) -> list[str]:
    return [expect(c.post("/v1/metric", json={"archive_policy_name": policy}), 201).json()["id"] for _ in range(n)]


def gauge(n_metrics: int, n_points: int, step_s: int = STEP_S, seed: int = 42) -> tuple[list[str], np.ndarray]:
    """Timestamps (ISO strings) and a (n_metrics, n_points) array of realistic gauge values."""
    rng = np.random.default_rng(seed)
    t = T0 + step_s * np.arange(n_points, dtype=np.int64)
    phase = rng.uniform(0, 2 * np.pi, size=(n_metrics, 1))
    values = np.round(50 + 20 * np.sin(t / 600 + phase) + rng.normal(0, 2, (n_metrics, n_points)), 1)
    return [iso(x) for x in t.tolist()], values


def measures_json(stamps: list[str], values: np.ndarray) -> str:
    """JSON list of {timestamp, value}, built by hand: fast and identical for every target."""
    items = ",".join(f'{{"timestamp":"{s}","value":{v:.1f}}}' for s, v in zip(stamps, values.tolist(), strict=True))
    return f"[{items}]"


def backlog(c: httpx.Client) -> int:
    body = expect(c.get("/v1/status"), 200).json()
    try:
        return int(body["storage"]["summary"]["measures"])
    except (KeyError, TypeError, ValueError) as e:
        raise BenchError(f"/v1/status has no storage.summary.measures: {json.dumps(body)[:300]}") from e


def wait_no_backlog(c: httpx.Client, timeout_s: float, poll_s: float = 0.05) -> float:
    """Poll /v1/status until no measures are waiting; returns the monotonic time it was seen empty."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if backlog(c) == 0:
            return time.monotonic()
        time.sleep(poll_s)
    raise BenchError(f"backlog not drained after {timeout_s:.0f} s")


def percentiles_ms(samples_s: list[float]) -> dict[str, float]:
    a = np.asarray(samples_s) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
    }


def run_threads(target: Target, work: list[list], do_one, timeout_s: float) -> dict:
    """Run ``do_one(client, item)`` for every item, one thread and one keep-alive client per list.

    All threads start together (barrier); returns start/end monotonic times and request latencies.
    Bounded: every thread stops at ``timeout_s`` after the start or as soon as another one fails.
    """
    box = {"deadline": 0.0}
    stop = threading.Event()
    results: list[dict] = [{"latencies": []} for _ in work]

    def _go() -> None:
        box["start"] = time.monotonic()
        box["deadline"] = box["start"] + timeout_s

    def _thread(items: list, result: dict) -> None:
        with target.client() as c:
            barrier.wait()
            try:
                for item in items:
                    if stop.is_set() or time.monotonic() > box["deadline"]:
                        raise BenchError("stopped: timeout or another thread failed")
                    t = time.perf_counter()
                    do_one(c, item)
                    result["latencies"].append(time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e
                stop.set()
            result["end"] = time.monotonic()

    barrier = threading.Barrier(len(work), action=_go)
    pool = [threading.Thread(target=_thread, args=(w, r), daemon=True) for w, r in zip(work, results, strict=True)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(timeout_s + 60)
    errors = [r["error"] for r in results if "error" in r]
    if errors or any(th.is_alive() for th in pool):
        raise BenchError(f"{errors[0] if errors else 'threads hung'}")
    return {
        "start": box["start"],
        "end": max(r["end"] for r in results),
        "latencies": [x for r in results for x in r["latencies"]],
    }
