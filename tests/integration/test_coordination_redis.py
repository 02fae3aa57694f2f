"""Group membership and hash-ring shares on the real Redis (``TELESCALE_TEST_REDIS_URL``).

Members are separate processes (each its own interpreter, hash seed and tooz connection), as evaluators
are: together they own every key exactly once; one that leaves, is SIGKILLed or paused past its heartbeat
timeout hands its keys over; one that joins takes a share. Each test uses its own tooz namespace.
(PostgreSQL is no backend for this: tooz's ``postgresql`` driver has locks but no group membership, and
``build_coordinator`` refuses it — see tests/unit/core/test_coordination_membership.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest

from telescale.coordination import Partition, ToozCoordinator, make_member_id
from tests.conftest import redis_client, redis_url

TIMEOUT = 2  # heartbeat_timeout of every member here (whole seconds, as tooz takes it)
REFRESH = min(1.0, TIMEOUT / 4)  # ToozCoordinator's default refresh interval for it
SLACK = 3.0  # scheduling on a loaded test machine
N_KEYS = 2000
KEYS = [f"alarm-{i}" for i in range(N_KEYS)]

MEMBER = r"""
import json, sys
from telescale.coordination import ToozCoordinator, make_member_id
url, group, timeout, n_keys = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
keys = [f"alarm-{i}" for i in range(n_keys)]
coordinator = ToozCoordinator(url, make_member_id("evaluator"), heartbeat_timeout=timeout)
partition = coordinator.join(group)
print(json.dumps({"member_id": coordinator.member_id}), flush=True)
for line in sys.stdin:
    if line.strip() == "stop":
        coordinator.stop()
        print(json.dumps({"stopped": True}), flush=True)
        break
    print(json.dumps({"members": sorted(partition.members), "mine": partition.mine(keys)}), flush=True)
"""



@pytest.fixture
def redis_namespace() -> Iterator[str]:
    """A tooz namespace no other test uses; its keys are deleted afterwards."""
    import redis

    client = redis_client()
    namespace = f"telescale-test-{uuid.uuid4().hex}"
    try:
        yield namespace
    finally:
        for db in range(16):  # the db-path test writes to another database
            scoped = redis.Redis.from_url(redis_url(), db=db)
            for key in scoped.scan_iter(f"{namespace}*"):
                scoped.delete(key)
        client.close()


def tooz_url(namespace: str, base: str | None = None) -> str:
    parts = urlsplit(base or redis_url())
    query = "&".join(q for q in (parts.query, f"namespace={namespace}") if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


@dataclass
class Member:
    """One member process, asked for its view over a pipe."""

    proc: subprocess.Popen
    member_id: str = ""

    @classmethod
    def start(cls, url: str, group: str) -> Member:
        proc = subprocess.Popen([sys.executable, "-c", MEMBER, url, group, str(TIMEOUT), str(N_KEYS)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        member = cls(proc)
        member.member_id = member._read(60)["member_id"]
        return member

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"member {self.member_id or self.proc.pid} did not answer in {timeout} s"
        line = self.proc.stdout.readline()
        assert line, f"member {self.member_id or self.proc.pid} exited with {self.proc.wait()}"
        return json.loads(line)

    def view(self) -> dict:
        self.proc.stdin.write("mine\n")
        self.proc.stdin.flush()
        return self._read(10)

    def stop(self) -> None:
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        assert self._read(30) == {"stopped": True}
        self.proc.wait(30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


@pytest.fixture
def members(redis_namespace) -> Iterator[list[Member]]:
    """Started members, killed at the end whatever happened."""
    started: list[Member] = []
    yield started
    for member in started:
        if member.proc.poll() is None:
            os.kill(member.proc.pid, signal.SIGCONT)
        member.kill()


def wait_for_split(live: list[Member], within: float) -> float:
    """Wait until every live member sees exactly the live members and they own every key once; return the
    seconds it took."""
    expected = sorted(m.member_id for m in live)
    start = time.monotonic()
    while True:
        views = [m.view() for m in live]
        agreed = all(v["members"] == expected for v in views)
        owned = [k for v in views for k in v["mine"]]
        if agreed and sorted(owned) == sorted(KEYS) and all(v["mine"] for v in views):
            return time.monotonic() - start
        elapsed = time.monotonic() - start
        seen = ", ".join(f"{m.member_id} sees {v['members']} owns {len(v['mine'])}"
                         for m, v in zip(live, views, strict=True))
        assert elapsed < within, f"no split among {expected} after {elapsed:.1f} s: {seen}"
        time.sleep(0.05)


def test_two_processes_own_every_key_once_a_third_takes_a_share_and_a_leaver_hands_over(redis_namespace, members):
    url, group = tooz_url(redis_namespace), "alarm_evaluator"
    a, b = Member.start(url, group), Member.start(url, group)
    members += [a, b]
    wait_for_split([a, b], within=REFRESH + SLACK)
    shares_of_two = {m.member_id: set(m.view()["mine"]) for m in (a, b)}

    c = Member.start(url, group)
    members.append(c)
    wait_for_split([a, b, c], within=REFRESH + SLACK)
    for m in (a, b):  # consistent hashing: the newcomer's share comes from the others, nothing else moves
        assert set(m.view()["mine"]) <= shares_of_two[m.member_id]

    b.stop()
    took = wait_for_split([a, c], within=REFRESH + SLACK)
    assert took <= REFRESH + SLACK


def test_a_sigkilled_member_is_taken_over_after_its_heartbeat_timeout(redis_namespace, members):
    url, group = tooz_url(redis_namespace), "alarm_evaluator"
    a, b = Member.start(url, group), Member.start(url, group)
    members += [a, b]
    wait_for_split([a, b], within=REFRESH + SLACK)

    b.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    b.proc.wait(30)
    while len(a.view()["mine"]) < N_KEYS:
        assert time.monotonic() - killed < TIMEOUT + REFRESH + SLACK, "the dead member's keys never moved"
        time.sleep(0.02)
    took = time.monotonic() - killed
    # not before its last heartbeat (at most one refresh before the kill) has expired
    assert took >= TIMEOUT - REFRESH - 0.1
    assert a.view()["members"] == [a.member_id]

    c = Member.start(url, group)
    members.append(c)
    wait_for_split([a, c], within=REFRESH + SLACK)


def test_a_paused_member_is_dropped_then_rejoins(redis_namespace, members):
    url, group = tooz_url(redis_namespace), "alarm_evaluator"
    a, b = Member.start(url, group), Member.start(url, group)
    members += [a, b]
    wait_for_split([a, b], within=REFRESH + SLACK)

    os.kill(b.proc.pid, signal.SIGSTOP)
    paused = time.monotonic()
    while len(a.view()["mine"]) < N_KEYS:
        assert time.monotonic() - paused < TIMEOUT + REFRESH + SLACK
        time.sleep(0.02)
    os.kill(b.proc.pid, signal.SIGCONT)
    wait_for_split([a, b], within=REFRESH + SLACK)


class _Proxy:
    """A TCP relay to Redis that can be cut, so one member loses the backend while the others keep it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        self.cut_off = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut_off.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.cut_off.set()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def overlap(p: Partition, q: Partition) -> set[str]:
    return set(p.mine(KEYS)) & set(q.mine(KEYS))


def test_a_member_cut_off_from_redis_stops_owning_before_the_others_take_over(redis_namespace):
    base = urlsplit(redis_url())
    proxy = _Proxy((base.hostname or "127.0.0.1", base.port or 6379))
    via_proxy = urlunsplit((base.scheme, f"127.0.0.1:{proxy.port}", base.path, base.query, ""))
    a = ToozCoordinator(tooz_url(redis_namespace), make_member_id("evaluator"), heartbeat_timeout=TIMEOUT)
    b = ToozCoordinator(tooz_url(redis_namespace, via_proxy), make_member_id("evaluator"), heartbeat_timeout=TIMEOUT)
    try:
        pa, pb = a.join("alarm_evaluator"), b.join("alarm_evaluator")
        a.refresh()
        assert pa.members == pb.members == {a.member_id, b.member_id}
        assert not overlap(pa, pb) and len(pa.mine(KEYS)) + len(pb.mine(KEYS)) == N_KEYS

        proxy.cut()
        cut = time.monotonic()
        b_stopped = a_took_over = None
        while a_took_over is None:
            assert not overlap(pa, pb), "two members owned the same key"
            now = time.monotonic() - cut
            if b_stopped is None and not pb.mine(KEYS):
                b_stopped = now
            if len(pa.mine(KEYS)) == N_KEYS:
                a_took_over = now
            assert now < TIMEOUT + REFRESH + SLACK, "the cut-off member's keys never moved"
            time.sleep(0.01)
        assert b_stopped is not None and b_stopped <= a_took_over
        assert b_stopped <= TIMEOUT + 0.5  # its own deadline, not a socket timeout, decides
    finally:
        a.stop()
        b.stop()


def test_redis_database_is_read_from_the_url_path(redis_namespace):
    import redis

    base = urlsplit(redis_url())
    db = (int(base.path.strip("/") or 0) + 1) % 16
    url = urlunsplit((base.scheme, base.netloc, f"/{db}", base.query, ""))
    with ToozCoordinator(tooz_url(redis_namespace, url), make_member_id("evaluator"), heartbeat_timeout=TIMEOUT) as c:
        c.join("alarm_evaluator")
        assert list(redis.Redis.from_url(url, db=db).scan_iter(f"{redis_namespace}*"))
        assert not list(redis.Redis.from_url(redis_url(), db=(db + 1) % 16).scan_iter(f"{redis_namespace}*"))


LOCK_HOLDER = r"""
import sys, time
from telescale.coordination import ToozSackLocks
locks = ToozSackLocks(sys.argv[1], heartbeat_timeout=int(sys.argv[2]))
assert locks.try_lock(3)
print("held", flush=True)
time.sleep(600)
"""


def test_sack_locks_exclude_across_processes_and_a_killed_holders_lock_expires(redis_namespace):
    """``coordination.url`` set: sack locks are tooz's on that backend, so metricd and API processes of every
    host exclude each other; a SIGKILLed holder's lock is free again after ``heartbeat_timeout``, never
    before (tooz's heartbeat renews it meanwhile)."""
    from telescale.coordination import ToozSackLocks

    url = tooz_url(redis_namespace)
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, url, str(TIMEOUT)], stdout=subprocess.PIPE,
                              text=True, cwd=os.getcwd())
    locks = ToozSackLocks(url, heartbeat_timeout=TIMEOUT)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert locks.try_lock(4) and not locks.try_lock(4)  # free sack; one holder per sack in a process too
        locks.unlock(4)
        time.sleep(TIMEOUT + 0.5)  # past the lock's expiry: only the holder's heartbeat keeps it
        assert not locks.try_lock(3)
        assert not locks.lock(3, timeout=0.2)
        holder.kill()
        holder.wait()
        started = time.monotonic()
        assert locks.lock(3, timeout=TIMEOUT + SLACK)
        assert time.monotonic() - started <= TIMEOUT + SLACK
    finally:
        holder.kill()
        holder.wait()
        locks.close()


def test_processes_use_tooz_sack_locks_when_coordination_url_is_set(redis_namespace, tmp_path):
    from telescale import config
    from telescale.coordination import FileSackLocks, ToozSackLocks
    from telescale.drivers import build_locks

    local = build_locks(config.load(environ={}, overrides=[f"storage.data_dir={tmp_path}"]))
    shared = build_locks(config.load(environ={}, overrides=[f"storage.data_dir={tmp_path}",
                                                            f"coordination.url={tooz_url(redis_namespace)}"]))
    try:
        assert isinstance(local, FileSackLocks) and isinstance(shared, ToozSackLocks)
    finally:
        local.close()
        shared.close()

