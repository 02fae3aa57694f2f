"""Archive policies: how long each granularity is kept and which methods are computed.

Error messages reuse Gnocchi's wording because the conformance suite matches them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

NS_PER_SECOND = 1_000_000_000
_MINUTE = 60 * NS_PER_SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR


class PolicyError(ValueError):
    """An invalid archive policy, item or aggregation method; str() is shown to users."""


PERCENTILES: tuple[str, ...] = tuple(f"{i}pct" for i in range(1, 100))
BASIC_METHODS: tuple[str, ...] = (
    "mean", "min", "max", "sum", "count", "std", "median", "first", "last", *PERCENTILES,
)
RATE_PREFIX = "rate:"
ALL_METHODS: tuple[str, ...] = BASIC_METHODS + tuple(RATE_PREFIX + m for m in BASIC_METHODS)
DEFAULT_AGGREGATION_METHODS: tuple[str, ...] = ("mean", "min", "max", "sum", "std", "count")

_BASIC_SET = frozenset(BASIC_METHODS)
_ALL_SET = frozenset(ALL_METHODS)


def is_valid_method(name: str) -> bool:
    """True for a basic method or ``rate:<basic>``."""
    return name in _ALL_SET


def seconds_repr(ns: int) -> str:
    """Gnocchi prints granularities in messages as float seconds (``1.0``, ``3.6``)."""
    return str(ns / NS_PER_SECOND)


def resolve_methods(
    spec: Sequence[str] | None, defaults: Sequence[str] = DEFAULT_AGGREGATION_METHODS
) -> tuple[str, ...]:
    """Expand a policy's ``aggregation_methods`` the way Gnocchi does.

    None or a list made only of ``+m``/``-m`` edits starts from ``defaults``; ``*`` starts from every
    method including the ``rate:`` ones (as Gnocchi's VALID_AGGREGATION_METHODS does); otherwise the
    plain names are the base. Edits then apply in the order given.
    """
    if spec is None:
        return tuple(sorted(set(defaults)))
    if isinstance(spec, str):
        spec = [spec]
    invalid = [
        s for s in spec
        if not (s == "*" or is_valid_method(s) or (s[:1] in "+-" and is_valid_method(s[1:])))
    ]
    if invalid:
        raise PolicyError(f"Invalid value for aggregation_methods: {set(invalid)}")
    edits = [s for s in spec if s[:1] in "+-"]
    plain = [s for s in spec if s[:1] not in "+-"]
    if "*" in plain:
        base = set(ALL_METHODS)
    elif not plain:
        base = set(defaults)
    else:
        base = set(plain)
    for e in edits:
        if e[0] == "+":
            base.add(e[1:])
        else:
            base.discard(e[1:])
    bad = [m for m in base if not is_valid_method(m)]
    if bad:
        raise PolicyError(f"Invalid value for aggregation_methods: {set(bad)}")
    return tuple(sorted(base))


@dataclass(frozen=True)
class PolicyItem:
    """One granularity of a policy; ``points=None`` keeps its buckets forever."""

    granularity: int
    points: int | None = None

    def __post_init__(self) -> None:
        if self.granularity <= 0:
            raise PolicyError("Granularity should be > 0")
        if self.points is not None and self.points <= 0:
            raise PolicyError("Number of points should be > 0")

    @property
    def timespan(self) -> int | None:
        return None if self.points is None else self.granularity * self.points

    @classmethod
    def build(
        cls, granularity: int | None = None, points: int | None = None, timespan: int | None = None
    ) -> PolicyItem:
        """Complete an item from any two of granularity/points/timespan (Gnocchi's rules)."""
        all_given = granularity is not None and points is not None and timespan is not None
        if all_given and timespan != granularity * points:
            raise PolicyError("timespan ≠ granularity × points")
        if granularity is not None and granularity <= 0:
            raise PolicyError("Granularity should be > 0")
        if points is not None and points <= 0:
            raise PolicyError("Number of points should be > 0")
        if timespan is not None and timespan <= 0:
            raise PolicyError("Timespan should be > 0")
        if granularity is None:
            if points is None or timespan is None:
                raise PolicyError("At least two of granularity/points/timespan must be provided")
            granularity = int(timespan) // int(points)
            if granularity <= 0:
                raise PolicyError("Granularity should be > 0")
        if points is None and timespan is not None:
            points = int(timespan) // int(granularity)
            if points <= 0:
                raise PolicyError("Calculated number of points is < 0")
        return cls(int(granularity), None if points is None else int(points))


@dataclass(frozen=True)
class ArchivePolicy:
    """A validated archive policy; ``definition`` keeps the order it was given in."""

    name: str
    back_window: int
    definition: tuple[PolicyItem, ...]
    aggregation_methods: tuple[str, ...] = field(default=DEFAULT_AGGREGATION_METHODS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "definition", tuple(self.definition))
        object.__setattr__(self, "aggregation_methods", tuple(self.aggregation_methods))
        if self.back_window < 0:
            raise PolicyError("back_window should be >= 0")
        if not self.definition:
            raise PolicyError("An archive policy needs at least one definition")
        dupes = [g for g, n in Counter(d.granularity for d in self.definition).items() if n > 1]
        if dupes:
            raise PolicyError(
                f"More than one archive policy uses granularity `{seconds_repr(dupes[0])}'"
            )
        bad = [m for m in self.aggregation_methods if not is_valid_method(m)]
        if bad:
            raise PolicyError(f"Invalid value for aggregation_methods: {set(bad)}")

    @property
    def granularities(self) -> tuple[int, ...]:
        return tuple(d.granularity for d in self.definition)

    @property
    def max_block_size(self) -> int:
        """The coarsest granularity: the unit of the back window."""
        return max(self.granularities)

    @property
    def has_rate(self) -> bool:
        """rate: methods need the raw point preceding each recomputed bucket."""
        return any(m.startswith(RATE_PREFIX) for m in self.aggregation_methods)

    def item(self, granularity: int) -> PolicyItem | None:
        for d in self.definition:
            if d.granularity == granularity:
                return d
        return None

    def check_update(self, new_definition: Sequence[PolicyItem]) -> None:
        """A PATCH may change points/timespan but never the set of granularities."""
        current = sorted(d.granularity for d in self.definition)
        new = sorted(d.granularity for d in new_definition)
        if len(current) != len(new):
            raise PolicyError("Cannot add or drop granularities")
        for c, n in zip(current, new, strict=True):
            if c != n:
                raise PolicyError(f"{seconds_repr(c)} granularity interval was changed")


def default_archive_policies() -> list[ArchivePolicy]:
    """The policies Gnocchi's upgrade creates on an empty database."""
    return [
        ArchivePolicy(
            "bool", 3600,
            (PolicyItem.build(granularity=NS_PER_SECOND, timespan=365 * _DAY),),
            ("last",),
        ),
        ArchivePolicy(
            "low", 0,
            (PolicyItem.build(granularity=5 * _MINUTE, timespan=30 * _DAY),),
            resolve_methods(None),
        ),
        ArchivePolicy(
            "medium", 0,
            (
                PolicyItem.build(granularity=_MINUTE, timespan=7 * _DAY),
                PolicyItem.build(granularity=_HOUR, timespan=365 * _DAY),
            ),
            resolve_methods(None),
        ),
        ArchivePolicy(
            "high", 0,
            (
                PolicyItem.build(granularity=NS_PER_SECOND, timespan=_HOUR),
                PolicyItem.build(granularity=_MINUTE, timespan=7 * _DAY),
                PolicyItem.build(granularity=_HOUR, timespan=365 * _DAY),
            ),
            resolve_methods(None),
        ),
    ]
