"""The webhook driver against a real local receiver: retries, final refusals, slow receivers, the allow-list."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from telescale.config import Settings
from telescale.scaling.drivers import ActuationFailed, DriverContext, build_driver
from telescale.scaling.model import Group
from tests.notifier_peers import Received, Receiver


def make_group(current: int) -> Group:
    return Group(id=uuid.uuid4(), name="web", project_id=None, user_id=None, min_size=1, max_size=10,
                 desired_capacity=current, current_size=current, cooldown=0.0, member_driver={"type": "webhook"})


def context(tmp_path: Path, allowed: list[str] | None = None) -> DriverContext:
    settings = Settings()
    settings.alarming.webhook_allowed_networks = ["127.0.0.0/8"] if allowed is None else allowed
    return DriverContext(settings=settings, state_dir=tmp_path, api_url="http://127.0.0.1:8041")


def resize(ctx: DriverContext, options: dict, group: Group, desired: int):
    async def go():
        driver = build_driver({"type": "webhook", **options}, ctx)
        try:
            return await driver.resize(group, [], desired, [], "cpu above 80 % for 3 min")
        finally:
            await driver.aclose()

    return asyncio.run(go())


def test_the_receiver_gets_the_new_capacity_after_a_503(tmp_path: Path) -> None:
    group = make_group(2)
    with Receiver((503,)) as receiver:
        resized = resize(context(tmp_path), {"url": receiver.url + "/scale", "headers": {"X-Api-Key": "k1"},
                                             "backoff": 0.01}, group, 4)
    assert resized.current_size == 4 and resized.members is None
    assert receiver.answered == [503, 200]
    for request in receiver.requests:
        assert request.method == "POST" and request.path == "/scale"
        assert request.header("x-api-key") == "k1" and request.header("content-type") == "application/json"
        assert request.json() == {"group_id": str(group.id), "group_name": "web", "desired_capacity": 4,
                                  "previous_capacity": 2, "reason": "cpu above 80 % for 3 min"}


def test_the_size_is_what_the_receiver_acknowledged(tmp_path: Path) -> None:
    def answer(request: Received) -> tuple[int, dict[str, str], bytes]:
        granted = min(request.json()["desired_capacity"], 3)  # a receiver at its quota
        return 200, {"content-type": "application/json"}, json.dumps({"current_size": granted}).encode()

    with Receiver(respond=answer) as receiver:
        assert resize(context(tmp_path), {"url": receiver.url}, make_group(2), 5).current_size == 3
    with Receiver(respond=lambda r: (202, {}, b'{"capacity": 4}')) as receiver:
        assert resize(context(tmp_path), {"url": receiver.url}, make_group(2), 5).current_size == 4
    with Receiver(respond=lambda r: (200, {}, b"ok")) as receiver:
        assert resize(context(tmp_path), {"url": receiver.url}, make_group(2), 5).current_size == 5


def test_a_400_is_final_and_not_retried(tmp_path: Path) -> None:
    with Receiver((400,)) as receiver, pytest.raises(ActuationFailed) as failed:
        resize(context(tmp_path), {"url": receiver.url, "backoff": 0}, make_group(2), 3)
    assert not failed.value.retry and "400" in str(failed.value)
    assert receiver.answered == [400]


def test_retries_stop_after_max_attempts(tmp_path: Path) -> None:
    with Receiver((500, 429, 502)) as receiver, pytest.raises(ActuationFailed) as failed:
        resize(context(tmp_path), {"url": receiver.url, "backoff": 0, "max_attempts": 3}, make_group(2), 3)
    assert failed.value.retry and "3 attempts" in str(failed.value)
    assert receiver.answered == [500, 429, 502]


def test_a_slow_receiver_times_out_and_may_be_retried_later(tmp_path: Path) -> None:
    with Receiver(hold=True) as receiver, pytest.raises(ActuationFailed) as failed:
        resize(context(tmp_path), {"url": receiver.url, "timeout": 0.3, "max_attempts": 2, "backoff": 0},
               make_group(1), 2)
    assert failed.value.retry and "within 0.3 s" in str(failed.value)
    assert len(receiver.requests) == 2


def test_loopback_is_refused_unless_allowed(tmp_path: Path) -> None:
    with Receiver() as receiver, pytest.raises(ActuationFailed) as failed:
        resize(context(tmp_path, allowed=[]), {"url": receiver.url}, make_group(1), 2)
    assert not failed.value.retry and "webhook_allowed_networks" in str(failed.value)
    assert receiver.requests == []
