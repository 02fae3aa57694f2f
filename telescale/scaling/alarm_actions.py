"""``telescale://scaling/<policy_id>``: an alarm's action that signals a scaling policy in process.

The alarm evaluator's dispatcher calls the handler registered here with Aodh's notification body, exactly
what a ``signal_url`` receives over HTTP, so both paths decide the same way (an alarm back to ``ok`` is
logged and does not scale). The API accepts such an action only for a policy the alarm's project can see.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from telescale.indexer import errors
from telescale.scaling.policies import parse_signal

KIND = "scaling"


def policy_id(action: str) -> uuid.UUID | None:
    """The policy an internal scaling action names; None for any other action. ValueError when malformed."""
    parts = urlsplit(action)
    if parts.scheme.lower() != "telescale":
        return None
    if (parts.hostname or "").lower() != KIND:
        raise ValueError(f"{action}: the only internal action is telescale://{KIND}/<policy id>")
    try:
        return uuid.UUID(parts.path.strip("/"))
    except ValueError:
        raise ValueError(f"{action}: telescale://{KIND}/ takes a scaling policy id") from None


def check_action(indexer: Any, action: str, project: str | None) -> None:
    """ValueError unless ``action`` is not internal, or names a policy that ``project`` sees."""
    pid = policy_id(action)
    if pid is None:
        return
    try:
        indexer.get_scaling_policy(pid, project)
    except errors.NoSuchScalingPolicy:
        raise ValueError(f"{action}: no scaling policy {pid}") from None


def register(registry: Any, engine: Any) -> None:
    """Let ``registry`` (the dispatcher's :class:`ActionRegistry`) deliver scaling actions through ``engine``."""
    from telescale.alarming.notifiers.base import DeliveryFailed

    async def deliver(target: str, body: Mapping[str, Any]) -> None:
        try:
            pid = uuid.UUID(target)
            policy = await asyncio.to_thread(engine.indexer.get_scaling_policy, pid, None)
            group = await asyncio.to_thread(engine.indexer.get_scaling_group, policy.group_id, None)
        except (ValueError, errors.NoSuchScalingPolicy, errors.NoSuchScalingGroup):
            raise DeliveryFailed(f"no scaling policy {target} (deleted?)", retry=False) from None
        signal = parse_signal(orjson.dumps(dict(body)), "application/json")
        await asyncio.to_thread(engine.signal_policy, policy, group, signal, "alarm")

    registry.register(KIND, deliver)
