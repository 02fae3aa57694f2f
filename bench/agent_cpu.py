"""The agent's own CPU use at 1,000 series scraped every 10 s (issue target: ≤ 2 % of one core).

A local exporter (a thread of this process) serves ``--series`` gauges in the text exposition format with
new values on every scrape; a real `telescale agent` process scrapes it every ``--interval`` seconds and
publishes to a real `telescale serve` (started for the run). After a warm-up (resource and metric creation,
imports) the agent process's user + system CPU time is read with psutil over ``--seconds``; the figure is
that time over the wall time, in % of one core. One JSON line on stdout.

    .venv/bin/python -m bench.agent_cpu [--series 1000] [--interval 10] [--seconds 180] [--warmup 40]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import psutil

from bench import servers
from bench.textserver import text_server

LOG = logging.getLogger("bench.agent_cpu")


def exporter(series: int) -> ThreadingHTTPServer:
    """An exporter of ``series`` gauges ``bench_value{i="…"}`` on a free loopback port (served by a thread)."""

    def answer(path: str) -> tuple[int, bytes]:
        lines = ["# TYPE bench_value gauge"]
        lines += [f'bench_value{{i="{i}"}} {random.random():.6f}' for i in range(series)]
        return 200, ("\n".join(lines) + "\n").encode()

    httpd = text_server(answer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=180.0, help="measured time, after the warm-up")
    parser.add_argument("--warmup", type=float, default=40.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    httpd = exporter(args.series)
    with servers.telescale() as target, tempfile.TemporaryDirectory(prefix="agent-cpu-") as tmp:
        config = Path(tmp) / "agent.yaml"
        config.write_text(json.dumps({  # JSON is YAML
            "api": {"url": target.url},
            "sources": {"host": {"enabled": False},
                        "prometheus": [{"url": f"http://127.0.0.1:{httpd.server_port}/metrics", "job": "bench",
                                        "interval": args.interval}]},
            "publisher": {"buffer_dir": str(Path(tmp) / "buffer"), "flush_interval": 5}}))
        with open(Path(tmp) / "agent.log", "wb") as log:
            agent = subprocess.Popen([servers._telescale_bin(), "agent", "--config", str(config),
                                      "--log-level", "WARNING"], stdout=log, stderr=subprocess.STDOUT)
        try:
            proc = psutil.Process(agent.pid)
            LOG.info("agent %d scraping %d series every %g s; warm-up %g s", agent.pid, args.series, args.interval,
                     args.warmup)
            time.sleep(args.warmup)
            cpu0, t0 = cpu_seconds(proc), time.monotonic()
            time.sleep(args.seconds)
            cpu1, t1 = cpu_seconds(proc), time.monotonic()
            stats = json.loads((Path(tmp) / "buffer" / "stats.json").read_text())
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)
            httpd.shutdown()
    percent = 100.0 * (cpu1 - cpu0) / (t1 - t0)
    print(json.dumps({"bench": "agent_cpu", "series": args.series, "interval_s": args.interval,
                      "measured_s": round(t1 - t0, 1), "cpu_percent_of_one_core": round(percent, 3),
                      "target_percent": 2.0, "samples_acknowledged": stats["acknowledged"],
                      "samples_produced": stats["produced"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
