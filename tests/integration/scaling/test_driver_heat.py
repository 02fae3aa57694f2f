"""The heat driver against the local OpenStack stand-in: policy signals (pre-signed and with a token) and
stack updates through the Orchestration endpoint of the Keystone catalog."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telescale.config import Settings
from telescale.scaling.drivers import ActuationFailed, DriverContext, Resized, build_driver
from telescale.scaling.model import Group
from tests.notifier_peers import Receiver
from tests.openstack_peers import PROJECT_ID, OpenStack


@pytest.fixture
def cloud() -> Iterator[OpenStack]:
    with OpenStack() as cloud:
        yield cloud


def make_group(current: int) -> Group:
    return Group(id=uuid.uuid4(), name="web", project_id=None, user_id=None, min_size=1, max_size=10,
                 desired_capacity=current, current_size=current, cooldown=0.0, member_driver={"type": "heat"})


def context(tmp_path: Path, cloud: OpenStack, **credentials: Any) -> DriverContext:
    settings = Settings()
    settings.alarming.webhook_allowed_networks = ["127.0.0.0/8"]
    settings.service_credentials = cloud.credentials(**credentials)
    return DriverContext(settings=settings, state_dir=tmp_path, api_url="http://127.0.0.1:8041")


def resize(ctx: DriverContext, options: dict[str, Any], group: Group, desired: int) -> Resized:
    async def go() -> Resized:
        driver = build_driver({"type": "heat", **options}, ctx)
        try:
            return await driver.resize(group, [], desired, [], "cpu above 80 %")
        finally:
            await driver.aclose()

    return asyncio.run(go())


def test_presigned_alarm_urls_are_signalled_once_per_member(tmp_path: Path, cloud: OpenStack) -> None:
    stack = cloud.add_stack("asg", 2, policies={"scale_out": 1, "scale_in": -1})
    options = {"mode": "signal", "scale_out_url": cloud.alarm_url(stack, "scale_out"),
               "scale_in_url": cloud.alarm_url(stack, "scale_in")}
    assert resize(context(tmp_path, cloud), options, make_group(2), 5) == Resized(5, None)
    assert stack.capacity == 5 and [s[0] for s in stack.signals] == ["scale_out"] * 3
    assert stack.signals[0][1]["current"] == "alarm"
    assert not cloud.calls("/v3/auth/tokens")  # a pre-signed URL needs no token
    assert resize(context(tmp_path, cloud), options, make_group(5), 3).current_size == 3
    assert stack.capacity == 3 and [s[0] for s in stack.signals][3:] == ["scale_in", "scale_in"]


def test_a_wrong_signature_is_final(tmp_path: Path, cloud: OpenStack) -> None:
    stack = cloud.add_stack("asg", 2, policies={"scale_out": 1, "scale_in": -1})
    forged = cloud.alarm_url(stack, "scale_out").replace("Signature=", "Signature=x")
    with pytest.raises(ActuationFailed) as failed:
        resize(context(tmp_path, cloud), {"mode": "signal", "scale_out_url": forged, "scale_in_url": forged},
               make_group(2), 3)
    assert not failed.value.retry and "403" in str(failed.value) and stack.capacity == 2


def test_signal_urls_get_the_service_token(tmp_path: Path, cloud: OpenStack) -> None:
    stack = cloud.add_stack("asg", 1, policies={"up": 1, "down": -1})
    options = {"mode": "signal", "scale_out_url": cloud.signal_url(stack, "up"),
               "scale_in_url": cloud.signal_url(stack, "down")}
    assert resize(context(tmp_path, cloud), options, make_group(1), 3).current_size == 3
    assert stack.capacity == 3
    signals = [r for r in cloud.requests if r.path.endswith("/resources/up/signal")]
    assert len(signals) == 2 and all(r.header("x-auth-token") in cloud.project_tokens for r in signals)


def test_the_token_is_never_sent_off_the_orchestration_endpoint(tmp_path: Path, cloud: OpenStack) -> None:
    with Receiver() as elsewhere:
        url = f"{elsewhere.url}/v1/{PROJECT_ID}/stacks/asg/1/resources/up/signal"
        with pytest.raises(ActuationFailed) as failed:
            resize(context(tmp_path, cloud), {"mode": "signal", "scale_out_url": url, "scale_in_url": url},
                   make_group(1), 2)
    assert not failed.value.retry and "Orchestration endpoint" in str(failed.value)
    assert elsewhere.requests == []


def test_stack_update_waits_for_update_complete(tmp_path: Path, cloud: OpenStack) -> None:
    stack = cloud.add_stack("asg", 2, update_delay=0.3)
    options = {"mode": "stack", "stack_name": "asg", "stack_id": stack.id, "poll_interval": 0.05}
    assert resize(context(tmp_path, cloud), options, make_group(2), 5) == Resized(5, None)
    assert stack.status == "UPDATE_COMPLETE" and stack.capacity == 5
    path = f"/heat/v1/{PROJECT_ID}/stacks/asg/{stack.id}"
    patches = [r for r in cloud.requests if r.method == "PATCH"]
    assert [(r.path, r.json()) for r in patches] == [(path, {"parameters": {"capacity": 5}})]
    assert len([c for c in cloud.calls(path) if c[0] == "GET"]) >= 3  # before, in progress, complete
    # the same capacity again (a retried action): the stack is already there, no second update
    assert resize(context(tmp_path, cloud), options, make_group(2), 5).current_size == 5
    assert len([r for r in cloud.requests if r.method == "PATCH"]) == 1


def test_stack_update_failed_is_reported_with_heats_reason(tmp_path: Path, cloud: OpenStack) -> None:
    stack = cloud.add_stack("asg", 2, update_delay=0.1)
    stack.failing.add("9")
    options = {"mode": "stack", "stack_name": "asg", "stack_id": stack.id, "parameter": "capacity",
               "poll_interval": 0.05}
    with pytest.raises(ActuationFailed) as failed:
        resize(context(tmp_path, cloud), options, make_group(2), 9)
    assert "UPDATE_FAILED" in str(failed.value) and "No valid host" in str(failed.value)


def test_unknown_stack_and_bad_credentials_are_final(tmp_path: Path, cloud: OpenStack) -> None:
    options = {"mode": "stack", "stack_name": "asg", "stack_id": str(uuid.uuid4())}
    with pytest.raises(ActuationFailed) as failed:
        resize(context(tmp_path, cloud), options, make_group(2), 3)
    assert not failed.value.retry and "no stack asg" in str(failed.value)
    with pytest.raises(ActuationFailed) as failed:
        resize(context(tmp_path, cloud, password="wrong"), options, make_group(2), 3)
    assert not failed.value.retry and "refused the service credentials" in str(failed.value)
    with pytest.raises(ActuationFailed) as failed:
        resize(context(tmp_path, cloud, project_name=None), options, make_group(2), 3)
    assert not failed.value.retry and "project_name" in str(failed.value)


def test_heat_knows_no_members_so_autohealing_leaves_it_alone(tmp_path: Path, cloud: OpenStack) -> None:
    async def go() -> None:
        driver = build_driver({"type": "heat", "mode": "stack", "stack_name": "a", "stack_id": "b"},
                              context(tmp_path, cloud))
        assert not driver.tracks_members and await driver.refresh(make_group(1), []) is None

    asyncio.run(go())


def test_an_update_left_in_progress_is_waited_for_not_repeated(tmp_path: Path, cloud: OpenStack) -> None:
    """A scaler that crashed after its PATCH calls again with the same capacity."""
    stack = cloud.add_stack("asg", 2, update_delay=0.4)
    cloud.start_update(stack, {"capacity": 4})
    options = {"mode": "stack", "stack_name": "asg", "stack_id": stack.id, "poll_interval": 0.05}
    assert resize(context(tmp_path, cloud), options, make_group(2), 4).current_size == 4
    assert stack.status == "UPDATE_COMPLETE" and stack.capacity == 4
    assert not [r for r in cloud.requests if r.method == "PATCH"]
