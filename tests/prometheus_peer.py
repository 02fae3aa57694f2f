"""A real Prometheus (Debian's, installed by `make tools`) for the tests that talk to one."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.conftest import service_unavailable
from tests.server import free_port


@contextlib.contextmanager
def running(workdir: Path, config: Callable[[int], str]) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """``prometheus`` on a free loopback port with the configuration ``config(port)``: its URL, process and log.

    Without the program the test is skipped on a laptop and fails when ``CI=true``."""
    binary = shutil.which("prometheus")
    if binary is None:
        service_unavailable("prometheus is not installed (make tools installs Debian's package)")
    port = free_port()
    (workdir / "prometheus.yml").write_text(config(port))
    log_path = workdir / "prometheus.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        try:
            yield f"http://127.0.0.1:{port}", process, log_path
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
