"""Process wiring: build the drivers from settings, and run `serve` = API + processing workers.

`telescale serve` runs uvicorn in this process (which starts `api.workers` API worker processes when
there are several) and a supervised pool of processing (metricd) worker processes beside it, so slow
aggregation never stalls the API.  Every child ends with its parent, however the parent died
(:mod:`telescale.lifecycle`), so a restart always finds the port free; a processing worker that dies
is restarted.  Every piece of state lives in the indexer, incoming and storage, so killing anything at
any moment loses no accepted measure.
"""

from __future__ import annotations

import http.client
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from telescale import coordination, lifecycle
from telescale.config import Settings
from telescale.drivers import Drivers, build_incoming
from telescale.indexer import Indexer
from telescale.processing import heartbeat

LOG = logging.getLogger(__name__)
RESOLVED_SETTINGS_ENV = "TELESCALE_RESOLVED_SETTINGS"
MAIN_PID_ENV = "TELESCALE_MAIN_PID"  # the process API workers must not outlive
HEARTBEAT_SECONDS = 2.0
# Process titles (`ps`), by role; `_workers_started` counts children by them.
API_WORKER_TITLE = "telescale: api worker"
METRICD_WORKER_TITLE = "telescale: metricd worker"
EVALUATOR_TITLE = "telescale: alarm evaluator"
SCALER_TITLE = "telescale: scaler"
STATSD_TITLE = "telescale: statsd"
METRICD, EVALUATOR, SCALER, STATSD = "metricd", "evaluator", "scaler", "statsd"  # the kinds of worker processes
METRICD_GROUP = "metricd"  # the tooz group whose hash ring spreads sacks over metricd workers


def heartbeat_dir(settings: Settings, kind: str = "processing") -> Path:
    """Where the workers of a kind (``processing``, ``alarming``, ``scaling``) publish their heartbeats."""
    return settings.data_path / kind


def _group_of(kind: str) -> str:
    from telescale.alarming.evaluator import EVALUATOR_GROUP
    from telescale.scaling.process import SCALER_GROUP

    return {"processing": METRICD_GROUP, "alarming": EVALUATOR_GROUP, "scaling": SCALER_GROUP}[kind]


def workers_alive(settings: Settings, kind: str = "processing",
                  view: coordination.GroupView | None = None) -> dict[str, dict[str, Any]]:
    """Workers of a kind that reported in the last few heartbeats, with their statistics, by name: the members
    of the kind's group on ``coordination.url`` (every host) when there is a ``view`` of it, else the heartbeat
    files of this host's data dir."""
    if view is not None:
        return view.members(_group_of(kind))
    return heartbeat.alive(heartbeat_dir(settings, kind), 3 * HEARTBEAT_SECONDS)


def upgrade(settings: Settings) -> None:
    settings.data_path.mkdir(parents=True, exist_ok=True)
    indexer = Indexer(settings.indexer_url)
    try:
        indexer.upgrade(create_default_archive_policies=settings.indexer.create_default_archive_policies)
    finally:
        indexer.dispose()


def app_factory() -> Any:
    """uvicorn entry point for API worker processes: settings arrive resolved in the environment."""
    from telescale.api.app import create_app
    from telescale.config import Settings as _Settings

    settings = settings_from_json(os.environ[RESOLVED_SETTINGS_ENV])
    assert isinstance(settings, _Settings)
    lifecycle.bind_to_parent(int(os.environ.get(MAIN_PID_ENV, os.getppid())))
    lifecycle.set_title(f"{API_WORKER_TITLE} (port {settings.api.port})")
    configure_logging(settings)
    return create_app(settings, Drivers.build(settings))


def settings_from_json(text: str) -> Settings:
    from telescale import config

    data = json.loads(text)
    overrides = [f"{section}.{key}={json.dumps(value)}" for section, values in data.items()
                 for key, value in values.items()]
    return config.load(environ={}, overrides=overrides)


def _publish_heartbeat(path: Path, stats: Any, stop: threading.Event) -> None:
    """Rewrite this worker's heartbeat with its statistics until ``stop``."""
    while True:
        try:
            heartbeat.publish(path, stats.to_dict())
        except OSError as e:
            LOG.warning("cannot write heartbeat %s: %s", path, e)
        if stop.wait(HEARTBEAT_SECONDS / 2):
            return


def _run_metricd(settings: Settings, index: int, count: int, stop: threading.Event, stats: Any) -> None:
    """A metricd worker; with ``coordination.url`` it owns its share of the ``metricd`` group's hash ring of
    sacks (every metricd of every host), else ``sack % count == index``."""
    from telescale.processing.worker import run_worker

    coordinator = (coordination.build_coordinator(settings, METRICD, status=stats.to_dict)
                   if settings.coordination.url else None)
    try:
        owns = coordinator.join(METRICD_GROUP).mine if coordinator is not None else None
        run_worker(index, count, lambda: Drivers.build(settings, read_cache=False), stop, settings.processing.delay,
                   janitor_interval=settings.processing.janitor_interval, janitor_settings=settings.janitor,
                   stats=stats, quiet=settings.processing.quiet, max_wait=settings.processing.max_wait, owns=owns)
    finally:
        if coordinator is not None:
            coordinator.stop()


def _run_evaluator(settings: Settings, index: int, count: int, stop: threading.Event, stats: Any) -> None:
    from telescale.alarming.process import run_evaluator

    run_evaluator(settings, stop, stats)


def _run_scaler(settings: Settings, index: int, count: int, stop: threading.Event, stats: Any) -> None:
    from telescale.scaling.process import run_scaler

    run_scaler(settings, stop, stats)


def _run_statsd(settings: Settings, index: int, count: int, stop: threading.Event, stats: Any) -> None:
    from telescale.ingest.statsd_server import StatsdServer

    indexer, incoming = Indexer(settings.indexer_url), build_incoming(settings)
    try:
        StatsdServer(settings.statsd, indexer, incoming, stats).serve(stop)
    finally:
        indexer.dispose()
        incoming.close()


def _new_stats(role: str) -> Any:
    if role == STATSD:
        from telescale.ingest.statsd_server import StatsdStats

        return StatsdStats()
    if role == SCALER:
        from telescale.scaling.process import ScalerStats

        return ScalerStats()
    if role == EVALUATOR:
        from telescale.alarming.evaluator import EvaluatorStats

        return EvaluatorStats()
    from telescale.processing.worker import WorkerStats

    return WorkerStats()


#: What each kind of child process runs, its process title and where its heartbeat goes.
ROLES = {METRICD: (_run_metricd, METRICD_WORKER_TITLE, "processing"),
         EVALUATOR: (_run_evaluator, EVALUATOR_TITLE, "alarming"),
         SCALER: (_run_scaler, SCALER_TITLE, "scaling"), STATSD: (_run_statsd, STATSD_TITLE, "statsd")}


def _worker_main(settings_json: str, index: int, count: int, parent: int, role: str = METRICD) -> None:
    """Entry point of one worker process (processing or alarm evaluation)."""
    body, title, beats = ROLES[role]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lifecycle.bind_to_parent(parent)
    lifecycle.set_title(f"{title} {index}")
    settings = settings_from_json(settings_json)
    configure_logging(settings)
    # the pid too: several `telescale metricd` on one data dir each have a worker 0
    beat = heartbeat_dir(settings, beats) / f"{role}-{os.uname().nodename}-{index}-{os.getpid()}"
    beat.parent.mkdir(parents=True, exist_ok=True)
    stats = _new_stats(role)
    publisher = threading.Thread(target=_publish_heartbeat, args=(beat, stats, stop), name="heartbeat",
                                 daemon=True)
    publisher.start()
    try:
        body(settings, index, count, stop, stats)
    finally:
        stop.set()
        publisher.join()
        beat.unlink(missing_ok=True)
    lifecycle.exit_now(0)


class WorkerPool:
    """Keeps `processing.workers` processing processes (or `alarming.evaluators` evaluator processes) running
    until stopped."""

    def __init__(self, settings: Settings, role: str = METRICD) -> None:
        self.settings = settings
        self.role = role
        self.count = {METRICD: settings.processing.workers, EVALUATOR: settings.alarming.evaluators,
                      SCALER: settings.scaling.scalers, STATSD: int(settings.statsd.enabled)}[role]
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list[multiprocessing.process.BaseProcess | None] = [None] * self.count
        self.stopping = threading.Event()
        self.spawning = threading.Lock()  # no restart slips in while stop() terminates the workers
        self.thread = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)

    def _spawn(self, index: int) -> None:
        settings_json = json.dumps(self.settings.to_dict())
        proc = self.ctx.Process(target=_worker_main, args=(settings_json, index, self.count, os.getpid(), self.role),
                                name=f"telescale-{self.role}-{index}", daemon=True)
        proc.start()
        self.procs[index] = proc
        LOG.info("started %s worker %d (pid %d)", self.role, index, proc.pid)

    def start(self) -> None:
        for i in range(self.count):
            self._spawn(i)
        self.thread.start()

    def _supervise(self) -> None:
        """Restart dead workers (from this thread, which lives as long as the process: the workers'
        parent-death signal follows the thread that started them)."""
        while not self.stopping.wait(1.0):
            with self.spawning:
                for i, proc in enumerate(self.procs):
                    if proc is not None and not proc.is_alive() and not self.stopping.is_set():
                        LOG.warning("%s worker %d exited with %s; restarting it", self.role, i, proc.exitcode)
                        self._spawn(i)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        with self.spawning:
            for proc in self.procs:
                if proc is not None and proc.is_alive():
                    proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            if proc is not None:
                proc.join(max(0.0, deadline - time.monotonic()))
                if proc.is_alive():
                    proc.kill()


def configure_logging(settings: Settings) -> None:
    """Our format for everything, uvicorn's loggers included (its errors, such as "Address already in
    use", stay visible; its start-up chatter only at DEBUG, since `serve` logs its own)."""
    logging.basicConfig(level=settings.logging.level.upper(),
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    level = logging.getLogger().getEffectiveLevel()
    logging.getLogger("uvicorn.error").setLevel(logging.DEBUG if level <= logging.DEBUG
                                                else max(level, logging.WARNING))
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)


def access_log(settings: Settings) -> bool:
    """uvicorn's per-request lines: on with `api.access_log`, or when debugging."""
    return settings.api.access_log or settings.logging.level.upper() == "DEBUG"


def public_indexer_url(settings: Settings) -> str:
    """The indexer URL with its password masked, fit for a log line."""
    from sqlalchemy.engine import make_url

    return make_url(settings.indexer_url).render_as_string(hide_password=True)


def probe_host(settings: Settings) -> str:
    """Where this host reaches the API (loopback when it listens on every address)."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(settings.api.host, settings.api.host)


def local_url(settings: Settings) -> str:
    """Where this host reaches the API (members, drivers and the ready line use it)."""
    host = probe_host(settings)
    return f"http://[{host}]:{settings.api.port}" if ":" in host else f"http://{host}:{settings.api.port}"


def _listens_on(port: int) -> bool:
    """Whether this process holds a listening socket on ``port`` (uvicorn has bound it, not a stranger)."""
    import psutil

    proc = psutil.Process()
    conns = proc.net_connections("inet") if hasattr(proc, "net_connections") else proc.connections("inet")
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns)


def _answers(host: str, port: int) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=2.0)
    try:
        conn.request("GET", "/healthcheck")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _workers_started(settings: Settings) -> bool:
    """Whether every API and processing worker process of this server has started (and named itself)."""
    import psutil

    try:
        titles = [" ".join(c.cmdline()) for c in psutil.Process().children()]
    except psutil.Error:
        return False
    api_workers = settings.api.workers if settings.api.workers > 1 else 0  # one worker: this very process
    return (sum(t.startswith(API_WORKER_TITLE) for t in titles) >= api_workers
            and sum(t.startswith(METRICD_WORKER_TITLE) for t in titles) >= settings.processing.workers
            and sum(t.startswith(EVALUATOR_TITLE) for t in titles) >= settings.alarming.evaluators
            and sum(t.startswith(SCALER_TITLE) for t in titles) >= settings.scaling.scalers
            and sum(t.startswith(STATSD_TITLE) for t in titles) >= int(settings.statsd.enabled))


def _announce_ready(settings: Settings, stop: threading.Event) -> None:
    """Log once that the server serves: our socket is bound, a worker answers /healthcheck and every worker
    process has started."""
    host, port = probe_host(settings), settings.api.port
    while not stop.wait(0.1):
        if _answers(host, port) and _listens_on(port) and _workers_started(settings):
            LOG.info("ready: serving on %s", local_url(settings))
            return


def serve(settings: Settings, command: str = "serve") -> None:
    """API on api.host:api.port plus the processing workers, until SIGINT/SIGTERM."""
    import uvicorn

    lifecycle.set_title(f"telescale {command}: main (port {settings.api.port})")
    lifecycle.exit_on_sigterm()
    configure_logging(settings)
    upgrade(settings)
    api = settings.api
    LOG.info("listening on %s:%d: auth %s, data %s, indexer %s, %d API workers, %d processing workers, "
             "%d alarm evaluators, %d scalers", api.host, api.port, api.auth_mode, settings.data_path,
             public_indexer_url(settings), api.workers, settings.processing.workers, settings.alarming.evaluators,
             settings.scaling.scalers)
    pools = [WorkerPool(settings, role) for role in (METRICD, EVALUATOR, SCALER, STATSD)]
    served = threading.Event()
    options: dict[str, Any] = {"host": api.host, "port": api.port, "log_config": None, "log_level": None,
                               "access_log": access_log(settings)}
    try:
        for pool in pools:
            if pool.count > 0:
                pool.start()
        threading.Thread(target=_announce_ready, args=(settings, served), name="ready", daemon=True).start()
        if api.workers > 1:
            os.environ[RESOLVED_SETTINGS_ENV] = json.dumps(settings.to_dict())
            os.environ[MAIN_PID_ENV] = str(os.getpid())
            uvicorn.run("telescale.service:app_factory", factory=True, workers=api.workers, **options)
        else:
            from telescale.api.app import create_app

            uvicorn.run(create_app(settings, Drivers.build(settings)), **options)
    finally:
        served.set()
        for pool in pools:
            pool.stop()
        LOG.info("stopped")


def run_workers(settings: Settings, role: str = METRICD) -> None:
    """Only the processing workers, the alarm evaluators or the scalers (scale-out), until SIGINT/SIGTERM."""
    lifecycle.set_title(f"telescale {role}: main")
    lifecycle.exit_on_sigterm()
    configure_logging(settings)
    if role != METRICD:
        upgrade(settings)
    pool = WorkerPool(settings, role)
    kind = {METRICD: "processing workers", EVALUATOR: "alarm evaluators", SCALER: "scalers",
            STATSD: "statsd listener"}[role]
    try:
        pool.start()
        LOG.info("ready: %d %s, data %s, indexer %s", pool.count, kind, settings.data_path,
                 public_indexer_url(settings))
        threading.Event().wait()
    finally:
        pool.stop()
        LOG.info("stopped")
