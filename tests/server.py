"""Start a real `telescale serve` in a subprocess for tests that talk HTTP to it."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

TELESCALE = [sys.executable, "-m", "telescale.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen
    log: Path

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (API and processing workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def kill_main(self, sig: int = signal.SIGKILL, timeout: float = 30.0) -> int:
        """Signal the main process alone, as the OOM killer or a supervisor does; returns its exit code."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def children(self) -> list[psutil.Process]:
        """Every live descendant of the main process (API workers, processing workers, helpers)."""
        return psutil.Process(self.process.pid).children(recursive=True)


def titles(procs: Sequence[psutil.Process]) -> list[str]:
    """What ps shows for each process (its title when it set one)."""
    found = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            found.append(" ".join(proc.cmdline()).strip())
    return found


def wait_for_roles(main: int, roles: Sequence[str], timeout: float = 60.0) -> list[psutil.Process]:
    """The descendants of process ``main`` once every role shows in a title (main's included), as many
    times as ``roles`` lists it: the workers have started and named themselves."""
    deadline = time.monotonic() + timeout
    while True:
        children = psutil.Process(main).children(recursive=True)
        shown = titles([psutil.Process(main), *children])
        if all(sum(role in t for t in shown) >= roles.count(role) for role in roles):
            return children
        assert time.monotonic() < deadline, f"{list(roles)} not all in {shown}"
        time.sleep(0.1)


def still_running(procs: Sequence[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes still running after up to ``timeout`` seconds (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def port_in_use(port: int) -> bool:
    """Whether a socket still listens on ``port`` (any address), read from the kernel's socket table.

    Not a connect(): a connect to a free port in the ephemeral range can, rarely, connect to itself.
    """
    return bool(listeners(port))


def listeners(port: int) -> list[str]:
    """Who listens on ``port``: each listening socket's owner as ps shows it (or its pid, or "?")."""
    found = []
    for conn in psutil.net_connections("inet"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            try:
                found.append(f"{conn.pid}: {' '.join(psutil.Process(conn.pid).cmdline())}")
            except (psutil.Error, ValueError):
                found.append(str(conn.pid or "?"))
    return found


def wait_port_free(port: int, timeout: float) -> list[str]:
    """Wait up to ``timeout`` seconds for nothing to listen on ``port``; the listeners left, if any.

    A killed process closes its sockets as it exits, a moment after the signal, not at it.
    """
    deadline = time.monotonic() + timeout
    while (left := listeners(port)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


#: Test servers run no scaler unless the test asks for one (``SCALER``): one process fewer to start.
DEFAULTS = ("scaling.scalers=0", "processing.workers=1")
SCALER = "scaling.scalers=1"


def serve_command(data_dir: Path, port: int, overrides: Sequence[str] = ()) -> list[str]:
    """`telescale serve` on 127.0.0.1:port with its data in data_dir (``overrides`` win over :data:`DEFAULTS`)."""
    cmd = [*TELESCALE, "serve", "--port", str(port), "--data-dir", str(data_dir), "--set", "api.host=127.0.0.1"]
    for item in (*DEFAULTS, *overrides):
        cmd += ["--set", item]
    return cmd


def healthy(port: int) -> bool:
    """Whether GET /healthcheck on 127.0.0.1:port answers 200.  Plain http.client: a probe every 50 ms must
    not compete with the starting server for CPU (each ``httpx.get`` builds an SSL context: ~20 ms of CPU)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/healthcheck")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def start(data_dir: Path, overrides: Sequence[str] = (), port: int | None = None, timeout: float = 60.0,
          ) -> Server:
    port = port or free_port()
    log = data_dir.parent / f"{data_dir.name}-server.log"
    cmd = serve_command(data_dir, port, overrides)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"telescale serve exited with {proc.returncode}: {log.read_text()[-3000:]}")
        if healthy(port):
            return Server(url, port, data_dir, proc, log)
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"telescale serve did not answer within {timeout} s: {log.read_text()[-3000:]}")


@contextlib.contextmanager
def running(data_dir: Path, overrides: Sequence[str] = (), **kwargs) -> Iterator[Server]:
    server = start(data_dir, overrides, **kwargs)
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.kill(signal.SIGTERM)
        with contextlib.suppress(Exception):
            server.kill(signal.SIGKILL)
