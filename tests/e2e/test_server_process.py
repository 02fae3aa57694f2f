"""What an operator sees of a running `telescale serve` / `telescale metricd`: its log lines, the role of
each process in `ps`, and a prompt, clean stop on SIGTERM sent to the main process alone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests import server

ADMIN = ("admin", "")
STOP_SECONDS = 15.0  # graceful stop of every process on a busy test machine


def _wait_for_line(log: Path, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        for line in log.read_text().splitlines():
            if text in line:
                return line
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def test_ps_tells_the_roles_apart(tmp_path: Path) -> None:
    with server.running(tmp_path / "data", ["api.workers=2", "processing.workers=2"]) as srv:
        api = f"telescale: api worker (port {srv.port})"
        children = server.wait_for_roles(srv.process.pid, [
            f"telescale serve: main (port {srv.port})", api, api,
            "telescale: metricd worker 0", "telescale: metricd worker 1"])
        assert sum(api in t for t in server.titles(children)) == 2, server.titles(children)


def test_start_lines_name_the_setup_without_the_password(tmp_path: Path, postgresql_url: str) -> None:
    password = "s3cret-pw"  # the test server trusts loopback, so any password connects
    scheme, _, rest = postgresql_url.partition("://")
    user, _, host = rest.rpartition("@")
    url = f"{scheme}://{user or 'postgres'}:{password}@{host}"
    overrides = ["api.workers=2", "processing.workers=1", f'indexer.url="{url}"']
    with server.running(tmp_path / "data", overrides) as srv:
        httpx.get(srv.url + "/v1/archive_policy", auth=ADMIN).raise_for_status()
        listening = _wait_for_line(srv.log, "listening on")
        ready = _wait_for_line(srv.log, "ready: serving")
        # a second server on the same port says why it cannot start
        other = subprocess.run(server.serve_command(tmp_path / "other", srv.port, ["processing.workers=0"]),
                               capture_output=True, text=True, timeout=120)
        log = srv.log.read_text()
    assert other.returncode != 0 and "Address already in use" in other.stderr, other.stderr[-3000:]
    assert f"127.0.0.1:{srv.port}" in listening
    assert "auth basic" in listening and str(tmp_path / "data") in listening
    assert "2 API workers" in listening and "1 processing workers" in listening
    assert f"{user or 'postgres'}:***@{host.split('/')[0]}" in listening, listening
    assert password not in log
    assert f"http://127.0.0.1:{srv.port}" in ready
    assert "GET /v1/archive_policy" not in log  # no access log by default


def test_access_log_setting(tmp_path: Path) -> None:
    with server.running(tmp_path / "data", ["api.access_log=true", "processing.workers=0"]) as srv:
        httpx.get(srv.url + "/v1/archive_policy", auth=ADMIN).raise_for_status()
        line = _wait_for_line(srv.log, "GET /v1/archive_policy")
    assert " 200" in line


@pytest.mark.parametrize("api_workers", [1, 2])
def test_sigterm_stops_serve_and_all_its_workers(tmp_path: Path, api_workers: int) -> None:
    data = tmp_path / "data"
    with server.running(data, [f"api.workers={api_workers}", "processing.workers=2"]) as srv:
        children = server.wait_for_roles(srv.process.pid, ["metricd worker 0", "metricd worker 1"])
        assert srv.kill_main(signal.SIGTERM, timeout=STOP_SECONDS) == 0
        assert not server.still_running(children, STOP_SECONDS), server.titles(children)
        assert not server.port_in_use(srv.port)
    text = srv.log.read_text()
    assert "metricd worker 0 stopped" in text and text.rstrip().endswith("telescale.service: stopped"), text[-3000:]
    assert not list((data / "processing").iterdir()), "a worker did not stop cleanly (heartbeat left)"


def test_sigterm_stops_metricd_and_its_workers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run([*server.TELESCALE, "upgrade", "--data-dir", str(data)], check=True, capture_output=True)
    log = tmp_path / "metricd.log"
    with open(log, "wb") as out:
        cmd = [*server.TELESCALE, "metricd", "--data-dir", str(data), "--set", "processing.workers=2"]
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        children = server.wait_for_roles(proc.pid, ["telescale metricd: main", "metricd worker 0",
                                                     "metricd worker 1"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_SECONDS) == 0, log.read_text()[-3000:]
        assert not server.still_running(children, STOP_SECONDS), server.titles(children)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its group, after a failure
        proc.wait(30)
    text = log.read_text()
    assert "metricd worker 0 stopped" in text and "metricd worker 1 stopped" in text, text[-3000:]
    assert not list((data / "processing").iterdir()), "a worker did not stop cleanly (heartbeat left)"

