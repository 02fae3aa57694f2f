"""Real processes around a `telescale agent` for the tests: Debian's prometheus-node-exporter, exporters served
by the test, and the agent."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.textserver import text_server
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


@dataclass
class Scrape:
    timestamp: float  # seconds, as the exposition states it (milliseconds)
    value: float


class CounterExporter:
    """Exporters served by the test: ``/metrics/<i>`` for i < ``targets``, each one counter ``work_total``
    stamped with its serving time, growing by a random amount at every scrape. Until `start` each answers
    503 (the agents' scrapes fail), so the test chooses when counting begins. Every scrape served is
    recorded per target (`scrapes`), which gives the rates the agents must compute."""

    def __init__(self, targets: int) -> None:
        self.targets = targets
        self.scrapes: dict[int, list[Scrape]] = {i: [] for i in range(targets)}
        self.serving = False
        self._lock = threading.Lock()
        self._random = random.Random(7)
        self.server = text_server(self._answer)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _answer(self, path: str) -> tuple[int, bytes]:
        index = path.rsplit("/", 1)[-1]
        if not index.isdigit() or int(index) not in self.scrapes:
            return 404, b"no such target\n"
        if not self.serving:
            return 503, b"not yet\n"
        with self._lock:
            series = self.scrapes[int(index)]
            value = (series[-1].value if series else 0.0) + self._random.randint(1, 1000)
            millis = int(time.time() * 1000)
            series.append(Scrape(millis / 1000, value))
        return 200, f"# TYPE work counter\nwork_total {value} {millis}\n".encode()

    def start(self) -> None:
        self.serving = True

    def __enter__(self) -> CounterExporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
