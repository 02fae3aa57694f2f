"""Member bookkeeping shared by the drivers that track members (process, nova): names and surplus victims."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Sequence

from telescale.scaling.model import Member

_EPOCH = datetime.datetime.min.replace(tzinfo=datetime.UTC)


def next_index(prefix: str, members: Iterable[Member]) -> int:
    """1 + the highest ``n`` of the ``<prefix>-<n>`` names in use, so a live member's name is never reused."""
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)")
    indices = [int(m.group(1)) for m in (pattern.fullmatch(member.name) for member in members) if m]
    return max(indices, default=0) + 1


def is_live(member: Member) -> bool:
    """Whether the member counts in the group's size (a failed one does not, as in Heat)."""
    return member.status != "failed"


def surplus(members: Sequence[Member], desired: int) -> list[Member]:
    """The live members beyond ``desired``, unhealthy first then oldest (Heat's order), when the scaler
    asked for fewer members than it removed."""
    live = [m for m in members if is_live(m)]
    order = sorted(live, key=lambda m: (m.status != "unhealthy", m.created_at or _EPOCH, m.name))
    return order[:max(len(live) - desired, 0)]


def safe_file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"
