"""The bounds a decision must respect right now: the group's own, or those a scheduled window sets.

A value apart from the group so that the decision gates need not know about schedules: the scaler computes
:class:`Bounds` (see :func:`telescale.scaling.policies.schedule.effective_bounds`) and hands it over."""

from __future__ import annotations

from dataclasses import dataclass

from telescale.scaling.model import Group


@dataclass(frozen=True)
class Bounds:
    """``min_size`` ≤ capacity ≤ ``max_size``, and at least ``floor_desired`` when a schedule asks for it."""

    min_size: int
    max_size: int
    floor_desired: int | None
    reason: str

    def clamp(self, desired: int) -> int:
        """``desired`` moved into the bounds, then raised to the floor (which is never above ``max_size``)."""
        value = min(max(desired, self.min_size), self.max_size)
        if self.floor_desired is not None:
            value = max(value, min(self.floor_desired, self.max_size))
        return value


def group_bounds(group: Group) -> Bounds:
    """The group's own bounds, when no schedule is active."""
    return Bounds(group.min_size, group.max_size, None,
                  f"group bounds: min_size {group.min_size}, max_size {group.max_size}")
