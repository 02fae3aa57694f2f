"""Which members go first on scale-in: as Heat, the broken ones, then the oldest.

Order: ``failed`` members (they serve nothing), then ``unhealthy`` ones (autohealing would replace them
anyway), then the rest; within each, the oldest by ``created_at`` (a member whose creation time is unknown
counts as the oldest), then by name so that the order is the same on every call.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from telescale.scaling.model import Member
from telescale.scaling.policies.errors import PolicyError

_RANK = {"failed": 0, "unhealthy": 1}
_UNKNOWN_AGE = datetime.datetime.min.replace(tzinfo=datetime.UTC)


def choose_victims(members: Sequence[Member], count: int) -> list[Member]:
    """The ``count`` members to remove first (all of them when there are fewer), in removal order."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise PolicyError(f"count: the number of members to remove must be an integer >= 0, got {count!r}")
    return sorted(members, key=removal_key)[:count]


def removal_key(member: Member) -> tuple[int, datetime.datetime, str, str]:
    """The sort key of :func:`choose_victims`: status rank, age, name, then ref for a total order."""
    created = member.created_at or _UNKNOWN_AGE
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.UTC)
    return _RANK.get(member.status, 2), created, member.name, member.ref
