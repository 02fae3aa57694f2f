"""Processing with the real SQL indexer (SQLite file) and file drivers, through run_once and the janitor."""

import uuid

import numpy as np

from telescale.indexer import Indexer
from telescale.processing.processor import process_metric
from telescale.processing.worker import Drivers, file_drivers, run_janitor, run_once
from telescale.query.measures import get_measures

S = 10**9
T0 = 1_700_000_000 * S


def test_end_to_end_with_sqlite_indexer(tmp_path):
    indexer = Indexer(f"sqlite:///{tmp_path / 'index.db'}")
    indexer.upgrade()
    incoming, storage, locks = file_drivers(tmp_path / "data", sacks=8)
    drivers = Drivers(incoming, storage, indexer, locks)
    try:
        live = indexer.create_metric(uuid.uuid4(), "admin", "medium")
        doomed = indexer.create_metric(uuid.uuid4(), "admin", "medium")
        ts = T0 + np.arange(600) * 10 * S
        vals = np.arange(600, dtype=float)
        incoming.add_measures({live.id: (ts, vals), doomed.id: (ts, vals), uuid.uuid4(): (ts, vals)})

        assert process_metric(live.id, incoming, storage, indexer, locks, timeout=5).metrics >= 1
        assert run_once(drivers) >= 0
        assert incoming.backlog() == (0, 0)

        (g_h, _, hour), (g_m, mts, minute) = get_measures(storage, live, "mean")
        assert (g_h, g_m) == (3600 * S, 60 * S)
        buckets = ts // (60 * S) * (60 * S)
        expected = [vals[buckets == b].mean() for b in np.unique(buckets)]
        np.testing.assert_array_equal(mts, np.unique(buckets))
        np.testing.assert_allclose(minute, expected)

        indexer.delete_metric(doomed.id)
        assert storage.get_raw(doomed.id) is not None
        assert run_janitor(drivers) == 1
        assert storage.get_raw(doomed.id) is None
        assert indexer.list_deleted_metric_ids() == []
        assert indexer.get_metric(live.id) is not None
    finally:
        indexer.dispose()
