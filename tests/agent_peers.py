"""Real processes around a `telescale agent` for the tests: Debian's prometheus-node-exporter and the agent."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import service_unavailable
from tests.server import TELESCALE, free_port

NODE_EXPORTER = "prometheus-node-exporter"
#: a few series only (creating hundreds of metrics would dominate the test's time)
NODE_EXPORTER_ARGS = ("--collector.disable-defaults", "--collector.loadavg", "--collector.time",
                      "--web.disable-exporter-metrics")


@contextlib.contextmanager
def node_exporter(args: Sequence[str] = NODE_EXPORTER_ARGS) -> Iterator[str]:
    """A real node-exporter on a free loopback port; yields its /metrics URL."""
    binary = shutil.which(NODE_EXPORTER) or shutil.which("node_exporter")
    if binary is None:
        service_unavailable(f"{NODE_EXPORTER} is not installed (make tools installs it)")
    port = free_port()
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, "node-exporter did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.kill()
        proc.wait(10)


@dataclass
class Agent:
    process: subprocess.Popen
    buffer_dir: Path
    log: Path

    def stats(self) -> dict:
        try:
            return json.loads((self.buffer_dir / "stats.json").read_text())
        except (OSError, ValueError):
            return {}

    def stop(self, timeout: float = 120) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@contextlib.contextmanager
def agent(config: str, workdir: Path) -> Iterator[Agent]:
    """A real `telescale agent` process on ``config`` (YAML), its log in ``workdir/agent.log``."""
    path = workdir / "agent.yaml"
    path.write_text(config)
    log = workdir / "agent.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([*TELESCALE, "agent", "--config", str(path)], stdout=out, stderr=subprocess.STDOUT)
    running = Agent(proc, workdir / "buffer", log)
    try:
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
