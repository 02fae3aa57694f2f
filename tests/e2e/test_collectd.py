"""A real collectd (Debian's) posting with write_http JSON to a real `telescale serve`: its cpu, memory and
load metrics arrive under the host's `collectd` resource, readable through `/v1` with sane values."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

from tests import server
from tests.api.conftest import ADMIN
from tests.conftest import service_unavailable

HOST = "e2e-collectd"
WANTED = ("cpu-0.cpu-idle", "memory.memory-used", "load.load.shortterm")
CONFIG = """\
Interval 1
FQDNLookup false
Hostname "{host}"
BaseDir "{dir}"
PIDFile "{dir}/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File STDOUT
</Plugin>
LoadPlugin cpu
LoadPlugin memory
LoadPlugin load
LoadPlugin write_http
<Plugin write_http>
  <Node "telescale">
    URL "{url}/v1/collectd"
    User "admin"
    Password "unused"
    Format "JSON"
    StoreRates false
  </Node>
</Plugin>
"""


@contextlib.contextmanager
def collectd(url: str, work: Path) -> Iterator[Path]:
    """collectd in the foreground with a config of the test's own; yields its log."""
    binary = shutil.which("collectd") or "/usr/sbin/collectd"
    if not Path(binary).exists():
        service_unavailable("collectd is not installed (make tools installs collectd-core)")
    config, log = work / "collectd.conf", work / "collectd.log"
    config.write_text(CONFIG.format(host=HOST, dir=work, url=url))
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, "-f", "-C", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        yield log
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        proc.kill()  # nothing to do when it has exited
        proc.wait()


def _metrics(client: httpx.Client, log: Path, timeout: float = 60.0) -> dict[str, str]:
    """The host's metrics once every wanted one exists."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/resource/collectd/{HOST}")
        metrics = r.json()["metrics"] if r.status_code == 200 else {}
        if all(name in metrics for name in WANTED):
            return metrics
        assert time.monotonic() < deadline, f"collectd's metrics did not arrive: {metrics}\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


def _latest(client: httpx.Client, metric: str, method: str = "mean") -> float:
    r = client.get(f"/v1/metric/{metric}/measures", params={"refresh": "true", "aggregation": method})
    assert r.status_code == 200, r.text
    return r.json()[-1][2]


def test_real_collectd_write_http_metrics_arrive_with_sane_values(tmp_path: Path) -> None:
    with server.running(tmp_path / "data") as srv, collectd(srv.url, tmp_path) as log, \
            httpx.Client(base_url=srv.url, headers={**ADMIN, "accept": "application/json"}, timeout=30) as client:
        metrics = _metrics(client, log)
        resource = client.get(f"/v1/resource/collectd/{HOST}").json()
        assert resource["host"] == HOST and resource["creator"] == "admin"
        used = _latest(client, metrics["memory.memory-used"])
        assert 0 < used < psutil.virtual_memory().total
        assert 0 <= _latest(client, metrics["load.load.shortterm"]) < 10 * psutil.cpu_count()
        idle = metrics["cpu-0.cpu-idle"]
        first = _latest(client, idle, "max")
        time.sleep(2.5)
        assert _latest(client, idle, "max") > first > 0, "cpu idle jiffies are a running total (derive, stored raw)"
    complaints = [line for line in log.read_text().splitlines() if "write_http plugin" in line]
    assert not complaints, "\n".join(complaints[:5])
