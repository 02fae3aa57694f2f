"""The process driver with real members: small HTTP workers started, found again, killed and stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from telescale.config import Settings
from telescale.scaling.drivers import ActuationFailed, DriverContext, build_driver
from telescale.scaling.drivers.process import ProcessDriver, discover
from telescale.scaling.model import Group, Member

#: A member: answers GET with its name and the environment it was given, on the port in argv[1].
WORKER = """
import http.server, os, sys
port = int(sys.argv[1])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = " ".join([os.environ["TELESCALE_MEMBER_NAME"], os.environ["LABEL"], os.environ["TELESCALE_URL"],
                         sys.argv[2], os.environ["TELESCALE_GROUP_NAME"], os.environ["TELESCALE_MEMBER_PORT"]]).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("listening on", port, flush=True)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

#: A member that ignores SIGTERM (it has to be killed).
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(600)
"""


def make_group(size: int = 0) -> Group:
    return Group(id=uuid.uuid4(), name="web", project_id=None, user_id=None, min_size=0, max_size=10,
                 desired_capacity=size, current_size=size, cooldown=0.0, member_driver={"type": "process"})


@pytest.fixture
def group() -> Iterator[Group]:
    group = make_group()
    yield group
    for member in discover(group.id).values():  # whatever a failed test left running
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(member.ref), signal.SIGKILL)


@pytest.fixture
def context(tmp_path: Path) -> DriverContext:
    return DriverContext(settings=Settings(), state_dir=tmp_path / "state", api_url="http://127.0.0.1:8041")


def worker_driver(context: DriverContext, **options: object) -> ProcessDriver:
    spec = {"type": "process", "command": [sys.executable, "-c", WORKER, "{port}", "{index}/{group_name}"],
            "env": {"LABEL": "{member_name}@{group_id}"}, "stop_timeout": 5, "start_grace": 0, **options}
    driver = build_driver(spec, context)
    assert isinstance(driver, ProcessDriver)
    return driver


def get(member: Member, timeout: float = 15.0) -> str:
    """The member's answer, once it listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{member.data['address']}/", timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_scale_out_starts_real_members_with_their_placeholders(group: Group, context: DriverContext) -> None:
    async def go() -> tuple[Member, ...]:
        driver = worker_driver(context)
        resized = await driver.resize(group, [], 2, [], "load above target")
        await driver.aclose()
        assert resized.current_size == 2 and resized.members is not None
        return resized.members

    members = asyncio.run(go())
    assert [m.name for m in members] == ["web-1", "web-2"]
    for index, member in enumerate(members, start=1):
        assert member.group_id == group.id and member.status == "active"
        assert member.ref == str(member.data["pid"]) and member.data["address"] == f"127.0.0.1:{member.data['port']}"
        assert get(member) == (f"web-{index} web-{index}@{group.id} http://127.0.0.1:8041 {index}/web web "
                               f"{member.data['port']}")
        assert os.getsid(member.data["pid"]) == member.data["pid"]  # its own session: it outlives the scaler
        log = context.state_dir / str(group.id) / f"{member.name}.log"
        assert f"listening on {member.data['port']}" in log.read_text()
    assert members[0].data["port"] != members[1].data["port"]


def test_resize_retried_with_the_same_arguments_converges(group: Group, context: DriverContext) -> None:
    """A scaler that crashed after starting members calls again with its old (empty) member list."""
    async def go() -> None:
        first = await worker_driver(context).resize(group, [], 2, [], "scale out")
        again = await worker_driver(context).resize(group, [], 2, [], "scale out")  # a fresh scaler process
        assert again.current_size == 2 and again.members is not None and first.members is not None
        assert {m.id for m in again.members} == {m.id for m in first.members}
        assert {m.data["pid"] for m in again.members} == {m.data["pid"] for m in first.members}
        assert {m.data["log"] for m in again.members} == {m.data["log"] for m in first.members}
        third = await worker_driver(context).resize(group, again.members, 3, [], "more")
        assert third.members is not None
        assert sorted(m.name for m in third.members) == ["web-1", "web-2", "web-3"]

    asyncio.run(go())
    assert len(discover(group.id)) == 3


def test_scale_in_stops_exactly_the_members_named(group: Group, context: DriverContext) -> None:
    async def go() -> None:
        driver = worker_driver(context)
        started = await driver.resize(group, [], 3, [], "scale out")
        assert started.members is not None
        for member in started.members:
            get(member)
        victim = started.members[0]
        resized = await driver.resize(group, started.members, 2, [victim], "load fell")
        assert resized.current_size == 2 and resized.members is not None
        assert [m.name for m in resized.members] == ["web-2", "web-3"]
        assert gone(victim.data["pid"]) and not listening(victim.data["port"])
        for member in resized.members:
            get(member)
        # called again (a retry): the victim is already gone, nothing else changes
        retried = await driver.resize(group, started.members, 2, [victim], "load fell")
        assert retried.members is not None and [m.name for m in retried.members] == ["web-2", "web-3"]
        await driver.aclose()

    asyncio.run(go())


def test_refresh_reports_a_killed_member_failed_and_replace_starts_a_new_one(group: Group,
                                                                             context: DriverContext) -> None:
    async def go() -> None:
        driver = worker_driver(context)
        started = await driver.resize(group, [], 2, [], "scale out")
        assert started.members is not None
        dead, alive = started.members
        os.killpg(dead.data["pid"], signal.SIGKILL)
        assert gone(dead.data["pid"])
        refreshed = await driver.refresh(group, started.members)
        assert refreshed is not None
        assert {m.name: m.status for m in refreshed} == {"web-1": "failed", "web-2": "active"}
        # a driver built after a scaler restart sees the same (it does not rely on its own children)
        assert [m.status for m in await worker_driver(context).refresh(group, started.members) or ()] == [
            "failed", "active"]
        replaced = await driver.resize(group, refreshed, 2, [dead], "web-1 died")  # autohealing's replacement
        assert replaced.current_size == 2 and replaced.members is not None
        assert [(m.name, m.status) for m in replaced.members] == [("web-2", "active"), ("web-3", "active")]
        get(replaced.members[1])

    asyncio.run(go())


def test_a_reused_pid_is_not_taken_for_the_member(group: Group, context: DriverContext) -> None:
    async def go() -> None:
        driver = worker_driver(context)
        started = await driver.resize(group, [], 1, [], "scale out")
        assert started.members is not None
        member = started.members[0]
        # the same pid with another start time: another process that got the pid after the member died
        impostor = Member(**{**member.__dict__, "data": {**member.data, "create_time": member.data["create_time"] - 5}})
        refreshed = await driver.refresh(group, [impostor])
        assert refreshed is not None and refreshed[0].status == "failed"
        await driver.resize(group, [impostor], 0, [impostor], "scale in")  # must not stop the real process
        assert not gone(member.data["pid"], timeout=0.2)

    asyncio.run(go())


def test_a_member_ignoring_sigterm_is_killed_after_stop_timeout(group: Group, context: DriverContext) -> None:
    async def go() -> None:
        driver = build_driver({"type": "process", "command": [sys.executable, "-c", STUBBORN], "stop_timeout": 0.3,
                               "start_grace": 0}, context)
        started = await driver.resize(group, [], 1, [], "scale out")
        assert started.members is not None
        member = started.members[0]
        log = Path(member.data["log"])
        deadline = time.monotonic() + 15
        while "ready" not in log.read_text():
            assert time.monotonic() < deadline, "the member never got ready"
            await asyncio.sleep(0.05)
        resized = await driver.resize(group, started.members, 0, [member], "scale in")
        assert resized.current_size == 0 and resized.members == ()
        assert gone(member.data["pid"], timeout=1)

    asyncio.run(go())


def test_a_member_exiting_at_once_is_failed_and_a_missing_program_is_final(group: Group,
                                                                         context: DriverContext) -> None:
    async def go() -> None:
        crashing = build_driver({"type": "process", "command": [sys.executable, "-c", "import sys; sys.exit(3)"],
                                 "start_grace": 0.5}, context)
        resized = await crashing.resize(group, [], 1, [], "scale out")
        assert resized.current_size == 0 and resized.members is not None
        assert [m.status for m in resized.members] == ["failed"]
        missing = build_driver({"type": "process", "command": ["/nonexistent/telescale-worker"]}, context)
        with pytest.raises(ActuationFailed) as failed:
            await missing.resize(group, [], 1, [], "scale out")
        assert not failed.value.retry and "/nonexistent/telescale-worker" in str(failed.value)

    asyncio.run(go())


def test_members_beyond_desired_not_named_are_stopped_oldest_first(group: Group, context: DriverContext) -> None:
    async def go() -> None:
        driver = worker_driver(context)
        started = await driver.resize(group, [], 3, [], "scale out")
        assert started.members is not None
        resized = await driver.resize(group, started.members, 1, [], "scale in")
        assert resized.members is not None and [m.name for m in resized.members] == ["web-3"]

    asyncio.run(go())
