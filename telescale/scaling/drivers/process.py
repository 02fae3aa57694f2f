"""The ``process`` member driver: each member is a local command that Telescale starts and stops.

Meant for demos and end-to-end tests: the member is real (a process, a port, a log), so the whole loop runs on
one machine. A member runs in its own session (``start_new_session``) so it outlives a restart of the scaler,
as a VM outlives Heat. Its environment carries ``TELESCALE_GROUP_ID`` and ``TELESCALE_MEMBER_ID``; the
driver finds its members by reading them back from the running processes, so an action retried after a crash
sees the members the crashed attempt started and does not start them twice. The environment also carries
``TELESCALE_URL`` (Telescale's API, where members report their metrics), ``TELESCALE_GROUP_NAME``,
``TELESCALE_MEMBER_NAME`` and ``TELESCALE_MEMBER_PORT``. A member is known by its pid
*and* its start time, so a reused pid is never mistaken for it. Stopping sends SIGTERM to the member's process
group, then SIGKILL after ``stop_timeout``. Output goes to ``<state_dir>/<group_id>/<member_name>.log``.

Options: ``command`` (argv list) and ``env`` values may hold ``{port}`` (a free TCP port picked for the
member), ``{member_id}``, ``{member_name}``, ``{group_id}``, ``{group_name}``, ``{index}`` and ``{python}``
(the interpreter running Telescale, so ``["{python}", "-m", "telescale.scaling.demo_member"]`` works from any
shell); other braces are left as they are. ``cwd``; ``stop_timeout`` (10 s); ``start_grace`` (0.5 s: a
member that exits within it is reported ``failed`` at once rather than at the next refresh).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from telescale.scaling.drivers.base import ActuationFailed, DriverContext, DriverError, MemberDriver, Resized
from telescale.scaling.drivers.members import is_live, next_index, safe_file_name, surplus
from telescale.scaling.drivers.options import Options
from telescale.scaling.model import Group, Member

LOG = logging.getLogger(__name__)

PLACEHOLDERS = ("port", "member_id", "member_name", "group_id", "group_name", "index", "python")
#: How long a member's start time may differ from the recorded one (same process: not at all).
_CREATE_TIME_SLACK = 0.05


def substitute(value: str, values: Mapping[str, str]) -> str:
    for name in PLACEHOLDERS:
        value = value.replace("{" + name + "}", values[name])
    return value


def free_port(taken: set[int]) -> int:
    """A loopback TCP port nobody listens on now (bound then released), not one a live member was given."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
    raise ActuationFailed("no free TCP port for a new member", retry=True)


def process_of(member: Member) -> psutil.Process | None:
    """The member's running process, or None when it is gone (exited, a zombie, or its pid reused)."""
    try:
        pid = int(member.data.get("pid", member.ref))
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        expected = member.data.get("create_time")
        if expected is not None and abs(process.create_time() - float(expected)) > _CREATE_TIME_SLACK:
            return None
        return process
    except (ValueError, TypeError, psutil.Error):
        return None


def discover(group_id: uuid.UUID, log_dir: Path | None = None) -> dict[uuid.UUID, Member]:
    """The group's running members, read from the environment of session leaders (blocking: run in a thread)."""
    found: dict[uuid.UUID, Member] = {}
    gid = str(group_id)
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) != process.pid:
                continue
            env = process.environ()
            if env.get("TELESCALE_GROUP_ID") != gid:
                continue
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            member_id = uuid.UUID(env["TELESCALE_MEMBER_ID"])
            port = int(env["TELESCALE_MEMBER_PORT"])
            created = process.create_time()
            name = env["TELESCALE_MEMBER_NAME"]
            data: dict[str, Any] = {"pid": process.pid, "port": port, "address": f"127.0.0.1:{port}",
                                    "create_time": created}
            if log_dir is not None:
                data["log"] = str(log_dir / f"{safe_file_name(name)}.log")
            found[member_id] = Member(
                id=member_id, group_id=group_id, name=name, ref=str(process.pid), status="active",
                created_at=datetime.datetime.fromtimestamp(created, datetime.UTC), data=data)
        except (OSError, KeyError, ValueError, psutil.Error):
            continue
    return found


class ProcessDriver(MemberDriver):
    kind = "process"
    tracks_members = True

    def __init__(self, options: Mapping[str, Any], context: DriverContext) -> None:
        super().__init__(options, context)
        #: The members this driver started, so their exits are reaped (no zombies while the scaler runs).
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    @classmethod
    def validate(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        read = Options(cls.kind, options, ("command", "env", "cwd", "stop_timeout", "start_grace"))
        command = options.get("command")
        if (not isinstance(command, list) or not command
                or not all(isinstance(arg, str) for arg in command) or not command[0]):
            raise DriverError("member_driver.command must be a non-empty list of strings (the program and its "
                              "arguments), e.g. [\"python\", \"-m\", \"worker\", \"--port\", \"{port}\"]")
        read.out["command"] = list(command)
        read.string_map("env")
        read.string("cwd")
        read.number("stop_timeout", 10.0)
        read.number("start_grace", 0.5)
        return read.out

    def _log_dir(self, group: Group) -> Path:
        return self.context.state_dir / str(group.id)

    def _reap(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                self._children.pop(pid, None)

    def _current(self, group: Group, members: Sequence[Member]) -> list[Member]:
        """The scaler's members with their liveness, plus running members it does not know (a crashed attempt's).

        Blocking: run in a thread.
        """
        self._reap()
        running = discover(group.id, self._log_dir(group))
        current = []
        for member in members:
            running.pop(member.id, None)
            alive = process_of(member) is not None
            status = member.status if alive and member.status != "failed" else ("active" if alive else "failed")
            current.append(member if status == member.status else _with_status(member, status))
        current.extend(running.values())
        return current

    async def refresh(self, group: Group, members: Sequence[Member]) -> tuple[Member, ...] | None:
        return tuple(await asyncio.to_thread(self._current, group, members))

    async def resize(self, group: Group, members: Sequence[Member], desired: int, remove: Sequence[Member],
                     reason: str) -> Resized:
        gone = {m.id for m in remove}
        await asyncio.gather(*(self._stop(m) for m in remove))
        current = [m for m in await asyncio.to_thread(self._current, group, members) if m.id not in gone]
        extra = surplus(current, desired)
        if extra:
            LOG.warning("group %s: %d members beyond %d were not named for removal; stopping %s", group.id,
                        len(extra), desired, ", ".join(m.name for m in extra))
            await asyncio.gather(*(self._stop(m) for m in extra))
            stopped = {m.id for m in extra}
            current = [m for m in current if m.id not in stopped]
        missing = desired - sum(1 for m in current if is_live(m))
        if missing > 0:
            current.extend(await self._start(group, current, missing, reason))
        return Resized(current_size=sum(1 for m in current if is_live(m)), members=tuple(current))

    async def _start(self, group: Group, current: list[Member], count: int, reason: str) -> list[Member]:
        log_dir = self._log_dir(group)
        await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
        first = next_index(group.name, current)
        taken = {int(m.data["port"]) for m in current if is_live(m) and "port" in m.data}
        started = []
        for index in range(first, first + count):
            member = await asyncio.to_thread(self._spawn, group, index, taken, log_dir)
            taken.add(member.data["port"])
            LOG.info("group %s: started member %s (pid %s, port %s): %s", group.id, member.name, member.ref,
                     member.data["port"], reason)
            started.append(member)
        grace = self.options["start_grace"]
        if grace > 0:
            await asyncio.sleep(grace)
            self._reap()
            checked = []
            for member in started:
                if process_of(member) is None:
                    LOG.warning("group %s: member %s exited at once; see %s", group.id, member.name,
                                member.data["log"])
                    member = _with_status(member, "failed")
                checked.append(member)
            started = checked
        return started

    def _spawn(self, group: Group, index: int, taken: set[int], log_dir: Path) -> Member:
        member_id = uuid.uuid4()
        name = f"{group.name}-{index}"
        port = free_port(taken)
        values = {"port": str(port), "member_id": str(member_id), "member_name": name, "group_id": str(group.id),
                  "group_name": group.name, "index": str(index), "python": sys.executable}
        argv = [substitute(arg, values) for arg in self.options["command"]]
        env = {**os.environ, **{k: substitute(v, values) for k, v in self.options["env"].items()},
               "TELESCALE_URL": self.context.api_url, "TELESCALE_GROUP_ID": str(group.id),
               "TELESCALE_GROUP_NAME": group.name, "TELESCALE_MEMBER_ID": str(member_id), "TELESCALE_MEMBER_NAME": name,
               "TELESCALE_MEMBER_PORT": str(port)}
        log_path = log_dir / f"{safe_file_name(name)}.log"
        try:
            with open(log_path, "ab") as log:
                child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.options["cwd"], env=env, start_new_session=True, close_fds=True)
        except OSError as e:
            raise ActuationFailed(f"cannot start {argv[0]!r} for member {name}: {e.strerror or e}",
                                  retry=False) from None
        self._children[child.pid] = child
        try:
            created = psutil.Process(child.pid).create_time()
        except psutil.Error:  # already gone: the grace check or the next refresh reports it failed
            created = time.time()
        return Member(id=member_id, group_id=group.id, name=name, ref=str(child.pid), status="active",
                      created_at=datetime.datetime.now(datetime.UTC),
                      data={"pid": child.pid, "port": port, "address": f"127.0.0.1:{port}", "create_time": created,
                            "log": str(log_path)})

    async def _stop(self, member: Member) -> None:
        """SIGTERM to the member's process group, SIGKILL after ``stop_timeout``; nothing if it is gone."""
        process = await asyncio.to_thread(process_of, member)
        if process is None:
            return
        pid = process.pid
        if not _signal_group(pid, signal.SIGTERM):
            return
        deadline = time.monotonic() + self.options["stop_timeout"]
        while time.monotonic() < deadline:
            self._reap()
            if await asyncio.to_thread(process_of, member) is None:
                LOG.info("member %s (pid %d) stopped", member.name, pid)
                return
            await asyncio.sleep(0.05)
        LOG.warning("member %s (pid %d) still runs %g s after SIGTERM; killing it", member.name, pid,
                    self.options["stop_timeout"])
        _signal_group(pid, signal.SIGKILL)
        for _ in range(100):
            self._reap()
            if await asyncio.to_thread(process_of, member) is None:
                return
            await asyncio.sleep(0.05)
        raise ActuationFailed(f"member {member.name} (pid {pid}) survived SIGKILL", retry=True)

    async def aclose(self) -> None:
        self._reap()


def _signal_group(pid: int, signum: int) -> bool:
    """Signal the member's process group (it leads one); a member that left its group gets the signal alone."""
    for send in (os.killpg, os.kill):
        try:
            send(pid, signum)
            return True
        except ProcessLookupError:
            continue
        except PermissionError as e:
            raise ActuationFailed(f"not allowed to signal process {pid}: {e}", retry=False) from None
    return False


def _with_status(member: Member, status: str) -> Member:
    return dataclasses.replace(member, status=status)
