"""Servers the bench starts itself: a Telescale on a free port, the real Gnocchi anchor and the real Aodh
anchor."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench import common

LOG = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
ANCHOR_TOOL = os.environ.get("TELESCALE_BENCH_GNOCCHI_ANCHOR", str(REPO.parent / "shared/tools/gnocchi-anchor"))
AODH_ANCHOR_TOOL = os.environ.get("TELESCALE_BENCH_AODH_ANCHOR", str(REPO.parent / "shared/tools/aodh-anchor"))
GNOCCHI_PORT = 18041
#: What the alarm benchmarks need from a server they start: webhooks to their receiver on loopback.
ALARM_BENCH_SETTINGS = ("alarming.webhook_allowed_networks=[\"127.0.0.0/8\"]",)


def anchor_storage_dir(port: int) -> str:
    return f"/tmp/gnocchi-anchor-{port}/data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((common.LOOPBACK, 0))
        return s.getsockname()[1]


def _up(url: str, path: str, auth: bool = True) -> bool:
    try:
        return httpx.get(url + path, auth=common.AUTH if auth else None, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _telescale_bin() -> str:
    for cand in (Path(sys.executable).parent / "telescale", REPO / ".venv/bin/telescale"):
        if cand.exists():
            return str(cand)
    raise common.BenchError("no telescale executable next to this python or in .venv/bin (make install)")


@contextlib.contextmanager
def telescale(start_timeout_s: float = 60.0, settings: tuple[str, ...] = ()) -> Iterator[common.Target]:
    """``telescale serve --port P --data-dir <tmp> [--set S …]``; waits for /healthcheck; stops it and removes
    the dir."""
    tmp = tempfile.mkdtemp(prefix="telescale-bench-")
    data_dir = os.path.join(tmp, "data")
    port = _free_port()
    url = f"http://{common.LOOPBACK}:{port}"
    log_path = os.path.join(tmp, "server.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [_telescale_bin(), "serve", "--port", str(port), "--data-dir", data_dir,
             *(arg for s in settings for arg in ("--set", s))],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + start_timeout_s
        while not _up(url, "/healthcheck", auth=False):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = Path(log_path).read_text(errors="replace")[-1500:]
                raise common.BenchError(f"telescale did not serve /healthcheck on {url}: {tail}")
            time.sleep(0.2)
        LOG.info("telescale up on %s (data dir %s)", url, data_dir)
        yield common.Target("telescale", url, storage_dir=os.path.join(data_dir, "storage"))
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server we started (its own session: the process group is ours)."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def telescale_or(url: str | None, settings: tuple[str, ...] = ()) -> contextlib.AbstractContextManager[common.Target]:
    """The Telescale at ``[NAME=]url``, or one started for the run with ``settings``."""
    if url is None:
        return telescale(settings=settings)
    name, _, bare = url.rpartition("=") if "=" in url.split("://")[0] else ("telescale", "", url)
    return contextlib.nullcontext(common.Target(name, common.check_loopback(bare)))


@contextlib.contextmanager
def gnocchi(port: int = GNOCCHI_PORT, keep: bool = False, timeout_s: float = 900.0) -> Iterator[common.Target]:
    """The real Gnocchi 4.7.1: reused when already up (left running), else brought up and down again."""
    url = f"http://{common.LOOPBACK}:{port}"
    started = False
    if not _up(url, "/v1/archive_policy"):
        LOG.info("bringing up the Gnocchi anchor on %s (first time installs it: minutes)", url)
        try:
            subprocess.run(
                [ANCHOR_TOOL, "up", str(port)],
                check=True,
                timeout=timeout_s,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except (OSError, subprocess.SubprocessError) as e:
            raise common.BenchError(f"gnocchi-anchor up failed: {e}") from e
        started = True
    try:
        yield common.Target("gnocchi", url, storage_dir=anchor_storage_dir(port))
    finally:
        if started and not keep:
            subprocess.run(
                [ANCHOR_TOOL, "down", str(port)],
                check=False,
                timeout=300,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )


@contextlib.contextmanager
def aodh(port: int = 0, gnocchi_port: int = 0, evaluation_interval: float | None = None,
         timeout_s: float = 900.0) -> Iterator[tuple[str, str]]:
    """The real Aodh 23 over a fresh Gnocchi anchor (``aodh-anchor up``; free ports when 0), taken down
    after; yields (Aodh URL, Gnocchi URL). ``up`` resets whatever anchor ran on those ports."""
    port, gnocchi_port = port or _free_port(), gnocchi_port or _free_port()
    env = dict(os.environ)
    if evaluation_interval is not None:
        env["AODH_EVALUATION_INTERVAL"] = str(int(evaluation_interval))
    LOG.info("bringing up the Aodh anchor on %d over Gnocchi on %d (first time installs it: minutes)", port,
             gnocchi_port)
    try:
        try:
            subprocess.run([AODH_ANCHOR_TOOL, "up", str(port), str(gnocchi_port)], check=True, timeout=timeout_s,
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except subprocess.CalledProcessError as e:
            raise common.BenchError(f"aodh-anchor up failed: {e.stderr.decode(errors='replace')[-500:]}") from e
        except (OSError, subprocess.SubprocessError) as e:
            raise common.BenchError(f"aodh-anchor up failed: {e}") from e
        yield f"http://{common.LOOPBACK}:{port}", f"http://{common.LOOPBACK}:{gnocchi_port}"
    finally:
        subprocess.run([AODH_ANCHOR_TOOL, "down", str(port), str(gnocchi_port)], check=False, timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
