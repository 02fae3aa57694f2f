"""statsd over a real UDP socket into the listener `telescale serve` starts with `statsd.enabled`: counters,
gauges, timers, sets and tags arrive as metrics of the `statsd` resource; malformed lines are counted and
logged, and the listener keeps going."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from tests import server
from tests.api.conftest import ADMIN

DATAGRAMS = [
    b"hits:1|c\nhits:1|c\nhits:1|c|@0.5\nreq:1|c|#route:home",
    b"temp:20|g\ntemp:+2|g",
    b"this is not statsd\nrt:10|ms\nrt:30|ms\nbad:1|zz",
    b"users:alice|s\nusers:bob|s\nusers:alice|s",
]
EXPECTED = {"hits": 4.0, 'req{route="home"}': 1.0, "temp": 22.0, "rt.mean": 20.0, "rt.max": 30.0, "rt.count": 2.0,
            "users": 2.0}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _total(client: httpx.Client, name: str, method: str) -> float:
    """The sum over every stored period of ``method`` (a flush may fall on either side of a period's end)."""
    r = client.get(f"/v1/resource/generic/statsd/metric/{quote(name, safe='')}/measures",
                   params={"refresh": "true", "aggregation": method})
    assert r.status_code == 200, r.text
    return sum(row[2] for row in r.json())


def _wait_for_log(log: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def _wait_for_metrics(client: httpx.Client, log: Path, timeout: float = 60.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/v1/resource/generic/statsd")
        metrics = r.json()["metrics"] if r.status_code == 200 else {}
        if set(EXPECTED) <= set(metrics):
            return metrics
        assert time.monotonic() < deadline, f"statsd metrics missing: {sorted(metrics)}\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def test_statsd_datagrams_become_metrics_of_the_statsd_resource(tmp_path: Path) -> None:
    port = free_udp_port()
    overrides = ["statsd.enabled=true", f"statsd.port={port}", "statsd.flush_interval=0.5"]
    with server.running(tmp_path / "data", overrides) as srv, \
            httpx.Client(base_url=srv.url, headers={**ADMIN, "accept": "application/json"}, timeout=30) as client, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _wait_for_log(srv.log, "statsd listening on UDP")  # a datagram sent before the bind is lost
        for datagram in DATAGRAMS:
            sock.sendto(datagram, ("127.0.0.1", port))
        _wait_for_metrics(client, srv.log)
        got = {name: _total(client, name, "sum" if name in ("hits", 'req{route="home"}') else "mean")
               for name in EXPECTED}
        assert got == EXPECTED
        sock.sendto(b"\xff\xfe not utf-8", ("127.0.0.1", port))
        sock.sendto(b"after:1|c", ("127.0.0.1", port))
        deadline = time.monotonic() + 30
        while "after" not in client.get("/v1/resource/generic/statsd").json()["metrics"]:
            assert time.monotonic() < deadline, srv.log.read_text()[-3000:]
            time.sleep(0.2)
        assert server.titles(srv.children()).count("telescale: statsd 0") == 1
    log = srv.log.read_text()
    assert "malformed statsd lines refused" in log and "'this is not statsd'" in log
