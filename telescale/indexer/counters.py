"""Cluster-wide running totals for `/v1/status`, kept in the indexer so they survive restarts and add up
across API workers, metricd workers and hosts.

Each increment is one ``UPDATE counter SET value = value + CASE name … END`` for all the counters it
touches, so processing a sack costs one statement however many metrics it held.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from telescale.indexer.engine import IndexerEngine
from telescale.indexer.models import CounterRow, MetricRow

#: Measures merged into stored series by processing (the ones it dropped are not counted).
MEASURES_PROCESSED = "measures_processed"
#: Measures refused as older than their metric's back window, at write time or at processing time.
MEASURES_DROPPED_BACK_WINDOW = "measures_dropped_back_window"
COUNTERS = (MEASURES_PROCESSED, MEASURES_DROPPED_BACK_WINDOW)  # the rows migration 0003 creates


class Counters(IndexerEngine):
    def add_to_counters(self, increments: Mapping[str, int]) -> None:
        """Add to several counters in one statement; zero increments are left out."""
        changes = {name: int(n) for name, n in increments.items() if n}
        if not changes:
            return
        unknown = set(changes) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters: {sorted(unknown)}")
        by_name = sa.case(changes, value=CounterRow.name)
        with self._write() as s:
            s.execute(sa.update(CounterRow).where(CounterRow.name.in_(changes))
                      .values(value=CounterRow.value + by_name))

    def totals(self) -> dict[str, int]:
        """Every counter, plus ``metrics``: how many active metrics exist now."""
        with self._read() as s:
            values = {name: value for name, value in s.execute(sa.select(CounterRow.name, CounterRow.value))}
            metrics = s.execute(sa.select(sa.func.count()).select_from(MetricRow)
                                .where(MetricRow.status == "active")).scalar_one()
        return {"metrics": metrics, **{name: values.get(name, 0) for name in COUNTERS}}
