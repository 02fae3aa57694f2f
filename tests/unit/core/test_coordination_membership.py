"""Group membership: the embedded coordinator, member ids, URL checks, and tooz's file driver (no server)."""

from __future__ import annotations

import os
import socket

import pytest

from telescale import config, coordination
from telescale.config import ConfigError, Settings
from telescale.coordination import EmbeddedCoordinator, ToozCoordinator, build_coordinator, make_member_id

KEYS = [f"alarm-{i}" for i in range(2000)]


def settings(**coordination_settings) -> Settings:
    return config.load(environ={}, overrides=[f"coordination.{k}={v}" for k, v in coordination_settings.items()])


def test_member_ids_are_unique_per_process_and_name_role_host_and_pid():
    a, b = make_member_id("evaluator"), make_member_id("evaluator")
    assert a != b
    role, host, pid, _ = a.split(":")
    assert (role, host, pid) == ("evaluator", socket.gethostname(), str(os.getpid()))


def test_embedded_by_default_one_member_owning_everything():
    with build_coordinator(Settings(), "evaluator") as coordinator:
        assert isinstance(coordinator, EmbeddedCoordinator)
        assert coordinator.member_id.startswith("evaluator:")
        alarms = coordinator.join("alarms")
        assert coordinator.join("alarms") is alarms
        assert alarms.members == {coordinator.member_id}
        assert alarms.mine(KEYS) == KEYS and alarms.owns("anything")
        sacks = coordinator.join("sacks")
        assert sacks.mine(range(4)) == [0, 1, 2, 3]
        coordinator.leave("alarms")
        assert alarms.mine(KEYS) == [] and not alarms.owns(KEYS[0])
        assert sacks.owns(3)
    assert sacks.mine(range(4)) == []


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1/postgres", "mysql://root@127.0.0.1/db",
                                 "nosuchdriver://somewhere"])
def test_backends_without_group_membership_are_refused_naming_the_setting(url):
    with pytest.raises(ConfigError, match=r"^coordination\.url: "):
        build_coordinator(settings(url=url), "evaluator")


def test_heartbeat_timeout_below_a_second_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"^coordination\.heartbeat_timeout: "):
        settings(heartbeat_timeout=0)
    unchecked = Settings()
    unchecked.coordination.url, unchecked.coordination.heartbeat_timeout = f"file://{tmp_path}", 0
    with pytest.raises(ConfigError, match=r"^coordination\.heartbeat_timeout: "):
        build_coordinator(unchecked, "evaluator")


def test_heartbeat_timeout_setting_defaults_to_ten_seconds():
    assert Settings().coordination.heartbeat_timeout == 10
    assert settings(heartbeat_timeout=4).coordination.heartbeat_timeout == 4


def assert_split(partitions, keys=KEYS):
    owned = [p.mine(keys) for p in partitions]
    everything = [k for mine in owned for k in mine]
    assert sorted(everything) == sorted(keys), "every key owned exactly once"
    assert all(owned), "each member has a share"


def test_file_backend_members_share_join_and_leave(tmp_path):
    """tooz's file driver: processes of one host, no server; the same code path as Redis."""
    url = f"file://{tmp_path}"
    a = build_coordinator(settings(url=url), "evaluator")
    b = build_coordinator(settings(url=url), "evaluator")
    c = None
    try:
        assert isinstance(a, ToozCoordinator) and a.member_id != b.member_id
        pa, pb = a.join("alarms"), b.join("alarms")
        a.refresh()
        assert pa.members == pb.members == {a.member_id, b.member_id}
        assert_split([pa, pb])

        c = build_coordinator(settings(url=url), "evaluator")
        pc = c.join("alarms")
        a.refresh(), b.refresh()
        assert pa.members == pb.members == pc.members and len(pc.members) == 3
        assert_split([pa, pb, pc])

        c.stop()
        assert pc.mine(KEYS) == []
        a.refresh(), b.refresh()
        assert_split([pa, pb])

        b.leave("alarms")
        a.refresh()
        assert pa.members == {a.member_id} and pa.mine(KEYS) == KEYS
        assert pb.mine(KEYS) == []
    finally:
        for coordinator in (a, b, c):
            if coordinator is not None:
                coordinator.stop()


def test_groups_are_independent(tmp_path):
    url = f"file://{tmp_path}"
    with build_coordinator(settings(url=url), "evaluator") as a, build_coordinator(settings(url=url), "metricd") as b:
        alarms, sacks = a.join("alarms"), b.join("sacks")
        assert alarms.mine(KEYS) == KEYS and sacks.mine(range(8)) == list(range(8))
        assert alarms.members == {a.member_id} and sacks.members == {b.member_id}


def test_package_keeps_the_sack_lock_names():
    assert coordination.FileSackLocks.__mro__[1] is coordination.SackLocks
    assert issubclass(coordination.LockTimeout, Exception)
