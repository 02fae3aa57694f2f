"""Processing keeps the cluster-wide totals of `/v1/status` in the indexer, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import numpy as np

from telescale.processing.worker import Drivers
from tests.integration.processing.janitor_env import HOUR, T0, S, feed


def test_processing_counts_processed_and_dropped_measures(sql_drivers: Drivers) -> None:
    """Measures accepted at write time but older than the back window once newer ones were processed
    are dropped by processing — and counted, with what it stored, in one update per sack."""
    indexer = sql_drivers.indexer
    metric = indexer.create_metric(uuid.uuid4(), "admin", "medium")
    feed(sql_drivers, metric.id, n=60)
    assert indexer.totals() == {"metrics": 1, "measures_processed": 60, "measures_dropped_back_window": 0}

    late = T0 - 2 * HOUR + np.arange(5, dtype=np.int64) * S  # before the last point's hour: medium's back window
    sql_drivers.incoming.add_measures({metric.id: (late, np.ones(5)),
                                       uuid.uuid4(): (late, np.ones(5))})  # a metric that does not exist
    feed(sql_drivers, metric.id, n=3, start=T0 + 60 * S)
    assert indexer.totals() == {"metrics": 1, "measures_processed": 63, "measures_dropped_back_window": 5}
