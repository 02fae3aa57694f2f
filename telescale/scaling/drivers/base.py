"""The contract between the scaler and the member drivers: what a driver is asked, what it answers, how it fails.

A driver turns "this group should have N members" into the backend's calls (a webhook, local processes, Heat,
Nova). The scaler owns every decision (which members go, when to try again); a driver only acts, reports the
size it reached and, when it tracks members, the full member list after the change. Bad options fail early
(``DriverError``, a ``ValueError`` the API answers with 400); a failed attempt raises ``ActuationFailed`` saying
whether trying again may help.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from telescale.config import Settings
from telescale.scaling.model import Group, Member


class DriverError(ValueError):
    """A member driver's options are not usable; the message names the option and what to write instead."""


class ActuationFailed(Exception):
    """One attempt to change the group failed; ``retry`` says whether trying again later may help."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Resized:
    """What the backend reached: its size, and every member after the change (None: not tracked)."""

    current_size: int
    members: tuple[Member, ...] | None


@dataclass(frozen=True)
class DriverContext:
    settings: Settings  # timeouts, service credentials, the webhook allow-list
    state_dir: Path  # where a driver may keep files (the process driver: its members' logs)
    api_url: str  # this Telescale's API base URL (members report their metrics there)


class MemberDriver(abc.ABC):
    """One group's actuator, built from its validated options; the scaler calls it one action at a time."""

    kind: ClassVar[str]
    tracks_members: ClassVar[bool]

    def __init__(self, options: Mapping[str, Any], context: DriverContext) -> None:
        self.options = self.validate(options)
        self.context = context

    @classmethod
    @abc.abstractmethod
    def validate(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options normalised (defaults filled in, without ``type``); ``DriverError`` on bad ones. No I/O."""

    @abc.abstractmethod
    async def resize(self, group: Group, members: Sequence[Member], desired: int, remove: Sequence[Member],
                     reason: str) -> Resized:
        """Bring the group to ``desired``: stop exactly ``remove``, start what is missing. Idempotent."""

    async def refresh(self, group: Group, members: Sequence[Member]) -> tuple[Member, ...] | None:
        """The members as the backend sees them now (None: this driver does not track members)."""
        return None

    async def aclose(self) -> None:
        """Release clients and connections (members keep running)."""
        return None


def validate_driver(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``{"type": …, options…}`` normalised, or ``DriverError`` naming the known types."""
    from telescale.scaling.drivers.registry import validate_driver as validate

    return validate(spec)


def build_driver(spec: Mapping[str, Any], context: DriverContext) -> MemberDriver:
    """The driver for a group's ``member_driver`` spec (validated again here)."""
    from telescale.scaling.drivers.registry import build_driver as build

    return build(spec, context)
